/*
 * lock.c - data_dir/LOCK (lock.h).
 *
 * LOCK holds one line, "PID HOST PIDNS": the holder's pid, its host name
 * and its pid namespace (/proc/self/ns/pid, "pid:[N]").  In containers a
 * pid means nothing outside its namespace (the holder is often pid 1 of
 * another container), so the message of a refused mount says where the
 * pid belongs: the host name of a container is, by default, its id.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fileio.h"
#include "lib/log.h"

struct holder {
	int pid;
	char host[HOST_NAME_MAX + 1];
	char pidns[64];
};

static void this_holder(struct holder *h)
{
	ssize_t n;

	memset(h, 0, sizeof(*h));
	h->pid = (int)getpid();
	if (gethostname(h->host, sizeof(h->host) - 1) != 0 || !h->host[0])
		snprintf(h->host, sizeof(h->host), "-");
	n = readlink("/proc/self/ns/pid", h->pidns, sizeof(h->pidns) - 1);
	if (n <= 0)
		snprintf(h->pidns, sizeof(h->pidns), "-");
	/* Words of one line: no blank in either. */
	h->host[strcspn(h->host, " \n")] = '\0';
	h->pidns[strcspn(h->pidns, " \n")] = '\0';
}

int kfs_lock_note_holder(int lock_fd)
{
	struct holder h;
	char buf[32 + sizeof(h.host) + sizeof(h.pidns)];
	int n;

	this_holder(&h);
	n = snprintf(buf, sizeof(buf), "%d %s %s\n", h.pid, h.host, h.pidns);
	if (ftruncate(lock_fd, 0) < 0)
		return -errno;
	return kfs_pwrite_full(lock_fd, buf, (size_t)n, 0);
}

/* Logs who holds the lock, as far as LOCK says. */
static void log_holder(int lock_fd, const char *data_dir)
{
	struct holder me, h;
	char buf[256];
	ssize_t n = pread(lock_fd, buf, sizeof(buf) - 1, 0);

	this_holder(&me);
	memset(&h, 0, sizeof(h));
	buf[n > 0 ? n : 0] = '\0';
	/* An older LOCK holds the pid only.  The widths are the sizes of
	 * host and pidns, less their NULs. */
	_Static_assert(sizeof(h.host) == 65 && sizeof(h.pidns) == 64,
		       "sscanf widths below");
	if (sscanf(buf, "%d %64s %63s", &h.pid, h.host, h.pidns) < 3 ||
	    strcmp(h.pidns, me.pidns) == 0)
		kfs_err("data_dir %s is in use by pid %d", data_dir, h.pid);
	else
		kfs_err("data_dir %s is in use by pid %d of another pid "
			"namespace (%s, host name %s): a kinesisfs in another "
			"container or on the host (a container's host name is "
			"usually its id)", data_dir, h.pid, h.pidns, h.host);
}

int kfs_lock_take(int data_fd, const char *data_dir)
{
	int fd = openat(data_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0) {
		rc = -errno;
		kfs_err("%s/LOCK: %s", data_dir, strerror(-rc));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		if (rc == -EWOULDBLOCK) {
			log_holder(fd, data_dir);
			rc = -EBUSY;
		} else {
			kfs_err("%s/LOCK: flock: %s", data_dir, strerror(-rc));
		}
		close(fd);
		return rc;
	}
	rc = kfs_lock_note_holder(fd);
	if (rc < 0) {
		kfs_err("%s/LOCK: %s", data_dir, strerror(-rc));
		close(fd);
		return rc;
	}
	return fd;
}
