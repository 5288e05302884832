/* ids.c - hash keys, shard ids and sequence numbers; see ids.h. */
#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/util.h"

#define U128_MAX (~(unsigned __int128)0)

int kfs_ids_md5_hash(const void *key, size_t len, unsigned __int128 *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned __int128 v = 0;

	if (!EVP_Digest(key, len, md, &mdlen, EVP_md5(), NULL) || mdlen != 16)
		return -EIO;
	for (int i = 0; i < 16; i++)
		v = (v << 8) | md[i];
	*out = v;
	return 0;
}

int kfs_ids_parse_u128(const char *s, unsigned __int128 *out)
{
	unsigned __int128 v = 0;
	size_t n = strlen(s);

	if (n < 1 || n > KFS_HASH_KEY_DIGITS_MAX || (n > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (U128_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

void kfs_ids_format_u128(unsigned __int128 v, char buf[KFS_HASH_KEY_MAX])
{
	char tmp[KFS_HASH_KEY_MAX];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
}

int kfs_ids_shard_range(uint32_t index, uint32_t count,
			unsigned __int128 *start, unsigned __int128 *end)
{
	unsigned __int128 step;

	if (count == 0 || index >= count)
		return -EINVAL;
	/* floor(2^128 / count) without 2^128: 2^128 = (2^128-1) + 1. */
	step = U128_MAX / count + (U128_MAX % count == count - 1 ? 1 : 0);
	*start = step * index;
	*end = index == count - 1 ? U128_MAX : step * (index + 1) - 1;
	return 0;
}

/*
 * Sequence numbers are 188-bit integers (47 hex digits), held here in six
 * 32-bit limbs, least significant first.  Bit positions of the fields:
 */
#define SEQ_LIMBS 6
#define SEQ_BITS 188
#define SEQ_POS_TAIL 0       /* '2', 4 bits */
#define SEQ_POS_INDEX 4      /* shard index, 32 bits */
#define SEQ_POS_ARRIVAL 36   /* arrival seconds, 36 bits */
#define SEQ_POS_ZERO 72      /* '00', 8 bits */
#define SEQ_POS_COUNTER 80   /* counter, 64 bits */
#define SEQ_POS_INDEX_LO 144 /* shard index & 0xf, 4 bits */
#define SEQ_POS_CREATED 148  /* shard creation seconds, 36 bits */
#define SEQ_POS_HEAD 184     /* '2', 4 bits */

static uint64_t seq_get(const uint32_t *l, int pos, int width)
{
	uint64_t v = 0;
	int got = 0;

	while (got < width) {
		int b = pos % 32, n = 32 - b < width - got ? 32 - b : width - got;
		uint32_t mask = n == 32 ? UINT32_MAX : ((uint32_t)1 << n) - 1;

		v |= (uint64_t)((l[pos / 32] >> b) & mask) << got;
		pos += n;
		got += n;
	}
	return v;
}

/*
 * Encoding works in base 10^9, where the fields' places are constants:
 * the number is w + arrival * 2^36 + counter * 2^80 + y * 2^144 (the
 * SEQ_POS_ARRIVAL, _COUNTER and _INDEX_LO places), with w the bits below
 * the arrival (shard index, tail) and y those from bit 144 (the index's
 * last digit, creation time, head).  Each field is cut into
 * base-10^9 digits and multiplied by its place's: a few independent
 * multiplications, one carry pass, and nine decimal digits per limb.
 */
#define DEC_BASE 1000000000u
#define DEC_LIMBS 7          /* 63 digits: room for 56 */

static const uint64_t place36[2] = { 719476736, 68 };              /* 2^36 */
static const uint64_t place80[3] = { 174706176, 819614629, 1208925 }; /* 2^80 */
static const uint64_t place144[5] = { 505980416, 272648361, 141535718,
				      198530623, 22300745 };          /* 2^144 */

/* col += x * place; every product is below 10^18, and no column gets
 * more than seven terms, so columns stay below 2^64. */
static void dec_mul_add(uint64_t *col, const uint64_t *x, int nx,
			const uint64_t *place, int np)
{
	for (int i = 0; i < nx; i++)
		for (int j = 0; j < np; j++)
			col[i + j] += x[i] * place[j];
}

/* "00" .. "99", for two digits a step. */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* The nine decimal digits of v < 10^9, leading zeros included. */
static void dec9(char *out, uint32_t v)
{
	for (int k = 7; k >= 1; k -= 2) {
		memcpy(out + k, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	out[0] = (char)('0' + v);
}

int kfs_ids_seq_encode(const struct kfs_seq *s, char *buf, size_t size)
{
	uint64_t col[DEC_LIMBS] = { 0 }, carry = 0;
	uint64_t w, y, t, wd[2], ad[2], cd[3], yd[2];

	if (s->shard_created_s < 0 || s->shard_created_s > KFS_SEQ_TIME_MAX ||
	    s->arrival_s < 0 || s->arrival_s > KFS_SEQ_TIME_MAX)
		return -EINVAL;
	if (size < KFS_SEQ_DIGITS + 1)
		return -ENOSPC;
	w = (uint64_t)2 << SEQ_POS_TAIL |
	    (uint64_t)s->shard_index << SEQ_POS_INDEX;
	y = (uint64_t)(s->shard_index & 0xf) |
	    (uint64_t)s->shard_created_s << (SEQ_POS_CREATED - SEQ_POS_INDEX_LO) |
	    (uint64_t)2 << (SEQ_POS_HEAD - SEQ_POS_INDEX_LO);
	wd[0] = w % DEC_BASE;
	wd[1] = w / DEC_BASE;
	ad[0] = (uint64_t)s->arrival_s % DEC_BASE;
	ad[1] = (uint64_t)s->arrival_s / DEC_BASE;
	t = s->counter / DEC_BASE;
	cd[0] = s->counter % DEC_BASE;
	cd[1] = t % DEC_BASE;
	cd[2] = t / DEC_BASE;
	yd[0] = y % DEC_BASE;
	yd[1] = y / DEC_BASE;
	col[0] = wd[0];
	col[1] = wd[1];
	dec_mul_add(col, ad, 2, place36, 2);
	dec_mul_add(col, cd, 3, place80, 3);
	dec_mul_add(col, yd, 2, place144, 5);
	for (int i = 0; i < DEC_LIMBS; i++) {
		uint64_t v = col[i] + carry;
		col[i] = v % DEC_BASE;
		carry = v / DEC_BASE;
	}
	/* 2 * 2^184 <= number < 3 * 2^184: always 56 digits, two in the
	 * top limb. */
	if (carry || col[DEC_LIMBS - 1] < 10 || col[DEC_LIMBS - 1] > 99)
		return -EINVAL; /* impossible */
	memcpy(buf, digit_pairs + 2 * col[DEC_LIMBS - 1], 2);
	for (int i = DEC_LIMBS - 2; i >= 0; i--)
		dec9(buf + 2 + 9 * (DEC_LIMBS - 2 - i), (uint32_t)col[i]);
	buf[KFS_SEQ_DIGITS] = '\0';
	return 0;
}

int kfs_ids_seq_decode(const char *str, struct kfs_seq *out)
{
	uint32_t l[SEQ_LIMBS] = {0};
	uint64_t index, index_lo;

	if (strlen(str) != KFS_SEQ_DIGITS)
		return -EINVAL;
	for (const char *p = str; *p; p++) {
		uint64_t carry;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		carry = (uint64_t)(*p - '0');
		for (int i = 0; i < SEQ_LIMBS; i++) {
			uint64_t cur = (uint64_t)l[i] * 10 + carry;
			l[i] = (uint32_t)cur;
			carry = cur >> 32;
		}
		if (carry || (l[SEQ_LIMBS - 1] >> (SEQ_BITS - 160)))
			return -EINVAL; /* wider than 47 hex digits */
	}
	if (seq_get(l, SEQ_POS_HEAD, 4) != 2 || seq_get(l, SEQ_POS_TAIL, 4) != 2 ||
	    seq_get(l, SEQ_POS_ZERO, 8) != 0)
		return -EINVAL;
	index = seq_get(l, SEQ_POS_INDEX, 32);
	index_lo = seq_get(l, SEQ_POS_INDEX_LO, 4);
	if ((index & 0xf) != index_lo)
		return -EINVAL;
	out->shard_index = (uint32_t)index;
	out->counter = seq_get(l, SEQ_POS_COUNTER, 64);
	out->arrival_s = (int64_t)seq_get(l, SEQ_POS_ARRIVAL, 36);
	out->shard_created_s = (int64_t)seq_get(l, SEQ_POS_CREATED, 36);
	return 0;
}

void kfs_ids_shard_id(uint32_t index, char buf[KFS_SHARD_ID_LEN + 1])
{
	snprintf(buf, KFS_SHARD_ID_LEN + 1, "shardId-%012u", index);
}

int kfs_ids_parse_shard_id(const char *id, uint32_t *index)
{
	unsigned long long v = 0;

	if (!kfs_is_shard_id(id))
		return -EINVAL;
	for (int i = 8; i < KFS_SHARD_ID_LEN; i++)
		v = v * 10 + (unsigned)(id[i] - '0');
	if (v > UINT32_MAX)
		return -EINVAL;
	*index = (uint32_t)v;
	return 0;
}
