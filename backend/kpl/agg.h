/*
 * agg.h - the KPL's aggregated records (kpl.proto): one Kinesis record
 * that carries many user records, each with its own partition key and,
 * when set, explicit hash key.
 *
 * A record is aggregated when it starts with the magic F3 89 9A C2, the
 * bytes after it parse as an AggregatedRecord whose every index is in
 * range, and its last 16 bytes are the MD5 of those bytes.  Anything else
 * is plain data, as the KCL reads it.
 */
#ifndef KFS_KPL_AGG_H
#define KFS_KPL_AGG_H

#include <stddef.h>
#include <stdint.h>

#define KFS_AGG_MAGIC "\xF3\x89\x9A\xC2"
#define KFS_AGG_MAGIC_LEN 4
#define KFS_AGG_DIGEST_LEN 16
/* The KPL's default AggregationMaxSize: the bytes of one aggregated
 * record it makes at most. */
#define KFS_AGG_MAX_BYTES_DEFAULT 51200

/* One user record: borrowed from the struct kfs_agg it came from. */
struct kfs_agg_record {
	const char *key;               /* partition key, NUL-terminated */
	const char *explicit_hash_key; /* decimal, NUL-terminated; NULL when none */
	const unsigned char *data;     /* the user record's bytes */
	size_t len;
};

/* The user records of one aggregated record, in order: the n-th has the
 * sub-sequence number n. */
struct kfs_agg {
	size_t n;
	struct kfs_agg_record *records; /* owned */
	void *msg;                      /* owned: the parsed message */
};

/* 1 when data starts with the magic and has room for a digest: worth
 * decoding; 0 when it is plain data for sure. */
int kfs_agg_looks(const void *data, size_t len);

/*
 * Decodes an aggregated record.  0 with *out filled (cleared with
 * kfs_agg_clear; its records point into *out, not into data); -EBADMSG
 * when data is not a valid one, *why (when not NULL) then saying which
 * check failed, a static string; -ENOMEM.
 */
int kfs_agg_decode(const void *data, size_t len, struct kfs_agg *out,
		   const char **why);
/* Frees what *a owns and zeroes it; no-op on a zeroed one. */
void kfs_agg_clear(struct kfs_agg *a);

/*
 * Building one: user records are added in order, then packed.  The
 * builder borrows what it is given (keys, hash keys, data) until
 * kfs_agg_builder_pack or _reset.
 */
struct kfs_agg_builder;

/* NULL when out of memory; freed with kfs_agg_builder_free (NULL: no-op). */
struct kfs_agg_builder *kfs_agg_builder_new(void);
void kfs_agg_builder_free(struct kfs_agg_builder *b);
/* Forgets the user records added so far. */
void kfs_agg_builder_reset(struct kfs_agg_builder *b);
/* The number of user records added. */
size_t kfs_agg_builder_count(const struct kfs_agg_builder *b);
/* The bytes of the aggregated record (magic, message, digest) with one
 * more user record (key, explicit hash key or NULL, len bytes of data);
 * with key NULL, as it is now. */
size_t kfs_agg_builder_size_with(const struct kfs_agg_builder *b,
				 const char *key, const char *ehk, size_t len);
/* Adds a user record: 0 or -ENOMEM. */
int kfs_agg_builder_add(struct kfs_agg_builder *b, const char *key,
			const char *ehk, const void *data, size_t len);
/* The aggregated record of what was added (at least one), malloc'd into
 * *out (the caller frees it), its length in *out_len; the builder is
 * reset.  0, -EINVAL when nothing was added, or -ENOMEM. */
int kfs_agg_builder_pack(struct kfs_agg_builder *b, unsigned char **out,
			 size_t *out_len);

#endif
