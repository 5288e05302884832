/* test_ids.c - hash key ranges, MD5 routing, sequence numbers, shard ids. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend/local/crc32c.h"
#include "backend/local/ids.h"
#include "tap.h"

#define U128_MAX_STR "340282366920938463463374607431768211455"

/* xorshift64*: the same "random" numbers on every run. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static const char *fmt(unsigned __int128 v, char buf[KFS_HASH_KEY_MAX])
{
	kfs_ids_format_u128(v, buf);
	return buf;
}

/* Checks count shards against the expected decimal bounds and that they
 * tile the key space. */
static void check_ranges(uint32_t count, const char *const *want)
{
	unsigned __int128 prev_end = 0;
	char a[KFS_HASH_KEY_MAX], b[KFS_HASH_KEY_MAX];

	for (uint32_t i = 0; i < count; i++) {
		unsigned __int128 s, e;
		CHECK_EQ_INT(kfs_ids_shard_range(i, count, &s, &e), 0);
		CHECK_EQ_STR(fmt(s, a), want[2 * i]);
		CHECK_EQ_STR(fmt(e, b), want[2 * i + 1]);
		if (i == 0)
			CHECK(s == 0);
		else
			CHECK(s == prev_end + 1);
		CHECK(e >= s);
		prev_end = e;
	}
	CHECK_EQ_STR(fmt(prev_end, a), U128_MAX_STR);
}

TEST(ranges_1_2_3_7)
{
	static const char *const r1[] = {"0", U128_MAX_STR};
	static const char *const r2[] = {
		"0", "170141183460469231731687303715884105727",
		"170141183460469231731687303715884105728", U128_MAX_STR};
	static const char *const r3[] = {
		"0", "113427455640312821154458202477256070484",
		"113427455640312821154458202477256070485",
		"226854911280625642308916404954512140969",
		"226854911280625642308916404954512140970", U128_MAX_STR};
	static const char *const r7[] = {
		"0", "48611766702991209066196372490252601635",
		"48611766702991209066196372490252601636",
		"97223533405982418132392744980505203271",
		"97223533405982418132392744980505203272",
		"145835300108973627198589117470757804907",
		"145835300108973627198589117470757804908",
		"194447066811964836264785489961010406543",
		"194447066811964836264785489961010406544",
		"243058833514956045330981862451263008179",
		"243058833514956045330981862451263008180",
		"291670600217947254397178234941515609815",
		"291670600217947254397178234941515609816", U128_MAX_STR};
	unsigned __int128 s, e;

	check_ranges(1, r1);
	check_ranges(2, r2);
	check_ranges(3, r3);
	check_ranges(7, r7);
	CHECK_EQ_INT(kfs_ids_shard_range(3, 3, &s, &e), -EINVAL);
	CHECK_EQ_INT(kfs_ids_shard_range(0, 0, &s, &e), -EINVAL);
}

TEST(ranges_tile_for_many_counts)
{
	/* Powers of two divide 2^128 exactly: the correction term matters. */
	for (uint32_t count = 1; count <= 1024; count = count < 64 ? count + 1 : count * 2) {
		unsigned __int128 s, e, prev = 0;
		int ok = 1;
		for (uint32_t i = 0; i < count; i++) {
			kfs_ids_shard_range(i, count, &s, &e);
			if ((i == 0 && s != 0) || (i > 0 && s != prev + 1) || e < s)
				ok = 0;
			prev = e;
		}
		if (!ok || prev != ~(unsigned __int128)0)
			printf("#   count %u does not tile\n", count);
		CHECK(ok && prev == ~(unsigned __int128)0);
	}
	/* 2 shards: exactly half each. */
	{
		unsigned __int128 s, e;
		kfs_ids_shard_range(0, 4, &s, &e);
		CHECK(e == ((unsigned __int128)1 << 126) - 1);
	}
}

TEST(md5_routing)
{
	unsigned __int128 h;
	char buf[KFS_HASH_KEY_MAX];

	CHECK_EQ_INT(kfs_ids_md5_hash("111", 3, &h), 0);
	CHECK_EQ_STR(fmt(h, buf), "140302709094137701773086334180578563688");
	CHECK_EQ_INT(kfs_ids_md5_hash("a", 1, &h), 0);
	CHECK_EQ_STR(fmt(h, buf), "16955237001963240173058271559858726497");
	CHECK_EQ_INT(kfs_ids_md5_hash("partitionKey", 12, &h), 0);
	CHECK_EQ_STR(fmt(h, buf), "193318062818912349798954611745638949166");
	/* "111" lands in the first of two shards, the second of three. */
	{
		unsigned __int128 s, e;
		kfs_ids_md5_hash("111", 3, &h);
		kfs_ids_shard_range(0, 2, &s, &e);
		CHECK(h >= s && h <= e);
		kfs_ids_shard_range(1, 3, &s, &e);
		CHECK(h >= s && h <= e);
		kfs_ids_shard_range(0, 3, &s, &e);
		CHECK(!(h >= s && h <= e));
	}
}

TEST(u128_parse_and_format)
{
	unsigned __int128 v;
	char buf[KFS_HASH_KEY_MAX];

	CHECK_EQ_INT(kfs_ids_parse_u128("0", &v), 0);
	CHECK(v == 0);
	CHECK_EQ_INT(kfs_ids_parse_u128(U128_MAX_STR, &v), 0);
	CHECK(v == ~(unsigned __int128)0);
	CHECK_EQ_STR(fmt(v, buf), U128_MAX_STR);
	CHECK_EQ_INT(kfs_ids_parse_u128("170141183460469231731687303715884105728", &v), 0);
	CHECK(v == (unsigned __int128)1 << 127);
	/* 2^128 and beyond, garbage, signs, spaces, leading zeros. */
	CHECK_EQ_INT(kfs_ids_parse_u128("340282366920938463463374607431768211456", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("999999999999999999999999999999999999999", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("1000000000000000000000000000000000000000", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("-1", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("+1", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128(" 1", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("1 ", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("12a", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("0x10", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("007", &v), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_u128("12345", &v), 0);
	CHECK_EQ_STR(fmt(v, buf), "12345");
}

TEST(seq_encode_known_values)
{
	/* Expected values computed independently from the hex layout. */
	struct kfs_seq s = {1700000000, 0, 0, 1700000000};
	char buf[KFS_SEQ_MAX];

	CHECK_EQ_INT(kfs_ids_seq_encode(&s, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "49646437577108476416916876405825929425585429676275269634");
	s = (struct kfs_seq){1700000000, 3, 12345, 1700000123};
	CHECK_EQ_INT(kfs_ids_seq_encode(&s, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "49646437577175378652512468290174725823545980375036592178");
	s = (struct kfs_seq){1700000000, 0x1234567a, UINT64_MAX, 0xfffffffffLL};
	CHECK_EQ_INT(kfs_ids_seq_encode(&s, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "49646437577353784614100713260381618006308319378278803362");
	s = (struct kfs_seq){0, 0, 0, 0};
	CHECK_EQ_INT(kfs_ids_seq_encode(&s, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "49039857307708443467467104868809893875799651909875269634");
	CHECK_EQ_INT((int)strlen(buf), 56);
	/* Out of range and short buffer. */
	s.arrival_s = 0x1000000000LL;
	CHECK_EQ_INT(kfs_ids_seq_encode(&s, buf, sizeof(buf)), -EINVAL);
	s.arrival_s = 0;
	CHECK_EQ_INT(kfs_ids_seq_encode(&s, buf, 56), -ENOSPC);
}

TEST(seq_roundtrip_and_order)
{
	char prev[KFS_SEQ_MAX] = "", buf[KFS_SEQ_MAX];
	struct kfs_seq d;

	for (uint64_t n = 0; n < 5000; n += 1 + n / 3) {
		/* Arrival going backwards must not matter: the counter rules. */
		struct kfs_seq s = {1732550000, 7, n, 1732559999 - (int64_t)n};
		CHECK_EQ_INT(kfs_ids_seq_encode(&s, buf, sizeof(buf)), 0);
		CHECK_EQ_INT((int)strlen(buf), 56);
		/* Equal length, so string order is numeric order. */
		if (prev[0])
			CHECK(strcmp(prev, buf) < 0);
		CHECK_EQ_INT(kfs_ids_seq_decode(buf, &d), 0);
		CHECK(d.counter == n);
		CHECK_EQ_INT(d.shard_index, 7);
		CHECK_EQ_INT(d.shard_created_s, 1732550000);
		CHECK_EQ_INT(d.arrival_s, 1732559999 - (int64_t)n);
		strcpy(prev, buf);
	}
	{
		struct kfs_seq s = {1732550000, 0xdeadbeef, UINT64_MAX - 1, 12};
		CHECK_EQ_INT(kfs_ids_seq_encode(&s, buf, sizeof(buf)), 0);
		CHECK_EQ_INT(kfs_ids_seq_decode(buf, &d), 0);
		CHECK(d.counter == UINT64_MAX - 1);
		CHECK(d.shard_index == 0xdeadbeef);
	}
}

TEST(seq_decode_rejects_other_shapes)
{
	struct kfs_seq d;

	/* A number the service handed out has the same shape. */
	CHECK_EQ_INT(kfs_ids_seq_decode("49546986683135544286507457936321625675700192471156785154", &d), 0);
	CHECK(d.counter == 0x1d5 && d.shard_index == 0);
	/* The same with its '00' made '50', and with a wrong index digit. */
	CHECK_EQ_INT(kfs_ids_seq_decode("49546986683135544286507457936322003465018822042773880834", &d), -EINVAL);
	CHECK_EQ_INT(kfs_ids_seq_decode("49546986683247048012500111052029304267063434278686687234", &d), -EINVAL);
	CHECK_EQ_INT(kfs_ids_seq_decode("", &d), -EINVAL);
	CHECK_EQ_INT(kfs_ids_seq_decode("123", &d), -EINVAL);
	CHECK_EQ_INT(kfs_ids_seq_decode("4964643757710847641691687640582592942558542967627526963x", &d), -EINVAL);
	CHECK_EQ_INT(kfs_ids_seq_decode("496464375771084764169168764058259294255854296762752696345", &d), -EINVAL);
	/* Last digit changed: the trailing hex '2' is broken. */
	CHECK_EQ_INT(kfs_ids_seq_decode("49646437577108476416916876405825929425585429676275269635", &d), -EINVAL);
	/* All nines: too wide for 47 hex digits. */
	CHECK_EQ_INT(kfs_ids_seq_decode("99999999999999999999999999999999999999999999999999999999", &d), -EINVAL);
	CHECK_EQ_INT(kfs_ids_seq_decode("49646437577108476416916876405825929425585429676275269634", &d), 0);
}

/* The decimal of the 47 hex digits of the layout in ids.h, the slow way
 * (a digit at a time), to check the encoder against. */
static void seq_reference(const struct kfs_seq *s, char out[KFS_SEQ_MAX])
{
	char hex[64];
	unsigned char dec[64] = {0}; /* least significant first */
	int nd = 1, i = 0;

	snprintf(hex, sizeof(hex), "2%09llx%x%016llx00%09llx%08x2",
		 (unsigned long long)s->shard_created_s, s->shard_index & 0xf,
		 (unsigned long long)s->counter, (unsigned long long)s->arrival_s,
		 s->shard_index);
	for (const char *h = hex; *h; h++) {
		unsigned carry = (unsigned)(*h <= '9' ? *h - '0' : *h - 'a' + 10);
		for (int k = 0; k < nd; k++) {
			unsigned v = dec[k] * 16u + carry;
			dec[k] = (unsigned char)(v % 10);
			carry = v / 10;
		}
		while (carry) {
			dec[nd++] = (unsigned char)(carry % 10);
			carry /= 10;
		}
	}
	while (nd > 0)
		out[i++] = (char)('0' + dec[--nd]);
	out[i] = '\0';
}

TEST(seq_encode_matches_layout)
{
	uint64_t seed = 42;
	int bad = 0;

	for (int n = 0; n < 3000; n++) {
		struct kfs_seq s = {
			.shard_created_s = (int64_t)(rnd(&seed) % (KFS_SEQ_TIME_MAX + 1)),
			.shard_index = (uint32_t)rnd(&seed),
			.counter = rnd(&seed) >> (n % 64),
			.arrival_s = (int64_t)(rnd(&seed) % (KFS_SEQ_TIME_MAX + 1)),
		}, d;
		char got[KFS_SEQ_MAX], want[KFS_SEQ_MAX];

		if (n % 7 == 0)
			s.counter = 0;
		seq_reference(&s, want);
		if (kfs_ids_seq_encode(&s, got, sizeof(got)) != 0 ||
		    strcmp(got, want) != 0 || kfs_ids_seq_decode(got, &d) != 0 ||
		    d.counter != s.counter || d.shard_index != s.shard_index ||
		    d.arrival_s != s.arrival_s ||
		    d.shard_created_s != s.shard_created_s) {
			if (bad++ < 5)
				printf("#   %s, expected %s\n", got, want);
		}
	}
	CHECK_EQ_INT(bad, 0);
}

TEST(shard_ids)
{
	char id[KFS_SHARD_ID_LEN + 1];
	uint32_t idx;

	kfs_ids_shard_id(0, id);
	CHECK_EQ_STR(id, "shardId-000000000000");
	kfs_ids_shard_id(42, id);
	CHECK_EQ_STR(id, "shardId-000000000042");
	CHECK_EQ_INT(kfs_ids_parse_shard_id("shardId-000000000042", &idx), 0);
	CHECK_EQ_INT(idx, 42);
	CHECK_EQ_INT(kfs_ids_parse_shard_id("shardId-00000000004", &idx), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_shard_id("shardId-99999999999x", &idx), -EINVAL);
	CHECK_EQ_INT(kfs_ids_parse_shard_id("shardId-999999999999", &idx), -EINVAL);
}

TEST(crc32c_known_values)
{
	/* RFC 3720 B.4 test vectors. */
	unsigned char z[32] = {0}, o[32], inc[32];

	memset(o, 0xff, sizeof(o));
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	uint32_t (*const fns[])(uint32_t, const void *, size_t) = {
		kfs_crc32c, kfs_crc32c_sw, kfs_crc32c_hw,
	};

	memset(o, 0xff, sizeof(o));
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	/* The one in use, and each of the two it chooses from. */
	for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
		CHECK(fns[f](0, "123456789", 9) == 0xE3069283u);
		CHECK(fns[f](0, z, 32) == 0x8A9136AAu);
		CHECK(fns[f](0, o, 32) == 0x62A8AB43u);
		CHECK(fns[f](0, inc, 32) == 0x46DD794Eu);
		CHECK(fns[f](0, inc, 0) == 0);
		/* Incremental equals one-shot, at any split and alignment. */
		for (int k = 0; k <= 32; k++)
			CHECK(fns[f](fns[f](0, inc, (size_t)k), inc + k,
				     (size_t)(32 - k)) == 0x46DD794Eu);
	}
}

TEST(crc32c_hardware_equals_software)
{
	static unsigned char buf[70000];
	uint64_t seed = 0x9E3779B97F4A7C15ULL;
	int bad = 0;

	printf("# crc32c: %s\n", kfs_crc32c_hw_available()
	       ? "SSE4.2 instruction, compared with the tables"
	       : "no SSE4.2 here: the tables only");
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rnd(&seed);
	/* Random lengths (short ones most), offsets (every alignment) and
	 * starting values. */
	for (int n = 0; n < 20000; n++) {
		uint64_t x = rnd(&seed);
		size_t off = (size_t)(x % 64);
		size_t len = n % 16 == 0 ? (size_t)((x >> 8) % 65536)
					: (size_t)((x >> 8) % 300);
		uint32_t crc = n % 3 == 0 ? 0 : (uint32_t)(x >> 32);
		uint32_t want = kfs_crc32c_sw(crc, buf + off, len);

		if (kfs_crc32c_hw(crc, buf + off, len) != want ||
		    kfs_crc32c(crc, buf + off, len) != want) {
			if (bad++ < 5)
				printf("#   differ: offset %zu, %zu bytes, "
				       "crc %08x\n", off, len, crc);
		}
	}
	CHECK_EQ_INT(bad, 0);
}

int main(void)
{
	RUN(ranges_1_2_3_7);
	RUN(ranges_tile_for_many_counts);
	RUN(md5_routing);
	RUN(u128_parse_and_format);
	RUN(seq_encode_known_values);
	RUN(seq_roundtrip_and_order);
	RUN(seq_decode_rejects_other_shapes);
	RUN(seq_encode_matches_layout);
	RUN(shard_ids);
	RUN(crc32c_known_values);
	RUN(crc32c_hardware_equals_software);
	return tap_done();
}
