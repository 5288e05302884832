/*
 * test_aws_config.c - where the region and the endpoint come from: the
 * option, the environment, the profile, in that order, and the errors a
 * user sees when none or a bad one is given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/aws/resolve.h"
#include "tap.h"

/* A fake profile: key=value pairs, and which keys were asked for. */
static const char *prof_region, *prof_endpoint;
static char prof_asked_name[64];

static char *fake_profile(const char *profile, const char *key)
{
	snprintf(prof_asked_name, sizeof(prof_asked_name), "%s", profile);
	if (!strcmp(key, "region") && prof_region)
		return strdup(prof_region);
	if (!strcmp(key, "endpoint_url") && prof_endpoint)
		return strdup(prof_endpoint);
	return NULL;
}

static void clean_env(void)
{
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL_KINESIS");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	unsetenv("AWS_PROFILE");
	prof_region = prof_endpoint = NULL;
	prof_asked_name[0] = '\0';
}

/* Resolves cfg; checks the outcome. */
static void expect(const struct kfs_aws_config *cfg, int rc, const char *region,
		   const char *endpoint)
{
	struct kfs_aws_target t;
	char why[512];
	int got = kfs_aws_resolve(cfg, fake_profile, &t, why, sizeof(why));

	CHECK_EQ_INT(got, rc);
	if (got == 0) {
		CHECK_EQ_STR(t.region, region);
		CHECK_EQ_STR(t.endpoint, endpoint);
	} else {
		CHECK(why[0] != '\0');
		CHECK(t.region == NULL && t.endpoint == NULL);
	}
	kfs_aws_target_clear(&t);
}

TEST(region_order)
{
	struct kfs_aws_config cfg = { 0 };

	clean_env();
	prof_region = "eu-north-1";
	expect(&cfg, 0, "eu-north-1", "https://kinesis.eu-north-1.amazonaws.com/");
	CHECK_EQ_STR(prof_asked_name, "default");
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	expect(&cfg, 0, "eu-west-1", "https://kinesis.eu-west-1.amazonaws.com/");
	setenv("AWS_REGION", "us-west-2", 1);
	expect(&cfg, 0, "us-west-2", "https://kinesis.us-west-2.amazonaws.com/");
	cfg.region = "ap-south-1";
	expect(&cfg, 0, "ap-south-1", "https://kinesis.ap-south-1.amazonaws.com/");
	/* An empty variable counts as unset. */
	cfg.region = NULL;
	setenv("AWS_REGION", "", 1);
	expect(&cfg, 0, "eu-west-1", "https://kinesis.eu-west-1.amazonaws.com/");
	clean_env();
}

TEST(region_missing)
{
	struct kfs_aws_config cfg = { .profile = "work" };
	struct kfs_aws_target t;
	char why[512];

	clean_env();
	CHECK_EQ_INT(kfs_aws_resolve(&cfg, fake_profile, &t, why, sizeof(why)),
		     -EINVAL);
	/* The message names every place a region may come from. */
	CHECK(strstr(why, "-o region") != NULL);
	CHECK(strstr(why, "AWS_REGION") != NULL);
	CHECK(strstr(why, "AWS_DEFAULT_REGION") != NULL);
	CHECK(strstr(why, "profile 'work'") != NULL);
	CHECK_EQ_STR(prof_asked_name, "work");
	/* AWS_PROFILE picks the profile when -o profile does not. */
	cfg.profile = NULL;
	setenv("AWS_PROFILE", "ci", 1);
	CHECK_EQ_INT(kfs_aws_resolve(&cfg, fake_profile, &t, why, sizeof(why)),
		     -EINVAL);
	CHECK(strstr(why, "profile 'ci'") != NULL);
	/* A region that cannot be one. */
	cfg.region = "us-east-1/../x";
	CHECK_EQ_INT(kfs_aws_resolve(&cfg, fake_profile, &t, why, sizeof(why)),
		     -EINVAL);
	CHECK(strstr(why, "us-east-1/../x") != NULL);
	clean_env();
}

TEST(endpoint_order)
{
	struct kfs_aws_config cfg = { .region = "us-east-1" };

	clean_env();
	prof_endpoint = "http://profile:1";
	expect(&cfg, 0, "us-east-1", "http://profile:1/");
	setenv("AWS_ENDPOINT_URL", "http://general:2", 1);
	expect(&cfg, 0, "us-east-1", "http://general:2/");
	setenv("AWS_ENDPOINT_URL_KINESIS", "http://kinesis:3/", 1);
	expect(&cfg, 0, "us-east-1", "http://kinesis:3/");
	cfg.endpoint = "http://127.0.0.1:4567";
	expect(&cfg, 0, "us-east-1", "http://127.0.0.1:4567/");
	/* The environment and the profile can be told to stay out; the
	 * option still counts. */
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	expect(&cfg, 0, "us-east-1", "http://127.0.0.1:4567/");
	cfg.endpoint = NULL;
	expect(&cfg, 0, "us-east-1", "https://kinesis.us-east-1.amazonaws.com/");
	clean_env();
}

TEST(endpoint_forms)
{
	struct kfs_aws_config cfg = { .region = "cn-north-1" };

	clean_env();
	expect(&cfg, 0, "cn-north-1", "https://kinesis.cn-north-1.amazonaws.com.cn/");
	cfg.region = "us-gov-west-1";
	expect(&cfg, 0, "us-gov-west-1", "https://kinesis.us-gov-west-1.amazonaws.com/");
	cfg.endpoint = "HTTPS://[::1]:8443/kinesis";
	expect(&cfg, 0, "us-gov-west-1", "HTTPS://[::1]:8443/kinesis");
	cfg.endpoint = "http://localhost:4566/";
	expect(&cfg, 0, "us-gov-west-1", "http://localhost:4566/");
	cfg.endpoint = "ftp://x";
	expect(&cfg, -EINVAL, NULL, NULL);
	cfg.endpoint = "127.0.0.1:4567";
	expect(&cfg, -EINVAL, NULL, NULL);
	cfg.endpoint = "http://";
	expect(&cfg, -EINVAL, NULL, NULL);
	cfg.endpoint = "http://user:pw@host/";
	expect(&cfg, -EINVAL, NULL, NULL);
	cfg.endpoint = "http://host/?a=b";
	expect(&cfg, -EINVAL, NULL, NULL);
	clean_env();
}

int main(void)
{
	RUN(region_order);
	RUN(region_missing);
	RUN(endpoint_order);
	RUN(endpoint_forms);
	return tap_done();
}
