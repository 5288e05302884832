/*
 * sts.c - what the credentials sources that call AWS STS share
 * (creds_web_identity.c, creds_assume.c): where STS is, the form of a
 * request, one call, and a strict reading of its XML answer:
 *
 *   <ACTIONResponse xmlns="...">
 *     <ACTIONResult>
 *       <Credentials>
 *         <AccessKeyId>..</AccessKeyId> <SecretAccessKey>..</SecretAccessKey>
 *         <SessionToken>..</SessionToken> <Expiration>..</Expiration>
 *       </Credentials> ...
 *
 * Each element must appear exactly once where expected, hold text only,
 * and use no entity but the five XML ones.
 */
#include "sts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "profile.h"

#define STS_CONNECT_TIMEOUT_MS 5000
#define STS_TIMEOUT_MS 20000

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

int kfs_sts_credentials(const char *xml, size_t len, const char *action,
			struct kfs_aws_creds *out)
{
	const char *resp, *result, *cr;
	size_t resp_len, result_len, cr_len;
	char tag[80], *exp = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(tag, sizeof(tag), "%sResponse", action);
	if (element(xml, len, tag, &resp, &resp_len) < 0)
		return -EINVAL;
	snprintf(tag, sizeof(tag), "%sResult", action);
	if (element(resp, resp_len, tag, &result, &result_len) < 0 ||
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

int kfs_sts_form_add(char **buf, size_t *len, const char *k, const char *v)
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

/* The Code of an STS error answer, for the log (an AWS error code is no
 * secret), or "". */
void kfs_sts_error_code(const char *xml, size_t len, char *code, size_t size)
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


/* ---- where STS is ------------------------------------------------------ */

/* The regions whose STS endpoint is the global one under
 * sts_regional_endpoints = legacy (the AWS CLI v1's default). */
static const char *const legacy_regions[] = {
	"ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
	"aws-global", "ca-central-1", "eu-central-1", "eu-north-1",
	"eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1", "us-east-1",
	"us-east-2", "us-west-1", "us-west-2", NULL,
};

/* A setting from the environment, else from the profile (caller frees). */
static char *setting(const char *profile, const char *var, const char *key)
{
	const char *e = kfs_aws_env(var);

	return e ? strdup(e) : kfs_aws_profile_value(profile, key);
}

int kfs_sts_endpoint(const char *profile, char **url, char **region)
{
	char *reg = NULL, *ep = NULL, *mode = NULL;
	int global = 0, n, rc = 0;

	*url = *region = NULL;
	reg = kfs_aws_env("AWS_REGION") ? strdup(kfs_aws_env("AWS_REGION"))
	      : setting(profile, "AWS_DEFAULT_REGION", "region");
	if (reg && !*reg) {
		free(reg);
		reg = NULL;
	}
	for (const char *c = reg; c && *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		      *c == '-')) {
			kfs_warn("AWS STS: the region is not a region name");
			rc = -EINVAL;
			goto out;
		}
	rc = kfs_aws_configured_endpoint(profile, "STS", "sts", &ep);
	if (rc < 0)
		goto out;
	if (ep) {
		*url = ep;
		ep = NULL;
		*region = strdup(reg ? reg : "us-east-1");
		goto out;
	}
	mode = setting(profile, "AWS_STS_REGIONAL_ENDPOINTS",
		       "sts_regional_endpoints");
	if (!reg) {
		global = 1;
	} else if (mode && strcasecmp(mode, "legacy") == 0) {
		for (size_t i = 0; legacy_regions[i]; i++)
			if (strcmp(reg, legacy_regions[i]) == 0)
				global = 1;
	}
	if (global || strcmp(reg, "aws-global") == 0) {
		n = asprintf(url, "https://sts.amazonaws.com/");
		*region = strdup("us-east-1");
	} else {
		n = asprintf(url, "https://sts.%s.amazonaws.com%s/", reg,
			     strncmp(reg, "cn-", 3) == 0 ? ".cn" : "");
		*region = strdup(reg);
	}
	if (n < 0)
		*url = NULL;
out:
	if (rc == 0 && (!*url || !*region))
		rc = -ENOMEM;
	if (rc < 0) {
		free(*url);
		free(*region);
		*url = *region = NULL;
	}
	free(reg);
	free(ep);
	free(mode);
	return rc;
}

/* ---- one call ---------------------------------------------------------- */

int kfs_sts_call(const char *profile, const char *what, const char *action,
		 const char *form, const struct kfs_aws_creds *sign,
		 struct kfs_aws_creds *out)
{
	char *url = NULL, *region = NULL, *body = NULL, why[256], code[64];
	const char *headers[] = {
		"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
		"Accept: text/xml",
		NULL,
	};
	size_t body_len = 0;
	long status = 0;
	int rc = kfs_sts_endpoint(profile, &url, &region);

	if (rc < 0)
		return rc;
	{
		struct kfs_creds_http_req req = {
			.method = "POST",
			.url = url,
			.headers = headers,
			.body = form,
			.connect_timeout_ms = STS_CONNECT_TIMEOUT_MS,
			.timeout_ms = STS_TIMEOUT_MS,
			.sign = sign,
			.sign_region = region,
			.sign_service = "sts",
		};

		rc = kfs_creds_http(&req, &status, &body, &body_len, why,
				    sizeof(why));
	}
	if (rc == -EIO) {
		kfs_warn("AWS credentials from %s: STS unreachable: %s", what, why);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (status != 200) {
		kfs_sts_error_code(body, body_len, code, sizeof(code));
		kfs_warn("AWS credentials from %s: STS %s answered HTTP %ld%s%s",
			 what, action, status, code[0] ? " " : "", code);
		/* Refused for good (4xx) unless it says to come back later. */
		rc = status >= 400 && status < 500 && status != 429 &&
		     !strstr(code, "Throttl") && strcmp(code, "IDPCommunicationError")
			? -EACCES : -EIO;
		goto out;
	}
	rc = kfs_sts_credentials(body, body_len, action, out);
	if (rc == -EINVAL)
		kfs_warn("AWS credentials from %s: the STS answer has no "
			 "well-formed Credentials (AccessKeyId, SecretAccessKey, "
			 "SessionToken, Expiration)", what);
out:
	free(url);
	free(region);
	if (body) {
		explicit_bzero(body, body_len);
		free(body);
	}
	return rc;
}
