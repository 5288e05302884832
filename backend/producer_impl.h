/*
 * producer_impl.h - what producer.c and producer_agg.c share: the queue's
 * structures and the helpers of producer.c that resolve, count and retry.
 */
#ifndef KFS_PRODUCER_IMPL_H
#define KFS_PRODUCER_IMPL_H

#include "producer.h"

/*
 * The records of one kfs_producer_put_many() call share one allocation:
 * the block header, the key and explicit hash key once, then each record's
 * struct and data.  The block is freed when its last record is resolved.
 * A run (producer.h) is one struct standing for all of its records, then
 * their iovecs, then their data back to back.
 */
struct pblock {
	unsigned refs;            /* queue entries not yet resolved; atomic */
};

/* One queued record or run, inside its block. */
struct precord {
	struct precord *next;     /* queue link */
	struct pblock *blk;       /* the allocation it lives in */
	struct kfs_ack *ack;      /* whose record it is (borrowed) */
	const char *key;          /* partition key, in the block */
	const char *ehk;          /* explicit hash key or NULL, in the block */
	const unsigned char *data;/* data, in the block (one record) */
	size_t len;               /* data length (one record) */
	const struct iovec *run;  /* a run: its records, in the block; or NULL */
	size_t n;                 /* records it stands for: 1, or the run's */
	size_t cost;              /* memory counted against the queue bound */
	size_t wire;              /* data plus key: what counts in a batch */
	int64_t enq_ms;           /* monotonic time it was queued */
};

#define KEYSET_BUCKETS 256

/* A partition key held by a batch in flight. */
struct inflight_key {
	struct inflight_key *next;    /* bucket chain */
	int owner;                    /* index of the sender holding it */
	char key[];                   /* the key */
};

/* The per-shard write rates of a stream (producer_rate.c). */
struct prate_shard;
struct prate {
	pthread_mutex_t lock;         /* "rate lock": protects below */
	struct prate_shard *v;        /* the open shards, their rates */
	size_t n;
	int64_t listed_ms;            /* monotonic time of the listing, 0: never */
};

/* The queue and sender threads of one stream. */
struct pstream {
	struct pstream *next;         /* list link; protected by producer lock */
	char name[KFS_STREAM_NAME_MAX + 1];
	struct kfs_producer *p;       /* owner */
	pthread_t *threads;           /* the senders, cfg.max_inflight of them */
	struct sender *senders;       /* their arguments */
	int nthreads;                 /* how many were started */
	pthread_mutex_t lock;         /* protects every field below */
	pthread_cond_t wake;          /* new records, a kick, keys let go, or stop */
	struct inflight_key *inflight[KEYSET_BUCKETS]; /* keys of batches in flight */
	struct precord *head, *tail;  /* records not yet taken by the sender */
	size_t count;                 /* records in the queue */
	size_t bytes;                 /* their data plus keys (wire) */
	int kicked;                   /* send without lingering until drained */
	int busy;                     /* batches being stored now */
	size_t inflight_n;            /* records of those batches */
	int stop;                     /* the producer is shutting down */
	int aggregate;                /* batches are aggregated */
	int spread;                   /* records spread over the shards */
	struct prate rate;            /* its own lock */
};

/* One sender thread of a stream. */
struct sender {
	struct pstream *ps;   /* its stream */
	int idx;              /* its index, the owner of the keys it holds */
	int64_t since;        /* queue time of the oldest record of its batch
			       * in flight, 0 when none; protected by ps->lock */
	struct precord **flight; /* its batch in flight, or NULL; protected
				  * by ps->lock */
	size_t flight_n;      /* entries of that batch; protected by ps->lock */
	size_t flight_records;/* records they stand for; protected by ps->lock */
	int abandoned;        /* kfs_producer_abandon resolved that batch: its
			       * writers have heard; protected by ps->lock */
	/* The open shards' starting hash keys for spreading: this thread's
	 * own copy (no lock; put entries point into it) of the stream's
	 * shard map (producer_rate.c), taken again when that is listed
	 * anew. */
	char (*ring)[KFS_HASH_KEY_MAX];
	size_t ring_n, ring_next;
	int64_t ring_ms;      /* when the copied listing was made, 0: never */
	int ring_spread;      /* the batch being sent spreads */
};

struct kfs_producer {
	struct kfs_backend *be;            /* borrowed */
	struct kfs_producer_config cfg;    /* read-only after new */
	pthread_mutex_t lock;              /* "producer lock": protects below */
	pthread_cond_t space;              /* queue has room again */
	struct pstream *streams;           /* one per stream written to */
	size_t queued;                     /* cost of every queued record */
	size_t queued_runs;                /* of which runs (producer.h) */
	int stopping;                      /* no new records accepted; written
					    * under the lock, also read
					    * atomically by the senders */
	int64_t drain_deadline;            /* monotonic ms; after it, fail what is left */
	int abandoned;                     /* kfs_producer_abandon was called;
					    * written under the lock, also
					    * read atomically by the senders */
	int running;                       /* sender threads not yet ended */
	int joined;                        /* kfs_producer_drain joined them */
	pthread_cond_t idle;               /* a sender ended, or abandoned */
	struct kfs_producer_stats stats;   /* counters (queued_bytes unused here) */
};

/* producer.c */
void prod_record_done(struct precord *r);
void prod_count_batch(struct kfs_producer *p, const char *stream,
		      uint64_t stored, uint64_t bytes, uint64_t failed,
		      uint64_t retried, uint64_t throttled, uint64_t kinesis);
void prod_count_stats(struct kfs_producer *p, uint64_t stored,
		      uint64_t failed, uint64_t retries, uint64_t batches);
void prod_entry_init(struct kfs_put_entry *en, const char *key,
		     const char *ehk, const void *data, size_t len);
void prod_queue_release(struct kfs_producer *p, size_t cost, size_t run_cost);
void prod_ack_resolve_n(struct kfs_ack *a, int err, uint64_t n);
int prod_retryable(int err);
void prod_backoff(const struct kfs_producer_config *cfg, int n, unsigned *seed);
void prod_log_failures(const char *stream, struct kfs_put_entry *e, size_t n);
int prod_batch_landed(struct sender *me, size_t n);
/* Fails every record still queued on ps (ps->lock held), once the drain
 * deadline has passed; frees a stream whose senders are joined. */
void prod_fail_queued(struct pstream *ps);
void prod_stream_destroy(struct pstream *ps);
/* Finds or makes the queue of `stream`, starting its senders; p->lock
 * held.  NULL when out of memory. */
struct pstream *prod_stream_get(struct kfs_producer *p, const char *stream);
/* The explicit hash key for the next record of a spreading batch of
 * sender me: an open shard's starting hash key, each in turn; NULL when
 * the batch does not spread or the shards are not known (the key's hash
 * routes it then). */
const char *prod_spread_ehk(struct sender *me);

/* producer_rate.c: a stream's per-shard rates, and the pacing of a
 * put_records call of entries e[0..n) by them (before it) and what its
 * answers teach them (after it). */
void prod_rate_init(struct prate *r);
void prod_rate_destroy(struct prate *r);
void prod_rate_wait(struct sender *me, const struct kfs_put_entry *e,
		    size_t n);
void prod_rate_learn(struct sender *me, const struct kfs_put_entry *e,
		     size_t n);
/* Lists the stream's open shards again when the map is older than its
 * refresh period (every 10 s); the monotonic time now, and in
 * *listed_ms (when not NULL) when the map was listed. */
int64_t prod_rate_map_fresh(struct pstream *ps, int64_t *listed_ms);
/* A copy of the open shards' starting hash keys (decimal), malloc'd
 * into *out, their number returned, and when they were listed. */
size_t prod_rate_starts(struct pstream *ps, int64_t *listed_ms,
			char (**out)[KFS_HASH_KEY_MAX]);

/* producer_agg.c: sends a batch of a stream that aggregates
 * (docs/aggregation.md), then resolves every record with its writer. */
void prod_send_aggregated(struct sender *me, struct precord **recs, size_t n,
			  unsigned *seed);

#endif
