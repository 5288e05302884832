/*
 * creds_assume.c - a role assumed through STS AssumeRole, as the AWS CLI
 * assumes it for a profile with role_arn and source_profile or
 * credential_source (docs/credentials.md, "Assumed roles").
 *
 * The source's credentials sign the call:
 *   - source_profile: that profile's own credentials, found as the CLI
 *     finds them: its role assumed in turn (chains of up to 8 profiles,
 *     never a cycle), its web identity, its SSO role, its static keys, its
 *     credential_process; a profile that is its own source_profile signs
 *     with its static keys;
 *   - credential_source: Environment, Ec2InstanceMetadata or EcsContainer.
 * external_id, role_session_name (default kinesisfs-<ms since the epoch>)
 * and duration_seconds (default the service's, 3600) are sent as given.
 *
 * mfa_serial: a daemon has no terminal to ask for a code.  Credentials of
 * that role which the aws CLI cached (~/.aws/cli/cache/<key>.json, the key
 * being the SHA-1 of the call's arguments as the CLI computes it) are used
 * while they are valid; else -EACCES, the log line saying to run the aws
 * CLI with the profile once.
 */
#include "creds.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/util.h"
#include "profile.h"
#include "sts.h"

#define CHAIN_MAX 8             /* profiles in a chain of source_profile */
#define CACHE_MAX (64u << 10)   /* largest CLI cache file read */

/* A profile setting (caller frees), or NULL; *rc the lookup's error. */
static char *get(const char *profile, const char *key, int *rc)
{
	return kfs_aws_profile_get(KFS_AWS_BOTH_FILES, profile, key, rc);
}

/* Fetches once from a source made for the call. */
static int fetch_from(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	int rc;

	if (!p)
		return -ENOMEM;
	rc = p->fetch(p, out);
	p->destroy(p);
	return rc;
}

/* ---- the aws CLI's cache, for mfa_serial -------------------------------- */

/* Appends s as a JSON string the way Python's json.dumps writes it
 * (non-ASCII as \uXXXX of its UTF-8 decoding is not needed: names and
 * ARNs are ASCII; anything else makes no key). */
static int json_dumps_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x80)
			return -1;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
	return 0;
}

/* The CLI's cache file of an AssumeRole with these arguments: SHA-1 of
 * json.dumps({RoleArn, ExternalId, SerialNumber, DurationSeconds},
 * sort_keys=True), RoleSessionName left out. */
static char *cache_path(const char *role, const char *external_id,
			const char *mfa, const char *duration)
{
	char *args = NULL, *path = NULL, rel[128];
	size_t len = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	FILE *f = open_memstream(&args, &len);
	int bad = 0;

	if (!f)
		return NULL;
	fputc('{', f);
	if (duration)
		fprintf(f, "\"DurationSeconds\": %ld, ", strtol(duration, NULL, 10));
	if (external_id) {
		fputs("\"ExternalId\": ", f);
		bad |= json_dumps_str(f, external_id);
		fputs(", ", f);
	}
	fputs("\"RoleArn\": ", f);
	bad |= json_dumps_str(f, role);
	fputs(", \"SerialNumber\": ", f);
	bad |= json_dumps_str(f, mfa);
	fputc('}', f);
	if (fclose(f) != 0 || bad ||
	    !EVP_Digest(args, len, md, &md_len, EVP_sha1(), NULL)) {
		free(args);
		return NULL;
	}
	free(args);
	strcpy(rel, "~/.aws/cli/cache/");
	for (unsigned i = 0; i < md_len; i++)
		sprintf(rel + strlen(rel), "%02x", md[i]);
	strcat(rel, ".json");
	path = kfs_aws_expand_home(rel);
	return path;
}

/* Credentials the aws CLI cached for this role, when still valid for a
 * minute: 0, -ENOENT none. */
static int from_cli_cache(struct kfs_creds_psource *ap, const char *role,
			  const char *external_id, const char *mfa,
			  const char *duration, struct kfs_aws_creds *out)
{
	char *path = cache_path(role, external_id, mfa, duration), *text = NULL;
	cJSON *doc = NULL, *cr;
	int rc = -ENOENT;

	if (!path)
		return -ENOENT;
	if (kfs_creds_read_token(path, CACHE_MAX, &text) == 0 &&
	    (doc = cJSON_Parse(text)) != NULL &&
	    (cr = cJSON_GetObjectItemCaseSensitive(doc, "Credentials")) != NULL) {
		char *s = cJSON_PrintUnformatted(cr);

		if (s && kfs_creds_from_json(s, strlen(s), "SessionToken", 1,
					     "the aws CLI's cache", out) == 0) {
			if (out->expiry_ms > kfs_clock_now(ap->clock) + 60000)
				rc = 0;
			else
				kfs_aws_creds_clear(out);
		}
		if (s) {
			explicit_bzero(s, strlen(s));
			free(s);
		}
	}
	cJSON_Delete(doc);
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	free(path);
	return rc;
}

/* ---- the chain of profiles --------------------------------------------- */

static int assume(struct kfs_creds_psource *ap, const char *profile, int depth,
		  const char *const *seen, struct kfs_aws_creds *out);

/* The credentials of source profile `src` (seen[depth], the source of
 * seen[depth - 1]). */
static int source_profile_creds(struct kfs_creds_psource *ap, const char *src,
				int depth, const char *const *seen,
				struct kfs_aws_creds *out)
{
	int rc = 0;
	char *role = get(src, "role_arn", &rc);
	char *wif = get(src, "web_identity_token_file", &rc);

	if (rc < 0)
		goto out;
	if (role && wif)
		rc = fetch_from(kfs_creds_web_identity_new(src, ap->clock), out);
	else if (role)
		rc = assume(ap, src, depth, seen, out);
	else {
		rc = fetch_from(kfs_creds_sso_new(src, ap->clock), out);
		if (rc == -ENOENT)
			rc = fetch_from(kfs_creds_profile_new(src), out);
		if (rc == -ENOENT)
			rc = fetch_from(kfs_creds_process_new(src), out);
		if (rc == -ENOENT) {
			kfs_warn("AWS profile '%s': its source_profile '%s' has no "
				 "credentials", seen[depth - 1], src);
			rc = -EACCES;
		}
	}
out:
	free(role);
	free(wif);
	return rc;
}

/* The credentials that sign profile's AssumeRole. */
static int source_creds(struct kfs_creds_psource *ap, const char *profile,
			int depth, const char *const *seen,
			struct kfs_aws_creds *out)
{
	int rc = 0;
	char *src = get(profile, "source_profile", &rc);
	char *cs = get(profile, "credential_source", &rc);
	const char *chain[CHAIN_MAX + 2];

	if (rc < 0)
		goto out;
	if (src && cs) {
		kfs_warn("AWS profile '%s' has both source_profile and "
			 "credential_source: give one", profile);
		rc = -EINVAL;
	} else if (cs) {
		struct kfs_creds_provider *p =
			strcmp(cs, "Environment") == 0 ? kfs_creds_env_new()
			: strcmp(cs, "Ec2InstanceMetadata") == 0 ? kfs_creds_imds_new()
			: strcmp(cs, "EcsContainer") == 0 ? kfs_creds_container_new()
			: NULL;

		if (!p && strcmp(cs, "Environment") != 0 &&
		    strcmp(cs, "Ec2InstanceMetadata") != 0 &&
		    strcmp(cs, "EcsContainer") != 0) {
			kfs_warn("AWS profile '%s': credential_source is "
				 "Environment, Ec2InstanceMetadata or "
				 "EcsContainer", profile);
			rc = -EINVAL;
			goto out;
		}
		rc = fetch_from(p, out);
		if (rc == -ENOENT) {
			kfs_warn("AWS profile '%s': its credential_source %s has "
				 "no credentials", profile, cs);
			rc = -EACCES;
		}
	} else if (!src) {
		kfs_warn("AWS profile '%s' has a role_arn without "
			 "source_profile, credential_source or "
			 "web_identity_token_file", profile);
		rc = -EINVAL;
	} else if (strcmp(src, profile) == 0) {
		/* Its own source: its static keys. */
		rc = fetch_from(kfs_creds_profile_new(profile), out);
		if (rc == -ENOENT) {
			kfs_warn("AWS profile '%s' is its own source_profile but "
				 "has no aws_access_key_id", profile);
			rc = -EACCES;
		}
	} else {
		int k;

		for (k = 0; k <= depth; k++)
			if (strcmp(seen[k], src) == 0)
				break;
		if (k <= depth || depth + 1 >= CHAIN_MAX) {
			kfs_warn("AWS profile '%s': source_profile '%s' %s",
				 profile, src, k <= depth ? "makes a cycle"
				 : "is too deep a chain (8 profiles at most)");
			rc = -EINVAL;
			goto out;
		}
		memcpy(chain, seen, (size_t)(depth + 1) * sizeof(*chain));
		chain[depth + 1] = src;
		rc = source_profile_creds(ap, src, depth + 1, chain, out);
	}
out:
	free(src);
	free(cs);
	return rc;
}

static int form_build(char **form, size_t *len, const char *role,
		      const char *session, const char *external_id,
		      const char *duration)
{
	int rc = kfs_sts_form_add(form, len, "Action", "AssumeRole");

	if (rc == 0)
		rc = kfs_sts_form_add(form, len, "Version", "2011-06-15");
	if (rc == 0)
		rc = kfs_sts_form_add(form, len, "RoleArn", role);
	if (rc == 0)
		rc = kfs_sts_form_add(form, len, "RoleSessionName", session);
	if (rc == 0 && external_id)
		rc = kfs_sts_form_add(form, len, "ExternalId", external_id);
	if (rc == 0 && duration)
		rc = kfs_sts_form_add(form, len, "DurationSeconds", duration);
	return rc;
}

/* Assumes the role of `profile` (seen[depth] is profile). */
static int assume(struct kfs_creds_psource *ap, const char *profile, int depth,
		  const char *const *seen, struct kfs_aws_creds *out)
{
	int rc = 0;
	char *role = get(profile, "role_arn", &rc);
	char *external_id = get(profile, "external_id", &rc);
	char *session = get(profile, "role_session_name", &rc);
	char *duration = get(profile, "duration_seconds", &rc);
	char *mfa = get(profile, "mfa_serial", &rc);
	char *form = NULL, what[160];
	size_t form_len = 0;
	struct kfs_aws_creds src = { 0 };

	if (rc < 0)
		goto out;
	if (!role) {
		rc = -ENOENT;
		goto out;
	}
	if (duration) {
		char *end;
		long d = strtol(duration, &end, 10);

		if (*end || d < 900 || d > 43200) {
			kfs_warn("AWS profile '%s': duration_seconds is 900 to "
				 "43200", profile);
			rc = -EINVAL;
			goto out;
		}
	}
	if (mfa) {
		rc = from_cli_cache(ap, role, external_id, mfa, duration, out);
		if (rc == 0) {
			kfs_info("AWS profile '%s': the role's credentials cached "
				 "by the aws CLI (mfa_serial)", profile);
			goto out;
		}
		kfs_warn("AWS profile '%s' needs an MFA code (mfa_serial), which "
			 "a daemon cannot ask for: run `aws sts "
			 "get-caller-identity --profile %s` to cache the role's "
			 "credentials, then use the mount again", profile, profile);
		rc = -EACCES;
		goto out;
	}
	rc = source_creds(ap, profile, depth, seen, &src);
	if (rc < 0)
		goto out;
	if (!session && asprintf(&session, "kinesisfs-%lld",
				 (long long)kfs_clock_now(ap->clock)) < 0) {
		session = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = form_build(&form, &form_len, role, session, external_id, duration);
	snprintf(what, sizeof(what), "the role of AWS profile '%s'", profile);
	if (rc == 0)
		rc = kfs_sts_call(profile, what, "AssumeRole", form, &src, out);
out:
	kfs_aws_creds_clear(&src);
	free(role);
	free(external_id);
	free(session);
	free(duration);
	free(mfa);
	if (form) {
		explicit_bzero(form, form_len);
		free(form);
	}
	return rc;
}

static int ar_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	struct kfs_creds_psource *ap = (struct kfs_creds_psource *)p;
	const char *seen[1] = { ap->profile };
	int rc = 0;
	char *wif = get(ap->profile, "web_identity_token_file", &rc);

	/* role_arn with a token file is web identity's (creds_web_identity.c). */
	if (rc == 0 && wif)
		rc = -ENOENT;
	free(wif);
	if (rc < 0)
		return rc;
	return assume(ap, ap->profile, 0, seen, out);
}

struct kfs_creds_provider *kfs_creds_assume_new(const char *profile,
						struct kfs_clock *clock)
{
	return kfs_creds_profile_source_new("assume-role", profile, clock,
					    ar_fetch);
}
