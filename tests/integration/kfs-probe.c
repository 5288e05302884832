/*
 * kfs-probe - performs one filesystem operation and prints what it gave:
 * "OK", or the symbolic name of errno ("EPERM", "EXDEV", ...).
 *
 * The integration tests use it to check exact errno values, which shell
 * tools hide behind translated messages.  It exits 0 whatever the
 * operation gave, 2 on a usage error.
 *
 *   kfs-probe mkdir PATH            mkdir(PATH, 0755)
 *   kfs-probe rmdir PATH
 *   kfs-probe unlink PATH
 *   kfs-probe rename A B            rename(2), not mv's copy fallback
 *   kfs-probe rename2 A B noreplace|exchange   renameat2(2) with that flag
 *   kfs-probe excl PATH             open O_WRONLY|O_CREAT|O_EXCL, close
 *   kfs-probe link A B              link(2)
 *   kfs-probe symlink TARGET PATH   symlink(2)
 *   kfs-probe mknod PATH fifo|reg   mknod(2) of a FIFO or a regular file
 *   kfs-probe chmod PATH MODE       chmod(2), MODE in octal
 *   kfs-probe chown PATH UID GID    chown(2)
 *   kfs-probe truncate PATH N       truncate(2) to N bytes
 *   kfs-probe ftruncate PATH N      open O_WRONLY, ftruncate(2) to N, close
 *   kfs-probe removexattr PATH NAME
 *   kfs-probe pwrite PATH OFFSET STRING
 *                                   open O_WRONLY|O_CREAT (no O_APPEND), one
 *                                   pwrite(2) of STRING at OFFSET, close
 *   kfs-probe direct-write PATH STRING
 *                                   open O_WRONLY|O_APPEND|O_DIRECT|O_CREAT, STRING in
 *                                   one write(2) from a page-aligned buffer,
 *                                   close; "open ERRNO" if the open fails
 *   kfs-probe write0 PATH           open O_WRONLY|O_APPEND|O_CREAT, write(2) of 0
 *                                   bytes, close; prints "OK N" (what the
 *                                   write returned) or the errno name
 *   kfs-probe creat PATH            open O_WRONLY|O_CREAT|O_TRUNC, close
 *   kfs-probe open-read PATH        open O_RDONLY, close
 *   kfs-probe open-write PATH       open O_WRONLY, close
 *   kfs-probe stat PATH
 *   kfs-probe setxattr PATH NAME VALUE
 *   kfs-probe getxattr PATH NAME
 *   kfs-probe write PATH BYTES      open O_WRONLY|O_APPEND|O_CREAT (as >>), BYTES 'a' then
 *                                   '\n' in one write(2), close; prints the
 *                                   first error of write or close
 *   kfs-probe writes PATH BYTES...  one line per BYTES ('a', 'b', ... fill,
 *                                   then '\n') through the same handle, each
 *                                   in write(2) calls of at most 64 KiB,
 *                                   going on after EFBIG as a program that
 *                                   skips a refused line does; prints each
 *                                   line's first error (or OK), then
 *                                   "close:" and the close's result
 *   kfs-probe writestr PATH STRING  STRING as it is, in one write(2), close
 *   kfs-probe writestr-at PATH STRING
 *                                   writestr, printing "OK START END" (or the
 *                                   errno name and the times): CLOCK_MONOTONIC
 *                                   in ms before the open and after the close
 *   kfs-probe now                   CLOCK_MONOTONIC in ms
 *
 * Many names at once (keyfiles-memory.sh: a shell loop would take minutes):
 *
 *   kfs-probe stat-many DIR PREFIX N
 *                                   stat(2) of DIR/PREFIX0 .. DIR/PREFIX(N-1),
 *                                   each once; prints "RESULT COUNT" for each
 *                                   result met ("ENOENT 1000000"), first met
 *                                   first
 *   kfs-probe create-many DIR PREFIX N
 *                                   the same names made with open(O_WRONLY|
 *                                   O_CREAT|O_EXCL, 0644) and closed at once;
 *                                   prints the results as stat-many does
 *
 * Reading views, which follow (a read at the tip waits for the next record):
 *
 *   kfs-probe read-for PATH MS [EXPECT]
 *                                   copies what reading PATH gives to stdout
 *                                   for MS ms, or until EXPECT bytes (EXPECT
 *                                   "Nl": N newlines) came and then 500 ms
 *                                   more, to catch what should not come.  The
 *                                   reads happen in a child that is killed
 *                                   with SIGKILL at the end (or when this
 *                                   process dies), so that nothing depends
 *                                   on the filesystem's interrupts.
 *                                   On stderr: "open ERRNO" or "read ERRNO"
 *                                   when one fails, then "end: eof|error|
 *                                   timeout BYTES".
 *   kfs-probe poll PATH TIMEOUT_MS [poll|select|epoll]
 *                                   open O_RDONLY; a first poll with timeout
 *                                   0 prints "idle" (or "ready REVENTS" when
 *                                   it is readable at once); then waits up
 *                                   to TIMEOUT_MS: "readable MS at T" (MS
 *                                   since the wait began, T CLOCK_MONOTONIC
 *                                   in ms) or "timeout"; then reads once:
 *                                   "read N: BYTES" or "read ERRNO"
 *   kfs-probe read-nonblock PATH    open O_RDONLY|O_NONBLOCK, one read(2):
 *                                   "OK N" or the errno name
 *   kfs-probe read-intr PATH MS     a blocking read(2) interrupted after MS
 *                                   ms by SIGALRM, whose handler does not
 *                                   restart it: prints the read's result
 *                                   ("EINTR", "OK N") and the ms it took
 *
 * A write(2) that returns a short count is continued with the rest, as
 * cat(1) or stdio would, so what is printed is what such a program meets.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static const struct {
	int num;
	const char *name;
} errno_names[] = {
	{ EPERM, "EPERM" },
	{ ENOENT, "ENOENT" },
	{ EINTR, "EINTR" },
	{ EIO, "EIO" },
	{ ENXIO, "ENXIO" },
	{ E2BIG, "E2BIG" },
	{ EBADF, "EBADF" },
	{ EAGAIN, "EAGAIN" },
	{ ENOMEM, "ENOMEM" },
	{ EACCES, "EACCES" },
	{ EFAULT, "EFAULT" },
	{ EBUSY, "EBUSY" },
	{ EEXIST, "EEXIST" },
	{ EXDEV, "EXDEV" },
	{ ENODEV, "ENODEV" },
	{ ENOTDIR, "ENOTDIR" },
	{ EISDIR, "EISDIR" },
	{ EINVAL, "EINVAL" },
	{ ENFILE, "ENFILE" },
	{ EMFILE, "EMFILE" },
	{ ENOTTY, "ENOTTY" },
	{ ETXTBSY, "ETXTBSY" },
	{ EFBIG, "EFBIG" },
	{ ENOSPC, "ENOSPC" },
	{ ESPIPE, "ESPIPE" },
	{ EROFS, "EROFS" },
	{ EMLINK, "EMLINK" },
	{ EPIPE, "EPIPE" },
	{ ERANGE, "ERANGE" },
	{ ENAMETOOLONG, "ENAMETOOLONG" },
	{ ENOSYS, "ENOSYS" },
	{ ENOTEMPTY, "ENOTEMPTY" },
	{ ELOOP, "ELOOP" },
#ifdef ENODATA
	{ ENODATA, "ENODATA" },
#endif
	/* Same value as EOPNOTSUPP on Linux: the first match wins. */
	{ ENOTSUP, "ENOTSUP" },
	{ EOPNOTSUPP, "EOPNOTSUPP" },
	{ ENOTCONN, "ENOTCONN" },
	{ ECONNABORTED, "ECONNABORTED" },
	{ ECONNREFUSED, "ECONNREFUSED" },
	{ ETIMEDOUT, "ETIMEDOUT" },
	{ EDQUOT, "EDQUOT" },
	{ ESTALE, "ESTALE" },
	{ ECANCELED, "ECANCELED" },
	{ EOVERFLOW, "EOVERFLOW" },
	{ EILSEQ, "EILSEQ" },
	{ EWOULDBLOCK, "EWOULDBLOCK" },
};

static const char *errno_name(int e)
{
	static char buf[32];
	size_t i;

	if (e == 0)
		return "OK";
	for (i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].num == e)
			return errno_names[i].name;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static void usage(void);

/* Writes all of buf, continuing after short counts; 0 or an errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return EIO;
		if ((size_t)n < len)
			fprintf(stderr, "kfs-probe: short write: %zd of %zu\n",
				n, len);
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* close(2) whose error is kept unless one is already. */
static int close_keep(int fd, int err)
{
	if (close(fd) < 0 && err == 0)
		return errno;
	return err;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || s[0] == '-')
		return -1;
	*out = (size_t)v;
	return 0;
}

/* A line of `bytes` copies of `fill` then '\n'; the caller frees it. */
static char *make_line(size_t bytes, char fill)
{
	char *buf = malloc(bytes + 1);

	if (buf == NULL) {
		perror("kfs-probe: malloc");
		exit(2);
	}
	memset(buf, fill, bytes);
	buf[bytes] = '\n';
	return buf;
}

static int do_open_close(const char *path, int flags)
{
	int fd = open(path, flags, 0644);

	if (fd < 0)
		return errno;
	return close_keep(fd, 0);
}

static int do_write(const char *path, const char *buf, size_t len)
{
	int fd, err;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		return errno;
	err = write_all(fd, buf, len);
	return close_keep(fd, err);
}

/*
 * Writes a line in pieces of at most PIECE bytes (one FUSE write each),
 * all of it even when pieces fail with EFBIG: the filesystem discards the
 * rest of an oversized line up to its newline, and takes what follows.
 * Returns the first error, or 0.
 */
#define PIECE (64 * 1024)
static int write_line_pieces(int fd, const char *buf, size_t len)
{
	int first = 0;

	while (len > 0) {
		size_t n = len < PIECE ? len : PIECE;
		int err = write_all(fd, buf, n);

		if (err && err != EFBIG)
			return first ? first : err;
		if (err && !first)
			first = err;
		buf += n;
		len -= n;
	}
	return first;
}

/* `writes`: prints one result per line written, then the close's. */
static int do_writes(const char *path, char **sizes, int n)
{
	int fd, i, err;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0) {
		printf("%s\n", errno_name(errno));
		return 0;
	}
	for (i = 0; i < n; i++) {
		size_t bytes;
		char *line;

		if (parse_size(sizes[i], &bytes) < 0) {
			fprintf(stderr, "kfs-probe: bad size '%s'\n", sizes[i]);
			exit(2);
		}
		line = make_line(bytes, (char)('a' + i % 26));
		err = write_line_pieces(fd, line, bytes + 1);
		free(line);
		printf("%s ", errno_name(err));
	}
	err = close(fd) < 0 ? errno : 0;
	printf("close:%s\n", errno_name(err));
	return 0;
}

/* CLOCK_MONOTONIC in ms. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_ms(const char *s)
{
	size_t v;

	if (parse_size(s, &v) < 0 || v > 3600 * 1000)
		usage();
	return (int)v;
}

/* `read-for`: the child reads PATH and sends what it gets up the pipe. */
static void read_for_child(const char *path, int out)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "open %s\n", errno_name(errno));
		_exit(1);
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "read %s\n", errno_name(errno));
			_exit(1);
		}
		if (n == 0)
			_exit(0);
		if (write_all(out, buf, (size_t)n) != 0)
			_exit(3);
	}
}

static int do_read_for(const char *path, int ms, const char *expect)
{
	int64_t deadline = now_ms() + ms, total = 0, lines = 0, want = -1;
	int want_lines = 0, fds[2], status;
	const char *end = "timeout";
	pid_t pid, parent;

	if (expect != NULL) {
		size_t v, len = strlen(expect);
		char num[32];

		want_lines = len > 0 && expect[len - 1] == 'l';
		if (len >= sizeof(num))
			usage();
		memcpy(num, expect, len + 1);
		if (want_lines)
			num[len - 1] = '\0';
		if (parse_size(num, &v) < 0)
			usage();
		want = (int64_t)v;
	}
	fflush(stdout);
	parent = getpid();
	if (pipe(fds) < 0) {
		perror("kfs-probe: pipe");
		exit(2);
	}
	pid = fork();
	if (pid < 0) {
		perror("kfs-probe: fork");
		exit(2);
	}
	if (pid == 0) {
		/* Killed with the parent, which may be killed itself. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(3);
		close(fds[0]);
		read_for_child(path, fds[1]);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int64_t left = deadline - now_ms();
		char buf[65536];
		ssize_t n;
		int rc;

		if (left <= 0)
			break;
		rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The child is gone: EOF or an error. */
			end = NULL;
			break;
		}
		if (write_all(1, buf, (size_t)n) != 0)
			break;
		total += n;
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
		if (want >= 0 && (want_lines ? lines : total) >= want) {
			int64_t grace = now_ms() + 500;

			if (grace < deadline)
				deadline = grace;
			want = -1;
		}
	}
	if (end != NULL)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (end == NULL)
		end = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "eof" : "error";
	fprintf(stderr, "end: %s %lld\n", end, (long long)total);
	return 0;
}

/* Waits for fd to be readable with poll, select or epoll; 1 readable, 0
 * not within ms, -1 an error (printed). */
static int wait_readable(int fd, int ms, const char *how, int *revents)
{
	*revents = 0;
	if (strcmp(how, "poll") == 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc = poll(&p, 1, ms);

		if (rc < 0) {
			printf("poll %s\n", errno_name(errno));
			return -1;
		}
		*revents = p.revents;
		return rc > 0 && (p.revents & POLLIN);
	}
	if (strcmp(how, "select") == 0) {
		fd_set r;
		struct timeval tv = { .tv_sec = ms / 1000,
				      .tv_usec = (ms % 1000) * 1000 };
		int rc;

		FD_ZERO(&r);
		FD_SET(fd, &r);
		rc = select(fd + 1, &r, NULL, NULL, &tv);
		if (rc < 0) {
			printf("select %s\n", errno_name(errno));
			return -1;
		}
		*revents = rc > 0 ? POLLIN : 0;
		return rc > 0;
	}
	if (strcmp(how, "epoll") == 0) {
		struct epoll_event ev = { .events = EPOLLIN }, got;
		int ep = epoll_create1(0), rc;

		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			printf("epoll %s\n", errno_name(errno));
			return -1;
		}
		rc = epoll_wait(ep, &got, 1, ms);
		close(ep);
		if (rc < 0) {
			printf("epoll_wait %s\n", errno_name(errno));
			return -1;
		}
		*revents = rc > 0 ? (int)got.events : 0;
		return rc > 0 && (got.events & EPOLLIN);
	}
	usage();
	return -1;
}

static int do_poll(const char *path, int ms, const char *how)
{
	char buf[65536];
	int64_t t0, t1;
	int fd, rc, rev;
	ssize_t n;

	setvbuf(stdout, NULL, _IONBF, 0);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("open %s\n", errno_name(errno));
		return 0;
	}
	rc = wait_readable(fd, 0, how, &rev);
	if (rc < 0)
		return 0;
	if (rc > 0 || rev != 0)
		printf("ready %#x\n", rev);
	else
		printf("idle\n");
	if (rc == 0) {
		t0 = now_ms();
		rc = wait_readable(fd, ms, how, &rev);
		t1 = now_ms();
		if (rc < 0)
			return 0;
		if (rc == 0) {
			printf("timeout\n");
			return 0;
		}
		printf("readable %lld at %lld\n", (long long)(t1 - t0),
		       (long long)t1);
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		printf("read %s\n", errno_name(errno));
		return 0;
	}
	printf("read %zd: ", n);
	fwrite(buf, 1, (size_t)n, stdout);
	printf("\n");
	close(fd);
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int do_read_intr(const char *path, int ms)
{
	struct sigaction sa;
	struct itimerval it = { .it_value = { .tv_sec = ms / 1000,
					      .tv_usec = (ms % 1000) * 1000 } };
	char buf[65536];
	int64_t t0;
	ssize_t n;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("open %s\n", errno_name(errno));
		return 0;
	}
	t0 = now_ms();
	setitimer(ITIMER_REAL, &it, NULL);
	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		printf("%s %lld\n", errno_name(errno), (long long)(now_ms() - t0));
	else
		printf("OK %zd %lld\n", n, (long long)(now_ms() - t0));
	close(fd);
	return 0;
}

/* stat-many / create-many DIR PREFIX N: one call per name, the results
 * counted by errno (0 for success), printed in the order first met. */
static int do_many(const char *op, const char *dir, const char *prefix,
		   const char *nstr)
{
	enum { MAXERR = 4096 };
	static size_t count[MAXERR];
	int order[MAXERR], norder = 0, create = strcmp(op, "create-many") == 0;
	char path[4096];
	size_t i, n;

	if (parse_size(nstr, &n) < 0)
		usage();
	for (i = 0; i < n; i++) {
		struct stat st;
		int err, fd;

		snprintf(path, sizeof(path), "%s/%s%zu", dir, prefix, i);
		if (create) {
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			err = fd < 0 ? errno : close_keep(fd, 0);
		} else {
			err = stat(path, &st) < 0 ? errno : 0;
		}
		if (err < 0 || err >= MAXERR)
			err = EIO;
		if (count[err]++ == 0)
			order[norder++] = err;
	}
	for (i = 0; i < (size_t)norder; i++)
		printf("%s %zu\n", errno_name(order[i]), count[order[i]]);
	return 0;
}

/* reread PATH N: reads N bytes, then N bytes again with pread at offset 0
 * (after lseek to 0 succeeded), and prints the second; status 1 on an
 * error or a short read. */
static int do_reread(const char *path, const char *nstr)
{
	char *a, *b;
	size_t n, got = 0;
	ssize_t r = 0;
	int fd;

	if (parse_size(nstr, &n) < 0 || n == 0)
		usage();
	a = malloc(n);
	b = malloc(n);
	fd = open(path, O_RDONLY);
	if (!a || !b || fd < 0) {
		fprintf(stderr, "reread: open: %s\n", errno_name(errno));
		return 1;
	}
	while (got < n && (r = read(fd, a + got, n - got)) > 0)
		got += (size_t)r;
	if (got < n) {
		fprintf(stderr, "reread: read: %s\n", r < 0 ? errno_name(errno) : "EOF");
		return 1;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		fprintf(stderr, "reread: lseek: %s\n", errno_name(errno));
		return 1;
	}
	for (got = 0; got < n && (r = pread(fd, b + got, n - got, (off_t)got)) > 0;)
		got += (size_t)r;
	if (got < n) {
		fprintf(stderr, "reread: pread: %s\n", r < 0 ? errno_name(errno) : "EOF");
		return 1;
	}
	fwrite(b, 1, n, stdout);
	close(fd);
	free(a);
	free(b);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kfs-probe mkdir|rmdir|unlink|creat|open-read|open-write|stat PATH\n"
		"       kfs-probe rename|link A B\n"
		"       kfs-probe rename2 A B noreplace|exchange\n"
		"       kfs-probe excl PATH\n"
		"       kfs-probe symlink TARGET PATH\n"
		"       kfs-probe mknod PATH fifo|reg\n"
		"       kfs-probe chmod PATH MODE\n"
		"       kfs-probe chown PATH UID GID\n"
		"       kfs-probe truncate|ftruncate PATH N\n"
		"       kfs-probe removexattr PATH NAME\n"
		"       kfs-probe pwrite PATH OFFSET STRING\n"
		"       kfs-probe direct-write PATH STRING\n"
		"       kfs-probe write0 PATH\n"
		"       kfs-probe setxattr PATH NAME VALUE\n"
		"       kfs-probe getxattr PATH NAME\n"
		"       kfs-probe write PATH BYTES\n"
		"       kfs-probe writes PATH BYTES...\n"
		"       kfs-probe writestr PATH STRING\n"
		"       kfs-probe writestr-at PATH STRING\n"
		"       kfs-probe now\n"
		"       kfs-probe read-for PATH MS [BYTES|LINESl]\n"
		"       kfs-probe poll PATH TIMEOUT_MS [poll|select|epoll]\n"
		"       kfs-probe read-nonblock PATH\n"
		"       kfs-probe read-intr PATH MS\n"
		"       kfs-probe reread PATH N\n"
		"       kfs-probe stat-many|create-many DIR PREFIX N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *op, *path;
	int err = 0;

	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("%lld\n", (long long)now_ms());
		return 0;
	}
	if (argc < 3)
		usage();
	op = argv[1];
	path = argv[2];

	if (strcmp(op, "mkdir") == 0 && argc == 3) {
		err = mkdir(path, 0755) < 0 ? errno : 0;
	} else if (strcmp(op, "rmdir") == 0 && argc == 3) {
		err = rmdir(path) < 0 ? errno : 0;
	} else if (strcmp(op, "unlink") == 0 && argc == 3) {
		err = unlink(path) < 0 ? errno : 0;
	} else if (strcmp(op, "rename") == 0 && argc == 4) {
		err = rename(path, argv[3]) < 0 ? errno : 0;
	} else if (strcmp(op, "rename2") == 0 && argc == 5) {
		unsigned f = strcmp(argv[4], "noreplace") == 0 ? RENAME_NOREPLACE
			   : strcmp(argv[4], "exchange") == 0 ? RENAME_EXCHANGE : 0;

		if (!f)
			usage();
		err = renameat2(AT_FDCWD, path, AT_FDCWD, argv[3], f) < 0 ? errno : 0;
	} else if (strcmp(op, "excl") == 0 && argc == 3) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

		err = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	} else if (strcmp(op, "link") == 0 && argc == 4) {
		err = link(path, argv[3]) < 0 ? errno : 0;
	} else if (strcmp(op, "symlink") == 0 && argc == 4) {
		err = symlink(path, argv[3]) < 0 ? errno : 0;
	} else if (strcmp(op, "mknod") == 0 && argc == 4) {
		mode_t m;

		if (strcmp(argv[3], "fifo") == 0)
			m = S_IFIFO | 0644;
		else if (strcmp(argv[3], "reg") == 0)
			m = S_IFREG | 0644;
		else
			usage();
		err = mknod(path, m, 0) < 0 ? errno : 0;
	} else if (strcmp(op, "chmod") == 0 && argc == 4) {
		char *end;
		unsigned long m = strtoul(argv[3], &end, 8);

		if (*end || end == argv[3])
			usage();
		err = chmod(path, (mode_t)m) < 0 ? errno : 0;
	} else if (strcmp(op, "chown") == 0 && argc == 5) {
		size_t u, g;

		if (parse_size(argv[3], &u) < 0 || parse_size(argv[4], &g) < 0)
			usage();
		err = chown(path, (uid_t)u, (gid_t)g) < 0 ? errno : 0;
	} else if ((strcmp(op, "truncate") == 0 ||
		    strcmp(op, "ftruncate") == 0) && argc == 4) {
		size_t n;

		if (parse_size(argv[3], &n) < 0)
			usage();
		if (op[0] == 't') {
			err = truncate(path, (off_t)n) < 0 ? errno : 0;
		} else {
			int fd = open(path, O_WRONLY);

			if (fd < 0) {
				printf("open %s\n", errno_name(errno));
				return 0;
			}
			err = ftruncate(fd, (off_t)n) < 0 ? errno : 0;
			err = close_keep(fd, err);
		}
	} else if (strcmp(op, "removexattr") == 0 && argc == 4) {
		err = removexattr(path, argv[3]) < 0 ? errno : 0;
	} else if (strcmp(op, "pwrite") == 0 && argc == 5) {
		size_t off, len = strlen(argv[4]);
		ssize_t n;
		int fd;

		if (parse_size(argv[3], &off) < 0)
			usage();
		fd = open(path, O_WRONLY | O_CREAT, 0644);
		if (fd < 0) {
			printf("open %s\n", errno_name(errno));
			return 0;
		}
		n = pwrite(fd, argv[4], len, (off_t)off);
		err = n < 0 ? errno : (size_t)n == len ? 0 : EIO;
		err = close_keep(fd, err);
	} else if (strcmp(op, "direct-write") == 0 && argc == 4) {
		size_t len = strlen(argv[3]);
		void *buf;
		ssize_t n;
		int fd;

		if (posix_memalign(&buf, 4096, len + 4096) != 0) {
			perror("kfs-probe: posix_memalign");
			exit(2);
		}
		memcpy(buf, argv[3], len);
		fd = open(path, O_WRONLY | O_APPEND | O_DIRECT | O_CREAT, 0644);
		if (fd < 0) {
			printf("open %s\n", errno_name(errno));
			free(buf);
			return 0;
		}
		n = write(fd, buf, len);
		err = n < 0 ? errno : (size_t)n == len ? 0 : EIO;
		err = close_keep(fd, err);
		free(buf);
	} else if (strcmp(op, "write0") == 0 && argc == 3) {
		ssize_t n;
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);

		if (fd < 0) {
			printf("open %s\n", errno_name(errno));
			return 0;
		}
		n = write(fd, "", 0);
		err = close_keep(fd, n < 0 ? errno : 0);
		if (err == 0) {
			printf("OK %zd\n", n);
			return 0;
		}
	} else if (strcmp(op, "creat") == 0 && argc == 3) {
		err = do_open_close(path, O_WRONLY | O_CREAT | O_TRUNC);
	} else if (strcmp(op, "open-read") == 0 && argc == 3) {
		err = do_open_close(path, O_RDONLY);
	} else if (strcmp(op, "open-write") == 0 && argc == 3) {
		err = do_open_close(path, O_WRONLY);
	} else if (strcmp(op, "stat") == 0 && argc == 3) {
		struct stat st;

		err = stat(path, &st) < 0 ? errno : 0;
	} else if (strcmp(op, "setxattr") == 0 && argc == 5) {
		err = setxattr(path, argv[3], argv[4], strlen(argv[4]), 0) < 0 ?
			      errno : 0;
	} else if (strcmp(op, "getxattr") == 0 && argc == 4) {
		char buf[4096];

		err = getxattr(path, argv[3], buf, sizeof(buf)) < 0 ? errno : 0;
	} else if (strcmp(op, "write") == 0 && argc == 4) {
		size_t bytes;
		char *line;

		if (parse_size(argv[3], &bytes) < 0)
			usage();
		line = make_line(bytes, 'a');
		err = do_write(path, line, bytes + 1);
		free(line);
	} else if (strcmp(op, "writes") == 0 && argc >= 4) {
		return do_writes(path, argv + 3, argc - 3);
	} else if (strcmp(op, "writestr") == 0 && argc == 4) {
		err = do_write(path, argv[3], strlen(argv[3]));
	} else if (strcmp(op, "writestr-at") == 0 && argc == 4) {
		int64_t t0 = now_ms();

		err = do_write(path, argv[3], strlen(argv[3]));
		printf("%s %lld %lld\n", errno_name(err), (long long)t0,
		       (long long)now_ms());
		return 0;
	} else if (strcmp(op, "read-for") == 0 && (argc == 4 || argc == 5)) {
		return do_read_for(path, parse_ms(argv[3]),
				   argc == 5 ? argv[4] : NULL);
	} else if (strcmp(op, "poll") == 0 && (argc == 4 || argc == 5)) {
		return do_poll(path, parse_ms(argv[3]),
			       argc == 5 ? argv[4] : "poll");
	} else if (strcmp(op, "read-nonblock") == 0 && argc == 3) {
		char buf[65536];
		ssize_t n;
		int fd = open(path, O_RDONLY | O_NONBLOCK);

		if (fd < 0) {
			printf("open %s\n", errno_name(errno));
			return 0;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0)
			printf("%s\n", errno_name(errno));
		else
			printf("OK %zd\n", n);
		close(fd);
		return 0;
	} else if ((strcmp(op, "stat-many") == 0 ||
		    strcmp(op, "create-many") == 0) && argc == 5) {
		return do_many(op, path, argv[3], argv[4]);
	} else if (strcmp(op, "reread") == 0 && argc == 4) {
		return do_reread(path, argv[3]);
	} else if (strcmp(op, "read-intr") == 0 && argc == 4) {
		return do_read_intr(path, parse_ms(argv[3]));
	} else {
		usage();
	}
	printf("%s\n", errno_name(err));
	return 0;
}
