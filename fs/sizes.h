/*
 * sizes.h - the sizes of shard files on backends that do not know them
 * (AWS): the bytes the mount has learned a shard holds, in the mount's
 * framing, counted from TRIM_HORIZON (docs/reading.md, "tail -f").
 *
 * A shard's size is learned by reading it: the first look reads it from
 * TRIM_HORIZON for up to a budget, later looks (at most one a poll
 * interval) read on from where the last stopped, and plain readers that
 * got further report where they are, so a size never falls behind what a
 * reader has read.
 */
#ifndef KFS_SIZES_H
#define KFS_SIZES_H

#include <stdint.h>

#include "backend/backend.h"

struct kfs_sizes;

/* be is borrowed.  Returns 0 or -ENOMEM. */
int kfs_sizes_new(struct kfs_backend *be, enum kfs_framing framing,
		  int poll_ms, struct kfs_sizes **out);
void kfs_sizes_free(struct kfs_sizes *s);

/* The bytes known of the shard, after learning more when the last look is
 * older than the poll interval and nobody else is looking.  created_ms is
 * the stream's creation time: a stream deleted and made again under the
 * same name starts from 0. */
uint64_t kfs_sizes_get(struct kfs_sizes *s, const char *stream,
		       int64_t created_ms, const char *shard);

/* A reader from TRIM_HORIZON has rendered the shard up to byte `end`,
 * whose last record is `last_seq`. */
void kfs_sizes_report(struct kfs_sizes *s, const char *stream,
		      int64_t created_ms, const char *shard, uint64_t end,
		      const char *last_seq);

#endif
