/* test_engine.c - the local engine through the backend interface. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/local/engine.h"
#include "backend/local/ids.h"
#include "backend/local/local.h"
#include "lib/log.h"
#include "tap.h"

#define HOUR ((int64_t)3600 * 1000)
#define T0 ((int64_t)1732550000000) /* 2024-11-25, ms */
#include "scratch.h"

static char *new_dir(void)
{
	char *d = strdup("/tmp/kfs-engine-XXXXXX");
	REQUIRE(d && mkdtemp(d));
	return d;
}

static struct kfs_backend *open_at(const char *dir, uint64_t seg_bytes, size_t max_rec)
{
	struct kfs_local_config cfg = {
		.data_dir = dir,
		.max_record_bytes = max_rec,
		.clock = &scratch_clock,
		.segment_bytes = seg_bytes,
	};
	struct kfs_backend *be = NULL;
	int rc = kfs_local_open(&cfg, &be);
	if (rc != 0)
		printf("# kfs_local_open(%s): %s\n", dir, strerror(-rc));
	REQUIRE(rc == 0 && be);
	return be;
}

#define OPS(be) ((be)->ops)

static int put1(struct kfs_backend *be, const char *stream, const char *key,
		const char *ehk, const void *data, size_t len,
		char seq[KFS_SEQ_MAX], char shard[KFS_SHARD_ID_LEN + 1])
{
	struct kfs_put_entry en = {.key = key, .explicit_hash_key = ehk,
				   .data = data, .len = len};
	int rc = OPS(be)->put_records(be->impl, stream, &en, 1);
	if (rc < 0)
		return rc;
	if (en.err == 0) {
		if (seq)
			strcpy(seq, en.seq);
		if (shard)
			strcpy(shard, en.shard_id);
	}
	return en.err;
}

static int put_str(struct kfs_backend *be, const char *stream, const char *key,
		   const char *s, char seq[KFS_SEQ_MAX])
{
	return put1(be, stream, key, NULL, s, strlen(s), seq, NULL);
}

static char *iter(struct kfs_backend *be, const char *stream, const char *shard,
		  enum kfs_iter_type type, const char *seq, int64_t ts)
{
	struct kfs_iter_spec spec = {.type = type, .seq = seq, .timestamp_ms = ts};
	char *it = NULL;
	int rc = OPS(be)->get_iterator(be->impl, stream, shard, &spec, &it);
	if (rc != 0)
		printf("# get_iterator: %s\n", strerror(-rc));
	return it;
}

/* Moves the records of r to the end of acc. */
static void take(struct kfs_get_result *acc, struct kfs_get_result *r)
{
	REQUIRE(kfs_get_result_take(acc, r) == 0);
}

/* Reads from `it` (freed) until a call returns nothing; all into acc. */
static int drain(struct kfs_backend *be, char *it, int limit, struct kfs_get_result *acc)
{
	int rc = 0;

	while (it) {
		struct kfs_get_result r;
		size_t got;
		rc = OPS(be)->get_records(be->impl, it, limit, 0, &r);
		free(it);
		it = NULL;
		if (rc < 0)
			break;
		got = r.n;
		take(acc, &r);
		if (got)
			it = r.next_iterator, r.next_iterator = NULL;
		kfs_get_result_clear(&r);
	}
	free(it);
	return rc;
}

static size_t read_all(struct kfs_backend *be, const char *stream, const char *shard,
		       struct kfs_get_result *acc)
{
	memset(acc, 0, sizeof(*acc));
	drain(be, iter(be, stream, shard, KFS_ITER_TRIM_HORIZON, NULL, 0), 10000, acc);
	return acc->n;
}

static int rec_is(const struct kfs_record *r, const char *s)
{
	return r->len == strlen(s) && memcmp(r->data, s, r->len) == 0;
}

/* ---- streams ---------------------------------------------------------- */

TEST(streams_create_list_describe_delete)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	struct kfs_name_list names;
	struct kfs_stream_desc d;
	struct kfs_shard_list sl;

	set_now(T0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "beta", 1), 0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "alpha", 3), 0);
	CHECK_EQ_INT(OPS(be)->list_streams(be->impl, &names), 0);
	CHECK_EQ_INT(names.n, 2);
	if (names.n == 2) {
		CHECK_EQ_STR(names.v[0], "alpha");
		CHECK_EQ_STR(names.v[1], "beta");
	}
	kfs_name_list_clear(&names);

	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "alpha", &d), 0);
	CHECK_EQ_STR(d.name, "alpha");
	CHECK_EQ_STR(d.arn, "arn:aws:kinesis:local:000000000000:stream/alpha");
	CHECK_EQ_INT(d.status, KFS_STREAM_ACTIVE);
	CHECK_EQ_INT(d.retention_hours, 24);
	CHECK_EQ_INT(d.open_shard_count, 3);
	CHECK_EQ_STR(d.mode, "PROVISIONED");
	CHECK_EQ_INT(d.creation_ms, T0);

	CHECK_EQ_INT(OPS(be)->list_shards(be->impl, "alpha", &sl), 0);
	CHECK_EQ_INT(sl.n, 3);
	if (sl.n == 3) {
		struct kfs_seq s;
		CHECK_EQ_STR(sl.v[0].id, "shardId-000000000000");
		CHECK_EQ_STR(sl.v[2].id, "shardId-000000000002");
		CHECK_EQ_STR(sl.v[0].hash_start, "0");
		CHECK_EQ_STR(sl.v[0].hash_end, "113427455640312821154458202477256070484");
		CHECK_EQ_STR(sl.v[1].hash_start, "113427455640312821154458202477256070485");
		CHECK_EQ_STR(sl.v[2].hash_end, "340282366920938463463374607431768211455");
		CHECK_EQ_STR(sl.v[1].parent, "");
		CHECK_EQ_STR(sl.v[1].adjacent_parent, "");
		CHECK_EQ_STR(sl.v[1].seq_end, "");
		CHECK_EQ_INT(sl.v[1].closed, 0);
		CHECK_EQ_INT(sl.v[1].newest_arrival_ms, -1);
		CHECK_EQ_INT(sl.v[1].bytes[KFS_FRAMING_LINE], 0);
		CHECK_EQ_INT(strlen(sl.v[1].seq_start), 56);
		CHECK_EQ_INT(kfs_ids_seq_decode(sl.v[1].seq_start, &s), 0);
		CHECK(s.counter == 0 && s.shard_index == 1 && s.shard_created_s == T0 / 1000);
	}
	kfs_shard_list_clear(&sl);

	CHECK_EQ_INT(OPS(be)->delete_stream(be->impl, "beta"), 0);
	CHECK_EQ_INT(OPS(be)->list_streams(be->impl, &names), 0);
	CHECK_EQ_INT(names.n, 1);
	kfs_name_list_clear(&names);
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "beta", &d), -ENOENT);
	/* Its directory is gone, and nothing is left in trash/ or tmp/. */
	{
		char p[512];
		struct stat sb;
		snprintf(p, sizeof(p), "%s/streams/beta", dir);
		CHECK(stat(p, &sb) < 0 && errno == ENOENT);
		snprintf(p, sizeof(p), "%s/trash", dir);
		DIR *td = opendir(p);
		int n = 0;
		struct dirent *de;
		while (td && (de = readdir(td)))
			n += de->d_name[0] != '.';
		if (td)
			closedir(td);
		CHECK_EQ_INT(n, 0);
		snprintf(p, sizeof(p), "%s/streams/alpha/shardId-000000000000", dir);
		CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0700);
		snprintf(p, sizeof(p), "%s/streams/alpha/shardId-000000000000/shard.meta", dir);
		CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	}
	/* A name can be used again after deletion. */
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "beta", 2), 0);
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "beta", &d), 0);
	CHECK_EQ_INT(d.open_shard_count, 2);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(stream_name_and_count_validation)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	char long_ok[129], too_long[130];
	struct kfs_stream_desc d;

	memset(long_ok, 'a', 128);
	long_ok[128] = '\0';
	memset(too_long, 'b', 129);
	too_long[129] = '\0';
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "", 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, ".", 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "..", 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "a/b", 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "../escape", 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "sp ace", 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, too_long, 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "ok", 0), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "ok", -3), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "ok", KFS_LOCAL_SHARDS_MAX + 1), -EINVAL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, long_ok, 1), 0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "A.b_c-9", 1), 0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, ".hidden", 1), 0);
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "A.b_c-9", &d), 0);
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "../x", &d), -EINVAL);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(eexist_and_enoent)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	struct kfs_stream_desc d;
	struct kfs_shard_list sl;
	struct kfs_shard_desc sd;
	char *it = NULL;
	struct kfs_iter_spec spec = {.type = KFS_ITER_LATEST};

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "s", 1), 0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "s", 1), -EEXIST);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "s", 4), -EEXIST);
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "nope", &d), -ENOENT);
	CHECK_EQ_INT(OPS(be)->delete_stream(be->impl, "nope"), -ENOENT);
	CHECK_EQ_INT(OPS(be)->list_shards(be->impl, "nope", &sl), -ENOENT);
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "s", "shardId-000000000001", &sd), -ENOENT);
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "s", "bogus", &sd), -ENOENT);
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "nope", "shardId-000000000000", &spec, &it), -ENOENT);
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "s", "shardId-000000000009", &spec, &it), -ENOENT);
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "nope", 48), -ENOENT);
	CHECK_EQ_INT(OPS(be)->sync(be->impl, "nope"), -ENOENT);
	CHECK_EQ_INT(put_str(be, "nope", "k", "x", NULL), -ENOENT);
	CHECK(it == NULL);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

/* ---- records ---------------------------------------------------------- */

TEST(routing_by_md5_and_explicit_hash_key)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	char seq[KFS_SEQ_MAX], shard[KFS_SHARD_ID_LEN + 1];
	struct kfs_get_result r;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "r", 3), 0);
	/* MD5("111") = 140302709094137701773086334180578563688: shard 1 of 3. */
	CHECK_EQ_INT(put1(be, "r", "111", NULL, "x", 1, seq, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000001");
	/* MD5("a") = 16955237001963240173058271559858726497: shard 0. */
	CHECK_EQ_INT(put1(be, "r", "a", NULL, "x", 1, seq, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000000");
	/* MD5("partitionKey") = 1933...: shard 1. */
	CHECK_EQ_INT(put1(be, "r", "partitionKey", NULL, "x", 1, seq, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000001");
	/* Explicit hash keys at the exact shard boundaries. */
	CHECK_EQ_INT(put1(be, "r", "111", "0", "x", 1, seq, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000000");
	CHECK_EQ_INT(put1(be, "r", "111", "113427455640312821154458202477256070484", "x", 1, seq, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000000");
	CHECK_EQ_INT(put1(be, "r", "111", "113427455640312821154458202477256070485", "x", 1, seq, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000001");
	CHECK_EQ_INT(put1(be, "r", "111", "340282366920938463463374607431768211455", "x", 1, seq, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000002");
	CHECK_EQ_INT(put1(be, "r", "111", "340282366920938463463374607431768211456", "x", 1, seq, shard), -EINVAL);
	CHECK_EQ_INT(put1(be, "r", "111", "-5", "x", 1, seq, shard), -EINVAL);
	CHECK_EQ_INT(put1(be, "r", "111", "12x", "x", 1, seq, shard), -EINVAL);
	/* What each shard holds. */
	CHECK_EQ_INT(read_all(be, "r", "shardId-000000000000", &r), 3);
	if (r.n == 3)
		CHECK_EQ_STR(r.records[0].key, "a");
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(read_all(be, "r", "shardId-000000000001", &r), 3);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(read_all(be, "r", "shardId-000000000002", &r), 1);
	kfs_get_result_clear(&r);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(batch_results_per_entry)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	struct kfs_put_entry en[6] = {
		{.key = "a", .data = "1", .len = 1},
		{.key = "", .data = "2", .len = 1},
		{.key = "111", .data = "3", .len = 1},
		{.key = "a", .explicit_hash_key = "x", .data = "4", .len = 1},
		{.key = "a", .data = "5", .len = 1},
		{.key = "111", .data = "6", .len = 1},
	};
	struct kfs_put_entry *many = calloc(KFS_CHEAP_PUT_BATCH_MAX + 1, sizeof(*many));
	struct kfs_get_result r;

	/* "a" goes to shard 0 of 3, "111" to shard 1. */
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "b", 3), 0);
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "b", en, 6), 0);
	CHECK_EQ_INT(en[0].err, 0);
	CHECK_EQ_INT(en[1].err, -EINVAL);
	CHECK(en[1].reason[0] != '\0');
	CHECK_EQ_INT(en[2].err, 0);
	CHECK_EQ_INT(en[3].err, -EINVAL);
	CHECK_EQ_INT(en[4].err, 0);
	CHECK_EQ_INT(en[5].err, 0);
	/* Same shard, same call: consecutive, in entry order. */
	CHECK_EQ_STR(en[0].shard_id, en[4].shard_id);
	CHECK(strcmp(en[0].seq, en[4].seq) < 0);
	CHECK(strcmp(en[2].seq, en[5].seq) < 0);
	CHECK(strcmp(en[0].shard_id, en[2].shard_id) != 0);
	CHECK_EQ_INT(read_all(be, "b", en[0].shard_id, &r), 2);
	if (r.n == 2) {
		CHECK(rec_is(&r.records[0], "1"));
		CHECK(rec_is(&r.records[1], "5"));
		CHECK_EQ_STR(r.records[1].seq, en[4].seq);
	}
	kfs_get_result_clear(&r);
	/* Past the service's 500 entries: a local put is no API call, so a
	 * big write is one append (KFS_CHEAP_PUT_BATCH_MAX entries), its
	 * records consecutive and in order; past that the whole call fails. */
	CHECK(many != NULL);
	if (!many)
		return;
	for (int i = 0; i <= KFS_CHEAP_PUT_BATCH_MAX; i++)
		many[i] = (struct kfs_put_entry){.key = "k", .data = "d", .len = 1};
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "b", many, KFS_CHEAP_PUT_BATCH_MAX + 1), -EINVAL);
	CHECK_EQ_INT(many[0].err, -EINVAL);
	for (int i = 0; i < KFS_CHEAP_PUT_BATCH_MAX; i++)
		many[i] = (struct kfs_put_entry){.key = "big", .data = (i % 2) ? "o" : "e", .len = 1};
	CHECK_EQ_INT(OPS(be)->put_records(be->impl, "b", many, KFS_CHEAP_PUT_BATCH_MAX), 0);
	CHECK_EQ_INT(many[0].err, 0);
	CHECK_EQ_INT(many[KFS_CHEAP_PUT_BATCH_MAX - 1].err, 0);
	CHECK(strcmp(many[0].seq, many[KFS_CHEAP_PUT_BATCH_MAX - 1].seq) < 0);
	CHECK_EQ_INT(read_all(be, "b", many[0].shard_id, &r) >= KFS_CHEAP_PUT_BATCH_MAX, 1);
	{
		size_t at = r.n - KFS_CHEAP_PUT_BATCH_MAX, odd_bad = 0;

		for (size_t i = 0; r.n >= KFS_CHEAP_PUT_BATCH_MAX && i < KFS_CHEAP_PUT_BATCH_MAX; i++)
			odd_bad += !rec_is(&r.records[at + i], (i % 2) ? "o" : "e");
		CHECK_EQ_INT((int)odd_bad, 0);
		CHECK_EQ_STR(r.records[r.n - 1].seq, many[KFS_CHEAP_PUT_BATCH_MAX - 1].seq);
	}
	kfs_get_result_clear(&r);
	free(many);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(put_run_stores_all_or_leaves_all_to_put_records)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 1000);
	static char big[1000];
	struct iovec v[4] = {
		{ .iov_base = "r1", .iov_len = 2 },
		{ .iov_base = "", .iov_len = 0 },
		{ .iov_base = "r3", .iov_len = 2 },
		{ .iov_base = big, .iov_len = sizeof(big) },
	};
	char key257[258];
	struct kfs_get_result r;
	char seq[KFS_SEQ_MAX];
	const char *shard = NULL;

	memset(key257, 'k', 257);
	key257[257] = '\0';
	REQUIRE(OPS(be)->put_run != NULL);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "pr", 2), 0);
	/* Where a record of the key goes: the run goes there too. */
	CHECK_EQ_INT(put1(be, "pr", "111", NULL, "r0", 2, seq, NULL), 0);
	CHECK_EQ_INT(OPS(be)->put_run(be->impl, "pr", "111", v, 3), 0);
	/* Left to put_records, nothing stored: a record over the limit
	 * (1000 bytes of data and key), a bad key, a missing stream, too
	 * many records. */
	CHECK_EQ_INT(OPS(be)->put_run(be->impl, "pr", "111", v, 4), 1);
	CHECK_EQ_INT(OPS(be)->put_run(be->impl, "pr", key257, v, 1), 1);
	CHECK_EQ_INT(OPS(be)->put_run(be->impl, "pr", "", v, 1), 1);
	CHECK_EQ_INT(OPS(be)->put_run(be->impl, "nostream", "111", v, 1), 1);
	CHECK_EQ_INT(OPS(be)->put_run(be->impl, "pr", "111", v,
				      KFS_CHEAP_PUT_BATCH_MAX + 1), 1);
	for (int i = 0; i < 2 && !shard; i++) {
		const char *id = i ? "shardId-000000000001" : "shardId-000000000000";

		if (read_all(be, "pr", id, &r) > 0)
			shard = id;
		else
			kfs_get_result_clear(&r);
	}
	REQUIRE(shard != NULL);
	CHECK_EQ_INT(r.n, 4);
	if (r.n == 4) {
		CHECK(rec_is(&r.records[0], "r0"));
		CHECK(rec_is(&r.records[1], "r1"));
		CHECK(rec_is(&r.records[2], ""));
		CHECK(rec_is(&r.records[3], "r3"));
		CHECK_EQ_STR(r.records[3].key, "111");
	}
	kfs_get_result_clear(&r);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(record_and_key_limits)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 1000);
	char key256[257], key257[258], seq[KFS_SEQ_MAX];
	static char data[2000];
	struct kfs_get_result r;

	memset(key256, 'k', 256);
	key256[256] = '\0';
	memset(key257, 'k', 257);
	key257[257] = '\0';
	memset(data, 'd', sizeof(data));
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "l", 1), 0);
	CHECK_EQ_INT(put1(be, "l", key256, NULL, "x", 1, seq, NULL), 0);
	CHECK_EQ_INT(put1(be, "l", key257, NULL, "x", 1, seq, NULL), -EINVAL);
	CHECK_EQ_INT(put1(be, "l", "", NULL, "x", 1, seq, NULL), -EINVAL);
	/* data + key: 999 + 1 fits, 1000 + 1 does not, nor 744 + 257. */
	CHECK_EQ_INT(put1(be, "l", "k", NULL, data, 999, seq, NULL), 0);
	CHECK_EQ_INT(put1(be, "l", "k", NULL, data, 1000, seq, NULL), -EFBIG);
	CHECK_EQ_INT(put1(be, "l", key256, NULL, data, 745, seq, NULL), -EFBIG);
	CHECK_EQ_INT(put1(be, "l", key256, NULL, data, 744, seq, NULL), 0);
	CHECK_EQ_INT(put1(be, "l", "k", NULL, "", 0, seq, NULL), 0);
	CHECK_EQ_INT(read_all(be, "l", "shardId-000000000000", &r), 4);
	if (r.n == 4) {
		CHECK_EQ_INT(r.records[1].len, 999);
		CHECK_EQ_INT(strlen(r.records[0].key), 256);
		CHECK_EQ_INT(r.records[3].len, 0);
	}
	kfs_get_result_clear(&r);
	kfs_backend_free(be);
	/* A limit over 10 MiB is refused. */
	{
		struct kfs_local_config cfg = {.data_dir = dir,
					       .max_record_bytes = KFS_RECORD_LIMIT_MAX + 1};
		struct kfs_backend *b2 = NULL;
		CHECK_EQ_INT(kfs_local_open(&cfg, &b2), -EINVAL);
		CHECK(b2 == NULL);
	}
	rm_rf(dir);
	free(dir);
}

TEST(sequence_numbers_increase)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	char prev[KFS_SEQ_MAX] = "", seq[KFS_SEQ_MAX];
	struct kfs_seq s;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "q", 1), 0);
	for (int i = 0; i < 200; i++) {
		/* The clock even goes back: numbers still grow. */
		set_now(T0 + 100000 - i * 1000);
		CHECK_EQ_INT(put_str(be, "q", "key", "v", seq), 0);
		CHECK_EQ_INT(strlen(seq), 56);
		if (prev[0])
			CHECK(strcmp(prev, seq) < 0);
		CHECK_EQ_INT(kfs_ids_seq_decode(seq, &s), 0);
		CHECK(s.counter == (uint64_t)i);
		strcpy(prev, seq);
	}
	set_now(T0);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(iterator_types)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	const char *sh = "shardId-000000000000";
	char seqs[10][KFS_SEQ_MAX], other[KFS_SEQ_MAX], *it, *latest;
	struct kfs_get_result r;
	struct kfs_iter_spec spec;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "i", 1), 0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "j", 2), 0);
	latest = iter(be, "i", sh, KFS_ITER_LATEST, NULL, 0);
	for (int i = 0; i < 10; i++) {
		char v[8];
		set_now(T0 + i * 1000);
		snprintf(v, sizeof(v), "v%d", i);
		CHECK_EQ_INT(put_str(be, "i", "k", v, seqs[i]), 0);
	}
	CHECK_EQ_INT(put1(be, "j", "k", "340282366920938463463374607431768211455", "o", 1, other, NULL), 0);

	/* TRIM_HORIZON: everything. */
	CHECK_EQ_INT(read_all(be, "i", sh, &r), 10);
	if (r.n == 10) {
		CHECK(rec_is(&r.records[0], "v0") && rec_is(&r.records[9], "v9"));
		CHECK_EQ_STR(r.records[3].seq, seqs[3]);
		CHECK_EQ_STR(r.records[3].key, "k");
		CHECK_EQ_INT(r.records[3].arrival_ms, T0 + 3000);
	}
	kfs_get_result_clear(&r);
	/* LATEST taken before the puts sees them all; taken now, none. */
	memset(&r, 0, sizeof(r));
	drain(be, latest, 100, &r);
	CHECK_EQ_INT(r.n, 10);
	kfs_get_result_clear(&r);
	it = iter(be, "i", sh, KFS_ITER_LATEST, NULL, 0);
	CHECK(it != NULL);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 100, 0, &r), 0);
	CHECK_EQ_INT(r.n, 0);
	CHECK_EQ_STR(r.next_iterator, it); /* at the tip: same place */
	CHECK_EQ_INT(r.millis_behind, 0);
	free(it);
	it = r.next_iterator;
	r.next_iterator = NULL;
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(put_str(be, "i", "k", "v10", NULL), 0);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 100, 0, &r), 0);
	CHECK_EQ_INT(r.n, 1);
	if (r.n == 1)
		CHECK(rec_is(&r.records[0], "v10"));
	free(it);
	kfs_get_result_clear(&r);
	/* AT / AFTER_SEQUENCE_NUMBER. */
	memset(&r, 0, sizeof(r));
	drain(be, iter(be, "i", sh, KFS_ITER_AT_SEQUENCE_NUMBER, seqs[4], 0), 3, &r);
	CHECK_EQ_INT(r.n, 7);
	if (r.n)
		CHECK(rec_is(&r.records[0], "v4"));
	kfs_get_result_clear(&r);
	memset(&r, 0, sizeof(r));
	drain(be, iter(be, "i", sh, KFS_ITER_AFTER_SEQUENCE_NUMBER, seqs[4], 0), 3, &r);
	CHECK_EQ_INT(r.n, 6);
	if (r.n)
		CHECK(rec_is(&r.records[0], "v5"));
	kfs_get_result_clear(&r);
	/* AT_TIMESTAMP: first record at or after. */
	memset(&r, 0, sizeof(r));
	drain(be, iter(be, "i", sh, KFS_ITER_AT_TIMESTAMP, NULL, T0 + 6500), 100, &r);
	CHECK_EQ_INT(r.n, 4);
	if (r.n)
		CHECK(rec_is(&r.records[0], "v7"));
	kfs_get_result_clear(&r);
	memset(&r, 0, sizeof(r));
	drain(be, iter(be, "i", sh, KFS_ITER_AT_TIMESTAMP, NULL, T0 + 6000), 100, &r);
	CHECK_EQ_INT(r.n, 5);
	kfs_get_result_clear(&r);
	memset(&r, 0, sizeof(r));
	drain(be, iter(be, "i", sh, KFS_ITER_AT_TIMESTAMP, NULL, 0), 100, &r);
	CHECK_EQ_INT(r.n, 11);
	kfs_get_result_clear(&r);
	memset(&r, 0, sizeof(r));
	drain(be, iter(be, "i", sh, KFS_ITER_AT_TIMESTAMP, NULL, T0 + 999999), 100, &r);
	CHECK_EQ_INT(r.n, 0);
	kfs_get_result_clear(&r);

	/* A sequence number of another shard or stream, or garbage. */
	it = NULL;
	spec = (struct kfs_iter_spec){.type = KFS_ITER_AT_SEQUENCE_NUMBER, .seq = other};
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "i", sh, &spec, &it), -EINVAL);
	spec.seq = "12345";
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "i", sh, &spec, &it), -EINVAL);
	spec.seq = NULL;
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "i", sh, &spec, &it), -EINVAL);
	spec.type = KFS_ITER_AFTER_SEQUENCE_NUMBER;
	spec.seq = other;
	CHECK_EQ_INT(OPS(be)->get_iterator(be->impl, "i", sh, &spec, &it), -EINVAL);
	CHECK(it == NULL);

	/* Malformed iterators. */
	{
		const char *bad[] = {"", "garbage", "i/1/shardId-000000000000/0",
				     "i/x.0000000000000000/shardId-000000000000/0000000000000000",
				     "../i/1.0000000000000000/shardId-000000000000/0000000000000000",
				     "i/1.0000000000000000/shardId-000000000000/000000000000000g",
				     "i/1.0000000000000000/shardId-0000000000/0000000000000000",
				     "i/1.0000000000000000/shardId-000000000000/0000000000000000/x"};
		for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
			int rc = OPS(be)->get_records(be->impl, bad[k], 10, 0, &r);
			if (rc != -EINVAL)
				printf("#   iterator \"%s\" gave %d\n", bad[k], rc);
			CHECK_EQ_INT(rc, -EINVAL);
		}
		it = iter(be, "i", sh, KFS_ITER_TRIM_HORIZON, NULL, 0);
		CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 0, 0, &r), -EINVAL);
		/* Limit above 10000 is capped, not refused. */
		CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 20000, 0, &r), 0);
		CHECK_EQ_INT(r.n, 11);
		kfs_get_result_clear(&r);
	}
	/* Stream deleted, then made again: old iterators are not found. */
	CHECK_EQ_INT(OPS(be)->delete_stream(be->impl, "i"), 0);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 10, 0, &r), -ENOENT);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "i", 1), 0);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 10, 0, &r), -ENOENT);
	free(it);
	set_now(T0);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(get_limits_count_and_bytes)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, KFS_RECORD_LIMIT_MAX);
	const char *sh = "shardId-000000000000";
	struct kfs_get_result r;
	char *it;
	size_t big = 4 * 1024 * 1024;
	char *data = malloc(KFS_RECORD_LIMIT_MAX);

	REQUIRE(data);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "g", 1), 0);
	for (int i = 0; i < 25; i++)
		CHECK_EQ_INT(put_str(be, "g", "k", "small", NULL), 0);
	it = iter(be, "g", sh, KFS_ITER_TRIM_HORIZON, NULL, 0);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 10, 0, &r), 0);
	CHECK_EQ_INT(r.n, 10);
	CHECK(r.millis_behind >= 0);
	free(it);
	it = r.next_iterator;
	r.next_iterator = NULL;
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 10, 0, &r), 0);
	CHECK_EQ_INT(r.n, 10);
	kfs_get_result_clear(&r);
	free(it);

	/* Three 4 MiB records: 10 MiB lets two through per call. */
	memset(data, 'x', KFS_RECORD_LIMIT_MAX);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(put1(be, "g", "k", NULL, data, big, NULL, NULL), 0);
	/* One record of the full 10 MiB (data + key) still comes alone. */
	CHECK_EQ_INT(put1(be, "g", "k", NULL, data, KFS_RECORD_LIMIT_MAX - 1, NULL, NULL), 0);
	CHECK_EQ_INT(put1(be, "g", "k", NULL, data, KFS_RECORD_LIMIT_MAX, NULL, NULL), -EFBIG);
	it = iter(be, "g", sh, KFS_ITER_AT_TIMESTAMP, NULL, 0);
	{
		int sizes[8], calls = 0;
		size_t total = 0;
		while (it && calls < 8) {
			CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 10000, 0, &r), 0);
			free(it);
			sizes[calls++] = (int)r.n;
			total += r.n;
			it = r.n ? r.next_iterator : NULL;
			if (!r.n)
				free(r.next_iterator);
			r.next_iterator = NULL;
			kfs_get_result_clear(&r);
		}
		free(it);
		CHECK_EQ_INT(total, 29);
		CHECK(calls >= 4);
		if (calls >= 4) {
			/* 25 small + two 4 MiB fit in 10 MiB; the third 4 MiB
			 * and the 10 MiB one come one a call. */
			CHECK_EQ_INT(sizes[0], 27);
			CHECK_EQ_INT(sizes[1], 1);
			CHECK_EQ_INT(sizes[2], 1);
		}
	}
	free(data);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(retention_and_trim_horizon)
{
	char *dir = new_dir();
	/* Tiny segments so that retention can delete whole files. */
	struct kfs_backend *be = open_at(dir, 256, 0);
	const char *sh = "shardId-000000000000";
	struct kfs_get_result r;
	struct kfs_shard_desc d;
	struct kfs_stream_desc sd;
	char *old_it;

	set_now(T0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "t", 1), 0);
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "t", 23), -EINVAL);
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "t", 8761), -EINVAL);
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "t", 0), -EINVAL);
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "t", 8760), 0);
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "t", 24), 0);
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "t", &sd), 0);
	CHECK_EQ_INT(sd.retention_hours, 24);

	for (int i = 0; i < 20; i++)
		CHECK_EQ_INT(put_str(be, "t", "k", "old-record-with-some-bytes\n", NULL), 0);
	old_it = iter(be, "t", sh, KFS_ITER_TRIM_HORIZON, NULL, 0);
	set_now(T0 + 12 * HOUR);
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(put_str(be, "t", "k", "new\n", NULL), 0);
	CHECK_EQ_INT(read_all(be, "t", sh, &r), 25);
	kfs_get_result_clear(&r);

	/* One ms past 24 h after the first batch: it is no longer served. */
	set_now(T0 + 24 * HOUR + 1);
	CHECK_EQ_INT(read_all(be, "t", sh, &r), 5);
	if (r.n)
		CHECK(rec_is(&r.records[0], "new\n"));
	kfs_get_result_clear(&r);
	/* An iterator from before reads from the new trim horizon. */
	memset(&r, 0, sizeof(r));
	drain(be, old_it, 100, &r);
	CHECK_EQ_INT(r.n, 5);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "t", sh, &d), 0);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], 20);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], 20);
	CHECK_EQ_INT(d.newest_arrival_ms, T0 + 12 * HOUR);
	/* Whole segments past retention are deleted; reads are unchanged. */
	{
		int n = kfs_local_purge(be);
		CHECK(n >= 1);
		if (n < 1)
			printf("#   purge removed %d segments\n", n);
	}
	CHECK_EQ_INT(read_all(be, "t", sh, &r), 5);
	kfs_get_result_clear(&r);
	{
		char *it = NULL;
		uint64_t skip = 99;
		CHECK_EQ_INT(OPS(be)->seek_bytes(be->impl, "t", sh, KFS_FRAMING_LINE, 4,
						 &it, &skip), 0);
		CHECK_EQ_INT(skip, 0);
		CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 1, 0, &r), 0);
		CHECK_EQ_INT(r.n, 1);
		free(it);
		kfs_get_result_clear(&r);
	}
	/* Raising retention does not bring trimmed records back. */
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "t", 100), 0);
	CHECK_EQ_INT(read_all(be, "t", sh, &r), 5);
	kfs_get_result_clear(&r);
	/* Everything expires: empty, newest -1, LATEST still works. */
	set_now(T0 + 12 * HOUR + 100 * HOUR + 1);
	CHECK_EQ_INT(read_all(be, "t", sh, &r), 0);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "t", sh, &d), 0);
	CHECK_EQ_INT(d.newest_arrival_ms, -1);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], 0);
	CHECK(kfs_local_purge(be) >= 0);
	CHECK_EQ_INT(put_str(be, "t", "k", "after", NULL), 0);
	CHECK_EQ_INT(read_all(be, "t", sh, &r), 1);
	kfs_get_result_clear(&r);
	kfs_backend_free(be);

	/* Retention persists. */
	be = open_at(dir, 256, 0);
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "t", &sd), 0);
	CHECK_EQ_INT(sd.retention_hours, 100);
	CHECK_EQ_INT(read_all(be, "t", sh, &r), 1);
	kfs_get_result_clear(&r);
	kfs_backend_free(be);
	set_now(T0);
	rm_rf(dir);
	free(dir);
}

/* The file a shard renders, built from its records. */
static char *render(const struct kfs_get_result *r, enum kfs_framing f, size_t *len)
{
	size_t n = 0;
	char *buf;

	for (size_t i = 0; i < r->n; i++)
		n += kfs_framed_len(f, r->records[i].data, r->records[i].len);
	buf = malloc(n + 1);
	REQUIRE(buf);
	n = 0;
	for (size_t i = 0; i < r->n; i++) {
		memcpy(buf + n, r->records[i].data, r->records[i].len);
		n += r->records[i].len;
		if (kfs_framed_len(f, r->records[i].data, r->records[i].len) > r->records[i].len)
			buf[n++] = '\n';
	}
	*len = n;
	return buf;
}

TEST(seek_bytes_everywhere)
{
	char *dir = new_dir();
	/* Small segments: offsets cross segment boundaries. */
	struct kfs_backend *be = open_at(dir, 200, 0);
	const char *sh = "shardId-000000000000";
	struct kfs_get_result all;
	struct kfs_shard_desc d;
	int bad = 0;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "s", 1), 0);
	for (int i = 0; i < 60; i++) {
		char v[64];
		int n = snprintf(v, sizeof(v), "%s%d", "rec-", i * 37 % 101);
		/* Mix: with newline, without, empty. */
		if (i % 3 == 0)
			v[n++] = '\n';
		if (i % 11 == 5)
			n = 0;
		CHECK_EQ_INT(put1(be, "s", "k", NULL, v, (size_t)n, NULL, NULL), 0);
	}
	CHECK_EQ_INT(read_all(be, "s", sh, &all), 60);
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "s", sh, &d), 0);
	for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
		size_t size;
		char *file = render(&all, (enum kfs_framing)f, &size);
		CHECK_EQ_INT(d.bytes[f], size);
		for (size_t off = 0; off <= size + 3; off++) {
			char *it = NULL;
			uint64_t skip = 0;
			struct kfs_get_result r;
			int rc = OPS(be)->seek_bytes(be->impl, "s", sh, (enum kfs_framing)f,
						     off, &it, &skip);
			if (rc != 0) {
				bad++;
				continue;
			}
			rc = OPS(be)->get_records(be->impl, it, 1, 0, &r);
			free(it);
			if (rc != 0) {
				bad++;
				continue;
			}
			if (off >= size) {
				if (r.n != 0 || skip != off - size)
					bad++;
			} else if (r.n != 1) {
				bad++;
			} else {
				/* The record's rendering from `skip` matches the file
				 * at `off`. */
				struct kfs_get_result one = {.n = 1, .records = r.records};
				size_t rl;
				char *rb = render(&one, (enum kfs_framing)f, &rl);
				if (skip >= rl || memcmp(rb + skip, file + off, rl - skip) != 0 ||
				    off - skip + rl > size)
					bad++;
				free(rb);
			}
			kfs_get_result_clear(&r);
		}
		free(file);
	}
	CHECK_EQ_INT(bad, 0);
	kfs_get_result_clear(&all);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(describe_shard_bytes_and_newest)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	const char *sh = "shardId-000000000000";
	struct kfs_shard_desc d;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "d", 1), 0);
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "d", sh, &d), 0);
	CHECK_EQ_INT(d.newest_arrival_ms, -1);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], 0);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], 0);
	set_now(T0 + 5);
	CHECK_EQ_INT(put_str(be, "d", "k", "abc\n", NULL), 0);  /* 4 / 4 */
	set_now(T0 + 7);
	CHECK_EQ_INT(put_str(be, "d", "k", "abc", NULL), 0);    /* 4 / 3 */
	CHECK_EQ_INT(put_str(be, "d", "k", "", NULL), 0);       /* 1 / 0 */
	CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "d", sh, &d), 0);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], 9);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], 7);
	CHECK_EQ_INT(d.newest_arrival_ms, T0 + 7);
	CHECK_EQ_STR(d.id, sh);
	CHECK_EQ_STR(d.hash_start, "0");
	set_now(T0);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(second_open_is_busy)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0), *b2 = NULL;
	struct kfs_local_config cfg = {.data_dir = dir};
	char p[512], buf[32] = "";
	FILE *f;

	CHECK_EQ_INT(kfs_local_open(&cfg, &b2), -EBUSY);
	CHECK(b2 == NULL);
	/* LOCK holds our pid. */
	snprintf(p, sizeof(p), "%s/LOCK", dir);
	f = fopen(p, "r");
	CHECK(f != NULL);
	if (f) {
		CHECK(fgets(buf, sizeof(buf), f) != NULL);
		fclose(f);
	}
	CHECK_EQ_INT(atoi(buf), getpid());
	CHECK_EQ_INT(kfs_local_note_pid(be), 0);
	kfs_backend_free(be);
	/* Released on close. */
	CHECK_EQ_INT(kfs_local_open(&cfg, &b2), 0);
	kfs_backend_free(b2);
	rm_rf(dir);
	free(dir);
}

TEST(data_dir_created_with_parents)
{
	char *dir = new_dir();
	char sub[512];
	struct stat sb;
	struct kfs_backend *be;

	snprintf(sub, sizeof(sub), "%s/a/b/data", dir);
	be = open_at(sub, 0, 0);
	CHECK(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(reopen_keeps_everything)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 512, 0);
	char last[KFS_SEQ_MAX] = "", seq[KFS_SEQ_MAX];
	struct kfs_get_result r;
	size_t total = 0;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "p", 2), 0);
	CHECK_EQ_INT(OPS(be)->set_retention(be->impl, "p", 48), 0);
	for (int i = 0; i < 100; i++) {
		char v[32], k[16];
		snprintf(v, sizeof(v), "value %d\n", i);
		snprintf(k, sizeof(k), "key%d", i % 7);
		CHECK_EQ_INT(put_str(be, "p", k, v, NULL), 0);
	}
	CHECK_EQ_INT(put1(be, "p", "k", "0", "z", 1, last, NULL), 0);
	CHECK_EQ_INT(OPS(be)->sync(be->impl, "p"), 0);
	kfs_backend_free(be);

	be = open_at(dir, 512, 0);
	for (int s = 0; s < 2; s++) {
		char id[KFS_SHARD_ID_LEN + 1];
		kfs_ids_shard_id((uint32_t)s, id);
		total += read_all(be, "p", id, &r);
		for (size_t i = 1; i < r.n; i++)
			CHECK(strcmp(r.records[i - 1].seq, r.records[i].seq) < 0);
		kfs_get_result_clear(&r);
	}
	CHECK_EQ_INT(total, 101);
	CHECK_EQ_INT(put1(be, "p", "k", "0", "z", 1, seq, NULL), 0);
	CHECK(strcmp(last, seq) < 0);
	{
		struct kfs_seq a, b;
		CHECK_EQ_INT(kfs_ids_seq_decode(last, &a), 0);
		CHECK_EQ_INT(kfs_ids_seq_decode(seq, &b), 0);
		CHECK(b.counter == a.counter + 1);
	}
	{
		struct kfs_stream_desc d;
		CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "p", &d), 0);
		CHECK_EQ_INT(d.retention_hours, 48);
		CHECK_EQ_INT(d.creation_ms, T0);
	}
	/* Unsynced records survive a clean close too. */
	CHECK_EQ_INT(put1(be, "p", "k", "0", "y", 1, last, NULL), 0);
	kfs_backend_free(be);
	be = open_at(dir, 512, 0);
	read_all(be, "p", "shardId-000000000000", &r);
	CHECK(r.n > 0 && rec_is(&r.records[r.n - 1], "y"));
	if (r.n)
		CHECK_EQ_STR(r.records[r.n - 1].seq, last);
	kfs_get_result_clear(&r);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

/* ---- concurrency ------------------------------------------------------ */

struct writer {
	struct kfs_backend *be;   /* shared engine */
	int id;                   /* 0.. */
	int errors;               /* failed puts */
};

#define WRITERS 4
#define PER_WRITER 400

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < PER_WRITER; i += 4) {
		struct kfs_put_entry en[4];
		char data[4][32], key[4][16];
		for (int j = 0; j < 4; j++) {
			snprintf(key[j], sizeof(key[j]), "w%d-%d", w->id, (i + j) % 5);
			snprintf(data[j], sizeof(data[j]), "%d %d\n", w->id, i + j);
			en[j] = (struct kfs_put_entry){.key = key[j], .data = data[j],
						       .len = strlen(data[j])};
		}
		if (w->be->ops->put_records(w->be->impl, "c", en, 4) < 0)
			w->errors += 4;
		for (int j = 0; j < 4; j++)
			w->errors += en[j].err != 0;
	}
	return NULL;
}

static void *reader_main(void *arg)
{
	struct writer *w = arg;
	struct kfs_get_result r;

	/* Reads while writers write; everything seen must be well formed. */
	for (int k = 0; k < 20; k++) {
		memset(&r, 0, sizeof(r));
		drain(w->be, iter(w->be, "c", "shardId-000000000001", KFS_ITER_TRIM_HORIZON,
				  NULL, 0), 50, &r);
		for (size_t i = 0; i < r.n; i++)
			if (r.records[i].len < 4 || r.records[i].data[r.records[i].len - 1] != '\n')
				w->errors++;
		kfs_get_result_clear(&r);
	}
	return NULL;
}

TEST(concurrent_puts)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 4096, 0);
	pthread_t th[WRITERS + 1];
	struct writer w[WRITERS + 1];
	struct kfs_get_result r;
	int last[WRITERS], errors = 0;
	size_t total = 0;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "c", 2), 0);
	for (int i = 0; i <= WRITERS; i++) {
		w[i] = (struct writer){.be = be, .id = i};
		pthread_create(&th[i], NULL, i < WRITERS ? writer_main : reader_main, &w[i]);
	}
	for (int i = 0; i <= WRITERS; i++) {
		pthread_join(th[i], NULL);
		errors += w[i].errors;
	}
	CHECK_EQ_INT(errors, 0);
	for (int s = 0; s < 2; s++) {
		char id[KFS_SHARD_ID_LEN + 1];
		kfs_ids_shard_id((uint32_t)s, id);
		for (int i = 0; i < WRITERS; i++)
			last[i] = -1;
		total += read_all(be, "c", id, &r);
		for (size_t i = 0; i < r.n; i++) {
			int wid, n;
			char text[32];
			if (i)
				CHECK(strcmp(r.records[i - 1].seq, r.records[i].seq) < 0);
			snprintf(text, sizeof(text), "%.*s", (int)r.records[i].len,
				 (char *)r.records[i].data);
			if (sscanf(text, "%d %d", &wid, &n) != 2 ||
			    wid < 0 || wid >= WRITERS) {
				errors++;
				continue;
			}
			/* Each writer's records keep their order within a shard. */
			if (n <= last[wid])
				errors++;
			last[wid] = n;
		}
		kfs_get_result_clear(&r);
	}
	CHECK_EQ_INT(total, WRITERS * PER_WRITER);
	CHECK_EQ_INT(errors, 0);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

TEST(millis_behind)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	const char *sh = "shardId-000000000000";
	struct kfs_get_result r;
	char *it;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "m", 1), 0);
	set_now(T0 + 1000);
	CHECK_EQ_INT(put_str(be, "m", "k", "a", NULL), 0);
	set_now(T0 + 2000);
	CHECK_EQ_INT(put_str(be, "m", "k", "b", NULL), 0);
	set_now(T0 + 5000);
	it = iter(be, "m", sh, KFS_ITER_TRIM_HORIZON, NULL, 0);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 1, 0, &r), 0);
	CHECK_EQ_INT(r.millis_behind, 4000);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 2, 0, &r), 0);
	CHECK_EQ_INT(r.millis_behind, 0); /* caught up */
	kfs_get_result_clear(&r);
	free(it);
	set_now(T0);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

/* ---- resharding ------------------------------------------------------- */

static const struct kfs_shard_desc *find_desc(const struct kfs_shard_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].id, id))
			return &l->v[i];
	return NULL;
}

/* Checks what UpdateShardCount promises: `open` open shards with equal
 * ranges tiling the key space; every other shard closed with an ending
 * sequence number and children; at most a parent and an adjacent parent,
 * adjacent indeed.  Returns the number of problems. */
static int check_shards(struct kfs_backend *be, const char *stream, int open)
{
	struct kfs_shard_list l;
	int bad = 0, n_open = 0;

	if (OPS(be)->list_shards(be->impl, stream, &l) != 0)
		return 1;
	for (int j = 0; j < open; j++) {
		unsigned __int128 a, b;
		char as[KFS_HASH_KEY_MAX], bs[KFS_HASH_KEY_MAX];
		int found = 0;
		kfs_ids_shard_range((uint32_t)j, (uint32_t)open, &a, &b);
		kfs_ids_format_u128(a, as);
		kfs_ids_format_u128(b, bs);
		for (size_t i = 0; i < l.n; i++)
			if (!l.v[i].closed && !strcmp(l.v[i].hash_start, as) &&
			    !strcmp(l.v[i].hash_end, bs))
				found++;
		if (found != 1) {
			printf("#   open range %d of %d found %d times\n", j, open, found);
			bad++;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct kfs_shard_desc *d = &l.v[i], *p, *q;
		int children = 0;
		n_open += !d->closed;
		if (d->closed != (d->seq_end[0] != '\0'))
			bad++;
		for (size_t k = 0; k < l.n; k++)
			children += !strcmp(l.v[k].parent, d->id) ||
				    !strcmp(l.v[k].adjacent_parent, d->id);
		if (d->closed && !children) {
			printf("#   %s closed without children\n", d->id);
			bad++;
		}
		if (!d->closed && children) {
			printf("#   %s open with children\n", d->id);
			bad++;
		}
		p = d->parent[0] ? find_desc(&l, d->parent) : NULL;
		q = d->adjacent_parent[0] ? find_desc(&l, d->adjacent_parent) : NULL;
		if (d->adjacent_parent[0] && !d->parent[0])
			bad++;
		if (p && q) {
			/* Merge: the two parents are adjacent and make the child. */
			unsigned __int128 pe, qs;
			kfs_ids_parse_u128(p->hash_end, &pe);
			kfs_ids_parse_u128(q->hash_start, &qs);
			if (pe + 1 != qs || strcmp(p->hash_start, d->hash_start) ||
			    strcmp(q->hash_end, d->hash_end)) {
				printf("#   %s: parents %s and %s are not adjacent\n", d->id,
				       p->id, q->id);
				bad++;
			}
		}
	}
	if (n_open != open) {
		printf("#   %d open shards, expected %d\n", n_open, open);
		bad++;
	}
	kfs_shard_list_clear(&l);
	return bad;
}

/* Records in every shard of the stream, open or closed. */
static size_t count_all(struct kfs_backend *be, const char *stream)
{
	struct kfs_shard_list l;
	size_t n = 0;

	if (OPS(be)->list_shards(be->impl, stream, &l) != 0)
		return 0;
	for (size_t i = 0; i < l.n; i++) {
		struct kfs_get_result r;
		n += read_all(be, stream, l.v[i].id, &r);
		kfs_get_result_clear(&r);
	}
	kfs_shard_list_clear(&l);
	return n;
}

TEST(reshard_uniform_scaling)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	const char *s0 = "shardId-000000000000";
	static const int steps[] = {2, 3, 4, 7, 8, 4, 2, 1, 2};
	struct kfs_get_result r;
	struct kfs_stream_desc d;
	char shard[KFS_SHARD_ID_LEN + 1], *it;
	int open = 1;

	set_now(T0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "u", 1), 0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(put_str(be, "u", "k", "before\n", NULL), 0);
	it = iter(be, "u", s0, KFS_ITER_LATEST, NULL, 0);
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "u", 0), -EINVAL);
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "u", 3), -EINVAL);
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "nope", 2), -ENOENT);
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "u", 1), 0);
	CHECK_EQ_INT(check_shards(be, "u", 1), 0);

	set_now(T0 + 1000);
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "u", 2), 0);
	open = 2;
	CHECK_EQ_INT(check_shards(be, "u", 2), 0);
	CHECK_EQ_INT(OPS(be)->describe_stream(be->impl, "u", &d), 0);
	CHECK_EQ_INT(d.open_shard_count, 2);
	/* New records go to the children; the parent reads to its end. */
	CHECK_EQ_INT(put1(be, "u", "111", NULL, "after\n", 6, NULL, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000001");
	CHECK_EQ_INT(put1(be, "u", "k", "340282366920938463463374607431768211455", "after\n", 6,
			  NULL, shard), 0);
	CHECK_EQ_STR(shard, "shardId-000000000002");
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 100, 0, &r), 0);
	CHECK_EQ_INT(r.n, 0);
	CHECK(r.next_iterator == NULL);
	CHECK_EQ_INT(r.children.n, 2);
	if (r.children.n == 2) {
		CHECK_EQ_STR(r.children.v[0], "shardId-000000000001");
		CHECK_EQ_STR(r.children.v[1], "shardId-000000000002");
	}
	kfs_get_result_clear(&r);
	free(it);
	it = iter(be, "u", s0, KFS_ITER_TRIM_HORIZON, NULL, 0);
	CHECK_EQ_INT(OPS(be)->get_records(be->impl, it, 100, 0, &r), 0);
	CHECK_EQ_INT(r.n, 10);
	CHECK(r.next_iterator == NULL);
	CHECK_EQ_INT(r.children.n, 2);
	kfs_get_result_clear(&r);
	free(it);
	{
		struct kfs_shard_desc sd;
		struct kfs_seq a, b;
		CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "u", s0, &sd), 0);
		CHECK_EQ_INT(sd.closed, 1);
		CHECK_EQ_INT(sd.bytes[KFS_FRAMING_WRITE], 70);
		CHECK_EQ_INT(kfs_ids_seq_decode(sd.seq_end, &b), 0);
		CHECK_EQ_INT(kfs_ids_seq_decode(sd.seq_start, &a), 0);
		CHECK(b.counter == 9 && a.counter == 0);
		CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "u", "shardId-000000000001", &sd), 0);
		CHECK_EQ_STR(sd.parent, s0);
		CHECK_EQ_STR(sd.adjacent_parent, "");
		CHECK_EQ_STR(sd.hash_end, "170141183460469231731687303715884105727");
	}
	for (size_t k = 1; k < sizeof(steps) / sizeof(*steps); k++) {
		int rc;
		set_now(T0 + 1000 * (int64_t)(k + 1));
		rc = OPS(be)->update_shard_count(be->impl, "u", steps[k]);
		if (rc != 0)
			printf("#   %d -> %d: %s\n", open, steps[k], strerror(-rc));
		CHECK_EQ_INT(rc, 0);
		open = steps[k];
		CHECK_EQ_INT(check_shards(be, "u", open), 0);
		for (int i = 0; i < 5; i++) {
			char key[16];
			snprintf(key, sizeof(key), "key%d", i);
			CHECK_EQ_INT(put_str(be, "u", key, "x\n", NULL), 0);
		}
	}
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "u", 5), -EINVAL);
	CHECK_EQ_INT(count_all(be, "u"), 12 + 5 * (sizeof(steps) / sizeof(*steps) - 1));
	kfs_backend_free(be);

	/* All of it survives a reopen. */
	be = open_at(dir, 0, 0);
	CHECK_EQ_INT(check_shards(be, "u", open), 0);
	CHECK_EQ_INT(count_all(be, "u"), 12 + 5 * (sizeof(steps) / sizeof(*steps) - 1));
	CHECK_EQ_INT(put_str(be, "u", "k", "x\n", NULL), 0);
	/* Closed shards past retention go away; open ones stay. */
	set_now(T0 + 25 * HOUR);
	CHECK(kfs_local_purge(be) >= 0);
	{
		struct kfs_shard_list l;
		CHECK_EQ_INT(OPS(be)->list_shards(be->impl, "u", &l), 0);
		CHECK_EQ_INT(l.n, open);
		kfs_shard_list_clear(&l);
	}
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "u", 2), 0);
	CHECK_EQ_INT(check_shards(be, "u", 2), 0);
	kfs_backend_free(be);
	set_now(T0);
	rm_rf(dir);
	free(dir);
}

TEST(reshard_crash_leftovers)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	char p[512];
	struct stat sb;
	FILE *f;

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "v", 1), 0);
	CHECK_EQ_INT(put_str(be, "v", "k", "a\n", NULL), 0);
	CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "v", 2), 0);
	kfs_backend_free(be);
	/* A reshard that never committed left a directory; and the parent's
	 * shard.meta was not yet marked closed when it crashed. */
	snprintf(p, sizeof(p), "%s/streams/v/shardId-000000000007", dir);
	CHECK_EQ_INT(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/streams/v/shardId-000000000000/shard.meta", dir);
	f = fopen(p, "w");
	REQUIRE(f);
	fprintf(f, "kinesisfs-shard 1\nindex 0\nhash_start 0\n"
		   "hash_end 340282366920938463463374607431768211455\nparent -\n"
		   "adjacent_parent -\ncreated_ms %lld\nclosed 0\nend_counter 0\n",
		(long long)T0);
	fclose(f);
	be = open_at(dir, 0, 0);
	snprintf(p, sizeof(p), "%s/streams/v/shardId-000000000007", dir);
	CHECK(stat(p, &sb) < 0 && errno == ENOENT);
	CHECK_EQ_INT(check_shards(be, "v", 2), 0);
	{
		struct kfs_shard_desc sd;
		CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "v", "shardId-000000000000", &sd), 0);
		CHECK_EQ_INT(sd.closed, 1);
		CHECK_EQ_INT(sd.bytes[KFS_FRAMING_WRITE], 2);
	}
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

#define HASH_MAX "340282366920938463463374607431768211455"

/*
 * Sequence numbers reserved but not handed out must not end a closed
 * shard: a process reshards, writes on to the children and dies (kill
 * -9).  On reopen the parent ends exactly after its last record, and
 * the children go on above every number they handed out.
 */
TEST(crash_after_reshard)
{
	char *dir = new_dir();
	char seqs[2][3][KFS_SEQ_MAX];
	int p[2], status;
	pid_t pid;

	REQUIRE(pipe(p) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct kfs_backend *be = open_at(dir, 0, 0);
		char seq[KFS_SEQ_MAX];

		if (OPS(be)->create_stream(be->impl, "c", 1) != 0)
			_exit(1);
		for (int i = 0; i < 5; i++)
			if (put_str(be, "c", "k", "parent\n", NULL) != 0)
				_exit(2);
		if (OPS(be)->update_shard_count(be->impl, "c", 2) != 0)
			_exit(3);
		for (int i = 0; i < 6; i++) {
			if (put1(be, "c", "k", i % 2 ? HASH_MAX : "0", "child\n", 6, seq,
				 NULL) != 0 ||
			    write(p[1], seq, sizeof(seq)) != (ssize_t)sizeof(seq))
				_exit(4);
		}
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	close(p[1]);
	for (int i = 0; i < 6; i++) {
		size_t got = 0;
		while (got < KFS_SEQ_MAX) {
			ssize_t r = read(p[0], seqs[i % 2][i / 2] + got, KFS_SEQ_MAX - got);
			REQUIRE(r > 0);
			got += (size_t)r;
		}
	}
	close(p[0]);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	{
		struct kfs_backend *be = open_at(dir, 0, 0);
		struct kfs_shard_desc sd;
		struct kfs_get_result r;
		struct kfs_seq a;
		char seq[KFS_SEQ_MAX], shard[KFS_SHARD_ID_LEN + 1];

		CHECK_EQ_INT(OPS(be)->describe_shard(be->impl, "c", "shardId-000000000000", &sd), 0);
		CHECK_EQ_INT(sd.closed, 1);
		CHECK_EQ_INT(kfs_ids_seq_decode(sd.seq_end, &a), 0);
		CHECK_EQ_INT(a.counter, 4);
		CHECK_EQ_INT(read_all(be, "c", "shardId-000000000000", &r), 5);
		kfs_get_result_clear(&r);
		for (int k = 0; k < 2; k++) {
			CHECK_EQ_INT(put1(be, "c", "k", k ? HASH_MAX : "0", "after\n", 6, seq,
					  shard), 0);
			CHECK_EQ_STR(shard, k ? "shardId-000000000002" : "shardId-000000000001");
			for (int i = 0; i < 3; i++)
				CHECK(strcmp(seq, seqs[k][i]) > 0);
			CHECK_EQ_INT(read_all(be, "c", shard, &r), 4);
			kfs_get_result_clear(&r);
		}
		kfs_backend_free(be);
	}
	rm_rf(dir);
	free(dir);
}

struct rwriter {
	struct kfs_backend *be;   /* shared engine */
	int id;                   /* writer number */
	int errors;               /* puts that failed */
};

static void *reshard_writer(void *arg)
{
	struct rwriter *w = arg;

	for (int i = 0; i < 300; i++) {
		char key[16];
		snprintf(key, sizeof(key), "w%d-%d", w->id, i);
		if (put_str(w->be, "x", key, "data\n", NULL) != 0)
			w->errors++;
	}
	return NULL;
}

TEST(reshard_while_writing)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0, 0);
	static const int steps[] = {2, 4, 3, 5, 3, 2};
	pthread_t th[2];
	struct rwriter w[2];

	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "x", 1), 0);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct rwriter){.be = be, .id = i};
		pthread_create(&th[i], NULL, reshard_writer, &w[i]);
	}
	for (size_t k = 0; k < sizeof(steps) / sizeof(*steps); k++) {
		CHECK_EQ_INT(OPS(be)->update_shard_count(be->impl, "x", steps[k]), 0);
		usleep(2000);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(w[i].errors, 0);
	}
	CHECK_EQ_INT(check_shards(be, "x", 2), 0);
	CHECK_EQ_INT(count_all(be, "x"), 600);
	kfs_backend_free(be);
	rm_rf(dir);
	free(dir);
}

struct churn {
	struct kfs_backend *be;   /* shared engine */
	int role;                 /* 0, 1: writers; 2: reader; 3: purger */
	int errors;               /* anything wrong seen */
	int purged;               /* segments deleted (purger) */
	int *stop;                /* set by the main thread */
	int *deleted;             /* atomic: all the purger deleted so far */
};

/* Writes a writer makes at least, and at most while waiting for the purger. */
#define CHURN_WRITES 400
#define CHURN_WRITES_MAX 100000

static void *churn_main(void *arg)
{
	struct churn *c = arg;

	if (c->role < 2) {
		/*
		 * Until something was purged too: where fsync costs nothing
		 * (/tmp on tmpfs) the writes could all be over before the
		 * purger's clock passed the retention period.
		 */
		for (int i = 0; i < CHURN_WRITES_MAX &&
		     (i < CHURN_WRITES ||
		      !__atomic_load_n(c->deleted, __ATOMIC_ACQUIRE)); i++) {
			char key[16], v[32];
			snprintf(key, sizeof(key), "c%d-%d", c->role, i % 9);
			snprintf(v, sizeof(v), "%d %d\n", c->role, i);
			if (put_str(c->be, "y", key, v, NULL) != 0)
				c->errors++;
		}
	} else if (c->role == 2) {
		while (!__atomic_load_n(c->stop, __ATOMIC_ACQUIRE)) {
			struct kfs_get_result r = {0};
			int rc = drain(c->be, iter(c->be, "y", "shardId-000000000000",
						   KFS_ITER_TRIM_HORIZON, NULL, 0), 37, &r);
			if (rc != 0)
				c->errors++;
			for (size_t i = 0; i < r.n; i++) {
				if (r.records[i].len < 4 ||
				    r.records[i].data[r.records[i].len - 1] != '\n' ||
				    (i && strcmp(r.records[i - 1].seq, r.records[i].seq) >= 0))
					c->errors++;
			}
			kfs_get_result_clear(&r);
		}
	} else {
		/* Time runs fast: an hour a step, and retention follows. */
		while (!__atomic_load_n(c->stop, __ATOMIC_ACQUIRE)) {
			int n;
			__atomic_add_fetch(&fake_now, HOUR, __ATOMIC_RELAXED);
			n = kfs_local_purge(c->be);
			if (n < 0)
				c->errors++;
			else if (n > 0) {
				c->purged += n;
				__atomic_add_fetch(c->deleted, n, __ATOMIC_RELEASE);
			}
			usleep(500);
		}
	}
	return NULL;
}

TEST(retention_while_writing_and_reading)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 512, 0);
	pthread_t th[4];
	struct churn c[4];
	int stop = 0, errors = 0, deleted = 0;
	struct kfs_get_result r;

	set_now(T0);
	CHECK_EQ_INT(OPS(be)->create_stream(be->impl, "y", 1), 0);
	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){.be = be, .role = i, .stop = &stop,
				      .deleted = &deleted};
		pthread_create(&th[i], NULL, churn_main, &c[i]);
	}
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(th[2], NULL);
	pthread_join(th[3], NULL);
	for (int i = 0; i < 4; i++)
		errors += c[i].errors;
	CHECK_EQ_INT(errors, 0);
	CHECK(c[3].purged > 0);
	printf("# %d segments deleted meanwhile\n", c[3].purged);
	/* The last writes are within retention and still there. */
	read_all(be, "y", "shardId-000000000000", &r);
	CHECK(r.n > 0);
	for (size_t i = 1; i < r.n; i++)
		CHECK(strcmp(r.records[i - 1].seq, r.records[i].seq) < 0);
	kfs_get_result_clear(&r);
	kfs_backend_free(be);
	set_now(T0);
	rm_rf(dir);
	free(dir);
}

int main(void)
{
	kfs_log_init(1, KFS_LOG_ERR);
	RUN(streams_create_list_describe_delete);
	RUN(stream_name_and_count_validation);
	RUN(eexist_and_enoent);
	RUN(routing_by_md5_and_explicit_hash_key);
	RUN(batch_results_per_entry);
	RUN(put_run_stores_all_or_leaves_all_to_put_records);
	RUN(record_and_key_limits);
	RUN(sequence_numbers_increase);
	RUN(iterator_types);
	RUN(get_limits_count_and_bytes);
	RUN(retention_and_trim_horizon);
	RUN(seek_bytes_everywhere);
	RUN(describe_shard_bytes_and_newest);
	RUN(second_open_is_busy);
	RUN(data_dir_created_with_parents);
	RUN(reopen_keeps_everything);
	RUN(concurrent_puts);
	RUN(retention_while_writing_and_reading);
	RUN(millis_behind);
	RUN(reshard_uniform_scaling);
	RUN(reshard_crash_leftovers);
	RUN(crash_after_reshard);
	RUN(reshard_while_writing);
	return tap_done();
}
