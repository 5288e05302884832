/*
 * producer_stop.c - the producer's stop (producer.h): kicking every
 * stream, the drain to a deadline, abandoning what is left at it, and
 * the free.
 */
#include "producer_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

/* Fails the batches in flight of ps's senders to their writers; ps->lock
 * held.  Their senders, back from the backend, only let go of them. */
static size_t fail_inflight(struct pstream *ps)
{
	struct kfs_producer *p = ps->p;
	size_t n = 0;

	for (int i = 0; i < ps->nthreads; i++) {
		struct sender *me = &ps->senders[i];

		if (!me->flight || me->abandoned)
			continue;
		for (size_t k = 0; k < me->flight_n; k++)
			prod_ack_resolve_n(me->flight[k]->ack, -EIO,
				      me->flight[k]->n);
		n += me->flight_records;
		ps->inflight_n -= me->flight_records;
		me->abandoned = 1;
		me->since = 0;
	}
	if (n) {
		kfs_err("stream %s: %zu record(s) in flight not delivered "
			"before the stop deadline", ps->name, n);
		prod_count_stats(p, 0, n, 0, 0);
		prod_count_batch(p, ps->name, 0, 0, n, 0, 0, 0);
	}
	return n;
}

void kfs_producer_abandon(struct kfs_producer *p)
{
	struct pstream *streams;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->drain_deadline = kfs_clock_mono(p->cfg.clock);
	__atomic_store_n(&p->stopping, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&p->abandoned, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&p->space);
	pthread_cond_broadcast(&p->idle);
	/* No stream is added once stopping, none freed before
	 * kfs_producer_free: the list can be walked unlocked. */
	streams = p->streams;
	pthread_mutex_unlock(&p->lock);

	for (struct pstream *ps = streams; ps; ps = ps->next) {
		pthread_mutex_lock(&ps->lock);
		prod_fail_queued(ps);
		fail_inflight(ps);
		ps->stop = 1;
		pthread_cond_broadcast(&ps->wake);
		pthread_mutex_unlock(&ps->lock);
	}
}

void kfs_producer_kick_all(struct kfs_producer *p)
{
	struct pstream *ps;

	pthread_mutex_lock(&p->lock);
	ps = p->streams;
	pthread_mutex_unlock(&p->lock);
	/* The list only grows at its head until kfs_producer_free. */
	for (; ps; ps = ps->next) {
		pthread_mutex_lock(&ps->lock);
		if (ps->head) {
			ps->kicked = 1;
			pthread_cond_signal(&ps->wake);
		}
		pthread_mutex_unlock(&ps->lock);
	}
}

/* Waits until every sender has ended; once abandoned, at most
 * KFS_PRODUCER_ABANDON_GRACE_MS more (a sender may be stuck in a backend
 * call until its own timeout).  p->lock held.  0 or -EBUSY. */
static int senders_wait(struct kfs_producer *p)
{
	struct timespec ts;
	int timed = 0;

	while (p->running > 0) {
		if (!p->abandoned) {
			pthread_cond_wait(&p->idle, &p->lock);
			continue;
		}
		if (!timed) {
			kfs_deadline(&ts, KFS_PRODUCER_ABANDON_GRACE_MS);
			timed = 1;
		}
		if (pthread_cond_timedwait(&p->idle, &p->lock, &ts) == ETIMEDOUT)
			return p->running > 0 ? -EBUSY : 0;
	}
	return 0;
}

int kfs_producer_drain(struct kfs_producer *p, int drain_ms)
{
	struct pstream *streams;
	int64_t deadline;
	int err;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->joined) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	deadline = kfs_clock_mono(p->cfg.clock) + (drain_ms > 0 ? drain_ms : 0);
	/* A second call, or one after kfs_producer_abandon, never moves
	 * the deadline later. */
	if (!p->stopping || deadline < p->drain_deadline)
		p->drain_deadline = deadline;
	__atomic_store_n(&p->stopping, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&p->space);
	streams = p->streams;
	pthread_mutex_unlock(&p->lock);

	for (struct pstream *s = streams; s; s = s->next) {
		pthread_mutex_lock(&s->lock);
		s->stop = 1;
		s->kicked = 1;
		pthread_cond_broadcast(&s->wake);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_lock(&p->lock);
	err = senders_wait(p);
	pthread_mutex_unlock(&p->lock);
	if (err)
		return err;
	for (struct pstream *ps = streams; ps; ps = ps->next)
		for (int i = 0; i < ps->nthreads; i++)
			pthread_join(ps->threads[i], NULL);
	pthread_mutex_lock(&p->lock);
	p->joined = 1;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void kfs_producer_free(struct kfs_producer *p, int drain_ms)
{
	struct pstream *ps, *next;

	if (!p)
		return;
	/* A sender still in a backend call uses the producer: leave it
	 * (the process is ending). */
	if (kfs_producer_drain(p, drain_ms) != 0)
		return;
	for (ps = p->streams; ps; ps = next) {
		next = ps->next;
		prod_stream_destroy(ps);
	}
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->space);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
