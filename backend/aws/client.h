/*
 * client.h - one Kinesis action over HTTP: the JSON body POSTed to the
 * endpoint with X-Amz-Target, SigV4-signed with the current credentials,
 * the answer parsed, failures classified by the error table (errors.h),
 * and retried with exponential backoff and jitter where that can help.
 */
#ifndef KFS_AWS_CLIENT_H
#define KFS_AWS_CLIENT_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "creds.h"
#include "errors.h"
#include "http.h"
#include "lib/clock.h"
#include "lib/metrics.h"

#define KFS_AWS_MAX_ATTEMPTS 6        /* tries of a retried call */
#define KFS_AWS_BACKOFF_MS 100        /* first backoff; doubles */
#define KFS_AWS_BACKOFF_CAP_MS 5000   /* longest single backoff */
#define KFS_AWS_LONG_TIMEOUT_MS 60000 /* PutRecords, GetRecords: bulk data */

/* Where credentials come from: the chain of creds.h in the daemon, a fixed
 * set in tests. */
struct kfs_aws_creds_source {
	/* Current credentials as a copy the caller clears; 0 or -errno. */
	int (*get)(void *ctx, struct kfs_aws_creds *out);
	/* The service refused the ones held: fetch anew next time. */
	void (*invalidate)(void *ctx);
	void *ctx;                       /* handed to both */
};

/* Everything fixed after kfs_aws_open; read by many threads, written by none. */
struct kfs_aws_client {
	struct kfs_http *http;               /* owned */
	struct kfs_aws_creds_source creds;   /* its ctx owned by the backend */
	char *region;                        /* owned; the signing region */
	char *url;                           /* owned; what requests are POSTed to */
	int max_attempts;                    /* tries of a retried call, >= 1 */
	int backoff_ms;                      /* first backoff */
	int backoff_cap_ms;                  /* longest backoff */
	int timeout_ms;                      /* one attempt of any action (-o
					      * timeout_ms); 0: KFS_HTTP_TIMEOUT_MS,
					      * KFS_AWS_LONG_TIMEOUT_MS with
					      * KFS_CALL_LONG */
	struct kfs_metrics *metrics;         /* borrowed, or NULL */
	struct kfs_clock *clock;             /* borrowed; NULL: the real one.
					      * Backoff sleeps on it.  Requests
					      * are signed with libcurl's date
					      * (http_curl.c) */
};

/* Call flags. */
#define KFS_CALL_ONCE 0x1   /* no retry for throttling or failures: the
			     * caller decides (PutRecords, GetRecords) */
#define KFS_CALL_LONG 0x2   /* KFS_AWS_LONG_TIMEOUT_MS instead of the default
			     * (unless timeout_ms is set) */

/*
 * Sends Kinesis action `action` (e.g. "ListStreams") with body `req`
 * (borrowed).  On success returns 0 and *resp, the parsed answer, which the
 * caller frees with cJSON_Delete.  On failure returns -errno, *resp is NULL
 * and e (if not NULL) says what happened.  Refused credentials are
 * refreshed once and the call tried once more, also with KFS_CALL_ONCE (a
 * refused call stored nothing).  e->ambiguous tells that some attempt may
 * have been carried out by the service although no success was seen.
 */
int kfs_aws_call(struct kfs_aws_client *c, const char *action, const cJSON *req,
		 unsigned flags, cJSON **resp, struct kfs_aws_error *e);

/* kfs_aws_call with the body as JSON text already (body_len bytes,
 * borrowed): PutRecords, whose body is written without a cJSON tree. */
int kfs_aws_call_body(struct kfs_aws_client *c, const char *action,
		      const char *body, size_t body_len, unsigned flags,
		      cJSON **resp, struct kfs_aws_error *e);

/*
 * Sends action `action` whose answer streams (SubscribeToShard): the body
 * of its 200 answer is handed to on_data as it comes (see http.h), until
 * the service ends it (0), it breaks or on_data stops it (-errno, e says
 * why), or idle_ms pass without a byte.  An error answer comes back as
 * kfs_aws_call's do, in e.  Not retried (refused credentials excepted):
 * the caller resubscribes from where the stream got to.
 */
int kfs_aws_call_stream(struct kfs_aws_client *c, const char *action,
			const cJSON *req,
			int (*on_data)(void *arg, const void *p, size_t n),
			void *arg, int idle_ms, struct kfs_aws_error *e);

/* Sleeps on c's clock for backoff number `n` (0 for the first):
 * min(cap, base * 2^n), with jitter in its upper half. */
void kfs_aws_backoff(const struct kfs_aws_client *c, int n);

/* Sleeps ms milliseconds on c's clock (0 or less: not at all), ending
 * early when the calling thread is cancelled (lib/cancel.h). */
void kfs_aws_sleep_ms(const struct kfs_aws_client *c, int64_t ms);

/* A creds source over a kfs_creds_chain (borrowed). */
void kfs_aws_creds_source_chain(struct kfs_aws_creds_source *s,
				struct kfs_creds_chain *chain);

#endif
