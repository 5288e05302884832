/* readahead.c - see readahead.h. */
#include "readahead.h"

#include <stdlib.h>
#include <string.h>

/* The thread's job.  Until it is joined only the thread touches the
 * fields below but thread. */
struct kfs_ahead {
	pthread_t thread;
	struct kfs_backend *be;
	struct kfs_read_ahead *ra;     /* counts the thread */
	char *iter;                    /* owned: where it reads from */
	int limit;
	int rc;                        /* get_records' answer */
	struct kfs_get_result res;     /* its records */
};

void kfs_read_ahead_init(struct kfs_read_ahead *ra)
{
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->cond, NULL);
	ra->running = 0;
}

void kfs_read_ahead_destroy(struct kfs_read_ahead *ra)
{
	pthread_mutex_lock(&ra->lock);
	while (ra->running > 0)
		pthread_cond_wait(&ra->cond, &ra->lock);
	pthread_mutex_unlock(&ra->lock);
	pthread_cond_destroy(&ra->cond);
	pthread_mutex_destroy(&ra->lock);
}

static void *ahead_main(void *arg)
{
	struct kfs_ahead *a = arg;
	struct kfs_read_ahead *ra = a->ra;

	a->rc = a->be->ops->get_records(a->be->impl, a->iter, a->limit,
					KFS_GET_LAST_SEQ, &a->res);
	/* The last touch of a: the reader may join and free it now. */
	pthread_mutex_lock(&ra->lock);
	ra->running--;
	pthread_cond_broadcast(&ra->cond);
	pthread_mutex_unlock(&ra->lock);
	return NULL;
}

struct kfs_ahead *kfs_ahead_start(struct kfs_backend *be,
				  struct kfs_read_ahead *ra, const char *iter,
				  int limit)
{
	struct kfs_ahead *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->be = be;
	a->ra = ra;
	a->limit = limit;
	a->iter = strdup(iter);
	if (!a->iter) {
		free(a);
		return NULL;
	}
	pthread_mutex_lock(&ra->lock);
	ra->running++;
	pthread_mutex_unlock(&ra->lock);
	if (pthread_create(&a->thread, NULL, ahead_main, a) != 0) {
		pthread_mutex_lock(&ra->lock);
		ra->running--;
		pthread_cond_broadcast(&ra->cond);
		pthread_mutex_unlock(&ra->lock);
		free(a->iter);
		free(a);
		return NULL;
	}
	return a;
}

/* Waits for the page being read ahead, if any, and hands it over. */
static struct kfs_ahead *ahead_join(struct kfs_ahead **ap)
{
	struct kfs_ahead *a = *ap;

	if (a) {
		*ap = NULL;
		pthread_join(a->thread, NULL);
	}
	return a;
}

static void ahead_free(struct kfs_ahead *a)
{
	if (!a)
		return;
	kfs_get_result_clear(&a->res);
	free(a->iter);
	free(a);
}

int kfs_ahead_take(struct kfs_ahead **ap, const char *iter,
		   struct kfs_get_result *res)
{
	struct kfs_ahead *a = ahead_join(ap);
	int ok = a && a->rc == 0 && a->res.n > 0 && strcmp(a->iter, iter) == 0;

	if (ok) {
		*res = a->res;
		memset(&a->res, 0, sizeof(a->res));
	}
	ahead_free(a);
	return ok;
}

void kfs_ahead_drop(struct kfs_ahead **ap)
{
	ahead_free(ahead_join(ap));
}
