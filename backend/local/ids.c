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

static void seq_put(uint32_t *l, int pos, int width, uint64_t v)
{
	for (int i = 0; i < width; i++)
		if ((v >> i) & 1)
			l[(pos + i) / 32] |= (uint32_t)1 << ((pos + i) % 32);
}

static uint64_t seq_get(const uint32_t *l, int pos, int width)
{
	uint64_t v = 0;

	for (int i = 0; i < width; i++)
		if ((l[(pos + i) / 32] >> ((pos + i) % 32)) & 1)
			v |= (uint64_t)1 << i;
	return v;
}

int kfs_ids_seq_encode(const struct kfs_seq *s, char *buf, size_t size)
{
	uint32_t l[SEQ_LIMBS] = {0};
	char tmp[64];
	int n = 0, zero;

	if (s->shard_created_s < 0 || s->shard_created_s > KFS_SEQ_TIME_MAX ||
	    s->arrival_s < 0 || s->arrival_s > KFS_SEQ_TIME_MAX)
		return -EINVAL;
	if (size < KFS_SEQ_DIGITS + 1)
		return -ENOSPC;
	seq_put(l, SEQ_POS_TAIL, 4, 2);
	seq_put(l, SEQ_POS_INDEX, 32, s->shard_index);
	seq_put(l, SEQ_POS_ARRIVAL, 36, (uint64_t)s->arrival_s);
	seq_put(l, SEQ_POS_COUNTER, 64, s->counter);
	seq_put(l, SEQ_POS_INDEX_LO, 4, s->shard_index & 0xf);
	seq_put(l, SEQ_POS_CREATED, 36, (uint64_t)s->shard_created_s);
	seq_put(l, SEQ_POS_HEAD, 4, 2);

	/* Repeated division by 10^9 gives nine decimal digits a step. */
	do {
		uint64_t rem = 0;
		zero = 1;
		for (int i = SEQ_LIMBS - 1; i >= 0; i--) {
			uint64_t cur = (rem << 32) | l[i];
			l[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
			if (l[i])
				zero = 0;
		}
		for (int k = 0; k < 9; k++) {
			tmp[n++] = (char)('0' + rem % 10);
			rem /= 10;
		}
	} while (!zero);
	while (n > 1 && tmp[n - 1] == '0')
		n--;
	if (n != KFS_SEQ_DIGITS) /* impossible: the leading '2' fixes it */
		return -EINVAL;
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
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
