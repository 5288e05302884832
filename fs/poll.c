/*
 * poll.c - poll(2) on views: a view polled at its tip goes on a list that
 * the poll thread looks at again when records are stored (and every poll
 * interval), telling the kernel through the poll handle when it became
 * readable.
 */
#include "fs/fs-internal.h"

#include <poll.h>

#include "lib/log.h"

/* Adds h to the handles the poll thread watches, with ph (the previous
 * one, if any, is dropped). */
static void pollers_add(struct kfs_handle *h, struct fuse_pollhandle *ph)
{
	struct kfs_fs *fs = h->fs;
	struct fuse_pollhandle *old;
	int added = 0;

	pthread_mutex_lock(&fs->poll_lock);
	old = h->ph;
	h->ph = ph;
	if (!h->on_pollers) {
		h->on_pollers = 1;
		h->pnext = fs->pollers;
		fs->pollers = h;
		added = 1;
		pthread_cond_signal(&fs->poll_cond);
	}
	pthread_mutex_unlock(&fs->poll_lock);
	if (added) {
		pthread_mutex_lock(&fs->tails_lock);
		h->refs++;
		pthread_mutex_unlock(&fs->tails_lock);
	}
	if (old)
		fuse_pollhandle_destroy(old);
}

/* Takes h off the watched handles; returns its poll handle (or NULL) and
 * whether it was there (the caller owes an unref). */
static struct fuse_pollhandle *pollers_del(struct kfs_handle *h, int *was)
{
	struct kfs_fs *fs = h->fs;
	struct fuse_pollhandle *ph;

	pthread_mutex_lock(&fs->poll_lock);
	*was = h->on_pollers;
	if (h->on_pollers) {
		struct kfs_handle **pp = &fs->pollers;
		while (*pp != h)
			pp = &(*pp)->pnext;
		*pp = h->pnext;
		h->pnext = NULL;
		h->on_pollers = 0;
	}
	ph = h->ph;
	h->ph = NULL;
	pthread_mutex_unlock(&fs->poll_lock);
	return ph;
}

/* Takes h off the polled handles (see fs-internal.h). */
void kfs_poll_drop(struct kfs_handle *h)
{
	int was;
	struct fuse_pollhandle *ph = pollers_del(h, &was);

	if (ph)
		fuse_pollhandle_destroy(ph);
	if (was)
		kfs_handle_unref(h);
}

int kfs_poll(const char *path, struct fuse_file_info *fi,
	     struct fuse_pollhandle *ph, unsigned *reventsp)
{
	struct kfs_handle *h = (struct kfs_handle *)(uintptr_t)fi->fh;
	int ready = 1;

	if (h->rd && kfs_reader_follows(h->rd)) {
		pthread_mutex_lock(&h->lock);
		ready = kfs_reader_poll(h->rd);
		pthread_mutex_unlock(&h->lock);
	}
	*reventsp = 0;
	if (ready != 0) {
		/* Data, the end, or an error that the read will tell. */
		*reventsp |= h->readable ? (POLLIN | POLLRDNORM) : 0;
		if (ready < 0)
			*reventsp |= POLLERR;
	}
	if (h->writable)
		*reventsp |= POLLOUT | POLLWRNORM;
	if (ph) {
		if (ready == 0)
			pollers_add(h, ph);   /* the poll thread tells */
		else
			fuse_pollhandle_destroy(ph);
	}
	return 0;
}

/*
 * The poll thread: when records are stored, and every poll interval,
 * looks again for the views being polled, and tells the kernel of those
 * that became readable.
 */
void *kfs_poll_main(void *arg)
{
	struct kfs_fs *fs = arg;

	for (;;) {
		uint64_t gen = kfs_follow_any(&fs->follow);
		struct kfs_handle *ready = NULL, *h, *next;

		pthread_mutex_lock(&fs->poll_lock);
		/* With nobody polling, stores need not wake this thread: it
		 * sleeps until a poller comes (each store would otherwise
		 * cost a wake-up and a lock handed back and forth). */
		while (!fs->pollers && !fs->poll_stop) {
			pthread_cond_wait(&fs->poll_cond, &fs->poll_lock);
			gen = kfs_follow_any(&fs->follow);
		}
		if (fs->poll_stop) {
			pthread_mutex_unlock(&fs->poll_lock);
			break;
		}
		for (h = fs->pollers; h; h = h->pnext) {
			pthread_mutex_lock(&fs->tails_lock);
			h->refs++;
			pthread_mutex_unlock(&fs->tails_lock);
			h->tnext_poll = ready;
			ready = h;
		}
		pthread_mutex_unlock(&fs->poll_lock);
		for (h = ready; h; h = next) {
			int r = 0;

			next = h->tnext_poll;
			/* A read under way will see the records itself. */
			if (pthread_mutex_trylock(&h->lock) == 0) {
				r = kfs_reader_poll(h->rd);
				pthread_mutex_unlock(&h->lock);
			}
			if (r != 0) {
				int was;
				struct fuse_pollhandle *ph = pollers_del(h, &was);
				if (ph) {
					fuse_notify_poll(ph);
					fuse_pollhandle_destroy(ph);
				}
				if (was)
					kfs_handle_unref(h);
			}
			kfs_handle_unref(h);
		}
		kfs_follow_wait(&fs->follow, NULL, gen, fs->opt->poll_ms);
	}
	return NULL;
}

/* Stops the poll thread and drops the poll handles; before the session
 * goes. */
void kfs_poll_stop(struct kfs_fs *fs)
{
	pthread_mutex_lock(&fs->poll_lock);
	fs->poll_stop = 1;
	pthread_cond_signal(&fs->poll_cond);
	pthread_mutex_unlock(&fs->poll_lock);
	kfs_follow_notify(&fs->follow, "");
	if (fs->poll_started)
		pthread_join(fs->poll_thread, NULL);
	fs->poll_started = 0;
	for (;;) {
		struct kfs_handle *h;

		pthread_mutex_lock(&fs->poll_lock);
		h = fs->pollers;
		pthread_mutex_unlock(&fs->poll_lock);
		if (!h)
			break;
		kfs_poll_drop(h);
	}
}
