/* test_agg.c - KPL aggregated records: packing, the size a producer plans
 * with, decoding, and what is not an aggregated record. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kpl/agg.h"
#include "tap.h"

/* A record as the npm aws-kinesis-agg 4.2.8 packs the user records
 * ("k1", "hello\n"), ("k2", "wörld") and ("k1" with the explicit hash key
 * 2^127, "third"). */
static const unsigned char npm_record[] = {
	0xf3, 0x89, 0x9a, 0xc2, 0x0a, 0x02, 0x6b, 0x31, 0x0a, 0x02, 0x6b, 0x32,
	0x12, 0x27, 0x31, 0x37, 0x30, 0x31, 0x34, 0x31, 0x31, 0x38, 0x33, 0x34,
	0x36, 0x30, 0x34, 0x36, 0x39, 0x32, 0x33, 0x31, 0x37, 0x33, 0x31, 0x36,
	0x38, 0x37, 0x33, 0x30, 0x33, 0x37, 0x31, 0x35, 0x38, 0x38, 0x34, 0x31,
	0x30, 0x35, 0x37, 0x32, 0x38, 0x1a, 0x0a, 0x08, 0x00, 0x1a, 0x06, 0x68,
	0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x1a, 0x0a, 0x08, 0x01, 0x1a, 0x06, 0x77,
	0xc3, 0xb6, 0x72, 0x6c, 0x64, 0x1a, 0x0b, 0x08, 0x00, 0x10, 0x00, 0x1a,
	0x05, 0x74, 0x68, 0x69, 0x72, 0x64, 0xb9, 0x86, 0x28, 0x27, 0xcc, 0xfb,
	0x6d, 0x53, 0xad, 0x65, 0x34, 0xef, 0xe5, 0xd3, 0x00, 0x4b
};

TEST(decodes_the_npm_aggregators_record)
{
	struct kfs_agg a;
	const char *why = NULL;
	int err = kfs_agg_decode(npm_record, sizeof(npm_record), &a, &why);

	CHECK_EQ_INT(err, 0);
	if (err)
		return;
	CHECK_EQ_INT((int)a.n, 3);
	CHECK_EQ_STR(a.records[0].key, "k1");
	CHECK(a.records[0].explicit_hash_key == NULL);
	CHECK(a.records[0].len == 6 && memcmp(a.records[0].data, "hello\n", 6) == 0);
	CHECK_EQ_STR(a.records[1].key, "k2");
	CHECK(a.records[1].len == 6 && memcmp(a.records[1].data, "w\xc3\xb6rld", 6) == 0);
	CHECK_EQ_STR(a.records[2].key, "k1");
	CHECK(a.records[2].explicit_hash_key &&
	      strcmp(a.records[2].explicit_hash_key,
		     "170141183460469231731687303715884105728") == 0);
	CHECK(a.records[2].len == 5 && memcmp(a.records[2].data, "third", 5) == 0);
	kfs_agg_clear(&a);
}

TEST(packs_the_same_bytes_as_the_npm_aggregator)
{
	struct kfs_agg_builder *b = kfs_agg_builder_new();
	unsigned char *out;
	size_t len;

	REQUIRE(b);
	kfs_agg_builder_add(b, "k1", NULL, "hello\n", 6);
	kfs_agg_builder_add(b, "k2", NULL, "w\xc3\xb6rld", 6);
	kfs_agg_builder_add(b, "k1", "170141183460469231731687303715884105728", "third", 5);
	CHECK_EQ_INT((int)kfs_agg_builder_size_with(b, NULL, NULL, 0),
		     (int)sizeof(npm_record));
	CHECK_EQ_INT(kfs_agg_builder_pack(b, &out, &len), 0);
	CHECK(len == sizeof(npm_record) && memcmp(out, npm_record, len) == 0);
	CHECK_EQ_INT((int)kfs_agg_builder_count(b), 0);
	free(out);
	kfs_agg_builder_free(b);
}

/* xorshift64*: the same "random" sizes on every run. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

TEST(planned_size_is_the_packed_size)
{
	struct kfs_agg_builder *b = kfs_agg_builder_new();
	static unsigned char data[70000];
	static char keys[40][32];
	uint64_t s = 42;
	int bad = 0;

	REQUIRE(b);
	for (int k = 0; k < 40; k++)
		snprintf(keys[k], sizeof(keys[k]), "key-%d", k * 977);
	for (int round = 0; round < 50; round++) {
		int n = 1 + (int)(rnd(&s) % 300);
		size_t planned = 0;
		unsigned char *out;
		size_t len;
		struct kfs_agg a;

		for (int i = 0; i < n; i++) {
			const char *key = keys[rnd(&s) % 40];
			const char *ehk = rnd(&s) % 4 ? NULL : "1234567890";
			/* Sizes across the varint steps: 127/128, 16383/16384. */
			size_t l = (size_t)(rnd(&s) % (i % 7 == 0 ? 70000 : 300));

			planned = kfs_agg_builder_size_with(b, key, ehk, l);
			kfs_agg_builder_add(b, key, ehk, data, l);
		}
		if (kfs_agg_builder_pack(b, &out, &len) != 0 || len != planned) {
			bad++;
			continue;
		}
		if (kfs_agg_decode(out, len, &a, NULL) != 0 || a.n != (size_t)n)
			bad++;
		kfs_agg_clear(&a);
		free(out);
	}
	CHECK_EQ_INT(bad, 0);
	kfs_agg_builder_free(b);
}

/* An aggregated record of message bytes m, with a correct digest. */
static unsigned char *wrap(const unsigned char *m, size_t n, size_t *len)
{
	unsigned char *p = malloc(4 + n + 16);
	unsigned int dl;

	memcpy(p, KFS_AGG_MAGIC, 4);
	memcpy(p + 4, m, n);
	EVP_Digest(m, n, p + 4 + n, &dl, EVP_md5(), NULL);
	*len = 4 + n + 16;
	return p;
}

static void check_plain(const unsigned char *p, size_t len, const char *want)
{
	struct kfs_agg a;
	const char *why = NULL;

	CHECK_EQ_INT(kfs_agg_decode(p, len, &a, &why), -EBADMSG);
	CHECK(why && strcmp(why, want) == 0);
	CHECK(a.n == 0 && a.records == NULL);
}

TEST(anything_else_is_plain_data)
{
	unsigned char copy[sizeof(npm_record)];
	/* keys "k"; a record with key index 1, data "x" */
	static const unsigned char out_of_range[] = {
		0x0a, 0x01, 'k', 0x1a, 0x05, 0x08, 0x01, 0x1a, 0x01, 'x'
	};
	static const unsigned char ehk_out_of_range[] = {
		0x0a, 0x01, 'k', 0x1a, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1a, 0x01, 'x'
	};
	static const unsigned char no_records[] = { 0x0a, 0x01, 'k' };
	unsigned char *p;
	size_t len;

	check_plain((const unsigned char *)"plain line\n", 11, "no magic");
	check_plain(npm_record, 20, "no magic");   /* magic, no room */
	memcpy(copy, npm_record, sizeof(copy));
	copy[sizeof(copy) - 1] ^= 1;
	check_plain(copy, sizeof(copy), "MD5 mismatch");
	memcpy(copy, npm_record, sizeof(copy));
	copy[10] ^= 0x40;
	check_plain(copy, sizeof(copy), "MD5 mismatch");
	/* The message cut short, with a digest that matches what is left. */
	p = wrap(npm_record + 4, sizeof(npm_record) - 4 - 16 - 3, &len);
	check_plain(p, len, "not an AggregatedRecord message");
	free(p);
	p = wrap(out_of_range, sizeof(out_of_range), &len);
	check_plain(p, len, "a key index out of range");
	free(p);
	p = wrap(ehk_out_of_range, sizeof(ehk_out_of_range), &len);
	check_plain(p, len, "a key index out of range");
	free(p);
	p = wrap(no_records, sizeof(no_records), &len);
	check_plain(p, len, "no user records");
	free(p);
	CHECK_EQ_INT(kfs_agg_looks("\xF3\x89\x9A\xC2", 4), 0);
}

TEST(pack_of_nothing_is_refused)
{
	struct kfs_agg_builder *b = kfs_agg_builder_new();
	unsigned char *out = (unsigned char *)1;
	size_t len = 1;

	REQUIRE(b);
	CHECK_EQ_INT(kfs_agg_builder_pack(b, &out, &len), -EINVAL);
	CHECK(out == NULL && len == 0);
	kfs_agg_builder_free(b);
	kfs_agg_builder_free(NULL);
}

int main(void)
{
	RUN(decodes_the_npm_aggregators_record);
	RUN(packs_the_same_bytes_as_the_npm_aggregator);
	RUN(planned_size_is_the_packed_size);
	RUN(anything_else_is_plain_data);
	RUN(pack_of_nothing_is_refused);
	return tap_done();
}
