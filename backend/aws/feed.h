/*
 * feed.h - one poller per shard for every reader of the mount.
 *
 * The service allows 5 GetRecords a second per shard for all readers
 * together.  Readers at the tip of a shard (followers, and anything that
 * has caught up) are fed by one poller per shard: a thread that calls
 * GetRecords every poll interval (at once while behind) and keeps what it
 * read in a buffer, which every reader at a position inside it reads
 * without a request.  N followers make the calls of one.
 *
 * A reader's position is the last record it was handed (the composite
 * iterator's LAST_SEQ, wire.h) or, when it has been handed none yet, the
 * start of a poller's run (its epoch: FEED).  A reader is covered when
 * every record after its position is in the buffer or not read yet by
 * the poller: then it is served from the buffer.  A reader that is not
 * covered (reading history, or fallen behind what the buffer keeps) reads
 * with its own service iterator, as without pollers, and joins the poller
 * when its own page reaches the tip.
 *
 * The buffers of all pollers together hold at most buffer_bytes (each
 * keeps its share, oldest records dropped first).  A poller that no
 * reader asked for idle_ms ends; one whose reads fail ends at once, and
 * its readers go on with their own iterators (which see the error).
 *
 * A reader at the end of the buffer gets what the poller's last page saw
 * when it looks again anyway (KFS_GET_STALE_OK: followers, tail -f, size
 * probes), unless a put through the mount was acknowledged after that
 * page was asked for; any other (where EOF is decided: cat, a batch)
 * waits for a page asked for after its call, so that `cat` after a put by
 * any client ends after that record.  Puts through the mount make their
 * shards' pollers read at once.
 *
 * With enhanced fan-out (env.subscribe), a poller that knows a sequence
 * number to go on after reads by subscription instead: the service pushes
 * each record as it arrives, and a subscription ended (every 5 minutes, or
 * early) is made again AFTER_SEQUENCE_NUMBER of the last event's
 * ContinuationSequenceNumber, so nothing is skipped or read twice.  A
 * reader that needs a fresh look at the tip then reads on its own once.
 * Subscriptions that keep failing make the poller read with GetRecords
 * for 30 s before it subscribes again.
 *
 * Locks: the "feeds lock" protects the table and the counters; each
 * poller's "feed lock" its buffer.  Order: feeds lock, then a feed lock.
 * Neither is held across a request.
 */
#ifndef KFS_AWS_FEED_H
#define KFS_AWS_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"
#include "lib/clock.h"
#include "wire.h"

struct kfs_aws_feeds;

struct kfs_aws_feed_env {
	/* One page of GetRecords for a poller on composite iterator `iter`
	 * (borrowed), never served by a poller itself; as get_records. */
	int (*read)(void *ctx, const char *iter, struct kfs_get_result *out);
	void *ctx;
	/* Records of `stream` came in (a poller's page), or NULL. */
	void (*on_records)(void *arg, const char *stream);
	void *on_records_arg;
	int poll_ms;             /* a poller at the tip reads this often */
	size_t buffer_bytes;     /* all pollers' buffers together */
	int idle_ms;             /* a poller nobody asked this long ends; 0:
				  * max(10 s, 5 polls) */
	struct kfs_clock *clock; /* borrowed; NULL: the real one */
	/*
	 * Optional, enhanced fan-out (fanout.h): a subscription to the shard
	 * AFTER_SEQUENCE_NUMBER `after`, each event handed to on_page (its
	 * records are the callee's; cont: where a new subscription goes
	 * on; a non-zero return ends the subscription).  Returns 0 when the
	 * service ended it, -EAGAIN when a new one may do better (a broken
	 * or refused stream, the 5 s between subscriptions), another -errno
	 * when the poller is to read with GetRecords for a while.
	 */
	int (*subscribe)(void *ctx, const char *stream, const char *shard,
			 const char *after,
			 int (*on_page)(void *arg, struct kfs_get_result *res,
					const char *cont),
			 void *arg);
};

/* Where a poller's tip was at its last page that reached the tip: after
 * record `seq`, or ("") from the start of run `epoch`; that page was asked
 * for at `asked_ms` (the clock's wall time) or later. */
struct kfs_aws_feed_snap {
	uint64_t epoch;          /* 0: no poller ran, or none reached the tip */
	char seq[KFS_SEQ_MAX];
	int64_t asked_ms;
};

/* *out freed with kfs_aws_feeds_free; 0 or -ENOMEM. */
int kfs_aws_feeds_new(const struct kfs_aws_feed_env *env,
		      struct kfs_aws_feeds **out);
/* Ends every poller, waiting for each to stop; none starts after it. */
void kfs_aws_feeds_stop(struct kfs_aws_feeds *f);
/* kfs_aws_feeds_stop, then frees f.  NULL is a no-op. */
void kfs_aws_feeds_free(struct kfs_aws_feeds *f);

/* 1 when a poller of the shard runs (and reports what it reads), else 0. */
int kfs_aws_feed_running(struct kfs_aws_feeds *f, const char *stream,
			 const char *shard);

/* The tip of the shard's poller, when one runs and has reached it (1;
 * else 0 and *out zeroed). */
int kfs_aws_feed_tip(struct kfs_aws_feeds *f, const char *stream,
		     const char *shard, struct kfs_aws_feed_snap *out);

/*
 * Serves a reader at it's position (LAST_SEQ, and FEED: the run it
 * joined) from the shard's poller: at most `limit` records and
 * KFS_GET_BYTES_MAX bytes, in blocks of out; it's position moves past
 * them.  When the buffer holds nothing for it and `flags` lack
 * KFS_GET_STALE_OK (or a put through the mount came after the last page
 * was asked for), it first waits for a page asked for after the call (the
 * poller reads at once), so that an empty answer means the tip as of the
 * call.  Returns 1 when served (out->next_iterator NULL; *ended 1
 * when the shard is closed and the reader is past its last record:
 * out->children then names its children), 0 when the reader is not
 * covered (out untouched), -ENOMEM, -EINTR.
 */
int kfs_aws_feed_read(struct kfs_aws_feeds *f, struct kfs_wire_iter *it,
		      int limit, unsigned flags, struct kfs_get_result *out,
		      int *ended);

/*
 * A reader's own page brought it to the tip of an open shard; `next` is
 * its composite iterator after that page (borrowed) and `before` the
 * poller's tip taken before the page was asked for.  Starts a poller from
 * `next` when none runs.  Returns 1 when the reader is covered by the
 * poller now, else 0.  A reader handed nothing yet (its page was empty)
 * takes the position of `before` when that tip was read after the
 * reader's start (`start_ms`, the clock's wall time; 0 for TRIM_HORIZON):
 * then the records up to it came before its start and every record after
 * it came after, exactly.
 */
int kfs_aws_feed_offer(struct kfs_aws_feeds *f, struct kfs_wire_iter *it,
		       const char *next, const struct kfs_aws_feed_snap *before,
		       int64_t start_ms);

/* Records were put into a shard through this mount: its poller, if one
 * runs, reads at once (within the shard's read rate) rather than at its
 * next poll. */
void kfs_aws_feed_poke(struct kfs_aws_feeds *f, const char *stream,
		       const char *shard);

/* Pollers running now, and GetRecords pages they read so far. */
void kfs_aws_feed_counts(struct kfs_aws_feeds *f, size_t *running,
			 uint64_t *pages);

#endif
