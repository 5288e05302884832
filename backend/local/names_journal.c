/* names_journal.c - a stream's names on disk; see names_journal.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "names_journal.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "ids.h"
#include "lib/log.h"

/*
 * streams/<stream>/names
 * ======================
 *
 *   header, 16 bytes:  "KFSNAM1\n" | generation u64 (+1 per compaction)
 *   entries, back to back, one per change (a rename is one entry of two
 *   name states, so it is kept or lost whole):
 *     len u32 | crc u32 (CRC-32C of the 4 bytes of len, then the body) |
 *     body: len bytes
 *   body:  count u16, then count name states:
 *     state u8 (0 dropped, 1 live, 2 rotated, 3 gone)
 *     name_len u16, name | key_len u16, key
 *     start_ms i64 | ctime_ms i64 | uid u32 | gid u32 | mode u32
 *     n_start u32, n_start positions | n_end u32, n_end positions
 *   position, 52 bytes (struct kfs_wpos of the local engine):
 *     shard index u32 | counter u64 | ms i64 | cum_line u64 |
 *     cum_write u64 | records u64 | last_ms i64
 *   All integers little-endian.
 *
 * One pwrite per change, at the end (kill -9 never tears one; a power
 * cut may: replay ends at the first entry that is short or fails its
 * checksum, cuts the file there and logs it once).  The last state of a
 * name wins.  Synced with the stream's records (a writer's fsync, the
 * background pass, a clean close), not per change.  Compaction writes
 * every state anew to names.tmp, fsyncs it, renames it over, fsyncs the
 * directory.
 */

#define NJ_MAGIC "KFSNAM1\n"
#define NJ_HDR 16
#define NJ_POS 52
#define NJ_BODY_MAX (64u << 20)
#define NJ_BIG (1u << 20)
#define NJ_TMP "names.tmp"
#define NJ_FILE "names"

struct kfs_njournal {
	char *dir;                 /* fixed: the stream's directory */
	pthread_mutex_t lock;      /* "journal lock": the fields below */
	int fd;                    /* the file, -1 until made */
	uint64_t size;             /* bytes in it */
	uint64_t compacted;        /* its size after the last compaction */
	uint64_t generation;       /* of its header */
	uint64_t changes;          /* appended since open */
	int dirty;                 /* appended since the last fdatasync */
	int broken;                /* -errno: a failed change could not be cut
				    * back, so no change is kept any more */
};

/* ---- encoding --------------------------------------------------------- */

struct buf {
	unsigned char *p;
	size_t n, cap;
	int err;
};

static void put(struct buf *b, const void *v, size_t n)
{
	if (b->err)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *np;
		while (cap < b->n + n)
			cap *= 2;
		if (!(np = realloc(b->p, cap))) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, v, n);
	b->n += n;
}

static void put_u(struct buf *b, uint64_t v, size_t n)
{
	unsigned char t[8];

	for (size_t i = 0; i < n; i++)
		t[i] = (unsigned char)(v >> (8 * i));
	put(b, t, n);
}

static void put_pos(struct buf *b, const struct kfs_wposv *v)
{
	put_u(b, v->n, 4);
	for (size_t i = 0; i < v->n; i++) {
		const struct kfs_wpos *p = &v->v[i];
		uint32_t index = 0;

		if (kfs_ids_parse_shard_id(p->shard, &index) < 0)
			b->err = b->err ? b->err : -EINVAL;
		put_u(b, index, 4);
		put_u(b, p->counter, 8);
		put_u(b, (uint64_t)p->ms, 8);
		put_u(b, p->cum[KFS_FRAMING_LINE], 8);
		put_u(b, p->cum[KFS_FRAMING_WRITE], 8);
		put_u(b, p->records, 8);
		put_u(b, (uint64_t)p->last_ms, 8);
	}
}

static void put_rec(struct buf *b, const struct kfs_name_rec *r)
{
	size_t nl = strlen(r->name), kl = strlen(r->key);

	if (nl > UINT16_MAX || kl > UINT16_MAX)
		b->err = -EINVAL;
	put_u(b, (uint64_t)r->state, 1);
	put_u(b, nl, 2);
	put(b, r->name, nl);
	put_u(b, kl, 2);
	put(b, r->key, kl);
	put_u(b, (uint64_t)r->start_ms, 8);
	put_u(b, (uint64_t)r->ctime_ms, 8);
	put_u(b, r->uid, 4);
	put_u(b, r->gid, 4);
	put_u(b, r->mode, 4);
	put_pos(b, &r->start);
	put_pos(b, &r->end);
}

/* An entry of n states, framed, in b. */
static int entry_encode(struct buf *b, const struct kfs_name_rec *v, size_t n)
{
	size_t at = b->n;
	uint32_t crc;

	put_u(b, 0, 8);
	put_u(b, n, 2);
	for (size_t i = 0; i < n; i++)
		put_rec(b, &v[i]);
	if (b->err)
		return b->err;
	if (b->n - at - 8 > NJ_BODY_MAX || n > UINT16_MAX)
		return -E2BIG;
	for (int i = 0; i < 4; i++)
		b->p[at + i] = (unsigned char)((b->n - at - 8) >> (8 * i));
	crc = kfs_crc32c(kfs_crc32c(0, b->p + at, 4), b->p + at + 8, b->n - at - 8);
	for (int i = 0; i < 4; i++)
		b->p[at + 4 + i] = (unsigned char)(crc >> (8 * i));
	return 0;
}

/* ---- decoding --------------------------------------------------------- */

struct rd {
	const unsigned char *p, *end;
	int bad;
};

static uint64_t get_u(struct rd *r, size_t n)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return 0;
	}
	for (size_t i = n; i > 0; i--)
		v = (v << 8) | r->p[i - 1];
	r->p += n;
	return v;
}

/* A string of len bytes as a NUL-ended copy in out (size bytes). */
static void get_str(struct rd *r, char *out, size_t size)
{
	size_t n = (size_t)get_u(r, 2);

	if (r->bad || n >= size || (size_t)(r->end - r->p) < n || n == 0) {
		r->bad = 1;
		return;
	}
	memcpy(out, r->p, n);
	out[n] = '\0';
	r->p += n;
}

static int get_pos(struct rd *r, struct kfs_wposv *v)
{
	uint64_t n = get_u(r, 4);

	v->n = 0;
	v->v = NULL;
	if (r->bad || n > (uint64_t)(r->end - r->p) / NJ_POS) {
		r->bad = 1;
		return 0;
	}
	if (n && !(v->v = calloc(n, sizeof(*v->v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct kfs_wpos *p = &v->v[i];
		kfs_ids_shard_id((uint32_t)get_u(r, 4), p->shard);
		p->counter = get_u(r, 8);
		p->ms = (int64_t)get_u(r, 8);
		p->cum[KFS_FRAMING_LINE] = get_u(r, 8);
		p->cum[KFS_FRAMING_WRITE] = get_u(r, 8);
		p->records = get_u(r, 8);
		p->last_ms = (int64_t)get_u(r, 8);
	}
	v->n = n;
	return 0;
}

/* Calls fn for each state of one entry's body; 1 when the body is bad. */
static int body_replay(const unsigned char *p, size_t len,
		       int (*fn)(void *ctx, const struct kfs_name_rec *r),
		       void *ctx)
{
	struct rd r = {.p = p, .end = p + len};
	uint64_t n = get_u(&r, 2);
	int rc = 0;

	for (uint64_t i = 0; i < n && !r.bad && rc == 0; i++) {
		char name[NAME_MAX + 1], key[KFS_KEY_MAX + 1];
		struct kfs_name_rec rec = {.name = name, .key = key};

		rec.state = (enum kfs_name_state)get_u(&r, 1);
		get_str(&r, name, sizeof(name));
		get_str(&r, key, sizeof(key));
		rec.start_ms = (int64_t)get_u(&r, 8);
		rec.ctime_ms = (int64_t)get_u(&r, 8);
		rec.uid = (uint32_t)get_u(&r, 4);
		rec.gid = (uint32_t)get_u(&r, 4);
		rec.mode = (uint32_t)get_u(&r, 4);
		rc = get_pos(&r, &rec.start);
		if (rc == 0)
			rc = get_pos(&r, &rec.end);
		if (rec.state > KFS_NAME_GONE)
			r.bad = 1;
		if (rc == 0 && !r.bad)
			rc = fn(ctx, &rec);
		kfs_wposv_clear(&rec.start);
		kfs_wposv_clear(&rec.end);
	}
	if (rc == 0 && r.p != r.end)
		r.bad = 1;
	return rc < 0 ? rc : r.bad;
}

/* ---- the file --------------------------------------------------------- */

int kfs_njournal_open(const char *stream_dir, struct kfs_njournal **out)
{
	struct kfs_njournal *j = calloc(1, sizeof(*j));

	*out = NULL;
	if (!j || !(j->dir = strdup(stream_dir))) {
		free(j);
		return -ENOMEM;
	}
	j->fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	*out = j;
	return 0;
}

void kfs_njournal_close(struct kfs_njournal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	pthread_mutex_destroy(&j->lock);
	free(j->dir);
	free(j);
}

static int path_of(const struct kfs_njournal *j, const char *name, char *out,
		   size_t size)
{
	return (size_t)snprintf(out, size, "%s/%s", j->dir, name) < size ? 0 : -ENAMETOOLONG;
}

static void header(unsigned char *h, uint64_t generation)
{
	memcpy(h, NJ_MAGIC, 8);
	for (int i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(generation >> (8 * i));
}

/* Makes the file when it is not there yet; the journal lock held. */
static int file_make(struct kfs_njournal *j)
{
	unsigned char h[NJ_HDR];
	char path[PATH_MAX];
	int rc;

	if (j->fd >= 0)
		return 0;
	if ((rc = path_of(j, NJ_FILE, path, sizeof(path))) < 0)
		return rc;
	j->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (j->fd < 0)
		return -errno;
	header(h, 1);
	if ((rc = kfs_pwrite_full(j->fd, h, sizeof(h), 0)) < 0) {
		close(j->fd);
		j->fd = -1;
		unlink(path);
		return rc;
	}
	j->size = j->compacted = NJ_HDR;
	j->generation = 1;
	return 0;
}

int kfs_njournal_replay(struct kfs_njournal *j,
			int (*fn)(void *ctx, const struct kfs_name_rec *r),
			void *ctx)
{
	char path[PATH_MAX];
	unsigned char *data = NULL;
	struct stat sb;
	uint64_t off, good;
	size_t got = 0;
	int rc, bad = 0;

	pthread_mutex_lock(&j->lock);
	if ((rc = path_of(j, NJ_FILE, path, sizeof(path))) < 0)
		goto out;
	j->fd = open(path, O_RDWR | O_CLOEXEC);
	if (j->fd < 0) {
		rc = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	if (fstat(j->fd, &sb) < 0) {
		rc = -errno;
		goto out;
	}
	data = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (!data) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = pread(j->fd, data + got, (size_t)sb.st_size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got < NJ_HDR || memcmp(data, NJ_MAGIC, 8)) {
		kfs_err("%s: not a names journal; set aside as %s.bad, the stream "
			"has no key files", path, path);
		char bad_path[PATH_MAX + 8];
		snprintf(bad_path, sizeof(bad_path), "%s.bad", path);
		close(j->fd);
		j->fd = -1;
		rc = rename(path, bad_path) < 0 ? -errno : 0;
		goto out;
	}
	for (int i = 7; i >= 0; i--)
		j->generation = (j->generation << 8) | data[8 + i];
	for (off = good = NJ_HDR; off < got; off = good) {
		uint32_t len = 0, crc = 0;
		if (got - off < 8)
			break;
		for (int i = 3; i >= 0; i--) {
			len = (len << 8) | data[off + i];
			crc = (crc << 8) | data[off + 4 + i];
		}
		if (len > NJ_BODY_MAX || got - off - 8 < len ||
		    kfs_crc32c(kfs_crc32c(0, data + off, 4), data + off + 8, len) != crc)
			break;
		/* fn takes the names lock, which is taken before this
		 * journal's by every change: not with ours held. */
		pthread_mutex_unlock(&j->lock);
		rc = body_replay(data + off + 8, len, fn, ctx);
		pthread_mutex_lock(&j->lock);
		if (rc < 0)
			goto out;
		if (rc > 0) {
			bad = 1;
			break;
		}
		good = off + 8 + len;
	}
	rc = 0;
	if (good < (uint64_t)sb.st_size) {
		kfs_warn("%s: %s at byte %" PRIu64 "; the %" PRIu64 " bytes from "
			 "there are cut off", path, bad ? "a change that does not parse" :
			 "a torn or damaged change", good, (uint64_t)sb.st_size - good);
		if (ftruncate(j->fd, (off_t)good) < 0)
			rc = -errno;
	}
	j->size = j->compacted = good;
out:
	if (rc < 0 && j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
	pthread_mutex_unlock(&j->lock);
	free(data);
	if (rc < 0)
		kfs_err("%s: cannot read the names journal: %s", path, strerror(-rc));
	return rc;
}

int kfs_njournal_append(struct kfs_njournal *j, const struct kfs_name_rec *v,
			size_t n)
{
	struct buf b = {0};
	int rc = entry_encode(&b, v, n);

	pthread_mutex_lock(&j->lock);
	if (rc == 0 && j->broken)
		rc = j->broken;
	if (rc == 0)
		rc = file_make(j);
	if (rc == 0)
		rc = kfs_pwrite_full(j->fd, b.p, b.n, (off_t)j->size);
	if (rc == 0) {
		j->size += b.n;
		j->changes++;
		j->dirty = 1;
	} else if (j->fd >= 0 && ftruncate(j->fd, (off_t)j->size) < 0) {
		/* A later change would follow a torn one, which replay
		 * stops at: every later change fails instead. */
		j->broken = -EIO;
		kfs_err("%s/" NJ_FILE ": cannot cut a failed change back: %s",
			j->dir, strerror(errno));
	}
	pthread_mutex_unlock(&j->lock);
	if (rc < 0)
		kfs_err("%s/" NJ_FILE ": cannot keep a change of names: %s", j->dir,
			strerror(-rc));
	free(b.p);
	return rc;
}

int kfs_njournal_sync(struct kfs_njournal *j)
{
	int fd = -1, rc = 0;

	pthread_mutex_lock(&j->lock);
	if (j->dirty && j->fd >= 0) {
		fd = dup(j->fd);
		j->dirty = 0;
	}
	pthread_mutex_unlock(&j->lock);
	if (fd >= 0) {
		if (fdatasync(fd) < 0)
			rc = -errno;
		close(fd);
	}
	if (rc < 0) {
		pthread_mutex_lock(&j->lock);
		j->dirty = 1;
		pthread_mutex_unlock(&j->lock);
	}
	return rc;
}

uint64_t kfs_njournal_changes(struct kfs_njournal *j)
{
	uint64_t c;

	pthread_mutex_lock(&j->lock);
	c = j->changes;
	pthread_mutex_unlock(&j->lock);
	return c;
}

int kfs_njournal_big(struct kfs_njournal *j)
{
	int big;

	pthread_mutex_lock(&j->lock);
	big = j->size > NJ_BIG && j->size > 4 * j->compacted;
	pthread_mutex_unlock(&j->lock);
	return big;
}

int kfs_njournal_compact(struct kfs_njournal *j, uint64_t changes,
			 const struct kfs_name_rec *v, size_t n)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct buf b = {0};
	int fd = -1, dfd = -1, rc = 0;

	put(&b, (unsigned char[NJ_HDR]){0}, NJ_HDR);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = entry_encode(&b, &v[i], 1);
	if (rc == 0 && b.err)
		rc = b.err;
	pthread_mutex_lock(&j->lock);
	if (rc == 0 && j->changes != changes)
		rc = -EAGAIN;
	if (rc == 0 && ((rc = path_of(j, NJ_FILE, path, sizeof(path))) < 0 ||
			(rc = path_of(j, NJ_TMP, tmp, sizeof(tmp))) < 0))
		goto out;
	if (rc < 0)
		goto out;
	header(b.p, j->generation + 1);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (rc = kfs_pwrite_full(fd, b.p, b.n, 0)) < 0 ||
	    (fsync(fd) < 0 && (rc = -errno)) || (rename(tmp, path) < 0 && (rc = -errno))) {
		if (fd < 0)
			rc = -errno;
		unlink(tmp);
		goto out;
	}
	dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	fd = -1;
	j->size = j->compacted = b.n;
	j->generation++;
	j->dirty = 0;
	kfs_info("%s/" NJ_FILE ": compacted to %zu names, %zu bytes", j->dir, n, b.n);
out:
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&j->lock);
	free(b.p);
	return rc;
}
