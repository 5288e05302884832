/*
 * keyidx.h - the key postings of one shard: where the records of each
 * tracked key are, and its running totals (key files, SPEC 3).
 *
 * A key is tracked while a name of its stream refers to it
 * (backend/names.h).  For every run of consecutive records of a tracked
 * key stored by one append, a posting says where the run is (its first
 * counter and count) and the key's totals in the shard at its end (bytes
 * in both framings, records, arrival).  So a key file's size is a
 * subtraction, the key's size at the trim horizon a binary search of its
 * postings, and reading a key reads its runs only.  Untracked keys cost
 * one hash lookup per run at append, nothing else.  Layout on disk: the
 * comment at the top of keyidx.c.
 *
 * Thread safety: every function may be called from many threads at once,
 * except kfs_kidx_close(), which must be the last call.  Appends and
 * their bookkeeping, tracking and tips of one shard are serialized by
 * the shard's "kidx lock", so an append is wholly before or after a
 * tip: a position never splits one.
 */
#ifndef KFS_KEYIDX_H
#define KFS_KEYIDX_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"
#include "seglog.h"

struct kfs_kidx;

/* A key's totals in one shard before a counter. */
struct kfs_ktotals {
	uint64_t counter;                 /* the position: records below it */
	uint64_t cum[KFS_FRAMING_COUNT];  /* the key's bytes before it, counted
					   * since it is tracked */
	uint64_t records;                 /* its records before it, likewise */
	int64_t last_ms;                  /* arrival of its last one, -1 none */
};

/* One run of a key's records: counters first .. first + count - 1. */
struct kfs_krun {
	uint64_t first;
	uint32_t count;
};

/* Opens the postings of the shard in directory `dir` whose log is `log`
 * (borrowed; it must outlive the index).  Nothing is read yet: the keys
 * are tracked with kfs_kidx_track(), then kfs_kidx_recover() runs.  On
 * success *out is the caller's, freed with kfs_kidx_close(). */
int kfs_kidx_open(const char *dir, struct kfs_seglog *log, struct kfs_kidx **out);
/* Closes the files and frees; NULL is a no-op.  Does not sync. */
void kfs_kidx_close(struct kfs_kidx *k);

/* kfs_seglog_append() under the kidx lock, then the postings of the
 * tracked keys' runs.  Same arguments and result as kfs_seglog_append(). */
int kfs_kidx_append(struct kfs_kidx *k, const struct kfs_seglog_in *v,
		    size_t n, int64_t now_ms, uint64_t *first_out,
		    int64_t *arrival_out);

/*
 * Starts (on 1) or stops (on 0) tracking `key`; idempotent.  At run time
 * a new tracking starts from the tip with totals 0 (a stale posting file
 * is removed), and stopping removes the key's postings.  With `loading`
 * (the journal being replayed at open) only the set of keys changes:
 * kfs_kidx_recover() then takes the postings of the keys still tracked.
 */
int kfs_kidx_track(struct kfs_kidx *k, const void *key, size_t key_len,
		   int on, int loading);
/* Tracks in dst (a shard made by a reshard) every key src tracks. */
int kfs_kidx_copy_keys(struct kfs_kidx *dst, struct kfs_kidx *src);
/* 1 when `key` is tracked. */
int kfs_kidx_tracked(struct kfs_kidx *k, const void *key, size_t key_len);

/* The key's totals at the tip (counter: the log's next counter). */
void kfs_kidx_tip(struct kfs_kidx *k, const void *key, size_t key_len,
		  struct kfs_ktotals *out);
/* The key's totals before counter `c` (a trim horizon): its postings'
 * binary search, O(log n) preads, no record read. */
int kfs_kidx_totals_at(struct kfs_kidx *k, const void *key, size_t key_len,
		       uint64_t c, struct kfs_ktotals *out);

/*
 * The key's runs (clipped to counters >= from), at most max of them, in
 * counter order, from the posting *hint (a guess, checked; updated to
 * where the next call goes on).  *tip_out is the log's next counter as
 * of the runs: the key has no record in [from, *tip_out) besides them
 * when fewer than max are returned.  Returns how many, or -errno;
 * -ENOENT when the key is not tracked, -ESTALE when postings from `from`
 * on may be missing (one could not be written): read by scanning.
 */
int kfs_kidx_runs(struct kfs_kidx *k, const void *key, size_t key_len,
		  uint64_t from, uint64_t *hint, struct kfs_krun *out,
		  size_t max, uint64_t *tip_out);

/*
 * After the journal's replay at open: takes the postings of the tracked
 * keys, cuts those at or past the shard's watermark (postings complete
 * below it) and rebuilds them from the records there (after kill -9 or a
 * power cut), removes the postings of keys no longer tracked, and moves
 * the watermark to the tip.  0 or -errno (logged).
 */
int kfs_kidx_recover(struct kfs_kidx *k);

/* The background pass and a writer's fsync: fdatasync of the postings
 * written since, then the watermark moves to the tip as of before.
 * 0 or -errno. */
int kfs_kidx_sync(struct kfs_kidx *k);

/* 1 when postings or records wait for kfs_kidx_sync(). */
int kfs_kidx_dirty(struct kfs_kidx *k);

/* The hex name of a key's posting file (32 digits and a NUL). */
void kfs_kidx_file_name(const void *key, size_t key_len, char name[33]);

#endif
