/* crc32c.c - software CRC-32C; see crc32c.h. */
#include "crc32c.h"

#include <pthread.h>

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

uint32_t kfs_crc32c(uint32_t crc, const void *buf, size_t len)
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
