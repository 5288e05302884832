/*
 * named.h - named readers (docs/reading.md, "Named readers"): where the
 * reader of each name last committed, kept on disk, and which names are
 * open.
 *
 * A name belongs to a stream and reads one thing of it: the whole stream,
 * one shard, or one key.  Its state is a position per shard (the last
 * record handed over, and for a KPL aggregated record how many of its
 * user records), shards read to their end, and an origin for shards it
 * has no position in (TRIM_HORIZON, or a time).  The state of a name is
 * one small file, replaced atomically (temporary file, fsync, rename,
 * fsync of the directory) at each commit:
 *
 *   <dir>/<stream>/<name>          the committed state (format below)
 *   <dir>/<stream>/.<name>.tmp     being written; a leftover is ignored
 *
 *   kinesisfs-reader 1
 *   view any | view stream | view shard SHARD_ID | view key HEX_OF_KEY
 *   origin TYPE MS SEQ|-          (TYPE: a GetShardIterator type)
 *   fresh 0|1                     (1: not used since made or reset)
 *   stream_created MS
 *   created MS
 *   committed MS COMMITS
 *   shard SHARD_ID SEQ|- SUB DONE ARRIVAL_MS     (one line a shard)
 *   end N                                         (N: the shard lines)
 *
 * SUB is -1 when the whole record SEQ was handed over, else the user
 * records of aggregated record SEQ handed over (the next has
 * SubSequenceNumber SUB).
 */
#ifndef KFS_NAMED_H
#define KFS_NAMED_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "fs/path.h"

/* A reader's place in one shard. */
struct kfs_npos {
	char shard[KFS_SHARD_ID_LEN + 1];
	char seq[KFS_POS_SEQ_MAX + 1]; /* the last record handed over; "" none */
	int64_t sub;                 /* -1: all of it; else its user records taken */
	int done;                    /* the shard was read to its end */
	int64_t arrival_ms;          /* record seq's arrival, for lag */
};

/* What a name reads, and from where. */
struct kfs_nstate {
	enum kfs_node kind;          /* KFS_NODE_SVIEW, _SHARD or _KEY;
				      * KFS_NODE_ROOT: not bound yet (reset) */
	char target[KFS_KEY_MAX + 1];  /* the shard id or key; "" for SVIEW */
	/* Where shards without a position start: TRIM_HORIZON or
	 * AT_TIMESTAMP once used; while fresh, any position (the first use
	 * reads from it as a view would, LATEST being AT_TIMESTAMP of when
	 * it was chosen). */
	enum kfs_iter_type origin;
	int64_t origin_ms;           /* AT_TIMESTAMP's time */
	char origin_seq[KFS_POS_SEQ_MAX + 1]; /* the sequence-number types' N */
	int fresh;                   /* not used since made or reset */
	int64_t stream_created_ms;   /* the stream it was made for */
	int64_t created_ms;          /* the name's first use */
	int64_t committed_ms;        /* the last commit; 0 none */
	uint64_t commits;            /* commits so far */
	size_t n;
	struct kfs_npos *v;          /* owned; one a shard, in no order */
};

void kfs_nstate_clear(struct kfs_nstate *s);
/* The position of shard in s, or NULL. */
struct kfs_npos *kfs_nstate_find(const struct kfs_nstate *s, const char *shard);
/* The position of shard in s, added (empty) when missing; NULL when out of
 * memory. */
struct kfs_npos *kfs_nstate_get(struct kfs_nstate *s, const char *shard);
/* *dst = a copy of src (dst cleared first); 0 or -ENOMEM. */
int kfs_nstate_copy(struct kfs_nstate *dst, const struct kfs_nstate *src);

struct kfs_named_table;

/*
 * The table of a mount: its state files live under dir (made 0700 on the
 * first save).  NULL when out of memory; freed with kfs_named_table_free
 * (NULL is a no-op) once no named reader is open.
 */
struct kfs_named_table *kfs_named_table_new(const char *dir);
void kfs_named_table_free(struct kfs_named_table *t);
const char *kfs_named_table_dir(const struct kfs_named_table *t);

/* How far a reader is behind the tip; -1 where unknown. */
struct kfs_named_lag {
	int64_t records, bytes, millis;
};

/* One open named reader: the committed state it started from, and what
 * it has handed over since (the next commit). */
struct kfs_named {
	struct kfs_named_table *tab;
	char stream[KFS_STREAM_NAME_MAX + 1];
	char name[KFS_READER_NAME_MAX + 1];
	int fresh;                    /* its first use: start.fresh */
	int attached;                 /* in the table's open names; protected
				       * by the named table lock */
	int closing;                  /* its file was closed, the release is
				       * coming; protected by the table lock */
	struct kfs_nstate start;      /* as committed at open; the reader's */
	pthread_mutex_t commit_lock;  /* "named commit lock": one commit at a
				       * time writes the state file */
	pthread_mutex_t lock;         /* "named lock": protects below */
	struct kfs_nstate delivered;  /* start, moved on by reads */
	int changed;                  /* delivered differs from the last commit */
	struct kfs_named_lag lag;     /* its own measure at the last read:
				       * millis from its last pages, records
				       * and bytes when they were at the tip */
};

/*
 * Opens the name `name` of `stream` for a reader of `kind`/`target`:
 * -EBUSY when it is open already, -EINVAL (why[] says) when the name
 * reads something else, -EIO when its file is damaged (logged).  A name
 * without state is made fresh from `first` (LATEST is taken as
 * AT_TIMESTAMP of now); a name made for an earlier stream of the same
 * name is made fresh again from its origin (logged).  The reader then
 * fills `delivered` from where it starts and commits it: the name exists.
 * The result is the caller's, freed with kfs_named_free.
 */
int kfs_named_acquire(struct kfs_named_table *t, const char *stream,
		      int64_t stream_created_ms, const char *name,
		      enum kfs_node kind, const char *target,
		      const struct kfs_position *first, struct kfs_named **out,
		      char *why, size_t why_size);
/* Commits when `commit` and anything was handed over since the last
 * commit, then closes the name: it may be opened again.  The reader may
 * still use n until kfs_named_free (NULL is a no-op), which closes it
 * too when it was not. */
int kfs_named_close(struct kfs_named *n, int commit);
void kfs_named_free(struct kfs_named *n);

/* The file of n was closed (a flush): an open of the name meanwhile
 * waits for the release, which the kernel sends a moment later. */
void kfs_named_closing(struct kfs_named *n);

/* Saves what was delivered so far as the name's state (durably). */
int kfs_named_commit(struct kfs_named *n);

/* Sets the positions of n->delivered from v (shards not in v keep
 * theirs), under the named lock. */
void kfs_named_deliver(struct kfs_named *n, const struct kfs_npos *v,
		       size_t count, const struct kfs_named_lag *lag);

/* The names of `stream` that have state, as a NUL-separated list in *out
 * (the caller frees), *n names; 0 or -errno. */
int kfs_named_list(struct kfs_named_table *t, const char *stream, char **out,
		   size_t *len, size_t *n);
/* The committed state of a name (-ENOENT when none); when the name is open,
 * what it delivered so far in *live (filled only then, *open set). */
int kfs_named_load(struct kfs_named_table *t, const char *stream,
		   const char *name, struct kfs_nstate *out, int *open,
		   struct kfs_nstate *live, struct kfs_named_lag *lag);
/* Makes a name (new or not) fresh, to start at `pos` on its next use,
 * whatever that use reads; -EBUSY when open. */
int kfs_named_reset(struct kfs_named_table *t, const char *stream,
		    int64_t stream_created_ms, const char *name,
		    const struct kfs_position *pos);
/* Forgets a name; -EBUSY when open, -ENOENT when it has no state. */
int kfs_named_remove(struct kfs_named_table *t, const char *stream,
		     const char *name);
/* Commits the open reader of a name (user.kinesis.commit); -ENOENT when
 * it is not open. */
int kfs_named_commit_open(struct kfs_named_table *t, const char *stream,
			  const char *name);

/* Calls fn for each open named reader, under the table's lock (fn must
 * not call back into the table). */
void kfs_named_each_open(struct kfs_named_table *t,
			 void (*fn)(void *arg, struct kfs_named *n), void *arg);

#endif
