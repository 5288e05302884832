/* profile.c - the AWS shared configuration files; see profile.h. */
#include "profile.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/log.h"

/* The last problem logged, "path:line:errno", so that a file looked up
 * many times is complained about once; protected by warned_lock. */
static pthread_mutex_t warned_lock = PTHREAD_MUTEX_INITIALIZER;
static char warned[4200];

static void warn_once(const char *path, unsigned line, int err)
{
	char now[sizeof(warned)];

	snprintf(now, sizeof(now), "%s:%u:%d", path, line, err);
	pthread_mutex_lock(&warned_lock);
	if (strcmp(now, warned) == 0) {
		pthread_mutex_unlock(&warned_lock);
		return;
	}
	snprintf(warned, sizeof(warned), "%s", now);
	pthread_mutex_unlock(&warned_lock);
	if (err == EINVAL)
		kfs_warn("AWS shared file %s: line %u is not a [section], a "
			 "key = value line or a comment; the file is ignored",
			 path, line);
	else
		kfs_warn("AWS shared file %s cannot be read (%s); it is ignored",
			 path, strerror(err));
}

char *kfs_aws_profile_name(const char *profile)
{
	const char *v = profile && *profile ? profile : getenv("AWS_PROFILE");

	return strdup(v && *v ? v : "default");
}

static char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (h && *h)
		return strdup(h);
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) != 0 || !res ||
	    !res->pw_dir || !*res->pw_dir)
		return NULL;
	return strdup(res->pw_dir);
}

char *kfs_aws_expand_home(const char *path)
{
	char *home, *out;

	if (strncmp(path, "~/", 2) != 0 && strcmp(path, "~") != 0)
		return strdup(path);
	home = home_dir();
	if (!home)
		return NULL;
	if (asprintf(&out, "%s%s", home, path + 1) < 0)
		out = NULL;
	free(home);
	return out;
}

char *kfs_aws_profile_path(enum kfs_aws_profile_file which)
{
	const char *var = which == KFS_AWS_CONFIG_FILE ? "AWS_CONFIG_FILE"
						       : "AWS_SHARED_CREDENTIALS_FILE";
	const char *v = getenv(var);

	if (v && *v)
		return kfs_aws_expand_home(v);
	return kfs_aws_expand_home(which == KFS_AWS_CONFIG_FILE
				   ? "~/.aws/config" : "~/.aws/credentials");
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	       c == '\v';
}

/* Trims s in place (both ends); returns the new start. */
static char *trim(char *s)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Cuts a comment that starts with '#' or ';' after whitespace. */
static void cut_comment(char *s)
{
	for (char *p = s; *p; p++)
		if ((*p == '#' || *p == ';') && p > s && is_space(p[-1])) {
			*p = '\0';
			return;
		}
}

/* The profile a section header names, or NULL for a section that is no
 * profile (e.g. "[sso-session x]" in the config file).  Points into name. */
static const char *section_profile(char *name, int config_style)
{
	if (!config_style || strcmp(name, "default") == 0)
		return name;
	if (strncmp(name, "profile", 7) == 0 && is_space(name[7]))
		return trim(name + 8);
	return NULL;
}

/* Looks `key` up in one file; see kfs_aws_profile_lookup. */
static int lookup_file(const char *path, int config_style, const char *profile,
		       const char *key, char **out)
{
	FILE *f;
	char *line = NULL, *found = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int in_section = 0;     /* inside some section */
	int matching = 0;       /* inside a section of `profile` */
	int after_property = 0; /* an indented line here continues a property */
	int rc = 0;

	f = fopen(path, "re");
	if (!f) {
		rc = errno;
		if (rc == ENOENT || rc == ENOTDIR)
			return 0;
		warn_once(path, 0, rc);
		return rc == EACCES || rc == EPERM ? -EACCES
			: rc == ENOMEM ? -ENOMEM : -EIO;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *t, *eq;

		lineno++;
		if ((size_t)n != strlen(line)) {    /* a NUL in the line */
			rc = -EINVAL;
			break;
		}
		t = trim(line);
		if (!*t || *t == '#' || *t == ';')
			continue;
		if (is_space(line[0]) && after_property)
			continue;   /* a nested setting, never a key of the profile */
		if (*t == '[') {
			char *end = strchr(t, ']'), *rest;
			const char *name;

			if (!end) {
				rc = -EINVAL;
				break;
			}
			*end = '\0';
			rest = trim(end + 1);
			if (*rest && *rest != '#' && *rest != ';') {
				rc = -EINVAL;
				break;
			}
			t = trim(t + 1);
			if (!*t) {
				rc = -EINVAL;
				break;
			}
			name = section_profile(t, config_style);
			in_section = 1;
			matching = name && strcmp(name, profile) == 0;
			after_property = 0;
			continue;
		}
		eq = strchr(t, '=');
		if (!eq || eq == t || !in_section) {
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		after_property = 1;
		if (!matching || strcasecmp(trim(t), key) != 0)
			continue;
		cut_comment(eq + 1);
		free(found);    /* the last one wins */
		found = strdup(trim(eq + 1));
		if (!found) {
			rc = -ENOMEM;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		warn_once(path, 0, errno ? errno : EIO);
		rc = -EIO;
	} else if (rc == -EINVAL) {
		warn_once(path, lineno, EINVAL);
	}
	if (line) {
		explicit_bzero(line, cap);  /* it held a line of the file */
		free(line);
	}
	fclose(f);
	if (rc < 0) {
		if (found)
			explicit_bzero(found, strlen(found));
		free(found);
		return rc;
	}
	*out = found;
	return 0;
}

int kfs_aws_profile_lookup(enum kfs_aws_profile_file which, const char *profile,
			   const char *key, char **out)
{
	char *path;
	int rc;

	*out = NULL;
	if (which == KFS_AWS_BOTH_FILES) {
		rc = kfs_aws_profile_lookup(KFS_AWS_CREDENTIALS_FILE, profile,
					    key, out);
		if (rc < 0 || *out)
			return rc;
		return kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, profile, key,
					      out);
	}
	path = kfs_aws_profile_path(which);
	if (!path)
		return 0;   /* no home: no file */
	rc = lookup_file(path, which == KFS_AWS_CONFIG_FILE, profile, key, out);
	free(path);
	return rc;
}

char *kfs_aws_profile_value(const char *profile, const char *key)
{
	char *v = NULL;

	if (kfs_aws_profile_lookup(KFS_AWS_BOTH_FILES, profile, key, &v) < 0)
		return NULL;
	return v;
}

/* ---- sections other than profiles ------------------------------------- */

/*
 * In the config file's section "[KIND NAME]": the value of `key`, or with
 * `sub`, of the nested setting `sub` under `key` ("key =" followed by
 * indented "sub = value" lines).  0 with *out or NULL; -errno as
 * lookup_file.
 */
static int lookup_section(const char *path, const char *header, const char *key,
			  const char *sub, char **out)
{
	FILE *f;
	char *line = NULL, *found = NULL;
	size_t cap = 0;
	ssize_t n;
	int matching = 0, nested = 0, rc = 0;

	*out = NULL;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT || errno == ENOTDIR ? 0
		       : errno == EACCES ? -EACCES : -EIO;
	while ((n = getline(&line, &cap, f)) >= 0) {
		int indented = is_space(line[0]);
		char *t = trim(line), *eq;

		if (!*t || *t == '#' || *t == ';')
			continue;
		if (*t == '[') {
			char *end = strchr(t, ']');

			if (!end) {
				rc = -EINVAL;
				break;
			}
			*end = '\0';
			t = trim(t + 1);
			/* "[services  x]": one space or more between. */
			matching = strncmp(t, header, strcspn(header, " ")) == 0 &&
				   is_space(t[strcspn(header, " ")]) &&
				   strcmp(trim(t + strcspn(header, " ")),
					  header + strcspn(header, " ") + 1) == 0;
			nested = 0;
			continue;
		}
		eq = strchr(t, '=');
		if (!eq || !matching)
			continue;
		*eq = '\0';
		cut_comment(eq + 1);
		if (!indented) {
			nested = sub && strcasecmp(trim(t), key) == 0;
			if (!sub && strcasecmp(trim(t), key) == 0) {
				free(found);
				found = strdup(trim(eq + 1));
			}
			continue;
		}
		if (nested && strcasecmp(trim(t), sub) == 0) {
			free(found);
			found = strdup(trim(eq + 1));
		}
	}
	free(line);
	fclose(f);
	if (rc < 0) {
		free(found);
		return rc;
	}
	*out = found;
	return 0;
}

int kfs_aws_profile_service(const char *profile, const char *service,
			    const char *key, char **out)
{
	char *name = NULL, *path, *header = NULL;
	int rc;

	*out = NULL;
	rc = kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, profile, "services",
				    &name);
	if (rc < 0 || !name || !*name) {
		free(name);
		return rc;
	}
	path = kfs_aws_profile_path(KFS_AWS_CONFIG_FILE);
	if (path && asprintf(&header, "services %s", name) >= 0)
		rc = lookup_section(path, header, service, key, out);
	else
		rc = -ENOMEM;
	free(header);
	free(path);
	free(name);
	return rc;
}

int kfs_aws_config_section(const char *kind, const char *name,
			   const char *key, char **out)
{
	char *path = kfs_aws_profile_path(KFS_AWS_CONFIG_FILE), *header = NULL;
	int rc;

	*out = NULL;
	if (!path)
		return 0;
	if (asprintf(&header, "%s %s", kind, name) < 0) {
		free(path);
		return -ENOMEM;
	}
	rc = lookup_section(path, header, key, NULL, out);
	free(header);
	free(path);
	return rc;
}

/* ---- helpers of the sources -------------------------------------------- */

const char *kfs_aws_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

char *kfs_aws_profile_get(enum kfs_aws_profile_file which, const char *profile,
			  const char *key, int *rc)
{
	char *v = NULL;
	int e = kfs_aws_profile_lookup(which, profile, key, &v);

	if (e < 0 && *rc == 0)
		*rc = e;
	if (v && !*v) {
		free(v);
		v = NULL;
	}
	return v;
}

int kfs_aws_configured_endpoint(const char *profile, const char *env_name,
				const char *service, char **out)
{
	char var[64], *ign = NULL;
	const char *e;
	int rc = 0;

	*out = NULL;
	e = kfs_aws_env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	ign = e ? strdup(e)
		: kfs_aws_profile_value(profile, "ignore_configured_endpoint_urls");
	if (ign && strcasecmp(ign, "true") == 0) {
		free(ign);
		return 0;
	}
	free(ign);
	snprintf(var, sizeof(var), "AWS_ENDPOINT_URL_%s", env_name);
	if ((e = kfs_aws_env(var)) || (e = kfs_aws_env("AWS_ENDPOINT_URL")))
		*out = strdup(e);
	else if ((rc = kfs_aws_profile_service(profile, service, "endpoint_url",
					       out)) == 0 && !*out)
		rc = kfs_aws_profile_lookup(KFS_AWS_CONFIG_FILE, profile,
					    "endpoint_url", out);
	if (rc == 0 && *out && !**out) {
		free(*out);
		*out = NULL;
	}
	return rc < 0 ? rc : (e && !*out) ? -ENOMEM : 0;
}
