/* http.c - helpers shared by every HTTP client; see http.h. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kfs_http_free(struct kfs_http *h)
{
	if (!h)
		return;
	if (h->ops && h->ops->destroy)
		h->ops->destroy(h->impl);
	free(h);
}

int kfs_http_send(struct kfs_http *h, const struct kfs_http_request *req,
		  struct kfs_http_response *resp)
{
	return h->ops->send(h->impl, req, resp);
}

void kfs_http_response_clear(struct kfs_http_response *resp)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		free(resp->headers[i]);
	free(resp->headers);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

const char *kfs_http_response_header(const struct kfs_http_response *resp,
				     const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < resp->n_headers; i++) {
		const char *h = resp->headers[i];
		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ' || *h == '\t')
				h++;
			return h;
		}
	}
	return NULL;
}

int kfs_http_response_add_header(struct kfs_http_response *resp,
				 const char *line, size_t len)
{
	char **v, *s;

	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
		       line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (!len)
		return 0;
	v = realloc(resp->headers, (resp->n_headers + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	resp->headers = v;
	s = malloc(len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, line, len);
	s[len] = '\0';
	v[resp->n_headers++] = s;
	return 0;
}

int kfs_http_response_set_body(struct kfs_http_response *resp,
			       const void *body, size_t len)
{
	char *b = malloc(len + 1);

	if (!b)
		return -ENOMEM;
	if (len)
		memcpy(b, body, len);
	b[len] = '\0';
	free(resp->body);
	resp->body = b;
	resp->body_len = len;
	return 0;
}

int kfs_http_headers_valid(const char *const *headers)
{
	for (size_t i = 0; headers && headers[i]; i++) {
		const char *h = headers[i], *colon = strchr(h, ':'), *v;

		if (!colon || colon == h || strpbrk(h, "\r\n"))
			return 0;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (!*v)
			return 0;
	}
	return 1;
}
