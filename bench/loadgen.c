/*
 * loadgen.c - the benchmark's data and load.
 *
 *   loadgen genlog BYTES
 *       Prints a web-server access log of about BYTES bytes to stdout: lines
 *       of about 120 bytes in the combined log format, the same for the same
 *       BYTES on every run (a fixed pseudo-random sequence).
 *
 *   loadgen writes LINES FILE...
 *       One writer process per FILE, all started together: each opens its
 *       FILE with O_WRONLY|O_APPEND and writes LINES lines of 150 bytes, one
 *       write(2) per line, then closes it.  close(2) returns once every
 *       line is stored (SPEC §3), so the time counted is that of stored
 *       lines.  Prints `lines=N seconds=S lines_per_s=R`.
 *
 *   loadgen latency COUNT WRITEFILE VIEW
 *       Opens VIEW (a following view, such as S/@LATEST) for reading and
 *       WRITEFILE for appending, then COUNT times: appends one line
 *       carrying its number, and measures the time until a read of VIEW
 *       returns it.  Lines are 2 ms apart, so each is measured on its own
 *       rather than behind the one before.  Prints
 *       `count=N p50_ms=X p99_ms=Y max_ms=Z`.
 *
 * Errors end the program with status 1 and a message on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* xorshift64*: a fixed sequence, so the log is the same on every run. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

static int genlog(long long bytes)
{
	static const char *const methods[] = { "GET", "GET", "GET", "POST", "HEAD" };
	static const char *const paths[] = {
		"/", "/index.html", "/api/v1/orders", "/static/app.js",
		"/img/logo.png", "/login", "/api/v1/users/42", "/search?q=fuse",
	};
	static const int codes[] = { 200, 200, 200, 200, 304, 301, 404, 500 };
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	static char buf[1 << 16];
	size_t used = 0;
	long long out = 0;
	long long t = 0;

	while (out < bytes) {
		uint64_t r = rnd();
		int n;

		t += (long long)(r % 3);
		n = snprintf(buf + used, sizeof(buf) - used,
			     "10.%u.%u.%u - - [%02lld/%s/2026:%02lld:%02lld:%02lld +0000] "
			     "\"%s %s HTTP/1.1\" %d %u \"-\" \"Mozilla/5.0 (X11; bench %u.%u)\"\n",
			     (unsigned)(r >> 8 & 255), (unsigned)(r >> 16 & 255),
			     (unsigned)(r >> 24 & 255), 1 + t / 86400 % 28,
			     months[t / 86400 / 28 % 12], t / 3600 % 24, t / 60 % 60,
			     t % 60, methods[(r >> 32) % 5],
			     paths[r >> 40 & 7], codes[r >> 44 & 7],
			     (unsigned)(r >> 48 & 0xffff), (unsigned)(r >> 56 & 7),
			     (unsigned)(r >> 59 & 7));
		used += (size_t)n;
		out += n;
		if (used > sizeof(buf) - 512) {
			if (fwrite(buf, 1, used, stdout) != used)
				die("stdout");
			used = 0;
		}
	}
	if (used && fwrite(buf, 1, used, stdout) != used)
		die("stdout");
	return fflush(stdout) == 0 ? 0 : 1;
}

static void write_lines(const char *file, long lines)
{
	char line[151];
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);

	if (fd == -1)
		die(file);
	memset(line, 'x', 149);
	line[149] = '\n';
	for (long i = 0; i < lines; i++) {
		int k = snprintf(line, 24, "%020ld", i);

		line[k] = ' ';
		if (write(fd, line, 150) != 150)
			die(file);
	}
	if (close(fd) != 0)
		die(file);
}

static int writes(long lines, int nfiles, char **files)
{
	double t0 = now_s(), t;
	int failed = 0;

	for (int i = 0; i < nfiles; i++) {
		pid_t pid = fork();

		if (pid == -1)
			die("fork");
		if (pid == 0) {
			write_lines(files[i], lines);
			_exit(0);
		}
	}
	for (int i = 0; i < nfiles; i++) {
		int st;

		if (wait(&st) == -1)
			die("wait");
		failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	t = now_s() - t0;
	if (failed)
		return 1;
	printf("lines=%ld seconds=%.3f lines_per_s=%.0f\n",
	       lines * nfiles, t, lines * nfiles / t);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Reads VIEW until the line "lat N" shows up; lines of other writers (there
 * are none in the benchmark) are passed over.  Returns when found.
 */
static void await_line(int fd, long n, char *buf, size_t cap, size_t *have)
{
	char want[32];
	int wl = snprintf(want, sizeof(want), "lat %ld\n", n);

	for (;;) {
		char *nl;
		ssize_t k;

		while ((nl = memchr(buf, '\n', *have))) {
			size_t len = (size_t)(nl - buf) + 1;
			int hit = (int)len == wl && memcmp(buf, want, len) == 0;

			memmove(buf, nl + 1, *have - len);
			*have -= len;
			if (hit)
				return;
		}
		if (*have == cap)
			*have = 0; /* a line longer than the buffer: not ours */
		k = read(fd, buf + *have, cap - *have);
		if (k <= 0) {
			if (k == 0)
				errno = ENODATA;
			die("read of the view");
		}
		*have += (size_t)k;
	}
}

static int latency(long count, const char *wfile, const char *view)
{
	static char buf[1 << 16];
	size_t have = 0;
	double *lat = calloc((size_t)count, sizeof(*lat));
	int rfd = open(view, O_RDONLY), wfd;
	struct timespec gap = { 0, 2000000 };

	if (!lat)
		die("calloc");
	if (rfd == -1)
		die(view);
	wfd = open(wfile, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (wfd == -1)
		die(wfile);
	for (long i = 0; i < count; i++) {
		char line[32];
		int len = snprintf(line, sizeof(line), "lat %ld\n", i);
		double t0 = now_s();

		if (write(wfd, line, (size_t)len) != len)
			die(wfile);
		await_line(rfd, i, buf, sizeof(buf), &have);
		lat[i] = (now_s() - t0) * 1000;
		nanosleep(&gap, NULL);
	}
	if (close(wfd) != 0)
		die(wfile);
	close(rfd);
	qsort(lat, (size_t)count, sizeof(*lat), cmp_double);
	printf("count=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", count,
	       lat[count / 2], lat[(count * 99) / 100], lat[count - 1]);
	free(lat);
	return 0;
}

int main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "genlog") == 0)
		return genlog(atoll(argv[2]));
	if (argc >= 4 && strcmp(argv[1], "writes") == 0)
		return writes(atol(argv[2]), argc - 3, argv + 3);
	if (argc == 5 && strcmp(argv[1], "latency") == 0)
		return latency(atol(argv[2]), argv[3], argv[4]);
	fprintf(stderr, "usage: loadgen genlog BYTES\n"
		"       loadgen writes LINES FILE...\n"
		"       loadgen latency COUNT WRITEFILE VIEW\n");
	return 2;
}
