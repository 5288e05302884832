/* cancel.c - see cancel.h. */
#include "cancel.h"

#include <errno.h>
#include <time.h>

#define SLICE_MS 50

static __thread kfs_cancel_fn check;

void kfs_cancel_set(kfs_cancel_fn fn)
{
	check = fn;
}

int kfs_cancelled(void)
{
	return check && check();
}

int kfs_sleep_cancellable(int64_t ms)
{
	while (ms > 0) {
		int64_t n = check && ms > SLICE_MS ? SLICE_MS : ms;
		struct timespec ts = {
			.tv_sec = n / 1000,
			.tv_nsec = (n % 1000) * 1000000,
		};

		if (kfs_cancelled())
			return -EINTR;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		ms -= n;
	}
	return kfs_cancelled() ? -EINTR : 0;
}
