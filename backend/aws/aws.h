/*
 * aws.h - the AWS backend: Amazon Kinesis Data Streams, or any endpoint
 * that speaks its JSON API (kinesalite, LocalStack, a proxy), behind the
 * interface of backend.h.
 *
 * This header is all that fs/ sees of it: no libcurl, no cJSON here.
 */
#ifndef KFS_AWS_H
#define KFS_AWS_H

#include <stddef.h>

#include "../backend.h"
#include "lib/clock.h"
#include "lib/metrics.h"

#define KFS_AWS_CACHE_MS_DEFAULT 2000   /* listings and descriptions reused this long */

struct kfs_aws_config {
	const char *region;          /* -o region, or NULL: AWS_REGION,
				      * AWS_DEFAULT_REGION, the profile's region */
	const char *endpoint;        /* -o endpoint, or NULL: AWS_ENDPOINT_URL_KINESIS,
				      * AWS_ENDPOINT_URL, the profile's
				      * endpoint_url, else the region's */
	const char *profile;         /* -o profile, or NULL: AWS_PROFILE, else "default" */
	size_t max_record_bytes;     /* data + key; 0 means the default 1 MiB */
	int cache_ms;                /* reuse of ListStreams, ListShards and
				      * DescribeStreamSummary answers; 0 means
				      * KFS_AWS_CACHE_MS_DEFAULT, < 0 never */
	int timeout_ms;              /* longest wait for the answer to one
				      * attempt of a request; 0: 30 s, 60 s
				      * for PutRecords and GetRecords */
	int probe;                   /* 1: one ListStreams call at open, so
				      * that refused credentials or an
				      * unreachable endpoint fail the mount */
	struct kfs_metrics *metrics; /* counts requests retried and throttled
				      * (borrowed, outlives the backend), or NULL */
	int poll_ms;                 /* > 0: readers at a shard's tip are fed by
				      * one poller per shard reading this often
				      * (feed.h); 0: each reads on its own */
	size_t read_buffer;          /* what the pollers keep, all together;
				      * 0: 32 MiB */
	void (*on_records)(void *arg, const char *stream); /* a poller read
				      * records of stream (wakes followers),
				      * or NULL */
	void *on_records_arg;
	const char *fanout;          /* enhanced fan-out: the stream consumer's
				      * name (pollers read by SubscribeToShard),
				      * or NULL */
	int fanout_deregister;       /* 1: deregister the consumers used at the
				      * end */
	struct kfs_clock *clock;     /* the time of everything the backend and
				      * its credentials chain do (lib/clock.h;
				      * borrowed, outlives the backend), NULL
				      * for the real clock */
};

/*
 * Resolves the region and the endpoint, sets up the credentials chain
 * (backend/aws/creds.h) and the HTTP client, and makes the backend.  What
 * goes wrong is logged in one line that says how to fix it (e.g. naming
 * every place a region may come from).  On success *out is the caller's,
 * freed with kfs_backend_free().  Returns 0 or -errno.
 */
int kfs_aws_open(const struct kfs_aws_config *cfg, struct kfs_backend **out);

/* Ends the shards' pollers (waiting for them) and starts no more: nothing
 * calls on_records after it returns.  A no-op on NULL and on a backend
 * that is not this one. */
void kfs_aws_stop_pollers(struct kfs_backend *be);

#endif
