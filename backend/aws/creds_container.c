/*
 * creds_container.c - the container credentials endpoint (ECS task roles,
 * EKS Pod Identity, and anything that speaks the same: a GET answered by
 * {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}).
 *
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is a path on http://169.254.170.2;
 * else AWS_CONTAINER_CREDENTIALS_FULL_URI is the whole URL, which must be
 * https://, or http:// to a loopback address or one of the ECS/EKS
 * link-local hosts, as the AWS SDKs require.  The Authorization header
 * comes from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at each fetch:
 * it is rotated) else AWS_CONTAINER_AUTHORIZATION_TOKEN.
 */
#include "creds.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"

#define ECS_HOST "http://169.254.170.2"
#define CONNECT_TIMEOUT_MS 1000
#define TIMEOUT_MS 5000
#define TOKEN_MAX (16u << 10)

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* 1 when plain http to this host is allowed: loopback, or the ECS/EKS
 * credential hosts. */
static int http_host_allowed(const char *host)
{
	unsigned char a4[4], a6[16], want[16];

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a4) == 1)
		return a4[0] == 127 || strcmp(host, "169.254.170.2") == 0 ||
		       strcmp(host, "169.254.170.23") == 0;
	if (inet_pton(AF_INET6, host, a6) != 1)
		return 0;
	if (inet_pton(AF_INET6, "::1", want) == 1 && memcmp(a6, want, 16) == 0)
		return 1;
	return inet_pton(AF_INET6, "fd00:ec2::23", want) == 1 &&
	       memcmp(a6, want, 16) == 0;
}

/* Checks a FULL_URI: 0, or -EINVAL with the reason logged. */
static int check_full_uri(const char *uri)
{
	const char *h, *end;
	char host[256];
	size_t n;

	if (strncasecmp(uri, "https://", 8) == 0)
		h = uri + 8;
	else if (strncasecmp(uri, "http://", 7) == 0)
		h = uri + 7;
	else
		goto bad;
	if (*h == '[') {
		end = strchr(h, ']');
		if (!end)
			goto bad;
		h++;
		n = (size_t)(end - h);
		end++;
		if (*end && !strchr(":/?#", *end))
			goto bad;
	} else {
		n = strcspn(h, ":/?#");
		end = h + n;
	}
	if (n == 0 || n >= sizeof(host) || memchr(h, '@', strcspn(h, "/?#")) ||
	    strpbrk(uri, " \t\r\n"))
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strncasecmp(uri, "http://", 7) == 0 && !http_host_allowed(host)) {
		kfs_warn("AWS credentials from the container endpoint: "
			 "AWS_CONTAINER_CREDENTIALS_FULL_URI is plain http to a host "
			 "that is neither loopback nor an ECS/EKS credentials host; "
			 "use https");
		return -EINVAL;
	}
	return 0;
bad:
	kfs_warn("AWS credentials from the container endpoint: "
		 "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http:// or "
		 "https:// URL of a host");
	return -EINVAL;
}

static int container_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tfile = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tenv = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *headers[2] = { NULL, NULL };
	char *url = NULL, *token = NULL, *auth = NULL, *body = NULL, why[256];
	size_t body_len = 0;
	long status = 0;
	int rc;

	(void)p;
	if (rel) {
		if (rel[0] != '/' || strpbrk(rel, " \t\r\n")) {
			kfs_warn("AWS credentials from the container endpoint: "
				 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not a "
				 "path starting with '/'");
			return -EINVAL;
		}
		if (asprintf(&url, ECS_HOST "%s", rel) < 0)
			return -ENOMEM;
	} else if (full) {
		rc = check_full_uri(full);
		if (rc < 0)
			return rc;
		url = strdup(full);
		if (!url)
			return -ENOMEM;
	} else {
		return -ENOENT;
	}
	if (tfile) {
		rc = kfs_creds_read_token(tfile, TOKEN_MAX, &token);
		if (rc < 0) {
			kfs_warn("AWS credentials from the container endpoint: "
				 "cannot use AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %s",
				 rc == -EINVAL ? "empty or not one line" : strerror(-rc));
			rc = rc == -ENOMEM ? -ENOMEM : rc == -EACCES ? -EACCES
				: rc == -EINVAL || rc == -EFBIG ? -EINVAL : -EIO;
			goto out;
		}
	} else if (tenv) {
		if (strpbrk(tenv, "\r\n")) {
			kfs_warn("AWS credentials from the container endpoint: "
				 "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break");
			rc = -EINVAL;
			goto out;
		}
		token = strdup(tenv);
		if (!token) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (token) {
		if (asprintf(&auth, "Authorization: %s", token) < 0) {
			auth = NULL;
			rc = -ENOMEM;
			goto out;
		}
		headers[0] = auth;
	}
	{
		struct kfs_creds_http_req req = {
			.method = "GET",
			.url = url,
			.headers = headers,
			.connect_timeout_ms = CONNECT_TIMEOUT_MS,
			.timeout_ms = TIMEOUT_MS,
			.no_proxy = 1,
		};

		rc = kfs_creds_http(&req, &status, &body, &body_len, why,
				    sizeof(why));
	}
	if (rc == -EIO) {
		kfs_warn("AWS credentials from the container endpoint (%s): "
			 "unreachable: %s", rel ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
			 : "AWS_CONTAINER_CREDENTIALS_FULL_URI", why);
		goto out;
	}
	if (rc < 0)
		goto out;
	if (status != 200) {
		kfs_warn("AWS credentials from the container endpoint: HTTP %ld",
			 status);
		rc = status >= 400 && status < 500 && status != 429 ? -EACCES : -EIO;
		goto out;
	}
	rc = kfs_creds_from_json(body, body_len, "Token", 0,
				 "the container endpoint", out);
out:
	free(url);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (body) {
		explicit_bzero(body, body_len);
		free(body);
	}
	return rc;
}

static void container_destroy(struct kfs_creds_provider *p)
{
	free(p);
}

struct kfs_creds_provider *kfs_creds_container_new(void)
{
	struct kfs_creds_provider *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->name = "container";
	p->fetch = container_fetch;
	p->destroy = container_destroy;
	return p;
}
