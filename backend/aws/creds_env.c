/*
 * creds_env.c - credentials from the environment: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION.
 */
#include "creds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int env_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	const char *id = env("AWS_ACCESS_KEY_ID");
	const char *secret = env("AWS_SECRET_ACCESS_KEY");
	const char *token = env("AWS_SESSION_TOKEN");
	const char *exp = env("AWS_CREDENTIAL_EXPIRATION");
	struct kfs_aws_creds c = { 0 };

	(void)p;
	if (!id && !secret)
		return -ENOENT;
	if (!id || !secret) {
		kfs_warn("AWS credentials from the environment: %s is set but "
			 "%s is not", id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			 id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	if (exp && kfs_creds_parse_time(exp, &c.expiry_ms) < 0) {
		kfs_warn("AWS credentials from the environment: "
			 "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time");
		return -EINVAL;
	}
	c.access_key_id = (char *)id;
	c.secret_access_key = (char *)secret;
	c.session_token = (char *)token;
	return kfs_aws_creds_copy(out, &c);
}

static void env_destroy(struct kfs_creds_provider *p)
{
	free(p);
}

struct kfs_creds_provider *kfs_creds_env_new(void)
{
	struct kfs_creds_provider *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->name = "env";
	p->fetch = env_fetch;
	p->destroy = env_destroy;
	return p;
}
