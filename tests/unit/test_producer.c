/*
 * test_producer.c - the producer: batching, acknowledgements, retries of
 * failed entries only, backpressure and draining.
 *
 * A scripted backend answers put_records the way a test asks (a record
 * whose data starts with "fail:N:" fails N times with -EAGAIN, one starting
 * with "bad" fails for good with -EINVAL), and keeps every stored record so
 * that the test can check what arrived, in which order and how often.  The
 * last test runs the producer over the real local engine.
 *
 * Time is a test clock (testclock.h): linger, backoff, queue ages and the
 * drain deadline pass only as the test (or a call that "takes" cost_ms)
 * moves it.  What a test must see happen while a call is under way, it
 * sees by holding the calls at the scripted backend until it lets them go,
 * never by sleeping.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/local/local.h"
#include "backend/producer.h"
#include "lib/log.h"
#include "lib/util.h"
#include "tap.h"
#include "testclock.h"

#define T0 1767225600000LL      /* 2026-01-01T00:00:00Z */

static struct test_clock tclk;  /* every producer's clock */

struct scripted {
	pthread_mutex_t lock;      /* protects everything below */
	char **stored;             /* data of every stored record, in order */
	size_t nstored;
	size_t calls;              /* put_records calls */
	size_t max_batch;          /* largest batch seen */
	size_t entries_sent;       /* entries over all calls */
	pthread_cond_t cond;       /* a call came in, or calls were let go */
	int held;                  /* calls wait at the door until cleared */
	int meet;                  /* the first call waits until this many
				    * are under way at once (then cleared) */
	size_t entered;            /* calls that came in */
	int cost_ms;               /* each call moves the clock this far */
	struct { char data[64]; int left; } fails[256]; /* retries left per record */
	size_t nfails;
	int inflight;              /* calls under way now */
	int max_inflight;          /* most calls under way at once */
	int key_busy[8];           /* calls under way holding key k<i> */
	int key_overlap;           /* a key was in two calls at once */
};

/* A call's wait at the door: while calls are held, and for the first
 * until `meet` calls are under way (or 20 s of real time went by, which
 * only a producer that never overlaps calls takes).  s->lock held. */
static void sc_door(struct scripted *s)
{
	struct timespec ts;

	kfs_deadline(&ts, 20000);
	while (s->meet > 0 && s->inflight < s->meet &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &ts) == 0)
		;
	s->meet = 0;
	pthread_cond_broadcast(&s->cond);
	while (s->held)
		pthread_cond_wait(&s->cond, &s->lock);
}

/* Waits until n calls came in; 0, or -1 after 20 s of real time. */
static int sc_wait_entered(struct scripted *s, size_t n)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = test_wait_count(&s->lock, &s->cond, &s->entered, n);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Lets the held calls go, and those to come. */
static void sc_release(struct scripted *s)
{
	pthread_mutex_lock(&s->lock);
	s->held = 0;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static size_t sc_calls(struct scripted *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->calls;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int sc_put(void *impl, const char *stream, struct kfs_put_entry *e,
		  size_t n)
{
	struct scripted *s = impl;

	int keys[8] = { 0 }, throttled[8] = { 0 };

	pthread_mutex_lock(&s->lock);
	s->entered++;
	s->inflight++;
	if (s->inflight > s->max_inflight)
		s->max_inflight = s->inflight;
	pthread_cond_broadcast(&s->cond);
	for (size_t i = 0; i < n; i++) {
		int k;
		if (sscanf(e[i].key, "k%d", &k) == 1 && k >= 0 && k < 8 && !keys[k]) {
			keys[k] = 1;
			if (s->key_busy[k]++)
				s->key_overlap = 1;
		}
	}
	sc_door(s);
	pthread_mutex_unlock(&s->lock);
	if (s->cost_ms)
		test_clock_advance(&tclk, s->cost_ms);
	pthread_mutex_lock(&s->lock);
	s->inflight--;
	for (int k = 0; k < 8; k++)
		if (keys[k])
			s->key_busy[k]--;
	s->calls++;
	s->entries_sent += n;
	if (n > s->max_batch)
		s->max_batch = n;
	for (size_t i = 0; i < n; i++) {
		char data[64] = "";
		int times, kk;

		memcpy(data, e[i].data, e[i].len < 63 ? e[i].len : 63);
		/* As the service throttles a shard: once a record of a key
		 * failed in a call, the later ones of that key fail too. */
		if (sscanf(e[i].key, "k%d", &kk) == 1 && kk >= 0 && kk < 8 &&
		    throttled[kk]) {
			e[i].err = -EAGAIN;
			snprintf(e[i].reason, sizeof(e[i].reason), "throttled");
			continue;
		}
		if (strncmp(data, "bad", 3) == 0) {
			e[i].err = -EINVAL;
			snprintf(e[i].reason, sizeof(e[i].reason), "scripted refusal");
			continue;
		}
		if (sscanf(data, "fail:%d:", &times) == 1) {
			size_t k;
			for (k = 0; k < s->nfails; k++)
				if (strcmp(s->fails[k].data, data) == 0)
					break;
			REQUIRE(k < 256);
			if (k == s->nfails) {
				snprintf(s->fails[k].data, 64, "%s", data);
				s->fails[k].left = times;
				s->nfails++;
			}
			if (s->fails[k].left > 0) {
				s->fails[k].left--;
				if (sscanf(e[i].key, "k%d", &kk) == 1 && kk >= 0 && kk < 8)
					throttled[kk] = 1;
				e[i].err = -EAGAIN;
				snprintf(e[i].reason, sizeof(e[i].reason), "throttled");
				continue;
			}
		}
		s->stored = realloc(s->stored, (s->nstored + 1) * sizeof(char *));
		s->stored[s->nstored++] = strdup(data);
		snprintf(e[i].seq, sizeof(e[i].seq), "%zu", s->nstored);
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static const struct kfs_backend_ops sc_ops = {
	.name = "scripted",
	.put_records = sc_put,
};

/* The same, saying it is cheap (a local log): big puts become runs. */
static const struct kfs_backend_ops sc_cheap_ops = {
	.name = "scripted-cheap",
	.caps = KFS_CAP_CHEAP_PUT,
	.put_records = sc_put,
};

static void sc_init(struct scripted *s, struct kfs_backend *be)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	be->ops = &sc_ops;
	be->impl = s;
}

static void sc_free(struct scripted *s)
{
	for (size_t i = 0; i < s->nstored; i++)
		free(s->stored[i]);
	free(s->stored);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
}

static struct kfs_producer *mk_inflight(struct kfs_backend *be, int linger,
					int attempts, size_t queue, int inflight,
					size_t batch)
{
	struct kfs_producer_config cfg;
	struct kfs_producer *p = NULL;

	kfs_producer_config_default(&cfg);
	cfg.linger_ms = linger;
	cfg.max_attempts = attempts;
	cfg.backoff_ms = 1;
	cfg.clock = &tclk.clock;
	cfg.max_inflight = inflight;
	if (batch)
		cfg.batch_records = batch;
	if (queue)
		cfg.queue_bytes = queue;
	REQUIRE(kfs_producer_new(be, &cfg, &p) == 0);
	return p;
}

static struct kfs_producer *mk(struct kfs_backend *be, int linger, int attempts,
			       size_t queue)
{
	struct kfs_producer_config cfg;
	struct kfs_producer *p = NULL;

	kfs_producer_config_default(&cfg);
	cfg.linger_ms = linger;
	cfg.max_attempts = attempts;
	cfg.backoff_ms = 1;
	cfg.clock = &tclk.clock;
	if (queue)
		cfg.queue_bytes = queue;
	REQUIRE(kfs_producer_new(be, &cfg, &p) == 0);
	return p;
}

static void put(struct kfs_producer *p, const char *data, struct kfs_ack *a)
{
	REQUIRE(kfs_producer_put(p, "s", "k", NULL, data, strlen(data), a) == 0);
}

TEST(batches_and_acks)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;
	char buf[32];

	sc_init(&s, &be);
	p = mk(&be, 50, 1, 0);
	kfs_ack_init(&a);
	for (int i = 0; i < 1200; i++) {
		snprintf(buf, sizeof(buf), "r%d", i);
		put(p, buf, &a);
	}
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	CHECK_EQ_INT(s.nstored, 1200);
	CHECK(s.max_batch <= KFS_PUT_BATCH_MAX);
	CHECK(s.max_batch > 1); /* records were batched */
	CHECK(s.calls >= 3);
	for (size_t i = 0; i < s.nstored; i++) {
		snprintf(buf, sizeof(buf), "r%zu", i);
		CHECK_EQ_STR(s.stored[i], buf);
	}
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

TEST(linger_sends_without_kick)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;
	int64_t t0;

	sc_init(&s, &be);
	p = mk(&be, 30, 1, 0);
	kfs_ack_init(&a);
	t0 = test_clock_now(&tclk);
	put(p, "one", &a);
	/* The sender lingers until 30 ms after the put, not a moment less. */
	CHECK_EQ_INT(test_clock_wait_for(&tclk, 1, 0), 0);
	CHECK_EQ_INT(test_clock_next(&tclk), t0 + 30);
	test_clock_advance(&tclk, 29);
	CHECK_EQ_INT(test_clock_waiting(&tclk), 1);
	CHECK_EQ_INT(sc_calls(&s), 0);
	test_clock_advance(&tclk, 1);
	CHECK_EQ_INT(kfs_ack_wait(&a), 0); /* no kick: linger sends it */
	CHECK_EQ_INT(s.nstored, 1);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

TEST(only_failed_entries_are_resent)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;

	sc_init(&s, &be);
	p = mk(&be, 1000, 5, 0);
	kfs_ack_init(&a);
	put(p, "a", &a);
	put(p, "fail:2:b", &a);
	put(p, "c", &a);
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	CHECK_EQ_INT(s.nstored, 3);
	/* 3 entries, then b alone twice more. */
	CHECK_EQ_INT(s.entries_sent, 5);
	CHECK_EQ_INT(s.calls, 3);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

TEST(failures_reach_the_writer)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a, other;

	sc_init(&s, &be);
	p = mk(&be, 1000, 3, 0);
	kfs_ack_init(&a);
	kfs_ack_init(&other);
	put(p, "good", &a);
	put(p, "bad", &a);
	put(p, "fail:9:slow", &other); /* more failures than attempts */
	put(p, "fine", &other);
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), -EINVAL);
	CHECK_EQ_INT(kfs_ack_wait(&a), 0); /* collected once */
	CHECK_EQ_INT(kfs_ack_wait(&other), -EAGAIN);
	CHECK_EQ_INT(s.nstored, 2);
	kfs_ack_destroy(&a);
	kfs_ack_destroy(&other);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

/* Counters of the metrics file, once a batch; the queue's gauges. */
TEST(metrics_and_queues)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer_config cfg;
	struct kfs_producer *p = NULL;
	struct kfs_metrics *m = kfs_metrics_new();
	struct kfs_metrics_snapshot snap;
	struct kfs_producer_queue *q;
	size_t n, memory, limit;
	struct kfs_ack a;

	REQUIRE(m);
	sc_init(&s, &be);
	kfs_producer_config_default(&cfg);
	cfg.linger_ms = 60000;
	cfg.max_attempts = 5;
	cfg.backoff_ms = 1;
	cfg.clock = &tclk.clock;
	cfg.metrics = m;
	REQUIRE(kfs_producer_new(&be, &cfg, &p) == 0);
	kfs_ack_init(&a);
	put(p, "a", &a);
	put(p, "fail:2:b", &a);
	put(p, "bad", &a);
	put(p, "c", &a);
	test_clock_advance(&tclk, 20);   /* the sender lingers a minute */
	REQUIRE(kfs_producer_queues(p, &q, &n, &memory, &limit) == 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1) {
		CHECK_EQ_STR(q[0].name, "s");
		CHECK_EQ_INT(q[0].queued_records, 4);
		CHECK_EQ_INT(q[0].queued_bytes, 1 + 8 + 3 + 1 + 4 * 2);
		CHECK_EQ_INT(q[0].inflight_records, 0);
		CHECK_EQ_INT(q[0].oldest_ms, 20);
	}
	CHECK(memory > 0);
	CHECK_EQ_INT(limit, cfg.queue_bytes);
	free(q);
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), -EINVAL);
	REQUIRE(kfs_metrics_snapshot(m, &snap) == 0);
	CHECK_EQ_INT(snap.n, 1);
	if (snap.n == 1) {
		CHECK_EQ_INT(snap.streams[0].v[KFS_M_RECORDS_PUT], 3);
		CHECK_EQ_INT(snap.streams[0].v[KFS_M_BYTES_PUT], 1 + 8 + 1);
		CHECK_EQ_INT(snap.streams[0].v[KFS_M_RECORDS_FAILED], 1);
		CHECK_EQ_INT(snap.streams[0].v[KFS_M_RECORDS_RETRIED], 2);
		CHECK_EQ_INT(snap.streams[0].v[KFS_M_RECORDS_THROTTLED], 2);
	}
	kfs_metrics_snapshot_clear(&snap);
	REQUIRE(kfs_producer_queues(p, &q, &n, &memory, &limit) == 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1) {
		CHECK_EQ_INT(q[0].queued_records, 0);
		CHECK_EQ_INT(q[0].inflight_records, 0);
		CHECK_EQ_INT(q[0].oldest_ms, 0);
	}
	free(q);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	sc_free(&s);
	kfs_metrics_free(m);
}

struct bp_arg {
	struct kfs_producer *p;
	struct kfs_ack *a;
	pid_t tid;         /* the writer's thread; atomic */
	int done;          /* set when every put returned; atomic */
};

/* The thread id of a writer once it runs. */
static pid_t writer_tid(struct bp_arg *b)
{
	pid_t tid;

	while (!(tid = __atomic_load_n(&b->tid, __ATOMIC_SEQ_CST)))
		sched_yield();
	return tid;
}

static void *bp_writer(void *arg)
{
	struct bp_arg *b = arg;
	char data[1000];

	__atomic_store_n(&b->tid, test_gettid(), __ATOMIC_SEQ_CST);
	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	for (int i = 0; i < 50; i++)
		put(b->p, data, b->a);
	__atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST(full_queue_blocks_writers)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;
	struct kfs_producer_stats st;
	struct bp_arg b;
	pthread_t t;

	sc_init(&s, &be);
	s.held = 1;              /* nothing is stored until the test says */
	p = mk(&be, 0, 1, 4000); /* room for about 4 records */
	kfs_ack_init(&a);
	b = (struct bp_arg){ .p = p, .a = &a };
	pthread_create(&t, NULL, bp_writer, &b);
	CHECK_EQ_INT(sc_wait_entered(&s, 1), 0);
	CHECK_EQ_INT(test_thread_blocked(writer_tid(&b)), 0);
	kfs_producer_stats(p, &st);
	CHECK(!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST)); /* still blocked */
	CHECK(st.queued_bytes <= 4000 + 1000);
	sc_release(&s);
	pthread_join(t, NULL);
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	CHECK_EQ_INT(s.nstored, 50);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

/* Puts up to 50 records, stopping at the first refusal (kept in b->err). */
struct ab_arg {
	struct kfs_producer *p;
	struct kfs_ack *a;
	pid_t tid;         /* the writer's thread; atomic */
	int put;           /* records queued */
	int err;           /* the refusal, or 0 */
};

static void *ab_writer(void *arg)
{
	struct ab_arg *b = arg;
	char data[1000];

	__atomic_store_n(&b->tid, test_gettid(), __ATOMIC_SEQ_CST);
	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	for (int i = 0; i < 50 && !b->err; i++) {
		b->err = kfs_producer_put(b->p, "s", "k", NULL, data,
					  strlen(data), b->a);
		b->put += b->err == 0;
	}
	return NULL;
}

/* A stop's deadline with the backend hung: a batch in flight, records
 * queued, a writer waiting for room.  kfs_producer_abandon fails them all
 * to their writers at once, the writer waiting for room is refused, and
 * the drain does not wait for the call in flight (-EBUSY); once the call
 * ends its records are not resolved twice. */
TEST(abandon_fails_queued_and_inflight_records)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_producer_stats st;
	struct kfs_ack a;
	struct ab_arg b;
	pthread_t t;
	pid_t tid;

	sc_init(&s, &be);
	s.held = 1;              /* the endpoint does not answer */
	p = mk(&be, 0, 1, 4000); /* room for about 4 records */
	kfs_ack_init(&a);
	b = (struct ab_arg){ .p = p, .a = &a };
	pthread_create(&t, NULL, ab_writer, &b);
	CHECK_EQ_INT(sc_wait_entered(&s, 1), 0);
	while (!(tid = __atomic_load_n(&b.tid, __ATOMIC_SEQ_CST)))
		sched_yield();
	CHECK_EQ_INT(test_thread_blocked(tid), 0);   /* the queue is full */
	kfs_producer_abandon(p);
	pthread_join(t, NULL);
	CHECK_EQ_INT(b.err, -ESHUTDOWN);
	CHECK(b.put >= 2 && b.put < 50);
	CHECK_EQ_INT(kfs_ack_wait(&a), -EIO);        /* nothing pending */
	kfs_producer_stats(p, &st);
	CHECK_EQ_INT(st.records_failed, b.put);
	CHECK_EQ_INT(st.records_put, 0);
	CHECK_EQ_INT(kfs_producer_drain(p, 1000), -EBUSY);
	sc_release(&s);          /* the call ends: nothing is resolved again */
	kfs_producer_free(p, 0);
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	kfs_ack_destroy(&a);
	sc_free(&s);
}

TEST(free_delivers_queued_records)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;

	sc_init(&s, &be);
	p = mk(&be, 60000, 1, 0); /* would linger a minute */
	kfs_ack_init(&a);
	put(p, "x", &a);
	put(p, "y", &a);
	kfs_producer_free(p, 5000);
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	CHECK_EQ_INT(s.nstored, 2);
	kfs_ack_destroy(&a);
	sc_free(&s);
}

TEST(several_batches_in_flight_keep_key_order)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;
	char data[64], key[8];
	int next[8] = { 0 };

	sc_init(&s, &be);
	s.meet = 2;      /* the first batch waits for a second one */
	/* Keys in runs of 10; every 7th record fails twice first.  A record
	 * behind a failing one of its key in a call fails with it (as the
	 * service throttles), so the last of n failing records of a key in
	 * one batch takes 2n + 1 tries: a batch of 20 holds at most two runs
	 * of a key, at most 4 failing records, 9 tries. */
	p = mk_inflight(&be, 0, 10, 0, 4, 20);
	kfs_ack_init(&a);
	for (int i = 0; i < 800; i++) {
		int k = (i / 10) % 8;
		snprintf(key, sizeof(key), "k%d", k);
		if (i % 7 == 3)
			snprintf(data, sizeof(data), "fail:2:%s:%d", key, i);
		else
			snprintf(data, sizeof(data), "x:%s:%d", key, i);
		REQUIRE(kfs_producer_put(p, "s", key, NULL, data, strlen(data),
					 &a) == 0);
	}
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	CHECK_EQ_INT(s.nstored, 800);
	CHECK(s.max_inflight > 1);      /* batches overlapped */
	CHECK_EQ_INT(s.key_overlap, 0); /* never one key in two */
	/* Per key, the records were stored in the order written. */
	for (size_t i = 0; i < s.nstored; i++) {
		int k, n;
		const char *c = strstr(s.stored[i], ":k");
		REQUIRE(c && sscanf(c, ":k%d:%d", &k, &n) == 2 && k >= 0 && k < 8);
		CHECK(n >= next[k]);
		next[k] = n + 1;
	}
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

/* Puts n records "<tag>:<i>" (each padded to pad bytes) of key "k" at
 * once: a run when n >= 32 and the backend is cheap.  Its result. */
static int put_n_rc(struct kfs_producer *p, const char *tag, size_t n,
		    size_t pad, struct kfs_ack *a)
{
	struct iovec *v = calloc(n, sizeof(*v));
	char *buf = calloc(n, pad);
	int rc;

	REQUIRE(v && buf && pad >= 16);
	for (size_t i = 0; i < n; i++) {
		char *d = buf + i * pad;

		memset(d, '.', pad);
		memcpy(d, tag, strlen(tag));
		snprintf(d + strlen(tag), 12, ":%zu", i);
		d[strlen(d)] = '.';
		v[i].iov_base = d;
		v[i].iov_len = pad;
	}
	rc = kfs_producer_put_many(p, "s", "k", NULL, v, n, a);
	free(v);
	free(buf);
	return rc;
}

static void put_n(struct kfs_producer *p, const char *tag, size_t n,
		  size_t pad, struct kfs_ack *a)
{
	REQUIRE(put_n_rc(p, tag, n, pad, a) == 0);
}

/* s->stored[i] starts with "<tag>:<n>" followed by a non-digit. */
static int stored_is(struct scripted *s, size_t i, const char *tag, size_t n)
{
	char want[32];

	snprintf(want, sizeof(want), "%s:%zu", tag, n);
	return i < s->nstored && strncmp(s->stored[i], want, strlen(want)) == 0 &&
	       (s->stored[i][strlen(want)] < '0' || s->stored[i][strlen(want)] > '9');
}

TEST(runs_keep_their_place_among_records)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a, b;
	struct kfs_producer_stats st;
	size_t i = 0;

	sc_init(&s, &be);
	be.ops = &sc_cheap_ops;
	s.held = 1;      /* records and runs queue up behind the first call */
	p = mk(&be, 0, 1, 0);
	kfs_ack_init(&a);
	kfs_ack_init(&b);
	put(p, "small:0", &a);
	CHECK_EQ_INT(sc_wait_entered(&s, 1), 0);
	put_n(p, "runA", 40, 20, &a);
	put(p, "small:1", &b);
	put_n(p, "runB", 100, 20, &b);
	put(p, "small:2", &a);
	sc_release(&s);
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	CHECK_EQ_INT(kfs_ack_wait(&b), 0);
	REQUIRE(s.nstored == 143);
	CHECK(stored_is(&s, i++, "small", 0));
	for (size_t k = 0; k < 40; k++)
		CHECK(stored_is(&s, i++, "runA", k));
	CHECK(stored_is(&s, i++, "small", 1));
	for (size_t k = 0; k < 100; k++)
		CHECK(stored_is(&s, i++, "runB", k));
	CHECK(stored_is(&s, i++, "small", 2));
	kfs_producer_stats(p, &st);
	CHECK_EQ_INT(st.records_put, 143);
	kfs_ack_destroy(&a);
	kfs_ack_destroy(&b);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

TEST(a_failed_record_of_a_run_reaches_its_writer)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;
	struct kfs_producer_stats st;
	struct iovec v[40];
	char lines[40][16];

	sc_init(&s, &be);
	be.ops = &sc_cheap_ops;
	p = mk(&be, 0, 1, 0);
	kfs_ack_init(&a);
	for (int i = 0; i < 40; i++) {
		snprintf(lines[i], sizeof(lines[i]), i == 7 ? "bad:%d" : "ok:%d", i);
		v[i].iov_base = lines[i];
		v[i].iov_len = strlen(lines[i]);
	}
	REQUIRE(kfs_producer_put_many(p, "s", "k", NULL, v, 40, &a) == 0);
	CHECK_EQ_INT(kfs_ack_wait(&a), -EINVAL);
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);   /* reported once */
	CHECK_EQ_INT(s.nstored, 39);         /* the others are stored */
	kfs_producer_stats(p, &st);
	CHECK_EQ_INT(st.records_put, 39);
	CHECK_EQ_INT(st.records_failed, 1);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

static void *run_writer_main(void *arg)
{
	struct bp_arg *w = arg;

	__atomic_store_n(&w->tid, test_gettid(), __ATOMIC_SEQ_CST);
	for (int i = 0; i < 24; i++)
		put_n(w->p, "big", 256, 1024, w->a); /* 256 KiB a run */
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST(queued_runs_are_bounded)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;
	struct kfs_producer_stats st;
	struct bp_arg w = { 0 };
	int64_t until = kfs_mono_ms() + 20000;
	pthread_t t;

	sc_init(&s, &be);
	be.ops = &sc_cheap_ops;
	s.held = 1;               /* nothing is stored until the test says */
	p = mk(&be, 0, 1, 0);     /* a 16 MiB queue: the run bound is lower */
	kfs_ack_init(&a);
	w.p = p;
	w.a = &a;
	pthread_create(&t, NULL, run_writer_main, &w);
	CHECK_EQ_INT(sc_wait_entered(&s, 1), 0);
	/* Runs queue up behind the held call (the bound lets in more than
	 * two), then the writer waits for room. */
	do {
		sched_yield();
		kfs_producer_stats(p, &st);
	} while (st.queued_bytes <= 2 * 256 * 1024 && kfs_mono_ms() < until);
	CHECK(st.queued_bytes > 2 * 256 * 1024);
	CHECK_EQ_INT(test_thread_blocked(writer_tid(&w)), 0);
	kfs_producer_stats(p, &st);
	CHECK(!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST));
	CHECK(st.queued_bytes <= KFS_PRODUCER_RUN_QUEUE_MAX); /* no further */
	sc_release(&s);
	pthread_join(t, NULL);
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	CHECK_EQ_INT(s.nstored, 24 * 256);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	sc_free(&s);
}

struct late_writer {
	struct kfs_producer *p;
	struct scripted *s;
	int rc;            /* what its put gave */
};

/* Puts a run too big for the run bound while runs are queued: it waits
 * for room until the producer stops.  Then lets the held calls go. */
static void *late_writer_main(void *arg)
{
	struct late_writer *lw = arg;
	struct kfs_ack b;

	kfs_ack_init(&b);
	lw->rc = put_n_rc(lw->p, "r4", 40, 64 * 1024, &b);
	sc_release(lw->s);
	kfs_ack_destroy(&b);
	return NULL;
}

TEST(runs_not_stored_by_the_drain_deadline_fail)
{
	struct scripted s;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;
	struct late_writer lw;
	pthread_t t;

	sc_init(&s, &be);
	be.ops = &sc_cheap_ops;
	s.held = 1;
	s.cost_ms = 200;         /* storing a run takes 200 ms of the clock */
	p = mk(&be, 0, 1, 0);
	kfs_ack_init(&a);
	put_n(p, "r1", 40, 16, &a);
	put_n(p, "r2", 40, 16, &a);
	put_n(p, "r3", 40, 16, &a);
	CHECK_EQ_INT(sc_wait_entered(&s, 1), 0);  /* r1 is being stored */
	/* r1 is let go only once the producer is stopping: by a writer
	 * that waits for room until then. */
	lw = (struct late_writer){ .p = p, .s = &s };
	REQUIRE(pthread_create(&t, NULL, late_writer_main, &lw) == 0);
	kfs_producer_free(p, 1); /* no time for r2 and r3 */
	pthread_join(t, NULL);
	CHECK_EQ_INT(lw.rc, -ESHUTDOWN);
	CHECK_EQ_INT(kfs_ack_wait(&a), -EIO);
	CHECK_EQ_INT(s.nstored, 40);  /* r1 whole; r2 and r3 not at all */
	CHECK(stored_is(&s, 0, "r1", 0) && stored_is(&s, 39, "r1", 39));
	kfs_ack_destroy(&a);
	sc_free(&s);
}

TEST(over_the_local_engine)
{
	char dir[] = "/tmp/kfs-producer-XXXXXX";
	struct kfs_local_config cfg = { 0 };
	struct kfs_backend *be = NULL;
	struct kfs_producer *p;
	struct kfs_ack a;
	struct kfs_shard_desc shd;
	char cmd[128];

	REQUIRE(mkdtemp(dir));
	cfg.data_dir = dir;
	REQUIRE(kfs_local_open(&cfg, &be) == 0);
	REQUIRE(be->ops->create_stream(be->impl, "s", 1) == 0);
	p = mk(be, 20, 1, 0);
	kfs_ack_init(&a);
	put(p, "line 1\n", &a);
	put(p, "line 2\n", &a);
	CHECK_EQ_INT(kfs_producer_put(p, "s", "", NULL, "x", 1, &a), 0);
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), -EINVAL); /* the empty key */
	CHECK_EQ_INT(be->ops->describe_shard(be->impl, "s",
					     "shardId-000000000000", &shd), 0);
	CHECK_EQ_INT(shd.bytes[KFS_FRAMING_WRITE], 14);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	kfs_backend_free(be);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ_INT(system(cmd), 0);
}

int main(void)
{
	int rc;

	kfs_log_init(1, KFS_LOG_WARN);
	test_clock_init(&tclk, T0);
	RUN(batches_and_acks);
	RUN(linger_sends_without_kick);
	RUN(only_failed_entries_are_resent);
	RUN(failures_reach_the_writer);
	RUN(metrics_and_queues);
	RUN(full_queue_blocks_writers);
	RUN(abandon_fails_queued_and_inflight_records);
	RUN(free_delivers_queued_records);
	RUN(several_batches_in_flight_keep_key_order);
	RUN(runs_keep_their_place_among_records);
	RUN(a_failed_record_of_a_run_reaches_its_writer);
	RUN(queued_runs_are_bounded);
	RUN(runs_not_stored_by_the_drain_deadline_fail);
	RUN(over_the_local_engine);
	rc = tap_done();
	test_clock_destroy(&tclk);
	return rc;
}
