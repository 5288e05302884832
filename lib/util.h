/* util.h - small helpers shared by the FUSE layer and the backends. */
#ifndef KFS_UTIL_H
#define KFS_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t kfs_now_ms(void);
/* Milliseconds of CLOCK_MONOTONIC, for waits and ages. */
int64_t kfs_mono_ms(void);
/* Fills ts with the CLOCK_REALTIME instant `ms` from now, for timed waits
 * on condition variables made with the default clock. */
struct timespec;
void kfs_deadline(struct timespec *ts, int64_t ms_from_now);

/* 1 when name matches [a-zA-Z0-9_.-]{1,128}; such a name is also never
 * "." or ".." and so never leaves its directory. */
int kfs_valid_stream_name(const char *name);
/* 1 when the partition key is 1 to 256 bytes. */
int kfs_valid_partition_key(const char *key);
/* 1 when name is "shardId-" followed by exactly 12 digits. */
int kfs_is_shard_id(const char *name);

/* Formats ms since the epoch as ISO 8601 UTC with milliseconds. */
void kfs_format_iso8601(int64_t ms, char *buf, size_t size);
/* Parses a time as ISO 8601 (YYYY-MM-DDTHH:MM:SS, an optional fraction of
 * a second, an optional zone Z, +HH:MM, +HHMM or +HH; no zone is UTC) or
 * as epoch seconds with an optional fraction.  Fractions past the
 * millisecond are dropped.  Returns 0, or -1 when s is neither. */
int kfs_parse_timestamp(const char *s, int64_t *ms_out);
/* The ISO 8601 part of kfs_parse_timestamp; with need_zone, a time
 * without a zone is refused too. */
int kfs_parse_iso8601(const char *s, int need_zone, int64_t *ms_out);

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when there
 * is none: no overlong forms, no surrogates, nothing past U+10FFFF. */
size_t kfs_utf8_seq(const unsigned char *p, size_t n);
/* 1 when the n bytes at data are valid UTF-8. */
int kfs_utf8_valid(const void *data, size_t n);

#endif
