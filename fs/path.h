/* path.h - what a path of the mount names (SPEC section 2). */
#ifndef KFS_PATH_H
#define KFS_PATH_H

#include <limits.h>

#include "backend/backend.h"

enum kfs_node {
	KFS_NODE_ROOT,    /* "/" */
	KFS_NODE_STREAM,  /* "/S" */
	KFS_NODE_SHARD,   /* "/S/shardId-000000000000" */
	KFS_NODE_VIEW,    /* "/S/shardId-000000000000@POSITION" */
	KFS_NODE_KEY,     /* "/S/anything-else": a partition-key file */
};

struct kfs_path {
	enum kfs_node kind;
	int valid_stream;                        /* stream is a valid name */
	char stream[KFS_STREAM_NAME_MAX + 1];    /* for every kind but ROOT */
	char name[NAME_MAX + 1];                 /* shard id, view or key */
};

/* Splits `path`; -ENOENT for paths deeper than a stream's entries. */
int kfs_path_parse(const char *path, struct kfs_path *out);

#endif
