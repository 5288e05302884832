/* ops.h - the FUSE operations table of kinesisfs. */
#ifndef KFS_OPS_H
#define KFS_OPS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "backend/producer.h"
#include "fs/follow.h"
#include "fs/options.h"
#include "fs/reader.h"
#include "fs/sizes.h"
#include "lib/metrics.h"

struct kfs_handle;
struct kfs_named_table;

/* The state every operation reaches through fuse_get_context(). */
struct kfs_fs {
	struct kfs_backend *be;           /* the engine (owned by main) */
	struct kfs_producer *prod;        /* batches writes (owned by main) */
	const struct kfs_options *opt;    /* read-only */
	struct kfs_metrics *metrics;      /* counters (owned by main), or NULL;
					   * it has its own lock */
	int64_t start_ms;                 /* mount time: the root's times */

	pthread_mutex_t tails_lock;       /* "tails lock": protects below */
	struct kfs_handle *tails;         /* handles holding a partial line,
					   * sent at the end of the mount */
	struct kfs_handle *open;          /* every handle the kernel holds */

	struct kfs_follow follow;         /* wakes readers at the tip */
	struct kfs_sizes *sizes;          /* shard sizes the backend does not know */
	struct kfs_read_ahead ahead;      /* readers' read-ahead threads */
	struct kfs_named_table *named;    /* named readers' state (owned), or
					   * NULL: none can be opened */

	pthread_mutex_t poll_lock;        /* "poll lock": protects below */
	struct kfs_handle *pollers;       /* views polled and not yet readable */
	pthread_cond_t poll_cond;         /* a poller was added, or stop */
	int poll_stop;                    /* the poll thread must end */
	int poll_started;                 /* the poll thread runs */
	pthread_t poll_thread;            /* tells the kernel of readable views */
};

/* Sets up fs (the locks; the poll thread starts in init). */
void kfs_fs_init(struct kfs_fs *fs, struct kfs_backend *be,
		 struct kfs_producer *prod, const struct kfs_options *opt);
/* For the producer's on_stored: records of `stream` were stored (arg is
 * the kfs_fs). */
void kfs_fs_on_stored(void *arg, const char *stream);
/* Stops the poll thread and hands the partial lines of files
 * still open to the producer; call after the FUSE loop ended. */
void kfs_fs_shutdown(struct kfs_fs *fs);
/* Frees what fs holds; call once the producer is freed (its deliveries
 * wake readers through fs). */
void kfs_fs_free(struct kfs_fs *fs);

struct fuse_operations;
extern const struct fuse_operations kfs_fuse_ops;

#endif
