/* test_metrics.c - the counters of lib/metrics.h and the document of
 * fs/metrics.h: exact counts per stream, also from many threads while
 * streams come and go, and the Prometheus text they render to. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/metrics.h"
#include "lib/metrics.h"
#include "tap.h"

/* The value of counter c of `name` in s, or -1 when not there. */
static long long snap_value(const struct kfs_metrics_snapshot *s,
			    const char *name, enum kfs_metric c)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->streams[i].name, name) == 0)
			return (long long)s->streams[i].v[c];
	return -1;
}

TEST(counts_per_stream)
{
	struct kfs_metrics *m = kfs_metrics_new();
	struct kfs_metrics_snapshot s;
	uint64_t v[KFS_M_COUNT] = { 0 };

	REQUIRE(m);
	kfs_metrics_add(m, "b", KFS_M_RECORDS_PUT, 3);
	kfs_metrics_add(m, "a", KFS_M_RECORDS_PUT, 2);
	kfs_metrics_add(m, "a", KFS_M_RECORDS_PUT, 5);
	kfs_metrics_add(m, "a", KFS_M_BYTES_READ, 0);   /* makes nothing */
	v[KFS_M_BYTES_PUT] = 100;
	v[KFS_M_RECORDS_THROTTLED] = 4;
	kfs_metrics_add_all(m, "c", v);
	kfs_metrics_add_global(m, KFS_G_REQUESTS_THROTTLED, 6);
	CHECK_EQ_INT(kfs_metrics_snapshot(m, &s), 0);
	CHECK_EQ_INT(s.n, 3);
	if (s.n == 3) {
		CHECK_EQ_STR(s.streams[0].name, "a");
		CHECK_EQ_STR(s.streams[1].name, "b");
		CHECK_EQ_STR(s.streams[2].name, "c");
	}
	CHECK_EQ_INT(snap_value(&s, "a", KFS_M_RECORDS_PUT), 7);
	CHECK_EQ_INT(snap_value(&s, "a", KFS_M_BYTES_READ), 0);
	CHECK_EQ_INT(snap_value(&s, "b", KFS_M_RECORDS_PUT), 3);
	CHECK_EQ_INT(snap_value(&s, "c", KFS_M_BYTES_PUT), 100);
	CHECK_EQ_INT(snap_value(&s, "c", KFS_M_RECORDS_THROTTLED), 4);
	CHECK_EQ_INT(s.global[KFS_G_REQUESTS_THROTTLED], 6);
	CHECK_EQ_INT(s.global[KFS_G_REQUESTS_RETRIED], 0);
	kfs_metrics_snapshot_clear(&s);

	kfs_metrics_forget(m, "b");
	kfs_metrics_forget(m, "never-seen");
	CHECK_EQ_INT(kfs_metrics_snapshot(m, &s), 0);
	CHECK_EQ_INT(s.n, 2);
	CHECK_EQ_INT(snap_value(&s, "b", KFS_M_RECORDS_PUT), -1);
	kfs_metrics_snapshot_clear(&s);
	/* A stream made again after its delete starts from 0. */
	kfs_metrics_add(m, "b", KFS_M_RECORDS_PUT, 1);
	CHECK_EQ_INT(kfs_metrics_snapshot(m, &s), 0);
	CHECK_EQ_INT(snap_value(&s, "b", KFS_M_RECORDS_PUT), 1);
	kfs_metrics_snapshot_clear(&s);
	kfs_metrics_free(m);
}

TEST(null_is_a_no_op)
{
	struct kfs_metrics_snapshot s;
	char *doc;
	size_t len;

	kfs_metrics_add(NULL, "a", KFS_M_RECORDS_PUT, 1);
	kfs_metrics_add_global(NULL, KFS_G_REQUESTS_RETRIED, 1);
	kfs_metrics_forget(NULL, "a");
	CHECK_EQ_INT(kfs_metrics_snapshot(NULL, &s), 0);
	CHECK_EQ_INT(s.n, 0);
	kfs_metrics_snapshot_clear(&s);
	kfs_metrics_free(NULL);
	CHECK_EQ_INT(kfs_metrics_render(NULL, NULL, &doc, &len), 0);
	CHECK_EQ_INT(len, 0);
	free(doc);
}

#define THREADS 8
#define ROUNDS 20000
#define STREAMS 16

struct worker {
	struct kfs_metrics *m;
	int idx;
};

static void stream_name(char *buf, size_t size, int i)
{
	snprintf(buf, size, "stream-%02d", i);
}

static void *adder(void *arg)
{
	struct worker *w = arg;
	char name[32];

	for (int r = 0; r < ROUNDS; r++) {
		stream_name(name, sizeof(name), (r + w->idx) % STREAMS);
		kfs_metrics_add(w->m, name, KFS_M_RECORDS_PUT, 1);
		kfs_metrics_add(w->m, name, KFS_M_BYTES_PUT, 10);
		kfs_metrics_add_global(w->m, KFS_G_REQUESTS_RETRIED, 1);
	}
	return NULL;
}

/* Makes and drops a stream of its own, and takes snapshots, meanwhile. */
static void *churner(void *arg)
{
	struct worker *w = arg;
	struct kfs_metrics_snapshot s;

	for (int r = 0; r < ROUNDS / 20; r++) {
		kfs_metrics_add(w->m, "churn", KFS_M_RECORDS_READ, 1);
		if (r % 2)
			kfs_metrics_forget(w->m, "churn");
		if (kfs_metrics_snapshot(w->m, &s) == 0)
			kfs_metrics_snapshot_clear(&s);
	}
	return NULL;
}

TEST(many_threads)
{
	struct kfs_metrics *m = kfs_metrics_new();
	struct kfs_metrics_snapshot s;
	struct worker w[THREADS + 1];
	pthread_t t[THREADS + 1];
	char name[32];

	REQUIRE(m);
	for (int i = 0; i <= THREADS; i++) {
		w[i].m = m;
		w[i].idx = i;
		REQUIRE(pthread_create(&t[i], NULL, i < THREADS ? adder : churner,
				       &w[i]) == 0);
	}
	for (int i = 0; i <= THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_INT(kfs_metrics_snapshot(m, &s), 0);
	/* Every stream got ROUNDS / STREAMS adds from each thread. */
	for (int i = 0; i < STREAMS; i++) {
		stream_name(name, sizeof(name), i);
		CHECK_EQ_INT(snap_value(&s, name, KFS_M_RECORDS_PUT),
			     THREADS * ROUNDS / STREAMS);
		CHECK_EQ_INT(snap_value(&s, name, KFS_M_BYTES_PUT),
			     10 * THREADS * ROUNDS / STREAMS);
	}
	CHECK_EQ_INT(s.global[KFS_G_REQUESTS_RETRIED], THREADS * ROUNDS);
	/* Its last round dropped it. */
	CHECK_EQ_INT(snap_value(&s, "churn", KFS_M_RECORDS_READ), -1);
	kfs_metrics_snapshot_clear(&s);
	kfs_metrics_free(m);
}

TEST(render)
{
	struct kfs_metrics *m = kfs_metrics_new();
	char *doc, *text;
	size_t len;

	REQUIRE(m);
	kfs_metrics_add(m, "web", KFS_M_RECORDS_PUT, 12);
	kfs_metrics_add(m, "app.logs", KFS_M_BYTES_READ, 345);
	kfs_metrics_add_global(m, KFS_G_REQUESTS_THROTTLED, 2);
	REQUIRE(kfs_metrics_render(m, NULL, &doc, &len) == 0);
	text = strndup(doc, len);
	REQUIRE(text);
	CHECK(strstr(text, "# HELP kinesisfs_put_records_total ") == text);
	CHECK(strstr(text, "\n# TYPE kinesisfs_put_records_total counter\n"
			   "kinesisfs_put_records_total{stream=\"app.logs\"} 0\n"
			   "kinesisfs_put_records_total{stream=\"web\"} 12\n"));
	CHECK(strstr(text, "\nkinesisfs_read_bytes_total{stream=\"app.logs\"} 345\n"));
	CHECK(strstr(text, "\n# TYPE kinesisfs_throttled_requests_total counter\n"
			   "kinesisfs_throttled_requests_total 2\n"));
	/* Without a producer, no queue gauges. */
	CHECK(!strstr(text, "producer"));
	CHECK(len > 0 && text[len - 1] == '\n');
	free(text);
	free(doc);
	kfs_metrics_free(m);
}

int main(void)
{
	RUN(counts_per_stream);
	RUN(null_is_a_no_op);
	RUN(many_threads);
	RUN(render);
	return tap_done();
}
