/* render.c - the bytes a reader renders; see render.h. */
#include "render.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* Room for n more bytes at buf + len. */
int kfs_rbuf_reserve(struct kfs_rbuf *r, size_t n)
{
	if (r->off > 0 && r->off == r->len) {
		r->off = r->len = 0;
	} else if (r->off > 0 && r->len + n > r->cap) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		unsigned char *b;

		while (cap < r->len + n)
			cap *= 2;
		b = realloc(r->buf, cap);
		if (!b)
			return -ENOMEM;
		r->buf = b;
		r->cap = cap;
	}
	return 0;
}

int kfs_rbuf_put(struct kfs_rbuf *r, const void *p, size_t n)
{
	int err = kfs_rbuf_reserve(r, n);

	if (err)
		return err;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

static int puts_(struct kfs_rbuf *r, const char *s)
{
	return kfs_rbuf_put(r, s, strlen(s));
}



static int put_json_string(struct kfs_rbuf *r, const unsigned char *p,
			   size_t n);

int kfs_render_json_string(struct kfs_rbuf *r, const void *s, size_t n)
{
	return put_json_string(r, s, n);
}

/* Appends p as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static int put_json_string(struct kfs_rbuf *r, const unsigned char *p,
			   size_t n)
{
	int err = kfs_rbuf_put(r, "\"", 1);

	for (size_t i = 0; !err && i < n;) {
		unsigned char c = p[i];
		size_t l, run = 0;
		char esc[8];

		/* Printable ASCII but '"' and '\\' goes as it is, a run at
		 * a time. */
		while (i + run < n && p[i + run] >= 0x20 && p[i + run] < 0x7f &&
		       p[i + run] != '"' && p[i + run] != '\\')
			run++;
		if (run > 0) {
			err = kfs_rbuf_put(r, p + i, run);
			i += run;
			continue;
		}
		l = kfs_utf8_seq(p + i, n - i);
		if (l == 0) {
			err = puts_(r, "\\ufffd");
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			err = kfs_rbuf_put(r, esc, 2);
		} else if (c == '\n') {
			err = puts_(r, "\\n");
		} else if (c == '\t') {
			err = puts_(r, "\\t");
		} else if (c == '\r') {
			err = puts_(r, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			err = puts_(r, esc);
		} else {
			err = kfs_rbuf_put(r, p + i, l);
		}
		i += l;
	}
	return err ? err : kfs_rbuf_put(r, "\"", 1);
}

static int put_field(struct kfs_rbuf *r, const char *name, const char *value)
{
	int err = puts_(r, name);

	return err ? err : put_json_string(r, (const unsigned char *)value,
					   strlen(value));
}

int kfs_render_json(struct kfs_rbuf *r, const char *shard,
		       const struct kfs_record *rec)
{
	char t[40];
	int err, text = kfs_utf8_valid(rec->data, rec->len);

	kfs_format_iso8601(rec->arrival_ms, t, sizeof(t));
	err = put_field(r, "{\"SequenceNumber\":", rec->seq);
	if (!err && rec->user) {
		char sub[32];

		snprintf(sub, sizeof(sub), ",\"SubSequenceNumber\":%u", rec->sub_seq);
		err = puts_(r, sub);
	}
	if (!err)
		err = put_field(r, ",\"ApproximateArrivalTimestamp\":", t);
	if (!err)
		err = put_field(r, ",\"PartitionKey\":", rec->key);
	if (!err && rec->ehk)
		err = put_field(r, ",\"ExplicitHashKey\":", rec->ehk);
	if (!err)
		err = put_field(r, ",\"ShardId\":", shard);
	if (!err)
		err = puts_(r, ",\"Data\":");
	if (!err && text) {
		err = put_json_string(r, rec->data, rec->len);
	} else if (!err) {
		size_t n = 4 * ((rec->len + 2) / 3);

		err = kfs_rbuf_put(r, "\"", 1);
		if (!err)
			err = kfs_rbuf_reserve(r, n + 1);
		if (!err) {
			EVP_EncodeBlock(r->buf + r->len, rec->data,
					(int)rec->len);
			r->len += n;
			err = kfs_rbuf_put(r, "\"", 1);
		}
	}
	if (!err)
		err = puts_(r, text ? ",\"DataEncoding\":\"utf8\"}\n"
				    : ",\"DataEncoding\":\"base64\"}\n");
	return err;
}

