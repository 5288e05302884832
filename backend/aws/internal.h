/*
 * internal.h - the AWS backend's constructor below kfs_aws_open, for the
 * unit tests: the HTTP client, the credentials and the timings are handed
 * in instead of being resolved from the environment, and the clock comes
 * in cfg->clock as for kfs_aws_open (a test clock makes every sleep of
 * the backend instantaneous).  Not for fs/.
 */
#ifndef KFS_AWS_INTERNAL_H
#define KFS_AWS_INTERNAL_H

#include <stdint.h>

#include "aws.h"
#include "client.h"
#include "http.h"

/* Timings; 0 in any field means its default. */
struct kfs_aws_tuning {
	int max_attempts;        /* tries of a retried call (6) */
	int backoff_ms;          /* first backoff (100) */
	int backoff_cap_ms;      /* longest backoff (5000) */
	int get_interval_ms;     /* spacing of GetRecords on one shard (200:
				  * the service's 5 per second) */
	int poll_first_ms;       /* first wait between status polls (100) */
	int64_t wait_active_ms;  /* bound of a wait for ACTIVE (300000) */
	int64_t wait_gone_ms;    /* bound of a wait for a deleted stream to
				  * go (60000) */
};

/*
 * Makes the backend over `http` (owned from now on, also on failure) and
 * `creds` (copied; its ctx borrowed: it must outlive the backend), signing
 * for `region` and POSTing to `url`.  cfg->region, endpoint, profile and
 * probe are not used.  *out is freed with kfs_backend_free.
 */
int kfs_aws_new(const struct kfs_aws_config *cfg, const char *region,
		const char *url, struct kfs_http *http,
		const struct kfs_aws_creds_source *creds,
		const struct kfs_aws_tuning *tuning, struct kfs_backend **out);

#endif
