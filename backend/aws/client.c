/* client.c - one Kinesis action over HTTP; see client.h. */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cancel.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "wire.h"

void kfs_aws_sleep_ms(const struct kfs_aws_client *c, int64_t ms)
{
	if (ms > 0)
		kfs_clock_sleep(c->clock, ms);
}

/* A per-thread xorshift generator: jitter needs no lock and no quality. */
static uint64_t jitter_rand(void)
{
	static __thread uint64_t s;

	if (!s)
		s = ((uint64_t)kfs_mono_ms() << 20) ^ (uint64_t)pthread_self() ^
		    0x9E3779B97F4A7C15ull;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

void kfs_aws_backoff(const struct kfs_aws_client *c, int n)
{
	int64_t cap = c->backoff_ms;

	for (int i = 0; i < n && cap < c->backoff_cap_ms; i++)
		cap *= 2;
	if (cap > c->backoff_cap_ms)
		cap = c->backoff_cap_ms;
	kfs_aws_sleep_ms(c, cap / 2 + (cap > 1 ? (int64_t)(jitter_rand() %
						      (uint64_t)(cap / 2 + 1)) : 0));
}

static int chain_get(void *ctx, struct kfs_aws_creds *out)
{
	return kfs_creds_chain_get(ctx, out);
}

static void chain_invalidate(void *ctx)
{
	kfs_creds_chain_invalidate(ctx);
}

void kfs_aws_creds_source_chain(struct kfs_aws_creds_source *s,
				struct kfs_creds_chain *chain)
{
	s->get = chain_get;
	s->invalidate = chain_invalidate;
	s->ctx = chain;
}

/* What a streamed answer goes to (kfs_aws_call_stream). */
struct stream_to {
	int (*fn)(void *arg, const void *p, size_t n);
	void *arg;
	int idle_ms;
};

/* One attempt: 0 and *resp (st NULL) or the stream handed to st, or
 * -errno with e filled. */
static int attempt(struct kfs_aws_client *c, const char *action,
		   const char *body, size_t body_len, unsigned flags,
		   const struct stream_to *st, cJSON **resp,
		   struct kfs_aws_error *e)
{
	struct kfs_aws_creds cr;
	struct kfs_http_response hr;
	struct kfs_http_sigv4 sig;
	struct kfs_http_request req;
	char target[96];
	const char *headers[] = {
		"Content-Type: " KFS_WIRE_CONTENT_TYPE,
		target,
		NULL,
	};
	int rc;

	memset(&cr, 0, sizeof(cr));
	rc = c->creds.get(c->creds.ctx, &cr);
	if (rc < 0) {
		memset(e, 0, sizeof(*e));
		e->err = rc == -ENOMEM ? -ENOMEM : -EACCES;
		e->retry = KFS_AWS_FATAL;
		snprintf(e->message, sizeof(e->message), "no credentials: %s",
			 strerror(-rc));
		return e->err;
	}
	snprintf(target, sizeof(target), "X-Amz-Target: " KFS_WIRE_TARGET_PREFIX "%s",
		 action);
	sig = (struct kfs_http_sigv4){
		.region = c->region,
		.service = "kinesis",
		.access_key_id = cr.access_key_id,
		.secret_access_key = cr.secret_access_key,
		.session_token = cr.session_token,
	};
	req = (struct kfs_http_request){
		.method = "POST",
		.url = c->url,
		.headers = headers,
		.body = body,
		.body_len = body_len,
		.sign = &sig,
		.timeout_ms = c->timeout_ms > 0 ? c->timeout_ms
			      : flags & KFS_CALL_LONG ? KFS_AWS_LONG_TIMEOUT_MS : 0,
		/* A short timeout asked for is short for connecting too. */
		.connect_timeout_ms = c->timeout_ms > 0 &&
				      c->timeout_ms < KFS_HTTP_CONNECT_TIMEOUT_MS
				      ? c->timeout_ms : 0,
		.on_data = st ? st->fn : NULL,
		.on_data_arg = st ? st->arg : NULL,
		.idle_ms = st ? st->idle_ms : 0,
	};
	rc = kfs_http_send(c->http, &req, &hr);
	kfs_aws_creds_clear(&cr);
	if (st && rc == 0 && hr.status == 200 && hr.body_len > 0)
		/* A client that kept the body (a test's): as if it came. */
		rc = st->fn(st->arg, hr.body, hr.body_len);
	if (st && rc == 0 && hr.status == 200) {
		kfs_http_response_clear(&hr);
		return 0;
	}
	if (st && rc < 0 && hr.status == 200) {
		/* The stream broke, or its reader stopped it. */
		memset(e, 0, sizeof(*e));
		e->err = rc;
		e->retry = rc == -EINTR ? KFS_AWS_FATAL : KFS_AWS_TRANSIENT;
		e->status = 200;
		snprintf(e->message, sizeof(e->message), "%.190s", hr.error);
		kfs_http_response_clear(&hr);
		return rc;
	}
	if (rc < 0) {
		kfs_aws_error_from_transport(e, rc, hr.error, hr.sent);
		kfs_http_response_clear(&hr);
		return e->err;
	}
	if (hr.status == 200) {
		/* Actions without output (CreateStream, DeleteStream, the
		 * retention changes) may answer with no body at all. */
		size_t blank = strspn(hr.body, " \t\r\n");
		*resp = blank == hr.body_len ? cJSON_CreateObject()
			: cJSON_ParseWithLength(hr.body, hr.body_len);
		if (*resp && cJSON_IsObject(*resp)) {
			kfs_http_response_clear(&hr);
			return 0;
		}
		cJSON_Delete(*resp);
		*resp = NULL;
		/* Cut short on the way, most likely. */
		memset(e, 0, sizeof(*e));
		e->err = -EIO;
		e->retry = KFS_AWS_TRANSIENT;
		e->status = 200;
		e->ambiguous = 1;
		snprintf(e->message, sizeof(e->message),
			 "an answer of %zu bytes that is not a JSON object",
			 hr.body_len);
		kfs_http_response_clear(&hr);
		return e->err;
	}
	kfs_aws_error_from_answer(e, action, hr.status, hr.body,
				  kfs_http_response_header(&hr, "x-amzn-ErrorType"));
	kfs_http_response_clear(&hr);
	return e->err;
}

int kfs_aws_call(struct kfs_aws_client *c, const char *action, const cJSON *req,
		 unsigned flags, cJSON **resp, struct kfs_aws_error *e_out)
{
	char *body = cJSON_PrintUnformatted(req);
	int rc;

	if (!body) {
		*resp = NULL;
		if (e_out) {
			memset(e_out, 0, sizeof(*e_out));
			e_out->err = -ENOMEM;
			snprintf(e_out->message, sizeof(e_out->message),
				 "out of memory");
		}
		return -ENOMEM;
	}
	rc = kfs_aws_call_body(c, action, body, strlen(body), flags, resp, e_out);
	free(body);
	return rc;
}

int kfs_aws_call_body(struct kfs_aws_client *c, const char *action,
		      const char *body, size_t body_len, unsigned flags,
		      cJSON **resp, struct kfs_aws_error *e_out)
{
	struct kfs_aws_error e_local, *e = e_out ? e_out : &e_local;
	int64_t t0 = kfs_clock_mono(c->clock);
	int refreshed = 0, ambiguous = 0, rc = -ENOMEM, tries = 0;

	*resp = NULL;
	memset(e, 0, sizeof(*e));
	for (int n = 0;; n++) {
		tries++;
		rc = attempt(c, action, body, body_len, flags, NULL, resp, e);
		if (rc == 0)
			break;
		ambiguous |= e->ambiguous;
		if (e->retry == KFS_AWS_THROTTLED)
			kfs_metrics_add_global(c->metrics,
					       KFS_G_REQUESTS_THROTTLED, 1);
		if (kfs_cancelled()) {
			/* The caller was interrupted: no more tries. */
			rc = e->err = -EINTR;
			snprintf(e->message, sizeof(e->message), "interrupted");
			e->retry = KFS_AWS_FATAL;
			break;
		}
		if (e->retry == KFS_AWS_AUTH && !refreshed) {
			/* Expired or rotated credentials: fetch anew, once. */
			kfs_info("%s: credentials refused (%s), fetching them "
				 "again", action, e->type[0] ? e->type : "denied");
			c->creds.invalidate(c->creds.ctx);
			refreshed = 1;
			continue;
		}
		if ((e->retry == KFS_AWS_THROTTLED || e->retry == KFS_AWS_TRANSIENT) &&
		    !(flags & KFS_CALL_ONCE) && tries < c->max_attempts) {
			kfs_debug("%s: %s%s%s, retrying (attempt %d of %d)", action,
				  e->type, e->type[0] && e->message[0] ? ": " : "",
				  e->message, tries + 1, c->max_attempts);
			kfs_metrics_add_global(c->metrics, KFS_G_REQUESTS_RETRIED, 1);
			kfs_aws_backoff(c, n);
			continue;
		}
		break;
	}
	if (rc == 0)
		memset(e, 0, sizeof(*e));
	e->ambiguous = ambiguous;
	kfs_debug("%s: %s after %d attempt(s), %lld ms", action,
		  rc == 0 ? "done" : "failed", tries,
		  (long long)(kfs_clock_mono(c->clock) - t0));
	return rc;
}

int kfs_aws_call_stream(struct kfs_aws_client *c, const char *action,
			const cJSON *req,
			int (*on_data)(void *arg, const void *p, size_t n),
			void *arg, int idle_ms, struct kfs_aws_error *e)
{
	struct stream_to st = { .fn = on_data, .arg = arg, .idle_ms = idle_ms };
	char *body = cJSON_PrintUnformatted(req);
	cJSON *unused = NULL;
	int rc;

	memset(e, 0, sizeof(*e));
	if (!body) {
		e->err = -ENOMEM;
		snprintf(e->message, sizeof(e->message), "out of memory");
		return -ENOMEM;
	}
	rc = attempt(c, action, body, strlen(body), 0, &st, &unused, e);
	if (rc < 0 && e->retry == KFS_AWS_AUTH && !kfs_cancelled()) {
		/* Expired or rotated credentials: fetch anew, once. */
		c->creds.invalidate(c->creds.ctx);
		rc = attempt(c, action, body, strlen(body), 0, &st, &unused, e);
	}
	free(body);
	kfs_debug("%s: %s", action, rc == 0 ? "ended" : "failed");
	return rc;
}
