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
 *   kfs-probe creat PATH            open O_WRONLY|O_CREAT|O_TRUNC, close
 *   kfs-probe open-read PATH        open O_RDONLY, close
 *   kfs-probe open-write PATH       open O_WRONLY, close
 *   kfs-probe stat PATH
 *   kfs-probe setxattr PATH NAME VALUE
 *   kfs-probe getxattr PATH NAME
 *   kfs-probe write PATH BYTES      open O_WRONLY|O_APPEND, BYTES 'a' then
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
 *
 * A write(2) that returns a short count is continued with the rest, as
 * cat(1) or stdio would, so what is printed is what such a program meets.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
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

	fd = open(path, O_WRONLY | O_APPEND);
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

	fd = open(path, O_WRONLY | O_APPEND);
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

static void usage(void)
{
	fprintf(stderr,
		"usage: kfs-probe mkdir|rmdir|unlink|creat|open-read|open-write|stat PATH\n"
		"       kfs-probe rename A B\n"
		"       kfs-probe setxattr PATH NAME VALUE\n"
		"       kfs-probe getxattr PATH NAME\n"
		"       kfs-probe write PATH BYTES\n"
		"       kfs-probe writes PATH BYTES...\n"
		"       kfs-probe writestr PATH STRING\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *op, *path;
	int err = 0;

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
	} else {
		usage();
	}
	printf("%s\n", errno_name(err));
	return 0;
}
