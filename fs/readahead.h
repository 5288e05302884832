/*
 * readahead.h - a reader's next page, asked for early.
 *
 * A plain shard reader on a backend with KFS_CAP_READ_AHEAD asks for its
 * next page in a thread of its own while it renders the page it has
 * (fs/reader.c).  The reader takes the result when it gets to that
 * iterator, and only when it holds records: at the tip, and on errors,
 * it asks again then, so that the end of the file and errors are as of
 * the read.  The threads are counted in a struct kfs_read_ahead, so that
 * the backend is freed only once none is left (readers still open at
 * unmount included).
 */
#ifndef KFS_READAHEAD_H
#define KFS_READAHEAD_H

#include <pthread.h>

#include "backend/backend.h"

struct kfs_read_ahead {
	pthread_mutex_t lock;
	pthread_cond_t cond;             /* running went down */
	int running;                     /* threads reading; protected by lock */
};

void kfs_read_ahead_init(struct kfs_read_ahead *ra);
/* Waits until no thread reads ahead, then frees ra's locks; before the
 * backend is freed. */
void kfs_read_ahead_destroy(struct kfs_read_ahead *ra);

/* One page being read early, owned by one reader. */
struct kfs_ahead;

/* Starts a get_records of `limit` records at iter (copied) in a thread
 * counted by ra; NULL when it could not start (the reader then reads the
 * page itself, later). */
struct kfs_ahead *kfs_ahead_start(struct kfs_backend *be,
				  struct kfs_read_ahead *ra, const char *iter,
				  int limit);
/* Joins *a (if any; *a is NULL after): 1 with its page in *res when it
 * was read from iter and holds records, else 0 (the page dropped). */
int kfs_ahead_take(struct kfs_ahead **a, const char *iter,
		   struct kfs_get_result *res);
/* Joins and drops *a, if any. */
void kfs_ahead_drop(struct kfs_ahead **a);

#endif
