/* expand.c - user records of aggregated records; see expand.h. */
#include "expand.h"
#include "agg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int kfs_agg_rendered(const void *data, size_t len,
		     uint64_t bytes[KFS_FRAMING_COUNT], uint64_t *users)
{
	struct kfs_agg a;

	if (kfs_agg_looks(data, len) && kfs_agg_decode(data, len, &a, NULL) == 0) {
		bytes[KFS_FRAMING_LINE] = bytes[KFS_FRAMING_WRITE] = 0;
		for (size_t i = 0; i < a.n; i++) {
			bytes[KFS_FRAMING_LINE] += kfs_framed_len(
				KFS_FRAMING_LINE, a.records[i].data, a.records[i].len);
			bytes[KFS_FRAMING_WRITE] += a.records[i].len;
		}
		if (users)
			*users = a.n;
		kfs_agg_clear(&a);
		return 1;
	}
	bytes[KFS_FRAMING_LINE] = kfs_framed_len(KFS_FRAMING_LINE, data, len);
	bytes[KFS_FRAMING_WRITE] = len;
	if (users)
		*users = 1;
	return 0;
}

uint64_t kfs_agg_framed_len(enum kfs_framing f, const void *data, size_t len)
{
	uint64_t b[KFS_FRAMING_COUNT];

	if (!kfs_agg_looks(data, len))
		return kfs_framed_len(f, data, len);
	kfs_agg_rendered(data, len, b, NULL);
	return b[f];
}

void kfs_agg_keyset_clear(struct kfs_agg_keyset *s)
{
	if (!s)
		return;
	free(s->v);
	if (s->agg) {
		kfs_agg_clear(s->agg);
		free(s->agg);
	}
	memset(s, 0, sizeof(*s));
}

int kfs_agg_keys(const void *data, size_t len, struct kfs_agg_keyset *out)
{
	struct kfs_agg *a;

	memset(out, 0, sizeof(*out));
	if (!kfs_agg_looks(data, len))
		return 0;
	if (!(a = calloc(1, sizeof(*a))))
		return -ENOMEM;
	if (kfs_agg_decode(data, len, a, NULL) != 0) {
		free(a);
		return 0;
	}
	out->agg = a;
	if (!(out->v = calloc(a->n, sizeof(*out->v)))) {
		kfs_agg_keyset_clear(out);
		return -ENOMEM;
	}
	/* Keys are few (a producer's keys of one shard): a linear look. */
	for (size_t i = 0; i < a->n; i++) {
		const struct kfs_agg_record *u = &a->records[i];
		struct kfs_agg_keytot *t = NULL;

		for (size_t j = out->n; j-- > 0;)
			if (out->v[j].key == u->key || !strcmp(out->v[j].key, u->key)) {
				t = &out->v[j];
				break;
			}
		if (!t) {
			t = &out->v[out->n++];
			t->key = u->key;
		}
		t->bytes[KFS_FRAMING_LINE] +=
			kfs_framed_len(KFS_FRAMING_LINE, u->data, u->len);
		t->bytes[KFS_FRAMING_WRITE] += u->len;
		t->records++;
	}
	return 1;
}

/* The decoded aggregated records of res, by index (NULL: plain). */
struct plan {
	struct kfs_agg *agg;      /* res->n of them; .n == 0: plain */
	size_t records;           /* records of res once expanded */
	size_t bytes;             /* of the new block */
	size_t expanded;
};

static void plan_free(struct plan *p, size_t n)
{
	if (!p->agg)
		return;
	for (size_t i = 0; i < n; i++)
		kfs_agg_clear(&p->agg[i]);
	free(p->agg);
}

/* Decodes what is aggregated in res; 0 or -ENOMEM. */
static int plan_make(const struct kfs_get_result *res, struct plan *p,
		     const char *key, size_t *bad, const char **why)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < res->n; i++) {
		const struct kfs_record *r = &res->records[i];
		struct kfs_agg *a;
		const char *w = NULL;

		p->records++;
		if (!res->blocks)
			p->bytes += strlen(r->key) + 1 + r->len;
		if (!kfs_agg_looks(r->data, r->len))
			continue;
		if (!p->agg && !(p->agg = calloc(res->n, sizeof(*p->agg))))
			return -ENOMEM;
		a = &p->agg[i];
		if (kfs_agg_decode(r->data, r->len, a, &w) != 0) {
			if (bad && (!key || !strcmp(r->key, key)) &&
			    (*bad)++ == 0 && why)
				*why = w;
			continue;
		}
		p->expanded++;
		p->records += a->n - 1;
		if (!res->blocks)
			p->bytes -= strlen(r->key) + 1 + r->len;
		for (size_t j = 0; j < a->n; j++) {
			const struct kfs_agg_record *u = &a->records[j];
			p->bytes += strlen(u->key) + 1 + u->len;
			if (u->explicit_hash_key)
				p->bytes += strlen(u->explicit_hash_key) + 1;
		}
	}
	return 0;
}

static char *put_str(unsigned char **at, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = (char *)*at;

	memcpy(d, s, n);
	*at += n;
	return d;
}

static unsigned char *put_bytes(unsigned char **at, const void *p, size_t n)
{
	unsigned char *d = *at;

	if (n)
		memcpy(d, p, n);
	*at += n;
	return d;
}

int kfs_agg_expand(struct kfs_get_result *res, const char *key, size_t *bad,
		   const char **why)
{
	struct kfs_record *v;
	struct plan p;
	unsigned char *at;
	struct kfs_block *b;
	size_t k = 0, n0 = res->n;
	size_t look;
	int rc;

	/* Most pages hold no aggregated record: one look at each. */
	for (look = 0; look < n0; look++)
		if (kfs_agg_looks(res->records[look].data, res->records[look].len))
			break;
	if (look == n0)
		return 0;
	rc = plan_make(res, &p, key, bad, why);
	if (rc < 0 || p.expanded == 0) {
		plan_free(&p, n0);
		return rc;
	}
	v = calloc(p.records, sizeof(*v));
	b = malloc(sizeof(*b) + (p.bytes ? p.bytes : 1));
	if (!v || !b) {
		free(v);
		free(b);
		plan_free(&p, n0);
		return -ENOMEM;
	}
	at = b->mem;
	for (size_t i = 0; i < res->n; i++) {
		struct kfs_record *r = &res->records[i];
		struct kfs_agg *a = p.agg ? &p.agg[i] : NULL;

		if (!a || a->n == 0) {
			v[k] = *r;
			if (!res->blocks) {
				v[k].key = put_str(&at, r->key);
				v[k].data = put_bytes(&at, r->data, r->len);
			}
			k++;
			continue;
		}
		for (size_t j = 0; j < a->n; j++, k++) {
			const struct kfs_agg_record *u = &a->records[j];

			memcpy(v[k].seq, r->seq, sizeof(v[k].seq));
			v[k].arrival_ms = r->arrival_ms;
			v[k].key = put_str(&at, u->key);
			v[k].ehk = u->explicit_hash_key
				   ? put_str(&at, u->explicit_hash_key) : NULL;
			v[k].data = put_bytes(&at, u->data, u->len);
			v[k].len = u->len;
			v[k].sub_seq = (uint32_t)j;
			v[k].user = 1;
		}
	}
	if (!res->blocks)
		for (size_t i = 0; i < res->n; i++) {
			free(res->records[i].key);
			free(res->records[i].data);
		}
	b->next = res->blocks;
	res->blocks = b;
	free(res->records);
	res->records = v;
	res->n = k;
	plan_free(&p, n0);
	return (int)p.expanded;
}
