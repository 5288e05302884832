/*
 * names_journal.h - a stream's names on disk (streams/<S>/names): an
 * append-only journal of changes, replayed at open, compacted when
 * large.  Format: the comment at the top of names_journal.c.
 *
 * Thread safety: every function may be called from many threads at once,
 * except kfs_njournal_close(), which must be the last call.
 */
#ifndef KFS_NAMES_JOURNAL_H
#define KFS_NAMES_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../names.h"

struct kfs_njournal;

/* The journal of the stream whose directory is stream_dir (a path); the
 * file is made at the first change.  *out is the caller's, freed with
 * kfs_njournal_close(). */
int kfs_njournal_open(const char *stream_dir, struct kfs_njournal **out);
void kfs_njournal_close(struct kfs_njournal *j);

/* Calls fn for every name state of the journal, in order (the last one
 * of a name wins); a torn or bad tail is cut off (logged once).  At
 * open, before any change.  0 or -errno (fn's error ends it). */
int kfs_njournal_replay(struct kfs_njournal *j,
			int (*fn)(void *ctx, const struct kfs_name_rec *r),
			void *ctx);

/* Appends one change (n name states, kept or lost together): one pwrite,
 * not synced.  0 or -errno (nothing of it kept). */
int kfs_njournal_append(struct kfs_njournal *j, const struct kfs_name_rec *v,
			size_t n);

/* fdatasync when changes were appended since the last one. */
int kfs_njournal_sync(struct kfs_njournal *j);

/* Changes appended so far (a compaction checks none came meanwhile). */
uint64_t kfs_njournal_changes(struct kfs_njournal *j);
/* 1 when the journal is large enough to compact: over 1 MiB and over 4
 * times its size after the last compaction. */
int kfs_njournal_big(struct kfs_njournal *j);
/* Replaces the journal with v (every name state of the stream, taken
 * when kfs_njournal_changes() said `changes`): a temporary file,
 * fsync'd, renamed over.  -EAGAIN, nothing done, when a change came
 * since. */
int kfs_njournal_compact(struct kfs_njournal *j, uint64_t changes,
			 const struct kfs_name_rec *v, size_t n);

#endif
