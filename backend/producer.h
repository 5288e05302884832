/*
 * producer.h - batches the records of every writer of a stream into
 * put_records calls of the backend, and routes each record's result back to
 * the writer that handed it over.
 *
 * A writer owns a struct kfs_ack.  kfs_producer_put() queues a copy of one
 * record and counts it as pending in that ack; the stream's sender thread
 * hands batches to the backend and resolves each record: stored, or failed
 * with an errno that the ack keeps until the writer collects it with
 * kfs_ack_wait().  Nothing is dropped silently: a record is either stored,
 * or its error reaches its writer and the log.
 *
 * Records of one partition key are stored in the order written, also
 * across retries: a stream may have several batches in flight, but a key
 * is in at most one of them at a time, and a batch resends its failed
 * entries before it lets go of their keys.
 *
 * Only the backend interface (backend.h) is used, so the same producer
 * serves every backend.
 */
#ifndef KFS_PRODUCER_H
#define KFS_PRODUCER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend.h"
#include "lib/clock.h"
#include "lib/metrics.h"

/* What one writer has handed over and not yet heard back about. */
struct kfs_ack {
	pthread_mutex_t lock;   /* protects the two fields below */
	pthread_cond_t done;    /* signalled when pending drops to 0 */
	uint64_t pending;       /* records queued, result not yet known; protected by lock */
	int err;                /* first error not yet collected, or 0; protected by lock */
};

void kfs_ack_init(struct kfs_ack *a);
void kfs_ack_destroy(struct kfs_ack *a);
/* Waits until every record handed over through `a` has its result, then
 * returns and clears the first error seen since the last call (0 if none). */
int kfs_ack_wait(struct kfs_ack *a);
/* Waits as kfs_ack_wait() does, but leaves the error for the writer's
 * own kfs_ack_wait() (a rename waiting for the records written before
 * it, not the writer's close), and at most timeout_ms (-1: no bound).
 * 0, or -ETIMEDOUT with records still pending. */
int kfs_ack_drain(struct kfs_ack *a, int timeout_ms);

struct kfs_producer_config {
	int linger_ms;          /* longest a record waits to be batched */
	size_t queue_bytes;     /* bound on the memory of queued records (their
				 * allocations), all streams together */
	size_t batch_records;   /* records per put_records, <= KFS_PUT_BATCH_MAX */
	size_t batch_bytes;     /* bytes per put_records (data + keys) */
	int max_attempts;       /* tries per record for retryable errors, >= 1 */
	int max_inflight;       /* batches of one stream in flight at once, >= 1;
				 * never two holding the same partition key */
	int backoff_ms;         /* first retry delay; doubles, with jitter */
	/* Called from a sender thread after a put stored records of
	 * `stream` (before their writers are told), or NULL.  It must not
	 * block nor call the producer. */
	void (*on_stored)(void *arg, const char *stream);
	void *on_stored_arg;
	/* Counts records put, failed, retried and throttled, per stream and
	 * once a batch (borrowed; it must outlive the producer), or NULL. */
	struct kfs_metrics *metrics;
	/* The clock of linger, backoff, queue ages and the drain deadline
	 * (lib/clock.h; borrowed, it must outlive the producer), NULL for
	 * the real clock. */
	struct kfs_clock *clock;
	/* KPL aggregation (docs/aggregation.md): whether streams aggregate
	 * unless set otherwise (kfs_producer_set_aggregate), the most bytes
	 * of one aggregated record, and how long an aggregating stream's
	 * records wait to be batched (instead of linger_ms). */
	int aggregate;
	size_t agg_max_bytes;
	int agg_linger_ms;
	/* Whether streams spread the records of a key over their open
	 * shards (docs/aggregation.md, "One file over many shards") unless
	 * set otherwise. */
	int spread;
};

/* Fills cfg with the defaults (linger 20 ms, 16 MiB queue, 500 records,
 * 5 MiB, 1 attempt, 100 ms, 1 batch in flight; no aggregation, and when
 * aggregating the KPL's 51,200 bytes and 100 ms). */
void kfs_producer_config_default(struct kfs_producer_config *cfg);

struct kfs_producer;

/* Makes a producer over `be` (borrowed: it must outlive the producer).
 * Sender threads start on first use.  *out is freed with kfs_producer_free. */
int kfs_producer_new(struct kfs_backend *be,
		     const struct kfs_producer_config *cfg,
		     struct kfs_producer **out);

/*
 * Delivers what is queued (waiting at most `drain_ms`), stops the senders
 * and frees the producer.  Records that could not be delivered in time are
 * failed with -EIO to their writers and logged.  After kfs_producer_abandon
 * with a sender stuck in a backend call, the producer is left allocated
 * (the process is ending).  NULL is a no-op.
 */
void kfs_producer_free(struct kfs_producer *p, int drain_ms);
/* The first half of kfs_producer_free: delivers what is queued (at most
 * `drain_ms`, then fails the rest) and stops the senders; new records are
 * refused with -ESHUTDOWN.  The stats stay readable until the free, which
 * then has nothing left to drain.  0, or -EBUSY after kfs_producer_abandon
 * when a sender is still inside a backend call a grace time later: the
 * producer (and the backend) must then not be freed.  NULL is a no-op. */
int kfs_producer_drain(struct kfs_producer *p, int drain_ms);

/*
 * The stop's deadline has come: fails every record still queued and every
 * batch in flight with -EIO to its writers at once (logged once per stream
 * with counts; a batch's sender, back from the backend, only lets go of
 * it), refuses new records with -ESHUTDOWN and releases the writers
 * waiting for room in the queue.  kfs_producer_drain then waits at most
 * KFS_PRODUCER_ABANDON_GRACE_MS for the senders.  Any thread; NULL is a
 * no-op.
 */
#define KFS_PRODUCER_ABANDON_GRACE_MS 500
void kfs_producer_abandon(struct kfs_producer *p);

/* Asks every stream's senders to send what is queued now (a stop has
 * begun: lingering would only spend its bound).  Does not wait. */
void kfs_producer_kick_all(struct kfs_producer *p);

/*
 * Queues a copy of one record for `stream`.  Blocks while the queue is full
 * (backpressure).  `explicit_hash_key` may be NULL.  The record's result
 * reaches `ack`, which must stay alive until kfs_ack_wait() says so.
 * Returns 0, or -errno without queuing (-ESHUTDOWN once the producer stops).
 */
int kfs_producer_put(struct kfs_producer *p, const char *stream,
		     const char *key, const char *explicit_hash_key,
		     const void *data, size_t len, struct kfs_ack *ack);

/*
 * Queues n records of one key at once, as kfs_producer_put() would one
 * after the other, in one allocation and one pass through the locks.
 * All or nothing: on error none is queued.
 *
 * For a backend with KFS_CAP_CHEAP_PUT (a local log), n >= 32 records are
 * queued as one run: one queue entry, their data back to back, stored by
 * the stream's sender in as few appends as it can (put_run) while the
 * writer goes on.  Runs keep their place in the queue among the other
 * records.  Queued runs take at most KFS_PRODUCER_RUN_QUEUE_MAX bytes of
 * memory (one more is let in when none is queued): the writer waits for
 * room, so that a fast writer keeps the sender busy without filling the
 * whole queue with blocks that are freed in another thread.
 */
#define KFS_PRODUCER_RUN_QUEUE_MAX (2u << 20)
int kfs_producer_put_many(struct kfs_producer *p, const char *stream,
			  const char *key, const char *explicit_hash_key,
			  const struct iovec *v, size_t n, struct kfs_ack *ack);

/* How a stream's records are sent (each off unless the config says). */
#define KFS_PRODUCER_AGGREGATE 0x1  /* packed into KPL aggregated records */
#define KFS_PRODUCER_SPREAD 0x2     /* records without an explicit hash key
				     * get one, each open shard's in turn */

/*
 * Turns mode `m` (one of the above) on or off for `stream` from now on
 * (records already queued included).  The setting is the producer's
 * (this mount's), not the stream's.  0 or -ENOMEM.
 */
int kfs_producer_set_mode(struct kfs_producer *p, const char *stream,
			  unsigned m, int on);
/* The modes of `stream` now, KFS_PRODUCER_* or'ed. */
unsigned kfs_producer_modes(struct kfs_producer *p, const char *stream);

/* Entries a batch of an aggregating stream takes from its queue (they
 * become a few aggregated records). */
#define KFS_PRODUCER_AGG_BATCH 8192

/* Asks the stream's sender to send what is queued now, without lingering.
 * Does not wait. */
void kfs_producer_kick(struct kfs_producer *p, const char *stream);

/* Counters, for tests and metrics. */
struct kfs_producer_stats {
	uint64_t records_put;     /* records stored */
	uint64_t records_failed;  /* records whose failure reached a writer */
	uint64_t retries;         /* records resent after a retryable error */
	uint64_t batches;         /* put_records calls */
	uint64_t kinesis_records; /* Kinesis records stored: records_put,
				   * less what aggregation packed together */
	size_t queued_bytes;      /* bytes waiting now */
};
void kfs_producer_stats(struct kfs_producer *p, struct kfs_producer_stats *out);

/* What one stream's queue holds at one moment, for metrics. */
struct kfs_producer_queue {
	char name[KFS_STREAM_NAME_MAX + 1];
	uint64_t queued_records;  /* waiting for a batch */
	uint64_t queued_bytes;    /* their data plus keys */
	uint64_t inflight_records;/* in batches being stored now */
	int64_t oldest_ms;        /* age of the oldest record handed over and
				   * not yet resolved, 0 when none */
};

/*
 * The queues of every stream written to since the producer was made,
 * sorted by name, as *out (the caller frees it) and *n; *memory is the
 * memory counted against queue_bytes and *limit that bound.  0 or -ENOMEM.
 */
int kfs_producer_queues(struct kfs_producer *p, struct kfs_producer_queue **out,
			size_t *n, size_t *memory, size_t *limit);

#endif
