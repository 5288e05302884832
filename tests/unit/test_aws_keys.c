/*
 * test_aws_keys.c - key files on the AWS backend (backend/aws/keys.c),
 * through the backend's interface over a scripted HTTP client
 * (awsfake.h): names made, truncated and rotated with the names table
 * the backend hands out, sizes counted from what the backend puts and
 * reads (exactly for its own records, never twice, never records
 * before a window), and key_iterator's windows: the key's records only,
 * from the start's sequence number or time, to the end's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/aws/internal.h"
#include "backend/aws/keys.h"
#include "backend/aws/wire.h"
#include "backend/backend.h"
#include "backend/names.h"
#include "tap.h"
#include "testclock.h"
#include "awsfake.h"

#define SH0 "shardId-000000000000"
#define SH1 "shardId-000000000001"
#define SHARDS0 "{\"Shards\":[" S0 "]}"
#define SHARDS01 "{\"Shards\":[" S0 "," S1 "]}"
/* A record arriving at `secs` (epoch seconds; T0 is 1767225600). */
#define RECT(seq, b64, key, secs) "{\"SequenceNumber\":\"" seq "\"," \
	"\"ApproximateArrivalTimestamp\":" secs ",\"Data\":\"" b64 "\"," \
	"\"PartitionKey\":\"" key "\"}"
#define PUT_OK(seq, shard) "{\"SequenceNumber\":\"" seq "\",\"ShardId\":\"" shard "\"}"

/* Puts n records (key[i], data[i]) to S and checks each was stored. */
static void put(struct kfs_backend *be, size_t n, const char *const *keys,
		const char *const *data)
{
	struct kfs_put_entry e[16];

	REQUIRE(n <= 16);
	memset(e, 0, sizeof(e));
	for (size_t i = 0; i < n; i++) {
		e[i].key = keys[i];
		e[i].data = data[i];
		e[i].len = strlen(data[i]);
	}
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, n), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(e[i].err, 0);
}

static struct kfs_name_desc stat_of(struct kfs_names *t, const char *name)
{
	struct kfs_name_desc d;

	memset(&d, 0, sizeof(d));
	CHECK_EQ_INT(kfs_names_stat(t, "S", name, &d), 0);
	return d;
}

static struct kfs_names *names_of(struct kfs_backend *be)
{
	struct kfs_names *t = OPS(be)->names(be->impl);

	REQUIRE(t);
	return t;
}

/* A key iterator over name's window in shard 0. */
static char *window_iter(struct kfs_backend *be, const char *name)
{
	struct kfs_wposv start = { 0 }, end = { 0 };
	char key[KFS_KEY_MAX + 1], *iter = NULL;
	int rotated = 0;

	REQUIRE(kfs_names_window(names_of(be), "S", name, key, &start, &end,
				 &rotated) == 0);
	CHECK_EQ_INT(OPS(be)->key_iterator(be->impl, "S", SH0, key,
					   kfs_wposv_find(&start, SH0),
					   rotated ? kfs_wposv_find(&end, SH0) : NULL,
					   &iter), 0);
	kfs_wposv_clear(&start);
	kfs_wposv_clear(&end);
	REQUIRE(iter);
	return iter;
}

/* Reads one page; the next iterator replaces *iter. */
static size_t read_page(struct kfs_backend *be, char **iter,
			struct kfs_get_result *r)
{
	kfs_get_result_clear(r);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, *iter, 100, 0, r), 0);
	free(*iter);
	*iter = r->next_iterator;
	r->next_iterator = NULL;
	return r->n;
}

TEST(own_writes_sized_exactly)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_names *t = names_of(be);
	struct kfs_name_desc d;
	static const char *k3[] = { "app.log", "app.log", "other" };
	static const char *d3[] = { "a\n", "bb", "xyz" };
	static const char *k1[] = { "app.log" };
	static const char *d1[] = { "c\n" };
	char *iter;

	SCRIPT(STEP("ListShards", NULL, NULL, 200, SHARDS0, 0, NULL),
	       STEP("PutRecords", "\"PartitionKey\":\"other\"", NULL, 200,
		    "{\"FailedRecordCount\":0,\"Records\":[" PUT_OK("101", SH0) ","
		    PUT_OK("102", SH0) "," PUT_OK("103", SH0) "]}", 0, NULL),
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,"
		    "\"Records\":[" PUT_OK("104", SH0) "]}", 0, NULL),
	       STEP("GetShardIterator", "\"StartingSequenceNumber\":\"102\"", NULL,
		    200, "{\"ShardIterator\":\"I1\"}", 0, NULL));
	CHECK_EQ_INT(kfs_names_create(t, "S", "app.log", 0, 0, 0, 0644, &d, NULL), 0);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], 0);
	CHECK_EQ_INT(d.records, 0);
	CHECK_EQ_INT(d.mtime_ms, T0);           /* the window's start */
	test_clock_advance(&tclk, 1000);
	put(be, 3, k3, d3);
	d = stat_of(t, "app.log");
	CHECK_EQ_INT(d.records, 2);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], 5);     /* "a\n" "bb\n" */
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], 4);
	CHECK_EQ_INT(d.mtime_ms, T0 + 1000);
	/* Truncation: the window starts after 102, and holds what follows. */
	CHECK_EQ_INT(kfs_names_truncate(t, "S", "app.log", NULL), 0);
	d = stat_of(t, "app.log");
	CHECK_EQ_INT(d.records, 0);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], 0);
	put(be, 1, k1, d1);
	d = stat_of(t, "app.log");
	CHECK_EQ_INT(d.records, 1);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], 2);
	iter = window_iter(be, "app.log");
	CHECK(kfs_aws_keys_is_iterator(iter));
	free(iter);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(rotation_windows_read_by_sequence_number)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_names *t = names_of(be);
	struct kfs_get_result r = { 0 };
	static const char *k2[] = { "app.log", "app.log" };
	static const char *d2[] = { "a\n", "b\n" };
	static const char *k1[] = { "app.log" };
	static const char *d1[] = { "d\n" };
	char *iter;

	SCRIPT(STEP("ListShards", NULL, NULL, 200, SHARDS0, 0, NULL),
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,"
		    "\"Records\":[" PUT_OK("101", SH0) "," PUT_OK("102", SH0) "]}", 0, NULL),
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,"
		    "\"Records\":[" PUT_OK("104", SH0) "]}", 0, NULL),
	       /* app.log.1: from the creation's time to 102. */
	       STEP("GetShardIterator", "\"ShardIteratorType\":\"AT_TIMESTAMP\","
		    "\"Timestamp\":1767225600}", NULL, 200, "{\"ShardIterator\":\"I1\"}", 0, NULL),
	       STEP("GetRecords", "\"I1\"", NULL, 200, "{\"Records\":["
		    RECT("100", "eA==", "other", "1767225600") ","
		    RECT("101", "YQo=", "app.log", "1767225601") ","
		    RECT("102", "Ygo=", "app.log", "1767225601") ","
		    RECT("103", "eA==", "other", "1767225601") ","
		    RECT("104", "ZAo=", "app.log", "1767225602")
		    "],\"NextShardIterator\":\"I2\",\"MillisBehindLatest\":0}", 0, NULL),
	       /* app.log again: after 102, live. */
	       STEP("GetShardIterator", "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\","
		    "\"StartingSequenceNumber\":\"102\"", NULL, 200,
		    "{\"ShardIterator\":\"J1\"}", 0, NULL),
	       STEP("GetRecords", "\"J1\"", NULL, 200, "{\"Records\":["
		    RECT("103", "eA==", "other", "1767225601") ","
		    RECT("104", "ZAo=", "app.log", "1767225602")
		    "],\"NextShardIterator\":\"J2\",\"MillisBehindLatest\":0}", 0, NULL),
	       STEP("GetRecords", "\"J2\"", NULL, 200, "{\"Records\":[],"
		    "\"NextShardIterator\":\"J3\",\"MillisBehindLatest\":0}", 0, NULL));
	CHECK_EQ_INT(kfs_names_create(t, "S", "app.log", 0, 0, 0, 0644, NULL, NULL), 0);
	test_clock_advance(&tclk, 1000);
	put(be, 2, k2, d2);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "app.log", "app.log.1", 0, NULL), 0);
	/* A handle opened before the rotation writes on: the next window. */
	put(be, 1, k1, d1);
	CHECK_EQ_INT(stat_of(t, "app.log.1").records, 2);
	CHECK_EQ_INT(kfs_names_stat(t, "S", "app.log", &(struct kfs_name_desc){ 0 }),
		     -ENOENT);
	CHECK_EQ_INT(kfs_names_create(t, "S", "app.log", 0, 0, 0, 0644, NULL, NULL), 0);
	CHECK_EQ_INT(stat_of(t, "app.log").records, 1);
	CHECK_EQ_INT(stat_of(t, "app.log").bytes[KFS_FRAMING_LINE], 2);

	iter = window_iter(be, "app.log.1");
	CHECK_EQ_INT(read_page(be, &iter, &r), 2);
	CHECK_EQ_STR(r.records[0].seq, "101");
	CHECK_EQ_STR(r.records[1].seq, "102");
	CHECK_EQ_STR(r.records[1].key, "app.log");
	CHECK(iter == NULL);                    /* the end: no more */
	CHECK_EQ_INT(r.children.n, 0);

	iter = window_iter(be, "app.log");
	CHECK_EQ_INT(read_page(be, &iter, &r), 1);
	CHECK(memcmp(r.records[0].data, "d\n", 2) == 0);
	REQUIRE(iter);                          /* live: it follows */
	CHECK(kfs_aws_keys_is_iterator(iter));
	CHECK_EQ_INT(read_page(be, &iter, &r), 0);
	CHECK(iter != NULL);
	free(iter);
	kfs_get_result_clear(&r);
	/* Reading counted nothing twice. */
	CHECK_EQ_INT(stat_of(t, "app.log.1").records, 2);
	CHECK_EQ_INT(stat_of(t, "app.log").records, 1);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

/* A reader reading one page while a put is in flight (fk.during). */
static struct {
	struct kfs_backend *be;
	char **iter;
	struct kfs_get_result *r;
	size_t n;               /* records it read */
} rd;

static void read_one_page(void)
{
	rd.n = read_page(rd.be, rd.iter, rd.r);
}

TEST(reads_count_others_records_once)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_names *t = names_of(be);
	struct kfs_iter_spec spec = { .type = KFS_ITER_TRIM_HORIZON };
	struct kfs_get_result r = { 0 };
	struct kfs_name_desc d;
	static const char *k1[] = { "k" };
	static const char *d1[] = { "p\n" };
	char *iter = NULL;

	SCRIPT(STEP("ListShards", NULL, NULL, 200, SHARDS0, 0, NULL),
	       STEP("GetShardIterator", NULL, NULL, 200, "{\"ShardIterator\":\"I1\"}", 0, NULL),
	       /* Before the name (not counted), after it, another key. */
	       STEP("GetRecords", "\"I1\"", NULL, 200, "{\"Records\":["
		    RECT("5", "b2xkCg==", "k", "1767225599") ","
		    RECT("6", "bmV3Cg==", "k", "1767225601") ","
		    RECT("7", "eA==", "x", "1767225601")
		    "],\"NextShardIterator\":\"I2\",\"MillisBehindLatest\":0}", 0, NULL),
	       STEP("GetShardIterator", NULL, NULL, 200, "{\"ShardIterator\":\"K1\"}", 0, NULL),
	       /* A second reader from the start: nothing new. */
	       STEP("GetRecords", "\"K1\"", NULL, 200, "{\"Records\":["
		    RECT("5", "b2xkCg==", "k", "1767225599") ","
		    RECT("6", "bmV3Cg==", "k", "1767225601")
		    "],\"NextShardIterator\":\"K2\",\"MillisBehindLatest\":0}", 0, NULL),
	       /* Then a record of ours, read before its put's answer. */
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,"
		    "\"Records\":[" PUT_OK("9", SH0) "]}", 0, NULL),
	       STEP("GetRecords", "\"I2\"", NULL, 200, "{\"Records\":["
		    RECT("9", "cAo=", "k", "1767225602")
		    "],\"NextShardIterator\":\"I3\",\"MillisBehindLatest\":0}", 0, NULL),
	       /* Two writers' answers out of order: 12, then 11. */
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,"
		    "\"Records\":[" PUT_OK("12", SH0) "]}", 0, NULL),
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,"
		    "\"Records\":[" PUT_OK("11", SH0) "]}", 0, NULL));
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL), 0);
	test_clock_advance(&tclk, 5000);
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "S", SH0, &spec, &iter), 0);
	CHECK_EQ_INT(read_page(be, &iter, &r), 3);
	d = stat_of(t, "k");
	CHECK_EQ_INT(d.records, 1);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], 4);
	CHECK_EQ_INT(d.mtime_ms, T0 + 1000);
	{
		char *iter2 = NULL;
		CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "S", SH0, &spec, &iter2), 0);
		CHECK_EQ_INT(read_page(be, &iter2, &r), 2);
		free(iter2);
	}
	CHECK_EQ_INT(stat_of(t, "k").records, 1);
	/* seq 9, read while its put is in flight. */
	rd.be = be;
	rd.iter = &iter;
	rd.r = &r;
	during("PutRecords", read_one_page);
	put(be, 1, k1, d1);
	CHECK_EQ_INT(rd.n, 1);
	CHECK_EQ_INT(stat_of(t, "k").records, 2);
	CHECK_EQ_INT(stat_of(t, "k").mtime_ms, T0 + 2000);
	put(be, 1, k1, d1);
	put(be, 1, k1, d1);
	CHECK_EQ_INT(stat_of(t, "k").records, 4);
	CHECK_EQ_INT(stat_of(t, "k").bytes[KFS_FRAMING_WRITE], 4 + 2 + 2 + 2);
	free(iter);
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(records_read_while_their_put_is_in_flight_count_once)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_names *t = names_of(be);
	struct kfs_iter_spec spec = { .type = KFS_ITER_TRIM_HORIZON };
	struct kfs_get_result r = { 0 };
	static const char *k10[] = { "k", "k", "k", "k", "k", "k", "k", "k", "k", "k" };
	static const char *d10[] = { "a\n", "a\n", "a\n", "a\n", "a\n", "a\n",
				     "a\n", "a\n", "a\n", "a\n" };
	static const char *k1[] = { "k" };
	static const char *d1[] = { "bb\n" };
	char *iter = NULL;

	SCRIPT(STEP("ListShards", NULL, NULL, 200, SHARDS0, 0, NULL),
	       STEP("GetShardIterator", NULL, NULL, 200, "{\"ShardIterator\":\"I1\"}", 0, NULL),
	       /* Ten records of one put, more than a reader's last few. */
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,\"Records\":["
		    PUT_OK("11", SH0) "," PUT_OK("12", SH0) "," PUT_OK("13", SH0) ","
		    PUT_OK("14", SH0) "," PUT_OK("15", SH0) "," PUT_OK("16", SH0) ","
		    PUT_OK("17", SH0) "," PUT_OK("18", SH0) "," PUT_OK("19", SH0) ","
		    PUT_OK("20", SH0) "]}", 0, NULL),
	       /* Read before the put's answer: those ten, another key's,
		* and one of k put by someone else. */
	       STEP("GetRecords", "\"I1\"", NULL, 200, "{\"Records\":["
		    RECT("11", "YQo=", "k", "1767225601") "," RECT("12", "YQo=", "k", "1767225601") ","
		    RECT("13", "YQo=", "k", "1767225601") "," RECT("14", "YQo=", "k", "1767225601") ","
		    RECT("15", "YQo=", "k", "1767225601") "," RECT("16", "YQo=", "k", "1767225601") ","
		    RECT("17", "YQo=", "k", "1767225601") "," RECT("18", "YQo=", "k", "1767225601") ","
		    RECT("19", "YQo=", "k", "1767225601") "," RECT("20", "YQo=", "k", "1767225601") ","
		    RECT("21", "eA==", "x", "1767225601") "," RECT("22", "Y2NjCg==", "k", "1767225601")
		    "],\"NextShardIterator\":\"I2\",\"MillisBehindLatest\":0}", 0, NULL),
	       /* A put after the read, and the reader at the tip. */
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,"
		    "\"Records\":[" PUT_OK("23", SH0) "]}", 0, NULL),
	       STEP("GetRecords", "\"I2\"", NULL, 200, "{\"Records\":["
		    RECT("23", "YmIK", "k", "1767225602")
		    "],\"NextShardIterator\":\"I3\",\"MillisBehindLatest\":0}", 0, NULL));
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL), 0);
	test_clock_advance(&tclk, 1000);
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "S", SH0, &spec, &iter), 0);
	rd.be = be;
	rd.iter = &iter;
	rd.r = &r;
	rd.n = 0;
	during("PutRecords", read_one_page);
	put(be, 10, k10, d10);
	CHECK_EQ_INT(rd.n, 12);
	CHECK_EQ_INT(stat_of(t, "k").records, 11);
	CHECK_EQ_INT(stat_of(t, "k").bytes[KFS_FRAMING_LINE], 10 * 2 + 4);
	/* Later records count once, by the put or the read, whichever
	 * comes first. */
	put(be, 1, k1, d1);
	CHECK_EQ_INT(stat_of(t, "k").records, 12);
	CHECK_EQ_INT(read_page(be, &iter, &r), 1);
	CHECK_EQ_INT(stat_of(t, "k").records, 12);
	CHECK_EQ_INT(stat_of(t, "k").bytes[KFS_FRAMING_LINE], 10 * 2 + 4 + 3);
	free(iter);
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(time_ends_where_no_record_was_seen)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_names *t = names_of(be);
	struct kfs_get_result r = { 0 };
	char *iter;

	SCRIPT(STEP("ListShards", NULL, NULL, 200, SHARDS0, 0, NULL),
	       STEP("GetShardIterator", "AT_TIMESTAMP", NULL, 200,
		    "{\"ShardIterator\":\"I1\"}", 0, NULL),
	       /* Arrived at or after the end (T0 + 5 s): not in the window. */
	       STEP("GetRecords", "\"I1\"", NULL, 200, "{\"Records\":["
		    RECT("1", "YQo=", "k", "1767225601") ","
		    RECT("2", "Ygo=", "k", "1767225605")
		    "],\"NextShardIterator\":\"I2\",\"MillisBehindLatest\":0}", 0, NULL),
	       STEP("GetShardIterator", "AT_TIMESTAMP", NULL, 200,
		    "{\"ShardIterator\":\"J1\"}", 0, NULL),
	       /* At the tip before the end has settled: it goes on... */
	       STEP("GetRecords", "\"J1\"", NULL, 200, "{\"Records\":["
		    RECT("1", "YQo=", "k", "1767225601")
		    "],\"NextShardIterator\":\"J2\",\"MillisBehindLatest\":0}", 0, NULL),
	       /* ... and ends at the tip once it has. */
	       STEP("GetRecords", "\"J2\"", NULL, 200, "{\"Records\":[],"
		    "\"NextShardIterator\":\"J3\",\"MillisBehindLatest\":0}", 0, NULL));
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL), 0);
	test_clock_advance(&tclk, 5000);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "k", "k.1", 0, NULL), 0);
	iter = window_iter(be, "k.1");
	CHECK_EQ_INT(read_page(be, &iter, &r), 1);
	CHECK_EQ_STR(r.records[0].seq, "1");
	CHECK(iter == NULL);
	iter = window_iter(be, "k.1");
	CHECK_EQ_INT(read_page(be, &iter, &r), 1);
	REQUIRE(iter != NULL);
	test_clock_advance(&tclk, 1000);
	CHECK_EQ_INT(read_page(be, &iter, &r), 0);
	CHECK(iter == NULL);
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(shards_children_and_expiry)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_names *t = names_of(be);
	struct kfs_get_result r = { 0 };
	struct kfs_name_desc d;
	static const char *k2[] = { "k", "k" };
	static const char *d2[] = { "a\n", "bb\n" };
	char *iter;

	SCRIPT(STEP("ListShards", NULL, NULL, 200, SHARDS01, 0, NULL),
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,"
		    "\"Records\":[" PUT_OK("101", SH0) "," PUT_OK("201", SH1) "]}", 0, NULL),
	       STEP("GetShardIterator", NULL, NULL, 200, "{\"ShardIterator\":\"I1\"}", 0, NULL),
	       STEP("GetRecords", "\"I1\"", NULL, 200, "{\"Records\":["
		    RECT("101", "YQo=", "k", "1767225601")
		    "],\"NextShardIterator\":\"I2\",\"MillisBehindLatest\":0}", 0, NULL),
	       /* Expired: resumed after the last record read, any key's. */
	       STEP("GetRecords", "\"I2\"", NULL, 400, ERR("ExpiredIteratorException"), 0, NULL),
	       STEP("GetShardIterator", "\"StartingSequenceNumber\":\"101\"", NULL,
		    200, "{\"ShardIterator\":\"I3\"}", 0, NULL),
	       /* The end of a closed shard: a live window's children. */
	       STEP("GetRecords", "\"I3\"", NULL, 200, "{\"Records\":[],"
		    "\"MillisBehindLatest\":0,\"ChildShards\":[{\"ShardId\":"
		    "\"shardId-000000000002\",\"ParentShards\":[\"" SH0 "\"],"
		    "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"}}]}",
		    0, NULL));
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL), 0);
	test_clock_advance(&tclk, 1000);
	put(be, 2, k2, d2);
	d = stat_of(t, "k");
	CHECK_EQ_INT(d.records, 2);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], 5);
	iter = window_iter(be, "k");
	CHECK_EQ_INT(read_page(be, &iter, &r), 1);
	REQUIRE(iter);
	CHECK_EQ_INT(read_page(be, &iter, &r), 0);
	CHECK(iter == NULL);
	CHECK_EQ_INT(r.children.n, 1);
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(bad_iterators_and_deleted_streams)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_names *t = names_of(be);
	struct kfs_get_result r = { 0 };
	struct kfs_wpos p;
	char *iter = NULL;

	CHECK_EQ_INT(OPS(be)->get_records(be->impl, "kfsk1|1|12|0|5|ab|kfs1|x", 10, 0, &r),
		     -EINVAL);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, "kfsk1|9|", 10, 0, &r), -EINVAL);
	memset(&p, 0, sizeof(p));
	snprintf(p.shard, sizeof(p.shard), "%s", SH1);
	CHECK_EQ_INT(OPS(be)->key_iterator(be->impl, "S", SH0, "k", &p, NULL, &iter),
		     -EINVAL);
	CHECK_EQ_INT(OPS(be)->key_iterator(be->impl, "S", SH0, "", NULL, NULL, &iter),
		     -EINVAL);
	CHECK_EQ_INT(OPS(be)->key_iterator(be->impl, "S", "nope", "k", NULL, NULL, &iter),
		     -ENOENT);
	CHECK(iter == NULL);
	CHECK(kfs_aws_seq_cmp("0099", "100") < 0);
	CHECK(kfs_aws_seq_cmp("49590338271490256608559692538361571095921575989136588898",
			      "49590338271490256608559692538361571095921575989136588899") < 0);
	CHECK(kfs_aws_seq_cmp("", "0") < 0);
	CHECK_EQ_INT(kfs_aws_seq_cmp("007", "7"), 0);

	SCRIPT(STEP("ListShards", NULL, NULL, 200, SHARDS0, 0, NULL),
	       STEP("DeleteStream", NULL, NULL, 200, "{}", 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
		    400, ERR("ResourceNotFoundException"), 0, NULL));
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL), 0);
	CHECK_EQ_INT(OPS(be)->delete_stream(be->impl, "S"), 0);
	CHECK_EQ_INT(kfs_names_stat(t, "S", "k", &(struct kfs_name_desc){ 0 }), -ENOENT);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

int main(void)
{
	int rc;

	/* Each test starts at T0: the scripts' times are written from it. */
#define RUN_AT_T0(name) do { test_clock_init(&tclk, T0); RUN(name); \
		test_clock_destroy(&tclk); } while (0)
	RUN_AT_T0(own_writes_sized_exactly);
	RUN_AT_T0(rotation_windows_read_by_sequence_number);
	RUN_AT_T0(reads_count_others_records_once);
	RUN_AT_T0(records_read_while_their_put_is_in_flight_count_once);
	RUN_AT_T0(time_ends_where_no_record_was_seen);
	RUN_AT_T0(shards_children_and_expiry);
	RUN_AT_T0(bad_iterators_and_deleted_streams);
	rc = tap_done();
	return rc;
}
