/*
 * http_curl.c - the libcurl implementation of http.h.
 *
 * Easy handles live in a pool: a request takes an idle one (or makes one),
 * uses it alone, and gives it back, so that its connections are reused by
 * the next request and no handle is ever used by two threads at once.  Each
 * request starts from curl_easy_reset(), which keeps the live connections
 * but forgets every option of the previous request, credentials included.
 *
 * Signing is libcurl's CURLOPT_AWS_SIGV4.  libcurl 7.88 signs every header
 * of CURLOPT_HTTPHEADER as given, plus Host and the X-Amz-Date it adds from
 * the system clock (the backend's clock does not reach the signature:
 * given an X-Amz-Date of ours in a Kinesis call, libcurl sends its own
 * too, which test_sigv4 catches); the
 * payload hash is that of CURLOPT_POSTFIELDS, which is why bodies are always
 * given that way (never through a read callback).  Headers libcurl adds on
 * its own (Content-Length, Accept, User-Agent, and "Expect: 100-continue"
 * for bodies over 1 MiB) are sent unsigned, which SigV4 allows: only the
 * headers named in SignedHeaders are checked.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/cancel.h"
#include "lib/log.h"

#define POOL_IDLE_MAX 16        /* idle handles kept for their connections */

struct curl_pool {
	pthread_mutex_t lock;   /* protects idle and n_idle */
	CURL *idle[POOL_IDLE_MAX]; /* handles not in use; protected by lock */
	size_t n_idle;          /* entries of idle; protected by lock */
	char *ca_bundle;        /* fixed: AWS_CA_BUNDLE when set, else NULL */
};

/* What the write and header callbacks fill during one request. */
struct sink {
	struct kfs_http_response *resp; /* where headers go */
	const struct kfs_http_request *req; /* its on_data, when it streams */
	CURL *h;                        /* the transfer (its status) */
	int stopped;                    /* on_data's non-zero answer */
	char *buf;                      /* body so far */
	size_t len, cap;                /* its length and allocation */
	int too_big;                    /* the body passed KFS_HTTP_BODY_MAX */
	int nomem;                      /* an allocation failed */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->req->on_data) {
		long status = 0;

		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200) {
			s->stopped = s->req->on_data(s->req->on_data_arg, data, n);
			return s->stopped ? 0 : n;
		}
	}
	if (s->len + n > KFS_HTTP_BODY_MAX) {
		s->too_big = 1;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		char *b;

		while (cap < s->len + n + 1)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b) {
			s->nomem = 1;
			return 0;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new answer (after a 100 Continue): forget the interim
		 * one's headers. */
		for (size_t i = 0; i < s->resp->n_headers; i++)
			free(s->resp->headers[i]);
		s->resp->n_headers = 0;
		return n;
	}
	if (n > 15 && strncasecmp(data, "Content-Length:", 15) == 0 &&
	    strtoull(data + 15, NULL, 10) > KFS_HTTP_BODY_MAX) {
		/* Told up front: refuse it before receiving any of it. */
		s->too_big = 1;
		return 0;
	}
	if (memchr(data, ':', n) &&
	    kfs_http_response_add_header(s->resp, data, n) < 0) {
		s->nomem = 1;
		return 0;
	}
	return n;
}

static CURL *pool_get(struct curl_pool *p)
{
	CURL *h = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->n_idle)
		h = p->idle[--p->n_idle];
	pthread_mutex_unlock(&p->lock);
	return h ? h : curl_easy_init();
}

static void pool_put(struct curl_pool *p, CURL *h)
{
	/* Drop the request's options (credentials among them) now rather
	 * than when the handle is next used. */
	curl_easy_reset(h);
	pthread_mutex_lock(&p->lock);
	if (p->n_idle < POOL_IDLE_MAX) {
		p->idle[p->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (h)
		curl_easy_cleanup(h);
}

/* libcurl's result as -errno. */
static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
		return -EPROTO;
	case CURLE_ABORTED_BY_CALLBACK:
		return -EINTR;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	(void)data; (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
	return kfs_cancelled();
}

static int curl_send(void *impl, const struct kfs_http_request *req,
		     struct kfs_http_response *resp)
{
	struct curl_pool *p = impl;
	struct sink sink = { .resp = resp, .req = req };
	struct curl_slist *hl = NULL, *t;
	char errbuf[CURL_ERROR_SIZE] = "", sigv4[160], *token_hdr = NULL;
	const char *body = req->body ? req->body : "";
	long status = 0;
	curl_off_t sent_bytes = 0;
	CURLcode rc = CURLE_OK;
	CURL *h;
	int err = 0;

	memset(resp, 0, sizeof(*resp));
	if (!kfs_http_headers_valid(req->headers)) {
		snprintf(resp->error, sizeof(resp->error),
			 "a request header has no value");
		return -EINVAL;
	}
	if (strcmp(req->method, "GET") == 0 && req->body_len) {
		snprintf(resp->error, sizeof(resp->error), "a GET with a body");
		return -EINVAL;
	}
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		t = curl_slist_append(hl, req->headers[i]);
		if (!t)
			goto nomem;
		hl = t;
	}
	if (req->sign && req->sign->session_token) {
		if (asprintf(&token_hdr, "X-Amz-Security-Token: %s",
			     req->sign->session_token) < 0) {
			token_hdr = NULL;
			goto nomem;
		}
		t = curl_slist_append(hl, token_hdr);
		if (!t)
			goto nomem;
		hl = t;
	}
	/* A stream has a connection of its own: one kept for HTTP/1.1
	 * requests to the same endpoint must not carry it. */
	h = req->on_data ? curl_easy_init() : pool_get(p);
	if (!h)
		goto nomem;
	sink.h = h;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (!req->on_data)
		SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	else if (strncmp(req->url, "https:", 6) == 0)
		SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	else
		SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (p->ca_bundle)
		SET(CURLOPT_CAINFO, p->ca_bundle);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(req->connect_timeout_ms > 0
		? req->connect_timeout_ms : KFS_HTTP_CONNECT_TIMEOUT_MS));
	if (req->on_data) {
		/* A stream lasts minutes: only a silence ends it. */
		SET(CURLOPT_TIMEOUT_MS, 0L);
		SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SET(CURLOPT_LOW_SPEED_TIME, (long)((req->idle_ms > 0
			? req->idle_ms : KFS_HTTP_TIMEOUT_MS) + 999) / 1000);
	} else {
		SET(CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0
			? req->timeout_ms : KFS_HTTP_TIMEOUT_MS));
		SET(CURLOPT_LOW_SPEED_TIME, 0L);
	}
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, "kinesisfs/" PACKAGE_VERSION);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	/* An interrupted FUSE request ends its transfer (lib/cancel.h). */
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, &sink);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, &sink);
	SET(CURLOPT_HTTPHEADER, hl);
	if (strcmp(req->method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		/* The body always goes as POSTFIELDS: that is what the
		 * SigV4 payload hash covers. */
		if (strcmp(req->method, "POST") == 0)
			SET(CURLOPT_POST, 1L);
		else
			SET(CURLOPT_CUSTOMREQUEST, req->method);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_POSTFIELDS, body);
	}
	if (req->sign) {
		snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s", req->sign->region,
			 req->sign->service);
		SET(CURLOPT_AWS_SIGV4, sigv4);
		SET(CURLOPT_USERNAME, req->sign->access_key_id);
		SET(CURLOPT_PASSWORD, req->sign->secret_access_key);
	}
#undef SET
	if (rc == CURLE_OK)
		rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent_bytes);
	if (req->on_data)
		curl_easy_cleanup(h);
	else
		pool_put(p, h);

	if (sink.stopped) {
		err = sink.stopped;
		snprintf(resp->error, sizeof(resp->error), "stopped by the "
			 "reader of the stream (%s)", strerror(err < 0 ? -err : err));
	} else if (sink.nomem) {
		err = -ENOMEM;
		snprintf(resp->error, sizeof(resp->error), "out of memory");
	} else if (sink.too_big) {
		err = -EMSGSIZE;
		snprintf(resp->error, sizeof(resp->error),
			 "answer larger than %u bytes", KFS_HTTP_BODY_MAX);
	} else if (rc != CURLE_OK) {
		err = curl_errno(rc);
		/* libcurl's own detail when it has one: it says more. */
		snprintf(resp->error, sizeof(resp->error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	resp->sent = sent_bytes > 0;
	resp->status = status;
	if (err == 0) {
		resp->body = sink.buf ? sink.buf : strdup("");
		resp->body_len = sink.len;
		sink.buf = NULL;
		if (!resp->body)
			err = -ENOMEM;
	}
	free(sink.buf);
	curl_slist_free_all(hl);
	if (token_hdr) {
		explicit_bzero(token_hdr, strlen(token_hdr));
		free(token_hdr);
	}
	return err;

nomem:
	curl_slist_free_all(hl);
	free(token_hdr);
	snprintf(resp->error, sizeof(resp->error), "out of memory");
	return -ENOMEM;
}

static void curl_destroy(void *impl)
{
	struct curl_pool *p = impl;

	if (!p)
		return;
	for (size_t i = 0; i < p->n_idle; i++)
		curl_easy_cleanup(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->ca_bundle);
	free(p);
}

static const struct kfs_http_ops curl_ops = {
	.send = curl_send,
	.destroy = curl_destroy,
};

int kfs_http_curl_new(struct kfs_http **out)
{
	const char *ca = getenv("AWS_CA_BUNDLE");
	struct curl_pool *p;
	struct kfs_http *h;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		kfs_err("libcurl: cannot initialize: %s",
			curl_easy_strerror(global_rc));
		return -EIO;
	}
	p = calloc(1, sizeof(*p));
	h = calloc(1, sizeof(*h));
	if (!p || !h || (ca && *ca && !(p->ca_bundle = strdup(ca)))) {
		free(p);
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	if (p->ca_bundle)
		kfs_info("TLS: trusting the CA bundle %s",
			 p->ca_bundle);
	h->ops = &curl_ops;
	h->impl = p;
	*out = h;
	return 0;
}
