/* clock.c - see clock.h. */
#include "clock.h"

#include <time.h>

#include "cancel.h"
#include "util.h"

int64_t kfs_clock_now(struct kfs_clock *c)
{
	return c && c->now_ms ? c->now_ms(c) : kfs_now_ms();
}

int64_t kfs_clock_mono(struct kfs_clock *c)
{
	return c && c->mono_ms ? c->mono_ms(c) : kfs_mono_ms();
}

int kfs_clock_sleep(struct kfs_clock *c, int64_t ms)
{
	return c && c->sleep_ms ? c->sleep_ms(c, ms) : kfs_sleep_cancellable(ms);
}

void kfs_clock_wait_until(struct kfs_clock *c, pthread_cond_t *cond,
			  pthread_mutex_t *m, int64_t until)
{
	struct timespec ts;
	int64_t ms;

	if (c && c->wait_until) {
		c->wait_until(c, cond, m, until);
		return;
	}
	ms = until - kfs_mono_ms();
	if (ms <= 0)
		return;
	/* Conditions made with the default attributes time out on
	 * CLOCK_REALTIME. */
	kfs_deadline(&ts, ms);
	pthread_cond_timedwait(cond, m, &ts);
}
