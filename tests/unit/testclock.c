/* testclock.c - see testclock.h. */
#include "testclock.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/cancel.h"
#include "lib/util.h"

#define GUARD_MS 20000    /* real time a broken program may make us wait */

/*
 * One timed wait of the code under test, on its stack.  The waiter and the
 * thread that advances the clock each take only one of the two locks (the
 * clock's and the waiter's m) at a time, never one inside the other in
 * the order the other takes them: advance takes the due waits off the
 * list under the clock's lock and marks them `busy`, then wakes each under
 * its own m, then clears busy under the clock's lock.  A waiter whose wait
 * was taken off leaves only when busy is clear, letting go of its m while
 * it waits for that, so that the advancing thread can take it.
 */
struct test_clock_waiter {
	struct test_clock_waiter *next;  /* list link; tc->lock */
	pthread_cond_t *cond;            /* the caller's condition; fixed */
	pthread_mutex_t *m;              /* its mutex; fixed */
	int64_t until;                   /* when the wait ends; fixed */
	int due;                         /* taken off the list; tc->lock */
	int busy;                        /* being woken; tc->lock */
};

static struct test_clock *of(struct kfs_clock *c)
{
	return (struct test_clock *)c;   /* clock is the first member */
}

static int64_t tc_now(struct kfs_clock *c)
{
	return test_clock_now(of(c));
}

/* Moves the clock to `to` (if later), wakes what came due; tc->lock
 * held on entry, released on return. */
static void advance_to(struct test_clock *tc, int64_t to)
{
	struct test_clock_waiter *due = NULL, **pp = &tc->waiters;

	if (to > tc->now)
		tc->now = to;
	while (*pp) {
		struct test_clock_waiter *w = *pp;

		if (w->until <= tc->now) {
			*pp = w->next;
			w->due = w->busy = 1;
			w->next = due;
			due = w;
			tc->nwaiting--;
		} else {
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&tc->lock);
	for (struct test_clock_waiter *w = due; w; w = w->next) {
		pthread_mutex_lock(w->m);
		pthread_cond_broadcast(w->cond);
		pthread_mutex_unlock(w->m);
	}
	pthread_mutex_lock(&tc->lock);
	while (due) {
		struct test_clock_waiter *w = due;

		due = w->next;   /* w may be gone once busy is clear */
		w->busy = 0;
	}
	pthread_cond_broadcast(&tc->changed);
	pthread_mutex_unlock(&tc->lock);
}

static int tc_sleep(struct kfs_clock *c, int64_t ms)
{
	struct test_clock *tc = of(c);

	if (kfs_cancelled())
		return -EINTR;
	pthread_mutex_lock(&tc->lock);
	advance_to(tc, tc->now + (ms > 0 ? ms : 0));
	return kfs_cancelled() ? -EINTR : 0;
}

static void tc_wait(struct kfs_clock *c, pthread_cond_t *cond,
		    pthread_mutex_t *m, int64_t until)
{
	struct test_clock *tc = of(c);
	struct test_clock_waiter w = { .cond = cond, .m = m, .until = until };

	pthread_mutex_lock(&tc->lock);
	if (until <= tc->now) {
		pthread_mutex_unlock(&tc->lock);
		return;
	}
	w.next = tc->waiters;
	tc->waiters = &w;
	tc->nwaiting++;
	tc->waits++;
	pthread_cond_broadcast(&tc->changed);
	pthread_mutex_unlock(&tc->lock);

	/* m is held from here until the wait lets go of it, and an advance
	 * wakes us under m: it cannot do so before we sleep. */
	pthread_cond_wait(cond, m);

	pthread_mutex_lock(&tc->lock);
	if (!w.due) {
		struct test_clock_waiter **pp = &tc->waiters;

		while (*pp != &w)
			pp = &(*pp)->next;
		*pp = w.next;
		tc->nwaiting--;
		pthread_cond_broadcast(&tc->changed);
	} else if (w.busy) {
		pthread_mutex_unlock(m);
		while (w.busy)
			pthread_cond_wait(&tc->changed, &tc->lock);
		pthread_mutex_unlock(&tc->lock);
		pthread_mutex_lock(m);
		return;
	}
	pthread_mutex_unlock(&tc->lock);
}

void test_clock_init(struct test_clock *tc, int64_t start_ms)
{
	memset(tc, 0, sizeof(*tc));
	tc->clock.now_ms = tc_now;
	tc->clock.mono_ms = tc_now;
	tc->clock.sleep_ms = tc_sleep;
	tc->clock.wait_until = tc_wait;
	pthread_mutex_init(&tc->lock, NULL);
	pthread_cond_init(&tc->changed, NULL);
	tc->now = start_ms;
}

void test_clock_destroy(struct test_clock *tc)
{
	pthread_cond_destroy(&tc->changed);
	pthread_mutex_destroy(&tc->lock);
}

int64_t test_clock_now(struct test_clock *tc)
{
	int64_t t;

	pthread_mutex_lock(&tc->lock);
	t = tc->now;
	pthread_mutex_unlock(&tc->lock);
	return t;
}

void test_clock_advance(struct test_clock *tc, int64_t ms)
{
	pthread_mutex_lock(&tc->lock);
	advance_to(tc, tc->now + ms);
}

int test_clock_waiting(struct test_clock *tc)
{
	int n;

	pthread_mutex_lock(&tc->lock);
	n = tc->nwaiting;
	pthread_mutex_unlock(&tc->lock);
	return n;
}

uint64_t test_clock_waits(struct test_clock *tc)
{
	uint64_t n;

	pthread_mutex_lock(&tc->lock);
	n = tc->waits;
	pthread_mutex_unlock(&tc->lock);
	return n;
}

int64_t test_clock_next(struct test_clock *tc)
{
	int64_t next = -1;

	pthread_mutex_lock(&tc->lock);
	for (struct test_clock_waiter *w = tc->waiters; w; w = w->next)
		if (next < 0 || w->until < next)
			next = w->until;
	pthread_mutex_unlock(&tc->lock);
	return next;
}

int test_clock_wait_for(struct test_clock *tc, int n, uint64_t begun)
{
	struct timespec ts;
	int rc = 0;

	kfs_deadline(&ts, GUARD_MS);
	pthread_mutex_lock(&tc->lock);
	while (rc == 0 && (tc->nwaiting < n || tc->waits < begun))
		rc = pthread_cond_timedwait(&tc->changed, &tc->lock, &ts);
	rc = tc->nwaiting >= n && tc->waits >= begun ? 0 : -1;
	pthread_mutex_unlock(&tc->lock);
	return rc;
}

pid_t test_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The state letter of thread tid ('R', 'S', 'D', ...), or 0. */
static char thread_state(pid_t tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');   /* the name may hold spaces */
	return p && p[1] == ' ' ? p[2] : 0;
}

int test_thread_blocked(pid_t tid)
{
	int64_t until = kfs_mono_ms() + GUARD_MS;

	while (kfs_mono_ms() < until) {
		char s = thread_state(tid);

		if (s == 'S' || s == 'D')
			return 0;
		sched_yield();
	}
	return -1;
}

int test_wait_count(pthread_mutex_t *m, pthread_cond_t *c,
		    const size_t *count, size_t n)
{
	struct timespec ts;

	kfs_deadline(&ts, GUARD_MS);
	while (*count < n && pthread_cond_timedwait(c, m, &ts) == 0)
		;
	return *count >= n ? 0 : -1;
}
