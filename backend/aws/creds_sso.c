/*
 * creds_sso.c - IAM Identity Center (SSO): the role credentials of a
 * profile with sso_account_id and sso_role_name, fetched from the SSO
 * portal with the access token that `aws sso login` cached
 * (docs/credentials.md, "SSO").
 *
 * Two forms, as the aws CLI v2 reads them:
 *   - sso_session = NAME, and a section [sso-session NAME] with
 *     sso_start_url and sso_region; the token is cached under
 *     ~/.aws/sso/cache/<SHA-1 of NAME>.json;
 *   - the legacy one: sso_start_url and sso_region in the profile; the
 *     token under ~/.aws/sso/cache/<SHA-1 of the start URL>.json.
 * The cached file is JSON with accessToken and expiresAt (ISO 8601, "Z" or
 * "UTC").  The call is an unsigned GET of
 * https://portal.sso.REGION.amazonaws.com/federation/credentials
 * ?account_id=ID&role_name=NAME with the header x-amz-sso_bearer_token
 * (or the endpoint configured for `sso`: kfs_aws_configured_endpoint), answered with
 * {"roleCredentials": {accessKeyId, secretAccessKey, sessionToken,
 * expiration (ms since the epoch)}}.  A daemon cannot log in: a token
 * that expired or that the portal refuses is EACCES, the log line saying
 * to run `aws sso login`.
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

#define CACHE_MAX (64u << 10)   /* largest token cache file read */
#define SSO_CONNECT_TIMEOUT_MS 5000
#define SSO_TIMEOUT_MS 20000

static char *get(const char *profile, const char *key, int *rc)
{
	return kfs_aws_profile_get(KFS_AWS_CONFIG_FILE, profile, key, rc);
}

/* The token cache file named by the SHA-1 of `what` (caller frees). */
static char *cache_file(const char *what)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	char rel[128];

	if (!EVP_Digest(what, strlen(what), md, &md_len, EVP_sha1(), NULL))
		return NULL;
	strcpy(rel, "~/.aws/sso/cache/");
	for (unsigned i = 0; i < md_len; i++)
		sprintf(rel + strlen(rel), "%02x", md[i]);
	strcat(rel, ".json");
	return kfs_aws_expand_home(rel);
}

/* "2026-12-07T16:00:00Z", or the older "2026-12-07T16:00:00UTC". */
static int parse_expires(const char *s, int64_t *ms)
{
	char buf[64];
	size_t n = strlen(s);

	if (n > 3 && n < sizeof(buf) && strcmp(s + n - 3, "UTC") == 0) {
		memcpy(buf, s, n - 3);
		strcpy(buf + n - 3, "Z");
		s = buf;
	}
	return kfs_creds_parse_time(s, ms);
}

/* The cached access token: 0 and *token, -EACCES (logged) when there is
 * none or it expired. */
static int cached_token(struct kfs_creds_psource *sp, const char *key,
			const char *login, char **token)
{
	char *path = cache_file(key), *text = NULL;
	cJSON *doc = NULL;
	const cJSON *t, *e;
	int64_t expires = 0;
	int rc = -EACCES;

	*token = NULL;
	if (!path)
		return -ENOMEM;
	if (kfs_creds_read_token(path, CACHE_MAX, &text) != 0) {
		kfs_warn("AWS profile '%s': no SSO token cached (%s): run `aws "
			 "sso login %s`", sp->profile, path, login);
		goto out;
	}
	doc = cJSON_Parse(text);
	t = cJSON_GetObjectItemCaseSensitive(doc, "accessToken");
	e = cJSON_GetObjectItemCaseSensitive(doc, "expiresAt");
	if (!cJSON_IsString(t) || !t->valuestring[0] || !cJSON_IsString(e) ||
	    parse_expires(e->valuestring, &expires) != 0) {
		kfs_warn("AWS profile '%s': the SSO token cache %s has no valid "
			 "accessToken and expiresAt: run `aws sso login %s`",
			 sp->profile, path, login);
		goto out;
	}
	if (expires <= kfs_clock_now(sp->clock)) {
		kfs_warn("AWS profile '%s': the SSO token expired: run `aws sso "
			 "login %s`", sp->profile, login);
		goto out;
	}
	*token = strdup(t->valuestring);
	rc = *token ? 0 : -ENOMEM;
out:
	cJSON_Delete(doc);
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	free(path);
	return rc;
}

/* The portal's URL for these account and role (caller frees). */
static int portal_url(const char *profile, const char *region,
		      const char *account, const char *role, char **url)
{
	char *ep = NULL, *esc_role;
	int rc = kfs_aws_configured_endpoint(profile, "SSO", "sso", &ep), n;

	if (rc < 0)
		return rc;
	/* Role names are [\w+=,.@-]: only '+', '=', ',' and '@' need
	 * escaping in a query. */
	esc_role = malloc(3 * strlen(role) + 1);
	if (!esc_role) {
		free(ep);
		return -ENOMEM;
	}
	{
		char *o = esc_role;
		for (const unsigned char *p = (const unsigned char *)role; *p; p++)
			o += strchr("+=,@&/?#% ", *p) ? sprintf(o, "%%%02X", *p)
						       : sprintf(o, "%c", *p);
	}
	if (ep && *ep)
		n = asprintf(url, "%s%sfederation/credentials?account_id=%s&"
			     "role_name=%s", ep,
			     ep[strlen(ep) - 1] == '/' ? "" : "/", account, esc_role);
	else
		n = asprintf(url, "https://portal.sso.%s.amazonaws.com/federation/"
			     "credentials?account_id=%s&role_name=%s", region,
			     account, esc_role);
	free(esc_role);
	free(ep);
	if (n < 0) {
		*url = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Reads {"roleCredentials": {...}}: 0, -EINVAL. */
static int parse_role_credentials(const char *body, struct kfs_aws_creds *out)
{
	cJSON *doc = cJSON_Parse(body);
	const cJSON *rc = cJSON_GetObjectItemCaseSensitive(doc, "roleCredentials");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(rc, "accessKeyId");
	const cJSON *sk = cJSON_GetObjectItemCaseSensitive(rc, "secretAccessKey");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(rc, "sessionToken");
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(rc, "expiration");
	int err = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (cJSON_IsString(id) && id->valuestring[0] && cJSON_IsString(sk) &&
	    sk->valuestring[0] && cJSON_IsString(st) && st->valuestring[0] &&
	    cJSON_IsNumber(ex) && ex->valuedouble > 0) {
		out->access_key_id = strdup(id->valuestring);
		out->secret_access_key = strdup(sk->valuestring);
		out->session_token = strdup(st->valuestring);
		out->expiry_ms = (int64_t)ex->valuedouble;
		err = out->access_key_id && out->secret_access_key &&
		      out->session_token ? 0 : -ENOMEM;
		if (err)
			kfs_aws_creds_clear(out);
	}
	cJSON_Delete(doc);
	return err;
}

static int sso_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	struct kfs_creds_psource *sp = (struct kfs_creds_psource *)p;
	int rc = 0;
	char *account = get(sp->profile, "sso_account_id", &rc);
	char *role = get(sp->profile, "sso_role_name", &rc);
	char *session = get(sp->profile, "sso_session", &rc);
	char *start = NULL, *region = NULL, *token = NULL, *url = NULL;
	char *hdr = NULL, *body = NULL, why[256], login[200];
	size_t body_len = 0;
	long status = 0;

	if (rc < 0)
		goto out;
	if (!account && !role && !session) {
		start = get(sp->profile, "sso_start_url", &rc);
		rc = rc < 0 ? rc : start ? 0 : -ENOENT;
		if (rc < 0)
			goto out;
	}
	if (!account || !role) {
		kfs_warn("AWS profile '%s': an SSO profile needs sso_account_id "
			 "and sso_role_name", sp->profile);
		rc = -EINVAL;
		goto out;
	}
	if (session) {
		rc = kfs_aws_config_section("sso-session", session,
					    "sso_start_url", &start);
		if (rc == 0)
			rc = kfs_aws_config_section("sso-session", session,
						    "sso_region", &region);
		snprintf(login, sizeof(login), "--sso-session %s", session);
	} else {
		if (!start)
			start = get(sp->profile, "sso_start_url", &rc);
		region = get(sp->profile, "sso_region", &rc);
		snprintf(login, sizeof(login), "--profile %s", sp->profile);
	}
	if (rc < 0)
		goto out;
	if (!start || !region) {
		kfs_warn("AWS profile '%s': %s%s needs sso_start_url and "
			 "sso_region", sp->profile, session ? "sso-session " : "",
			 session ? session : "the profile");
		rc = -EINVAL;
		goto out;
	}
	rc = cached_token(sp, session ? session : start, login, &token);
	if (rc == 0)
		rc = portal_url(sp->profile, region, account, role, &url);
	if (rc == 0 && asprintf(&hdr, "x-amz-sso_bearer_token: %s", token) < 0) {
		hdr = NULL;
		rc = -ENOMEM;
	}
	if (rc < 0)
		goto out;
	{
		const char *headers[] = { hdr, "Accept: application/json", NULL };
		struct kfs_creds_http_req req = {
			.method = "GET",
			.url = url,
			.headers = headers,
			.connect_timeout_ms = SSO_CONNECT_TIMEOUT_MS,
			.timeout_ms = SSO_TIMEOUT_MS,
		};

		rc = kfs_creds_http(&req, &status, &body, &body_len, why,
				    sizeof(why));
	}
	if (rc == -EIO) {
		kfs_warn("AWS credentials from SSO: the portal is unreachable: %s",
			 why);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (status == 401 || status == 403) {
		kfs_warn("AWS profile '%s': the SSO portal refused %s (HTTP %ld): "
			 "run `aws sso login %s`", sp->profile,
			 status == 401 ? "the token" : "the role", status, login);
		rc = -EACCES;
		goto out;
	}
	if (status != 200) {
		kfs_warn("AWS credentials from SSO: GetRoleCredentials answered "
			 "HTTP %ld", status);
		rc = status >= 400 && status < 500 && status != 429 ? -EACCES
								    : -EIO;
		goto out;
	}
	rc = parse_role_credentials(body, out);
	if (rc == -EINVAL)
		kfs_warn("AWS credentials from SSO: the portal's answer has no "
			 "well-formed roleCredentials");
out:
	free(account);
	free(role);
	free(session);
	free(start);
	free(region);
	free(url);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (hdr) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	if (body) {
		explicit_bzero(body, body_len);
		free(body);
	}
	return rc;
}

struct kfs_creds_provider *kfs_creds_sso_new(const char *profile,
					     struct kfs_clock *clock)
{
	return kfs_creds_profile_source_new("sso", profile, clock,
					    sso_fetch);
}
