/* crc32c.c - CRC-32C; see crc32c.h. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
#define KFS_CRC32C_X86 1
#endif

#define KFS_CRC32C_POLY 0x82F63B78u /* Castagnoli, bit-reflected */

/* tables[k][b]: the CRC of byte b followed by k zero bytes.  Written once
 * under crc_once, read-only afterwards. */
static uint32_t crc_tables[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ KFS_CRC32C_POLY : c >> 1;
		crc_tables[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = crc_tables[0][b];
		for (int k = 1; k < 8; k++) {
			c = crc_tables[0][c & 0xff] ^ (c >> 8);
			crc_tables[k][b] = c;
		}
	}
}

uint32_t kfs_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&crc_once, crc32c_init);
	crc = ~crc;
	/* Byte at a time until aligned, then eight bytes per step. */
	while (len && ((uintptr_t)p & 7)) {
		crc = crc_tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		/* Little-endian assembly of two words, independent of the
		 * host's byte order. */
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		crc = crc_tables[7][lo & 0xff] ^ crc_tables[6][(lo >> 8) & 0xff] ^
		      crc_tables[5][(lo >> 16) & 0xff] ^ crc_tables[4][lo >> 24] ^
		      crc_tables[3][hi & 0xff] ^ crc_tables[2][(hi >> 8) & 0xff] ^
		      crc_tables[1][(hi >> 16) & 0xff] ^ crc_tables[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#ifdef KFS_CRC32C_X86
/* The crc32 instruction computes this very CRC (reflected Castagnoli),
 * eight bytes per instruction; x86 is little-endian, as the tables
 * assume. */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t c = ~crc;

	/* Unaligned loads cost nothing here, while each step is a 3-cycle
	 * link in one chain: no byte steps to align, few for the tail. */
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		c = _mm_crc32_u32((uint32_t)c, w);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;

		memcpy(&w, p, 2);
		c = _mm_crc32_u16((uint32_t)c, w);
		p += 2;
		len -= 2;
	}
	if (len)
		c = _mm_crc32_u8((uint32_t)c, *p);
	return ~(uint32_t)c;
}
#endif

int kfs_crc32c_hw_available(void)
{
#ifdef KFS_CRC32C_X86
	return __builtin_cpu_supports("sse4.2") != 0;
#else
	return 0;
#endif
}

uint32_t kfs_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#ifdef KFS_CRC32C_X86
	if (kfs_crc32c_hw_available())
		return crc32c_sse42(crc, buf, len);
#endif
	return kfs_crc32c_sw(crc, buf, len);
}

/* The implementation, chosen on first use.  Threads that race to choose
 * store the same pointer. */
typedef uint32_t crc_fn(uint32_t crc, const void *buf, size_t len);
static crc_fn *crc_impl; /* atomic */

uint32_t kfs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc_fn *f = __atomic_load_n(&crc_impl, __ATOMIC_ACQUIRE);

	if (!f) {
		f = kfs_crc32c_sw;
#ifdef KFS_CRC32C_X86
		if (kfs_crc32c_hw_available())
			f = crc32c_sse42;
#endif
		__atomic_store_n(&crc_impl, f, __ATOMIC_RELEASE);
	}
	return f(crc, buf, len);
}
