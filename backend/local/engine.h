/*
 * engine.h - internals of the local engine shared with its unit tests.
 *
 * The public interface is local.h (kfs_local_open) plus the operations
 * table of backend.h.  On-disk layout: see the comment at the top of
 * engine.c (data_dir) and seglog.c (a shard's log).
 */
#ifndef KFS_LOCAL_ENGINE_H
#define KFS_LOCAL_ENGINE_H

#include "../backend.h"

#define KFS_LOCAL_SHARDS_MAX 1024          /* shards per CreateStream */
#define KFS_LOCAL_RETENTION_DEFAULT 24     /* hours */
#define KFS_LOCAL_SYNC_INTERVAL_MS 1000    /* background fdatasync of dirty shards */
#define KFS_LOCAL_PURGE_INTERVAL_MS 60000  /* background retention pass */

/*
 * Runs a retention pass now, as the background thread does every
 * KFS_LOCAL_PURGE_INTERVAL_MS: deletes every segment whose records are
 * all past their stream's retention, and every closed shard (resharding)
 * that holds no retained record and was closed longer ago than the
 * retention period.  Returns the number of segments deleted, or -errno.
 */
int kfs_local_purge(struct kfs_backend *be);

#endif
