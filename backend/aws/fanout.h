/*
 * fanout.h - enhanced fan-out: a registered stream consumer per stream,
 * and SubscribeToShard, whose answer is an HTTP/2 stream of events
 * (eventstream.h) the service pushes records in, for up to 5 minutes.
 *
 * The consumer (-o fanout[=NAME]; NAME defaults to kinesisfs-HOSTNAME) is
 * looked up by name at the first subscription to a stream and registered
 * when it does not exist; it stays registered after the mount ends, so
 * that the next mount finds it (registering takes the service seconds,
 * and each consumer costs by the hour: docs/aws.md says how to remove it;
 * -o fanout_deregister removes at unmount what this mount used).
 *
 * Locks: the "fanout lock" protects the consumers table; it is never held
 * across a request (one lookup a stream at a time: others wait on cond).
 */
#ifndef KFS_AWS_FANOUT_H
#define KFS_AWS_FANOUT_H

#include <stddef.h>

#include "../backend.h"
#include "client.h"

struct kfs_aws_fanout;

/* Makes the consumers table; name is the consumer's (copied).  0 or
 * -ENOMEM, -EINVAL (a name the service would refuse). */
int kfs_aws_fanout_new(struct kfs_aws_client *c, const char *name,
		       int deregister, struct kfs_aws_fanout **out);
/* Deregisters the consumers used, with -o fanout_deregister, and frees
 * the table.  NULL is a no-op. */
void kfs_aws_fanout_free(struct kfs_aws_fanout *fo);

/* The consumer's name. */
const char *kfs_aws_fanout_name(const struct kfs_aws_fanout *fo);

/*
 * What a subscription hands over, event by event: the records (each
 * owning its data), MillisBehindLatest, and, at the end of a closed
 * shard, its children.  `cont` is the ContinuationSequenceNumber, where a
 * new subscription goes on (AFTER_SEQUENCE_NUMBER).  A non-zero return
 * ends the subscription with that value.  The records are the callee's.
 */
typedef int (*kfs_aws_fanout_fn)(void *arg, struct kfs_get_result *res,
				 const char *cont);

/*
 * Subscribes the stream's consumer (looked up or registered first; the
 * stream's ARN is stream_arn) to a shard, AFTER_SEQUENCE_NUMBER `after`,
 * and hands each event to fn until the service ends the subscription
 * (0), or it fails: -errno with e saying why (an exception event, a
 * refused call, a broken or damaged stream).
 */
int kfs_aws_fanout_subscribe(struct kfs_aws_fanout *fo, const char *stream,
			     const char *stream_arn, const char *shard,
			     const char *after, kfs_aws_fanout_fn fn, void *arg,
			     struct kfs_aws_error *e);

/* Subscriptions made, and events received, so far. */
void kfs_aws_fanout_counts(struct kfs_aws_fanout *fo, unsigned long *subs,
			   unsigned long *events);

#endif
