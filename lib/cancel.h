/*
 * cancel.h - lets a thread's blocking work give up early.
 *
 * A FUSE request runs in a worker thread; when its caller is interrupted
 * (Ctrl-C on a `cat` waiting in read) the request should end with EINTR
 * instead of finishing retries against a slow service.  The FUSE layer
 * sets a check for the thread while it serves such a request; the waits
 * and transfers of the backends ask it.  Threads without a check (the
 * producer's senders) are never cancelled.
 */
#ifndef KFS_CANCEL_H
#define KFS_CANCEL_H

#include <stdint.h>

typedef int (*kfs_cancel_fn)(void);

/* Sets this thread's check (NULL: none). */
void kfs_cancel_set(kfs_cancel_fn fn);
/* 1 when this thread's check says its work should end. */
int kfs_cancelled(void);
/* Sleeps ms (restarting after signals); -EINTR as soon as the thread is
 * cancelled (looked at every 50 ms), else 0. */
int kfs_sleep_cancellable(int64_t ms);

#endif
