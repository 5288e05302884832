/*
 * crc32c.h - CRC-32C (Castagnoli, polynomial 0x1EDC6F41 reflected as
 * 0x82F63B78): with the SSE4.2 crc32 instruction on x86-64 CPUs that
 * have it, else in software with slicing-by-8 tables.  Both give the
 * same values.
 *
 * Used to frame records in the local engine's on-disk logs (seglog.c).
 */
#ifndef KFS_CRC32C_H
#define KFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extends `crc` (0 to start) over `len` bytes of `buf` and returns the new
 * value: kfs_crc32c(kfs_crc32c(0, a, n), b, m) == CRC of a followed by b.
 * Thread-safe; the implementation is chosen once, on first use.
 */
uint32_t kfs_crc32c(uint32_t crc, const void *buf, size_t len);

/* For tests: the software version, and the hardware one, which exists
 * only where kfs_crc32c_hw_available() says 1 (else it is the software
 * one). */
uint32_t kfs_crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t kfs_crc32c_hw(uint32_t crc, const void *buf, size_t len);
int kfs_crc32c_hw_available(void);

#endif
