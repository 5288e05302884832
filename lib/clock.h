/*
 * clock.h - the one clock source of the daemon, handed in through each
 * component's configuration so that tests can set it.
 *
 * Whatever reads the time or waits for it goes through a struct kfs_clock:
 * the local engine (arrival times, creation times, retention), the AWS
 * backend (its caches, the GetRecords rate limit, retries and backoff,
 * waits for a stream to become ACTIVE, iterator times), its credentials
 * chain (expiries and the
 * background refresh) and the producer (linger, backoff, the drain
 * deadline).  NULL everywhere stands for the real clock.
 *
 * A test hands in its own (tests/unit/testclock.h) and moves time itself:
 * a sleep can then return at once, and a timed wait ends when the test
 * says the time has come, so no unit test waits on the wall clock.
 *
 * What measures something outside the process keeps real time: libcurl's
 * timeouts and the date it signs requests with (http_curl.c), a
 * credential_process that is killed when it takes too long, and the local
 * engine's periodic fsync.
 */
#ifndef KFS_CLOCK_H
#define KFS_CLOCK_H

#include <pthread.h>
#include <stdint.h>

struct kfs_clock {
	/* Milliseconds since the epoch (wall clock). */
	int64_t (*now_ms)(struct kfs_clock *c);
	/* Milliseconds of a monotonic clock, for ages and deadlines. */
	int64_t (*mono_ms)(struct kfs_clock *c);
	/* Sleeps ms; -EINTR as soon as the calling thread is cancelled
	 * (lib/cancel.h), else 0.  Never called with a lock held. */
	int (*sleep_ms)(struct kfs_clock *c, int64_t ms);
	/* Waits on cond, whose mutex m the caller holds, until it is
	 * signalled or mono_ms reaches `until` (a deadline rather than a
	 * length, so that the time read before the wait is the time the
	 * wait counts from).  It may also return early: callers look at
	 * their condition and the time again.  cond must be made with the
	 * default attributes (it times out on CLOCK_REALTIME). */
	void (*wait_until)(struct kfs_clock *c, pthread_cond_t *cond,
			   pthread_mutex_t *m, int64_t until);
};

/*
 * The calls, c NULL meaning the real clock.  A member left NULL is the
 * real clock's too: a test that only moves the wall clock (the local
 * engine's) sets only now_ms.
 */
int64_t kfs_clock_now(struct kfs_clock *c);
int64_t kfs_clock_mono(struct kfs_clock *c);
int kfs_clock_sleep(struct kfs_clock *c, int64_t ms);
void kfs_clock_wait_until(struct kfs_clock *c, pthread_cond_t *cond,
			  pthread_mutex_t *m, int64_t until);

#endif
