/* path.c - see path.h. */
#include "path.h"

#include <errno.h>
#include <string.h>

#include "lib/util.h"

int kfs_path_parse(const char *path, struct kfs_path *out)
{
	const char *p = path, *slash;
	size_t n;

	memset(out, 0, sizeof(*out));
	while (*p == '/')
		p++;
	if (!*p) {
		out->kind = KFS_NODE_ROOT;
		return 0;
	}
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n > KFS_STREAM_NAME_MAX) {
		/* Too long to be a stream; keep a prefix for messages. */
		memcpy(out->stream, p, KFS_STREAM_NAME_MAX);
		out->kind = KFS_NODE_STREAM;
		return slash ? -ENOENT : 0;
	}
	memcpy(out->stream, p, n);
	out->valid_stream = kfs_valid_stream_name(out->stream);
	out->kind = KFS_NODE_STREAM;
	if (!slash || !slash[1])
		return 0;
	p = slash + 1;
	if (strchr(p, '/') || strlen(p) > NAME_MAX)
		return -ENOENT;
	strcpy(out->name, p);
	if (kfs_is_shard_id(out->name)) {
		out->kind = KFS_NODE_SHARD;
	} else if (strncmp(out->name, "shardId-", 8) == 0 &&
		   strlen(out->name) > 20 && out->name[20] == '@') {
		out->name[20] = '\0';
		if (kfs_is_shard_id(out->name)) {
			out->name[20] = '@';
			out->kind = KFS_NODE_VIEW;
		} else {
			out->name[20] = '@';
			out->kind = KFS_NODE_KEY;
		}
	} else {
		out->kind = KFS_NODE_KEY;
	}
	return 0;
}
