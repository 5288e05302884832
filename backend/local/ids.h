/*
 * ids.h - identifiers of the local engine: 128-bit hash keys, shard ids
 * and sequence numbers, shaped like the ones Kinesis Data Streams hands
 * out so that tools that parse them keep working.
 *
 * Hash keys are unsigned 128-bit integers (unsigned __int128), written in
 * decimal.  A record's hash key is the MD5 of its partition key read as a
 * big-endian number, unless the writer gives an explicit one.
 *
 * A sequence number is a 56-digit decimal whose hexadecimal form has 47
 * digits, most significant first:
 *
 *   2 CCCCCCCCC I NNNNNNNNNNNNNNNN 00 AAAAAAAAA SSSSSSSS 2
 *   | |         | |                |  |         |        |
 *   | |         | |                |  |         |        +- constant
 *   | |         | |                |  |         +- shard index (8 hex)
 *   | |         | |                |  +- record arrival, epoch s (9 hex)
 *   | |         | |                +- constant
 *   | |         | +- per-shard record counter (16 hex)
 *   | |         +- last hex digit of the shard index
 *   | +- shard creation time, epoch seconds (9 hex)
 *   +- constant
 *
 * The counter is more significant than the arrival time, so numbers grow
 * strictly with the counter within a shard whatever the clock does.
 */
#ifndef KFS_IDS_H
#define KFS_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"

#define KFS_SEQ_DIGITS 56               /* decimal digits of a number */
#define KFS_SEQ_TIME_MAX 0xfffffffffLL  /* largest 9-hex-digit time, s */
#define KFS_HASH_KEY_DIGITS_MAX 39      /* digits of 2^128-1 */

/* The fields a sequence number carries. */
struct kfs_seq {
	int64_t shard_created_s; /* shard creation, epoch seconds */
	uint32_t shard_index;    /* N of shardId-N */
	uint64_t counter;        /* record's position in its shard, from 0 */
	int64_t arrival_s;       /* record arrival, epoch seconds */
};

/* The hash key of a partition key: MD5 of its bytes, big-endian.
 * Returns 0, or -EIO when libcrypto cannot compute MD5. */
int kfs_ids_md5_hash(const void *key, size_t len, unsigned __int128 *out);

/* Parses a decimal hash key as the service accepts it: "0" or 1 to 39
 * digits without a leading zero, no sign, no space, at most 2^128-1.
 * Returns 0 or -EINVAL. */
int kfs_ids_parse_u128(const char *s, unsigned __int128 *out);

/* Writes v in decimal to buf, which holds KFS_HASH_KEY_MAX bytes. */
void kfs_ids_format_u128(unsigned __int128 v, char buf[KFS_HASH_KEY_MAX]);

/*
 * The hash key range [*start, *end] of shard `index` of `count` shards
 * made by CreateStream: equal slices of floor(2^128 / count) keys, the
 * last one ending at 2^128-1.  Returns 0, or -EINVAL when index >= count.
 */
int kfs_ids_shard_range(uint32_t index, uint32_t count,
			unsigned __int128 *start, unsigned __int128 *end);

/* Encodes s into buf (at least KFS_SEQ_DIGITS + 1 bytes).  Returns 0,
 * -EINVAL when a time does not fit 9 hex digits, -ENOSPC for a short buf. */
int kfs_ids_seq_encode(const struct kfs_seq *s, char *buf, size_t size);

/* Decodes a sequence number made by kfs_ids_seq_encode().  Anything else
 * (wrong length, not digits, another shape) gives -EINVAL. */
int kfs_ids_seq_decode(const char *str, struct kfs_seq *out);

/* Writes "shardId-%012u" into buf (KFS_SHARD_ID_LEN + 1 bytes). */
void kfs_ids_shard_id(uint32_t index, char buf[KFS_SHARD_ID_LEN + 1]);

/* Parses a shard id; 0 and *index, or -EINVAL. */
int kfs_ids_parse_shard_id(const char *id, uint32_t *index);

#endif
