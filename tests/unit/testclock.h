/*
 * testclock.h - a clock that only the test moves (lib/clock.h), and a way
 * to wait, without sleeping, until a thread of the code under test is
 * blocked.
 *
 * Time stands still until test_clock_advance() moves it; the wall clock
 * and the monotonic clock are the same number.  A timed wait of the code
 * under test (kfs_clock_wait_until) ends when its caller's condition is
 * signalled, or when the test advances the clock to its end, never before:
 * advancing takes the waits that came due off the clock's list at once (so
 * test_clock_waiting() says so as soon as advance returns) and wakes them.
 * A sleep (kfs_clock_sleep) moves the clock to its own end and returns at
 * once: retries, backoff and polls take no wall-clock time, and what they
 * waited is still there to be checked as clock time.
 *
 * The code under test must not sleep with a lock held that one of the
 * clock's waiters waits with (a sleep wakes the waits that come due).
 */
#ifndef KFS_TESTCLOCK_H
#define KFS_TESTCLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/clock.h"

struct test_clock_waiter;

struct test_clock {
	struct kfs_clock clock;             /* what the code under test gets */
	pthread_mutex_t lock;               /* protects every field below */
	pthread_cond_t changed;             /* a wait began or was let go */
	int64_t now;                        /* ms since the epoch */
	struct test_clock_waiter *waiters;  /* timed waits not yet due */
	int nwaiting;                       /* how many */
	uint64_t waits;                     /* timed waits begun so far */
};

/* Starts at start_ms (ms since the epoch). */
void test_clock_init(struct test_clock *tc, int64_t start_ms);
void test_clock_destroy(struct test_clock *tc);
/* The time now. */
int64_t test_clock_now(struct test_clock *tc);
/* Moves the clock ms ahead, waking the timed waits that come due. */
void test_clock_advance(struct test_clock *tc, int64_t ms);
/* Timed waits under way now (the ones that came due are not). */
int test_clock_waiting(struct test_clock *tc);
/* The end of the earliest timed wait under way, -1 when none. */
int64_t test_clock_next(struct test_clock *tc);
/*
 * Blocks until n timed waits are under way and at least `begun` have
 * begun since the clock was made (0: no matter).  0, or -1 when that did
 * not happen within 20 s of real time, which only a broken program takes
 * (the bound keeps a failing test from hanging).
 */
int test_clock_wait_for(struct test_clock *tc, int n, uint64_t begun);
/* Timed waits begun so far. */
uint64_t test_clock_waits(struct test_clock *tc);

/* The calling thread's id, for test_thread_blocked(). */
pid_t test_gettid(void);
/*
 * Blocks until thread tid sleeps in the kernel (a lock or a condition),
 * as /proc tells.  0, or -1 after 20 s of real time.  Under valgrind,
 * which runs one thread at a time, any other thread looks asleep: a test
 * must only use this to make a check sharper, never to be correct.
 */
int test_thread_blocked(pid_t tid);

/*
 * With m held: waits on c until *count reaches n.  0, or -1 after 20 s of
 * real time (a fake's calls that never came: only a broken program).
 */
int test_wait_count(pthread_mutex_t *m, pthread_cond_t *c,
		    const size_t *count, size_t n);

#endif
