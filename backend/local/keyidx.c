/* keyidx.c - the key postings of one shard; see keyidx.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "keyidx_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "ids.h"
#include "backend/kpl/agg.h"
#include "backend/kpl/expand.h"
#include "lib/log.h"

/*
 * On-disk layout, in the shard's directory (beside the log, seglog.c)
 * =====================================================================
 *
 *   keys/                        made when a key is first tracked
 *     watermark                  the postings are complete below W
 *     <32 hex digits>            one posting file per tracked key that has
 *                                records in the shard: the MD5 of the key
 *
 * watermark (24 bytes, rewritten in place):
 *   0 "KFSKW1\0\0" | 8 W u64 | 16 crc u32 of bytes 0..15 | 20 0 u32
 *
 * posting file (append-only):
 *   0   "KFSKPS1\0"
 *   8   key_len u32
 *   12  crc u32: CRC-32C of bytes 0..11 and the key
 *   16  key, zero-padded to 256 bytes
 *   272 postings, KPOST_ENT bytes each, ascending in counter:
 *       0 first u64 | 8 count u32 | 12 crc u32 (bytes 0..11, 16..47) |
 *       16 cum_line u64 | 24 cum_write u64 | 32 records u64 |
 *       40 arrival_ms i64
 *   A posting is one run of the key's records with consecutive counters
 *   stored by one append (first .. first + count - 1), all of one
 *   arrival; cum_*, records: the key's totals in the shard at the END of
 *   the run, counted since the key is tracked (so a posting's totals
 *   before it are the previous posting's, or 0 for the first).  All
 *   integers little-endian.
 *
 * Writing: a posting is one pwrite after its records' append, under the
 * kidx lock, so postings are in counter order whatever the appenders.
 * The files are not synced by the append: kfs_kidx_sync() (the engine's
 * background pass and a writer's fsync) syncs the postings written
 * since, then the records, and only then moves W up to the tip read
 * before them.  Tracking a key moves W to the tip (no record of the key
 * before it is counted).  A tracked key's file is made at its first
 * record in the shard; stopping the tracking removes it.
 *
 * Recovery (kfs_kidx_recover, at open, once the names journal says which
 * keys are tracked): postings at or past W, and a torn last one, are cut;
 * the records from W to the tip are read and the runs of tracked keys
 * posted again; W moves to the tip; posting files of keys not tracked
 * are removed.  After a clean close W is the tip and nothing is read;
 * after kill -9 or a power cut, at most what was appended since the last
 * background pass (about a second).  A missing or unreadable watermark
 * is taken as the tip (logged when keys are tracked).
 */

/* ---- small helpers ---------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t kidx_fnv1a(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

void kfs_kidx_file_name(const void *key, size_t key_len, char name[33])
{
	unsigned __int128 h = 0;

	kfs_ids_md5_hash(key, key_len, &h);
	snprintf(name, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)(h >> 64),
		 (uint64_t)h);
}

/* ---- postings --------------------------------------------------------- */

static uint32_t ent_crc(const unsigned char *b)
{
	return kfs_crc32c(kfs_crc32c(0, b, 12), b + 16, KPOST_ENT - 16);
}

static void ent_encode(unsigned char *b, const struct kent *e)
{
	put64(b, e->first);
	put32(b + 8, e->count);
	put64(b + 16, e->cum[KFS_FRAMING_LINE]);
	put64(b + 24, e->cum[KFS_FRAMING_WRITE]);
	put64(b + 32, e->records);
	put64(b + 40, (uint64_t)e->arrival_ms);
	put32(b + 12, ent_crc(b));
}

static int ent_decode(const unsigned char *b, struct kent *e)
{
	if (get32(b + 12) != ent_crc(b))
		return -EIO;
	e->first = get64(b);
	e->count = get32(b + 8);
	e->cum[KFS_FRAMING_LINE] = get64(b + 16);
	e->cum[KFS_FRAMING_WRITE] = get64(b + 24);
	e->records = get64(b + 32);
	e->arrival_ms = (int64_t)get64(b + 40);
	return e->count ? 0 : -EIO;
}

int kidx_ent_read(struct kpost *p, uint64_t i, struct kent *e)
{
	unsigned char b[KPOST_ENT];
	int rc = kfs_pread_full(p->fd, b, sizeof(b), (off_t)(KPOST_HDR + i * KPOST_ENT));

	return rc < 0 ? rc : ent_decode(b, e);
}

void kidx_hdr_encode(unsigned char *b, const void *key, size_t key_len)
{
	memset(b, 0, KPOST_HDR);
	memcpy(b, KPOST_MAGIC, 8);
	put32(b + 8, (uint32_t)key_len);
	memcpy(b + 16, key, key_len);
	put32(b + 12, kfs_crc32c(kfs_crc32c(0, b, 12), key, key_len));
}

/* ---- the table -------------------------------------------------------- */

struct kpost *kidx_lookup(struct kfs_kidx *k, const void *key, size_t len,
			    uint64_t h)
{
	struct kpost *p;

	if (!k->n)
		return NULL;
	for (p = k->tab[h & (k->cap - 1)]; p; p = p->next)
		if (p->hash == h && p->key_len == len && !memcmp(p->key, key, len))
			return p;
	return NULL;
}

static int table_add(struct kfs_kidx *k, struct kpost *p)
{
	if (k->n + 1 > k->cap / 2 + k->cap / 4) {
		size_t cap = k->cap ? 2 * k->cap : 16;
		struct kpost **t = calloc(cap, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (size_t i = 0; i < k->cap; i++) {
			struct kpost *q, *nx;
			for (q = k->tab[i]; q; q = nx) {
				nx = q->next;
				q->next = t[q->hash & (cap - 1)];
				t[q->hash & (cap - 1)] = q;
			}
		}
		free(k->tab);
		k->tab = t;
		k->cap = cap;
	}
	p->next = k->tab[p->hash & (k->cap - 1)];
	k->tab[p->hash & (k->cap - 1)] = p;
	k->n++;
	return 0;
}

static void table_del(struct kfs_kidx *k, struct kpost *p)
{
	struct kpost **pp = &k->tab[p->hash & (k->cap - 1)];

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	k->n--;
}

static void kpost_free(struct kpost *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

/* ---- files ------------------------------------------------------------ */

/* keys/ as k->keys_fd, made if `make`; 0, -ENOENT (not made), -errno. */
int kidx_keys_dir(struct kfs_kidx *k, int make)
{
	char path[4096];

	if (k->keys_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/" KEYS_DIR, k->dir);
	if (make && mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	k->keys_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return k->keys_fd < 0 ? -errno : 0;
}

/* Stores watermark w unless it is not above the one stored: it never
 * moves back.  The kidx lock held (the file is synced by the caller). */
int kidx_w_store(struct kfs_kidx *k, uint64_t w)
{
	unsigned char b[KW_SIZE] = {0};
	int rc;

	if (k->w_fd >= 0 && w <= k->w)
		return 0;
	if ((rc = kidx_keys_dir(k, 1)) < 0)
		return rc;
	if (k->w_fd < 0)
		k->w_fd = openat(k->keys_fd, WATERMARK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (k->w_fd < 0)
		return -errno;
	memcpy(b, KW_MAGIC, 8);
	put64(b + 8, w);
	put32(b + 16, kfs_crc32c(0, b, 16));
	if ((rc = kfs_pwrite_full(k->w_fd, b, sizeof(b), 0)) == 0)
		k->w = w;
	return rc;
}

/* The watermark on disk, or -ENOENT / -EIO. */
int kidx_w_read(struct kfs_kidx *k, uint64_t *w)
{
	unsigned char b[KW_SIZE];
	int fd = openat(k->keys_fd, WATERMARK, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = kfs_pread_full(fd, b, sizeof(b), 0);
	close(fd);
	if (rc == 0 && (memcmp(b, KW_MAGIC, 8) || get32(b + 16) != kfs_crc32c(0, b, 16)))
		rc = -EIO;
	if (rc == 0)
		*w = get64(b + 8);
	return rc;
}

/* Makes p's posting file, empty; 0 or -errno. */
static int post_create(struct kfs_kidx *k, struct kpost *p)
{
	unsigned char hdr[KPOST_HDR];
	char name[33];
	int rc;

	if ((rc = kidx_keys_dir(k, 1)) < 0)
		return rc;
	kfs_kidx_file_name(p->key, p->key_len, name);
	p->fd = openat(k->keys_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (p->fd < 0)
		return -errno;
	kidx_hdr_encode(hdr, p->key, p->key_len);
	if ((rc = kfs_pwrite_full(p->fd, hdr, sizeof(hdr), 0)) < 0) {
		close(p->fd);
		p->fd = -1;
		unlinkat(k->keys_fd, name, 0);
	}
	return rc;
}

/* Posts a run of p: counters first .. first + count - 1, `bytes` in each
 * framing, all arrived at `arrival`.  The kidx lock held. */
void kidx_post(struct kfs_kidx *k, struct kpost *p, uint64_t first,
		 uint32_t count, const uint64_t bytes[KFS_FRAMING_COUNT],
		 uint64_t records, int64_t arrival)
{
	unsigned char b[KPOST_ENT];
	struct kent e = {.first = first, .count = count, .arrival_ms = arrival};
	int rc = 0;

	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		p->cum[f] += bytes[f];
	p->records += records;
	p->last_ms = arrival;
	p->next_counter = first + count;
	memcpy(e.cum, p->cum, sizeof(e.cum));
	e.records = p->records;
	ent_encode(b, &e);
	if (p->fd < 0)
		rc = post_create(k, p);
	if (rc == 0)
		rc = kfs_pwrite_full(p->fd, b, sizeof(b),
				(off_t)(KPOST_HDR + p->n_ent * KPOST_ENT));
	if (rc < 0) {
		/* The totals in memory stay right; the next open rebuilds
		 * the postings from below this run. */
		if (first < k->w_hold)
			k->w_hold = first;
		/* Nothing is lost: key files read past w_hold by scanning
		 * (kfs_kidx_runs gives -ESTALE there). */
		if (!k->write_logged) {
			k->write_logged = 1;
			kfs_info("%s/" KEYS_DIR ": cannot write a key posting: %s; "
				 "key files are read by scanning the shard from "
				 "here until the next open rebuilds the postings",
				 k->dir, strerror(-rc));
		}
		return;
	}
	p->n_ent++;
	p->dirty = 1;
	k->dirty = 1;
}

/* ---- open, close ------------------------------------------------------ */

int kfs_kidx_open(const char *dir, struct kfs_seglog *log, struct kfs_kidx **out)
{
	struct kfs_kidx *k = calloc(1, sizeof(*k));

	*out = NULL;
	if (!k || !(k->dir = strdup(dir))) {
		free(k);
		return -ENOMEM;
	}
	k->log = log;
	k->keys_fd = k->w_fd = -1;
	k->w_hold = UINT64_MAX;
	pthread_mutex_init(&k->lock, NULL);
	pthread_mutex_init(&k->sync_lock, NULL);
	*out = k;
	return 0;
}

void kfs_kidx_close(struct kfs_kidx *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->cap; i++) {
		struct kpost *p, *nx;
		for (p = k->tab[i]; p; p = nx) {
			nx = p->next;
			kpost_free(p);
		}
	}
	free(k->tab);
	if (k->keys_fd >= 0)
		close(k->keys_fd);
	if (k->w_fd >= 0)
		close(k->w_fd);
	pthread_mutex_destroy(&k->lock);
	pthread_mutex_destroy(&k->sync_lock);
	free(k->dir);
	free(k);
}

/* ---- append ----------------------------------------------------------- */

static int same_key(const struct kfs_seglog_in *a, const struct kfs_seglog_in *b)
{
	return a->key_len == b->key_len &&
	       (a->key == b->key || !memcmp(a->key, b->key, a->key_len));
}

int kfs_kidx_append(struct kfs_kidx *k, const struct kfs_seglog_in *v,
		    size_t n, int64_t now_ms, uint64_t *first_out,
		    int64_t *arrival_out)
{
	int rc;

	pthread_mutex_lock(&k->lock);
	rc = kfs_seglog_append(k->log, v, n, now_ms, first_out, arrival_out);
	for (size_t i = 0, j; rc == 0 && k->n && i < n; i = j) {
		struct kpost *p;

		if (kfs_agg_looks(v[i].data, v[i].len)) {
			j = i + 1;
			kidx_post_agg(k, v[i].data, v[i].len, v[i].key,
				      v[i].key_len, *first_out + i, *arrival_out);
			continue;
		}
		for (j = i + 1; j < n && same_key(&v[i], &v[j]) &&
		     !kfs_agg_looks(v[j].data, v[j].len); j++)
			;
		p = kidx_lookup(k, v[i].key, v[i].key_len, kidx_fnv1a(v[i].key, v[i].key_len));
		if (p) {
			uint64_t bytes[KFS_FRAMING_COUNT] = {0};
			for (size_t r = i; r < j; r++) {
				bytes[KFS_FRAMING_LINE] +=
					kfs_framed_len(KFS_FRAMING_LINE, v[r].data, v[r].len);
				bytes[KFS_FRAMING_WRITE] += v[r].len;
			}
			kidx_post(k, p, *first_out + i, (uint32_t)(j - i), bytes,
				  j - i, *arrival_out);
		}
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

void kidx_post_agg(struct kfs_kidx *k, const void *data, size_t len,
		   const void *key, size_t key_len, uint64_t counter,
		   int64_t arrival)
{
	struct kfs_agg_keyset ks;
	struct kpost *p;
	int rc = kfs_agg_keys(data, len, &ks);

	if (rc == 0) {
		/* Plain data after all (a check failed): a run of one. */
		uint64_t b[KFS_FRAMING_COUNT] = {
			[KFS_FRAMING_LINE] = kfs_framed_len(KFS_FRAMING_LINE, data, len),
			[KFS_FRAMING_WRITE] = len,
		};
		p = kidx_lookup(k, key, key_len, kidx_fnv1a(key, key_len));
		if (p && counter >= p->next_counter)
			kidx_post(k, p, counter, 1, b, 1, arrival);
		return;
	}
	if (rc < 0) {
		/* Its keys unknown: key files read by scanning from here
		 * until the next open rebuilds the postings. */
		if (counter < k->w_hold)
			k->w_hold = counter;
		kfs_warn("%s/" KEYS_DIR ": record %" PRIu64 " not indexed: %s",
			 k->dir, counter, strerror(-rc));
		return;
	}
	/* A KPL aggregated record is in the runs of every key it holds,
	 * each counting its own user records. */
	for (size_t i = 0; i < ks.n; i++) {
		size_t kl = strlen(ks.v[i].key);

		p = kidx_lookup(k, ks.v[i].key, kl, kidx_fnv1a(ks.v[i].key, kl));
		if (p && counter >= p->next_counter)
			kidx_post(k, p, counter, 1, ks.v[i].bytes,
				  ks.v[i].records, arrival);
	}
	kfs_agg_keyset_clear(&ks);
}

/* ---- tracking --------------------------------------------------------- */

int kfs_kidx_track(struct kfs_kidx *k, const void *key, size_t key_len,
		   int on, int loading)
{
	uint64_t h = kidx_fnv1a(key, key_len);
	struct kpost *p;
	char name[33];
	int rc = 0;

	if (key_len > KFS_KEY_MAX)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	p = kidx_lookup(k, key, key_len, h);
	if (!on) {
		if (p) {
			table_del(k, p);
			if (!loading && p->fd >= 0) {
				kfs_kidx_file_name(key, key_len, name);
				unlinkat(k->keys_fd, name, 0);
			}
			kpost_free(p);
		}
		goto out;
	}
	if (p)
		goto out;
	p = calloc(1, sizeof(*p) + key_len);
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	p->hash = h;
	p->fd = -1;
	p->last_ms = -1;
	p->key_len = key_len;
	memcpy(p->key, key, key_len);
	if (!loading) {
		uint64_t tip = kfs_seglog_next(k->log);
		/* Counting starts here: no record of the key before the tip
		 * is counted, even by a rebuild after a crash. */
		p->next_counter = tip;
		if ((rc = kidx_w_store(k, tip < k->w_hold ? tip : k->w_hold)) < 0) {
			kfs_err("%s/" KEYS_DIR "/" WATERMARK ": %s", k->dir, strerror(-rc));
			free(p);
			goto out;
		}
		kfs_kidx_file_name(key, key_len, name);
		if (unlinkat(k->keys_fd, name, 0) == 0)
			kfs_debug("%s/" KEYS_DIR "/%s: stale postings removed", k->dir, name);
	}
	if ((rc = table_add(k, p)) < 0)
		free(p);
out:
	pthread_mutex_unlock(&k->lock);
	return rc;
}

int kfs_kidx_tracked(struct kfs_kidx *k, const void *key, size_t key_len)
{
	int r;

	pthread_mutex_lock(&k->lock);
	r = kidx_lookup(k, key, key_len, kidx_fnv1a(key, key_len)) != NULL;
	pthread_mutex_unlock(&k->lock);
	return r;
}

/* ---- reading totals and runs ------------------------------------------ */

static void totals_of(const struct kpost *p, struct kfs_ktotals *out)
{
	memcpy(out->cum, p->cum, sizeof(out->cum));
	out->records = p->records;
	out->last_ms = p->last_ms;
}

void kfs_kidx_tip(struct kfs_kidx *k, const void *key, size_t key_len,
		  struct kfs_ktotals *out)
{
	struct kpost *p;

	memset(out, 0, sizeof(*out));
	out->last_ms = -1;
	pthread_mutex_lock(&k->lock);
	out->counter = kfs_seglog_next(k->log);
	p = kidx_lookup(k, key, key_len, kidx_fnv1a(key, key_len));
	if (p)
		totals_of(p, out);
	pthread_mutex_unlock(&k->lock);
}

/* The first posting of p whose run ends past c (p->n_ent when none);
 * the kidx lock held. */
static int ent_find(struct kpost *p, uint64_t c, uint64_t *idx, struct kent *e)
{
	uint64_t lo = 0, hi = p->n_ent;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int rc = kidx_ent_read(p, mid, e);
		if (rc < 0)
			return rc;
		if (e->first + e->count <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	*idx = lo;
	return lo < p->n_ent ? kidx_ent_read(p, lo, e) : 0;
}

int kfs_kidx_totals_at(struct kfs_kidx *k, const void *key, size_t key_len,
		       uint64_t c, struct kfs_ktotals *out)
{
	struct kpost *p;
	struct kent e, prev;
	uint64_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->counter = c;
	out->last_ms = -1;
	pthread_mutex_lock(&k->lock);
	p = kidx_lookup(k, key, key_len, kidx_fnv1a(key, key_len));
	if (!p || p->fd < 0 || !p->n_ent)
		goto out;
	if ((rc = ent_find(p, c, &i, &e)) < 0)
		goto out;
	if (i > 0 && (rc = kidx_ent_read(p, i - 1, &prev)) < 0)
		goto out;
	if (i > 0) {
		memcpy(out->cum, prev.cum, sizeof(out->cum));
		out->records = prev.records;
		out->last_ms = prev.arrival_ms;
	}
	if (i < p->n_ent && e.first < c) {
		/* c falls inside a run (a trim horizon never does, as it is
		 * at an append's or a segment's start; kept exact anyway):
		 * every counter of the run is the key's, so the log's bytes
		 * between its first and c are the key's. */
		for (int f = 0; f < KFS_FRAMING_COUNT && rc == 0; f++) {
			uint64_t a, b;
			rc = kfs_seglog_bytes_before(k->log, e.first, f, &a);
			if (rc == 0)
				rc = kfs_seglog_bytes_before(k->log, c, f, &b);
			if (rc == 0)
				out->cum[f] += b - a;
		}
		out->records += c - e.first;
		out->last_ms = e.arrival_ms;
	}
out:
	pthread_mutex_unlock(&k->lock);
	return rc;
}

int kfs_kidx_runs(struct kfs_kidx *k, const void *key, size_t key_len,
		  uint64_t from, uint64_t *hint, struct kfs_krun *out,
		  size_t max, uint64_t *tip_out)
{
	struct kpost *p;
	struct kent e;
	uint64_t i = *hint;
	size_t n = 0;
	int rc = 0;

	pthread_mutex_lock(&k->lock);
	*tip_out = kfs_seglog_next(k->log);
	p = kidx_lookup(k, key, key_len, kidx_fnv1a(key, key_len));
	if (!p) {
		rc = -ENOENT;
		goto out;
	}
	/* Postings from w_hold on may have holes (a failed write). */
	if (*tip_out > k->w_hold)
		*tip_out = k->w_hold;
	if (from >= k->w_hold) {
		rc = -ESTALE;
		goto out;
	}
	if (p->fd < 0 || !p->n_ent)
		goto out;
	/* The hint is right when its posting ends past `from` and the one
	 * before it does not (a reader going on where it stopped). */
	if (i >= p->n_ent || kidx_ent_read(p, i, &e) < 0 || e.first + e.count <= from) {
		i = UINT64_MAX;
	} else if (i > 0) {
		struct kent b;
		if (kidx_ent_read(p, i - 1, &b) < 0 || b.first + b.count > from)
			i = UINT64_MAX;
	}
	if (i == UINT64_MAX && (rc = ent_find(p, from, &i, &e)) < 0)
		goto out;
	for (; i < p->n_ent && n < max; i++) {
		if (n > 0 && (rc = kidx_ent_read(p, i, &e)) < 0)
			break;
		if (e.first >= k->w_hold)
			break;
		out[n].first = e.first < from ? from : e.first;
		out[n].count = (uint32_t)(e.first + e.count - out[n].first);
		n++;
	}
	*hint = i;
out:
	pthread_mutex_unlock(&k->lock);
	if (rc < 0 && rc != -ENOENT && rc != -ESTALE)
		kfs_err("%s/" KEYS_DIR ": cannot read key postings: %s", k->dir,
			strerror(-rc));
	return rc < 0 ? rc : (int)n;
}

/* ---- sync ------------------------------------------------------------- */

int kfs_kidx_sync(struct kfs_kidx *k)
{
	int *fds = NULL, wfd = -1;
	size_t n_fds = 0;
	uint64_t tip;
	int rc = 0, r;

	pthread_mutex_lock(&k->sync_lock);
	pthread_mutex_lock(&k->lock);
	tip = kfs_seglog_next(k->log);
	if (tip > k->w_hold)
		tip = k->w_hold;
	if (k->dirty && (fds = malloc(k->n * sizeof(*fds)))) {
		for (size_t i = 0; i < k->cap; i++)
			for (struct kpost *p = k->tab[i]; p; p = p->next)
				if (p->dirty && p->fd >= 0 &&
				    (fds[n_fds] = dup(p->fd)) >= 0) {
					p->dirty = 0;
					n_fds++;
				}
		k->dirty = 0;
	} else if (k->dirty) {
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&k->lock);
	/* Postings, then records, then the watermark: on disk it never
	 * claims postings or records that a power cut can take. */
	for (size_t i = 0; i < n_fds; i++) {
		if (fdatasync(fds[i]) < 0 && rc == 0)
			rc = -errno;
		close(fds[i]);
	}
	free(fds);
	r = kfs_seglog_sync(k->log);
	if (rc == 0)
		rc = r;
	pthread_mutex_lock(&k->lock);
	if (rc == 0 && k->n && k->keys_fd >= 0 && tip > k->w) {
		rc = kidx_w_store(k, tip);
		if (rc == 0)
			wfd = dup(k->w_fd);
	}
	if (rc < 0)
		k->dirty = 1;   /* again on the next pass */
	pthread_mutex_unlock(&k->lock);
	if (wfd >= 0) {
		if (fdatasync(wfd) < 0 && rc == 0)
			rc = -errno;
		close(wfd);
	}
	pthread_mutex_unlock(&k->sync_lock);
	return rc;
}

/* 1 when postings or records wait for kfs_kidx_sync(). */
int kfs_kidx_dirty(struct kfs_kidx *k)
{
	int d;

	pthread_mutex_lock(&k->lock);
	d = k->dirty || (k->n && k->keys_fd >= 0 && kfs_seglog_next(k->log) > k->w &&
			 k->w_hold > k->w);
	pthread_mutex_unlock(&k->lock);
	return d || kfs_seglog_dirty(k->log);
}

int kfs_kidx_copy_keys(struct kfs_kidx *dst, struct kfs_kidx *src)
{
	struct kpost **v = NULL;
	size_t n = 0;
	int rc = 0;

	/* Copies of the keys first: the two kidx locks are never held
	 * together. */
	pthread_mutex_lock(&src->lock);
	if (src->n && !(v = calloc(src->n, sizeof(*v))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < src->cap; i++)
		for (struct kpost *p = src->tab[i]; p && rc == 0; p = p->next) {
			if (!(v[n] = malloc(sizeof(*p) + p->key_len))) {
				rc = -ENOMEM;
				break;
			}
			memcpy(v[n], p, sizeof(*p) + p->key_len);
			n++;
		}
	pthread_mutex_unlock(&src->lock);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = kfs_kidx_track(dst, v[i]->key, v[i]->key_len, 1, 0);
		free(v[i]);
	}
	free(v);
	return rc;
}
