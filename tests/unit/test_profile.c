/*
 * test_profile.c - the AWS shared files: profile names, sections of both
 * files, comments, nested settings, precedence, malformed files.
 *
 * The files live in a mkdtemp directory, named by AWS_SHARED_CREDENTIALS_FILE
 * and AWS_CONFIG_FILE, or found under $HOME/.aws.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/aws/profile.h"
#include "lib/log.h"
#include "tap.h"

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	REQUIRE(f);
	fputs(text, f);
	REQUIRE(fclose(f) == 0);
}

static void use_files(const char *creds, const char *config)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, creds);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	snprintf(path, sizeof(path), "%s/%s", dir, config);
	setenv("AWS_CONFIG_FILE", path, 1);
}

/* value(profile, key) from both files, or "(unset)". */
static char got[512];
static const char *value(const char *profile, const char *key)
{
	char *v = kfs_aws_profile_value(profile, key);

	snprintf(got, sizeof(got), "%s", v ? v : "(unset)");
	free(v);
	return got;
}

TEST(profile_name)
{
	char *n;

	unsetenv("AWS_PROFILE");
	n = kfs_aws_profile_name(NULL);
	CHECK_EQ_STR(n, "default");
	free(n);
	setenv("AWS_PROFILE", "fromenv", 1);
	n = kfs_aws_profile_name(NULL);
	CHECK_EQ_STR(n, "fromenv");
	free(n);
	n = kfs_aws_profile_name("given");
	CHECK_EQ_STR(n, "given");
	free(n);
	setenv("AWS_PROFILE", "", 1);
	n = kfs_aws_profile_name("");
	CHECK_EQ_STR(n, "default");
	free(n);
	unsetenv("AWS_PROFILE");
}

TEST(sections_of_both_files)
{
	put("credentials",
	    "# a comment\n"
	    "; another\n"
	    "[default]\n"
	    "aws_access_key_id = AKIDDEFAULT\n"
	    "\n"
	    "[work]\n"
	    "aws_access_key_id=AKIDWORK\n"
	    "[profile work]  \n"
	    "aws_access_key_id = AKIDLITERAL\n");
	put("config",
	    "[default]\n"
	    "region = eu-west-1\n"
	    "[profile work]\n"
	    "region\t=\tus-east-2   \n"
	    "aws_access_key_id = AKIDCONFIG\n"
	    "[work]\n"
	    "region = not-a-profile-section\n"
	    "[sso-session x]\n"
	    "region = ap-south-1\n");
	use_files("credentials", "config");
	CHECK_EQ_STR(value("default", "aws_access_key_id"), "AKIDDEFAULT");
	CHECK_EQ_STR(value("default", "region"), "eu-west-1");
	/* The credentials file wins over the config file. */
	CHECK_EQ_STR(value("work", "aws_access_key_id"), "AKIDWORK");
	CHECK_EQ_STR(value("work", "region"), "us-east-2");
	/* "[profile x]" in the credentials file is a profile named so. */
	CHECK_EQ_STR(value("profile work", "aws_access_key_id"), "AKIDLITERAL");
	CHECK_EQ_STR(value("nosuch", "region"), "(unset)");
	CHECK_EQ_STR(value("x", "region"), "(unset)");
	CHECK_EQ_STR(value("default", "nosuchkey"), "(unset)");
}

TEST(one_file_only)
{
	char *v = NULL;

	put("credentials", "[work]\naws_access_key_id = AKIDWORK\n");
	put("config", "[profile work]\naws_access_key_id = AKIDCONFIG\n");
	use_files("credentials", "config");
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, "work",
					    "aws_access_key_id", &v), 0);
	CHECK_EQ_STR(v, "AKIDCONFIG");
	free(v);
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CREDENTIALS_FILE, "work",
					    "aws_access_key_id", &v), 0);
	CHECK_EQ_STR(v, "AKIDWORK");
	free(v);
}

TEST(comments_case_and_whitespace)
{
	put("config",
	    "[profile c]   # why\n"
	    "Region = us-west-2 # the nearest\n"
	    "output = json;not a comment\n"
	    "tab_comment = yes\t; a comment\n"
	    "credential_process = /bin/echo a#b \"c d\"\n"
	    "empty =\n"
	    "   \n"
	    "last = first\n"
	    "last = second\r\n");
	use_files("nocreds", "config");
	CHECK_EQ_STR(value("c", "region"), "us-west-2");
	CHECK_EQ_STR(value("c", "REGION"), "us-west-2");
	CHECK_EQ_STR(value("c", "output"), "json;not a comment");
	CHECK_EQ_STR(value("c", "tab_comment"), "yes");
	CHECK_EQ_STR(value("c", "credential_process"), "/bin/echo a#b \"c d\"");
	CHECK_EQ_STR(value("c", "empty"), "");
	CHECK_EQ_STR(value("c", "last"), "second");
}

TEST(nested_settings_are_not_keys)
{
	put("config",
	    "[default]\n"
	    "s3 =\n"
	    "  region = nested-1\n"
	    "  aws_access_key_id = NESTED\n"
	    "region = top-1\n");
	use_files("nocreds", "config");
	CHECK_EQ_STR(value("default", "region"), "top-1");
	CHECK_EQ_STR(value("default", "aws_access_key_id"), "(unset)");
}

TEST(malformed_files)
{
	char *v = (char *)"untouched";

	put("config", "[default]\nregion = us-east-1\nthis line has no equals sign\n");
	use_files("nocreds", "config");
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, "default",
					    "region", &v), -EINVAL);
	CHECK(v == NULL);
	CHECK_EQ_STR(value("default", "region"), "(unset)");

	put("config", "region = before any section\n");
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, "default",
					    "region", &v), -EINVAL);
	put("config", "[default\nregion = x\n");
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, "default",
					    "region", &v), -EINVAL);
	put("config", "[default] trailing\nregion = x\n");
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, "default",
					    "region", &v), -EINVAL);
	put("config", "[default]\n= no key\n");
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, "default",
					    "region", &v), -EINVAL);

	/* A missing file sets nothing, and is no error. */
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CREDENTIALS_FILE, "default",
					    "region", &v), 0);
	CHECK(v == NULL);
	/* A directory cannot be read. */
	setenv("AWS_CONFIG_FILE", dir, 1);
	CHECK_EQ_INT(kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, "default",
					    "region", &v), -EIO);
}

TEST(default_paths_under_home)
{
	char aws[256], *p;

	snprintf(aws, sizeof(aws), "%s/.aws", dir);
	REQUIRE(mkdir(aws, 0700) == 0 || errno == EEXIST);
	put(".aws/credentials", "[default]\naws_access_key_id = AKIDHOME\n");
	put(".aws/config", "[default]\nregion = home-region-1\n");
	put("tilde", "[profile t]\nregion = tilde-1\n");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	setenv("HOME", dir, 1);
	CHECK_EQ_STR(value("default", "aws_access_key_id"), "AKIDHOME");
	CHECK_EQ_STR(value("default", "region"), "home-region-1");
	p = kfs_aws_profile_path(KFS_AWS_CONFIG_FILE);
	snprintf(aws, sizeof(aws), "%s/.aws/config", dir);
	CHECK_EQ_STR(p, aws);
	free(p);
	/* "~/" in the variables is the home directory. */
	setenv("AWS_CONFIG_FILE", "~/tilde", 1);
	CHECK_EQ_STR(value("t", "region"), "tilde-1");
	unsetenv("AWS_CONFIG_FILE");
}

int main(void)
{
	char cmd[128];
	int rc;

	kfs_log_init(1, KFS_LOG_WARN);
	snprintf(dir, sizeof(dir), "/tmp/kfs-profile-XXXXXX");
	REQUIRE(mkdtemp(dir));
	setenv("HOME", dir, 1);
	RUN(profile_name);
	RUN(sections_of_both_files);
	RUN(one_file_only);
	RUN(comments_case_and_whitespace);
	RUN(nested_settings_are_not_keys);
	RUN(malformed_files);
	RUN(default_paths_under_home);
	rc = tap_done();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 99;
	return rc;
}
