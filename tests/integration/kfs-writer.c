/*
 * kfs-writer - writes numbered lines and reports which ones are durable.
 *
 *   kfs-writer [--for SECONDS] [--hold] FILE[,FILE...] ID NLINES FSYNC_EVERY [SPLIT]
 *   kfs-writer --print ID FIRST LAST
 *
 * The first form opens each FILE with O_WRONLY|O_APPEND|O_CREAT (as >>) and writes lines
 * 1..NLINES, line n to FILE number (n-1) % (number of FILEs), each line in
 * one write(2) (in SPLIT write(2) calls when SPLIT > 1, to exercise
 * reassembly).  Every FSYNC_EVERY lines (never when 0) it fsyncs every
 * FILE; after each fsync that succeeded on all of them it prints
 *
 *   ack ID FIRST LAST
 *
 * for the lines that fsync made durable, and flushes stdout, so that a
 * test killing the filesystem knows what was acknowledged.  At the end it
 * closes the FILEs and, when every close succeeded, acks the remaining
 * lines the same way.  The first error is printed on stderr and ends the
 * program with status 1.
 *
 * With --for SECONDS it stops writing after SECONDS (or NLINES, whichever
 * comes first), then closes and acks as above: its last ack line says how
 * many lines it wrote.
 *
 * With --hold, after the lines it writes a tail without a newline,
 * "ID tail N", to every FILE (N its number, from 1), prints "holding ID" and waits for the end of
 * its standard input before it closes them: a test can act on the
 * filesystem while the files are open with a partial line and records
 * not yet acknowledged.  Each close is reported on stdout, "close FILE
 * OK" or "close FILE ERRNO-TEXT", and the acks follow only if all were OK.
 *
 * The second form prints lines FIRST..LAST of writer ID exactly as the
 * first form writes them, so tests can tell a whole written line from
 * anything else.
 *
 * A line is "ID n PAD\n"; PAD's length and letter depend on ID and n.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 64
#define LINE_MAX_BYTES 512

/* Builds line n of writer id in buf; returns its length. */
static size_t make_line(char *buf, const char *id, unsigned long n)
{
	unsigned long h = 5381;
	const char *p;
	size_t pad, len;
	int k;

	for (p = id; *p; p++)
		h = h * 33 + (unsigned char)*p;
	pad = 8 + (size_t)((n * 31 + h) % 72);
	k = snprintf(buf, LINE_MAX_BYTES, "%s %lu ", id, n);
	if (k < 0 || (size_t)k + pad + 1 > LINE_MAX_BYTES) {
		fprintf(stderr, "kfs-writer: ID too long\n");
		exit(2);
	}
	len = (size_t)k;
	memset(buf + len, 'a' + (int)(n % 26), pad);
	len += pad;
	buf[len++] = '\n';
	return len;
}

static unsigned long parse_ulong(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || s[0] == '-') {
		fprintf(stderr, "kfs-writer: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kfs-writer [--for SECONDS] [--hold] FILE[,FILE...] ID NLINES FSYNC_EVERY [SPLIT]\n"
		"       kfs-writer --print ID FIRST LAST\n");
	exit(2);
}

/* Monotonic seconds. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes len bytes, continuing after short counts; 0 or an errno. */
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
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void ack(const char *id, unsigned long first, unsigned long last)
{
	if (first > last)
		return;
	printf("ack %s %lu %lu\n", id, first, last);
	if (fflush(stdout) != 0) {
		perror("kfs-writer: stdout");
		exit(1);
	}
}

static int print_lines(const char *id, unsigned long first, unsigned long last)
{
	char buf[LINE_MAX_BYTES];
	unsigned long n;

	for (n = first; n <= last && n != 0; n++)
		fwrite(buf, 1, make_line(buf, id, n), stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* --hold: a partial line in every file, then waits for EOF on stdin,
 * closes each file and says what its close gave. */
static int hold_and_close(const char *id, int *fds, char **paths,
			  int nfiles, unsigned long first, unsigned long last)
{
	char buf[LINE_MAX_BYTES];
	int i, failed = 0;

	for (i = 0; i < nfiles; i++) {
		int k = snprintf(buf, sizeof(buf), "%s tail %d", id, i + 1);
		int err = write_all(fds[i], buf, (size_t)k);

		if (err) {
			fprintf(stderr, "kfs-writer: %s: write the tail to %s: %s\n",
				id, paths[i], strerror(err));
			return 1;
		}
	}
	printf("holding %s\n", id);
	fflush(stdout);
	while (fread(buf, 1, sizeof(buf), stdin) > 0)
		;
	for (i = 0; i < nfiles; i++) {
		if (close(fds[i]) < 0) {
			printf("close %s %s\n", paths[i], strerror(errno));
			failed = 1;
		} else {
			printf("close %s OK\n", paths[i]);
		}
	}
	fflush(stdout);
	if (failed)
		return 1;
	ack(id, first, last);
	return 0;
}

int main(int argc, char **argv)
{
	char *files, *tok, *save = NULL;
	char *paths[MAX_FILES];
	int fds[MAX_FILES];
	int nfiles = 0, i;
	const char *id;
	unsigned long nlines, every, split = 1, n, acked = 0, seconds = 0;
	char buf[LINE_MAX_BYTES];
	double until = 0;
	int hold = 0;

	if (argc == 5 && strcmp(argv[1], "--print") == 0)
		return print_lines(argv[2], parse_ulong(argv[3], "FIRST"),
				   parse_ulong(argv[4], "LAST"));
	if (argc >= 3 && strcmp(argv[1], "--for") == 0) {
		seconds = parse_ulong(argv[2], "SECONDS");
		argc -= 2;
		argv += 2;
	}
	if (argc >= 2 && strcmp(argv[1], "--hold") == 0) {
		hold = 1;
		argc--;
		argv++;
	}
	if (argc != 5 && argc != 6)
		usage();
	id = argv[2];
	nlines = parse_ulong(argv[3], "NLINES");
	every = parse_ulong(argv[4], "FSYNC_EVERY");
	if (argc == 6)
		split = parse_ulong(argv[5], "SPLIT");
	if (split == 0)
		split = 1;

	files = argv[1];
	for (tok = strtok_r(files, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (nfiles == MAX_FILES)
			usage();
		paths[nfiles] = tok;
		fds[nfiles] = open(tok, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (fds[nfiles] < 0) {
			fprintf(stderr, "kfs-writer: %s: open %s: %s\n", id,
				tok, strerror(errno));
			return 1;
		}
		nfiles++;
	}
	if (nfiles == 0)
		usage();

	if (seconds)
		until = now_s() + (double)seconds;
	for (n = 1; n <= nlines; n++) {
		size_t len = make_line(buf, id, n);
		int fd = fds[(n - 1) % (unsigned long)nfiles];
		size_t off = 0, piece = len / split;
		unsigned long s;

		for (s = 0; s < split; s++) {
			size_t this_len = s + 1 == split ? len - off : piece;
			int err = this_len ? write_all(fd, buf + off, this_len) : 0;

			if (err) {
				fprintf(stderr, "kfs-writer: %s: write line %lu to %s: %s\n",
					id, n, paths[(n - 1) % (unsigned long)nfiles],
					strerror(err));
				return 1;
			}
			off += this_len;
		}
		if (every && n % every == 0) {
			for (i = 0; i < nfiles; i++) {
				if (fsync(fds[i]) < 0) {
					fprintf(stderr, "kfs-writer: %s: fsync %s after line %lu: %s\n",
						id, paths[i], n, strerror(errno));
					return 1;
				}
			}
			ack(id, acked + 1, n);
			acked = n;
		}
		if (seconds && now_s() >= until) {
			nlines = n;
			break;
		}
	}
	if (hold)
		return hold_and_close(id, fds, paths, nfiles, acked + 1, nlines);
	for (i = 0; i < nfiles; i++) {
		if (close(fds[i]) < 0) {
			fprintf(stderr, "kfs-writer: %s: close %s: %s\n", id,
				paths[i], strerror(errno));
			return 1;
		}
	}
	ack(id, acked + 1, nlines);
	return 0;
}
