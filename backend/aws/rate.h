/*
 * rate.h - the GetRecords limiter of the AWS backend.  The service allows
 * 5 GetRecords per second per shard, for all readers together: every
 * read of a shard through this mount (readers, followers, the size and
 * mtime probes, key files) takes a slot of one limiter per shard,
 * interval_ms apart, and a throttled answer pushes the shard's next slot
 * further out for everyone.  Shards nobody read for a minute are
 * forgotten.
 */
#ifndef KFS_AWS_RATE_H
#define KFS_AWS_RATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../backend.h"
#include "client.h"

/* The limiter of one shard. */
struct kfs_aws_rate_slot {
	char stream[KFS_STREAM_NAME_MAX + 1]; /* protected by the rate's lock */
	char shard[KFS_SHARD_ID_LEN + 1];     /* protected by the rate's lock */
	int64_t next_ms;                      /* monotonic time of the next free
					       * slot; protected by the rate's lock */
};

struct kfs_aws_rate {
	const struct kfs_aws_client *client;  /* borrowed: its clock and sleep;
					       * fixed */
	int interval_ms;                      /* fixed: spacing of the reads of a
					       * shard; <= 0: no limit */
	pthread_mutex_t lock;                 /* the slots; never held while
					       * sleeping */
	struct kfs_aws_rate_slot *slots;      /* protected by lock */
	size_t n_slots, cap_slots;            /* protected by lock */
};

void kfs_aws_rate_init(struct kfs_aws_rate *r, const struct kfs_aws_client *c,
		       int interval_ms);
void kfs_aws_rate_destroy(struct kfs_aws_rate *r);
/* Takes the next slot of a shard, sleeping until it comes. */
void kfs_aws_rate_wait(struct kfs_aws_rate *r, const char *stream,
		       const char *shard);
/* Takes the shard's slot if it is free now; -EAGAIN when it is not. */
int kfs_aws_rate_try(struct kfs_aws_rate *r, const char *stream,
		     const char *shard);
/* The service throttled a shard's reads: nobody reads it before ms from
 * now. */
void kfs_aws_rate_penalize(struct kfs_aws_rate *r, const char *stream,
			   const char *shard, int64_t ms);

#endif
