/*
 * stop.c - the bound of a stop (stop.h).  The bound has to run from the
 * signal, not from the end of the FUSE loop: libfuse joins its workers
 * before the loop returns, and a worker in close waits for its records,
 * so a hung endpoint would hold the loop (and the bound) forever.
 */
#include "fs/stop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "fs/mountpoint.h"
#include "lib/log.h"
#include "lib/util.h"

/* How long after the signal the FUSE loop may take to end before the
 * watcher sends what lingers in the queues itself. */
#define KFS_STOP_KICK_MS 500
/* How long after its mount left the table the FUSE loop may take to end
 * before the mount is taken for one unmounted lazily under open files. */
#define KFS_STOP_UNMOUNT_MS 1000

static const int stop_signals[] = { SIGTERM, SIGINT, SIGHUP };
#define NSIG_STOP (sizeof(stop_signals) / sizeof(stop_signals[0]))

/* Written before the handlers are installed; read by them. */
static struct sigaction saved[NSIG_STOP];
static volatile int stop_fd = -1;

static void on_signal(int sig)
{
	int saved_errno = errno;
	char c = 's';

	for (size_t i = 0; i < NSIG_STOP; i++)
		if (stop_signals[i] == sig &&
		    saved[i].sa_handler != SIG_DFL &&
		    saved[i].sa_handler != SIG_IGN)
			saved[i].sa_handler(sig);   /* libfuse's: exit the loop */
	if (stop_fd != -1 && write(stop_fd, &c, 1) < 0) {
		/* The pipe is full: the watcher has been told already. */
	}
	errno = saved_errno;
}

/* Marks the beginning once; 1 if this call did. */
static int begin(struct kfs_stop *s)
{
	struct kfs_producer_stats st;
	int did = 0;

	kfs_producer_stats(s->prod, &st);
	pthread_mutex_lock(&s->lock);
	if (!s->begun_ms) {
		s->begun_ms = kfs_mono_ms();
		s->failed_before = st.records_failed;
		did = 1;
	}
	pthread_mutex_unlock(&s->lock);
	if (did)
		kfs_info("stopping: records still queued get %d s to be "
			 "delivered", s->bound_ms / 1000);
	return did;
}

int kfs_stop_left_ms(struct kfs_stop *s)
{
	int64_t left;

	if (!s->started)
		return 0;   /* never mounted: nothing was written */
	pthread_mutex_lock(&s->lock);
	left = s->begun_ms ? s->begun_ms + s->bound_ms - kfs_mono_ms()
			   : s->bound_ms;
	pthread_mutex_unlock(&s->lock);
	return left > 0 ? (int)left : 0;
}

uint64_t kfs_stop_failed(struct kfs_stop *s)
{
	struct kfs_producer_stats st;
	uint64_t before;

	if (!s->started)
		return 0;   /* a mount that failed before the stop was armed */
	kfs_producer_stats(s->prod, &st);
	pthread_mutex_lock(&s->lock);
	before = s->begun_ms ? s->failed_before : st.records_failed;
	pthread_mutex_unlock(&s->lock);
	return st.records_failed - before;
}

/* Reads the pipe for at most timeout_ms (-1: no bound): the byte read,
 * or 0 on timeout. */
static char wait_byte(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc <= 0)
		return 0;
	if (read(fd, &c, 1) != 1)
		return 'q';
	return c;
}

/* 1 when the mount was taken away under the daemon: a lazy unmount
 * (umount -l, fusermount3 -u -z) while a file is in use.  The kernel
 * then tells the daemon nothing until the last file is closed, which a
 * writer waiting in close for its records may never do. */
static int unmounted(struct kfs_stop *s)
{
	return s->mountinfo && !kfs_mount_id_present(s->mountinfo, s->mount_id);
}

/* Waits for the beginning of the stop: a byte on the pipe ('s', or 'q'
 * for the end), or the mount gone from the table ('u'). */
static char wait_beginning(struct kfs_stop *s)
{
	struct pollfd pfd[2] = {
		{ .fd = s->fds[0], .events = POLLIN },
		{ .fd = s->mountinfo ? fileno(s->mountinfo) : -1,
		  .events = POLLPRI },
	};

	for (;;) {
		int rc = poll(pfd, 2, -1);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return 'q';
		if (pfd[0].revents) {
			char c = wait_byte(s->fds[0], 0);

			return c ? c : 'q';
		}
		if ((pfd[1].revents & (POLLPRI | POLLERR)) && unmounted(s))
			return 'u';
	}
}

static void *watcher_main(void *arg)
{
	struct kfs_stop *s = arg;
	char c;

	do
		c = wait_beginning(s);
	while (c == 0);
	if (c == 'u') {
		/* A plain unmount leaves the table too, and ends the FUSE
		 * loop at once (main then begins the stop itself); only a
		 * mount gone while the loop goes on is a lazy one. */
		c = wait_byte(s->fds[0], KFS_STOP_UNMOUNT_MS);
		if (c == 0)
			kfs_info("%s was unmounted lazily while files were "
				 "in use", s->mountpoint);
	}
	if (c == 'q')
		return NULL;
	begin(s);
	/* The FUSE loop ending soon says nothing holds it: the shutdown then
	 * sends the partial lines of open files and drains, tails and lines
	 * in one batch.  A loop still held (a writer waiting in close) must
	 * not leave the other streams lingering past the bound. */
	c = wait_byte(s->fds[0], KFS_STOP_KICK_MS);
	if (c == 'q')
		return NULL;
	if (c == 0)
		kfs_producer_kick_all(s->prod);
	for (;;) {
		int left = kfs_stop_left_ms(s);

		if (left == 0)
			break;
		if (wait_byte(s->fds[0], left) == 'q')
			return NULL;
	}
	pthread_mutex_lock(&s->lock);
	s->abandoned = 1;
	pthread_mutex_unlock(&s->lock);
	kfs_warn("stopping: the %d s to deliver are spent: failing what is "
		 "still queued or in flight to its writers",
		 s->bound_ms / 1000);
	kfs_producer_abandon(s->prod);
	while (wait_byte(s->fds[0], -1) != 'q')
		;
	return NULL;
}

int kfs_stop_start(struct kfs_stop *s, struct kfs_producer *prod,
		   int bound_ms, const char *mountpoint)
{
	struct sigaction sa;
	int err;

	memset(s, 0, sizeof(*s));
	s->prod = prod;
	s->bound_ms = bound_ms;
	s->mountpoint = mountpoint;
	pthread_mutex_init(&s->lock, NULL);
	if (pipe2(s->fds, O_CLOEXEC) == -1)
		return -errno;
	/* A signal never blocks in its handler. */
	fcntl(s->fds[1], F_SETFL, O_NONBLOCK);
	/* Without mountinfo (no /proc) a lazy unmount is seen when the last
	 * file closes, as libfuse sees it. */
	s->mount_id = kfs_mountpoint_id(mountpoint);
	if (s->mount_id >= 0)
		s->mountinfo = fopen("/proc/self/mountinfo", "re");
	err = pthread_create(&s->thread, NULL, watcher_main, s);
	if (err) {
		close(s->fds[0]);
		close(s->fds[1]);
		if (s->mountinfo)
			fclose(s->mountinfo);
		return -err;
	}
	s->started = 1;
	for (size_t i = 0; i < NSIG_STOP; i++)
		sigaction(stop_signals[i], NULL, &saved[i]);
	stop_fd = s->fds[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSIG_STOP; i++)
		sigaction(stop_signals[i], &sa, NULL);
	return 0;
}

void kfs_stop_begin(struct kfs_stop *s)
{
	char c = 's';

	if (!s->started)
		return;
	begin(s);
	/* The watcher counts from here (begin() told it nothing). */
	if (write(s->fds[1], &c, 1) != 1)
		kfs_warn("stop: cannot wake the watcher: %s", strerror(errno));
}

void kfs_stop_end(struct kfs_stop *s)
{
	char c = 'q';

	if (!s->started)
		return;
	for (size_t i = 0; i < NSIG_STOP; i++)
		sigaction(stop_signals[i], &saved[i], NULL);
	stop_fd = -1;
	if (write(s->fds[1], &c, 1) != 1)
		kfs_warn("stop: cannot wake the watcher: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	close(s->fds[0]);
	close(s->fds[1]);
	if (s->mountinfo)
		fclose(s->mountinfo);
	pthread_mutex_destroy(&s->lock);
	s->started = 0;
}
