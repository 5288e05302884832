/*
 * creds_http.c - the one HTTP exchange the credentials sources need (STS,
 * the container endpoint, IMDS); see kfs_creds_http in creds.h.
 *
 * Credentials are fetched rarely, so each exchange has its own easy handle:
 * nothing is shared between threads, and no connection outlives the fetch.
 */
#include "creds.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sink {
	char *buf;        /* the body so far */
	size_t len, cap;  /* its length and allocation */
	int too_big;      /* it passed KFS_CREDS_HTTP_BODY_MAX */
	int nomem;        /* an allocation failed */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->len + n > KFS_CREDS_HTTP_BODY_MAX) {
		s->too_big = 1;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 1024;
		char *b;

		while (cap < s->len + n + 1)
			cap *= 2;
		b = malloc(cap);
		if (!b) {
			s->nomem = 1;
			return 0;
		}
		if (s->buf) {
			memcpy(b, s->buf, s->len);
			explicit_bzero(s->buf, s->cap);  /* answers hold secrets */
			free(s->buf);
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int kfs_creds_http(const struct kfs_creds_http_req *req, long *status,
		   char **body, size_t *body_len, char *why, size_t why_size)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL, *t;
	struct sink sink = { 0 };
	const char *ca = getenv("AWS_CA_BUNDLE");
	CURLcode rc = CURLE_OK;
	CURL *h;

	*status = 0;
	*body = NULL;
	*body_len = 0;
	why[0] = '\0';
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(why, why_size, "libcurl: %s", curl_easy_strerror(global_rc));
		return -EIO;
	}
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		t = curl_slist_append(hl, req->headers[i]);
		if (!t) {
			curl_slist_free_all(hl);
			return -ENOMEM;
		}
		hl = t;
	}
	if (req->sign && req->sign->session_token) {
		char *tok = NULL;

		if (asprintf(&tok, "X-Amz-Security-Token: %s",
			     req->sign->session_token) < 0)
			tok = NULL;
		t = tok ? curl_slist_append(hl, tok) : NULL;
		if (tok) {
			explicit_bzero(tok, strlen(tok));
			free(tok);
		}
		if (!t) {
			curl_slist_free_all(hl);
			return -ENOMEM;
		}
		hl = t;
	}
	if (req->body && !req->sign) {
		/* No "Expect: 100-continue" round trip: the bodies are small.
		 * (Not when signing: libcurl would sign the empty header it
		 * does not send; bodies this small get no Expect anyway.) */
		t = curl_slist_append(hl, "Expect:");
		if (!t) {
			curl_slist_free_all(hl);
			return -ENOMEM;
		}
		hl = t;
	}
	h = curl_easy_init();
	if (!h) {
		curl_slist_free_all(hl);
		return -ENOMEM;
	}
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca && *ca)
		SET(CURLOPT_CAINFO, ca);
	if (req->no_proxy)
		SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, req->timeout_ms);
	SET(CURLOPT_USERAGENT, "kinesisfs/" PACKAGE_VERSION);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, &sink);
	SET(CURLOPT_HTTPHEADER, hl);
	if (strcmp(req->method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(req->method, "POST") == 0)
			SET(CURLOPT_POST, 1L);
		else
			SET(CURLOPT_CUSTOMREQUEST, req->method);
		SET(CURLOPT_POSTFIELDSIZE, (long)(req->body ? strlen(req->body) : 0));
		SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
	}
	if (req->sign) {
		char sigv4[128];

		snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s", req->sign_region,
			 req->sign_service);
		SET(CURLOPT_AWS_SIGV4, sigv4);
		SET(CURLOPT_USERNAME, req->sign->access_key_id);
		SET(CURLOPT_PASSWORD, req->sign->secret_access_key);
	}
#undef SET
	if (rc == CURLE_OK)
		rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hl);
	if (sink.nomem || rc == CURLE_OUT_OF_MEMORY) {
		rc = CURLE_OUT_OF_MEMORY;
	} else if (sink.too_big) {
		snprintf(why, why_size, "the answer is over %u bytes",
			 KFS_CREDS_HTTP_BODY_MAX);
	} else if (rc != CURLE_OK) {
		snprintf(why, why_size, "%s", errbuf[0] ? errbuf
			 : curl_easy_strerror(rc));
	} else {
		if (!sink.buf) {
			sink.buf = calloc(1, 1);
			if (!sink.buf)
				return -ENOMEM;
		}
		*body = sink.buf;
		*body_len = sink.len;
		return 0;
	}
	if (sink.buf) {
		explicit_bzero(sink.buf, sink.cap);
		free(sink.buf);
	}
	return rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
}
