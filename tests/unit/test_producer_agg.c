/*
 * test_producer_agg.c - the producer of a stream that aggregates
 * (backend/producer_agg.c): records packed into KPL aggregated records,
 * each key's order kept whatever entries of a call fail, failures
 * reaching their writers, records too big to share going plain.
 *
 * A fake backend keeps every stored Kinesis record whole, decodes the
 * aggregated ones (backend/kpl/agg.h), and fails entries as a test asks:
 * scattered (an entry fails on its own while later ones of the call are
 * stored, as InternalFailure does), or for good when a user record's
 * data starts with "bad".  Time is a test clock: backoffs pass at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/kpl/agg.h"
#include "backend/producer.h"
#include "lib/log.h"
#include "tap.h"
#include "testclock.h"

#define T0 1767225600000LL      /* 2026-01-01T00:00:00Z */

static struct test_clock tclk;

/* A user record as stored: key and data. */
struct urec {
	char key[16];
	char data[64];
	int aggregated;            /* came in an aggregated record */
};

struct fake {
	pthread_mutex_t lock;      /* protects everything below */
	struct urec *u;            /* every user record stored, in order */
	size_t n, cap;
	size_t calls, entries, kinesis;
	int scatter;               /* fail entry i of call c when (c+i)%3==1 */
	int key_twice;             /* a call held two entries of one key */
	size_t biggest;            /* largest entry seen */
};

static void keep(struct fake *f, const char *key, const void *data,
		 size_t len, int aggregated)
{
	struct urec *r;

	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 1024;
		REQUIRE((f->u = realloc(f->u, f->cap * sizeof(*f->u))) != NULL);
	}
	r = &f->u[f->n++];
	snprintf(r->key, sizeof(r->key), "%s", key);
	memset(r->data, 0, sizeof(r->data));
	memcpy(r->data, data, len < sizeof(r->data) - 1 ? len : sizeof(r->data) - 1);
	r->aggregated = aggregated;
}

static int fake_put(void *impl, const char *stream, struct kfs_put_entry *e,
		    size_t n)
{
	struct fake *f = impl;

	(void)stream;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(e[i].key, e[j].key))
				f->key_twice = 1;
	for (size_t i = 0; i < n; i++) {
		struct kfs_agg a;
		int bad = 0;

		e[i].err = 0;
		if (e[i].len > f->biggest)
			f->biggest = e[i].len;
		if (f->scatter && (f->calls + i) % 3 == 1) {
			e[i].err = -EIO;
			snprintf(e[i].reason, sizeof(e[i].reason), "InternalFailure");
			continue;
		}
		if (kfs_agg_decode(e[i].data, e[i].len, &a, NULL) == 0) {
			for (size_t k = 0; k < a.n; k++)
				bad |= a.records[k].len >= 3 &&
				       !memcmp(a.records[k].data, "bad", 3);
			if (!bad)
				for (size_t k = 0; k < a.n; k++)
					keep(f, a.records[k].key, a.records[k].data,
					     a.records[k].len, 1);
			kfs_agg_clear(&a);
		} else {
			bad = e[i].len >= 3 && !memcmp(e[i].data, "bad", 3);
			if (!bad)
				keep(f, e[i].key, e[i].data, e[i].len, 0);
		}
		if (bad) {
			e[i].err = -EINVAL;
			snprintf(e[i].reason, sizeof(e[i].reason), "scripted refusal");
			continue;
		}
		f->kinesis++;
	}
	f->calls++;
	f->entries += n;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static const struct kfs_backend_ops fake_ops = {
	.name = "fake-agg",
	.put_records = fake_put,
};

static void fake_init(struct fake *f, struct kfs_backend *be)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	be->ops = &fake_ops;
	be->impl = f;
}

static void fake_free(struct fake *f)
{
	free(f->u);
	pthread_mutex_destroy(&f->lock);
}

static struct kfs_producer *mk(struct kfs_backend *be, size_t max_bytes,
			       int attempts)
{
	struct kfs_producer_config cfg;
	struct kfs_producer *p = NULL;

	kfs_producer_config_default(&cfg);
	cfg.aggregate = 1;
	cfg.agg_max_bytes = max_bytes;
	cfg.agg_linger_ms = 0;
	cfg.max_attempts = attempts;
	cfg.backoff_ms = 1;
	cfg.clock = &tclk.clock;
	REQUIRE(kfs_producer_new(be, &cfg, &p) == 0);
	return p;
}

/* Every user record of key k<i> stored once, in the order written:
 * data "k<i>:<n>" for n = 0 .. count - 1.  Returns 1 when so. */
static int in_order(const struct fake *f, int keys, int count)
{
	int next[8] = { 0 };

	for (size_t i = 0; i < f->n; i++) {
		int k, n;

		if (sscanf(f->u[i].data, "k%d:%d", &k, &n) != 2 || k < 0 ||
		    k >= keys || n != next[k]) {
			printf("#   record %zu: %s (key %s) out of order\n", i,
			       f->u[i].data, f->u[i].key);
			return 0;
		}
		next[k]++;
	}
	for (int k = 0; k < keys; k++)
		if (next[k] != count) {
			printf("#   key k%d: %d records stored of %d\n", k, next[k], count);
			return 0;
		}
	return 1;
}

TEST(scattered_failures_keep_each_key_in_order)
{
	struct fake f;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_producer_stats st;
	struct kfs_ack a;
	char key[8], data[64];

	fake_init(&f, &be);
	f.scatter = 1;
	/* 2,048 bytes an aggregated record: a key's 2,000 records need
	 * many of them, in many rounds, each call one entry of a key. */
	p = mk(&be, 2048, 10);
	kfs_ack_init(&a);
	for (int i = 0; i < 2000; i++)
		for (int k = 0; k < 3; k++) {
			snprintf(key, sizeof(key), "k%d", k);
			snprintf(data, sizeof(data), "k%d:%d padding-padding\n", k, i);
			REQUIRE(kfs_producer_put(p, "s", key, NULL, data,
						 strlen(data), &a) == 0);
		}
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	CHECK(in_order(&f, 3, 2000));
	CHECK_EQ_INT(f.key_twice, 0);
	CHECK(f.biggest <= 2048);
	kfs_producer_stats(p, &st);
	CHECK_EQ_INT(st.records_put, 6000);
	CHECK_EQ_INT(st.kinesis_records, f.kinesis);
	CHECK(st.kinesis_records < 6000 / 40);
	CHECK(st.retries > 0);
	for (size_t i = 0; i < f.n; i++)
		CHECK(f.u[i].aggregated);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	fake_free(&f);
}

TEST(a_failure_reaches_its_writers_and_the_key_goes_on)
{
	struct fake f;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a0, a1;
	char data[64];

	fake_init(&f, &be);
	p = mk(&be, 4096, 3);
	kfs_ack_init(&a0);
	kfs_ack_init(&a1);
	for (int i = 0; i < 30; i++) {
		snprintf(data, sizeof(data), i == 5 ? "bad:%d" : "k0:%d", i);
		REQUIRE(kfs_producer_put(p, "s", "k0", NULL, data, strlen(data),
					 &a0) == 0);
		snprintf(data, sizeof(data), "k1:%d", i);
		REQUIRE(kfs_producer_put(p, "s", "k1", NULL, data, strlen(data),
					 &a1) == 0);
	}
	kfs_producer_kick(p, "s");
	/* The aggregated record holding "bad" fails whole, for good; the
	 * other key is stored. */
	CHECK_EQ_INT(kfs_ack_wait(&a0), -EINVAL);
	CHECK_EQ_INT(kfs_ack_wait(&a1), 0);
	for (size_t i = 0; i < f.n; i++)
		CHECK(strncmp(f.u[i].data, "k0", 2) != 0 ||
		      strcmp(f.u[i].key, "k0") == 0);
	kfs_ack_destroy(&a0);
	kfs_ack_destroy(&a1);
	kfs_producer_free(p, 1000);
	fake_free(&f);
}

TEST(big_records_go_plain_and_magic_is_wrapped)
{
	struct fake f;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;
	char *big = malloc(3000);
	const char magic[] = KFS_AGG_MAGIC "looks aggregated, is not";

	REQUIRE(big);
	memset(big, 'x', 3000);
	memcpy(big, "k0:1", 4);
	fake_init(&f, &be);
	p = mk(&be, 2048, 1);
	kfs_ack_init(&a);
	REQUIRE(kfs_producer_put(p, "s", "k0", NULL, "k0:0", 4, &a) == 0);
	REQUIRE(kfs_producer_put(p, "s", "k0", NULL, big, 3000, &a) == 0);
	REQUIRE(kfs_producer_put(p, "s", "k0", NULL, "k0:2", 4, &a) == 0);
	REQUIRE(kfs_producer_put(p, "s", "k1", NULL, magic, sizeof(magic) - 1,
				 &a) == 0);
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	REQUIRE(f.n == 4);
	/* Key k0 in order, the big one plain, the others in aggregated
	 * records; k1's record wrapped, so that readers take it for data. */
	{
		const struct urec *k0[3], *k1 = NULL;
		size_t n0 = 0;

		for (size_t i = 0; i < f.n; i++)
			if (!strcmp(f.u[i].key, "k0") && n0 < 3)
				k0[n0++] = &f.u[i];
			else if (!strcmp(f.u[i].key, "k1"))
				k1 = &f.u[i];
		REQUIRE(n0 == 3 && k1);
		CHECK_EQ_STR(k0[0]->data, "k0:0");
		CHECK(strncmp(k0[1]->data, "k0:1xxx", 7) == 0 && !k0[1]->aggregated);
		CHECK_EQ_STR(k0[2]->data, "k0:2");
		CHECK(k0[0]->aggregated && k0[2]->aggregated && k1->aggregated);
		CHECK(memcmp(k1->data, KFS_AGG_MAGIC, 4) == 0);
	}
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	fake_free(&f);
	free(big);
}

TEST(the_setting_is_per_stream)
{
	struct fake f;
	struct kfs_backend be;
	struct kfs_producer *p;
	struct kfs_ack a;

	fake_init(&f, &be);
	p = mk(&be, 2048, 1);
	CHECK_EQ_INT(kfs_producer_modes(p, "s"), KFS_PRODUCER_AGGREGATE);
	CHECK_EQ_INT(kfs_producer_set_mode(p, "t", KFS_PRODUCER_AGGREGATE, 0), 0);
	CHECK_EQ_INT(kfs_producer_modes(p, "t"), 0);
	CHECK_EQ_INT(kfs_producer_modes(p, "s"), KFS_PRODUCER_AGGREGATE);
	kfs_ack_init(&a);
	REQUIRE(kfs_producer_put(p, "t", "k0", NULL, "k0:0", 4, &a) == 0);
	REQUIRE(kfs_producer_put(p, "s", "k0", NULL, "k0:1", 4, &a) == 0);
	kfs_producer_kick(p, "t");
	kfs_producer_kick(p, "s");
	CHECK_EQ_INT(kfs_ack_wait(&a), 0);
	REQUIRE(f.n == 2);
	for (size_t i = 0; i < 2; i++)
		CHECK_EQ_INT(f.u[i].aggregated, strcmp(f.u[i].data, "k0:1") == 0);
	kfs_ack_destroy(&a);
	kfs_producer_free(p, 1000);
	fake_free(&f);
}

int main(void)
{
	int rc;

	kfs_log_init(1, KFS_LOG_WARN);
	test_clock_init(&tclk, T0);
	RUN(scattered_failures_keep_each_key_in_order);
	RUN(a_failure_reaches_its_writers_and_the_key_goes_on);
	RUN(big_records_go_plain_and_magic_is_wrapped);
	RUN(the_setting_is_per_stream);
	rc = tap_done();
	test_clock_destroy(&tclk);
	return rc;
}
