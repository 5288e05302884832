/*
 * awsfake.h - the AWS backend over a scripted HTTP client, for the unit
 * tests of backend/aws (test_aws_backend, test_aws_keys): each test lists
 * the requests it expects (action, what the body must or must not hold)
 * and the answers to give, and fails on a request out of script or on
 * answers left unused.  The backend runs on a test clock (testclock.h),
 * tclk, which main() starts with test_clock_init(&tclk, T0).
 *
 * Included by one test program each (static definitions, after tap.h).
 */
#ifndef KFS_TEST_AWSFAKE_H
#define KFS_TEST_AWSFAKE_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/aws/internal.h"
#include "backend/backend.h"
#include "tap.h"
#include "testclock.h"

#define T0 1767225600000LL      /* 2026-01-01T00:00:00Z */

static struct test_clock tclk;  /* the backend's clock */

#define S0 "{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{\"StartingHashKey\":\"0\"," \
	"\"EndingHashKey\":\"340282366920938463463374607431768211455\"},\"SequenceNumberRange\":" \
	"{\"StartingSequenceNumber\":\"100\"}}"
#define S1 "{\"ShardId\":\"shardId-000000000001\",\"ParentShardId\":\"shardId-000000000000\"," \
	"\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"9\"}," \
	"\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"200\"}}"
#define SUMMARY(status, hours) \
	"{\"StreamDescriptionSummary\":{\"StreamName\":\"S\",\"StreamARN\":\"arn:aws:kinesis:" \
	"us-east-1:111122223333:stream/S\",\"StreamStatus\":\"" status "\"," \
	"\"RetentionPeriodHours\":" #hours ",\"StreamCreationTimestamp\":1700000000," \
	"\"OpenShardCount\":1}}"
#define ERR(type) "{\"__type\":\"" type "\",\"message\":\"scripted\"}"
#define REC(seq, b64, key) "{\"SequenceNumber\":\"" seq "\",\"ApproximateArrivalTimestamp\":" \
	"1700000000.5,\"Data\":\"" b64 "\",\"PartitionKey\":\"" key "\"}"

/* ---- the scripted HTTP client -------------------------------------------- */

struct step {
	const char *action;       /* X-Amz-Target action expected */
	const char *body_has;     /* the request body must hold this, or NULL */
	const char *body_lacks;   /* ... and must not hold this, or NULL */
	long status;              /* answer status; 0: no answer (err) */
	const char *answer;       /* answer body */
	int err;                  /* with status 0: the transport error */
	const char *type_header;  /* x-amzn-ErrorType, or NULL */
};

static struct {
	pthread_mutex_t lock;     /* protects everything below */
	const struct step *steps; /* the script */
	size_t n, next;           /* its length, the next step */
	int bad;                  /* requests that did not match */
	int64_t at[64];           /* clock time of each request */
	char region[32], service[32], token[64];
	/* Run once in the middle of the next request whose action is
	 * during_action (after its step is taken, before its answer): what
	 * another thread does while that request is in flight. */
	const char *during_action;
	void (*during)(void);
} fk = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void script(const struct step *s, size_t n)
{
	pthread_mutex_lock(&fk.lock);
	fk.steps = s;
	fk.n = n;
	fk.next = 0;
	fk.bad = 0;
	pthread_mutex_unlock(&fk.lock);
}
#define STEP(a, has, lacks, status, answer, err, hdr) \
	{ a, has, lacks, status, answer, err, hdr }
#define SCRIPT(...) do { static const struct step s_[] = { __VA_ARGS__ }; \
		script(s_, sizeof(s_) / sizeof(s_[0])); } while (0)

/* fn runs in the middle of the next `action` request (fk.during). */
static __attribute__((unused)) void during(const char *action,
					   void (*fn)(void))
{
	pthread_mutex_lock(&fk.lock);
	fk.during_action = action;
	fk.during = fn;
	pthread_mutex_unlock(&fk.lock);
}

/* Every step used, none out of script. */
#define SCRIPT_DONE() do { \
		pthread_mutex_lock(&fk.lock); \
		CHECK_EQ_INT(fk.next, fk.n); \
		CHECK_EQ_INT(fk.bad, 0); \
		pthread_mutex_unlock(&fk.lock); } while (0)

static int fake_send(void *impl, const struct kfs_http_request *req,
		     struct kfs_http_response *resp)
{
	const char *target = NULL, *body = req->body;
	const struct step *st;
	char line[128];
	int rc = 0;

	(void)impl;
	memset(resp, 0, sizeof(*resp));
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		if (!strncmp(req->headers[i], "X-Amz-Target: Kinesis_20131202.", 31))
			target = req->headers[i] + 31;
	if (fk.next < 64)
		fk.at[fk.next] = test_clock_now(&tclk);
	if (req->sign) {
		snprintf(fk.region, sizeof(fk.region), "%s", req->sign->region);
		snprintf(fk.service, sizeof(fk.service), "%s", req->sign->service);
		snprintf(fk.token, sizeof(fk.token), "%s",
			 req->sign->session_token ? req->sign->session_token : "");
	}
	if (fk.next >= fk.n) {
		printf("#   request %s out of script\n", target ? target : "?");
		fk.bad++;
		pthread_mutex_unlock(&fk.lock);
		snprintf(resp->error, sizeof(resp->error), "out of script");
		return -ECONNREFUSED;
	}
	st = &fk.steps[fk.next++];
	if (!target || strcmp(target, st->action) != 0 ||
	    (st->body_has && !strstr(body, st->body_has)) ||
	    (st->body_lacks && strstr(body, st->body_lacks))) {
		printf("#   step %zu: expected %s with %s, got %s: %.300s\n", fk.next,
		       st->action, st->body_has ? st->body_has : "-",
		       target ? target : "?", body);
		fk.bad++;
	}
	if (fk.during && target && !strcmp(target, fk.during_action)) {
		void (*during)(void) = fk.during;

		fk.during = NULL;
		pthread_mutex_unlock(&fk.lock);
		during();
	} else {
		pthread_mutex_unlock(&fk.lock);
	}
	if (st->status == 0) {
		snprintf(resp->error, sizeof(resp->error), "scripted failure");
		resp->sent = 1;
		return st->err;
	}
	resp->status = st->status;
	REQUIRE(kfs_http_response_set_body(resp, st->answer, strlen(st->answer)) == 0);
	if (st->type_header) {
		snprintf(line, sizeof(line), "x-amzn-ErrorType: %s", st->type_header);
		REQUIRE(kfs_http_response_add_header(resp, line, strlen(line)) == 0);
	}
	return rc;
}

static void fake_destroy(void *impl)
{
	(void)impl;
}

static const struct kfs_http_ops fake_ops = { fake_send, fake_destroy };

/* ---- credentials ---------------------------------------------------------- */

static struct {
	int gets, invalidations;
} cr;

static int cr_get(void *ctx, struct kfs_aws_creds *out)
{
	(void)ctx;
	__atomic_add_fetch(&cr.gets, 1, __ATOMIC_SEQ_CST);
	memset(out, 0, sizeof(*out));
	out->access_key_id = strdup("AKID");
	out->secret_access_key = strdup("SECRET");
	out->session_token = strdup("TOKEN1");
	return 0;
}

static void cr_invalidate(void *ctx)
{
	(void)ctx;
	__atomic_add_fetch(&cr.invalidations, 1, __ATOMIC_SEQ_CST);
}

/* ---- the backend ---------------------------------------------------------- */

static struct kfs_backend *open_be(int cache_ms)
{
	struct kfs_aws_config cfg = { .cache_ms = cache_ms, .max_record_bytes = 1000,
				      .clock = &tclk.clock };
	struct kfs_aws_creds_source src = { cr_get, cr_invalidate, NULL };
	struct kfs_aws_tuning t = {
		.backoff_ms = 1, .backoff_cap_ms = 4, .get_interval_ms = 30,
		.poll_first_ms = 1, .wait_active_ms = 3000, .wait_gone_ms = 3000,
	};
	struct kfs_http *http = malloc(sizeof(*http));
	struct kfs_backend *be;

	REQUIRE(http);
	http->ops = &fake_ops;
	http->impl = NULL;
	REQUIRE(kfs_aws_new(&cfg, "us-east-1", "http://kinesis.test/", http, &src,
			    &t, &be) == 0);
	memset(&cr, 0, sizeof(cr));
	return be;
}

#define OPS(be) (be)->ops

#endif
