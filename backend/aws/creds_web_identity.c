/*
 * creds_web_identity.c - web identity: a token file (from Kubernetes, an
 * OIDC provider) exchanged for temporary credentials by an unsigned STS
 * AssumeRoleWithWebIdentity call.
 *
 * Configured by the profile's role_arn + web_identity_token_file (and
 * role_session_name), else by AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 * (and AWS_ROLE_SESSION_NAME).  The token file is read at each fetch: it is
 * rotated under us.  STS is AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL,
 * else the region's (AWS_REGION, AWS_DEFAULT_REGION, the profile's region),
 * else the global https://sts.amazonaws.com (sts.h; the call and its
 * answer are sts.c's).
 */
#include "creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/util.h"
#include "profile.h"
#include "sts.h"

#define TOKEN_MAX (64u << 10)        /* longest web identity token */

static int wi_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	struct kfs_creds_psource *wp = (struct kfs_creds_psource *)p;
	char *role = NULL, *file = NULL, *session = NULL, *token = NULL;
	char *form = NULL;
	const char *from, *e_role, *e_file;
	size_t form_len = 0;
	int rc;

	rc = kfs_aws_profile_lookup(KFS_AWS_BOTH_FILES, wp->profile, "role_arn",
				    &role);
	if (rc == 0)
		rc = kfs_aws_profile_lookup(KFS_AWS_BOTH_FILES, wp->profile,
					    "web_identity_token_file", &file);
	if (rc < 0)
		goto out;
	if (role && *role && file && *file) {
		from = "the profile's web_identity_token_file";
		rc = kfs_aws_profile_lookup(KFS_AWS_BOTH_FILES, wp->profile,
					    "role_session_name", &session);
		if (rc < 0)
			goto out;
	} else {
		/* A role_arn alone is assumed from a source_profile or a
		 * credential_source (creds_assume.c). */
		free(role);
		free(file);
		role = file = NULL;
		e_role = kfs_aws_env("AWS_ROLE_ARN");
		e_file = kfs_aws_env("AWS_WEB_IDENTITY_TOKEN_FILE");
		if (!e_role || !e_file) {
			rc = -ENOENT;
			goto out;
		}
		from = "AWS_WEB_IDENTITY_TOKEN_FILE";
		role = strdup(e_role);
		file = strdup(e_file);
		if (kfs_aws_env("AWS_ROLE_SESSION_NAME"))
			session = strdup(kfs_aws_env("AWS_ROLE_SESSION_NAME"));
		if (!role || !file || (kfs_aws_env("AWS_ROLE_SESSION_NAME") && !session)) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (!session || !*session) {
		free(session);
		if (asprintf(&session, "kinesisfs-%lld",
			     (long long)kfs_clock_now(wp->clock)) < 0) {
			session = NULL;
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = kfs_creds_read_token(file, TOKEN_MAX, &token);
	if (rc < 0) {
		kfs_warn("AWS credentials from web identity: cannot use the token "
			 "file (%s): %s", from, rc == -EINVAL ? "empty or not one line"
			 : strerror(-rc));
		rc = rc == -ENOMEM ? -ENOMEM : rc == -EACCES ? -EACCES
			: rc == -EINVAL || rc == -EFBIG ? -EINVAL : -EIO;
		goto out;
	}
	rc = kfs_sts_form_add(&form, &form_len, "Action",
			      "AssumeRoleWithWebIdentity");
	if (rc == 0)
		rc = kfs_sts_form_add(&form, &form_len, "Version", "2011-06-15");
	if (rc == 0)
		rc = kfs_sts_form_add(&form, &form_len, "RoleArn", role);
	if (rc == 0)
		rc = kfs_sts_form_add(&form, &form_len, "RoleSessionName", session);
	if (rc == 0)
		rc = kfs_sts_form_add(&form, &form_len, "WebIdentityToken", token);
	if (rc == 0)
		rc = kfs_sts_call(wp->profile, "web identity",
				  "AssumeRoleWithWebIdentity", form, NULL, out);
out:
	free(role);
	free(file);
	free(session);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (form) {
		explicit_bzero(form, form_len);
		free(form);
	}
	return rc;
}

struct kfs_creds_provider *kfs_creds_web_identity_new(const char *profile,
						      struct kfs_clock *clock)
{
	return kfs_creds_profile_source_new("web-identity", profile, clock,
					    wi_fetch);
}
