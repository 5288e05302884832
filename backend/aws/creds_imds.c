/*
 * creds_imds.c - the EC2 instance's role, from the instance metadata
 * service, IMDSv2 only:
 *
 *   PUT /latest/api/token  (X-aws-ec2-metadata-token-ttl-seconds: 21600)
 *   GET /latest/meta-data/iam/security-credentials/        -> the role name
 *   GET /latest/meta-data/iam/security-credentials/ROLE    -> JSON
 *   (both GETs with X-aws-ec2-metadata-token)
 *
 * The endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT, else
 * http://169.254.169.254; AWS_EC2_METADATA_DISABLED=true turns the source
 * off.  The default endpoint being unreachable means "not on EC2" (the
 * source is not configured) until it has answered once; an endpoint named
 * in the environment, or one that answered before, is configured, and
 * being unreachable is then an error.
 */
#include "creds.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"

#define IMDS_DEFAULT "http://169.254.169.254"
#define CONNECT_TIMEOUT_MS 1000
#define TIMEOUT_MS 5000
#define CREDS_PATH "/latest/meta-data/iam/security-credentials/"

struct imds_provider {
	struct kfs_creds_provider base;
	int answered;           /* the endpoint answered once: it exists */
};

/* One exchange; 0 with *status and *body, or -EIO (logged, or said at
 * debug level when the source is not known to exist) / -ENOMEM. */
static int call(const char *method, const char *base, const char *path,
		const char *header, int quiet, long *status, char **body,
		size_t *len)
{
	const char *headers[] = { header, NULL };
	char *url, why[256];
	int rc;

	if (asprintf(&url, "%s%s", base, path) < 0)
		return -ENOMEM;
	{
		struct kfs_creds_http_req req = {
			.method = method,
			.url = url,
			.headers = headers,
			.body = strcmp(method, "PUT") == 0 ? "" : NULL,
			.connect_timeout_ms = CONNECT_TIMEOUT_MS,
			.timeout_ms = TIMEOUT_MS,
			.no_proxy = 1,
		};

		rc = kfs_creds_http(&req, status, body, len, why, sizeof(why));
	}
	free(url);
	if (rc == -EIO) {
		if (quiet)
			kfs_debug("AWS credentials: no instance metadata service "
				  "(%s)", why);
		else
			kfs_warn("AWS credentials from the instance metadata "
				 "service: unreachable: %s", why);
	}
	return rc;
}

static void free_body(char *b, size_t len)
{
	if (b) {
		explicit_bzero(b, len);
		free(b);
	}
}

/* 1 when s is an IAM role name ([A-Za-z0-9+=,.@_-]{1,64}). */
static int role_name(const char *s, size_t n)
{
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("+=,.@_-", s[i])))
			return 0;
	return 1;
}

static int imds_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	struct imds_provider *ip = (struct imds_provider *)p;
	const char *off = getenv("AWS_EC2_METADATA_DISABLED");
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	char *base, *body = NULL, *hdr = NULL, path[128];
	size_t len = 0, n;
	long status = 0;
	int rc, configured;
	cJSON *doc;
	const cJSON *code;

	if (off && strcasecmp(off, "true") == 0)
		return -ENOENT;
	configured = (ep && *ep) || ip->answered;
	base = strdup(ep && *ep ? ep : IMDS_DEFAULT);
	if (!base)
		return -ENOMEM;
	for (n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
		base[n - 1] = '\0';

	rc = call("PUT", base, "/latest/api/token",
		  "X-aws-ec2-metadata-token-ttl-seconds: 21600", !configured,
		  &status, &body, &len);
	if (rc == -EIO && !configured)
		rc = -ENOENT;
	if (rc < 0)
		goto out;
	ip->answered = 1;
	if (status != 200 || !len || strpbrk(body, "\r\n") || memchr(body, 0, len)) {
		kfs_warn("AWS credentials from the instance metadata service: "
			 "no IMDSv2 session token (HTTP %ld)", status);
		rc = status == 200 ? -EINVAL : -EIO;
		goto out;
	}
	if (asprintf(&hdr, "X-aws-ec2-metadata-token: %s", body) < 0) {
		hdr = NULL;
		rc = -ENOMEM;
		goto out;
	}
	free_body(body, len);
	body = NULL;

	rc = call("GET", base, CREDS_PATH, hdr, 0, &status, &body, &len);
	if (rc < 0)
		goto out;
	if (status == 404) {
		kfs_info("AWS credentials: this instance has no IAM role");
		rc = -ENOENT;
		goto out;
	}
	n = strcspn(body, "\r\n");
	if (status != 200 || !role_name(body, n)) {
		kfs_warn("AWS credentials from the instance metadata service: "
			 "no role name (HTTP %ld)", status);
		rc = status == 200 ? -EINVAL : -EIO;
		goto out;
	}
	snprintf(path, sizeof(path), CREDS_PATH "%.*s", (int)n, body);
	free_body(body, len);
	body = NULL;

	rc = call("GET", base, path, hdr, 0, &status, &body, &len);
	if (rc < 0)
		goto out;
	if (status != 200) {
		kfs_warn("AWS credentials from the instance metadata service: "
			 "the role's credentials: HTTP %ld", status);
		rc = -EIO;
		goto out;
	}
	doc = cJSON_ParseWithLength(body, len);
	code = cJSON_GetObjectItemCaseSensitive(doc, "Code");
	if (code && (!cJSON_IsString(code) || strcmp(code->valuestring, "Success"))) {
		kfs_warn("AWS credentials from the instance metadata service: "
			 "the answer's Code is not Success");
		rc = -EIO;
	} else {
		rc = kfs_creds_from_json(body, len, "Token", 1,
					 "the instance metadata service", out);
	}
	cJSON_Delete(doc);
out:
	free_body(body, len);
	free_body(hdr, hdr ? strlen(hdr) : 0);
	free(base);
	return rc;
}

static void imds_destroy(struct kfs_creds_provider *p)
{
	free(p);
}

struct kfs_creds_provider *kfs_creds_imds_new(void)
{
	struct imds_provider *ip = calloc(1, sizeof(*ip));

	if (!ip)
		return NULL;
	ip->base.name = "imds";
	ip->base.fetch = imds_fetch;
	ip->base.destroy = imds_destroy;
	return &ip->base;
}
