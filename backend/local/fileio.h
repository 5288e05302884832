/* fileio.h - whole reads and writes at an offset, for the local engine's
 * files (segments, key postings, the names journal). */
#ifndef KFS_FILEIO_H
#define KFS_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Reads exactly n bytes at off (retrying EINTR and short reads): 0,
 * -EIO when the file ends first (cut), or -errno. */
int kfs_pread_full(int fd, void *buf, size_t n, uint64_t off);
/* Writes all n bytes at off: 0 or -errno (-EIO if nothing could be). */
int kfs_pwrite_full(int fd, const void *buf, size_t n, uint64_t off);

#endif
