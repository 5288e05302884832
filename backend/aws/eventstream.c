/*
 * eventstream.c - the AWS event stream encoding; see eventstream.h.
 * CRC-32 (the one of zlib, gzip and PNG) comes from zlib.
 */
#include "eventstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t crc(const unsigned char *p, size_t n)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

void kfs_es_init(struct kfs_es_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void kfs_es_clear(struct kfs_es_decoder *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

/* Copies a header's string value into dst when its name is `want`. */
static void take(const char *name, size_t nlen, const char *want,
		 const unsigned char *v, size_t vlen, char *dst, size_t size)
{
	if (nlen != strlen(want) || memcmp(name, want, nlen) != 0)
		return;
	if (vlen >= size)
		vlen = size - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

/* Bytes of a fixed-size header value of type t, -1 for the two with a
 * length, -2 for an unknown type. */
static int fixed_size(unsigned t)
{
	static const int sizes[] = { 0, 0, 1, 2, 4, 8, -1, -1, 8, 16 };

	return t < sizeof(sizes) / sizeof(sizes[0]) ? sizes[t] : -2;
}

static int headers(const unsigned char *p, size_t n, struct kfs_es_message *m,
		   char *why, size_t why_size)
{
	size_t i = 0;

	while (i < n) {
		size_t nlen = p[i++], vlen;
		const char *name = (const char *)p + i;
		int fs;

		if (nlen == 0 || i + nlen + 1 > n) {
			snprintf(why, why_size, "a header name past the headers");
			return -EBADMSG;
		}
		i += nlen;
		fs = fixed_size(p[i++]);
		if (fs == -2) {
			snprintf(why, why_size, "a header of unknown type %u",
				 p[i - 1]);
			return -EBADMSG;
		}
		if (fs >= 0) {
			vlen = (size_t)fs;
		} else {
			if (i + 2 > n) {
				snprintf(why, why_size, "a header length past "
					 "the headers");
				return -EBADMSG;
			}
			vlen = (size_t)p[i] << 8 | p[i + 1];
			i += 2;
		}
		if (i + vlen > n) {
			snprintf(why, why_size, "a header value past the headers");
			return -EBADMSG;
		}
		if (fs == -1) {
			take(name, nlen, ":message-type", p + i, vlen,
			     m->message_type, sizeof(m->message_type));
			take(name, nlen, ":event-type", p + i, vlen,
			     m->event_type, sizeof(m->event_type));
			take(name, nlen, ":exception-type", p + i, vlen,
			     m->event_type, sizeof(m->event_type));
			take(name, nlen, ":error-code", p + i, vlen,
			     m->event_type, sizeof(m->event_type));
			take(name, nlen, ":content-type", p + i, vlen,
			     m->content_type, sizeof(m->content_type));
		}
		i += vlen;
	}
	return 0;
}

int kfs_es_decode(const unsigned char *p, size_t len,
		  struct kfs_es_message *m, char *why, size_t why_size)
{
	uint32_t total, hlen;

	memset(m, 0, sizeof(*m));
	if (len < KFS_ES_MESSAGE_MIN) {
		snprintf(why, why_size, "a message of %zu bytes", len);
		return -EBADMSG;
	}
	total = be32(p);
	hlen = be32(p + 4);
	if (total != len || (uint64_t)hlen + KFS_ES_MESSAGE_MIN > total) {
		snprintf(why, why_size, "lengths that do not add up (%u, "
			 "headers %u)", (unsigned)total, (unsigned)hlen);
		return -EBADMSG;
	}
	if (crc(p, 8) != be32(p + 8)) {
		snprintf(why, why_size, "a bad prelude CRC");
		return -EBADMSG;
	}
	if (crc(p, len - 4) != be32(p + len - 4)) {
		snprintf(why, why_size, "a bad message CRC");
		return -EBADMSG;
	}
	if (headers(p + KFS_ES_PRELUDE, hlen, m, why, why_size) < 0)
		return -EBADMSG;
	m->payload = p + KFS_ES_PRELUDE + hlen;
	m->payload_len = total - hlen - KFS_ES_MESSAGE_MIN;
	return 0;
}

/* The prelude of the message being received (d->len >= 12): its total
 * length, or 0 after marking the stream broken. */
static uint32_t prelude(struct kfs_es_decoder *d)
{
	uint32_t total = be32(d->buf);

	if (total < KFS_ES_MESSAGE_MIN || total > KFS_ES_MESSAGE_MAX) {
		d->broken = 1;
		snprintf(d->why, sizeof(d->why), "a message length out of "
			 "bounds (%u)", (unsigned)total);
		return 0;
	}
	if (crc(d->buf, 8) != be32(d->buf + 8)) {
		d->broken = 1;
		snprintf(d->why, sizeof(d->why), "a bad prelude CRC");
		return 0;
	}
	return total;
}

int kfs_es_feed(struct kfs_es_decoder *d, const void *p, size_t n,
		kfs_es_fn fn, void *arg)
{
	const unsigned char *in = p;

	if (d->broken)
		return -EBADMSG;
	while (n > 0) {
		size_t need = KFS_ES_PRELUDE, take;
		struct kfs_es_message m;
		int rc;

		if (d->len >= KFS_ES_PRELUDE)
			need = be32(d->buf);   /* checked when it came */
		if (d->cap < need) {
			unsigned char *b = realloc(d->buf, need);

			if (!b)
				return -ENOMEM;
			d->buf = b;
			d->cap = need;
		}
		take = need - d->len < n ? need - d->len : n;
		memcpy(d->buf + d->len, in, take);
		d->len += take;
		in += take;
		n -= take;
		if (d->len < need)
			continue;
		if (need == KFS_ES_PRELUDE) {
			/* Damage shows before the rest is waited for. */
			if (!prelude(d))
				return -EBADMSG;
			continue;
		}
		rc = kfs_es_decode(d->buf, d->len, &m, d->why, sizeof(d->why));
		d->len = 0;
		if (rc < 0) {
			d->broken = 1;
			return rc;
		}
		rc = fn(arg, &m);
		if (rc)
			return rc;
	}
	return 0;
}

int kfs_es_encode(const char *const *names, const char *const *values,
		  size_t n, const void *payload, size_t payload_len,
		  unsigned char **out, size_t *out_len)
{
	size_t hlen = 0, total, i, at;
	unsigned char *b;

	*out = NULL;
	*out_len = 0;
	for (i = 0; i < n; i++) {
		size_t nl = strlen(names[i]), vl = strlen(values[i]);

		if (nl == 0 || nl > 255 || vl > 65535)
			return -EINVAL;
		hlen += 1 + nl + 1 + 2 + vl;
	}
	total = hlen + payload_len + KFS_ES_MESSAGE_MIN;
	if (total > KFS_ES_MESSAGE_MAX)
		return -EINVAL;
	b = malloc(total);
	if (!b)
		return -ENOMEM;
	put32(b, (uint32_t)total);
	put32(b + 4, (uint32_t)hlen);
	put32(b + 8, crc(b, 8));
	at = KFS_ES_PRELUDE;
	for (i = 0; i < n; i++) {
		size_t nl = strlen(names[i]), vl = strlen(values[i]);

		b[at++] = (unsigned char)nl;
		memcpy(b + at, names[i], nl);
		at += nl;
		b[at++] = 7;
		b[at++] = (unsigned char)(vl >> 8);
		b[at++] = (unsigned char)vl;
		memcpy(b + at, values[i], vl);
		at += vl;
	}
	if (payload_len)
		memcpy(b + at, payload, payload_len);
	at += payload_len;
	put32(b + at, crc(b, at));
	*out = b;
	*out_len = total;
	return 0;
}
