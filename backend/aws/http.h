/*
 * http.h - the HTTP client of the AWS backend: one request in, one answer
 * out.  A table of operations plus an opaque pointer, so that the daemon
 * uses libcurl (http_curl.c) and tests plug in scripted answers.  Both the
 * Kinesis calls and the credential sources (STS, the container endpoint,
 * IMDS) go through it.
 *
 * Signing: a request that carries `sign` is signed with AWS SigV4 by the
 * implementation (libcurl's CURLOPT_AWS_SIGV4), and its session token, if
 * any, is sent as X-Amz-Security-Token and signed too.  Every header the
 * caller gives is signed as given; an implementation must send exactly the
 * headers it signs, which is why a header with an empty value (curl's way
 * of removing one, e.g. "Expect:") is refused with -EINVAL: libcurl 7.88
 * signs such an entry but does not send it, and the signature breaks.
 */
#ifndef KFS_AWS_HTTP_H
#define KFS_AWS_HTTP_H

#include <stddef.h>

#define KFS_HTTP_CONNECT_TIMEOUT_MS 5000   /* default connect timeout */
#define KFS_HTTP_TIMEOUT_MS 30000          /* default for the whole exchange */
#define KFS_HTTP_BODY_MAX (64u << 20)      /* longest answer body accepted */

/* What a SigV4 signature needs; all strings borrowed for the call. */
struct kfs_http_sigv4 {
	const char *region;             /* e.g. "us-east-1", always explicit */
	const char *service;            /* e.g. "kinesis" */
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;      /* NULL for long-term credentials */
};

/* One request; everything borrowed for the call. */
struct kfs_http_request {
	const char *method;             /* "GET", "POST" or "PUT" */
	const char *url;                /* http:// or https:// */
	const char *const *headers;     /* "Name: value" lines, NULL-ended, or NULL */
	const void *body;               /* request body, or NULL */
	size_t body_len;                /* its length */
	const struct kfs_http_sigv4 *sign; /* NULL: sent unsigned */
	int timeout_ms;                 /* whole exchange; 0: KFS_HTTP_TIMEOUT_MS */
	int connect_timeout_ms;         /* 0: KFS_HTTP_CONNECT_TIMEOUT_MS */
	/*
	 * An answer that streams (SubscribeToShard): when on_data is set,
	 * the body of a 200 answer is handed to it as it comes instead of
	 * being kept (any other status's body is kept in resp->body, to say
	 * why); HTTP/2 is asked for (over TLS by ALPN, over http:// with
	 * prior knowledge); the exchange has no bound but a silence of
	 * idle_ms.  A non-zero return from on_data ends the transfer and
	 * send returns it.
	 */
	int (*on_data)(void *arg, const void *p, size_t n);
	void *on_data_arg;
	int idle_ms;                    /* streaming: longest silence */
};

/* One answer; what it holds is owned and freed by kfs_http_response_clear. */
struct kfs_http_response {
	long status;                    /* HTTP status of the final answer */
	char *body;                     /* NUL-terminated (NUL not counted) */
	size_t body_len;                /* bytes of body */
	char **headers;                 /* "name: value" lines of the final answer */
	size_t n_headers;               /* entries of headers */
	char error[256];                /* why send failed; never a secret */
	int sent;                       /* 1 when the request may have reached the
					 * server (a failure after connecting) */
};

struct kfs_http_ops {
	/*
	 * Sends one request and waits for its answer.  Returns 0 when an
	 * answer arrived, whatever its status, or -errno when none did:
	 * -ECONNREFUSED (could not connect), -ETIMEDOUT, -ECONNRESET (the
	 * connection broke), -EHOSTUNREACH (name not resolved), -EPROTO (TLS
	 * or protocol failure), -EINVAL (a bad request), -EMSGSIZE (the
	 * answer is longer than KFS_HTTP_BODY_MAX: refused as soon as its
	 * Content-Length says so, else once that much has come), -ENOMEM,
	 * -EIO.
	 * resp is filled either way (error says why) and must be cleared
	 * by the caller.  Safe to call from many threads at once.
	 */
	int (*send)(void *impl, const struct kfs_http_request *req,
		    struct kfs_http_response *resp);
	void (*destroy)(void *impl);
};

struct kfs_http {
	const struct kfs_http_ops *ops;
	void *impl;
};

/*
 * The libcurl client: a pool of easy handles, each used by one thread at
 * a time and kept for its connections; TLS verification on, with the CA
 * bundle of AWS_CA_BUNDLE when set.  Calls curl_global_init, so make it
 * before starting threads that use libcurl.  *out is freed with
 * kfs_http_free.
 */
int kfs_http_curl_new(struct kfs_http **out);

/* Frees a client; NULL is a no-op. */
void kfs_http_free(struct kfs_http *h);

/* Shorthand for h->ops->send. */
int kfs_http_send(struct kfs_http *h, const struct kfs_http_request *req,
		  struct kfs_http_response *resp);

/* Frees what resp owns and zeroes it. */
void kfs_http_response_clear(struct kfs_http_response *resp);

/* The value of header `name` (any case) in resp, or NULL; borrowed from
 * resp. */
const char *kfs_http_response_header(const struct kfs_http_response *resp,
				     const char *name);

/* Helpers for implementations: append a header line "name: value" (the
 * line is copied), and set the body (copied, NUL-terminated).  0 or
 * -ENOMEM. */
int kfs_http_response_add_header(struct kfs_http_response *resp,
				 const char *line, size_t len);
int kfs_http_response_set_body(struct kfs_http_response *resp,
			       const void *body, size_t len);

/* 1 when every header line has a name, a colon and a non-empty value and
 * no CR or LF (what http.h asks of callers), else 0. */
int kfs_http_headers_valid(const char *const *headers);

#endif
