/*
 * wire.h - the Kinesis JSON protocol (x-amz-json-1.1) as pure functions:
 * request bodies built and answers parsed with cJSON (PutRecords' body is
 * written as text), blobs in base64, and the composite shard iterator the
 * backend hands to the FUSE layer.  No I/O here, so every action is
 * unit-tested from strings.
 *
 * Builders return a cJSON object the caller frees with cJSON_Delete, or
 * NULL when out of memory.  Parsers return 0, -EIO for an answer that does
 * not have the expected shape, or -ENOMEM; on failure they leave nothing
 * allocated in their outputs.
 */
#ifndef KFS_AWS_WIRE_H
#define KFS_AWS_WIRE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "../backend.h"

#define KFS_WIRE_TARGET_PREFIX "Kinesis_20131202."
#define KFS_WIRE_CONTENT_TYPE "application/x-amz-json-1.1"

/* ---- base64 (OpenSSL) ----------------------------------------------- */

/* *out is a malloc'd NUL-terminated base64 text of data; 0 or -ENOMEM. */
int kfs_wire_b64_encode(const void *data, size_t len, char **out);
/* Decodes base64 text s (padding required, no whitespace inside) into a
 * malloc'd *out of *len_out bytes (never NULL on success, even for 0
 * bytes); 0, -EINVAL for text that is not base64, or -ENOMEM. */
int kfs_wire_b64_decode(const char *s, size_t slen, unsigned char **out,
			size_t *len_out);

/* ---- timestamps ----------------------------------------------------- */

/* A JSON timestamp (epoch seconds as a number, possibly fractional, or
 * a string holding one or an ISO 8601 time) in ms; 0 or -EIO. */
int kfs_wire_time_ms(const cJSON *v, int64_t *ms);

/* ---- actions -------------------------------------------------------- */

/* ListStreams: paged with ExclusiveStartStreamName, or with NextToken when
 * the service gave one (then the name is not sent). */
cJSON *kfs_wire_list_streams_req(const char *exclusive_start,
				 const char *next_token);
/* Appends the names to `names` (skipping streams a summary says are
 * DELETING); *more is HasMoreStreams; *next_token the NextToken (malloc'd)
 * or NULL. */
int kfs_wire_list_streams_parse(const cJSON *resp, struct kfs_name_list *names,
				int *more, char **next_token);

/* ListShards: the stream on the first page, only NextToken after. */
cJSON *kfs_wire_list_shards_req(const char *stream, const char *next_token);
/* Appends the shards to `out` (bytes[] and newest_arrival_ms are -1:
 * unknown); *next_token malloc'd or NULL. */
int kfs_wire_list_shards_parse(const cJSON *resp, struct kfs_shard_list *out,
			       char **next_token);

/* {"StreamName": stream}: DescribeStreamSummary, DeleteStream. */
cJSON *kfs_wire_stream_req(const char *stream);
int kfs_wire_stream_summary_parse(const cJSON *resp, struct kfs_stream_desc *out);

cJSON *kfs_wire_create_stream_req(const char *stream, int shard_count);
cJSON *kfs_wire_update_shard_count_req(const char *stream, int target);
/* Increase/DecreaseStreamRetentionPeriod. */
cJSON *kfs_wire_retention_req(const char *stream, int hours);

/*
 * The PutRecords body (JSON text) of entries e[idx[0]], ..., e[idx[n - 1]],
 * in that order: *out is exactly *len bytes plus a NUL, and the caller
 * frees it with kfs_wire_body_free(*out, *len); 0 or -ENOMEM.  Not a
 * cJSON tree: a batch is MiBs, and this is its only copy besides the
 * records (see wire.c).  Keys are escaped, not checked: the caller has
 * made sure they are UTF-8.
 */
int kfs_wire_put_records_body(const char *stream, const struct kfs_put_entry *e,
			      const size_t *idx, size_t n, char **out,
			      size_t *len);
/* Frees a body of kfs_wire_put_records_body, len as it gave; NULL: no-op. */
void kfs_wire_body_free(char *body, size_t len);
/* Fills err/seq/shard_id/reason of those entries from the answer, each
 * failed entry's ErrorCode mapped through the error table. */
int kfs_wire_put_records_parse(const cJSON *resp, struct kfs_put_entry *e,
			       const size_t *idx, size_t n);

/* GetShardIterator for spec; -EINVAL for a bad spec (*out NULL). */
int kfs_wire_shard_iterator_req(const char *stream, const char *shard_id,
				const struct kfs_iter_spec *spec, cJSON **out);
/* *iter: the ShardIterator, malloc'd. */
int kfs_wire_shard_iterator_parse(const cJSON *resp, char **iter);

cJSON *kfs_wire_get_records_req(const char *iterator, int limit);
/*
 * Appends the records to out->records (data decoded), sets
 * out->millis_behind, appends ChildShards to out->children, and sets *next
 * to the NextShardIterator (malloc'd), or NULL when absent or null: the
 * end of a closed shard.  out->next_iterator is left alone.
 */
int kfs_wire_get_records_parse(const cJSON *resp, struct kfs_get_result *out,
			       char **next);

/* ---- the composite iterator ----------------------------------------- */

/*
 * What kinesisfs hands out as a shard iterator: enough to get a fresh
 * service iterator when the one held has expired (5 minutes unused).
 *
 *   kfs1|STREAM|SHARD|TYPE|SEQ|TIME_MS|LAST_SEQ|SERVICE_ITERATOR
 *   kfs2|STREAM|SHARD|TYPE|SEQ|TIME_MS|LAST_SEQ|FEED|SERVICE_ITERATOR
 *
 * TYPE is the kfs_iter_type reading started with, SEQ its sequence number
 * (the two sequence types) and TIME_MS its time (AT_TIMESTAMP; for LATEST
 * when the iterator was taken); LAST_SEQ is the last record delivered ("":
 * none yet).  FEED (kfs2, written when not 0) is the run of a shard's
 * poller whose records from its start a reader handed nothing yet is to
 * get (feed.h).  SERVICE_ITERATOR is KFS_WIRE_NO_SERVICE for a reader fed
 * by a poller: it asks for one when it reads on its own again.  No field
 * but the last can hold '|'.
 */
#define KFS_WIRE_NO_SERVICE "-"

struct kfs_wire_iter {
	char stream[KFS_STREAM_NAME_MAX + 1];  /* stream name */
	char shard[KFS_SHARD_ID_LEN + 1];      /* shard id */
	enum kfs_iter_type type;               /* where reading started */
	char seq[KFS_SEQ_MAX];                 /* its sequence number, or "" */
	int64_t time_ms;                       /* its time, or 0 */
	char last_seq[KFS_SEQ_MAX];            /* last record delivered, or "" */
	uint64_t feed;                         /* a poller's run, or 0 */
	const char *service;                   /* the service's iterator; borrowed
						* from the parsed text */
};

/* *out malloc'd; 0, -EINVAL (a field that does not fit) or -ENOMEM. */
int kfs_wire_iter_format(const struct kfs_wire_iter *it, const char *service,
			 char **out);
/* 0, or -EINVAL when s is not a composite iterator. */
int kfs_wire_iter_parse(const char *s, struct kfs_wire_iter *it);
/*
 * The spec to ask a fresh service iterator with: AFTER_SEQUENCE_NUMBER of
 * the last record delivered, else where reading started (LATEST as
 * AT_TIMESTAMP of when it was taken, so nothing that arrived since is
 * skipped).  spec->seq points into it.
 */
void kfs_wire_iter_resume_spec(const struct kfs_wire_iter *it,
			       struct kfs_iter_spec *spec);

/* 1 when s is 1 to KFS_SEQ_MAX - 1 decimal digits. */
int kfs_wire_valid_seq(const char *s);
/* 1 when s is valid UTF-8 (what a JSON string, so a partition key, must be). */
int kfs_wire_valid_utf8(const char *s);

#endif
