/*
 * profile.h - the AWS shared configuration files (~/.aws/config and
 * ~/.aws/credentials, or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE).
 *
 * The files are read anew at each lookup (they are small, and looked up
 * rarely): an edited file takes effect at the next credentials fetch.
 *
 * Format, as the AWS CLI reads it: sections "[name]" in the credentials
 * file, "[profile name]" (or "[default]") in the config file; "key = value"
 * lines, keys case-insensitive; comment lines starting with '#' or ';', and
 * a '#' or ';' after whitespace starts a comment at the end of a line;
 * indented lines continue the property above them (nested settings such as
 * "s3 =") and are never taken as keys of the profile.
 */
#ifndef KFS_AWS_PROFILE_H
#define KFS_AWS_PROFILE_H

/* The profile in use: `profile` when given, else AWS_PROFILE, else
 * "default".  Returns a string the caller frees (NULL on -ENOMEM). */
char *kfs_aws_profile_name(const char *profile);

/*
 * The value of `key` for `profile`: the credentials file's [profile]
 * section first, then the config file's [profile NAME] ([default] for
 * default).  Returns a string the caller frees, or NULL when not set (or
 * on a malformed file, logged once without any value).
 */
char *kfs_aws_profile_value(const char *profile, const char *key);

/* Which of the two files. */
enum kfs_aws_profile_file {
	KFS_AWS_CREDENTIALS_FILE,   /* AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials */
	KFS_AWS_CONFIG_FILE,        /* AWS_CONFIG_FILE, ~/.aws/config */
	KFS_AWS_BOTH_FILES,         /* the credentials file, then the config file */
};

/*
 * The value of `key` for `profile` in `which`, telling errors apart: 0 with
 * *out (caller frees) or NULL when not set (a missing file sets nothing);
 * -EINVAL when a file read is malformed, -EACCES or -EIO when it cannot be
 * read (each logged once, with the path and line number, never a value);
 * -ENOMEM.
 */
int kfs_aws_profile_lookup(enum kfs_aws_profile_file which, const char *profile,
			   const char *key, char **out);

/* The path of that file, `~/` expanded (caller frees; NULL when there is
 * no home directory to find it in, or on -ENOMEM). */
char *kfs_aws_profile_path(enum kfs_aws_profile_file which);

/* `path` with a leading "~/" replaced by the home directory (caller frees;
 * NULL on -ENOMEM or when there is no home). */
char *kfs_aws_expand_home(const char *path);

/* getenv(name), or NULL when unset or empty. */
const char *kfs_aws_env(const char *name);

/* kfs_aws_profile_lookup(which, ...) for a source reading several keys:
 * the value (caller frees), NULL when unset or empty; a lookup error goes
 * to *rc unless *rc holds one already. */
char *kfs_aws_profile_get(enum kfs_aws_profile_file which, const char *profile,
			  const char *key, int *rc);

/*
 * The endpoint configured for a service, as the aws CLI v2 finds it:
 * AWS_ENDPOINT_URL_<ENV_NAME>, else AWS_ENDPOINT_URL, else the profile's
 * services section's `service` endpoint_url, else the profile's
 * endpoint_url; none when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or
 * ignore_configured_endpoint_urls is true.  0 with *out (caller frees) or
 * NULL; -errno as kfs_aws_profile_lookup.
 */
int kfs_aws_configured_endpoint(const char *profile, const char *env_name,
				const char *service, char **out);

/* The nested setting `key` of `service` in the services section the
 * profile names ("services = NAME" and "[services NAME]" with "sts =" and
 * an indented "endpoint_url = URL"): 0 with *out (caller frees) or NULL;
 * -errno as kfs_aws_profile_lookup. */
int kfs_aws_profile_service(const char *profile, const char *service,
			    const char *key, char **out);

/* `key` of the config file's section "[KIND NAME]" (e.g. "sso-session
 * corp"): 0 with *out (caller frees) or NULL; -errno. */
int kfs_aws_config_section(const char *kind, const char *name,
			   const char *key, char **out);

#endif
