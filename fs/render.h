/*
 * render.h - what a reader (reader.h) renders records into: a buffer of
 * bytes not yet returned to read(2), and the JSON lines of views
 * (docs/reading.md, "JSON lines").
 *
 * Not thread-safe: a buffer belongs to one reader, whose owner
 * serializes calls.
 */
#ifndef KFS_RENDER_H
#define KFS_RENDER_H

#include <stddef.h>

#include "backend/backend.h"

/* Rendered bytes: buf[off .. len) are not returned yet. */
struct kfs_rbuf {
	unsigned char *buf;             /* owned, freed by the reader */
	size_t len;                     /* bytes rendered */
	size_t off;                     /* of which returned */
	size_t cap;                     /* bytes allocated */
};

/* Room for n more bytes at buf + len (returned bytes are dropped first).
 * 0 or -ENOMEM. */
int kfs_rbuf_reserve(struct kfs_rbuf *b, size_t n);
/* Appends n bytes.  0 or -ENOMEM. */
int kfs_rbuf_put(struct kfs_rbuf *b, const void *p, size_t n);
/* Appends rec as one JSON line (SequenceNumber, ApproximateArrivalTimestamp,
 * PartitionKey, ShardId, Data as UTF-8 text or base64, DataEncoding).
 * 0 or -ENOMEM. */
int kfs_render_json(struct kfs_rbuf *b, const char *shard,
		    const struct kfs_record *rec);

/* Appends n bytes at s as a JSON string (bytes that are not UTF-8 as
 * U+FFFD).  0 or -ENOMEM. */
int kfs_render_json_string(struct kfs_rbuf *b, const void *s, size_t n);

#endif
