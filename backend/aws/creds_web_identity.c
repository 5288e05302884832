/*
 * creds_web_identity.c - web identity: a token file (from Kubernetes, an
 * OIDC provider) exchanged for temporary credentials by an unsigned STS
 * AssumeRoleWithWebIdentity call.
 *
 * Configured by the profile's role_arn + web_identity_token_file (and
 * role_session_name), else by AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 * (and AWS_ROLE_SESSION_NAME).  The token file is read at each fetch: it is
 * rotated under us.  STS is AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL,
 * else the region's (AWS_REGION, AWS_DEFAULT_REGION, the profile's region),
 * else the global https://sts.amazonaws.com.  Its answer is XML:
 *
 *   <AssumeRoleWithWebIdentityResponse xmlns="...">
 *     <AssumeRoleWithWebIdentityResult>
 *       <Credentials>
 *         <AccessKeyId>..</AccessKeyId> <SecretAccessKey>..</SecretAccessKey>
 *         <SessionToken>..</SessionToken> <Expiration>..</Expiration>
 *       </Credentials> ...
 *
 * read by a strict extractor: each element must appear exactly once where
 * expected, hold text only, and use no entity but the five XML ones.
 */
#include "creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/util.h"
#include "profile.h"

#define TOKEN_MAX (64u << 10)        /* longest web identity token */
#define STS_CONNECT_TIMEOUT_MS 5000
#define STS_TIMEOUT_MS 20000

struct wi_provider {
	struct kfs_creds_provider base;
	char *profile;          /* profile name; fixed */
	struct kfs_clock *clock;/* of made-up session names (borrowed); fixed */
	int warned_role;        /* said once that a role_arn alone is unsupported */
};

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* ---- the XML answer --------------------------------------------------- */

/* The content of the one element `tag` in s[0..len): 0, -ENOENT when
 * absent, -EINVAL when repeated or unclosed. */
static int element(const char *s, size_t len, const char *tag,
		   const char **inner, size_t *inner_len)
{
	char open[80], close[80];
	const char *at = NULL, *p = s, *end = s + len, *body, *stop;
	size_t ol, cl;

	ol = (size_t)snprintf(open, sizeof(open), "<%s", tag);
	cl = (size_t)snprintf(close, sizeof(close), "</%s>", tag);
	while ((p = memmem(p, (size_t)(end - p), open, ol))) {
		char after = p + ol < end ? p[ol] : '\0';

		if (after == '>' || after == ' ' || after == '\t' ||
		    after == '\r' || after == '\n') {
			if (at)
				return -EINVAL;
			at = p;
		}
		p += ol;
	}
	if (!at)
		return -ENOENT;
	body = memchr(at, '>', (size_t)(end - at));
	if (!body || body[-1] == '/')
		return -EINVAL;
	body++;
	stop = memmem(body, (size_t)(end - body), close, cl);
	if (!stop)
		return -EINVAL;
	*inner = body;
	*inner_len = (size_t)(stop - body);
	return 0;
}

/* The text of the one element `tag` of s[0..len), entities decoded and
 * surrounding whitespace dropped: 0 and *out (caller frees), -EINVAL. */
static int element_text(const char *s, size_t len, const char *tag, char **out)
{
	static const struct { const char *name; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' },
	};
	const char *in;
	size_t n, o = 0;
	char *buf;

	if (element(s, len, tag, &in, &n) < 0)
		return -EINVAL;
	while (n && strchr(" \t\r\n", *in)) {
		in++;
		n--;
	}
	while (n && strchr(" \t\r\n", in[n - 1]))
		n--;
	if (!n || memchr(in, '<', n) || memchr(in, '\0', n))
		return -EINVAL;
	buf = malloc(n + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n;) {
		size_t k;

		if (in[i] != '&') {
			buf[o++] = in[i++];
			continue;
		}
		for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
			size_t el = strlen(ents[k].name);

			if (n - i >= el && memcmp(in + i, ents[k].name, el) == 0) {
				buf[o++] = ents[k].c;
				i += el;
				break;
			}
		}
		if (k == sizeof(ents) / sizeof(ents[0])) {
			explicit_bzero(buf, n + 1);
			free(buf);
			return -EINVAL;
		}
	}
	buf[o] = '\0';
	*out = buf;
	return 0;
}

/* Reads the credentials of an AssumeRoleWithWebIdentity answer. */
static int parse_answer(const char *xml, size_t len, struct kfs_aws_creds *out)
{
	const char *resp, *result, *cr;
	size_t resp_len, result_len, cr_len;
	char *exp = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (element(xml, len, "AssumeRoleWithWebIdentityResponse", &resp,
		    &resp_len) < 0 ||
	    element(resp, resp_len, "AssumeRoleWithWebIdentityResult", &result,
		    &result_len) < 0 ||
	    element(result, result_len, "Credentials", &cr, &cr_len) < 0)
		return -EINVAL;
	rc = element_text(cr, cr_len, "AccessKeyId", &out->access_key_id);
	if (rc == 0)
		rc = element_text(cr, cr_len, "SecretAccessKey",
				  &out->secret_access_key);
	if (rc == 0)
		rc = element_text(cr, cr_len, "SessionToken", &out->session_token);
	if (rc == 0)
		rc = element_text(cr, cr_len, "Expiration", &exp);
	if (rc == 0 && kfs_creds_parse_time(exp, &out->expiry_ms) < 0)
		rc = -EINVAL;
	free(exp);
	if (rc < 0)
		kfs_aws_creds_clear(out);
	return rc;
}

/* ---- the request ------------------------------------------------------ */

/* Appends k=urlencode(v) to the form in buf; 0 or -ENOMEM. */
static int form_add(char **buf, size_t *len, const char *k, const char *v)
{
	size_t need = *len + strlen(k) + 2 + 3 * strlen(v) + 1;
	char *b = malloc(need), *o;

	if (!b)
		return -ENOMEM;
	if (*buf) {
		memcpy(b, *buf, *len);
		explicit_bzero(*buf, *len);   /* the form carries the token */
		free(*buf);
	}
	o = b + *len;
	o += sprintf(o, "%s%s=", *len ? "&" : "", k);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
			*o++ = (char)*p;
		else
			o += sprintf(o, "%%%02X", *p);
	}
	*o = '\0';
	*buf = b;
	*len = (size_t)(o - b);
	return 0;
}

/* The STS URL: 0 and *url (caller frees), or -ENOMEM. */
static int sts_url(const char *profile, char **url)
{
	const char *ep = NULL, *ign = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	const char *region = env("AWS_REGION");
	char *pv = NULL;
	int n;

	if (!ign || strcasecmp(ign, "true") != 0) {
		ep = env("AWS_ENDPOINT_URL_STS");
		if (!ep)
			ep = env("AWS_ENDPOINT_URL");
	}
	if (ep) {
		*url = strdup(ep);
		return *url ? 0 : -ENOMEM;
	}
	if (!region)
		region = env("AWS_DEFAULT_REGION");
	if (!region)
		region = pv = kfs_aws_profile_value(profile, "region");
	if (region && *region) {
		for (const char *c = region; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
			      *c == '-')) {
				free(pv);
				kfs_warn("AWS credentials from web identity: the "
					 "region is not a region name");
				return -EINVAL;
			}
		n = asprintf(url, "https://sts.%s.amazonaws.com%s/", region,
			     strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
	} else {
		n = asprintf(url, "https://sts.amazonaws.com/");
	}
	free(pv);
	if (n < 0) {
		*url = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* The Code of an STS error answer, for the log (an AWS error code is no
 * secret), or "". */
static void error_code(const char *xml, size_t len, char *code, size_t size)
{
	const char *err, *c;
	size_t el, cl;

	code[0] = '\0';
	if (element(xml, len, "Error", &err, &el) == 0 &&
	    element(err, el, "Code", &c, &cl) == 0 && cl < size) {
		for (size_t i = 0; i < cl; i++)
			if (!((c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= 'a' && c[i] <= 'z') ||
			      (c[i] >= '0' && c[i] <= '9') || c[i] == '.' || c[i] == '_'))
				return;
		memcpy(code, c, cl);
		code[cl] = '\0';
	}
}

static int wi_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	struct wi_provider *wp = (struct wi_provider *)p;
	char *role = NULL, *file = NULL, *session = NULL, *token = NULL;
	char *url = NULL, *form = NULL, *body = NULL, why[256], code[64];
	const char *from, *e_role, *e_file;
	size_t form_len = 0, body_len = 0;
	long status = 0;
	int rc;

	rc = kfs_aws_profile_lookup(KFS_AWS_BOTH_FILES, wp->profile, "role_arn",
				    &role);
	if (rc == 0)
		rc = kfs_aws_profile_lookup(KFS_AWS_BOTH_FILES, wp->profile,
					    "web_identity_token_file", &file);
	if (rc < 0)
		goto out;
	if (role && *role && file && *file) {
		from = "the profile's web_identity_token_file";
		rc = kfs_aws_profile_lookup(KFS_AWS_BOTH_FILES, wp->profile,
					    "role_session_name", &session);
		if (rc < 0)
			goto out;
	} else {
		if (role && *role && !wp->warned_role) {
			kfs_warn("AWS profile '%s' has a role_arn without a "
				 "web_identity_token_file: kinesisfs does not "
				 "assume roles from source_profile or "
				 "credential_source; ignored", wp->profile);
			wp->warned_role = 1;
		}
		free(role);
		free(file);
		role = file = NULL;
		e_role = env("AWS_ROLE_ARN");
		e_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
		if (!e_role || !e_file) {
			rc = -ENOENT;
			goto out;
		}
		from = "AWS_WEB_IDENTITY_TOKEN_FILE";
		role = strdup(e_role);
		file = strdup(e_file);
		if (env("AWS_ROLE_SESSION_NAME"))
			session = strdup(env("AWS_ROLE_SESSION_NAME"));
		if (!role || !file || (env("AWS_ROLE_SESSION_NAME") && !session)) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (!session || !*session) {
		free(session);
		if (asprintf(&session, "kinesisfs-%lld",
			     (long long)kfs_clock_now(wp->clock)) < 0) {
			session = NULL;
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = kfs_creds_read_token(file, TOKEN_MAX, &token);
	if (rc < 0) {
		kfs_warn("AWS credentials from web identity: cannot use the token "
			 "file (%s): %s", from, rc == -EINVAL ? "empty or not one line"
			 : strerror(-rc));
		rc = rc == -ENOMEM ? -ENOMEM : rc == -EACCES ? -EACCES
			: rc == -EINVAL || rc == -EFBIG ? -EINVAL : -EIO;
		goto out;
	}
	rc = sts_url(wp->profile, &url);
	if (rc == 0)
		rc = form_add(&form, &form_len, "Action", "AssumeRoleWithWebIdentity");
	if (rc == 0)
		rc = form_add(&form, &form_len, "Version", "2011-06-15");
	if (rc == 0)
		rc = form_add(&form, &form_len, "RoleArn", role);
	if (rc == 0)
		rc = form_add(&form, &form_len, "RoleSessionName", session);
	if (rc == 0)
		rc = form_add(&form, &form_len, "WebIdentityToken", token);
	if (rc < 0)
		goto out;
	{
		const char *headers[] = {
			"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
			"Accept: text/xml",
			NULL,
		};
		struct kfs_creds_http_req req = {
			.method = "POST",
			.url = url,
			.headers = headers,
			.body = form,
			.connect_timeout_ms = STS_CONNECT_TIMEOUT_MS,
			.timeout_ms = STS_TIMEOUT_MS,
		};

		rc = kfs_creds_http(&req, &status, &body, &body_len, why,
				    sizeof(why));
	}
	if (rc == -EIO) {
		kfs_warn("AWS credentials from web identity: STS unreachable: %s",
			 why);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (status != 200) {
		error_code(body, body_len, code, sizeof(code));
		kfs_warn("AWS credentials from web identity: STS "
			 "AssumeRoleWithWebIdentity answered HTTP %ld%s%s", status,
			 code[0] ? " " : "", code);
		/* Refused for good (4xx) unless it says to come back later. */
		rc = status >= 400 && status < 500 && status != 429 &&
		     !strstr(code, "Throttl") && strcmp(code, "IDPCommunicationError")
			? -EACCES : -EIO;
		goto out;
	}
	rc = parse_answer(body, body_len, out);
	if (rc == -EINVAL)
		kfs_warn("AWS credentials from web identity: the STS answer has no "
			 "well-formed Credentials (AccessKeyId, SecretAccessKey, "
			 "SessionToken, Expiration)");
out:
	free(role);
	free(file);
	free(session);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	free(url);
	if (form) {
		explicit_bzero(form, form_len);
		free(form);
	}
	if (body) {
		explicit_bzero(body, body_len);
		free(body);
	}
	return rc;
}

static void wi_destroy(struct kfs_creds_provider *p)
{
	struct wi_provider *wp = (struct wi_provider *)p;

	free(wp->profile);
	free(wp);
}

struct kfs_creds_provider *kfs_creds_web_identity_new(const char *profile,
						      struct kfs_clock *clock)
{
	struct wi_provider *wp = calloc(1, sizeof(*wp));

	if (!wp)
		return NULL;
	wp->profile = strdup(profile);
	if (!wp->profile) {
		free(wp);
		return NULL;
	}
	wp->clock = clock;
	wp->base.name = "web-identity";
	wp->base.fetch = wi_fetch;
	wp->base.destroy = wi_destroy;
	return &wp->base;
}
