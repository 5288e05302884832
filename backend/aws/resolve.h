/*
 * resolve.h - where the AWS backend's region and endpoint come from.
 */
#ifndef KFS_AWS_RESOLVE_H
#define KFS_AWS_RESOLVE_H

#include <stddef.h>

#include "aws.h"

/* The resolved target; strings owned, freed by kfs_aws_target_clear. */
struct kfs_aws_target {
	char *region;              /* e.g. "us-east-1" */
	char *endpoint;            /* URL requests are POSTed to, path included */
	const char *region_from;   /* static: where the region came from */
	const char *endpoint_from; /* static: where the endpoint came from */
};

/*
 * Region: cfg->region, AWS_REGION, AWS_DEFAULT_REGION, then the profile's
 * "region"; none of them gives -EINVAL with a message naming all four.
 * Endpoint: cfg->endpoint, AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, the
 * profile's "endpoint_url" (the environment and the profile are skipped
 * when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true), else
 * https://kinesis.REGION.amazonaws.com (amazonaws.com.cn for cn- regions).
 * An endpoint is http:// or https://, any port; "/" is added when it has
 * no path.
 *
 * `profile_value` looks a key up in the profile (kfs_aws_profile_value in
 * the daemon; tests pass their own); it returns a string the caller frees,
 * or NULL.  On failure `why` holds one line for the user.  Returns 0 or
 * -errno (-EINVAL, -ENOMEM).
 */
int kfs_aws_resolve(const struct kfs_aws_config *cfg,
		    char *(*profile_value)(const char *profile, const char *key),
		    struct kfs_aws_target *out, char *why, size_t why_size);

void kfs_aws_target_clear(struct kfs_aws_target *t);

/* 1 when s is a plausible region name: [a-z0-9-], 1 to 64 bytes. */
int kfs_aws_valid_region(const char *s);

#endif
