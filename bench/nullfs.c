/*
 * nullfs.c - the benchmark's baseline: the least a FUSE filesystem can do.
 *
 *   nullfs [--size BYTES | --store FILE] MOUNTPOINT [FUSE options]
 *
 * The root holds one file, `sink`, BYTES long (0 by default): every write
 * to it succeeds at once and stores nothing, every read returns zeros up to
 * its size.
 *
 * With --store FILE it is instead the least a filesystem that keeps what is
 * written can do: every write is one pwrite(2) of its bytes into FILE, every
 * read one pread(2) from it, `sink` is as long as FILE, and nothing is
 * checked, framed or indexed.  The benchmark puts FILE on the filesystem
 * that holds kinesisfs's data_dir: what the kernel costs to take the bytes
 * into (and out of) the page cache there is then part of this baseline too.  It is configured as kinesisfs configures itself (direct_io,
 * 1 MiB max_write, no attribute cache, the multi-threaded loop), so the two
 * get the same requests from the kernel for the same commands and the
 * difference between them is what kinesisfs does with them.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

static off_t sink_size; /* read-only once mounted */
static int store_fd = -1; /* --store: the file that keeps the bytes */

static void *null_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 1;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	conn->max_write = 1u << 20;
	return NULL;
}

static int null_getattr(const char *path, struct stat *st,
			struct fuse_file_info *fi)
{
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/sink") == 0) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = sink_size;
		if (store_fd >= 0) {
			struct stat fst;

			if (fstat(store_fd, &fst) < 0)
				return -errno;
			st->st_size = fst.st_size;
		}
		return 0;
	}
	return -ENOENT;
}

static int null_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
			off_t off, struct fuse_file_info *fi,
			enum fuse_readdir_flags flags)
{
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "sink", NULL, 0, 0);
	return 0;
}

static int null_open(const char *path, struct fuse_file_info *fi)
{
	return strcmp(path, "/sink") == 0 ? 0 : -ENOENT;
}

static int null_truncate(const char *path, off_t size,
			 struct fuse_file_info *fi)
{
	if (store_fd >= 0 && ftruncate(store_fd, size) < 0)
		return -errno;
	return 0; /* `>` truncates: accepted and ignored, as kinesisfs does */
}

static int null_write(const char *path, const char *buf, size_t size,
		      off_t off, struct fuse_file_info *fi)
{
	if (store_fd >= 0) {
		ssize_t n = pwrite(store_fd, buf, size, off);

		return n < 0 ? -errno : (int)n;
	}
	return (int)size;
}

static int null_read(const char *path, char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	if (store_fd >= 0) {
		ssize_t n = pread(store_fd, buf, size, off);

		return n < 0 ? -errno : (int)n;
	}
	if (off >= sink_size)
		return 0;
	if ((off_t)size > sink_size - off)
		size = (size_t)(sink_size - off);
	memset(buf, 0, size);
	return (int)size;
}

static int null_fsync(const char *path, int datasync,
		      struct fuse_file_info *fi)
{
	return 0;
}

static const struct fuse_operations null_ops = {
	.init = null_init,
	.getattr = null_getattr,
	.readdir = null_readdir,
	.open = null_open,
	.truncate = null_truncate,
	.write = null_write,
	.read = null_read,
	.fsync = null_fsync,
};

int main(int argc, char *argv[])
{
	if (argc > 2 && strcmp(argv[1], "--size") == 0) {
		char *end;

		sink_size = strtoll(argv[2], &end, 10);
		if (*end || sink_size < 0) {
			fprintf(stderr, "nullfs: bad --size %s\n", argv[2]);
			return 2;
		}
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	} else if (argc > 2 && strcmp(argv[1], "--store") == 0) {
		store_fd = open(argv[2], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (store_fd < 0) {
			fprintf(stderr, "nullfs: %s: %s\n", argv[2],
				strerror(errno));
			return 2;
		}
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	return fuse_main(argc, argv, &null_ops, NULL);
}
