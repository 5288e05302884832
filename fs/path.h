/* path.h - what a path of the mount names (SPEC section 2, docs/reading.md). */
#ifndef KFS_PATH_H
#define KFS_PATH_H

#include <limits.h>
#include <stdint.h>

#include "backend/backend.h"

enum kfs_node {
	KFS_NODE_ROOT,    /* "/" */
	KFS_NODE_STREAM,  /* "/S" */
	KFS_NODE_SHARD,   /* "/S/shardId-000000000000", or a view of it */
	KFS_NODE_KEY,     /* "/S/anything-else": a partition-key file, or a view */
	KFS_NODE_SVIEW,   /* "/S/@POSITION": the stream-wide view */
	KFS_NODE_METRICS, /* "/@metrics": the counters (docs/metrics.md) */
};

/* The metrics file of the root: '@' is never in a stream name. */
#define KFS_METRICS_NAME "@metrics"

#define KFS_POS_SEQ_MAX 128      /* digits of a sequence number in a name */
#define KFS_READER_NAME_MAX 64   /* a named reader's name (fs/named.h) */

/* Named readers: "@READER=NAME" follows, "@BATCH=NAME" ends at the tip. */
enum kfs_named_form { KFS_NAMED_NONE, KFS_NAMED_FOLLOW, KFS_NAMED_BATCH };

/* Where a view starts: "@POSITION" after a shard id, a key or nothing.
 * A named reader ("@READER=NAME[,POSITION]", "@BATCH=...") starts where
 * NAME committed last; type, seq and timestamp_ms are then POSITION, for
 * its first use (TRIM_HORIZON when not given). */
struct kfs_position {
	enum kfs_named_form named;
	char rname[KFS_READER_NAME_MAX + 1];
	int first_given;         /* named: ",POSITION" was given */
	enum kfs_iter_type type;
	char seq[KFS_POS_SEQ_MAX + 1]; /* the two sequence-number types */
	int64_t timestamp_ms;    /* AT_TIMESTAMP */
	int json;                /* ".jsonl": one JSON object a record */
};

struct kfs_path {
	enum kfs_node kind;
	int valid_stream;                        /* stream is a valid name */
	int view;                                /* SHARD or KEY: "@POSITION" given */
	struct kfs_position pos;                 /* when view, or SVIEW */
	char stream[KFS_STREAM_NAME_MAX + 1];    /* for every kind but ROOT */
	char name[NAME_MAX + 1];                 /* shard id or key, without "@..." */
	char full[NAME_MAX + 1];                 /* the entry's whole name */
};

/*
 * Splits `path`.  Returns -ENOENT for paths deeper than a stream's
 * entries, and -EINVAL for a malformed position of a view (out is filled
 * as far as known, for messages).
 */
int kfs_path_parse(const char *path, struct kfs_path *out);

/* Parses POSITION (what follows '@').  Returns 0, -EINVAL when malformed,
 * or -ENOENT when s does not begin with a position keyword. */
int kfs_position_parse(const char *s, struct kfs_position *out);

/* 1 when s (n bytes) is a valid reader name: 1 to 64 of [A-Za-z0-9_.-],
 * not starting with '.'. */
int kfs_named_valid(const char *s, size_t n);


#endif
