/*
 * reader.h - the cursor of one open file that is read: a shard file, a
 * key file, or a view (docs/reading.md).
 *
 * A reader walks one or more shards ("lanes") with shard iterators and
 * renders their records as the file's bytes: text in the mount's framing,
 * or JSON lines.  A shard reader has one lane; key files and stream views
 * have a lane per shard of the stream, a shard starting once its parents
 * are read to their end, and the lanes taking turns.
 *
 * A reader is not thread-safe: its owner serializes calls (the handle
 * lock of struct kfs_handle, fs/fs-internal.h).
 */
#ifndef KFS_READER_H
#define KFS_READER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "fs/path.h"
#include "fs/sizes.h"
#include "lib/metrics.h"
#include "readahead.h"

/* Read-ahead (struct kfs_read_ahead): readahead.h. */

struct kfs_reader_spec {
	const char *stream;
	enum kfs_node kind;              /* KFS_NODE_SHARD, _KEY or _SVIEW */
	const char *name;                /* shard id or key; "" for SVIEW */
	const struct kfs_position *pos;  /* a view's position; NULL: a plain file */
	enum kfs_framing framing;        /* text rendering */
	struct kfs_sizes *sizes;         /* plain shard readers report here, or NULL */
	int64_t created_ms;              /* the stream's creation time, for sizes */
	struct kfs_read_ahead *ahead;    /* plain shard readers read ahead, or NULL */
	struct kfs_metrics *metrics;     /* counts the records read, or NULL */
	struct kfs_named *named;         /* a named reader's name (fs/named.h), or
					  * NULL; pos is then the view's */
};

struct kfs_reader;
struct kfs_named;

/*
 * Makes a reader.  A view's position is checked and fixed now (LATEST is
 * the tip at open; a sequence number is looked up): -EINVAL when it is
 * not valid for the shard or stream, with why[] saying so.
 */
int kfs_reader_open(struct kfs_backend *be, const struct kfs_reader_spec *spec,
		    struct kfs_reader **out, char *why, size_t why_size);
void kfs_reader_free(struct kfs_reader *r);

/*
 * Copies up to `size` bytes from file offset `offset`.  Returns the bytes
 * copied, 0 at the end (a plain file at the current tip, a shard view of a
 * closed shard read to its end), -EAGAIN when a view is at the tip and
 * more may come, or -errno.  Never waits for records that are not there.
 */
ssize_t kfs_reader_read(struct kfs_reader *r, char *dst, size_t size,
			uint64_t offset);

/*
 * For poll: 1 when a read would return at once (bytes buffered, or the
 * end), else one look for records (one GetRecords a lane) and 1 when it
 * found some, 0 when not, -errno when the look failed (a read will tell).
 */
int kfs_reader_poll(struct kfs_reader *r);

/* 1 for views, which wait at the tip. */
int kfs_reader_follows(const struct kfs_reader *r);

#endif
