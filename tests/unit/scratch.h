/*
 * scratch.h - what the engine's unit tests share: an injected clock and
 * the removal of scratch directories.  Include after tap.h; define T0 (ms
 * since the epoch, the clock's start) first.
 */
#ifndef KFS_SCRATCH_H
#define KFS_SCRATCH_H

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"

#ifndef T0
#error "define T0, the fake clock's start, before including scratch.h"
#endif

/* The injected wall clock (kfs_local_config.clock); tests move it,
 * backwards too.  Its other members are the real clock's. */
static int64_t fake_now __attribute__((unused)) = T0;

static inline int64_t clock_fn(struct kfs_clock *c)
{
	(void)c;
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

static struct kfs_clock scratch_clock __attribute__((unused)) = {
	.now_ms = clock_fn,
};

static inline void set_now(int64_t t)
{
	__atomic_store_n(&fake_now, t, __ATOMIC_RELAXED);
}

static inline int rm_entry(const char *path, const struct stat *sb, int flag,
			   struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The size of dir/name, or -1. */
static inline off_t file_size(const char *dir, const char *name)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &sb) == 0 ? sb.st_size : -1;
}

static inline void truncate_to(const char *dir, const char *name, off_t size)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	REQUIRE(truncate(p, size) == 0);
}

/* Changes one byte of dir/name, at off. */
static inline void flip_byte(const char *dir, const char *name, off_t off)
{
	char p[512];
	unsigned char c;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(pread(fd, &c, 1, off) == 1);
	c ^= 0x5a;
	REQUIRE(pwrite(fd, &c, 1, off) == 1);
	close(fd);
}

/* rm -rf dir. */
static inline void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
