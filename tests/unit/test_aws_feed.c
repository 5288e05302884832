/*
 * test_aws_feed.c - the shards' pollers of the AWS backend
 * (backend/aws/feed.h) over a shard kept in memory: a poller started
 * from a reader's iterator reads on from exactly there; readers at the
 * tip are served what it read; a plain read waits for a look asked after
 * it; a reader behind what the buffer keeps is not covered; who may join
 * a running poller; the end of a closed shard.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/aws/feed.h"
#include "backend/aws/wire.h"
#include "backend/backend.h"
#include "lib/util.h"
#include "tap.h"

#define SHARD "shardId-000000000000"

/* The shard: records i (0-based) have sequence number 1001 + i. */
static pthread_mutex_t shard_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t shard_n;            /* records put */
static size_t shard_len = 10;     /* bytes of each record's data */
static int shard_closed;          /* read to its end: no next iterator */
static int reads;                 /* pages asked for */

static void put_records(size_t n)
{
	pthread_mutex_lock(&shard_lock);
	shard_n += n;
	pthread_mutex_unlock(&shard_lock);
}

/* A composite iterator whose service part is the index of the next
 * record. */
static char *iter_at(size_t next, const char *last_seq)
{
	struct kfs_wire_iter it = { 0 };
	char svc[32], *s = NULL;

	snprintf(it.stream, sizeof(it.stream), "s");
	snprintf(it.shard, sizeof(it.shard), SHARD);
	it.type = KFS_ITER_TRIM_HORIZON;
	snprintf(it.last_seq, sizeof(it.last_seq), "%s", last_seq);
	snprintf(svc, sizeof(svc), "%zu", next);
	kfs_wire_iter_format(&it, svc, &s);
	return s;
}

static int fake_read(void *ctx, const char *iter, struct kfs_get_result *out)
{
	struct kfs_wire_iter it;
	size_t next, n;

	(void)ctx;
	memset(out, 0, sizeof(*out));
	if (kfs_wire_iter_parse(iter, &it) < 0)
		return -EINVAL;
	next = strtoul(it.service, NULL, 10);
	pthread_mutex_lock(&shard_lock);
	reads++;
	n = shard_n > next ? shard_n - next : 0;
	out->records = calloc(n + 1, sizeof(*out->records));
	for (size_t i = 0; i < n; i++) {
		struct kfs_record *r = &out->records[i];

		r->data = calloc(1, shard_len);
		r->len = shard_len;
		r->key = strdup("k");
		snprintf(r->seq, sizeof(r->seq), "%zu", 1001 + next + i);
	}
	out->n = n;
	if (shard_closed && next + n == shard_n) {
		kfs_name_list_add(&out->children, "shardId-000000000001");
	} else {
		char last[24];

		snprintf(last, sizeof(last), "%zu", 1000 + next + n);
		out->next_iterator = iter_at(next + n, n ? last : it.last_seq);
	}
	pthread_mutex_unlock(&shard_lock);
	return 0;
}

static struct kfs_aws_feeds *feeds_new(size_t buffer)
{
	struct kfs_aws_feeds *f = NULL;
	struct kfs_aws_feed_env env = {
		.read = fake_read, .poll_ms = 50, .buffer_bytes = buffer,
	};

	kfs_aws_feeds_new(&env, &f);
	return f;
}

/* A reader that read records 0..n-1 itself: its position. */
static void reader_after(struct kfs_wire_iter *it, size_t n)
{
	memset(it, 0, sizeof(*it));
	snprintf(it->stream, sizeof(it->stream), "s");
	snprintf(it->shard, sizeof(it->shard), SHARD);
	it->type = KFS_ITER_TRIM_HORIZON;
	if (n)
		snprintf(it->last_seq, sizeof(it->last_seq), "%zu", 1000 + n);
}

static void reset_shard(void)
{
	shard_n = 0;
	shard_len = 10;
	shard_closed = 0;
	reads = 0;
}

TEST(starts_and_serves)
{
	struct kfs_aws_feeds *f;
	struct kfs_aws_feed_snap none = { 0 };
	struct kfs_wire_iter it;
	struct kfs_get_result res;
	char *next;
	int ended, got = 0;

	reset_shard();
	put_records(3);
	f = feeds_new(1 << 20);
	reader_after(&it, 3);
	next = iter_at(3, it.last_seq);
	CHECK_EQ_INT(kfs_aws_feed_offer(f, &it, next, &none, 0), 1);
	free(next);
	/* Records put after the reader's last: the poller reads them. */
	put_records(2);
	for (int i = 0; i < 100 && got < 2; i++) {
		CHECK_EQ_INT(kfs_aws_feed_read(f, &it, 100, KFS_GET_STALE_OK,
					       &res, &ended), 1);
		got += (int)res.n;
		kfs_get_result_clear(&res);
		if (got < 2)
			usleep(20000);
	}
	CHECK_EQ_INT(got, 2);
	CHECK_EQ_STR(it.last_seq, "1005");
	/* A plain read (EOF is decided there) sees a record put just
	 * before it, without waiting for the next poll. */
	put_records(1);
	CHECK_EQ_INT(kfs_aws_feed_read(f, &it, 100, 0, &res, &ended), 1);
	CHECK_EQ_INT(res.n, 1);
	CHECK_EQ_STR(res.records[0].seq, "1006");
	kfs_get_result_clear(&res);
	kfs_aws_feeds_free(f);
}

TEST(behind_the_buffer)
{
	struct kfs_aws_feeds *f;
	struct kfs_aws_feed_snap none = { 0 };
	struct kfs_wire_iter it, slow;
	struct kfs_get_result res;
	char *next;
	int ended;

	reset_shard();
	shard_len = 100 << 10;   /* 100 KiB records; the buffer 256 KiB */
	f = feeds_new(256 << 10);
	reader_after(&it, 0);
	next = iter_at(0, "");
	/* Handed nothing: joins the run it starts, from its start. */
	CHECK_EQ_INT(kfs_aws_feed_offer(f, &it, next, &none, 0), 1);
	CHECK(it.feed != 0);
	free(next);
	slow = it;
	put_records(8);
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&shard_lock);
		int r = reads;
		pthread_mutex_unlock(&shard_lock);
		if (r >= 3)
			break;
		usleep(20000);
	}
	/* The oldest went: the slow reader reads on its own. */
	CHECK_EQ_INT(kfs_aws_feed_read(f, &slow, 100, KFS_GET_STALE_OK, &res,
				       &ended), 0);
	/* One at record 7 is served record 8. */
	reader_after(&it, 7);
	CHECK_EQ_INT(kfs_aws_feed_read(f, &it, 100, KFS_GET_STALE_OK, &res,
				       &ended), 1);
	CHECK_EQ_INT(res.n, 1);
	CHECK_EQ_STR(it.last_seq, "1008");
	kfs_get_result_clear(&res);
	kfs_aws_feeds_free(f);
}

TEST(who_joins)
{
	struct kfs_aws_feeds *f;
	struct kfs_aws_feed_snap none = { 0 }, tip;
	struct kfs_wire_iter a, b;
	char *next;

	reset_shard();
	put_records(2);
	f = feeds_new(1 << 20);
	reader_after(&a, 2);
	next = iter_at(2, a.last_seq);
	CHECK_EQ_INT(kfs_aws_feed_offer(f, &a, next, &none, 0), 1);
	free(next);
	for (int i = 0; i < 100 && !kfs_aws_feed_tip(f, "s", SHARD, &tip); i++)
		usleep(20000);
	CHECK_EQ_STR(tip.seq, "1002");
	/* Handed nothing, started (LATEST) after the tip was read: it may
	 * not take that tip, records before its start may follow it. */
	reader_after(&b, 0);
	b.type = KFS_ITER_LATEST;
	next = iter_at(2, "");
	CHECK_EQ_INT(kfs_aws_feed_offer(f, &b, next, &tip, tip.asked_ms + 1), 0);
	/* Started before: it does, at the tip. */
	CHECK_EQ_INT(kfs_aws_feed_offer(f, &b, next, &tip, tip.asked_ms), 1);
	CHECK_EQ_STR(b.last_seq, "1002");
	free(next);
	/* A reader behind the poller's start is not covered. */
	reader_after(&b, 1);
	next = iter_at(1, b.last_seq);
	CHECK_EQ_INT(kfs_aws_feed_offer(f, &b, next, &none, 0), 0);
	free(next);
	kfs_aws_feeds_free(f);
}

TEST(closed_shard)
{
	struct kfs_aws_feeds *f;
	struct kfs_aws_feed_snap none = { 0 };
	struct kfs_wire_iter it;
	struct kfs_get_result res;
	char *next;
	int ended = 0, got = 0;

	reset_shard();
	put_records(1);
	f = feeds_new(1 << 20);
	reader_after(&it, 1);
	next = iter_at(1, it.last_seq);
	CHECK_EQ_INT(kfs_aws_feed_offer(f, &it, next, &none, 0), 1);
	free(next);
	pthread_mutex_lock(&shard_lock);
	shard_n += 2;
	shard_closed = 1;
	pthread_mutex_unlock(&shard_lock);
	for (int i = 0; i < 100 && !ended; i++) {
		CHECK_EQ_INT(kfs_aws_feed_read(f, &it, 100, 0, &res, &ended), 1);
		got += (int)res.n;
		if (ended) {
			CHECK_EQ_INT(res.children.n, 1);
			CHECK_EQ_STR(res.children.v[0], "shardId-000000000001");
		}
		kfs_get_result_clear(&res);
		if (!ended)
			usleep(20000);
	}
	CHECK_EQ_INT(ended, 1);
	CHECK_EQ_INT(got, 2);
	kfs_aws_feeds_free(f);
}

int main(void)
{
	RUN(starts_and_serves);
	RUN(behind_the_buffer);
	RUN(who_joins);
	RUN(closed_shard);
	return tap_done();
}
