/* engine.c - the embedded local engine; see local.h and engine.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#endif

#include "local.h"
#include "engine.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ids.h"
#include "lock.h"
#include "seglog.h"
#include "lib/log.h"
#include "lib/util.h"

/*
 * Layout of data_dir
 * ==================
 *
 *   data_dir/                          0700
 *     LOCK                             flock(LOCK_EX|LOCK_NB) while open;
 *                                      holds the holder's pid, "1234\n"
 *     streams/
 *       <stream>/                      one directory per stream
 *         stream.meta                  name, creation_ms, uid, retention,
 *                                      next shard index (text, key value)
 *         names                        its key file names: a journal, see
 *                                      names_journal.c
 *         shardId-000000000000/        one directory per shard
 *           shard.meta                 index, hash range, parents,
 *                                      created_ms, closed, end_counter,
 *                                      closed_ms
 *           0000000000000000.log       the shard's log: see seglog.c
 *           0000000000000000.idx
 *           keys/                      postings of tracked keys: keyidx.c
 *     tmp/                             streams being created
 *     trash/                           streams being deleted
 *
 * Files are 0600, directories 0700.  Metadata files are replaced whole:
 * write "<name>.tmp", fsync, rename over, fsync the directory.  A stream
 * is built complete under tmp/ and renamed into streams/ (then streams/
 * is fsync'd), so a crash leaves it either absent or whole; deletion
 * renames it into trash/ first.  Whatever is left in tmp/ and trash/ is
 * removed on open.
 *
 * Resharding creates the new shards' directories first; they count only
 * once stream.meta's next_shard_index is past their index (the commit
 * point, one atomic rename).  On open, shard directories at or past it
 * are leftovers of an interrupted reshard and are removed, and a shard
 * named as a parent by a committed shard is closed whatever its own
 * shard.meta says; a closed shard ends where its log ends.
 */

#define STREAM_META "stream.meta"
#define SHARD_META "shard.meta"
#define META_MAX 4096

int64_t kfs_local_now(struct kfs_local *e)
{
	int64_t t = kfs_clock_now(e->clock);
	return t < 0 ? 0 : t;
}

int64_t kfs_local_cutoff(struct kfs_local *e, struct lstream *st)
{
	/* st->lock held by the caller. */
	return kfs_local_now(e) - (int64_t)st->retention_hours * KFS_LOCAL_HOUR_MS;
}

/* ---- files ------------------------------------------------------------ */

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Replaces dir_fd/name with `text` atomically and durably. */
static int write_file_atomic(int dir_fd, const char *name, const char *text)
{
	char tmp[64];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, text, strlen(text));
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
		rc = -errno;
	if (rc == 0 && fsync(dir_fd) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(dir_fd, tmp, 0);
	return rc;
}

/* Reads dir_fd/name (at most META_MAX - 1 bytes) into buf, NUL-ended. */
static int read_small_file(int dir_fd, const char *name, char *buf, size_t size)
{
	size_t n = 0;
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (n < size - 1) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			return (int)r;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return 0;
}

/* Reads metadata file dir_fd/name into buf (NUL-ended).  Written whole,
 * every line ended, it can only be cut short or altered from outside: a
 * text that does not end its last line gives -EUCLEAN, so that a value
 * cut in the middle ("next_shard_index 1" of 12) is never taken. */
static int meta_read(int dir_fd, const char *name, char *buf, size_t size)
{
	int rc = read_small_file(dir_fd, name, buf, size);
	size_t n;

	if (rc < 0)
		return rc;
	n = strlen(buf);
	return n > 0 && n < size - 1 && buf[n - 1] == '\n' ? 0 : -EUCLEAN;
}

/* The value of line "key value" in a metadata text; 0 or -EINVAL. */
static int meta_get(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			const char *v = p + klen + 1, *end = strchr(v, '\n');
			size_t n = end ? (size_t)(end - v) : strlen(v);
			if (n >= size)
				return -EINVAL;
			memcpy(out, v, n);
			out[n] = '\0';
			return 0;
		}
	}
	return -EINVAL;
}

static int meta_get_i64(const char *text, const char *key, int64_t *out)
{
	char v[32], *end;
	long long x;

	if (meta_get(text, key, v, sizeof(v)) < 0 || !v[0])
		return -EINVAL;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = x;
	return 0;
}

static int meta_get_u64(const char *text, const char *key, uint64_t *out,
			int base)
{
	char v[32], *end;
	unsigned long long x;

	if (meta_get(text, key, v, sizeof(v)) < 0 || !v[0] || v[0] == '-')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, base);
	if (errno || *end)
		return -EINVAL;
	*out = x;
	return 0;
}

/* Removes dir_fd/name and everything under it. */
static int rmtree_at(int dir_fd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			return unlinkat(dir_fd, name, 0) < 0 ? -errno : 0;
		return errno == ENOENT ? 0 : -errno;
	}
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d))) {
		struct stat sb;
		int is_dir;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type != DT_UNKNOWN)
			is_dir = de->d_type == DT_DIR;
		else
			is_dir = fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
				 S_ISDIR(sb.st_mode);
		if (is_dir) {
			int r = rmtree_at(fd, de->d_name);
			if (r < 0 && rc == 0)
				rc = r;
		} else if (unlinkat(fd, de->d_name, 0) < 0 && rc == 0) {
			rc = -errno;
		}
	}
	closedir(d);
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Empties dir_fd/name (tmp/ or trash/) of whatever a crash left there. */
static void clean_dir(struct kfs_local *e, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd = openat(e->data_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		int rc;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		kfs_info("%s/%s/%s: left by an interrupted operation, removing",
			 e->data_dir, name, de->d_name);
		rc = rmtree_at(fd, de->d_name);
		if (rc < 0)
			kfs_warn("%s/%s/%s: %s", e->data_dir, name, de->d_name,
				 strerror(-rc));
	}
	closedir(d);
}

/* mkdir -p, new directories 0700. */
static int mkdir_p(const char *path)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				rc = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

/* ---- metadata --------------------------------------------------------- */

static int stream_meta_write(int dir_fd, const struct lstream *st,
			     int retention_hours, uint32_t next_shard_index)
{
	char text[META_MAX];

	snprintf(text, sizeof(text),
		 "kinesisfs-stream 1\n"
		 "name %s\n"
		 "creation_ms %" PRId64 "\n"
		 "uid %016" PRIx64 "\n"
		 "retention_hours %d\n"
		 "next_shard_index %" PRIu32 "\n",
		 st->name, st->creation_ms, st->uid, retention_hours,
		 next_shard_index);
	return write_file_atomic(dir_fd, STREAM_META, text);
}

static int shard_meta_write(int dir_fd, const struct lshard *sh)
{
	char text[META_MAX], hs[KFS_HASH_KEY_MAX], he[KFS_HASH_KEY_MAX];

	kfs_ids_format_u128(sh->hash_start, hs);
	kfs_ids_format_u128(sh->hash_end, he);
	snprintf(text, sizeof(text),
		 "kinesisfs-shard 1\n"
		 "index %" PRIu32 "\n"
		 "hash_start %s\n"
		 "hash_end %s\n"
		 "parent %s\n"
		 "adjacent_parent %s\n"
		 "created_ms %" PRId64 "\n"
		 "closed %d\n"
		 "end_counter %" PRIu64 "\n"
		 "closed_ms %" PRId64 "\n",
		 sh->index, hs, he, sh->parent[0] ? sh->parent : "-",
		 sh->adjacent_parent[0] ? sh->adjacent_parent : "-",
		 sh->created_ms, sh->closed, sh->end_counter, sh->closed_ms);
	return write_file_atomic(dir_fd, SHARD_META, text);
}

static int parse_parent(const char *text, const char *key, char *out)
{
	char v[KFS_SHARD_ID_LEN + 1];

	if (meta_get(text, key, v, sizeof(v)) < 0)
		return -EINVAL;
	if (!strcmp(v, "-")) {
		out[0] = '\0';
		return 0;
	}
	if (!kfs_is_shard_id(v))
		return -EINVAL;
	strcpy(out, v);
	return 0;
}

/* Loads shard.meta of dir_fd into sh (not its log). */
static int shard_meta_read(int dir_fd, struct lshard *sh)
{
	char text[META_MAX], hs[KFS_HASH_KEY_MAX], he[KFS_HASH_KEY_MAX];
	uint64_t index;
	int64_t closed;
	int rc;

	if ((rc = meta_read(dir_fd, SHARD_META, text, sizeof(text))) < 0)
		return rc;
	if (strncmp(text, "kinesisfs-shard 1\n", 18) != 0 ||
	    meta_get_u64(text, "index", &index, 10) < 0 || index > UINT32_MAX ||
	    meta_get(text, "hash_start", hs, sizeof(hs)) < 0 ||
	    meta_get(text, "hash_end", he, sizeof(he)) < 0 ||
	    kfs_ids_parse_u128(hs, &sh->hash_start) < 0 ||
	    kfs_ids_parse_u128(he, &sh->hash_end) < 0 ||
	    sh->hash_start > sh->hash_end ||
	    parse_parent(text, "parent", sh->parent) < 0 ||
	    parse_parent(text, "adjacent_parent", sh->adjacent_parent) < 0 ||
	    meta_get_i64(text, "created_ms", &sh->created_ms) < 0 ||
	    meta_get_i64(text, "closed", &closed) < 0 ||
	    meta_get_u64(text, "end_counter", &sh->end_counter, 10) < 0)
		return -EINVAL;
	if (meta_get_i64(text, "closed_ms", &sh->closed_ms) < 0)
		sh->closed_ms = sh->created_ms;
	sh->index = (uint32_t)index;
	sh->closed = closed != 0;
	kfs_ids_shard_id(sh->index, sh->id);
	return 0;
}

/* ---- streams in memory ------------------------------------------------ */

static void shard_free(struct lshard *sh)
{
	if (!sh)
		return;
	kfs_kidx_close(sh->kidx);
	kfs_seglog_close(sh->log);
	free(sh);
}

static struct lstream *stream_new(const char *name)
{
	struct lstream *st = calloc(1, sizeof(*st));
	pthread_rwlockattr_t attr;

	if (!st)
		return NULL;
	snprintf(st->name, sizeof(st->name), "%s", name);
	st->refs = 1;
	st->retention_hours = KFS_LOCAL_RETENTION_DEFAULT;
	/* Writers (resharding) must not starve behind a steady flow of
	 * puts and gets. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&st->meta_lock, NULL);
	return st;
}

static void stream_ref(struct lstream *st)
{
	__atomic_add_fetch(&st->refs, 1, __ATOMIC_ACQ_REL);
}

void kfs_local_stream_unref(struct lstream *st)
{
	if (!st || __atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < st->n_shards; i++)
		shard_free(st->shards[i]);
	free(st->shards);
	kfs_njournal_close(st->journal);
	pthread_rwlock_destroy(&st->lock);
	pthread_mutex_destroy(&st->meta_lock);
	free(st);
}

/* Position of name in the table, or where it would go; streams_lock held. */
static size_t table_find(struct kfs_local *e, const char *name, int *found)
{
	size_t lo = 0, hi = e->n_streams;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(e->streams[mid]->name, name);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* Inserts st at pos, taking over the caller's reference; streams_lock
 * held for writing. */
static int table_insert(struct kfs_local *e, size_t pos, struct lstream *st)
{
	if (e->n_streams == e->cap_streams) {
		size_t nc = e->cap_streams ? e->cap_streams * 2 : 16;
		struct lstream **v = realloc(e->streams, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		e->streams = v;
		e->cap_streams = nc;
	}
	memmove(e->streams + pos + 1, e->streams + pos,
		(e->n_streams - pos) * sizeof(*e->streams));
	e->streams[pos] = st;
	e->n_streams++;
	return 0;
}

/* Removes st from the table (its reference goes to the caller); no-op if
 * absent.  streams_lock held for writing. */
static void table_remove(struct kfs_local *e, struct lstream *st)
{
	int found;
	size_t pos = table_find(e, st->name, &found);

	if (!found || e->streams[pos] != st)
		return;
	memmove(e->streams + pos, e->streams + pos + 1,
		(e->n_streams - pos - 1) * sizeof(*e->streams));
	e->n_streams--;
}

/* The ACTIVE stream `name` with a reference for the caller, or NULL. */
struct lstream *kfs_local_stream_get(struct kfs_local *e, const char *name)
{
	struct lstream *st = NULL;
	int found;
	size_t pos;

	if (!kfs_valid_stream_name(name))
		return NULL;
	pthread_rwlock_rdlock(&e->streams_lock);
	pos = table_find(e, name, &found);
	if (found && e->streams[pos]->status == KFS_STREAM_ACTIVE) {
		st = e->streams[pos];
		stream_ref(st);
	}
	pthread_rwlock_unlock(&e->streams_lock);
	return st;
}

/* The shard with that id; st->lock held. */
struct lshard *kfs_local_shard_find(struct lstream *st, const char *id)
{
	uint32_t index;

	if (kfs_ids_parse_shard_id(id, &index) < 0)
		return NULL;
	for (size_t i = 0; i < st->n_shards; i++)
		if (st->shards[i]->index == index)
			return st->shards[i];
	return NULL;
}

static int shard_cmp(const void *a, const void *b)
{
	const struct lshard *x = *(struct lshard *const *)a;
	const struct lshard *y = *(struct lshard *const *)b;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Opens the log of shard directory `path` for sh. */
static int shard_open_log(struct kfs_local *e, const char *path, struct lshard *sh)
{
	int rc = kfs_seglog_open(path, e->segment_bytes, e->log_format, &sh->log);

	if (rc == 0 && (rc = kfs_kidx_open(path, sh->log, &sh->kidx)) < 0) {
		kfs_seglog_close(sh->log);
		sh->log = NULL;
	}
	if (rc == 0 && sh->closed) {
		uint64_t end;
		kfs_seglog_seal(sh->log, &end);
		if (end != sh->end_counter && sh->end_counter != UINT64_MAX)
			kfs_warn("%s: closed at counter %" PRIu64 " but its log ends at %"
				 PRIu64 "; it ends there", path, sh->end_counter, end);
		sh->end_counter = end;
	}
	return rc;
}

/* Loads stream `name` from streams/<name>/. */
static int stream_load(struct kfs_local *e, const char *name, struct lstream **out)
{
	char text[META_MAX], path[PATH_MAX], v[KFS_STREAM_NAME_MAX + 2];
	struct lstream *st;
	struct dirent *de;
	DIR *d = NULL;
	int64_t hours;
	uint64_t next_index;
	int dfd = -1, rc;

	st = stream_new(name);
	if (!st)
		return -ENOMEM;
	dfd = openat(e->streams_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = meta_read(dfd, STREAM_META, text, sizeof(text))) < 0) {
		if (rc == -EUCLEAN)
			kfs_err("%s/streams/%s/%s: cut short or altered; the stream "
				"is not served", e->data_dir, name, STREAM_META);
		goto fail;
	}
	if (strncmp(text, "kinesisfs-stream 1\n", 19) != 0 ||
	    meta_get(text, "name", v, sizeof(v)) < 0 || strcmp(v, name) != 0 ||
	    meta_get_i64(text, "creation_ms", &st->creation_ms) < 0 ||
	    meta_get_u64(text, "uid", &st->uid, 16) < 0 ||
	    meta_get_i64(text, "retention_hours", &hours) < 0 ||
	    hours < KFS_RETENTION_MIN_HOURS || hours > KFS_RETENTION_MAX_HOURS ||
	    meta_get_u64(text, "next_shard_index", &next_index, 10) < 0 ||
	    next_index > UINT32_MAX) {
		rc = -EINVAL;
		goto fail;
	}
	st->retention_hours = (int)hours;
	st->next_shard_index = (uint32_t)next_index;

	d = fdopendir(dfd);
	if (!d) {
		rc = -errno;
		goto fail;
	}
	dfd = -1;
	while ((de = readdir(d))) {
		struct lshard *sh, **nv;
		uint32_t index;
		int sfd;

		if (kfs_ids_parse_shard_id(de->d_name, &index) < 0)
			continue;
		if (index >= st->next_shard_index) {
			/* Made by a reshard that never committed. */
			kfs_warn("%s/streams/%s/%s: left by an interrupted reshard, "
				 "removing", e->data_dir, name, de->d_name);
			rc = rmtree_at(dirfd(d), de->d_name);
			if (rc < 0)
				goto fail;
			continue;
		}
		sh = calloc(1, sizeof(*sh));
		if (!sh) {
			rc = -ENOMEM;
			goto fail;
		}
		sfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = sfd < 0 ? -errno : shard_meta_read(sfd, sh);
		if (sfd >= 0)
			close(sfd);
		if (rc == 0 && strcmp(sh->id, de->d_name) != 0)
			rc = -EINVAL;
		if (rc == -EUCLEAN) {
			kfs_err("%s/streams/%s/%s/%s: cut short or altered; the stream "
				"is not served", e->data_dir, name, de->d_name, SHARD_META);
			shard_free(sh);
			goto fail;
		}
		if (rc < 0) {
			kfs_err("%s/streams/%s/%s: cannot load shard: %s", e->data_dir,
				name, de->d_name, strerror(-rc));
			shard_free(sh);
			goto fail;
		}
		nv = realloc(st->shards, (st->n_shards + 1) * sizeof(*nv));
		if (!nv) {
			shard_free(sh);
			rc = -ENOMEM;
			goto fail;
		}
		st->shards = nv;
		st->shards[st->n_shards++] = sh;
	}
	closedir(d);
	d = NULL;
	if (st->n_shards == 0) {
		rc = -EINVAL;
		goto fail;
	}
	qsort(st->shards, st->n_shards, sizeof(*st->shards), shard_cmp);
	/* A committed reshard closed every parent, even if the parents'
	 * shard.meta were not rewritten before a crash. */
	for (size_t i = 0; i < st->n_shards; i++) {
		struct lshard *c = st->shards[i];
		for (size_t j = 0; j < st->n_shards; j++) {
			struct lshard *p = st->shards[j];
			if (p->closed || (strcmp(c->parent, p->id) && strcmp(c->adjacent_parent, p->id)))
				continue;
			p->closed = 1;
			p->closed_ms = c->created_ms;
			p->end_counter = UINT64_MAX; /* from its log, below */
			kfs_info("%s/streams/%s/%s: closed by a reshard", e->data_dir,
				 name, p->id);
		}
	}
	for (size_t i = 0; i < st->n_shards; i++) {
		struct lshard *sh = st->shards[i];
		int sfd;
		snprintf(path, sizeof(path), "%s/streams/%s/%s", e->data_dir, name, sh->id);
		if ((rc = shard_open_log(e, path, sh)) < 0) {
			kfs_err("%s: cannot open shard log: %s", path, strerror(-rc));
			goto fail;
		}
		if (!sh->closed)
			continue;
		/* Keep shard.meta in step (best effort: loading fixes it). */
		sfd = openat(e->streams_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd >= 0) {
			int shfd = openat(sfd, sh->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			struct lshard disk;
			if (shfd >= 0 && shard_meta_read(shfd, &disk) == 0 &&
			    (!disk.closed || disk.end_counter != sh->end_counter))
				shard_meta_write(shfd, sh);
			if (shfd >= 0)
				close(shfd);
			close(sfd);
		}
	}
	if ((rc = kfs_local_journal_new(e, st)) < 0)
		goto fail;
	st->status = KFS_STREAM_ACTIVE;
	*out = st;
	return 0;

fail:
	if (d)
		closedir(d);
	if (dfd >= 0)
		close(dfd);
	kfs_local_stream_unref(st);
	return rc;
}

static int load_all(struct kfs_local *e)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = dup(e->streams_fd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct lstream *st;
		int found;
		size_t pos;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!kfs_valid_stream_name(de->d_name)) {
			kfs_warn("%s/streams/%s: not a stream name, ignored",
				 e->data_dir, de->d_name);
			continue;
		}
		rc = stream_load(e, de->d_name, &st);
		if (rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE)
			break;
		if (rc < 0) {
			/* Leave it on disk, out of the way: its name stays taken.
			 * A damaged metadata file was logged by name. */
			if (rc != -EUCLEAN)
				kfs_err("%s/streams/%s: cannot load stream (%s); it is "
					"not served", e->data_dir, de->d_name, strerror(-rc));
			rc = 0;
			continue;
		}
		pos = table_find(e, st->name, &found);
		if ((rc = table_insert(e, pos, st)) < 0) {
			kfs_local_stream_unref(st);
			break;
		}
	}
	closedir(d);
	return rc;
}

/* ---- background thread ------------------------------------------------ */

/* References to every ACTIVE stream; the caller unrefs and frees. */
static struct lstream **streams_snapshot(struct kfs_local *e, size_t *n)
{
	struct lstream **v;

	pthread_rwlock_rdlock(&e->streams_lock);
	v = malloc((e->n_streams ? e->n_streams : 1) * sizeof(*v));
	*n = 0;
	if (v) {
		for (size_t i = 0; i < e->n_streams; i++) {
			if (e->streams[i]->status != KFS_STREAM_ACTIVE)
				continue;
			stream_ref(e->streams[i]);
			v[(*n)++] = e->streams[i];
		}
	}
	pthread_rwlock_unlock(&e->streams_lock);
	return v;
}

static void snapshot_free(struct lstream **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kfs_local_stream_unref(v[i]);
	free(v);
}

static void sync_dirty(struct kfs_local *e)
{
	size_t n;
	struct lstream **v = streams_snapshot(e, &n);

	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		pthread_rwlock_rdlock(&v[i]->lock);
		kfs_local_keys_sync(e, v[i], 0);
		pthread_rwlock_unlock(&v[i]->lock);
		kfs_local_journal_compact(e, v[i]);
	}
	snapshot_free(v, n);
}

/*
 * Drops the closed shards of st that hold no retained record and were
 * closed longer than the retention period ago, as the service does.
 * Their directories go to trash/ first, then are removed.
 */
static int expire_closed(struct kfs_local *e, struct lstream *st)
{
	struct lshard **gone = NULL;
	size_t n_gone = 0;
	int trash_fd, dfd;

	pthread_rwlock_rdlock(&st->lock);
	for (size_t i = 0; i < st->n_shards; i++) {
		struct lshard *sh = st->shards[i];
		struct kfs_seglog_stat ls;
		int64_t cutoff = kfs_local_cutoff(e, st);
		if (!sh->closed || sh->closed_ms >= cutoff ||
		    kfs_seglog_stat(sh->log, cutoff, &ls) < 0 || ls.first < ls.next)
			continue;
		if (!gone && !(gone = calloc(st->n_shards, sizeof(*gone))))
			break;
		gone[n_gone++] = sh;
	}
	pthread_rwlock_unlock(&st->lock);
	if (!n_gone) {
		free(gone);
		return 0;
	}
	pthread_rwlock_wrlock(&st->lock);
	for (size_t k = 0; k < n_gone; k++) {
		for (size_t i = 0; i < st->n_shards; i++) {
			if (st->shards[i] == gone[k]) {
				memmove(st->shards + i, st->shards + i + 1,
					(st->n_shards - i - 1) * sizeof(*st->shards));
				st->n_shards--;
				break;
			}
		}
	}
	pthread_rwlock_unlock(&st->lock);

	trash_fd = openat(e->data_fd, "trash", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = openat(e->streams_fd, st->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t k = 0; k < n_gone; k++) {
		char name[KFS_STREAM_NAME_MAX + 64];
		snprintf(name, sizeof(name), "%s.%s.%d.%" PRIu64, st->name, gone[k]->id,
			 (int)getpid(), __atomic_add_fetch(&e->tmp_seq, 1, __ATOMIC_RELAXED));
		if (trash_fd >= 0 && dfd >= 0 &&
		    renameat(dfd, gone[k]->id, trash_fd, name) == 0)
			rmtree_at(trash_fd, name);
		else if (dfd >= 0)
			rmtree_at(dfd, gone[k]->id);
		kfs_info("stream %s: closed shard %s past retention, removed", st->name,
			 gone[k]->id);
		shard_free(gone[k]);
	}
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (trash_fd >= 0)
		close(trash_fd);
	free(gone);
	return (int)n_gone;
}

static int purge_all(struct kfs_local *e)
{
	size_t n;
	struct lstream **v = streams_snapshot(e, &n);
	int total = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		pthread_rwlock_rdlock(&v[i]->lock);
		int64_t cutoff = kfs_local_cutoff(e, v[i]);
		for (size_t j = 0; j < v[i]->n_shards; j++) {
			int r = kfs_seglog_purge(v[i]->shards[j]->log, cutoff);
			if (r > 0)
				total += r;
		}
		pthread_rwlock_unlock(&v[i]->lock);
		expire_closed(e, v[i]);
	}
	snapshot_free(v, n);
	return total;
}

static void *bg_main(void *arg)
{
	struct kfs_local *e = arg;
	int64_t last_purge = kfs_mono_ms();

	pthread_mutex_lock(&e->bg_lock);
	while (!e->bg_stop) {
		struct timespec ts;

		kfs_deadline(&ts, KFS_LOCAL_SYNC_INTERVAL_MS);
		pthread_cond_timedwait(&e->bg_cond, &e->bg_lock, &ts);
		if (e->bg_stop)
			break;
		pthread_mutex_unlock(&e->bg_lock);
		/* Bounds what a power cut loses and what the next open has
		 * to check, as Redis's appendfsync everysec does. */
		sync_dirty(e);
		if (kfs_mono_ms() - last_purge >= KFS_LOCAL_PURGE_INTERVAL_MS) {
			purge_all(e);
			last_purge = kfs_mono_ms();
		}
		pthread_mutex_lock(&e->bg_lock);
	}
	pthread_mutex_unlock(&e->bg_lock);
	return NULL;
}

/*
 * Starts the background thread in this process if it is not running.
 * It starts on first use rather than in kfs_local_open() because the
 * daemon forks after opening, and threads do not survive fork().
 */
void kfs_local_bg_ensure(struct kfs_local *e)
{
	pid_t pid = getpid();

	if (__atomic_load_n(&e->bg_pid, __ATOMIC_ACQUIRE) == pid)
		return;
	pthread_mutex_lock(&e->bg_lock);
	if (e->bg_pid != pid && !e->bg_stop) {
		int rc = pthread_create(&e->bg_thread, NULL, bg_main, e);
		if (rc == 0)
			__atomic_store_n(&e->bg_pid, pid, __ATOMIC_RELEASE);
		else
			kfs_warn("local engine: cannot start its background thread: %s",
				 strerror(rc));
	}
	pthread_mutex_unlock(&e->bg_lock);
}

/* ---- operations: streams ---------------------------------------------- */

static int local_list_streams(void *impl, struct kfs_name_list *out)
{
	struct kfs_local *e = impl;
	int rc = 0;

	kfs_local_bg_ensure(e);
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&e->streams_lock);
	for (size_t i = 0; i < e->n_streams && rc == 0; i++)
		if (e->streams[i]->status == KFS_STREAM_ACTIVE)
			rc = kfs_name_list_add(out, e->streams[i]->name);
	pthread_rwlock_unlock(&e->streams_lock);
	if (rc < 0)
		kfs_name_list_clear(out);
	return rc;
}

static uint64_t random_u64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)kfs_now_ms() ^ ((uint64_t)getpid() << 32) ^
		    (uint64_t)kfs_mono_ms() * 0x9E3779B97F4A7C15ull;
	return v;
}

/* Builds the directory tree of a new stream under tmp/ and renames it
 * into streams/.  st's fields are set; its shards are not opened. */
static int stream_build(struct kfs_local *e, struct lstream *st, int shard_count)
{
	char tmpname[KFS_STREAM_NAME_MAX + 64];
	int tmp_fd = -1, sdir = -1, rc;
	uint64_t seq = __atomic_add_fetch(&e->tmp_seq, 1, __ATOMIC_RELAXED);

	snprintf(tmpname, sizeof(tmpname), "%s.%d.%" PRIu64, st->name, (int)getpid(), seq);
	tmp_fd = openat(e->data_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp_fd < 0)
		return -errno;
	if (mkdirat(tmp_fd, tmpname, 0700) < 0) {
		rc = -errno;
		goto out;
	}
	sdir = openat(tmp_fd, tmpname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sdir < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = stream_meta_write(sdir, st, st->retention_hours,
				    (uint32_t)shard_count)) < 0)
		goto out;
	for (int i = 0; i < shard_count; i++) {
		struct lshard sh = {.index = (uint32_t)i, .created_ms = st->creation_ms};
		int shfd;

		kfs_ids_shard_id(sh.index, sh.id);
		kfs_ids_shard_range(sh.index, (uint32_t)shard_count, &sh.hash_start,
				    &sh.hash_end);
		if (mkdirat(sdir, sh.id, 0700) < 0) {
			rc = -errno;
			goto out;
		}
		shfd = openat(sdir, sh.id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (shfd < 0) {
			rc = -errno;
			goto out;
		}
		rc = shard_meta_write(shfd, &sh);
		if (rc == 0)
			rc = kfs_seglog_create(shfd, 0, e->log_format);
		close(shfd);
		if (rc < 0)
			goto out;
	}
	if (fsync(sdir) < 0) {
		rc = -errno;
		goto out;
	}
	if (renameat(tmp_fd, tmpname, e->streams_fd, st->name) < 0) {
		rc = errno == ENOTEMPTY ? -EEXIST : -errno;
		goto out;
	}
	if (fsync(e->streams_fd) < 0 || fsync(tmp_fd) < 0) {
		rc = -errno;
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		rmtree_at(tmp_fd, tmpname);
	if (sdir >= 0)
		close(sdir);
	close(tmp_fd);
	return rc;
}

static int local_create_stream(void *impl, const char *stream, int shard_count)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	size_t pos;
	int found, rc;

	kfs_local_bg_ensure(e);
	if (!kfs_valid_stream_name(stream) || shard_count < 1 ||
	    shard_count > KFS_LOCAL_SHARDS_MAX)
		return -EINVAL;
	st = stream_new(stream);
	if (!st)
		return -ENOMEM;
	st->creation_ms = kfs_local_now(e);
	st->uid = random_u64();
	st->next_shard_index = (uint32_t)shard_count;
	st->status = KFS_STREAM_CREATING;

	/* Reserve the name, then do the disk work without the table lock. */
	pthread_rwlock_wrlock(&e->streams_lock);
	pos = table_find(e, stream, &found);
	rc = found ? -EEXIST : table_insert(e, pos, st);
	pthread_rwlock_unlock(&e->streams_lock);
	if (rc < 0) {
		kfs_local_stream_unref(st);
		return rc;
	}

	rc = stream_build(e, st, shard_count);
	if (rc == 0)
		rc = kfs_local_journal_new(e, st);
	if (rc == 0) {
		st->shards = calloc((size_t)shard_count, sizeof(*st->shards));
		if (!st->shards)
			rc = -ENOMEM;
		for (int i = 0; rc == 0 && i < shard_count; i++) {
			struct lshard *sh = calloc(1, sizeof(*sh));
			char path[PATH_MAX];
			if (!sh) {
				rc = -ENOMEM;
				break;
			}
			sh->index = (uint32_t)i;
			sh->created_ms = st->creation_ms;
			kfs_ids_shard_id(sh->index, sh->id);
			kfs_ids_shard_range(sh->index, (uint32_t)shard_count,
					    &sh->hash_start, &sh->hash_end);
			snprintf(path, sizeof(path), "%s/streams/%s/%s", e->data_dir,
				 stream, sh->id);
			rc = shard_open_log(e, path, sh);
			if (rc < 0) {
				free(sh);
				break;
			}
			st->shards[st->n_shards++] = sh;
		}
		if (rc < 0) {
			/* Built but unusable: take it back off the disk. */
			int r = rmtree_at(e->streams_fd, stream);
			if (r < 0)
				kfs_err("%s/streams/%s: %s", e->data_dir, stream,
					strerror(-r));
		}
	}
	pthread_rwlock_wrlock(&e->streams_lock);
	if (rc == 0)
		st->status = KFS_STREAM_ACTIVE;
	else
		table_remove(e, st);
	pthread_rwlock_unlock(&e->streams_lock);
	if (rc < 0) {
		/* EEXIST: a stream not served (damaged) holds the name; the
		 * caller reports it, as for a served one. */
		if (rc != -EEXIST)
			kfs_err("create stream %s: %s", stream, strerror(-rc));
		kfs_local_stream_unref(st);
		return rc;
	}
	kfs_info("stream %s created with %d shard%s", stream, shard_count,
		 shard_count > 1 ? "s" : "");
	return 0;
}

static int local_delete_stream(void *impl, const char *stream)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	char name[KFS_STREAM_NAME_MAX + 64];
	int trash_fd, found, rc;
	size_t pos;

	kfs_local_bg_ensure(e);
	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	pthread_rwlock_wrlock(&e->streams_lock);
	pos = table_find(e, stream, &found);
	if (!found || e->streams[pos]->status != KFS_STREAM_ACTIVE) {
		pthread_rwlock_unlock(&e->streams_lock);
		return -ENOENT;
	}
	st = e->streams[pos];
	st->status = KFS_STREAM_DELETING;
	pthread_rwlock_unlock(&e->streams_lock);

	snprintf(name, sizeof(name), "%s.%d.%" PRIu64, stream, (int)getpid(),
		 __atomic_add_fetch(&e->tmp_seq, 1, __ATOMIC_RELAXED));
	trash_fd = openat(e->data_fd, "trash", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = trash_fd < 0 ? -errno : 0;
	if (rc == 0 && renameat(e->streams_fd, stream, trash_fd, name) < 0)
		rc = -errno;
	if (rc == 0 && fsync(e->streams_fd) < 0)
		rc = -errno;
	pthread_rwlock_wrlock(&e->streams_lock);
	if (rc == 0)
		table_remove(e, st);
	else
		st->status = KFS_STREAM_ACTIVE;
	pthread_rwlock_unlock(&e->streams_lock);
	if (rc < 0) {
		kfs_err("delete stream %s: %s", stream, strerror(-rc));
		if (trash_fd >= 0)
			close(trash_fd);
		return rc;
	}
	/* Operations still holding it finish on open files; its names
	 * go (hooks find no stream now: no file is touched). */
	kfs_names_forget(e->names, stream);
	kfs_local_stream_unref(st);
	rc = rmtree_at(trash_fd, name);
	if (rc < 0)
		kfs_warn("%s/trash/%s: %s (removed on next open)", e->data_dir,
			 name, strerror(-rc));
	close(trash_fd);
	kfs_info("stream %s deleted", stream);
	return 0;
}

static int count_open(struct lstream *st)
{
	int n = 0;

	for (size_t i = 0; i < st->n_shards; i++)
		n += !st->shards[i]->closed;
	return n;
}

static int local_describe_stream(void *impl, const char *stream,
				 struct kfs_stream_desc *out)
{
	struct kfs_local *e = impl;
	struct lstream *st;

	kfs_local_bg_ensure(e);
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", st->name);
	snprintf(out->arn, sizeof(out->arn),
		 "arn:aws:kinesis:local:000000000000:stream/%s", st->name);
	out->status = KFS_STREAM_ACTIVE;
	snprintf(out->mode, sizeof(out->mode), "PROVISIONED");
	out->creation_ms = st->creation_ms;
	pthread_rwlock_rdlock(&st->lock);
	out->retention_hours = st->retention_hours;
	out->open_shard_count = count_open(st);
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return 0;
}

/* ---- operations: shards ----------------------------------------------- */

int kfs_local_encode_seq(const struct lshard *sh, uint64_t counter, int64_t arrival_ms,
		      char seq[KFS_SEQ_MAX])
{
	struct kfs_seq s = {
		.shard_created_s = sh->created_ms / 1000,
		.shard_index = sh->index,
		.counter = counter,
		.arrival_s = arrival_ms / 1000,
	};
	if (s.arrival_s > KFS_SEQ_TIME_MAX)
		s.arrival_s = KFS_SEQ_TIME_MAX;
	return kfs_ids_seq_encode(&s, seq, KFS_SEQ_MAX);
}

/* Fills out for sh; st->lock held. */
static int shard_describe(struct kfs_local *e, struct lstream *st,
			  struct lshard *sh, struct kfs_shard_desc *out)
{
	struct kfs_seglog_stat ls;
	int rc;

	memset(out, 0, sizeof(*out));
	memcpy(out->id, sh->id, sizeof(out->id));
	memcpy(out->parent, sh->parent, sizeof(out->parent));
	memcpy(out->adjacent_parent, sh->adjacent_parent, sizeof(out->adjacent_parent));
	kfs_ids_format_u128(sh->hash_start, out->hash_start);
	kfs_ids_format_u128(sh->hash_end, out->hash_end);
	kfs_local_encode_seq(sh, 0, sh->created_ms, out->seq_start);
	if (sh->closed) {
		/* At least every record's number: the last counter with the
		 * largest arrival field. */
		struct kfs_seq s = {
			.shard_created_s = sh->created_ms / 1000,
			.shard_index = sh->index,
			.counter = sh->end_counter ? sh->end_counter - 1 : 0,
			.arrival_s = KFS_SEQ_TIME_MAX,
		};
		kfs_ids_seq_encode(&s, out->seq_end, sizeof(out->seq_end));
		out->closed = 1;
	}
	rc = kfs_seglog_stat(sh->log, kfs_local_cutoff(e, st), &ls);
	if (rc < 0)
		return rc;
	out->newest_arrival_ms = ls.newest_arrival_ms;
	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		out->bytes[f] = (int64_t)ls.bytes[f];
	return 0;
}

static int local_list_shards(void *impl, const char *stream,
			     struct kfs_shard_list *out)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	int rc = 0;

	kfs_local_bg_ensure(e);
	memset(out, 0, sizeof(*out));
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	pthread_rwlock_rdlock(&st->lock);
	out->v = calloc(st->n_shards, sizeof(*out->v));
	if (!out->v)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < st->n_shards; i++) {
		rc = shard_describe(e, st, st->shards[i], &out->v[i]);
		if (rc == 0)
			out->n++;
	}
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	if (rc < 0)
		kfs_shard_list_clear(out);
	return rc;
}

static int local_describe_shard(void *impl, const char *stream,
				const char *shard_id, struct kfs_shard_desc *out)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	struct lshard *sh;
	int rc;

	kfs_local_bg_ensure(e);
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	pthread_rwlock_rdlock(&st->lock);
	sh = kfs_local_shard_find(st, shard_id);
	rc = sh ? shard_describe(e, st, sh, out) : -ENOENT;
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}

/* ---- operations: records ---------------------------------------------- */

/* The open shard whose range holds h; st->lock held. */
static struct lshard *route(struct lstream *st, unsigned __int128 h)
{
	for (size_t i = 0; i < st->n_shards; i++) {
		struct lshard *sh = st->shards[i];
		if (!sh->closed && h >= sh->hash_start && h <= sh->hash_end)
			return sh;
	}
	return NULL;
}

static int local_put_records(void *impl, const char *stream,
			     struct kfs_put_entry *entries, size_t n)
{
	struct kfs_local *e = impl;
	struct lstream *st = NULL;
	struct lshard **dest = NULL;
	struct kfs_seglog_in *in = NULL;
	size_t *pick = NULL, *klens = NULL;
	const char *prev_key = NULL;   /* the last key checked, its length */
	size_t prev_klen = 0;          /* and its hash (prev_hashed) */
	unsigned __int128 prev_hash = 0;
	int prev_hashed = 0;
	unsigned __int128 routed_h = 0; /* the last hash key routed, where to */
	struct lshard *routed_sh = NULL;
	int routed = 0;
	int rc = 0;

	kfs_local_bg_ensure(e);
	if (n == 0)
		return 0;
	if (n > KFS_CHEAP_PUT_BATCH_MAX || !kfs_valid_stream_name(stream))
		rc = -EINVAL;
	else if (!(st = kfs_local_stream_get(e, stream)))
		rc = -ENOENT;
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			kfs_put_entry_fail(&entries[i], rc, rc == -ENOENT ?
				   "stream not found" : "invalid request");
		return rc;
	}
	dest = calloc(n, sizeof(*dest));
	in = calloc(n, sizeof(*in));
	pick = calloc(n, sizeof(*pick));
	klens = calloc(n, sizeof(*klens));
	if (!dest || !in || !pick || !klens) {
		rc = -ENOMEM;
		for (size_t i = 0; i < n; i++)
			kfs_put_entry_fail(&entries[i], rc, "out of memory");
		goto out;
	}

	pthread_rwlock_rdlock(&st->lock);
	for (size_t i = 0; i < n; i++) {
		struct kfs_put_entry *en = &entries[i];
		unsigned __int128 h;
		size_t klen;

		/* A batch is mostly runs of one key, often the very same
		 * string: it is checked and hashed once per run. */
		if (prev_key && en->key == prev_key &&
		    en->len + prev_klen <= e->max_record_bytes) {
			en->err = 0;
			en->reason[0] = '\0';
			klen = prev_klen;
		} else if (kfs_put_entry_check(en, e->max_record_bytes) != 0) {
			continue;
		} else {
			klen = strlen(en->key);
			if (!prev_key || strcmp(prev_key, en->key) != 0)
				prev_hashed = 0;
			prev_key = en->key;
			prev_klen = klen;
		}
		klens[i] = klen;
		if (en->explicit_hash_key) {
			if (kfs_ids_parse_u128(en->explicit_hash_key, &h) < 0) {
				kfs_put_entry_fail(en, -EINVAL, "explicit hash key is not a "
					   "decimal from 0 to 2^128-1");
				continue;
			}
		} else if (prev_hashed) {
			h = prev_hash;
		} else if (kfs_ids_md5_hash(en->key, klen, &h) < 0) {
			kfs_put_entry_fail(en, -EIO, "cannot compute MD5");
			continue;
		} else {
			prev_hash = h;
			prev_hashed = 1;
		}
		/* Routed once per run of one hash key too: route() walks
		 * the shards. */
		if (!routed || h != routed_h) {
			routed_sh = route(st, h);
			routed_h = h;
			routed = 1;
		}
		dest[i] = routed_sh;
		if (!dest[i])
			kfs_put_entry_fail(en, -EIO, "no open shard holds the hash key");
	}

	/* One append per shard, the entries in their order. */
	for (size_t i = 0; i < n; i++) {
		struct lshard *sh = dest[i];
		uint64_t first;
		int64_t arrival;
		size_t m = 0;
		int r;

		if (!sh)
			continue;
		for (size_t j = i; j < n; j++) {
			if (dest[j] != sh)
				continue;
			in[m].key = entries[j].key;
			in[m].key_len = klens[j];
			in[m].data = entries[j].data;
			in[m].len = entries[j].len;
			pick[m++] = j;
			dest[j] = NULL;
		}
		r = kfs_kidx_append(sh->kidx, in, m, kfs_local_now(e), &first, &arrival);
		for (size_t k = 0; k < m; k++) {
			struct kfs_put_entry *en = &entries[pick[k]];
			if (r < 0) {
				char why[160];
				snprintf(why, sizeof(why), "storing in %s failed: %s",
					 sh->id, strerror(-r));
				kfs_put_entry_fail(en, r == -ESHUTDOWN ? -EAGAIN : r, why);
				continue;
			}
			if (!en->no_seq)
				kfs_local_encode_seq(sh, first + k, arrival, en->seq);
			memcpy(en->shard_id, sh->id, sizeof(en->shard_id));
		}
	}
	pthread_rwlock_unlock(&st->lock);
out:
	free(dest);
	free(in);
	free(pick);
	free(klens);
	kfs_local_stream_unref(st);
	return rc;
}

static int local_put_run(void *impl, const char *stream, const char *key,
			 const struct iovec *v, size_t n)
{
	struct kfs_local *e = impl;
	struct kfs_put_entry check = { .key = key };
	struct kfs_seglog_in *in = NULL;
	struct lstream *st = NULL;
	struct lshard *sh;
	unsigned __int128 h;
	uint64_t first;
	int64_t arrival;
	size_t klen;
	int rc = 1;

	kfs_local_bg_ensure(e);
	if (n == 0 || n > KFS_CHEAP_PUT_BATCH_MAX ||
	    kfs_put_entry_check(&check, e->max_record_bytes) != 0)
		return 1;
	klen = strlen(key);
	for (size_t i = 0; i < n; i++)
		if (v[i].iov_len + klen > e->max_record_bytes)
			return 1;
	if (kfs_ids_md5_hash(key, klen, &h) < 0 || !kfs_valid_stream_name(stream) ||
	    !(st = kfs_local_stream_get(e, stream)))
		return 1;
	in = malloc(n * sizeof(*in));
	if (!in) {
		kfs_local_stream_unref(st);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		in[i].key = key;
		in[i].key_len = klen;
		in[i].data = v[i].iov_base;
		in[i].len = v[i].iov_len;
	}
	pthread_rwlock_rdlock(&st->lock);
	sh = route(st, h);
	if (sh && kfs_kidx_append(sh->kidx, in, n, kfs_local_now(e), &first, &arrival) == 0)
		rc = 0;
	pthread_rwlock_unlock(&st->lock);
	free(in);
	kfs_local_stream_unref(st);
	return rc;
}

/*
 * UpdateShardCount with UNIFORM_SCALING, as the service does it: the open
 * shards become `target` shards of equal hash ranges through a sequence
 * of splits and merges, so that every new shard has one parent (split) or
 * two adjacent ones (merge).  Sweeping the key space from 0, the shard
 * `cur` at hand always starts where the next target range [a, b] starts:
 * while it ends before b it is merged with the next open shard; if it
 * then ends after b it is split at b.  Shards made and closed on the way
 * hold no record; they keep the lineage readable, as on the service.
 */
struct reshard {
	struct lshard **made;         /* new shards, owned until published */
	size_t n_made;                /* entries of made */
	struct lshard **closing;      /* open shards this closes (borrowed) */
	size_t n_closing;             /* entries of closing */
	uint32_t next_index;          /* next free shard index */
	int64_t now;                  /* creation / closing time */
};

static struct lshard *reshard_new(struct reshard *r, unsigned __int128 start,
				  unsigned __int128 end, const struct lshard *parent,
				  const struct lshard *adjacent)
{
	struct lshard *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return NULL;
	sh->index = r->next_index++;
	kfs_ids_shard_id(sh->index, sh->id);
	sh->hash_start = start;
	sh->hash_end = end;
	sh->created_ms = r->now;
	snprintf(sh->parent, sizeof(sh->parent), "%s", parent->id);
	if (adjacent)
		snprintf(sh->adjacent_parent, sizeof(sh->adjacent_parent), "%s", adjacent->id);
	r->made[r->n_made++] = sh;
	return sh;
}

/* Marks sh (an open shard, or one made by this reshard) as closed. */
static void reshard_close(struct reshard *r, struct lshard *sh)
{
	for (size_t i = 0; i < r->n_made; i++) {
		if (r->made[i] == sh) {
			sh->closed = 1;
			sh->closed_ms = r->now;
			sh->end_counter = 0;
			return;
		}
	}
	r->closing[r->n_closing++] = sh;
}

static int open_cmp(const void *a, const void *b)
{
	const struct lshard *x = *(struct lshard *const *)a;
	const struct lshard *y = *(struct lshard *const *)b;
	return x->hash_start < y->hash_start ? -1 : x->hash_start > y->hash_start;
}

/* Plans the reshard of st (st->lock held) into r. */
static int reshard_plan(struct lstream *st, int target, struct reshard *r)
{
	struct lshard **open = NULL, *cur;
	size_t n_open = 0, i = 0;
	int rc = 0;

	open = calloc(st->n_shards, sizeof(*open));
	/* Each step makes at most two shards; there are at most
	 * target + n_open steps. */
	r->made = calloc(2 * ((size_t)target + st->n_shards) + 2, sizeof(*r->made));
	r->closing = calloc(st->n_shards, sizeof(*r->closing));
	if (!open || !r->made || !r->closing) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < st->n_shards; k++)
		if (!st->shards[k]->closed)
			open[n_open++] = st->shards[k];
	qsort(open, n_open, sizeof(*open), open_cmp);
	cur = open[0];
	for (int j = 0; j < target; j++) {
		unsigned __int128 a, b;

		kfs_ids_shard_range((uint32_t)j, (uint32_t)target, &a, &b);
		if (cur->hash_start != a) { /* open shards do not tile: corrupt */
			rc = -EIO;
			goto out;
		}
		while (cur->hash_end < b) {
			struct lshard *next, *m;
			if (++i >= n_open) {
				rc = -EIO;
				goto out;
			}
			next = open[i];
			m = reshard_new(r, cur->hash_start, next->hash_end, cur, next);
			if (!m) {
				rc = -ENOMEM;
				goto out;
			}
			reshard_close(r, cur);
			reshard_close(r, next);
			cur = m;
		}
		if (cur->hash_end > b) {
			struct lshard *left = reshard_new(r, cur->hash_start, b, cur, NULL);
			struct lshard *right = left ? reshard_new(r, b + 1, cur->hash_end, cur, NULL) : NULL;
			if (!right) {
				rc = -ENOMEM;
				goto out;
			}
			reshard_close(r, cur);
			cur = right;
		} else if (j + 1 < target) {
			if (++i >= n_open) {
				rc = -EIO;
				goto out;
			}
			cur = open[i];
		}
	}
out:
	free(open);
	return rc;
}

static void reshard_free(struct reshard *r)
{
	for (size_t i = 0; i < r->n_made; i++)
		shard_free(r->made[i]);
	free(r->made);
	free(r->closing);
}

static int local_update_shard_count(void *impl, const char *stream, int target)
{
	struct kfs_local *e = impl;
	struct reshard r = {0};
	struct lstream *st;
	struct lshard **nv = NULL;
	uint32_t old_next;
	int open_now, dfd = -1, rc;

	kfs_local_bg_ensure(e);
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	pthread_mutex_lock(&st->meta_lock);
	pthread_rwlock_rdlock(&st->lock);
	open_now = count_open(st);
	old_next = st->next_shard_index;
	if (target < 1 || target > KFS_LOCAL_SHARDS_MAX || target > 2 * open_now ||
	    2 * target < open_now) {
		rc = -EINVAL;
	} else {
		r.next_index = old_next;
		r.now = kfs_local_now(e);
		rc = reshard_plan(st, target, &r);
	}
	pthread_rwlock_unlock(&st->lock);
	if (rc < 0 || r.n_made == 0)
		goto out;
	if ((uint64_t)r.next_index > (uint64_t)UINT32_MAX - 1) {
		rc = -ENOSPC;
		goto out;
	}

	/* The new shards on disk; they count only once committed. */
	dfd = openat(e->streams_fd, st->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t i = 0; i < r.n_made; i++) {
		struct lshard *sh = r.made[i];
		char path[PATH_MAX];
		int shfd;

		if (mkdirat(dfd, sh->id, 0700) < 0) {
			rc = -errno;
			goto undo;
		}
		shfd = openat(dfd, sh->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (shfd < 0) {
			rc = -errno;
			goto undo;
		}
		rc = shard_meta_write(shfd, sh);
		if (rc == 0)
			rc = kfs_seglog_create(shfd, 0, e->log_format);
		close(shfd);
		if (rc < 0)
			goto undo;
		snprintf(path, sizeof(path), "%s/streams/%s/%s", e->data_dir, st->name, sh->id);
		if ((rc = shard_open_log(e, path, sh)) < 0)
			goto undo;
	}
	if (fsync(dfd) < 0) {
		rc = -errno;
		goto undo;
	}
	/* Room for the new array, swapped in under the write lock (the
	 * count only shrinks meanwhile, by expiry of closed shards). */
	pthread_rwlock_rdlock(&st->lock);
	nv = malloc((st->n_shards + r.n_made) * sizeof(*nv));
	pthread_rwlock_unlock(&st->lock);
	if (!nv) {
		rc = -ENOMEM;
		goto undo;
	}

	/* Commit: no put runs while the parents are sealed and the new
	 * next_shard_index is written. */
	pthread_rwlock_wrlock(&st->lock);
	for (size_t i = 0; i < r.n_closing; i++) {
		uint64_t end;
		kfs_seglog_seal(r.closing[i]->log, &end);
		r.closing[i]->end_counter = end;
		/* Its log ends at `end` on every open from now on, even
		 * after a crash. */
		if (rc == 0)
			rc = kfs_seglog_unreserve(r.closing[i]->log);
	}
	if (rc == 0)
		rc = stream_meta_write(dfd, st, st->retention_hours, r.next_index);
	if (rc < 0) {
		for (size_t i = 0; i < r.n_closing; i++)
			kfs_seglog_unseal(r.closing[i]->log);
		pthread_rwlock_unlock(&st->lock);
		goto undo;
	}
	for (size_t i = 0; i < r.n_closing; i++) {
		r.closing[i]->closed = 1;
		r.closing[i]->closed_ms = r.now;
	}
	/* The new shards count the keys tracked (before any put reaches
	 * them, and no track runs meanwhile: it holds st->lock). */
	for (size_t i = 0; i < r.n_made; i++)
		kfs_kidx_copy_keys(r.made[i]->kidx, r.closing[0]->kidx);
	memcpy(nv, st->shards, st->n_shards * sizeof(*nv));
	memcpy(nv + st->n_shards, r.made, r.n_made * sizeof(*nv));
	free(st->shards);
	st->shards = nv;
	st->n_shards += r.n_made;
	nv = NULL;
	r.n_made = 0;
	st->next_shard_index = r.next_index;
	pthread_rwlock_unlock(&st->lock);

	/* Committed.  Parents' shard.meta follow (loading would fix them). */
	for (size_t i = 0; i < r.n_closing; i++) {
		int shfd = openat(dfd, r.closing[i]->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int w = shfd < 0 ? -errno : shard_meta_write(shfd, r.closing[i]);
		if (shfd >= 0)
			close(shfd);
		if (w < 0)
			kfs_warn("%s/streams/%s/%s: cannot mark it closed: %s", e->data_dir,
				 st->name, r.closing[i]->id, strerror(-w));
	}
	kfs_info("stream %s: %d open shards now (was %d)", st->name, target, open_now);
	goto out;

undo:
	kfs_err("stream %s: update shard count to %d failed: %s", st->name, target,
		strerror(-rc));
	for (size_t i = 0; i < r.n_made; i++)
		rmtree_at(dfd, r.made[i]->id);
out:
	free(nv);
	if (dfd >= 0)
		close(dfd);
	reshard_free(&r);
	pthread_mutex_unlock(&st->meta_lock);
	kfs_local_stream_unref(st);
	return rc;
}

static int local_set_retention(void *impl, const char *stream, int hours)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	uint32_t next_index;
	int dfd, rc;

	kfs_local_bg_ensure(e);
	if (hours < KFS_RETENTION_MIN_HOURS || hours > KFS_RETENTION_MAX_HOURS)
		return -EINVAL;
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	pthread_mutex_lock(&st->meta_lock);
	pthread_rwlock_rdlock(&st->lock);
	next_index = st->next_shard_index;
	pthread_rwlock_unlock(&st->lock);
	dfd = openat(e->streams_fd, st->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = dfd < 0 ? -errno : stream_meta_write(dfd, st, hours, next_index);
	if (dfd >= 0)
		close(dfd);
	if (rc == 0) {
		pthread_rwlock_wrlock(&st->lock);
		st->retention_hours = hours;
		pthread_rwlock_unlock(&st->lock);
	} else {
		kfs_err("stream %s: cannot store retention: %s", st->name, strerror(-rc));
	}
	pthread_mutex_unlock(&st->meta_lock);
	kfs_local_stream_unref(st);
	return rc;
}

static int local_seek_bytes(void *impl, const char *stream, const char *shard_id,
			    enum kfs_framing framing, uint64_t offset,
			    char **iter_out, uint64_t *skip_out)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	struct lshard *sh;
	uint64_t trim, next, base, end, c, start;
	int rc;

	kfs_local_bg_ensure(e);
	*iter_out = NULL;
	*skip_out = 0;
	if ((unsigned)framing >= KFS_FRAMING_COUNT)
		return -EINVAL;
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	pthread_rwlock_rdlock(&st->lock);
	sh = kfs_local_shard_find(st, shard_id);
	if (!sh) {
		rc = -ENOENT;
		goto out;
	}
	next = kfs_seglog_next(sh->log);
	if ((rc = kfs_seglog_trim_horizon(sh->log, kfs_local_cutoff(e, st), &trim)) < 0 ||
	    (rc = kfs_seglog_bytes_before(sh->log, trim, framing, &base)) < 0)
		goto out;
	if (trim > next)
		next = trim;
	if ((rc = kfs_seglog_bytes_before(sh->log, next, framing, &end)) < 0)
		goto out;
	if (offset >= end - base) {
		c = next;
		*skip_out = offset - (end - base);
	} else {
		rc = kfs_seglog_find_byte(sh->log, framing, base + offset, &c, &start);
		if (rc < 0)
			goto out;
		*skip_out = base + offset - start;
	}
	rc = kfs_local_iter_format(st, sh, c, iter_out);
out:
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}

static int local_sync(void *impl, const char *stream)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	int rc = 0;

	kfs_local_bg_ensure(e);
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	pthread_rwlock_rdlock(&st->lock);
	rc = kfs_local_keys_sync(e, st, 1);
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}

/* ---- open and close --------------------------------------------------- */

static void local_destroy(void *impl)
{
	struct kfs_local *e = impl;

	if (!e)
		return;
	pthread_mutex_lock(&e->bg_lock);
	e->bg_stop = 1;
	pthread_cond_broadcast(&e->bg_cond);
	pthread_mutex_unlock(&e->bg_lock);
	if (e->bg_pid == getpid())
		pthread_join(e->bg_thread, NULL);
	for (size_t i = 0; i < e->n_streams; i++) {
		struct lstream *st = e->streams[i];
		/* A clean close leaves nothing for the next open to check,
		 * and no gap in the counters. */
		kfs_local_keys_sync(e, st, 1);
		for (size_t j = 0; j < st->n_shards; j++)
			kfs_seglog_unreserve(st->shards[j]->log);
		kfs_local_stream_unref(st);
	}
	free(e->streams);
	kfs_names_free(e->names);
	if (e->streams_fd >= 0)
		close(e->streams_fd);
	if (e->data_fd >= 0)
		close(e->data_fd);
	if (e->lock_fd >= 0)
		close(e->lock_fd); /* releases the flock */
	pthread_rwlock_destroy(&e->streams_lock);
	pthread_mutex_destroy(&e->bg_lock);
	pthread_cond_destroy(&e->bg_cond);
	free(e->data_dir);
	free(e);
}

static const struct kfs_backend_ops local_ops = {
	.name = "local",
	.caps = KFS_CAP_CHEAP_PUT | KFS_CAP_SIZES | KFS_CAP_BINARY_KEYS |
		KFS_CAP_READ_AHEAD,
	.destroy = local_destroy,
	.list_streams = local_list_streams,
	.create_stream = local_create_stream,
	.delete_stream = local_delete_stream,
	.describe_stream = local_describe_stream,
	.list_shards = local_list_shards,
	.describe_shard = local_describe_shard,
	.put_records = local_put_records,
	.put_run = local_put_run,
	.get_iterator = kfs_local_get_iterator,
	.get_records = kfs_local_get_records,
	.update_shard_count = local_update_shard_count,
	.set_retention = local_set_retention,
	.seek_bytes = local_seek_bytes,
	.behind = kfs_local_behind,
	.sync = local_sync,
	.names = kfs_local_names,
	.key_iterator = kfs_local_key_iterator,
};

int kfs_local_note_pid(struct kfs_backend *be)
{
	struct kfs_local *e;

	if (!be || be->ops != &local_ops)
		return -EINVAL;
	e = be->impl;
	return kfs_lock_note_holder(e->lock_fd);
}

int kfs_local_purge(struct kfs_backend *be)
{
	if (!be || be->ops != &local_ops)
		return -EINVAL;
	return purge_all(be->impl);
}

/* Every shard keeps its directory and the two files of each segment
 * open, so a few thousand shards need more than the usual soft limit of
 * 1024 descriptors: raise it to the hard limit, as daemons do. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			kfs_debug("open files limit raised from %llu to %llu",
				  (unsigned long long)old, (unsigned long long)rl.rlim_max);
	}
}

int kfs_local_open(const struct kfs_local_config *cfg, struct kfs_backend **out)
{
	struct kfs_local *e;
	struct kfs_backend *be;
	int rc;

	*out = NULL;
	if (!cfg || !cfg->data_dir || !cfg->data_dir[0] ||
	    cfg->max_record_bytes > KFS_RECORD_LIMIT_MAX)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	be = calloc(1, sizeof(*be));
	if (!e || !be) {
		free(e);
		free(be);
		return -ENOMEM;
	}
	e->data_fd = e->streams_fd = e->lock_fd = -1;
	pthread_rwlock_init(&e->streams_lock, NULL);
	pthread_mutex_init(&e->bg_lock, NULL);
	pthread_cond_init(&e->bg_cond, NULL);
	e->max_record_bytes = cfg->max_record_bytes ? cfg->max_record_bytes :
						      KFS_RECORD_LIMIT_DEFAULT;
	e->segment_bytes = cfg->segment_bytes;
	e->log_format = cfg->log_format;
	e->clock = cfg->clock;
	e->data_dir = strdup(cfg->data_dir);
	if (!e->data_dir) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = mkdir_p(e->data_dir)) < 0) {
		kfs_err("data_dir %s: %s", e->data_dir, strerror(-rc));
		goto fail;
	}
	e->data_fd = open(e->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->data_fd < 0) {
		rc = -errno;
		kfs_err("data_dir %s: %s", e->data_dir, strerror(-rc));
		goto fail;
	}
	e->lock_fd = kfs_lock_take(e->data_fd, e->data_dir);
	if (e->lock_fd < 0) {
		rc = e->lock_fd;
		goto fail;
	}
	raise_fd_limit();
	for (const char *const *d = (const char *const[]){"streams", "tmp", "trash", NULL};
	     *d; d++) {
		if (mkdirat(e->data_fd, *d, 0700) < 0 && errno != EEXIST) {
			rc = -errno;
			kfs_err("%s/%s: %s", e->data_dir, *d, strerror(-rc));
			goto fail;
		}
	}
	e->streams_fd = openat(e->data_fd, "streams", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->streams_fd < 0) {
		rc = -errno;
		goto fail;
	}
	clean_dir(e, "tmp");
	clean_dir(e, "trash");
	if ((rc = load_all(e)) < 0) {
		kfs_err("data_dir %s: cannot load streams: %s", e->data_dir,
			strerror(-rc));
		goto fail;
	}
	if ((rc = kfs_local_names_open(e)) < 0)
		goto fail;
	be->ops = &local_ops;
	be->impl = e;
	*out = be;
	kfs_debug("local engine on %s: %zu streams", e->data_dir, e->n_streams);
	return 0;

fail:
	local_destroy(e);
	free(be);
	return rc;
}
