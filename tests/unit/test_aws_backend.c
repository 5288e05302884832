/*
 * test_aws_backend.c - the AWS backend's operations over a scripted HTTP
 * client: each test lists the requests it expects (action, what the body
 * must or must not hold) and the answers to give, and fails on a request
 * out of script or on answers left unused.  Covers paging, caching and its
 * invalidation, waits for ACTIVE, the error table in action, retries (and
 * their absence for PutRecords), credential refresh, expired iterators,
 * throttled reads, answers too large to take and the per-shard read rate.
 *
 * The backend runs on a test clock (testclock.h): caches age, and the
 * backoff, the rate limit and the waits for ACTIVE pass, only as the clock
 * says, and every sleep returns at once with the clock moved on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/aws/internal.h"
#include "backend/aws/wire.h"
#include "backend/backend.h"
#include "tap.h"
#include "testclock.h"
#include "awsfake.h"

/* ---- streams ---------------------------------------------------------------- */

TEST(list_streams_paged_and_cached)
{
	struct kfs_backend *be = open_be(300);
	struct kfs_name_list l = { 0 };

	SCRIPT(STEP("ListStreams", "\"Limit\":100", "ExclusiveStart",
	            200, "{\"StreamNames\":[\"a\",\"b\"],\"HasMoreStreams\":true}", 0, NULL),
	       STEP("ListStreams", "\"ExclusiveStartStreamName\":\"b\"", NULL,
	            200, "{\"StreamNames\":[\"c\"],\"HasMoreStreams\":false}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->list_streams(be->impl, &l), 0);
	REQUIRE(l.n == 3);
	CHECK_EQ_STR(l.v[2], "c");
	kfs_name_list_clear(&l);
	/* Again at once: from the cache, no request. */
	CHECK_EQ_INT(OPS(be)->list_streams(be->impl, &l), 0);
	CHECK_EQ_INT(l.n, 3);
	kfs_name_list_clear(&l);
	SCRIPT_DONE();
	/* Still fresh a millisecond before 300 ms; then asked again, and a
	 * NextToken is followed alone. */
	test_clock_advance(&tclk, 299);
	script(NULL, 0);     /* nothing may be asked */
	CHECK_EQ_INT(OPS(be)->list_streams(be->impl, &l), 0);
	CHECK_EQ_INT(l.n, 3);
	kfs_name_list_clear(&l);
	SCRIPT_DONE();
	test_clock_advance(&tclk, 1);
	SCRIPT(STEP("ListStreams", NULL, NULL,
	            200, "{\"StreamNames\":[\"a\"],\"HasMoreStreams\":true,\"NextToken\":\"T2\"}",
	            0, NULL),
	       STEP("ListStreams", "\"NextToken\":\"T2\"", "ExclusiveStart",
	            200, "{\"StreamNames\":[\"z\"],\"HasMoreStreams\":false}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->list_streams(be->impl, &l), 0);
	CHECK_EQ_INT(l.n, 2);
	kfs_name_list_clear(&l);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(describe_cached_found_and_missing)
{
	struct kfs_backend *be = open_be(5000);
	struct kfs_stream_desc d;

	SCRIPT(STEP("DescribeStreamSummary", "{\"StreamName\":\"S\"}", NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL),
	       STEP("DescribeStreamSummary", "nope", NULL,
	            400, ERR("ResourceNotFoundException"), 0, NULL));
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "S", &d), 0);
		CHECK_EQ_STR(d.arn, "arn:aws:kinesis:us-east-1:111122223333:stream/S");
		CHECK_EQ_INT(d.status, KFS_STREAM_ACTIVE);
		CHECK_EQ_INT(d.creation_ms, 1700000000000LL);
		/* A missing stream is remembered too. */
		CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "nope", &d), -ENOENT);
	}
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "bad/name", &d), -EINVAL);
	SCRIPT_DONE();
	CHECK_EQ_STR(fk.region, "us-east-1");
	CHECK_EQ_STR(fk.service, "kinesis");
	CHECK_EQ_STR(fk.token, "TOKEN1");
	kfs_backend_free(be);
}

/* Many threads asking at once make one request. */
struct many_arg {
	struct kfs_backend *be;
	int rc;
};

static void *describe_thread(void *p)
{
	struct many_arg *a = p;
	struct kfs_stream_desc d;

	a->rc = a->be->ops->describe_stream(a->be->impl, "S", &d);
	return NULL;
}

TEST(one_fetch_for_many_readers)
{
	struct kfs_backend *be = open_be(5000);
	struct many_arg a[8];
	pthread_t t[8];

	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL));
	for (int i = 0; i < 8; i++) {
		a[i].be = be;
		REQUIRE(pthread_create(&t[i], NULL, describe_thread, &a[i]) == 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(a[i].rc, 0);
	}
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(create_waits_for_active_and_refreshes_caches)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_stream_desc d;
	struct kfs_name_list l = { 0 };

	SCRIPT(STEP("ListStreams", NULL, NULL,
	            200, "{\"StreamNames\":[],\"HasMoreStreams\":false}", 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            400, ERR("ResourceNotFoundException"), 0, NULL),
	       STEP("CreateStream", "{\"StreamName\":\"S\",\"ShardCount\":2}", NULL,
	            200, "", 0, NULL), /* no body, as kinesalite answers */
	       STEP("DescribeStreamSummary", NULL, NULL,
	            400, ERR("ResourceNotFoundException"), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("CREATING", 24), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL),
	       STEP("ListStreams", NULL, NULL,
	            200, "{\"StreamNames\":[\"S\"],\"HasMoreStreams\":false}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->list_streams(be->impl, &l), 0);
	CHECK_EQ_INT(l.n, 0);
	kfs_name_list_clear(&l);
	/* The lookup before mkdir. */
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "S", &d), -ENOENT);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "S", 2), 0);
	/* What the cache held before is gone. */
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "S", &d), 0);
	CHECK_EQ_INT(d.status, KFS_STREAM_ACTIVE);
	CHECK_EQ_INT(OPS(be)->list_streams(be->impl, &l), 0);
	CHECK_EQ_INT(l.n, 1);
	kfs_name_list_clear(&l);
	SCRIPT_DONE();
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "bad name", 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "S", 0), -EINVAL);
	kfs_backend_free(be);
}

TEST(create_exists)
{
	struct kfs_backend *be = open_be(-1);

	SCRIPT(STEP("CreateStream", NULL, NULL,
	            400, ERR("ResourceInUseException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "S", 1), -EEXIST);
	SCRIPT_DONE();
	/* Over the account's limit: throttled and retried, then EAGAIN. */
	SCRIPT(STEP("CreateStream", NULL, NULL,
	            400, ERR("LimitExceededException"), 0, NULL),
	       STEP("CreateStream", NULL, NULL,
	            400, ERR("LimitExceededException"), 0, NULL),
	       STEP("CreateStream", NULL, NULL,
	            400, ERR("LimitExceededException"), 0, NULL),
	       STEP("CreateStream", NULL, NULL,
	            400, ERR("LimitExceededException"), 0, NULL),
	       STEP("CreateStream", NULL, NULL,
	            400, ERR("LimitExceededException"), 0, NULL),
	       STEP("CreateStream", NULL, NULL,
	            400, ERR("LimitExceededException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "S", 1), -EAGAIN);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(create_answer_lost)
{
	struct kfs_backend *be = open_be(-1);

	/* The first attempt made it but its answer was lost: the retry's
	 * ResourceInUse is this call's own doing. */
	SCRIPT(STEP("CreateStream", NULL, NULL, 0, NULL, -ECONNRESET, NULL),
	       STEP("CreateStream", NULL, NULL,
	            400, ERR("ResourceInUseException"), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL));
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "S", 1), 0);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(delete_waits_until_gone)
{
	struct kfs_backend *be = open_be(-1);

	SCRIPT(STEP("DeleteStream", "{\"StreamName\":\"S\"}", NULL, 200, "{}", 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("DELETING", 24), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            400, ERR("ResourceNotFoundException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->delete_stream(be->impl, "S"), 0);
	SCRIPT_DONE();
	SCRIPT(STEP("DeleteStream", NULL, NULL,
	            400, ERR("ResourceNotFoundException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->delete_stream(be->impl, "S"), -ENOENT);
	SCRIPT_DONE();
	SCRIPT(STEP("DeleteStream", NULL, NULL,
	            400, ERR("ResourceInUseException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->delete_stream(be->impl, "S"), -EBUSY);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(control_plane_retries)
{
	struct kfs_backend *be = open_be(-1);
	struct kfs_stream_desc d;

	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            400, ERR("LimitExceededException"), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            503, "<html/>", 0, "ServiceUnavailable:x"),
	       STEP("DescribeStreamSummary", NULL, NULL, 0, NULL, -ECONNRESET, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, "{\"StreamDescriptionSumm", 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL));
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "S", &d), 0);
	SCRIPT_DONE();
	/* The budget: 6 attempts, then EIO. */
	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            500, ERR("InternalFailure"), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            500, ERR("InternalFailure"), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL, 0, NULL, -ETIMEDOUT, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            500, ERR("InternalFailure"), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL, 0, NULL, -ECONNREFUSED, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            500, ERR("InternalFailure"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "S", &d), -EIO);
	SCRIPT_DONE();
	/* Refused for good: one request, EACCES. */
	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            400, ERR("AccessDeniedException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "S", &d), -EACCES);
	SCRIPT_DONE();
	CHECK_EQ_INT(cr.invalidations, 0);
	/* Expired credentials: fetched again once, and the call goes on. */
	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            400, ERR("ExpiredTokenException"), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL));
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "S", &d), 0);
	SCRIPT_DONE();
	CHECK_EQ_INT(cr.invalidations, 1);
	/* Still refused after fetching them again: EACCES. */
	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            400, ERR("UnrecognizedClientException"), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            400, ERR("UnrecognizedClientException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "S", &d), -EACCES);
	SCRIPT_DONE();
	CHECK_EQ_INT(cr.invalidations, 2);
	kfs_backend_free(be);
}

TEST(retention_and_resharding)
{
	struct kfs_backend *be = open_be(-1);

	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL),
	       STEP("IncreaseStreamRetentionPeriod", "\"RetentionPeriodHours\":48", NULL,
	            200, "{}", 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("UPDATING", 48), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 48), 0, NULL));
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "S", 48), 0);
	SCRIPT_DONE();
	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 48), 0, NULL),
	       STEP("DecreaseStreamRetentionPeriod", "\"RetentionPeriodHours\":24", NULL,
	            200, "{}", 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL));
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "S", 24), 0);
	SCRIPT_DONE();
	/* Already so: nothing to change. */
	SCRIPT(STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL));
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "S", 24), 0);
	SCRIPT_DONE();
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "S", 5), -EINVAL);
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "S", 8761), -EINVAL);

	SCRIPT(STEP("UpdateShardCount", "\"TargetShardCount\":4,\"ScalingType\":\"UNIFORM_SCALING\"", NULL,
	            200, "{\"StreamName\":\"S\",\"CurrentShardCount\":2,\"TargetShardCount\":4}",
	            0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("UPDATING", 24), 0, NULL),
	       STEP("DescribeStreamSummary", NULL, NULL,
	            200, SUMMARY("ACTIVE", 24), 0, NULL));
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "S", 4), 0);
	SCRIPT_DONE();
	/* kinesalite has no UpdateShardCount. */
	SCRIPT(STEP("UpdateShardCount", NULL, NULL,
	            400, "{\"__type\":\"UnknownOperationException\"}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "S", 4), -ENOTSUP);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

/* ---- shards ----------------------------------------------------------------- */

TEST(shards_paged_and_cached)
{
	struct kfs_backend *be = open_be(60000);
	struct kfs_shard_list l = { 0 };
	struct kfs_shard_desc d;

	SCRIPT(STEP("ListShards", "\"StreamName\":\"S\"", NULL,
	            200, "{\"Shards\":[" S0 "],\"NextToken\":\"T\"}", 0, NULL),
	       STEP("ListShards", "\"NextToken\":\"T\"", "StreamName",
	            200, "{\"Shards\":[" S1 "]}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->list_shards(be->impl, "S", &l), 0);
	REQUIRE(l.n == 2);
	CHECK_EQ_STR(l.v[0].id, "shardId-000000000000");
	CHECK_EQ_STR(l.v[1].parent, "shardId-000000000000");
	kfs_shard_list_clear(&l);
	SCRIPT_DONE();
	/* describe_shard comes from the list; the first one of a shard takes
	 * an iterator at its tip, for the newest arrival. */
	SCRIPT(STEP("GetShardIterator", "\"ShardId\":\"shardId-000000000001\","
		    "\"ShardIteratorType\":\"LATEST\"", NULL, 200,
		    "{\"ShardIterator\":\"TIP1\"}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "S", "shardId-000000000001", &d), 0);
	CHECK_EQ_STR(d.hash_end, "9");
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], -1);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], -1);
	CHECK_EQ_INT(d.newest_arrival_ms, -1);
	/* Again at once: nothing asked. */
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "S", "shardId-000000000001", &d), 0);
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "S", "shardId-000000000009", &d), -ENOENT);
	SCRIPT_DONE();
	/* A page token that aged out: the listing starts over. */
	SCRIPT(STEP("ListShards", "\"StreamName\":\"T\"", NULL,
	            200, "{\"Shards\":[" S0 "],\"NextToken\":\"old\"}", 0, NULL),
	       STEP("ListShards", "\"NextToken\":\"old\"", NULL,
	            400, ERR("ExpiredNextTokenException"), 0, NULL),
	       STEP("ListShards", "\"StreamName\":\"T\"", NULL,
	            200, "{\"Shards\":[" S0 "," S1 "]}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->list_shards(be->impl, "T", &l), 0);
	CHECK_EQ_INT(l.n, 2);
	kfs_shard_list_clear(&l);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

/* ---- records ---------------------------------------------------------------- */

static void entries3(struct kfs_put_entry e[3], char *big)
{
	memset(e, 0, 3 * sizeof(*e));
	e[0].key = "111";
	e[0].data = "{\"Data\":\"1\"}\n";
	e[0].len = 13;
	e[1].key = "toobig";
	e[1].data = big;
	e[1].len = 995;            /* + 6 of key > 1000 */
	e[2].key = "k2";
	e[2].data = "two\n";
	e[2].len = 4;
}

TEST(put_partial_failure)
{
	struct kfs_backend *be = open_be(-1);
	struct kfs_put_entry e[3];
	static char big[1000];

	entries3(e, big);
	SCRIPT(STEP("PutRecords", "\"PartitionKey\":\"111\"", "toobig", 200,
		 "{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"4960\","
		 "\"ShardId\":\"shardId-000000000000\"},{\"ErrorCode\":"
		 "\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"Rate "
		 "exceeded for shard shardId-000000000000\"}]}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, 3), 0);
	SCRIPT_DONE();
	CHECK_EQ_INT(e[0].err, 0);
	CHECK_EQ_STR(e[0].seq, "4960");
	CHECK_EQ_STR(e[0].shard_id, "shardId-000000000000");
	CHECK_EQ_INT(e[1].err, -EFBIG);       /* never sent */
	CHECK_EQ_INT(e[2].err, -EAGAIN);      /* the producer resends it */
	CHECK(strstr(e[2].reason, "ProvisionedThroughputExceeded") != NULL);
	kfs_backend_free(be);
}

TEST(put_not_retried_here)
{
	struct kfs_backend *be = open_be(-1);
	struct kfs_put_entry e[3];
	static char big[1000];

	/* A whole-call failure: one request, every sent entry failed with a
	 * retryable errno, the producer decides. */
	entries3(e, big);
	SCRIPT(STEP("PutRecords", NULL, NULL, 500, ERR("InternalFailure"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, 3), -EIO);
	SCRIPT_DONE();
	CHECK_EQ_INT(e[0].err, -EIO);
	CHECK_EQ_INT(e[1].err, -EFBIG);
	CHECK_EQ_INT(e[2].err, -EIO);
	CHECK(strstr(e[0].reason, "InternalFailure") != NULL);
	entries3(e, big);
	SCRIPT(STEP("PutRecords", NULL, NULL, 0, NULL, -ECONNRESET, NULL));
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, 3), -EIO);
	SCRIPT_DONE();
	entries3(e, big);
	SCRIPT(STEP("PutRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, 3), -EAGAIN);
	SCRIPT_DONE();
	CHECK_EQ_INT(e[2].err, -EAGAIN);
	/* Refused for good. */
	entries3(e, big);
	SCRIPT(STEP("PutRecords", NULL, NULL,
	            400, ERR("AccessDeniedException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, 3), -EACCES);
	SCRIPT_DONE();
	CHECK_EQ_INT(e[0].err, -EACCES);
	entries3(e, big);
	SCRIPT(STEP("PutRecords", NULL, NULL,
	            400, ERR("ResourceNotFoundException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, 3), -ENOENT);
	SCRIPT_DONE();
	/* Expired credentials: a refused call stored nothing, so it is
	 * sent once more with fresh ones. */
	entries3(e, big);
	SCRIPT(STEP("PutRecords", NULL, NULL, 400, ERR("ExpiredTokenException"), 0, NULL),
	       STEP("PutRecords", NULL, NULL, 200, "{\"FailedRecordCount\":0,\"Records\":["
		 "{\"SequenceNumber\":\"1\",\"ShardId\":\"shardId-000000000000\"},"
		 "{\"SequenceNumber\":\"2\",\"ShardId\":\"shardId-000000000000\"}]}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, 3), 0);
	SCRIPT_DONE();
	CHECK_EQ_INT(cr.invalidations, 1);
	CHECK_EQ_INT(e[0].err, 0);
	CHECK_EQ_STR(e[2].seq, "2");
	/* Checked here, nothing sent. */
	entries3(e, big);
	e[0].key = "\xff\xfe";
	e[2].explicit_hash_key = "340282366920938463463374607431768211456";
	e[1].len = 10;
	SCRIPT(STEP("PutRecords", "toobig", NULL, 200, "{\"FailedRecordCount\":0,\"Records\":["
		 "{\"SequenceNumber\":\"3\",\"ShardId\":\"shardId-000000000000\"}]}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "S", e, 3), 0);
	SCRIPT_DONE();
	CHECK_EQ_INT(e[0].err, -EINVAL);
	CHECK_EQ_INT(e[1].err, 0);
	CHECK_EQ_INT(e[2].err, -EINVAL);
	kfs_backend_free(be);
}

TEST(read_with_expired_iterator)
{
	struct kfs_backend *be = open_be(-1);
	struct kfs_iter_spec spec = { .type = KFS_ITER_TRIM_HORIZON };
	struct kfs_get_result r = { 0 };
	struct kfs_wire_iter it;
	char *iter = NULL;

	SCRIPT(STEP("GetShardIterator", "\"ShardIteratorType\":\"TRIM_HORIZON\"", NULL,
	            200, "{\"ShardIterator\":\"I1\"}", 0, NULL),
	       STEP("GetRecords", "\"ShardIterator\":\"I1\",\"Limit\":10000", NULL, 200,
		 "{\"Records\":[" REC("101", "YQo=", "k") "," REC("102", "Ygo=", "k")
		 "],\"NextShardIterator\":\"I2\",\"MillisBehindLatest\":0}", 0, NULL),
	       STEP("GetRecords", "\"I2\"", NULL,
	            400, ERR("ExpiredIteratorException"), 0, NULL),
	       STEP("GetShardIterator", "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\","
		 "\"StartingSequenceNumber\":\"102\"", NULL, 200, "{\"ShardIterator\":\"I3\"}", 0, NULL),
	       STEP("GetRecords", "\"I3\"", NULL, 200,
		 "{\"Records\":[" REC("103", "Ywo=", "k") "],\"NextShardIterator\":\"I4\","
		 "\"MillisBehindLatest\":0}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "S", "shardId-000000000000", &spec, &iter), 0);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 20000, 0, &r), 0);
	free(iter);
	REQUIRE(r.n == 2);
	CHECK(memcmp(r.records[1].data, "b\n", 2) == 0);
	CHECK_EQ_INT(r.records[1].arrival_ms, 1700000000500LL);
	REQUIRE(r.next_iterator);
	CHECK_EQ_INT(kfs_wire_iter_parse(r.next_iterator, &it), 0);
	CHECK_EQ_STR(it.last_seq, "102");
	CHECK_EQ_STR(it.service, "I2");
	iter = r.next_iterator;
	r.next_iterator = NULL;
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 10000, 0, &r), 0);
	free(iter);
	REQUIRE(r.n == 1);
	CHECK_EQ_STR(r.records[0].seq, "103");
	CHECK_EQ_INT(kfs_wire_iter_parse(r.next_iterator, &it), 0);
	CHECK_EQ_STR(it.last_seq, "103");
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	/* Not ours, or not a shard. */
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, "S/1.0/shardId-000000000000/0", 10, 0, &r), -EINVAL);
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "S", "notashard", &spec, &iter), -ENOENT);
	spec.type = KFS_ITER_AT_SEQUENCE_NUMBER;
	spec.seq = "12x";
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "S", "shardId-000000000000", &spec, &iter), -EINVAL);
	kfs_backend_free(be);
}

TEST(latest_resumes_at_its_time)
{
	struct kfs_backend *be = open_be(-1);
	struct kfs_iter_spec spec = { .type = KFS_ITER_LATEST };
	struct kfs_get_result r = { 0 };
	char *iter = NULL;
	struct kfs_wire_iter it;

	SCRIPT(STEP("GetShardIterator", "\"LATEST\"", NULL,
	            200, "{\"ShardIterator\":\"L1\"}", 0, NULL),
	       STEP("GetRecords", "\"L1\"", NULL,
	            400, ERR("ExpiredIteratorException"), 0, NULL),
	       STEP("GetShardIterator", "\"AT_TIMESTAMP\"", NULL,
	            200, "{\"ShardIterator\":\"L2\"}", 0, NULL),
	       STEP("GetRecords", "\"L2\"", NULL, 200, "{\"Records\":[],\"NextShardIterator\":\"L3\","
		 "\"MillisBehindLatest\":0}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "S", "shardId-000000000000", &spec, &iter), 0);
	CHECK_EQ_INT(kfs_wire_iter_parse(iter, &it), 0);
	CHECK_EQ_INT(it.time_ms, test_clock_now(&tclk)); /* resumed from there */
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 100, 0, &r), 0);
	CHECK_EQ_INT(r.n, 0);
	CHECK(r.next_iterator != NULL);
	kfs_get_result_clear(&r);
	free(iter);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

TEST(throttled_reads)
{
	struct kfs_backend *be = open_be(-1);
	struct kfs_get_result r = { 0 };
	int64_t t0;
	char *iter;
	struct kfs_wire_iter it = { .stream = "S", .shard = "shardId-000000000000" };

	REQUIRE(kfs_wire_iter_format(&it, "G1", &iter) == 0);
	SCRIPT(STEP("GetRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL),
	       STEP("GetRecords", NULL, NULL, 200, "{\"Records\":[" REC("1", "YQ==", "k")
		 "],\"NextShardIterator\":\"G2\",\"MillisBehindLatest\":0}", 0, NULL));
	t0 = test_clock_now(&tclk);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 100, 0, &r), 0);
	/* Backed off: 30 ms << 1, then << 2 (more than the 30 ms spacing). */
	CHECK_EQ_INT(fk.at[0], t0);
	CHECK_EQ_INT(fk.at[1], t0 + 60);
	CHECK_EQ_INT(fk.at[2], t0 + 60 + 120);
	CHECK_EQ_INT(r.n, 1);
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	/* Past the budget: EAGAIN. */
	SCRIPT(STEP("GetRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            400, ERR("ProvisionedThroughputExceededException"), 0, NULL));
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 100, 0, &r), -EAGAIN);
	SCRIPT_DONE();
	free(iter);
	kfs_backend_free(be);
}

/* An answer too large to take (kinesalite has no 10 MiB cap): the same
 * iterator asked for half the records, down to one, then EIO. */
TEST(read_too_large_answers)
{
	struct kfs_backend *be = open_be(-1);
	struct kfs_get_result r = { 0 };
	struct kfs_wire_iter it = { .stream = "S", .shard = "shardId-000000000000" };
	char *iter;
	int64_t t0;

	REQUIRE(kfs_wire_iter_format(&it, "B1", &iter) == 0);
	SCRIPT(STEP("GetRecords", "{\"ShardIterator\":\"B1\",\"Limit\":10000}", NULL,
		    0, NULL, -EMSGSIZE, NULL),
	       STEP("GetRecords", "{\"ShardIterator\":\"B1\",\"Limit\":5000}", NULL,
		    0, NULL, -EMSGSIZE, NULL),
	       STEP("GetRecords", "{\"ShardIterator\":\"B1\",\"Limit\":2500}", NULL,
		    200, "{\"Records\":[" REC("1", "YQ==", "k") "],"
		    "\"NextShardIterator\":\"B2\",\"MillisBehindLatest\":0}", 0, NULL));
	t0 = test_clock_now(&tclk);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 10000, 0, &r), 0);
	CHECK_EQ_INT(r.n, 1);
	REQUIRE(r.next_iterator);
	CHECK_EQ_INT(kfs_wire_iter_parse(r.next_iterator, &it), 0);
	CHECK_EQ_STR(it.service, "B2");
	CHECK_EQ_STR(it.last_seq, "1");
	/* Each one a GetRecords of the shard: its read rate holds. */
	CHECK_EQ_INT(fk.at[1], t0 + 30);
	CHECK_EQ_INT(fk.at[2], t0 + 60);
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	/* Too large even for one record: EIO. */
	SCRIPT(STEP("GetRecords", "\"Limit\":3}", NULL, 0, NULL, -EMSGSIZE, NULL),
	       STEP("GetRecords", "\"Limit\":1}", NULL, 0, NULL, -EMSGSIZE, NULL));
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 3, 0, &r), -EIO);
	CHECK_EQ_INT(r.n, 0);
	SCRIPT_DONE();
	free(iter);
	kfs_backend_free(be);
}

/* Two readers of one shard: their calls are get_interval_ms apart. */
static void *read_once(void *p)
{
	struct kfs_backend *be = p;
	struct kfs_get_result r = { 0 };
	struct kfs_wire_iter it = { .stream = "S", .shard = "shardId-000000000000" };
	char *iter;

	REQUIRE(kfs_wire_iter_format(&it, "R", &iter) == 0);
	CHECK_EQ_INT(be->ops->get_records(be->impl, iter, 100, 0, &r), 0);
	kfs_get_result_clear(&r);
	free(iter);
	return NULL;
}

TEST(shard_read_rate)
{
	struct kfs_backend *be = open_be(-1);
	pthread_t t[4];
	int64_t start;

	SCRIPT(STEP("GetRecords", NULL, NULL,
	            200, "{\"Records\":[],\"NextShardIterator\":\"R\"}", 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            200, "{\"Records\":[],\"NextShardIterator\":\"R\"}", 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            200, "{\"Records\":[],\"NextShardIterator\":\"R\"}", 0, NULL),
	       STEP("GetRecords", NULL, NULL,
	            200, "{\"Records\":[],\"NextShardIterator\":\"R\"}", 0, NULL));
	start = test_clock_now(&tclk);
	for (int i = 0; i < 4; i++)
		REQUIRE(pthread_create(&t[i], NULL, read_once, be) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	SCRIPT_DONE();
	/* The limiter gives call i the slot start + i * 30 ms at the
	 * earliest.  Each waits for its slot on the clock, which a sleep
	 * moves to its end; another thread's later slot may move it further
	 * before a call is made, so a call may come after its slot, but
	 * none before it. */
	for (int i = 1; i < 4; i++) {
		int64_t since = fk.at[i] - start;
		if (since < (int64_t)i * 30) {
			printf("#   GetRecords %d came %lld ms after the start, "
			       "before its slot at %d ms\n", i, (long long)since,
			       i * 30);
			tap_cur_failed = 1;
		}
	}
	kfs_backend_free(be);
}

TEST(empty_pages_and_closed_shards)
{
	struct kfs_backend *be = open_be(-1);
	struct kfs_get_result r = { 0 };
	struct kfs_wire_iter it = { .stream = "S", .shard = "shardId-000000000000" };
	char *iter;

	REQUIRE(kfs_wire_iter_format(&it, "E1", &iter) == 0);
	/* Behind the tip, an empty page is followed. */
	SCRIPT(STEP("GetRecords", "\"E1\"", NULL, 200, "{\"Records\":[],\"NextShardIterator\":\"E2\","
		 "\"MillisBehindLatest\":86400000}", 0, NULL),
	       STEP("GetRecords", "\"E2\"", NULL, 200, "{\"Records\":[" REC("5", "eA==", "k")
		 "],\"NextShardIterator\":\"E3\",\"MillisBehindLatest\":0}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 100, 0, &r), 0);
	CHECK_EQ_INT(r.n, 1);
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	/* The end of a closed shard, with ChildShards. */
	SCRIPT(STEP("GetRecords", NULL, NULL, 200, "{\"Records\":[],\"MillisBehindLatest\":0,"
		 "\"ChildShards\":[{\"ShardId\":\"shardId-000000000001\",\"ParentShards\":"
		 "[\"shardId-000000000000\"],\"HashKeyRange\":{\"StartingHashKey\":\"0\","
		 "\"EndingHashKey\":\"9\"}}]}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 100, 0, &r), 0);
	CHECK(r.next_iterator == NULL);
	REQUIRE(r.children.n == 1);
	CHECK_EQ_STR(r.children.v[0], "shardId-000000000001");
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	/* Without ChildShards (kinesalite): from the shard list. */
	SCRIPT(STEP("GetRecords", NULL, NULL,
	            200, "{\"Records\":[],\"NextShardIterator\":null}", 0, NULL),
	       STEP("ListShards", NULL, NULL,
	            200, "{\"Shards\":[" S0 "," S1 "]}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 100, 0, &r), 0);
	CHECK(r.next_iterator == NULL);
	REQUIRE(r.children.n == 1);
	CHECK_EQ_STR(r.children.v[0], "shardId-000000000001");
	kfs_get_result_clear(&r);
	SCRIPT_DONE();
	free(iter);
	kfs_backend_free(be);
}

TEST(shard_mtime_follows_the_tip)
{
	struct kfs_backend *be = open_be(100);
	struct kfs_shard_desc d;
	struct kfs_get_result r = { 0 };
	struct kfs_wire_iter it = { .stream = "S", .shard = "shardId-000000000000" };
	char *iter;

	SCRIPT(STEP("ListShards", NULL, NULL, 200, "{\"Shards\":[" S0 "]}", 0, NULL),
	       STEP("GetShardIterator", "\"LATEST\"", NULL, 200,
		    "{\"ShardIterator\":\"T1\"}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "S", "shardId-000000000000", &d), 0);
	CHECK_EQ_INT(d.newest_arrival_ms, -1);
	SCRIPT_DONE();
	/* Within cache_ms nothing is asked; a record arrived meanwhile: the
	 * next describe once cache_ms has passed sees it. */
	test_clock_advance(&tclk, 99);
	script(NULL, 0);     /* nothing may be asked */
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "S", "shardId-000000000000", &d), 0);
	CHECK_EQ_INT(d.newest_arrival_ms, -1);
	SCRIPT_DONE();
	test_clock_advance(&tclk, 1);
	SCRIPT(STEP("ListShards", NULL, NULL, 200, "{\"Shards\":[" S0 "]}", 0, NULL),
	       STEP("GetRecords", "\"T1\"", NULL, 200, "{\"Records\":["
		    REC("7", "eA==", "k") "],\"NextShardIterator\":\"T2\","
		    "\"MillisBehindLatest\":0}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "S", "shardId-000000000000", &d), 0);
	CHECK_EQ_INT(d.newest_arrival_ms, 1700000000500LL);
	SCRIPT_DONE();
	/* A reader saw a newer one: that counts too, without a poll. */
	REQUIRE(kfs_wire_iter_format(&it, "R1", &iter) == 0);
	test_clock_advance(&tclk, 40);
	SCRIPT(STEP("GetRecords", "\"R1\"", NULL, 200, "{\"Records\":["
		    "{\"SequenceNumber\":\"9\",\"ApproximateArrivalTimestamp\":1700000009,"
		    "\"Data\":\"eA==\",\"PartitionKey\":\"k\"}],\"NextShardIterator\":\"R2\","
		    "\"MillisBehindLatest\":0}", 0, NULL));
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, iter, 100, 0, &r), 0);
	kfs_get_result_clear(&r);
	free(iter);
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "S", "shardId-000000000000", &d), 0);
	CHECK_EQ_INT(d.newest_arrival_ms, 1700000009000LL);
	SCRIPT_DONE();
	kfs_backend_free(be);
}

int main(void)
{
	int rc;

	test_clock_init(&tclk, T0);
	RUN(list_streams_paged_and_cached);
	RUN(describe_cached_found_and_missing);
	RUN(one_fetch_for_many_readers);
	RUN(create_waits_for_active_and_refreshes_caches);
	RUN(create_exists);
	RUN(create_answer_lost);
	RUN(delete_waits_until_gone);
	RUN(control_plane_retries);
	RUN(retention_and_resharding);
	RUN(shards_paged_and_cached);
	RUN(put_partial_failure);
	RUN(put_not_retried_here);
	RUN(read_with_expired_iterator);
	RUN(latest_resumes_at_its_time);
	RUN(throttled_reads);
	RUN(read_too_large_answers);
	RUN(shard_read_rate);
	RUN(empty_pages_and_closed_shards);
	RUN(shard_mtime_follows_the_tip);
	rc = tap_done();
	test_clock_destroy(&tclk);
	return rc;
}
