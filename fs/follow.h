/*
 * follow.h - wakes readers waiting at the tip of a stream.
 *
 * Each stream has a generation that grows every time records of it are
 * stored through the mount (the producer calls kfs_follow_notify).  A
 * follower reads the generation, looks for records, and when there are
 * none waits for the generation to change or for its poll interval.
 */
#ifndef KFS_FOLLOW_H
#define KFS_FOLLOW_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct kfs_follow_stream;

struct kfs_follow {
	pthread_mutex_t lock;              /* "follow lock": protects below */
	pthread_cond_t cond;               /* broadcast on every change */
	struct kfs_follow_stream *streams; /* generations, by stream */
	uint64_t any;                      /* changes of all streams */
};

void kfs_follow_init(struct kfs_follow *f);
void kfs_follow_destroy(struct kfs_follow *f);
/* Records of `stream` were stored. */
void kfs_follow_notify(struct kfs_follow *f, const char *stream);
/* The generation of `stream` now. */
uint64_t kfs_follow_gen(struct kfs_follow *f, const char *stream);
/* The changes of all streams so far. */
uint64_t kfs_follow_any(struct kfs_follow *f);
/* Waits up to timeout_ms for the generation of `stream` (or, with stream
 * NULL, of any stream) to differ from `seen`.  Returns 1 when it does,
 * 0 on timeout. */
int kfs_follow_wait(struct kfs_follow *f, const char *stream, uint64_t seen,
		    int timeout_ms);

#endif
