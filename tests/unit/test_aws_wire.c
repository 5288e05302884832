/*
 * test_aws_wire.c - the AWS backend's pure parts: base64, the JSON bodies
 * of every action and the parsing of their answers (from strings), the
 * composite iterator, and the one table from service errors to errno.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/aws/errors.h"
#include "backend/aws/eventstream.h"
#include "backend/aws/wire.h"
#include "backend/backend.h"
#include "tap.h"

/* The request as compact JSON text, for comparing; frees o. */
static char *text_of(cJSON *o)
{
	char *s;

	REQUIRE(o);
	s = cJSON_PrintUnformatted(o);
	REQUIRE(s);
	cJSON_Delete(o);
	return s;
}

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);
	REQUIRE(j);
	return j;
}

/* ---- base64 ---------------------------------------------------------- */

TEST(b64_known)
{
	static const struct { const char *raw, *b64; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" }, { "{\"Data\":\"1\"}\n", "eyJEYXRhIjoiMSJ9Cg==" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *enc;
		unsigned char *dec;
		size_t n;

		CHECK_EQ_INT(kfs_wire_b64_encode(v[i].raw, strlen(v[i].raw), &enc), 0);
		CHECK_EQ_STR(enc, v[i].b64);
		free(enc);
		CHECK_EQ_INT(kfs_wire_b64_decode(v[i].b64, strlen(v[i].b64), &dec, &n), 0);
		CHECK(dec != NULL);
		CHECK_EQ_INT(n, strlen(v[i].raw));
		CHECK(memcmp(dec, v[i].raw, n) == 0);
		free(dec);
	}
}

TEST(b64_round_trips)
{
	unsigned char buf[1030];
	unsigned seed = 7;

	/* Every length mod 3, binary bytes, NULs included. */
	for (size_t len = 0; len < sizeof(buf); len += (len < 40 ? 1 : 97)) {
		char *enc;
		unsigned char *dec;
		size_t n;

		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)rand_r(&seed);
		REQUIRE(kfs_wire_b64_encode(buf, len, &enc) == 0);
		CHECK_EQ_INT(strlen(enc), 4 * ((len + 2) / 3));
		CHECK_EQ_INT(kfs_wire_b64_decode(enc, strlen(enc), &dec, &n), 0);
		CHECK_EQ_INT(n, len);
		CHECK(len == 0 || memcmp(dec, buf, len) == 0);
		free(enc);
		free(dec);
	}
}

TEST(b64_rejects)
{
	static const char *bad[] = { "Zg=", "Zg", "Z===", "Zm9v!A==", "Zm=v",
				     "Zm9v\nYg==", "====" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char *dec = (unsigned char *)"x";
		size_t n = 99;
		CHECK_EQ_INT(kfs_wire_b64_decode(bad[i], strlen(bad[i]), &dec, &n),
			     -EINVAL);
		CHECK(dec == NULL);
		CHECK_EQ_INT(n, 0);
	}
}

/* ---- timestamps and small checks -------------------------------------- */

TEST(timestamps)
{
	int64_t ms;
	cJSON *j = parse("[1700000000.123, 1700000000, \"1700000001.5\", "
			 "\"2023-11-14T22:13:20.250Z\", \"soon\", -5, true]");

	CHECK_EQ_INT(kfs_wire_time_ms(cJSON_GetArrayItem(j, 0), &ms), 0);
	CHECK_EQ_INT(ms, 1700000000123LL);
	CHECK_EQ_INT(kfs_wire_time_ms(cJSON_GetArrayItem(j, 1), &ms), 0);
	CHECK_EQ_INT(ms, 1700000000000LL);
	CHECK_EQ_INT(kfs_wire_time_ms(cJSON_GetArrayItem(j, 2), &ms), 0);
	CHECK_EQ_INT(ms, 1700000001500LL);
	CHECK_EQ_INT(kfs_wire_time_ms(cJSON_GetArrayItem(j, 3), &ms), 0);
	CHECK_EQ_INT(ms, 1700000000250LL);
	CHECK_EQ_INT(kfs_wire_time_ms(cJSON_GetArrayItem(j, 4), &ms), -EIO);
	CHECK_EQ_INT(kfs_wire_time_ms(cJSON_GetArrayItem(j, 5), &ms), -EIO);
	CHECK_EQ_INT(kfs_wire_time_ms(cJSON_GetArrayItem(j, 6), &ms), -EIO);
	cJSON_Delete(j);
}

TEST(utf8_and_seq)
{
	CHECK(kfs_wire_valid_utf8("plain"));
	CHECK(kfs_wire_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	CHECK(!kfs_wire_valid_utf8("\xff"));
	CHECK(!kfs_wire_valid_utf8("\xc3"));           /* cut short */
	CHECK(!kfs_wire_valid_utf8("\xc0\xaf"));       /* overlong '/' */
	CHECK(!kfs_wire_valid_utf8("\xed\xa0\x80"));   /* a surrogate */
	CHECK(kfs_wire_valid_seq("49680563840511641902067805765094461855958567836654239746"));
	CHECK(!kfs_wire_valid_seq(""));
	CHECK(!kfs_wire_valid_seq("12a"));
	CHECK(!kfs_wire_valid_seq(NULL));
}

/* ---- actions ----------------------------------------------------------- */

TEST(list_streams)
{
	struct kfs_name_list l = { 0 };
	char *s, *tok;
	int more;
	cJSON *j;

	s = text_of(kfs_wire_list_streams_req(NULL, NULL));
	CHECK_EQ_STR(s, "{\"Limit\":100}");
	free(s);
	s = text_of(kfs_wire_list_streams_req("b", NULL));
	CHECK_EQ_STR(s, "{\"ExclusiveStartStreamName\":\"b\",\"Limit\":100}");
	free(s);
	s = text_of(kfs_wire_list_streams_req("b", "tok=="));
	CHECK_EQ_STR(s, "{\"NextToken\":\"tok==\",\"Limit\":100}");
	free(s);

	j = parse("{\"StreamNames\":[\"a\",\"b\"],\"HasMoreStreams\":true}");
	CHECK_EQ_INT(kfs_wire_list_streams_parse(j, &l, &more, &tok), 0);
	cJSON_Delete(j);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_STR(l.v[1], "b");
	CHECK_EQ_INT(more, 1);
	CHECK(tok == NULL);
	/* Newer answers: summaries (a DELETING stream is left out) and a
	 * NextToken. */
	j = parse("{\"StreamNames\":[\"c\",\"d\"],\"HasMoreStreams\":false,"
		  "\"NextToken\":\"T1\",\"StreamSummaries\":["
		  "{\"StreamName\":\"c\",\"StreamStatus\":\"DELETING\"},"
		  "{\"StreamName\":\"d\",\"StreamStatus\":\"ACTIVE\"}]}");
	CHECK_EQ_INT(kfs_wire_list_streams_parse(j, &l, &more, &tok), 0);
	cJSON_Delete(j);
	CHECK_EQ_INT(l.n, 3);
	CHECK_EQ_STR(l.v[2], "d");
	CHECK_EQ_INT(more, 0);
	CHECK_EQ_STR(tok, "T1");
	free(tok);
	j = parse("{\"StreamNames\":[\"e\", 5]}");
	CHECK_EQ_INT(kfs_wire_list_streams_parse(j, &l, &more, &tok), -EIO);
	cJSON_Delete(j);
	CHECK_EQ_INT(l.n, 3); /* nothing of a bad page kept */
	kfs_name_list_clear(&l);
}

TEST(list_shards)
{
	struct kfs_shard_list l = { 0 };
	char *s, *tok;
	cJSON *j;

	s = text_of(kfs_wire_list_shards_req("S", NULL));
	CHECK_EQ_STR(s, "{\"StreamName\":\"S\",\"MaxResults\":1000}");
	free(s);
	/* With a token the stream name must not be sent. */
	s = text_of(kfs_wire_list_shards_req("S", "AAA"));
	CHECK_EQ_STR(s, "{\"NextToken\":\"AAA\",\"MaxResults\":1000}");
	free(s);

	j = parse("{\"Shards\":[{\"ShardId\":\"shardId-000000000000\","
		  "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":"
		  "\"170141183460469231731687303715884105727\"},"
		  "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"4968\","
		  "\"EndingSequenceNumber\":\"4970\"}},"
		  "{\"ShardId\":\"shardId-000000000002\",\"ParentShardId\":"
		  "\"shardId-000000000000\",\"AdjacentParentShardId\":"
		  "\"shardId-000000000001\",\"HashKeyRange\":{\"StartingHashKey\":"
		  "\"0\",\"EndingHashKey\":\"340282366920938463463374607431768211455\"},"
		  "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"4971\"}}],"
		  "\"NextToken\":\"N2\"}");
	CHECK_EQ_INT(kfs_wire_list_shards_parse(j, &l, &tok), 0);
	cJSON_Delete(j);
	REQUIRE(l.n == 2);
	CHECK_EQ_STR(l.v[0].id, "shardId-000000000000");
	CHECK_EQ_STR(l.v[0].hash_end, "170141183460469231731687303715884105727");
	CHECK_EQ_STR(l.v[0].seq_end, "4970");
	CHECK_EQ_INT(l.v[0].closed, 1);
	CHECK_EQ_STR(l.v[0].parent, "");
	CHECK_EQ_INT(l.v[1].closed, 0);
	CHECK_EQ_STR(l.v[1].parent, "shardId-000000000000");
	CHECK_EQ_STR(l.v[1].adjacent_parent, "shardId-000000000001");
	CHECK_EQ_INT(l.v[1].bytes[KFS_FRAMING_LINE], -1);
	CHECK_EQ_INT(l.v[1].newest_arrival_ms, -1);
	CHECK_EQ_STR(tok, "N2");
	free(tok);
	/* A shard without a hash range is malformed. */
	j = parse("{\"Shards\":[{\"ShardId\":\"shardId-000000000003\"}]}");
	CHECK_EQ_INT(kfs_wire_list_shards_parse(j, &l, &tok), -EIO);
	cJSON_Delete(j);
	CHECK_EQ_INT(l.n, 2);
	kfs_shard_list_clear(&l);
}

TEST(stream_summary)
{
	struct kfs_stream_desc d;
	char *s;
	cJSON *j;

	s = text_of(kfs_wire_stream_req("AWSCookbook701"));
	CHECK_EQ_STR(s, "{\"StreamName\":\"AWSCookbook701\"}");
	free(s);
	s = text_of(kfs_wire_create_stream_req("S", 3));
	CHECK_EQ_STR(s, "{\"StreamName\":\"S\",\"ShardCount\":3}");
	free(s);
	s = text_of(kfs_wire_update_shard_count_req("S", 4));
	CHECK_EQ_STR(s, "{\"StreamName\":\"S\",\"TargetShardCount\":4,"
		     "\"ScalingType\":\"UNIFORM_SCALING\"}");
	free(s);
	s = text_of(kfs_wire_retention_req("S", 48));
	CHECK_EQ_STR(s, "{\"StreamName\":\"S\",\"RetentionPeriodHours\":48}");
	free(s);

	j = parse("{\"StreamDescriptionSummary\":{\"StreamName\":\"AWSCookbook701\","
		  "\"StreamARN\":\"arn:aws:kinesis:us-east-1:111122223333:stream/"
		  "AWSCookbook701\",\"StreamStatus\":\"ACTIVE\",\"StreamModeDetails\":"
		  "{\"StreamMode\":\"ON_DEMAND\"},\"RetentionPeriodHours\":24,"
		  "\"StreamCreationTimestamp\":1700000000.5,\"EnhancedMonitoring\":"
		  "[{\"ShardLevelMetrics\":[]}],\"EncryptionType\":\"NONE\","
		  "\"OpenShardCount\":4,\"ConsumerCount\":0}}");
	CHECK_EQ_INT(kfs_wire_stream_summary_parse(j, &d), 0);
	cJSON_Delete(j);
	CHECK_EQ_STR(d.name, "AWSCookbook701");
	CHECK_EQ_STR(d.arn, "arn:aws:kinesis:us-east-1:111122223333:stream/AWSCookbook701");
	CHECK_EQ_INT(d.status, KFS_STREAM_ACTIVE);
	CHECK_EQ_STR(d.mode, "ON_DEMAND");
	CHECK_EQ_INT(d.retention_hours, 24);
	CHECK_EQ_INT(d.open_shard_count, 4);
	CHECK_EQ_INT(d.creation_ms, 1700000000500LL);
	/* kinesalite: no mode details; CREATING. */
	j = parse("{\"StreamDescriptionSummary\":{\"StreamName\":\"S\","
		  "\"StreamARN\":\"arn\",\"StreamStatus\":\"CREATING\","
		  "\"RetentionPeriodHours\":24,\"StreamCreationTimestamp\":1700000000,"
		  "\"OpenShardCount\":1}}");
	CHECK_EQ_INT(kfs_wire_stream_summary_parse(j, &d), 0);
	cJSON_Delete(j);
	CHECK_EQ_INT(d.status, KFS_STREAM_CREATING);
	CHECK_EQ_STR(d.mode, "PROVISIONED");
	j = parse("{\"StreamDescriptionSummary\":{\"StreamName\":\"S\","
		  "\"StreamStatus\":\"MELTING\",\"RetentionPeriodHours\":24,"
		  "\"StreamCreationTimestamp\":1}}");
	CHECK_EQ_INT(kfs_wire_stream_summary_parse(j, &d), -EIO);
	cJSON_Delete(j);
}

/*
 * The PutRecords body of e[idx[0..n)], checked against what cJSON makes of
 * the same request (the body is written without it, and must stay what
 * the service and kinesalite took): a malloc'd copy.
 */
static char *body_of(const char *stream, const struct kfs_put_entry *e,
		     const size_t *idx, size_t n)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char *s, *want;
	size_t len;

	REQUIRE(o && cJSON_AddStringToObject(o, "StreamName", stream));
	REQUIRE((arr = cJSON_AddArrayToObject(o, "Records")));
	for (size_t k = 0; k < n; k++) {
		const struct kfs_put_entry *en = &e[idx[k]];
		cJSON *r = cJSON_CreateObject();
		char *b64;

		REQUIRE(r && kfs_wire_b64_encode(en->data, en->len, &b64) == 0);
		cJSON_AddItemToArray(arr, r);
		REQUIRE(cJSON_AddStringToObject(r, "Data", b64) &&
			cJSON_AddStringToObject(r, "PartitionKey", en->key));
		if (en->explicit_hash_key)
			REQUIRE(cJSON_AddStringToObject(r, "ExplicitHashKey",
							en->explicit_hash_key));
		free(b64);
	}
	want = text_of(o);
	REQUIRE(kfs_wire_put_records_body(stream, e, idx, n, &s, &len) == 0);
	CHECK_EQ_INT(len, strlen(want));
	CHECK_EQ_INT(strlen(s), len);
	CHECK_EQ_STR(s, want);
	free(want);
	want = strdup(s);
	REQUIRE(want);
	kfs_wire_body_free(s, len);
	return want;
}

TEST(put_records)
{
	struct kfs_put_entry e[4];
	size_t idx[] = { 0, 2, 3 };
	char *s;
	cJSON *j;

	memset(e, 0, sizeof(e));
	e[0].key = "111";
	e[0].data = "{\"Data\":\"1\"}\n";
	e[0].len = strlen(e[0].data);
	e[1].key = "skipped";
	e[1].data = "x";
	e[1].len = 1;
	e[2].key = "shardId-000000000001";
	e[2].explicit_hash_key = "170141183460469231731687303715884105728";
	e[2].data = "\0\1";
	e[2].len = 2;
	e[3].key = "k";
	e[3].data = "";
	e[3].len = 0;
	s = body_of("S", e, idx, 3);
	CHECK_EQ_STR(s, "{\"StreamName\":\"S\",\"Records\":["
		     "{\"Data\":\"eyJEYXRhIjoiMSJ9Cg==\",\"PartitionKey\":\"111\"},"
		     "{\"Data\":\"AAE=\",\"PartitionKey\":\"shardId-000000000001\","
		     "\"ExplicitHashKey\":\"170141183460469231731687303715884105728\"},"
		     "{\"Data\":\"\",\"PartitionKey\":\"k\"}]}");
	free(s);

	j = parse("{\"FailedRecordCount\":2,\"Records\":["
		  "{\"SequenceNumber\":\"49590338271490256608559692538361571095921575989136588898\","
		  "\"ShardId\":\"shardId-000000000000\"},"
		  "{\"ErrorCode\":\"ProvisionedThroughputExceededException\","
		  "\"ErrorMessage\":\"Rate exceeded for shard shardId-000000000001 "
		  "in stream S under account 111122223333.\"},"
		  "{\"ErrorCode\":\"InternalFailure\",\"ErrorMessage\":\"Internal "
		  "service failure.\"}]}");
	CHECK_EQ_INT(kfs_wire_put_records_parse(j, e, idx, 3), 0);
	cJSON_Delete(j);
	CHECK_EQ_INT(e[0].err, 0);
	CHECK_EQ_STR(e[0].seq, "49590338271490256608559692538361571095921575989136588898");
	CHECK_EQ_STR(e[0].shard_id, "shardId-000000000000");
	CHECK_EQ_INT(e[2].err, -EAGAIN);
	CHECK(strstr(e[2].reason, "ProvisionedThroughputExceededException") != NULL);
	CHECK_EQ_STR(e[2].seq, "");
	CHECK_EQ_INT(e[3].err, -EIO);
	CHECK(strstr(e[3].reason, "InternalFailure") != NULL);
	CHECK(kfs_aws_err_retryable(e[2].err) && kfs_aws_err_retryable(e[3].err));
	/* A KMS refusal is for good. */
	j = parse("{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"1\","
		  "\"ShardId\":\"shardId-000000000000\"},{\"ErrorCode\":"
		  "\"KMSAccessDeniedException\",\"ErrorMessage\":\"no\"},"
		  "{\"SequenceNumber\":\"2\",\"ShardId\":\"shardId-000000000000\"}]}");
	CHECK_EQ_INT(kfs_wire_put_records_parse(j, e, idx, 3), 0);
	cJSON_Delete(j);
	CHECK_EQ_INT(e[2].err, -EACCES);
	CHECK(!kfs_aws_err_retryable(e[2].err));
	CHECK_EQ_INT(e[3].err, 0);
	/* An answer with fewer entries than sent cannot be matched. */
	j = parse("{\"FailedRecordCount\":0,\"Records\":[{\"SequenceNumber\":\"1\","
		  "\"ShardId\":\"shardId-000000000000\"}]}");
	CHECK_EQ_INT(kfs_wire_put_records_parse(j, e, idx, 3), -EIO);
	cJSON_Delete(j);
}

/* Keys that JSON must escape, non-ASCII UTF-8, empty data: exact bytes,
 * and parsed back they are what was sent. */
TEST(put_records_body_escapes)
{
	static const struct { const char *key, *json; } v[] = {
		{ "a\"b", "\"a\\\"b\"" },
		{ "back\\slash", "\"back\\\\slash\"" },
		{ "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"" },
		{ "\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
		{ "/slash</script>", "\"/slash</script>\"" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct kfs_put_entry e = { .key = v[i].key, .data = "", .len = 0 };
		size_t idx = 0;
		char want[256], *s;
		cJSON *j, *r;

		snprintf(want, sizeof(want), "{\"StreamName\":\"s.t-r_1\",\"Records\":"
			 "[{\"Data\":\"\",\"PartitionKey\":%s}]}", v[i].json);
		s = body_of("s.t-r_1", &e, &idx, 1);
		CHECK_EQ_STR(s, want);
		j = parse(s);
		r = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "Records"), 0);
		CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(r, "PartitionKey")),
			     v[i].key);
		CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(r, "Data")), "");
		cJSON_Delete(j);
		free(s);
	}
}

/* An explicit hash key, one record alone, an empty batch. */
TEST(put_records_body_shapes)
{
	struct kfs_put_entry e[2];
	size_t idx[] = { 1 }, len;
	char *s;

	memset(e, 0, sizeof(e));
	e[0].key = "not sent";
	e[1].key = "k";
	e[1].explicit_hash_key = "340282366920938463463374607431768211455";
	e[1].data = "\xff\xfe\xfd";
	e[1].len = 3;
	s = body_of("S", e, idx, 1);
	CHECK_EQ_STR(s, "{\"StreamName\":\"S\",\"Records\":[{\"Data\":\"//79\","
		     "\"PartitionKey\":\"k\",\"ExplicitHashKey\":"
		     "\"340282366920938463463374607431768211455\"}]}");
	free(s);
	s = body_of("S", e, idx, 0);
	CHECK_EQ_STR(s, "{\"StreamName\":\"S\",\"Records\":[]}");
	free(s);
	CHECK_EQ_INT(kfs_wire_put_records_body("S", e, idx, 0, &s, &len), 0);
	CHECK_EQ_INT(len, strlen("{\"StreamName\":\"S\",\"Records\":[]}"));
	kfs_wire_body_free(s, len);
	kfs_wire_body_free(NULL, 0);
}

/* Data longer than one EVP_EncodeBlock chunk (3 MiB), and not a multiple
 * of 3: the base64 is the same as of the whole at once. */
TEST(put_records_body_big)
{
	size_t n = (3u << 20) * 2 + 2, idx = 0, len;
	unsigned char *data = malloc(n);
	struct kfs_put_entry e = { .key = "big" };
	char *s, *b64, *want;

	REQUIRE(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 12));
	e.data = data;
	e.len = n;
	REQUIRE(kfs_wire_b64_encode(data, n, &b64) == 0);
	REQUIRE(asprintf(&want, "{\"StreamName\":\"S\",\"Records\":[{\"Data\":"
			 "\"%s\",\"PartitionKey\":\"big\"}]}", b64) > 0);
	CHECK_EQ_INT(kfs_wire_put_records_body("S", &e, &idx, 1, &s, &len), 0);
	CHECK_EQ_INT(len, strlen(want));
	CHECK(strcmp(s, want) == 0);
	kfs_wire_body_free(s, len);
	free(want);
	free(b64);
	free(data);
}

TEST(shard_iterator)
{
	struct kfs_iter_spec spec = { .type = KFS_ITER_TRIM_HORIZON };
	cJSON *o;
	char *s, *it;

	CHECK_EQ_INT(kfs_wire_shard_iterator_req("S", "shardId-000000000000", &spec, &o), 0);
	s = text_of(o);
	CHECK_EQ_STR(s, "{\"StreamName\":\"S\",\"ShardId\":\"shardId-000000000000\","
		     "\"ShardIteratorType\":\"TRIM_HORIZON\"}");
	free(s);
	spec.type = KFS_ITER_LATEST;
	CHECK_EQ_INT(kfs_wire_shard_iterator_req("S", "shardId-000000000000", &spec, &o), 0);
	s = text_of(o);
	CHECK(strstr(s, "\"ShardIteratorType\":\"LATEST\"") != NULL);
	free(s);
	spec.type = KFS_ITER_AFTER_SEQUENCE_NUMBER;
	spec.seq = "4968";
	CHECK_EQ_INT(kfs_wire_shard_iterator_req("S", "shardId-000000000000", &spec, &o), 0);
	s = text_of(o);
	CHECK(strstr(s, "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\","
		     "\"StartingSequenceNumber\":\"4968\"") != NULL);
	free(s);
	spec.type = KFS_ITER_AT_SEQUENCE_NUMBER;
	CHECK_EQ_INT(kfs_wire_shard_iterator_req("S", "shardId-000000000000", &spec, &o), 0);
	s = text_of(o);
	CHECK(strstr(s, "\"AT_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"4968\"") != NULL);
	free(s);
	spec.seq = "49x";
	CHECK_EQ_INT(kfs_wire_shard_iterator_req("S", "shardId-000000000000", &spec, &o), -EINVAL);
	CHECK(o == NULL);
	spec.type = KFS_ITER_AT_TIMESTAMP;
	spec.timestamp_ms = 1700000000123LL;
	CHECK_EQ_INT(kfs_wire_shard_iterator_req("S", "shardId-000000000000", &spec, &o), 0);
	s = text_of(o);
	CHECK(strstr(s, "\"ShardIteratorType\":\"AT_TIMESTAMP\",\"Timestamp\":1700000000.123}") != NULL);
	free(s);

	o = parse("{\"ShardIterator\":\"AAAAAAAAAAE+/=\"}");
	CHECK_EQ_INT(kfs_wire_shard_iterator_parse(o, &it), 0);
	CHECK_EQ_STR(it, "AAAAAAAAAAE+/=");
	free(it);
	cJSON_Delete(o);
	o = parse("{\"ShardIterator\":null}");
	CHECK_EQ_INT(kfs_wire_shard_iterator_parse(o, &it), -EIO);
	cJSON_Delete(o);
}

TEST(get_records)
{
	struct kfs_get_result r = { 0 };
	char *s, *next;
	cJSON *j;

	s = text_of(kfs_wire_get_records_req("IT", 10000));
	CHECK_EQ_STR(s, "{\"ShardIterator\":\"IT\",\"Limit\":10000}");
	free(s);

	j = parse("{\"Records\":[{\"SequenceNumber\":\"101\",\"ApproximateArrivalTimestamp\":"
		  "1700000000.25,\"Data\":\"eyJEYXRhIjoiMSJ9Cg==\",\"PartitionKey\":\"111\"},"
		  "{\"SequenceNumber\":\"102\",\"ApproximateArrivalTimestamp\":1700000001,"
		  "\"Data\":\"AAE=\",\"PartitionKey\":\"k\",\"EncryptionType\":\"NONE\"}],"
		  "\"NextShardIterator\":\"NEXT\",\"MillisBehindLatest\":1500}");
	CHECK_EQ_INT(kfs_wire_get_records_parse(j, &r, &next), 0);
	cJSON_Delete(j);
	REQUIRE(r.n == 2);
	CHECK_EQ_STR(r.records[0].seq, "101");
	CHECK_EQ_STR(r.records[0].key, "111");
	CHECK_EQ_INT(r.records[0].len, 13);
	CHECK(memcmp(r.records[0].data, "{\"Data\":\"1\"}\n", 13) == 0);
	CHECK_EQ_INT(r.records[0].arrival_ms, 1700000000250LL);
	CHECK_EQ_INT(r.records[1].len, 2);
	CHECK(r.records[1].data[0] == 0 && r.records[1].data[1] == 1);
	CHECK_EQ_INT(r.millis_behind, 1500);
	CHECK_EQ_STR(next, "NEXT");
	free(next);
	kfs_get_result_clear(&r);

	/* The end of a closed shard: no next iterator, the children. */
	j = parse("{\"Records\":[],\"NextShardIterator\":null,\"MillisBehindLatest\":0,"
		  "\"ChildShards\":[{\"ShardId\":\"shardId-000000000001\","
		  "\"ParentShards\":[\"shardId-000000000000\"],\"HashKeyRange\":"
		  "{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"}},"
		  "{\"ShardId\":\"shardId-000000000002\",\"ParentShards\":"
		  "[\"shardId-000000000000\"],\"HashKeyRange\":{\"StartingHashKey\":"
		  "\"2\",\"EndingHashKey\":\"3\"}}]}");
	CHECK_EQ_INT(kfs_wire_get_records_parse(j, &r, &next), 0);
	cJSON_Delete(j);
	CHECK_EQ_INT(r.n, 0);
	CHECK(next == NULL);
	REQUIRE(r.children.n == 2);
	CHECK_EQ_STR(r.children.v[1], "shardId-000000000002");
	kfs_get_result_clear(&r);

	/* Data that is not base64: the whole answer is refused. */
	j = parse("{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"AAE=\","
		  "\"PartitionKey\":\"k\"},{\"SequenceNumber\":\"2\",\"Data\":\"@@\","
		  "\"PartitionKey\":\"k\"}],\"NextShardIterator\":\"N\"}");
	CHECK_EQ_INT(kfs_wire_get_records_parse(j, &r, &next), -EIO);
	cJSON_Delete(j);
	CHECK_EQ_INT(r.n, 0);
	CHECK(next == NULL);
	kfs_get_result_clear(&r);
}

/* ---- the composite iterator -------------------------------------------- */

/* What the event stream decoder handed over. */
struct es_seen {
	int n;
	char types[4][128];
	char payloads[4][64];
};

static int es_take(void *arg, const struct kfs_es_message *m)
{
	struct es_seen *s = arg;

	if (s->n < 4) {
		snprintf(s->types[s->n], sizeof(s->types[0]), "%s/%s",
			 m->message_type, m->event_type);
		snprintf(s->payloads[s->n], sizeof(s->payloads[0]), "%.*s",
			 (int)m->payload_len, (const char *)m->payload);
	}
	s->n++;
	return 0;
}

TEST(event_stream)
{
	const char *n1[] = { ":message-type", ":event-type", ":content-type" };
	const char *v1[] = { "event", "SubscribeToShardEvent", "application/json" };
	const char *n2[] = { ":message-type", ":exception-type" };
	const char *v2[] = { "exception", "ResourceInUseException" };
	unsigned char *a, *b, both[512];
	size_t la, lb;
	struct kfs_es_decoder d;
	struct es_seen seen = { 0 };

	CHECK_EQ_INT(kfs_es_encode(n1, v1, 3, "{\"Records\":[]}", 14, &a, &la), 0);
	CHECK_EQ_INT(kfs_es_encode(n2, v2, 2, "{}", 2, &b, &lb), 0);
	CHECK(la + lb <= sizeof(both));
	memcpy(both, a, la);
	memcpy(both + la, b, lb);
	/* Byte by byte: the same two messages as whole. */
	kfs_es_init(&d);
	for (size_t i = 0; i < la + lb; i++)
		CHECK_EQ_INT(kfs_es_feed(&d, both + i, 1, es_take, &seen), 0);
	CHECK_EQ_INT(seen.n, 2);
	CHECK_EQ_STR(seen.types[0], "event/SubscribeToShardEvent");
	CHECK_EQ_STR(seen.payloads[0], "{\"Records\":[]}");
	CHECK_EQ_STR(seen.types[1], "exception/ResourceInUseException");
	CHECK_EQ_STR(seen.payloads[1], "{}");
	kfs_es_clear(&d);

	/* A flipped payload byte: the message CRC, and nothing after. */
	memset(&seen, 0, sizeof(seen));
	both[la - 6] ^= 0x20;
	kfs_es_init(&d);
	CHECK_EQ_INT(kfs_es_feed(&d, both, la + lb, es_take, &seen), -EBADMSG);
	CHECK_EQ_INT(seen.n, 0);
	CHECK(strstr(d.why, "message CRC") != NULL);
	CHECK_EQ_INT(kfs_es_feed(&d, b, lb, es_take, &seen), -EBADMSG);
	kfs_es_clear(&d);
	both[la - 6] ^= 0x20;

	/* A flipped length: the prelude CRC, before waiting for the bytes. */
	both[1] ^= 0x01;
	kfs_es_init(&d);
	CHECK_EQ_INT(kfs_es_feed(&d, both, 12, es_take, &seen), -EBADMSG);
	CHECK(strstr(d.why, "prelude CRC") != NULL);
	kfs_es_clear(&d);
	free(a);
	free(b);
}

TEST(composite_iterator)
{
	struct kfs_wire_iter it = { 0 }, back;
	struct kfs_iter_spec spec;
	char *s;

	snprintf(it.stream, sizeof(it.stream), "AWSCookbook701");
	snprintf(it.shard, sizeof(it.shard), "shardId-000000000000");
	it.type = KFS_ITER_LATEST;
	it.time_ms = 1700000000123LL;
	CHECK_EQ_INT(kfs_wire_iter_format(&it, "AAAA+/==|odd", &s), 0);
	CHECK_EQ_STR(s, "kfs1|AWSCookbook701|shardId-000000000000|1||1700000000123||AAAA+/==|odd");
	CHECK_EQ_INT(kfs_wire_iter_parse(s, &back), 0);
	CHECK_EQ_STR(back.stream, "AWSCookbook701");
	CHECK_EQ_STR(back.shard, "shardId-000000000000");
	CHECK_EQ_INT(back.type, KFS_ITER_LATEST);
	CHECK_EQ_INT(back.time_ms, 1700000000123LL);
	CHECK_EQ_STR(back.last_seq, "");
	CHECK_EQ_STR(back.service, "AAAA+/==|odd");
	/* Nothing delivered yet: LATEST resumes at the time it was taken. */
	kfs_wire_iter_resume_spec(&back, &spec);
	CHECK_EQ_INT(spec.type, KFS_ITER_AT_TIMESTAMP);
	CHECK_EQ_INT(spec.timestamp_ms, 1700000000123LL);
	free(s);

	/* Something delivered: after it, whatever the start was. */
	snprintf(it.last_seq, sizeof(it.last_seq), "4968056384");
	it.type = KFS_ITER_AT_SEQUENCE_NUMBER;
	snprintf(it.seq, sizeof(it.seq), "4968");
	CHECK_EQ_INT(kfs_wire_iter_format(&it, "X", &s), 0);
	CHECK_EQ_INT(kfs_wire_iter_parse(s, &back), 0);
	kfs_wire_iter_resume_spec(&back, &spec);
	CHECK_EQ_INT(spec.type, KFS_ITER_AFTER_SEQUENCE_NUMBER);
	CHECK_EQ_STR(spec.seq, "4968056384");
	free(s);
	it.last_seq[0] = '\0';
	CHECK_EQ_INT(kfs_wire_iter_format(&it, "X", &s), 0);
	CHECK_EQ_INT(kfs_wire_iter_parse(s, &back), 0);
	kfs_wire_iter_resume_spec(&back, &spec);
	CHECK_EQ_INT(spec.type, KFS_ITER_AT_SEQUENCE_NUMBER);
	CHECK_EQ_STR(spec.seq, "4968");
	free(s);

	/* What the local engine or a stranger hands in is refused. */
	CHECK_EQ_INT(kfs_wire_iter_parse("S/1.0/shardId-000000000000/0", &back), -EINVAL);
	CHECK_EQ_INT(kfs_wire_iter_parse("kfs1|S|shardId-000000000000|9||0||X", &back), -EINVAL);
	CHECK_EQ_INT(kfs_wire_iter_parse("kfs1|S|shardId-000000000000|0||0|12a|X", &back), -EINVAL);
	CHECK_EQ_INT(kfs_wire_iter_parse("kfs1|S|shardId-000000000000|0||0||", &back), -EINVAL);
	CHECK_EQ_INT(kfs_wire_iter_parse("kfs1|bad name|shardId-000000000000|0||0||X", &back), -EINVAL);

	/* A reader fed by a shard's poller: its run, no service iterator. */
	it.type = KFS_ITER_LATEST;
	it.seq[0] = '\0';
	snprintf(it.last_seq, sizeof(it.last_seq), "4968");
	it.feed = 7;
	CHECK_EQ_INT(kfs_wire_iter_format(&it, KFS_WIRE_NO_SERVICE, &s), 0);
	CHECK_EQ_STR(s, "kfs2|AWSCookbook701|shardId-000000000000|1||1700000000123|4968|7|-");
	CHECK_EQ_INT(kfs_wire_iter_parse(s, &back), 0);
	CHECK_EQ_INT((int)back.feed, 7);
	CHECK_EQ_STR(back.last_seq, "4968");
	CHECK_EQ_STR(back.service, KFS_WIRE_NO_SERVICE);
	free(s);
	CHECK_EQ_INT(kfs_wire_iter_parse("kfs2|S|shardId-000000000000|0||0||0|-", &back), -EINVAL);
	CHECK_EQ_INT(kfs_wire_iter_parse("kfs2|S|shardId-000000000000|0||0||x|-", &back), -EINVAL);
	CHECK_EQ_INT(kfs_wire_iter_parse("kfs2|S|shardId-000000000000|0||0||-", &back), -EINVAL);
}

/* ---- errors ------------------------------------------------------------ */

static void check_row(const char *action, const char *type, long status,
		      int want_err, enum kfs_aws_retry want_retry)
{
	enum kfs_aws_retry r;
	int err;

	kfs_aws_error_classify(action, type, status, &err, &r);
	if (err != want_err || r != want_retry) {
		printf("#   %s %s %ld: errno %d retry %d, expected %d %d\n",
		       action ? action : "-", type ? type : "-", status, err,
		       (int)r, want_err, (int)want_retry);
		tap_cur_failed = 1;
	}
}

TEST(error_table)
{
	/* SPEC section 5. */
	check_row("DescribeStreamSummary", "ResourceNotFoundException", 400, -ENOENT, KFS_AWS_FATAL);
	check_row("CreateStream", "ResourceInUseException", 400, -EEXIST, KFS_AWS_FATAL);
	check_row("DeleteStream", "ResourceInUseException", 400, -EBUSY, KFS_AWS_FATAL);
	check_row(NULL, "ResourceInUseException", 400, -EBUSY, KFS_AWS_FATAL);
	check_row("GetShardIterator", "InvalidArgumentException", 400, -EINVAL, KFS_AWS_FATAL);
	check_row("PutRecords", "ValidationException", 400, -EINVAL, KFS_AWS_FATAL);
	check_row("CreateStream", "LimitExceededException", 400, -EAGAIN, KFS_AWS_THROTTLED);
	check_row("GetRecords", "ProvisionedThroughputExceededException", 400, -EAGAIN, KFS_AWS_THROTTLED);
	check_row("ListShards", "ThrottlingException", 400, -EAGAIN, KFS_AWS_THROTTLED);
	check_row("GetRecords", "ExpiredIteratorException", 400, -EIO, KFS_AWS_EXPIRED);
	check_row("ListShards", "ExpiredNextTokenException", 400, -EIO, KFS_AWS_EXPIRED);
	check_row("ListStreams", "AccessDeniedException", 400, -EACCES, KFS_AWS_FATAL);
	check_row("ListStreams", "UnrecognizedClientException", 400, -EACCES, KFS_AWS_AUTH);
	check_row("ListStreams", "InvalidSignatureException", 400, -EACCES, KFS_AWS_AUTH);
	check_row("ListStreams", "ExpiredTokenException", 400, -EACCES, KFS_AWS_AUTH);
	check_row("ListStreams", "IncompleteSignature", 400, -EACCES, KFS_AWS_AUTH);
	check_row("ListStreams", "MissingAuthenticationTokenException", 400, -EACCES, KFS_AWS_AUTH);
	check_row("PutRecords", "KMSAccessDeniedException", 400, -EACCES, KFS_AWS_FATAL);
	check_row("PutRecords", "KMSDisabledException", 400, -EACCES, KFS_AWS_FATAL);
	check_row("PutRecords", "KMSInvalidStateException", 400, -EIO, KFS_AWS_FATAL);
	check_row("PutRecords", "KMSThrottlingException", 400, -EAGAIN, KFS_AWS_THROTTLED);
	check_row("PutRecords", "InternalFailure", 500, -EIO, KFS_AWS_TRANSIENT);
	check_row("PutRecords", "ServiceUnavailable", 503, -EIO, KFS_AWS_TRANSIENT);
	check_row("UpdateShardCount", "UnknownOperationException", 400, -ENOTSUP, KFS_AWS_FATAL);
	/* Unknown types: by status. */
	check_row("ListStreams", "", 502, -EIO, KFS_AWS_TRANSIENT);
	check_row("ListStreams", NULL, 429, -EAGAIN, KFS_AWS_THROTTLED);
	check_row("ListStreams", "Whatever", 403, -EACCES, KFS_AWS_FATAL);
	check_row("ListStreams", "Whatever", 400, -EINVAL, KFS_AWS_FATAL);
	check_row("ListStreams", "Whatever", 404, -EIO, KFS_AWS_FATAL);
	/* The producer resends what is worth it, and only that. */
	CHECK(kfs_aws_err_retryable(-EAGAIN));
	CHECK(kfs_aws_err_retryable(-EIO));
	CHECK(!kfs_aws_err_retryable(-EACCES));
	CHECK(!kfs_aws_err_retryable(-EINVAL));
	CHECK(!kfs_aws_err_retryable(-ENOENT));
}

TEST(error_answers)
{
	struct kfs_aws_error e;

	kfs_aws_error_from_answer(&e, "DescribeStreamSummary", 400,
				  "{\"__type\":\"com.amazonaws.kinesis.v20131202#"
				  "ResourceNotFoundException\",\"message\":\"Stream S "
				  "under account 111122223333 not found.\"}", NULL);
	CHECK_EQ_STR(e.type, "ResourceNotFoundException");
	CHECK_EQ_INT(e.err, -ENOENT);
	CHECK_EQ_STR(e.message, "Stream S under account 111122223333 not found.");
	CHECK_EQ_INT(e.ambiguous, 0);

	/* "Message" capitalized, as some services write it. */
	kfs_aws_error_from_answer(&e, "CreateStream", 400,
				  "{\"__type\":\"ResourceInUseException\",\"Message\":"
				  "\"Stream S under account 1 already exists.\"}", NULL);
	CHECK_EQ_INT(e.err, -EEXIST);
	CHECK_EQ_STR(e.message, "Stream S under account 1 already exists.");

	/* No JSON: the type from x-amzn-ErrorType, its ":url" cut. */
	kfs_aws_error_from_answer(&e, "ListStreams", 503, "<html>busy</html>",
				  "ServiceUnavailable:http://internal.amazon.com/coral/");
	CHECK_EQ_STR(e.type, "ServiceUnavailable");
	CHECK_EQ_INT(e.err, -EIO);
	CHECK_EQ_INT(e.retry, KFS_AWS_TRANSIENT);
	CHECK_EQ_INT(e.ambiguous, 1);

	/* Nothing at all. */
	kfs_aws_error_from_answer(&e, "ListStreams", 500, "", NULL);
	CHECK_EQ_INT(e.err, -EIO);
	CHECK_EQ_STR(e.message, "HTTP status 500");

	/* Refused credentials: the message may quote the canonical request
	 * or the token; none of it is kept. */
	kfs_aws_error_from_answer(&e, "ListStreams", 400,
				  "{\"__type\":\"InvalidSignatureException\",\"message\":"
				  "\"The request signature we calculated does not match. "
				  "The Canonical String for this request should have been\\n"
				  "'POST\\n/\\n\\nx-amz-security-token:SECRETTOKEN'\"}", NULL);
	CHECK_EQ_INT(e.err, -EACCES);
	CHECK_EQ_INT(e.retry, KFS_AWS_AUTH);
	CHECK(strstr(e.message, "SECRETTOKEN") == NULL);
	CHECK(strstr(e.message, "Canonical") == NULL);
	kfs_aws_error_from_answer(&e, "ListStreams", 400,
				  "{\"__type\":\"IncompleteSignatureException\",\"message\":"
				  "\"Authorization header requires 'Credential'. "
				  "Authorization=AWS4-HMAC-SHA256 Signature=abcdef\"}", NULL);
	CHECK(strstr(e.message, "abcdef") == NULL);

	/* Other messages: the first line only, and nothing that looks like a
	 * credential even there. */
	kfs_aws_error_from_answer(&e, "PutRecords", 400,
				  "{\"__type\":\"ValidationException\",\"message\":"
				  "\"first line\\nsecond line\"}", NULL);
	CHECK_EQ_STR(e.message, "first line");
	kfs_aws_error_from_answer(&e, "PutRecords", 400,
				  "{\"__type\":\"ValidationException\",\"message\":"
				  "\"bad security token AQoDYXdz\"}", NULL);
	CHECK_EQ_STR(e.message, "");

	kfs_aws_error_from_transport(&e, -ECONNREFUSED, "Couldn't connect to server", 0);
	CHECK_EQ_INT(e.err, -EIO);
	CHECK_EQ_INT(e.retry, KFS_AWS_TRANSIENT);
	CHECK_EQ_INT(e.ambiguous, 0);
	kfs_aws_error_from_transport(&e, -ECONNRESET, "Recv failure", 1);
	CHECK_EQ_INT(e.err, -EIO);
	CHECK_EQ_INT(e.ambiguous, 1);
	kfs_aws_error_from_transport(&e, -EPROTO, "SSL certificate problem", 1);
	CHECK_EQ_INT(e.retry, KFS_AWS_FATAL);
}

int main(void)
{
	RUN(b64_known);
	RUN(b64_round_trips);
	RUN(b64_rejects);
	RUN(timestamps);
	RUN(utf8_and_seq);
	RUN(list_streams);
	RUN(list_shards);
	RUN(stream_summary);
	RUN(put_records);
	RUN(put_records_body_escapes);
	RUN(put_records_body_shapes);
	RUN(put_records_body_big);
	RUN(shard_iterator);
	RUN(get_records);
	RUN(composite_iterator);
	RUN(event_stream);
	RUN(error_table);
	RUN(error_answers);
	return tap_done();
}
