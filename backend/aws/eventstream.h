/*
 * eventstream.h - the binary event stream encoding of AWS answers that
 * come as a stream of messages (SubscribeToShard), decoded as bytes come.
 *
 * A message on the wire (big-endian integers):
 *
 *   +-------------+---------------+-------------+---------+---------+-----------+
 *   | total (u32) | headers (u32) | prelude CRC | headers | payload | msg CRC   |
 *   +-------------+---------------+-------------+---------+---------+-----------+
 *     total counts every byte, CRCs included; the prelude CRC is the CRC-32
 *     of the first 8 bytes, the message CRC of all bytes before it.
 *
 * A header: name length (u8), name, value type (u8), value: 0 true, 1
 * false (no bytes), 2 byte, 3 short, 4 int, 5 long, 8 timestamp (1, 2, 4,
 * 8, 8 bytes), 6 bytes and 7 string (u16 length, bytes), 9 uuid (16).
 *
 * Damage (a bad CRC, lengths that do not add up, an unknown header type)
 * is not skipped: the stream cannot be trusted past it, and the decoder
 * says so once, for good.
 */
#ifndef KFS_AWS_EVENTSTREAM_H
#define KFS_AWS_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define KFS_ES_PRELUDE 12                 /* total, headers, prelude CRC */
#define KFS_ES_MESSAGE_MIN 16             /* prelude and message CRC */
#define KFS_ES_MESSAGE_MAX (16u << 20)    /* longest message taken */

/* One decoded message; its strings point into the decoder's buffer and
 * last until the next call of kfs_es_feed. */
struct kfs_es_message {
	char message_type[32];      /* ":message-type": "event", "exception",
				     * "error" ("" when absent) */
	char event_type[64];        /* ":event-type", or ":exception-type",
				     * or ":error-code" */
	char content_type[64];      /* ":content-type" */
	const unsigned char *payload;
	size_t payload_len;
};

/* Called for each whole message; a non-zero return stops the feeding and
 * is what kfs_es_feed returns. */
typedef int (*kfs_es_fn)(void *arg, const struct kfs_es_message *m);

struct kfs_es_decoder {
	unsigned char *buf;         /* bytes of the message being received */
	size_t len, cap;
	int broken;                 /* damage seen: nothing more is taken */
	char why[96];               /* what the damage was */
};

void kfs_es_init(struct kfs_es_decoder *d);
void kfs_es_clear(struct kfs_es_decoder *d);

/*
 * Takes n more bytes of the stream, calling fn for each message they
 * complete.  Returns 0, fn's non-zero value, -EBADMSG on damage (d->why
 * says what; every later call gives it again), -ENOMEM.
 */
int kfs_es_feed(struct kfs_es_decoder *d, const void *p, size_t n,
		kfs_es_fn fn, void *arg);

/* Decodes one whole message of `len` bytes at p: 0 or -EBADMSG (why, of
 * why_size bytes, says what). */
int kfs_es_decode(const unsigned char *p, size_t len,
		  struct kfs_es_message *m, char *why, size_t why_size);

/* Encodes a message with string headers (names[i] = values[i], n of them)
 * and a payload, for tests: *out malloc'd, *out_len its length.  0 or
 * -EINVAL (too long), -ENOMEM. */
int kfs_es_encode(const char *const *names, const char *const *values,
		  size_t n, const void *payload, size_t payload_len,
		  unsigned char **out, size_t *out_len);

#endif
