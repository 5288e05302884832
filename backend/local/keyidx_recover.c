/* keyidx_recover.c - recovery of a shard's key postings at open; see
 * keyidx.h (kfs_kidx_recover) and the layout comment of keyidx.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "keyidx_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/kpl/agg.h"
#include "lib/log.h"

/* Takes p's posting file, if any, keeping the postings below w that
 * check out; the kidx lock held (at open: no other thread).  A file that
 * is not the key's is set aside as absent. */
static int post_load(struct kfs_kidx *k, struct kpost *p, uint64_t w)
{
	unsigned char hdr[KPOST_HDR], want[KPOST_HDR];
	char name[33];
	struct kent e;
	struct stat sb;
	uint64_t n, lo, hi;
	int rc;

	kfs_kidx_file_name(p->key, p->key_len, name);
	p->fd = openat(k->keys_fd, name, O_RDWR | O_CLOEXEC);
	if (p->fd < 0)
		return errno == ENOENT ? 0 : -errno;
	kidx_hdr_encode(want, p->key, p->key_len);
	if (fstat(p->fd, &sb) < 0 || sb.st_size < KPOST_HDR ||
	    kfs_pread_full(p->fd, hdr, sizeof(hdr), 0) < 0 || memcmp(hdr, want, KPOST_HDR)) {
		kfs_warn("%s/" KEYS_DIR "/%s: not a posting file of its key; rebuilt",
			 k->dir, name);
		close(p->fd);
		p->fd = -1;
		unlinkat(k->keys_fd, name, 0);
		return 0;
	}
	n = ((uint64_t)sb.st_size - KPOST_HDR) / KPOST_ENT;
	p->n_ent = n;
	/* Postings below w were complete when w was written. */
	for (lo = 0, hi = n; lo < hi;) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (kidx_ent_read(p, mid, &e) == 0 && e.first < w)
			lo = mid + 1;
		else
			hi = mid;
	}
	n = lo;
	/* A torn or bad posting below w ends them (a power cut). */
	while (n > 0 && kidx_ent_read(p, n - 1, &e) < 0)
		n--;
	if (n != lo)
		kfs_warn("%s/" KEYS_DIR "/%s: %" PRIu64 " postings fail their "
			 "checksum; rebuilt from the log", k->dir, name, lo - n);
	p->n_ent = n;
	if (n > 0) {
		memcpy(p->cum, e.cum, sizeof(p->cum));
		p->records = e.records;
		p->last_ms = e.arrival_ms;
		p->next_counter = e.first + e.count;
	}
	if ((uint64_t)sb.st_size != KPOST_HDR + n * KPOST_ENT &&
	    ftruncate(p->fd, (off_t)(KPOST_HDR + n * KPOST_ENT)) < 0) {
		rc = -errno;
		return rc;
	}
	return 0;
}

/* seglog_read's callback: the counter and arrival of each record read. */
struct scan {
	uint64_t *counter;      /* of records read, in order */
	int64_t *arrival;
	size_t n;
};

static void scan_rec(void *ctx, uint64_t counter, int64_t arrival_ms, char *seq)
{
	struct scan *s = ctx;

	s->counter[s->n] = counter;
	s->arrival[s->n++] = arrival_ms;
	seq[0] = '\0';
}

/* Posts the runs of tracked keys among the records from `from` to the
 * tip; the kidx lock held. */
static int rescan(struct kfs_kidx *k, uint64_t from)
{
	struct scan sc = {0};
	struct kpost *run = NULL;
	uint64_t first = 0, bytes[KFS_FRAMING_COUNT] = {0}, c = from;
	uint32_t count = 0;
	int64_t arrival = 0;
	int rc = 0;

	sc.counter = malloc(SCAN_RECORDS * sizeof(*sc.counter));
	sc.arrival = malloc(SCAN_RECORDS * sizeof(*sc.arrival));
	if (!sc.counter || !sc.arrival) {
		rc = -ENOMEM;
		goto out;
	}
	while (c < kfs_seglog_next(k->log)) {
		struct kfs_get_result res = {0};
		uint64_t next;

		sc.n = 0;
		rc = kfs_seglog_read(k->log, c, SCAN_RECORDS, SCAN_BYTES, scan_rec,
				     &sc, &res, &next);
		if (rc < 0 || res.n == 0 || next <= c) {
			kfs_get_result_clear(&res);
			break;
		}
		for (size_t i = 0; i < res.n; i++) {
			const struct kfs_record *r = &res.records[i];
			size_t len = strlen(r->key);
			struct kpost *p = kidx_lookup(k, r->key, len, kidx_fnv1a(r->key, len));

			if (run && (p != run || sc.counter[i] != first + count ||
				    sc.arrival[i] != arrival ||
				    kfs_agg_looks(r->data, r->len))) {
				kidx_post(k, run, first, count, bytes, count, arrival);
				run = NULL;
			}
			if (kfs_agg_looks(r->data, r->len)) {
				kidx_post_agg(k, r->data, r->len, r->key, len,
					      sc.counter[i], sc.arrival[i]);
				continue;
			}
			if (!p || sc.counter[i] < p->next_counter)
				continue;
			if (!run) {
				run = p;
				first = sc.counter[i];
				count = 0;
				arrival = sc.arrival[i];
				memset(bytes, 0, sizeof(bytes));
			}
			count++;
			bytes[KFS_FRAMING_LINE] += kfs_framed_len(KFS_FRAMING_LINE,
								  r->data, r->len);
			bytes[KFS_FRAMING_WRITE] += r->len;
		}
		c = next;
		kfs_get_result_clear(&res);
	}
	if (run)
		kidx_post(k, run, first, count, bytes, count, arrival);
out:
	free(sc.counter);
	free(sc.arrival);
	return rc;
}

/* Removes the posting files of keys not tracked; the kidx lock held. */
static void remove_untracked(struct kfs_kidx *k)
{
	char (*names)[33] = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	if (k->n && !(names = malloc(k->n * sizeof(*names))))
		return;
	for (size_t i = 0; i < k->cap; i++)
		for (struct kpost *p = k->tab[i]; p; p = p->next)
			kfs_kidx_file_name(p->key, p->key_len, names[n++]);
	fd = dup(k->keys_fd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		free(names);
		return;
	}
	while ((de = readdir(d))) {
		size_t i;
		if (strlen(de->d_name) != 32)
			continue;
		for (i = 0; i < n && strcmp(names[i], de->d_name); i++)
			;
		if (i == n)
			unlinkat(k->keys_fd, de->d_name, 0);
	}
	closedir(d);
	free(names);
}

int kfs_kidx_recover(struct kfs_kidx *k)
{
	uint64_t w = 0, tip;
	int rc = 0, r;

	pthread_mutex_lock(&k->lock);
	tip = kfs_seglog_next(k->log);
	rc = kidx_keys_dir(k, 0);
	if (rc == -ENOENT) {
		/* No key was ever tracked here (tracking makes keys/). */
		rc = k->n ? kidx_w_store(k, tip) : 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	if ((r = kidx_w_read(k, &w)) < 0 || w > tip) {
		if (k->n)
			kfs_warn("%s/" KEYS_DIR "/" WATERMARK ": %s; key file sizes "
				 "count from the tip", k->dir, r < 0 ? strerror(-r) :
				 "past the log's end");
		w = tip;
	}
	k->w = w;
	for (size_t i = 0; i < k->cap && rc == 0; i++)
		for (struct kpost *p = k->tab[i]; p && rc == 0; p = p->next) {
			p->next_counter = w;
			rc = post_load(k, p, w);
			if (p->next_counter < w)
				p->next_counter = w;
		}
	if (rc == 0 && k->n && w < tip) {
		kfs_info("%s: rebuilding key postings from counter %" PRIu64
			 " to %" PRIu64, k->dir, w, tip);
		rc = rescan(k, w);
	}
	for (size_t i = 0; rc == 0 && i < k->cap; i++)
		for (struct kpost *p = k->tab[i]; p; p = p->next)
			if (p->dirty && fdatasync(p->fd) == 0)
				p->dirty = 0;
	k->dirty = 0;
	remove_untracked(k);
	if (rc == 0 && k->n)
		rc = kidx_w_store(k, tip < k->w_hold ? tip : k->w_hold);
out:
	pthread_mutex_unlock(&k->lock);
	if (rc < 0)
		kfs_err("%s/" KEYS_DIR ": cannot recover key postings: %s", k->dir,
			strerror(-rc));
	return rc;
}

