/*
 * fuzz_profile.c - libFuzzer harness for the AWS shared configuration
 * files (backend/aws/profile.h) and the credential expiry times
 * (backend/aws/creds.h: kfs_creds_parse_time).
 *
 * The input is also read as an STS answer (backend/aws/sts.h:
 * kfs_sts_credentials of AssumeRole and AssumeRoleWithWebIdentity; a
 * result has every field and an expiry), and nested settings are looked
 * up in its sections (kfs_aws_profile_service, kfs_aws_config_section).
 *
 * The input is written as both the config file and the credentials file,
 * which AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE name (in a scratch
 * directory, HOME pointing there too: nothing of the user's ~/.aws is
 * read); then a few keys of a few profiles are looked up in each file and
 * in both (kfs_aws_profile_lookup, kfs_aws_profile_value), among them the
 * first section and key the input itself names.  The input as a string
 * also goes to kfs_creds_parse_time.
 *
 * Checked beyond "no crash, no leak": lookups fail only as profile.h says
 * (-EINVAL, -EACCES, -EIO, -ENOMEM) and then give nothing; a value found
 * is trimmed, one line, without the comment; kfs_aws_profile_value agrees
 * with the lookup in both files; an expiry time that parses is one
 * kfs_parse_iso8601 accepts with a zone, at the same instant.
 *
 * profile.c remembers the last malformed line it complained about (to log
 * it once); that changes what is logged, never what is found.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/aws/creds.h"
#include "backend/aws/profile.h"
#include "backend/aws/sts.h"
#include "lib/log.h"
#include "lib/util.h"

static char root[PATH_MAX];
static char config_path[PATH_MAX + 16];
static char creds_path[PATH_MAX + 16];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_profile: %s\n", what);
	abort();
}

static void remove_root(void)
{
	unlink(config_path);
	unlink(creds_path);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	if (!getenv("KFS_FUZZ_VERBOSE"))
		kfs_log_init(1, (enum kfs_log_level)LOG_CRIT); /* nothing */
	snprintf(root, sizeof(root), "%s/kfs-fuzz-profile.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		die("cannot create a scratch directory (TMPDIR)");
	snprintf(config_path, sizeof(config_path), "%s/config", root);
	snprintf(creds_path, sizeof(creds_path), "%s/credentials", root);
	if (setenv("AWS_CONFIG_FILE", config_path, 1) < 0 ||
	    setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1) < 0 ||
	    setenv("HOME", root, 1) < 0 || unsetenv("AWS_PROFILE") < 0)
		die("setenv");
	atexit(remove_root);
	return 0;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		die("cannot create an input file");
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			die("cannot write an input file");
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	       c == '\v';
}

static void check_value(const char *v)
{
	size_t n = strlen(v);

	if (n && (is_space(v[0]) || is_space(v[n - 1])))
		die("a value that is not trimmed");
	if (strchr(v, '\n'))
		die("a value of more than one line");
	for (size_t i = 1; i < n; i++)
		if ((v[i] == '#' || v[i] == ';') && is_space(v[i - 1]))
			die("a value with its comment");
}

static void lookup(const char *profile, const char *key)
{
	static const enum kfs_aws_profile_file files[] = {
		KFS_AWS_CREDENTIALS_FILE, KFS_AWS_CONFIG_FILE, KFS_AWS_BOTH_FILES,
	};
	char *both = NULL, *v;
	int rc_both = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *out = (char *)"junk";
		int rc = kfs_aws_profile_lookup(files[i], profile, key, &out);

		if (rc == -ENOMEM)
			die("out of memory");
		if (rc < 0) {
			if (rc != -EINVAL && rc != -EACCES && rc != -EIO)
				die("kfs_aws_profile_lookup: an unexpected error");
			if (out)
				die("kfs_aws_profile_lookup: a value with an error");
		} else if (out) {
			check_value(out);
		}
		if (files[i] == KFS_AWS_BOTH_FILES) {
			both = rc < 0 ? NULL : out;
			rc_both = rc;
		} else if (rc == 0) {
			free(out);
		}
	}
	v = kfs_aws_profile_value(profile, key);
	if ((v == NULL) != (both == NULL) || (v && strcmp(v, both) != 0))
		die("kfs_aws_profile_value disagrees with the lookup in both files");
	(void)rc_both;
	free(v);
	free(both);
}

/* Copies into buf (size > 1) the text of s from `from` up to the first
 * character of `stop`, trimmed; "" when `from` is not found. */
static void extract(const char *s, const char *from, const char *stop,
		    char *buf, size_t size)
{
	const char *p = from ? strstr(s, from) : s;
	size_t n;

	buf[0] = '\0';
	if (!p)
		return;
	if (from)
		p += strlen(from);
	while (is_space(*p) && *p != '\n')
		p++;
	n = strcspn(p, stop);
	while (n && is_space(p[n - 1]))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Each lookup reads the files anew: a few keys keep runs fast. */
	static const char *const profiles[] = { "default", "dev" };
	static const char *const keys[] = {
		"aws_access_key_id", "region", "credential_process", "s3",
	};
	char *s = malloc(size + 1), section[80], key[80];
	int64_t ms, ms2;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	write_file(config_path, data, size);
	write_file(creds_path, data, size);

	for (size_t p = 0; p < sizeof(profiles) / sizeof(profiles[0]); p++)
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			lookup(profiles[p], keys[k]);
	/* What the input names: its first section (as the credentials file
	 * and, without "profile ", as the config file names it) and key. */
	extract(s, "[", "]\n", section, sizeof(section));
	extract(s, "\n", "=\n", key, sizeof(key));
	if (section[0] && key[0]) {
		lookup(section, key);
		if (strncmp(section, "profile", 7) == 0 && is_space(section[7])) {
			char *name = section + 8;
			while (is_space(*name))
				name++;
			lookup(name, key);
		}
	}

	/* Sections that are no profile, and nested settings. */
	{
		static const char *const names[][3] = {
			{ "sts", "endpoint_url", NULL },
			{ "sso-session", "corp", "sso_region" },
		};
		char *v = NULL;
		int rc = kfs_aws_profile_service("default", names[0][0],
						 names[0][1], &v);

		if (rc == -ENOMEM)
			die("out of memory");
		if ((rc < 0 && v) || (v && strchr(v, '\n')))
			die("kfs_aws_profile_service: a value with an error, or "
			    "of two lines");
		free(v);
		v = NULL;
		rc = kfs_aws_config_section(names[1][0], names[1][1],
					    names[1][2], &v);
		if ((rc < 0 && v) || (v && strchr(v, '\n')))
			die("kfs_aws_config_section: a value with an error, or "
			    "of two lines");
		free(v);
	}
	/* The input as an STS answer. */
	for (int a = 0; a < 2; a++) {
		struct kfs_aws_creds c;
		char code[64];
		int rc = kfs_sts_credentials(s, size, a ? "AssumeRole"
						       : "AssumeRoleWithWebIdentity",
					     &c);

		if (rc == -ENOMEM)
			die("out of memory");
		if (rc == 0 && (!c.access_key_id || !c.secret_access_key ||
				!c.session_token || !c.expiry_ms))
			die("kfs_sts_credentials: a result without every field");
		if (rc != 0 && rc != -EINVAL)
			die("kfs_sts_credentials: an unexpected error");
		kfs_aws_creds_clear(&c);
		kfs_sts_error_code(s, size, code, sizeof(code));
		if (strlen(code) >= sizeof(code))
			die("kfs_sts_error_code: too long");
	}

	if (kfs_creds_parse_time(s, &ms) == 0 &&
	    (kfs_parse_iso8601(s, 1, &ms2) < 0 || ms != ms2))
		die("kfs_creds_parse_time accepts what kfs_parse_iso8601 does not");
	kfs_creds_parse_time(NULL, &ms);
	free(s);
	return 0;
}
