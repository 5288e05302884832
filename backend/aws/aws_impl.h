/*
 * aws_impl.h - what the parts of the AWS backend share: the backend's
 * state (aws.c: streams, shards, puts, life; read.c: iterators, reads,
 * the shards' pollers and the newest record of each shard).  Not for fs/.
 */
#ifndef KFS_AWS_IMPL_H
#define KFS_AWS_IMPL_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../backend.h"
#include "client.h"
#include "creds.h"
#include "errors.h"
#include "fanout.h"
#include "feed.h"
#include "keys.h"
#include "rate.h"
#include "lib/log.h"

struct centry;

/*
 * What this mount knows of the newest record of a shard, for its mtime: a
 * composite iterator kept at the tip (taken LATEST when the shard is first
 * described, then moved on by a poll at most every cache_ms), and the
 * newest arrival seen by those polls and by every read of the shard.
 */
struct tail {
	char stream[KFS_STREAM_NAME_MAX + 1]; /* protected by tail_lock */
	char shard[KFS_SHARD_ID_LEN + 1];     /* protected by tail_lock */
	char *iter;                           /* composite iterator at the tip, or
					       * NULL; protected by tail_lock */
	int64_t newest_ms;                    /* newest arrival seen, -1: none;
					       * protected by tail_lock */
	int64_t polled_ms;                    /* monotonic time of the last poll;
					       * protected by tail_lock */
	int64_t used_ms;                      /* monotonic time of the last use;
					       * protected by tail_lock */
	int busy;                             /* a thread is polling; tail_lock */
	int done;                             /* read to the end of a closed
					       * shard; protected by tail_lock */
};

struct kfs_aws {
	struct kfs_aws_client client;     /* fixed after open */
	struct kfs_aws_keys *keys;        /* owned: key files (keys.c); fixed */
	struct kfs_creds_chain *chain;    /* owned, or NULL (tests) */
	size_t max_record_bytes;          /* fixed: data + key limit */
	int cache_ms;                     /* fixed: < 0 no caching */
	int poll_first_ms;                /* fixed */
	int64_t wait_active_ms;           /* fixed */
	int64_t wait_gone_ms;             /* fixed */

	pthread_mutex_t cache_lock;       /* the caches; never held across a request */
	pthread_cond_t cache_cond;        /* a fetch finished */
	struct centry *cache;             /* protected by cache_lock */
	size_t n_cache;                   /* protected by cache_lock */

	struct kfs_aws_rate rate;         /* the GetRecords limiter (rate.h) */
	struct kfs_aws_feeds *feeds;      /* owned: the shards' pollers, or NULL */
	struct kfs_aws_fanout *fanout;    /* owned: enhanced fan-out, or NULL */

	pthread_mutex_t tail_lock;        /* the tails; never held across a request */
	struct tail *tails;               /* protected by tail_lock */
	size_t n_tails, cap_tails;        /* protected by tail_lock */
};

/* The backend's monotonic time (its clock: kfs_aws_config.clock). */
static inline int64_t kfs_aws_mono(const struct kfs_aws *a)
{
	return kfs_clock_mono(a->client.clock);
}

/* Logs at info why an action failed (the FUSE layer logs the error line
 * itself, once, with the errno). */
static inline void kfs_aws_log_fail(const char *action, const char *what,
				    const struct kfs_aws_error *e)
{
	if (e->err == -ENOENT || e->err == -EINTR)
		return;
	kfs_info("%s %s: %s%s%s (%s)", action, what, e->type,
		 e->type[0] && e->message[0] ? ": " : "", e->message,
		 strerror(-e->err));
}

/* One action with a body `req` (consumed), its failure logged (what: the
 * stream or shard concerned); *resp as kfs_aws_call.  aws.c. */
int kfs_aws_action(struct kfs_aws *a, const char *action, const char *what,
		   cJSON *req, unsigned flags, cJSON **resp,
		   struct kfs_aws_error *e);

/* The children of a shard read to its end, from the shard list (for
 * services that do not send ChildShards).  aws.c. */
void kfs_aws_children_from_list(struct kfs_aws *a, const char *stream,
				const char *shard, struct kfs_name_list *out);

/* DescribeStreamSummary, from the cache.  aws.c. */
int kfs_aws_describe(void *impl, const char *stream,
		     struct kfs_stream_desc *out);

/* ---- read.c ---------------------------------------------------------- */

/* The operations get_iterator and get_records of backend.h. */
int kfs_aws_get_iterator(void *impl, const char *stream, const char *shard_id,
			 const struct kfs_iter_spec *spec, char **iter_out);
int kfs_aws_get_records(void *impl, const char *iterator, int limit,
			unsigned flags, struct kfs_get_result *out);
/* The newest arrival known for a shard, -1 when none (polling its tail
 * now and then). */
int64_t kfs_aws_tail_newest(struct kfs_aws *a, const char *stream,
			    const char *shard);
/* Frees what the tails hold (at the end). */
void kfs_aws_tails_free(struct kfs_aws *a);
/* The shards' pollers' env (feed.h) over this backend, with
 * subscriptions when fan-out is on. */
void kfs_aws_feed_env(struct kfs_aws *a, struct kfs_aws_feed_env *env);

#endif
