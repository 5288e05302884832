/*
 * sts.h - AWS STS for the credentials sources that call it (web identity,
 * assumed roles): where it is, the form of a request, one call, and its
 * answer.
 *
 * Where STS is, as the AWS CLI v2 finds it: AWS_ENDPOINT_URL_STS, else
 * AWS_ENDPOINT_URL, else the profile's services section's `sts`
 * endpoint_url, else its endpoint_url (none of these when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or ignore_configured_endpoint_urls
 * is true); else the regional endpoint of the region (AWS_REGION,
 * AWS_DEFAULT_REGION, the profile's region), the global one when there is
 * no region or sts_regional_endpoints (AWS_STS_REGIONAL_ENDPOINTS) is
 * `legacy` in a region that had it.
 */
#ifndef KFS_AWS_STS_H
#define KFS_AWS_STS_H

#include <stddef.h>

#include "creds.h"

/* The URL and the signing region of STS for `profile`: 0 (both the
 * caller's), -EINVAL (a bad region; logged), -ENOMEM. */
int kfs_sts_endpoint(const char *profile, char **url, char **region);

/* Appends k=urlencode(v) to the form in *buf (*len its length; the old
 * buffer is wiped: forms carry tokens); 0 or -ENOMEM. */
int kfs_sts_form_add(char **buf, size_t *len, const char *k, const char *v);

/*
 * POSTs `form` (Action=ACTION&...) to STS, signed with `sign` (NULL:
 * unsigned), and reads the Credentials of ACTION's answer into *out.
 * 0; -EACCES refused (a 4xx that is not throttling); -EIO unreachable or
 * failing; -EINVAL a malformed answer; -ENOMEM.  Logged, `what` naming
 * the source, never a secret.
 */
int kfs_sts_call(const char *profile, const char *what, const char *action,
		 const char *form, const struct kfs_aws_creds *sign,
		 struct kfs_aws_creds *out);

/* The Credentials of an ACTION answer: 0, -EINVAL, -ENOMEM. */
int kfs_sts_credentials(const char *xml, size_t len, const char *action,
			struct kfs_aws_creds *out);

/* The Code of an STS error answer, for the log, or "". */
void kfs_sts_error_code(const char *xml, size_t len, char *code, size_t size);

#endif
