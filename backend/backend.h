/*
 * backend.h - the one interface between the FUSE layer and the engines.
 *
 * A backend is a table of operations plus an opaque pointer.  The local
 * engine (backend/local/) and the AWS backend (backend/aws/) both implement
 * it; fs/ uses nothing else of them.  The operations mirror the Kinesis Data
 * Streams API closely so that the AWS backend is a thin translation.
 *
 * Conventions:
 *  - every operation returns 0 or -errno (SPEC section 5 says which errno);
 *  - strings handed in are borrowed for the call only;
 *  - memory handed out is owned by the caller and freed with the matching
 *    kfs_*_free() / kfs_*_clear() function below;
 *  - every operation may be called from many threads at once.
 */
#ifndef KFS_BACKEND_H
#define KFS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define KFS_STREAM_NAME_MAX 128          /* [a-zA-Z0-9_.-]{1,128} */
#define KFS_SHARD_ID_LEN 20              /* "shardId-" + 12 digits */
#define KFS_KEY_MAX 256                  /* partition key, in bytes */
#define KFS_SEQ_MAX 80                   /* room for a sequence number */
#define KFS_HASH_KEY_MAX 40              /* 2^128-1 in decimal + NUL */
#define KFS_RECORD_LIMIT_DEFAULT (1024 * 1024) /* data + key */
#define KFS_RECORD_LIMIT_MAX (10 * 1024 * 1024)
#define KFS_GET_LIMIT_MAX 10000          /* records per get_records */
#define KFS_GET_BYTES_MAX (10 * 1024 * 1024) /* bytes per get_records */
#define KFS_PUT_BATCH_MAX 500            /* entries per put_records */
/* Entries per put_records of a KFS_CAP_CHEAP_PUT backend (the local
 * engine), whose puts are no service's API calls: a big write is stored
 * in one append, not one per 500 lines. */
#define KFS_CHEAP_PUT_BATCH_MAX 8192
#define KFS_RETENTION_MIN_HOURS 24
#define KFS_RETENTION_MAX_HOURS 8760

enum kfs_stream_status {
	KFS_STREAM_CREATING,
	KFS_STREAM_ACTIVE,
	KFS_STREAM_UPDATING,
	KFS_STREAM_DELETING,
};

/* How a shard's records are rendered as the bytes of a file (SPEC 4). */
enum kfs_framing {
	KFS_FRAMING_LINE,  /* records concatenated, '\n' added where missing */
	KFS_FRAMING_WRITE, /* raw record bytes */
	KFS_FRAMING_COUNT,
};

/* What describe_stream reports (describe-stream-summary). */
struct kfs_stream_desc {
	char name[KFS_STREAM_NAME_MAX + 1];
	char arn[320];
	enum kfs_stream_status status;
	int retention_hours;
	int open_shard_count;
	char mode[16];           /* "PROVISIONED" or "ON_DEMAND" */
	int64_t creation_ms;     /* creation time, ms since the epoch */
};

/* One shard, as ListShards reports it plus what the engine knows. */
struct kfs_shard_desc {
	char id[KFS_SHARD_ID_LEN + 1];
	char parent[KFS_SHARD_ID_LEN + 1];          /* "" when none */
	char adjacent_parent[KFS_SHARD_ID_LEN + 1]; /* "" when none */
	char hash_start[KFS_HASH_KEY_MAX];          /* decimal */
	char hash_end[KFS_HASH_KEY_MAX];            /* decimal, inclusive */
	char seq_start[KFS_SEQ_MAX];                /* starting sequence number */
	char seq_end[KFS_SEQ_MAX];                  /* "" while the shard is open */
	int closed;                                 /* 1 once seq_end is set */
	/*
	 * Known to engines that hold the data, -1 where unknown (AWS):
	 * arrival time of the newest retained record (-1 too when empty is
	 * not known), and the bytes the shard holds in each framing.
	 */
	int64_t newest_arrival_ms;
	int64_t bytes[KFS_FRAMING_COUNT];
};

struct kfs_shard_list {
	size_t n;
	struct kfs_shard_desc *v;   /* owned */
};

struct kfs_name_list {
	size_t n;
	char **v;                   /* owned, each string owned */
};

/* One record of a put_records batch: inputs, then the result. */
struct kfs_put_entry {
	const char *key;                /* partition key, NUL-terminated */
	const char *explicit_hash_key;  /* decimal, or NULL */
	const void *data;
	size_t len;
	int no_seq;                     /* 1: the caller has no use for seq */
	/* results, filled by put_records */
	int err;                        /* 0, or -errno for this record */
	char seq[KFS_SEQ_MAX];          /* sequence number when err == 0 */
	char shard_id[KFS_SHARD_ID_LEN + 1];
	char reason[160];               /* why, when err != 0 (never a secret) */
};

enum kfs_iter_type {
	KFS_ITER_TRIM_HORIZON,
	KFS_ITER_LATEST,
	KFS_ITER_AT_SEQUENCE_NUMBER,
	KFS_ITER_AFTER_SEQUENCE_NUMBER,
	KFS_ITER_AT_TIMESTAMP,
};

struct kfs_iter_spec {
	enum kfs_iter_type type;
	const char *seq;         /* for the two sequence-number types */
	int64_t timestamp_ms;    /* for AT_TIMESTAMP */
};

struct kfs_record {
	unsigned char *data;     /* owned by the record, or by its result's
				  * blocks when it has any */
	size_t len;
	char *key;               /* NUL-terminated; owned as data is */
	int64_t arrival_ms;      /* ApproximateArrivalTimestamp */
	/* A user record of a KPL aggregated record (backend/kpl/expand.h):
	 * user is 1, sub_seq its SubSequenceNumber, ehk its explicit hash
	 * key (in the result's blocks) or NULL.  0 and NULL for any record
	 * a backend gives. */
	char *ehk;
	uint32_t sub_seq;
	int user;
	/* Last: a reader of data alone touches one cache line a record. */
	char seq[KFS_SEQ_MAX];   /* "" only under KFS_GET_LAST_SEQ, not the last */
};

/* A block of memory that records of a result point into (key and data of
 * many records in one allocation), freed with the result. */
struct kfs_block {
	struct kfs_block *next;         /* owned: the block allocated before */
	unsigned char mem[];
};

struct kfs_get_result {
	size_t n;
	struct kfs_record *records;     /* owned */
	char *next_iterator;            /* owned; NULL once a closed shard is read to its end */
	int64_t millis_behind;          /* MillisBehindLatest */
	struct kfs_name_list children;  /* child shards, when read to the end of a closed shard */
	struct kfs_block *blocks;       /* owned: when not NULL, the key and data of
					 * every record point into these blocks
					 * (the local engine); when NULL each record
					 * owns its own (aws) */
};

/* get_records flags. */
#define KFS_GET_LAST_SEQ 0x1    /* only the last record's seq is needed: the
				 * others may be left "" (a reader resuming
				 * from it; views need them all) */
#define KFS_GET_STALE_OK 0x2    /* the caller looks again anyway (a follower,
				 * a file read to its end before, a size
				 * probe): at the tip, the backend's last look
				 * at it will do.  Without it, an empty answer
				 * means that nothing was there after the call
				 * began (where EOF is decided) */

/* Backend capabilities. */
#define KFS_CAP_CHEAP_PUT 0x1   /* a put costs little: no point lingering to batch */
#define KFS_CAP_SIZES 0x2       /* describe_shard knows the bytes of shards */
#define KFS_CAP_BINARY_KEYS 0x4 /* partition keys may be any bytes, not only UTF-8 */
#define KFS_CAP_OUTAGES 0x8     /* EIO may be a remote service's passing outage */
#define KFS_CAP_READ_AHEAD 0x10 /* get_records costs no quota and no money:
				 * readers may ask for the next page early */

struct kfs_names;   /* backend/names.h */
struct kfs_wpos;

struct kfs_backend_ops {
	const char *name;
	unsigned caps;

	/* Frees the backend and everything it holds.  Safe on NULL impl. */
	void (*destroy)(void *impl);

	/* Streams: ListStreams, CreateStream (returns once ACTIVE),
	 * DeleteStream, DescribeStreamSummary. */
	int (*list_streams)(void *impl, struct kfs_name_list *out);
	int (*create_stream)(void *impl, const char *stream, int shard_count);
	int (*delete_stream)(void *impl, const char *stream);
	int (*describe_stream)(void *impl, const char *stream,
			       struct kfs_stream_desc *out);

	/* Shards: ListShards (closed shards too while retained). */
	int (*list_shards)(void *impl, const char *stream,
			   struct kfs_shard_list *out);
	int (*describe_shard)(void *impl, const char *stream,
			      const char *shard_id, struct kfs_shard_desc *out);

	/*
	 * PutRecords: stores what it can and reports each entry's result in
	 * the entry, so that only failed entries are retried.  Returns 0
	 * when the entries carry the results, or -errno when the whole call
	 * failed (then every entry's err is set to it too).
	 */
	int (*put_records)(void *impl, const char *stream,
			   struct kfs_put_entry *entries, size_t n);

	/*
	 * Optional, for KFS_CAP_CHEAP_PUT backends: stores n records of one
	 * partition key (hashed, no explicit hash key), in order, all or
	 * none, without an entry per record to fill (a big write is ~1,000
	 * lines).  Returns 0 when all are stored, 1 when none is and
	 * put_records is to be called for them instead: it reports each
	 * entry's result, so that what goes wrong (a bad key, a record over
	 * the limit, a failed append, a shard closed by a reshard) is told as
	 * it always is.  n <= KFS_CHEAP_PUT_BATCH_MAX.
	 */
	int (*put_run)(void *impl, const char *stream, const char *key,
		       const struct iovec *v, size_t n);

	/* GetShardIterator: *iter_out is malloc'd, the caller frees it. */
	int (*get_iterator)(void *impl, const char *stream, const char *shard_id,
			    const struct kfs_iter_spec *spec, char **iter_out);

	/* GetRecords: at most `limit` records (<= KFS_GET_LIMIT_MAX) and
	 * KFS_GET_BYTES_MAX bytes; `flags` are KFS_GET_* (a backend may
	 * ignore them: they only allow it to do less).  `out` is cleared
	 * with kfs_get_result_clear(). */
	int (*get_records)(void *impl, const char *iterator, int limit,
			   unsigned flags, struct kfs_get_result *out);

	/* UpdateShardCount (uniform scaling) and retention changes. */
	int (*update_shard_count)(void *impl, const char *stream, int target);
	int (*set_retention)(void *impl, const char *stream, int hours);

	/*
	 * Optional, NULL where the backend cannot:
	 *
	 * seek_bytes: an iterator at the record that holds byte `offset` of
	 * the shard rendered with `framing` (offset 0 is the first retained
	 * record), and how many bytes of that record precede the offset.
	 * An offset at or past the end gives a LATEST-like iterator and
	 * *skip_out = offset - size.
	 *
	 * sync: make every record stored so far in the stream durable
	 * (fdatasync), for a writer's fsync.
	 */
	int (*seek_bytes)(void *impl, const char *stream, const char *shard_id,
			  enum kfs_framing framing, uint64_t offset,
			  char **iter_out, uint64_t *skip_out);
	/*
	 * behind: what a shard holds after a reader's position: the records
	 * after record `seq` (or, seq "", from the first that arrived at or
	 * after from_ms; from_ms 0: the oldest retained), their bytes
	 * rendered with `framing`, and the newest record's arrival (-1 when
	 * the shard holds none).  For a reader's lag.
	 */
	int (*behind)(void *impl, const char *stream, const char *shard_id,
		      const char *seq, int64_t from_ms, enum kfs_framing framing,
		      uint64_t *records, uint64_t *bytes, int64_t *newest_ms);
	int (*sync)(void *impl, const char *stream);

	/*
	 * Key files (SPEC 3, backend/names.h).
	 *
	 * names: the backend's table of names (live, rotated, gone), which
	 * fs/ asks and changes; it lives as long as the backend.
	 *
	 * key_iterator: an iterator over the records of `key` in one shard,
	 * from position `start` (NULL: the shard's first retained record)
	 * to `end` (NULL: no end, it follows the tip as any iterator does).
	 * get_records through it returns only records of `key`, and, once
	 * at `end`, no next_iterator and no children.  Positions are those
	 * of the backend's names table for this shard.  *iter_out may be
	 * NULL (and 0 returned) when the window has nothing in the shard.
	 */
	struct kfs_names *(*names)(void *impl);
	int (*key_iterator)(void *impl, const char *stream, const char *shard_id,
			    const char *key, const struct kfs_wpos *start,
			    const struct kfs_wpos *end, char **iter_out);
};

struct kfs_backend {
	const struct kfs_backend_ops *ops;
	void *impl;
};

/* Bytes a record of `len` bytes takes in a file rendered with `f`. */
static inline uint64_t kfs_framed_len(enum kfs_framing f, const void *data,
				      size_t len)
{
	if (f == KFS_FRAMING_LINE &&
	    (len == 0 || ((const unsigned char *)data)[len - 1] != '\n'))
		return (uint64_t)len + 1;
	return len;
}

/* Frees what the lists and results own; the structs themselves are the
 * caller's and are left zeroed.  All are no-ops on empty values. */
void kfs_name_list_clear(struct kfs_name_list *l);
int kfs_name_list_add(struct kfs_name_list *l, const char *s);
void kfs_shard_list_clear(struct kfs_shard_list *l);
void kfs_get_result_clear(struct kfs_get_result *r);
/* A new block of `size` bytes owned by r (see kfs_get_result.blocks), or
 * NULL when out of memory.  Only for results whose records all live in
 * blocks. */
unsigned char *kfs_get_result_block(struct kfs_get_result *r, size_t size);
/* Moves the records of src to the end of dst, with what holds their
 * bytes; src is left without records (its iterator and children stay).
 * -EINVAL, and nothing moved, when one holds its records in blocks and
 * the other not (both non-empty); -ENOMEM. */
int kfs_get_result_take(struct kfs_get_result *dst, struct kfs_get_result *src);

const char *kfs_stream_status_name(enum kfs_stream_status s);
/* The service's name of an iterator type ("TRIM_HORIZON"...), NULL when t
 * is none. */
const char *kfs_iter_type_name(enum kfs_iter_type t);

/* Marks a put entry failed with err (-errno) and reason. */
void kfs_put_entry_fail(struct kfs_put_entry *en, int err, const char *reason);
/* Clears an entry's result, then checks what every backend checks before
 * storing it: a partition key of 1 to 256 bytes (-EINVAL) and data plus
 * key within max_record_bytes (-EFBIG).  Returns 0, or -errno after
 * marking the entry failed. */
int kfs_put_entry_check(struct kfs_put_entry *en, size_t max_record_bytes);

/* Destroys a backend made by one of the constructors; NULL is a no-op. */
void kfs_backend_free(struct kfs_backend *be);

#endif
