/*
 * creds_profile.c - long-term (or session) keys written in the profile:
 * aws_access_key_id, aws_secret_access_key and aws_session_token, from the
 * credentials file's section, else from the config file's.
 */
#include "creds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "profile.h"

struct profile_provider {
	struct kfs_creds_provider base;
	char *profile;          /* profile name; fixed */
};

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* The keys of one file: 0, -ENOENT when it has none, or -errno. */
static int keys_from(enum kfs_aws_profile_file which, const char *profile,
		     struct kfs_aws_creds *out)
{
	const char *file = which == KFS_AWS_CONFIG_FILE ? "config file"
							: "credentials file";
	struct kfs_aws_creds c = { 0 };
	int rc;

	rc = kfs_aws_profile_lookup(which, profile, "aws_access_key_id",
				    &c.access_key_id);
	if (rc == 0)
		rc = kfs_aws_profile_lookup(which, profile, "aws_secret_access_key",
					    &c.secret_access_key);
	if (rc == 0)
		rc = kfs_aws_profile_lookup(which, profile, "aws_session_token",
					    &c.session_token);
	if (rc < 0)
		goto out;
	/* An empty value counts as not set. */
	if (c.session_token && !*c.session_token) {
		free(c.session_token);
		c.session_token = NULL;
	}
	if (c.access_key_id && !*c.access_key_id) {
		free(c.access_key_id);
		c.access_key_id = NULL;
	}
	if (c.secret_access_key && !*c.secret_access_key) {
		free(c.secret_access_key);
		c.secret_access_key = NULL;
	}
	if (!c.access_key_id && !c.secret_access_key) {
		rc = -ENOENT;
	} else if (!c.access_key_id || !c.secret_access_key) {
		kfs_warn("AWS profile '%s' in the %s: %s is set but %s is not",
			 profile, file,
			 c.access_key_id ? "aws_access_key_id" : "aws_secret_access_key",
			 c.access_key_id ? "aws_secret_access_key" : "aws_access_key_id");
		rc = -EINVAL;
	} else {
		*out = c;
		return 0;
	}
out:
	free(c.access_key_id);
	free_secret(c.secret_access_key);
	free_secret(c.session_token);
	return rc;
}

static int profile_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	struct profile_provider *pp = (struct profile_provider *)p;
	int rc = keys_from(KFS_AWS_CREDENTIALS_FILE, pp->profile, out);

	if (rc == -ENOENT)
		rc = keys_from(KFS_AWS_CONFIG_FILE, pp->profile, out);
	return rc;
}

static void profile_destroy(struct kfs_creds_provider *p)
{
	struct profile_provider *pp = (struct profile_provider *)p;

	free(pp->profile);
	free(pp);
}

struct kfs_creds_provider *kfs_creds_profile_new(const char *profile)
{
	struct profile_provider *pp = calloc(1, sizeof(*pp));

	if (!pp)
		return NULL;
	pp->profile = strdup(profile);
	if (!pp->profile) {
		free(pp);
		return NULL;
	}
	pp->base.name = "profile";
	pp->base.fetch = profile_fetch;
	pp->base.destroy = profile_destroy;
	return &pp->base;
}
