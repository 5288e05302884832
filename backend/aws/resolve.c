/* resolve.c - region and endpoint resolution; see resolve.h. */
#include "resolve.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "profile.h"

int kfs_aws_valid_region(const char *s)
{
	size_t n = 0;

	for (; s && s[n]; n++)
		if (!(islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) ||
		      s[n] == '-'))
			return 0;
	return n >= 1 && n <= 64;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static int env_true(const char *name)
{
	const char *v = env(name);
	return v && strcasecmp(v, "true") == 0;
}

/* Checks an endpoint URL and makes the URL to POST to (a path added when
 * there is none); 0, -EINVAL with why, or -ENOMEM. */
static int endpoint_url(const char *in, const char *from, char **out, char *why,
			size_t why_size)
{
	const char *host;

	if (strncasecmp(in, "http://", 7) == 0)
		host = in + 7;
	else if (strncasecmp(in, "https://", 8) == 0)
		host = in + 8;
	else
		host = NULL;
	if (!host || !*host || *host == '/' || *host == ':' ||
	    strpbrk(in, " \t\r\n?#") || strchr(host, '@')) {
		snprintf(why, why_size, "endpoint '%s' (from %s) is not an "
			 "http:// or https:// URL of a host, with an optional "
			 "port and path", in, from);
		return -EINVAL;
	}
	if (strchr(host, '/'))
		*out = strdup(in);
	else if (asprintf(out, "%s/", in) < 0)
		*out = NULL;
	return *out ? 0 : -ENOMEM;
}

int kfs_aws_resolve(const struct kfs_aws_config *cfg,
		    char *(*profile_value)(const char *profile, const char *key),
		    struct kfs_aws_target *out, char *why, size_t why_size)
{
	char *profile = kfs_aws_profile_name(cfg->profile);
	char *pv = NULL;
	const char *v, *ep = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	if (!profile)
		return -ENOMEM;

	/* Region. */
	if (cfg->region && *cfg->region) {
		v = cfg->region;
		out->region_from = "-o region";
	} else if ((v = env("AWS_REGION"))) {
		out->region_from = "AWS_REGION";
	} else if ((v = env("AWS_DEFAULT_REGION"))) {
		out->region_from = "AWS_DEFAULT_REGION";
	} else if (profile_value && (pv = profile_value(profile, "region")) && *pv) {
		v = pv;
		out->region_from = "the profile's region";
	} else {
		snprintf(why, why_size, "no AWS region: give -o region=REGION, "
			 "or set AWS_REGION or AWS_DEFAULT_REGION, or set region "
			 "in profile '%s' of the AWS config file "
			 "(AWS_CONFIG_FILE, else ~/.aws/config)", profile);
		rc = -EINVAL;
		goto out;
	}
	if (!kfs_aws_valid_region(v)) {
		snprintf(why, why_size, "region '%s' (from %s) is not a region "
			 "name (lower-case letters, digits and '-')", v,
			 out->region_from);
		rc = -EINVAL;
		goto out;
	}
	out->region = strdup(v);
	free(pv);
	pv = NULL;
	if (!out->region) {
		rc = -ENOMEM;
		goto out;
	}

	/* Endpoint. */
	if (cfg->endpoint && *cfg->endpoint) {
		ep = cfg->endpoint;
		out->endpoint_from = "-o endpoint";
	} else if (!env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
		if ((ep = env("AWS_ENDPOINT_URL_KINESIS"))) {
			out->endpoint_from = "AWS_ENDPOINT_URL_KINESIS";
		} else if ((ep = env("AWS_ENDPOINT_URL"))) {
			out->endpoint_from = "AWS_ENDPOINT_URL";
		} else if (profile_value &&
			   (pv = profile_value(profile, "endpoint_url")) && *pv) {
			ep = pv;
			out->endpoint_from = "the profile's endpoint_url";
		}
	}
	if (ep) {
		rc = endpoint_url(ep, out->endpoint_from, &out->endpoint, why,
				  why_size);
	} else {
		const char *domain = "amazonaws.com";

		if (strncmp(out->region, "cn-", 3) == 0)
			domain = "amazonaws.com.cn";
		else if (strncmp(out->region, "us-isob-", 8) == 0)
			domain = "sc2s.sgov.gov";
		else if (strncmp(out->region, "us-iso-", 7) == 0)
			domain = "c2s.ic.gov";
		out->endpoint_from = "the region";
		if (asprintf(&out->endpoint, "https://kinesis.%s.%s/", out->region,
			     domain) < 0) {
			out->endpoint = NULL;
			rc = -ENOMEM;
		}
	}
out:
	free(pv);
	free(profile);
	if (rc)
		kfs_aws_target_clear(out);
	return rc;
}

void kfs_aws_target_clear(struct kfs_aws_target *t)
{
	free(t->region);
	free(t->endpoint);
	memset(t, 0, sizeof(*t));
}
