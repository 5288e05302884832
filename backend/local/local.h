/*
 * local.h - the embedded local engine: a durable on-disk stream store.
 */
#ifndef KFS_LOCAL_H
#define KFS_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"
#include "lib/clock.h"

struct kfs_local_config {
	const char *data_dir;       /* created if missing, then locked */
	size_t max_record_bytes;    /* data + key; 0 means the default 1 MiB */
	/* The clock of arrival and creation times and of retention
	 * (lib/clock.h; borrowed, it must outlive the engine); NULL means
	 * the real clock.  Tests pass their own to exercise retention. */
	struct kfs_clock *clock;
	/* Size at which a shard's log starts a new segment file; 0 means
	 * the default 64 MiB.  Tests use a tiny one. */
	uint64_t segment_bytes;
	/* Format of the segment files it starts (1 or 2; 0 means the
	 * default, 2): see seglog.h.  Existing ones keep theirs. */
	int log_format;
};

/*
 * Opens the engine on cfg->data_dir, creating it (mode 0700) if missing,
 * takes its lock and recovers every shard's log.  A directory locked by
 * another process gives -EBUSY and a log line naming the holder.
 * On success *out is the caller's, freed with kfs_backend_free().
 */
int kfs_local_open(const struct kfs_local_config *cfg, struct kfs_backend **out);

/*
 * Rewrites the pid recorded in data_dir's LOCK file with the calling
 * process's.  The daemon calls it in the child after daemonizing: the
 * lock itself (an flock on an open file) is inherited across fork().
 * Returns 0 or -errno.
 */
int kfs_local_note_pid(struct kfs_backend *be);

#endif
