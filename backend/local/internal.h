/*
 * internal.h - what the files of the local engine share: its structures
 * and the helpers of engine.c that iter.c and keys.c use.  Not for use
 * outside backend/local/ (the interface is local.h and backend.h).
 *
 * Lock order: the names lock (backend/names.c), then the engine's
 * streams_lock, a stream's lock, a shard's kidx lock (keyidx.c), the
 * seglog's own locks; a stream's journal lock (names_journal.c) is taken
 * with the names lock held and nothing under it.
 */
#ifndef KFS_LOCAL_INTERNAL_H
#define KFS_LOCAL_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "local.h"
#include "keyidx.h"
#include "names_journal.h"
#include "seglog.h"

#define KFS_LOCAL_HOUR_MS ((int64_t)3600 * 1000)

/* One shard of a stream in memory. */
struct lshard {
	uint32_t index;                          /* fixed: N of shardId-N */
	char id[KFS_SHARD_ID_LEN + 1];           /* fixed: "shardId-%012u" */
	unsigned __int128 hash_start;            /* fixed: first hash key */
	unsigned __int128 hash_end;              /* fixed: last hash key, inclusive */
	char parent[KFS_SHARD_ID_LEN + 1];       /* fixed: "" when none */
	char adjacent_parent[KFS_SHARD_ID_LEN + 1]; /* fixed: "" when none */
	int64_t created_ms;                      /* fixed: creation time */
	int closed;                              /* protected by the stream's lock */
	uint64_t end_counter;                    /* first counter not in it, once
						  * closed; the stream's lock */
	int64_t closed_ms;                       /* when it was closed; the
						  * stream's lock */
	struct kfs_seglog *log;                  /* fixed; thread-safe itself */
	struct kfs_kidx *kidx;                   /* fixed: its key postings
						  * (keyidx.h); appends go
						  * through it */
};

/* One stream in memory.  Freed when its last reference goes. */
struct lstream {
	char name[KFS_STREAM_NAME_MAX + 1];      /* fixed */
	int64_t creation_ms;                     /* fixed */
	uint64_t uid;                            /* fixed: random, tells a
						  * re-created stream apart */
	int refs;                                /* atomic; the table holds one */
	enum kfs_stream_status status;           /* protected by the engine's
						  * streams_lock */
	pthread_rwlock_t lock;                   /* the fields below */
	pthread_mutex_t meta_lock;               /* serializes rewrites of
						  * stream.meta and shard.meta */
	int retention_hours;                     /* protected by lock */
	uint32_t next_shard_index;               /* protected by lock */
	struct lshard **shards;                  /* by index; protected by lock */
	size_t n_shards;                         /* protected by lock */
	struct kfs_njournal *journal;            /* fixed once loaded or
						  * created: its names
						  * (names_journal.h) */
};

struct kfs_local {
	char *data_dir;                  /* fixed: path, for messages */
	int data_fd;                     /* fixed: data_dir */
	int streams_fd;                  /* fixed: data_dir/streams */
	int lock_fd;                     /* fixed: data_dir/LOCK, flock'd */
	size_t max_record_bytes;         /* fixed: data + key limit */
	uint64_t segment_bytes;          /* fixed: seglog rotation size */
	int log_format;                  /* fixed: of new segments (seglog.h) */
	struct kfs_clock *clock;         /* fixed: borrowed; NULL: the real one */
	uint64_t tmp_seq;                /* atomic: names under tmp/ and trash/ */
	pthread_rwlock_t streams_lock;   /* the streams table */
	struct lstream **streams;        /* sorted by name; protected by streams_lock */
	size_t n_streams;                /* protected by streams_lock */
	size_t cap_streams;              /* protected by streams_lock */
	pthread_mutex_t bg_lock;         /* the background thread's fields */
	pthread_cond_t bg_cond;          /* signals bg_stop */
	pid_t bg_pid;                    /* process that started the thread, 0
					  * if none; written under bg_lock,
					  * read atomically */
	int bg_stop;                     /* protected by bg_lock */
	pthread_t bg_thread;             /* protected by bg_lock */
	struct kfs_names *names;         /* fixed: key file names (names.h) */
	int names_loading;               /* fixed once open: 1 while the
					  * journals are replayed (no
					  * thread runs then) */
};

/* A parsed iterator (iter.c). */
struct kfs_local_iter {
	char stream[KFS_STREAM_NAME_MAX + 1];   /* stream name */
	int64_t creation_ms;                    /* its creation time */
	uint64_t uid;                           /* its uid */
	char shard[KFS_SHARD_ID_LEN + 1];       /* shard id */
	uint64_t counter;                       /* next record to read */
	/* A key iterator (key_iterator) has these too: */
	int keyed;                              /* 1: only the key's records */
	uint64_t end;                           /* first counter past the
						 * window; UINT64_MAX: none */
	uint64_t hint;                          /* the key's posting to go on
						 * from (a guess, checked) */
	size_t key_len;                         /* 1 to KFS_KEY_MAX */
	char key[KFS_KEY_MAX + 1];              /* NUL-ended */
};

/* engine.c */
int64_t kfs_local_now(struct kfs_local *e);
/* Arrival before which records are past retention; st->lock held. */
int64_t kfs_local_cutoff(struct kfs_local *e, struct lstream *st);
/* A reference to ACTIVE stream `name` (NULL: none), dropped with
 * kfs_local_stream_unref(). */
struct lstream *kfs_local_stream_get(struct kfs_local *e, const char *name);
void kfs_local_stream_unref(struct lstream *st);
/* Shard `id` of st, NULL when none; st->lock held. */
struct lshard *kfs_local_shard_find(struct lstream *st, const char *id);
int kfs_local_encode_seq(const struct lshard *sh, uint64_t counter,
			 int64_t arrival_ms, char seq[KFS_SEQ_MAX]);
void kfs_local_bg_ensure(struct kfs_local *e);

/* iter.c: iterators, GetShardIterator and GetRecords. */
int kfs_local_iter_format(const struct lstream *st, const struct lshard *sh,
			  uint64_t counter, char **out);
int kfs_local_key_iter_format(const struct lstream *st, const struct lshard *sh,
			      const struct kfs_local_iter *it, char **out);
int kfs_local_get_iterator(void *impl, const char *stream, const char *shard_id,
			   const struct kfs_iter_spec *spec, char **iter_out);
int kfs_local_behind(void *impl, const char *stream, const char *shard_id,
		     const char *seq, int64_t from_ms, enum kfs_framing framing,
		     uint64_t *records, uint64_t *bytes, int64_t *newest_ms);
int kfs_local_get_records(void *impl, const char *iterator, int limit,
			  unsigned flags, struct kfs_get_result *out);
/* Adds the children of sh (read to its end) to out; st->lock held. */
int kfs_local_children(const struct lstream *st, const struct lshard *sh,
		       struct kfs_get_result *out);
/* seglog_read's callback: the sequence number of a record of shard ctx. */
void kfs_local_seq_of(void *ctx, uint64_t counter, int64_t arrival_ms, char *seq);

/* keys.c: key files. */
/* The names table and every stream's journal, at open (after the
 * streams are loaded). */
int kfs_local_names_open(struct kfs_local *e);
/* A stream's journal object (the file is made at its first change). */
int kfs_local_journal_new(struct kfs_local *e, struct lstream *st);
struct kfs_names *kfs_local_names(void *impl);
int kfs_local_key_iterator(void *impl, const char *stream, const char *shard_id,
			   const char *key, const struct kfs_wpos *start,
			   const struct kfs_wpos *end, char **iter_out);
/* GetRecords of a key iterator; st->lock held (read). */
int kfs_local_key_records(struct kfs_local *e, struct lstream *st,
			  struct lshard *sh, struct kfs_local_iter *it,
			  int limit, unsigned flags, struct kfs_get_result *out);
/* Syncs st's postings, records and names journal (a writer's fsync and
 * the background pass; `all`: even what is not dirty).  st->lock held
 * (read).  0 or -errno. */
int kfs_local_keys_sync(struct kfs_local *e, struct lstream *st, int all);
/* Compacts st's names journal when it is big (the background pass);
 * st->lock NOT held (it takes the names lock). */
void kfs_local_journal_compact(struct kfs_local *e, struct lstream *st);

#endif
