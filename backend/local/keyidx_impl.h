/*
 * keyidx_impl.h - what keyidx.c and keyidx_recover.c share: the files'
 * constants, the structures, and the helpers of keyidx.c.  Layout of the
 * files: the comment at the top of keyidx.c.
 */
#ifndef KFS_KEYIDX_IMPL_H
#define KFS_KEYIDX_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "fileio.h"
#include "keyidx.h"

#define KPOST_MAGIC "KFSKPS1\0"
#define KPOST_HDR 272
#define KPOST_ENT 48
#define KW_MAGIC "KFSKW1\0\0"
#define KW_SIZE 24
#define KEYS_DIR "keys"
#define WATERMARK "watermark"
/* Records read per pass when rebuilding postings. */
#define SCAN_RECORDS 4096
#define SCAN_BYTES (8u << 20)

/* One tracked key in this shard.  Every field: the kidx lock. */
struct kpost {
	struct kpost *next;               /* hash chain */
	uint64_t hash;                    /* FNV-1a of the key */
	uint64_t cum[KFS_FRAMING_COUNT];  /* totals since tracked */
	uint64_t records;
	int64_t last_ms;                  /* arrival of its last record, -1 none */
	uint64_t next_counter;            /* past its last posted record */
	uint64_t n_ent;                   /* postings in its file */
	int fd;                           /* its posting file, -1: none yet */
	int dirty;                        /* postings written since the last sync */
	size_t key_len;
	unsigned char key[];
};

struct kfs_kidx {
	char *dir;                        /* fixed: the shard's directory */
	struct kfs_seglog *log;           /* fixed: borrowed */
	pthread_mutex_t lock;             /* "kidx lock": appends with their
					   * bookkeeping, and the fields below */
	pthread_mutex_t sync_lock;        /* serializes kfs_kidx_sync() */
	int keys_fd;                      /* keys/, -1 until needed */
	int w_fd;                         /* keys/watermark, -1 until needed */
	struct kpost **tab;               /* hash table of tracked keys */
	size_t cap, n;                    /* slots (a power of 2), keys */
	uint64_t w;                       /* the watermark written (it only
					   * grows) */
	uint64_t w_hold;                  /* first counter whose posting could
					   * not be written (UINT64_MAX none):
					   * W stays below it */
	int dirty;                        /* a posting written since the last sync */
	int write_logged;                 /* a failed posting write was logged */
};

/* One posting, decoded. */
struct kent {
	uint64_t first;
	uint32_t count;
	uint64_t cum[KFS_FRAMING_COUNT];
	uint64_t records;
	int64_t arrival_ms;
};

/* keyidx.c; the kidx lock held by the callers of those that touch k. */
uint64_t kidx_fnv1a(const void *key, size_t len);
int kidx_ent_read(struct kpost *p, uint64_t i, struct kent *e);
void kidx_hdr_encode(unsigned char *b, const void *key, size_t key_len);
struct kpost *kidx_lookup(struct kfs_kidx *k, const void *key, size_t len,
			  uint64_t h);
/* keys/ as k->keys_fd, made if `make`; 0, -ENOENT (not made), -errno. */
int kidx_keys_dir(struct kfs_kidx *k, int make);
/* Stores watermark w unless not above the one stored (never back). */
int kidx_w_store(struct kfs_kidx *k, uint64_t w);
/* The watermark on disk, or -ENOENT / -EIO. */
int kidx_w_read(struct kfs_kidx *k, uint64_t *w);
/* Posts a run of p: counters first .. first + count - 1 holding
 * `records` of its records (count, but for a KPL aggregated record),
 * `bytes` in each framing, all arrived at `arrival`. */
void kidx_post(struct kfs_kidx *k, struct kpost *p, uint64_t first,
	       uint32_t count, const uint64_t bytes[KFS_FRAMING_COUNT],
	       uint64_t records, int64_t arrival);
/* Posts the record at `counter` (data, len; its partition key) that
 * starts with the KPL magic: in the runs of every tracked key among its
 * user records (those whose next_counter is not past it), or, when it
 * is not a valid aggregated record, of its key as plain data. */
void kidx_post_agg(struct kfs_kidx *k, const void *data, size_t len,
		   const void *key, size_t key_len, uint64_t counter,
		   int64_t arrival);

#endif
