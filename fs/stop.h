/*
 * stop.h - the bound of a stop.  SIGTERM, SIGINT, SIGHUP, the end of the
 * FUSE loop (an unmount), or the mount gone from the mount table while
 * files are in use (a lazy unmount) begin it; records still queued get the
 * bound to be delivered, whatever the FUSE workers are waiting for; at
 * its end the producer fails what is left (kfs_producer_abandon), which
 * releases the writers waiting in close, fsync or write, so that the
 * FUSE loop ends, the mount goes and the daemon exits.
 */
#ifndef KFS_STOP_H
#define KFS_STOP_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "backend/producer.h"

struct fuse_session;

struct kfs_stop {
	struct kfs_producer *prod;   /* borrowed; read-only after start */
	int bound_ms;                /* read-only after start */
	int fds[2];                  /* the watcher's pipe: 's' begins, 'q' ends */
	const char *mountpoint;      /* borrowed; read-only after start */
	long mount_id;               /* in mountinfo; -1: not watched */
	FILE *mountinfo;             /* /proc/self/mountinfo; the watcher's */
	pthread_t thread;            /* the watcher */
	int started;                 /* the watcher runs; main thread only */
	pthread_mutex_t lock;        /* protects the three fields below */
	int64_t begun_ms;            /* monotonic ms of the beginning, 0 before */
	uint64_t failed_before;      /* records failed before the beginning */
	int abandoned;               /* the bound ran out */
};

/* Starts the watcher and puts its signal handlers in front of libfuse's
 * (call after fuse_set_signal_handlers; theirs still run first); it also
 * watches the mount table for the mount on `mountpoint` (absolute, as
 * libfuse gives it; borrowed until kfs_stop_end).  0 or -errno. */
int kfs_stop_start(struct kfs_stop *s, struct kfs_producer *prod,
		   int bound_ms, const char *mountpoint);
/* Begins the stop now unless a signal did. */
void kfs_stop_begin(struct kfs_stop *s);
/* Milliseconds left of the bound (0 when spent; bound_ms before it began). */
int kfs_stop_left_ms(struct kfs_stop *s);
/* Records failed since the stop began. */
uint64_t kfs_stop_failed(struct kfs_stop *s);
/* Ends the watcher and gives libfuse's handlers back.  No-op if not
 * started. */
void kfs_stop_end(struct kfs_stop *s);

#endif
