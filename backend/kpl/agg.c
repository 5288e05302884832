/*
 * agg.c - KPL aggregated records (agg.h), with protobuf-c for the message
 * and OpenSSL's MD5 for the digest.
 *
 *   +-------------+----------------------------------+-------------------+
 *   | F3 89 9A C2 | AggregatedRecord (kpl.proto)     | MD5 of the middle |
 *   |  4 bytes    |  partition keys, hash keys,      |  16 bytes         |
 *   |             |  records (key index, data, ...)  |                   |
 *   +-------------+----------------------------------+-------------------+
 *
 * The builder keeps the size of the message as it grows (protobuf's
 * encoding is simple enough to count: a tag byte, a varint length, the
 * bytes), so that a producer knows before adding a record whether it
 * still fits; packing checks the count against protobuf-c's.
 */
#include "agg.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kpl/kpl.pb-c.h"

int kfs_agg_looks(const void *data, size_t len)
{
	return len > KFS_AGG_MAGIC_LEN + KFS_AGG_DIGEST_LEN &&
	       memcmp(data, KFS_AGG_MAGIC, KFS_AGG_MAGIC_LEN) == 0;
}

static int md5(const void *p, size_t n, unsigned char out[KFS_AGG_DIGEST_LEN])
{
	unsigned int len = 0;

	if (!EVP_Digest(p, n, out, &len, EVP_md5(), NULL) ||
	    len != KFS_AGG_DIGEST_LEN)
		return -EIO;
	return 0;
}

void kfs_agg_clear(struct kfs_agg *a)
{
	if (!a)
		return;
	free(a->records);
	if (a->msg)
		kfs_kpl__aggregated_record__free_unpacked(a->msg, NULL);
	memset(a, 0, sizeof(*a));
}

int kfs_agg_decode(const void *data, size_t len, struct kfs_agg *out,
		   const char **why)
{
	const unsigned char *p = data;
	unsigned char digest[KFS_AGG_DIGEST_LEN];
	KfsKpl__AggregatedRecord *m;
	size_t body = len - KFS_AGG_MAGIC_LEN - KFS_AGG_DIGEST_LEN;
	const char *dummy;

	memset(out, 0, sizeof(*out));
	if (!why)
		why = &dummy;
	if (!kfs_agg_looks(data, len)) {
		*why = "no magic";
		return -EBADMSG;
	}
	if (md5(p + KFS_AGG_MAGIC_LEN, body, digest) != 0) {
		*why = "no MD5 here";
		return -EBADMSG;
	}
	if (memcmp(digest, p + len - KFS_AGG_DIGEST_LEN, KFS_AGG_DIGEST_LEN) != 0) {
		*why = "MD5 mismatch";
		return -EBADMSG;
	}
	m = kfs_kpl__aggregated_record__unpack(NULL, body, p + KFS_AGG_MAGIC_LEN);
	if (!m) {
		*why = "not an AggregatedRecord message";
		return -EBADMSG;
	}
	if (m->n_records == 0) {
		*why = "no user records";
		goto bad;
	}
	out->records = calloc(m->n_records, sizeof(*out->records));
	if (!out->records) {
		kfs_kpl__aggregated_record__free_unpacked(m, NULL);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_records; i++) {
		const KfsKpl__Record *r = m->records[i];
		struct kfs_agg_record *u = &out->records[i];

		if (r->partition_key_index >= m->n_partition_key_table ||
		    (r->has_explicit_hash_key_index &&
		     r->explicit_hash_key_index >= m->n_explicit_hash_key_table)) {
			*why = "a key index out of range";
			free(out->records);
			out->records = NULL;
			goto bad;
		}
		u->key = m->partition_key_table[r->partition_key_index];
		u->explicit_hash_key = r->has_explicit_hash_key_index
			? m->explicit_hash_key_table[r->explicit_hash_key_index]
			: NULL;
		u->data = r->data.data;
		u->len = r->data.len;
	}
	out->n = m->n_records;
	out->msg = m;
	return 0;
bad:
	kfs_kpl__aggregated_record__free_unpacked(m, NULL);
	return -EBADMSG;
}

/* ---- building ------------------------------------------------------- */

struct agg_user {
	size_t key;        /* index in keys */
	size_t ehk;        /* index in ehks, or SIZE_MAX for none */
	const void *data;  /* borrowed */
	size_t len;
};

struct kfs_agg_builder {
	const char **keys;        /* the partition key table; borrowed strings */
	size_t nkeys, capkeys;
	const char **ehks;        /* the explicit hash key table; borrowed */
	size_t nehks, capehks;
	struct agg_user *users;   /* the user records, in order */
	size_t nusers, capusers;
	size_t msg_bytes;         /* the packed message's size, kept as it grows */
};

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* A length-delimited field: its tag byte, the length's varint, the bytes. */
static size_t delimited_len(size_t n)
{
	return 1 + varint_len(n) + n;
}

static size_t user_len(size_t key, size_t ehk, size_t len)
{
	size_t n = 1 + varint_len(key) + delimited_len(len);

	if (ehk != SIZE_MAX)
		n += 1 + varint_len(ehk);
	return delimited_len(n);
}

/* The index of s in the table, or n (where it would go). */
static size_t find(const char **t, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i], s) == 0)
			break;
	return i;
}

struct kfs_agg_builder *kfs_agg_builder_new(void)
{
	return calloc(1, sizeof(struct kfs_agg_builder));
}

void kfs_agg_builder_free(struct kfs_agg_builder *b)
{
	if (!b)
		return;
	free(b->keys);
	free(b->ehks);
	free(b->users);
	free(b);
}

void kfs_agg_builder_reset(struct kfs_agg_builder *b)
{
	b->nkeys = b->nehks = b->nusers = 0;
	b->msg_bytes = 0;
}

size_t kfs_agg_builder_count(const struct kfs_agg_builder *b)
{
	return b->nusers;
}

size_t kfs_agg_builder_size_with(const struct kfs_agg_builder *b,
				 const char *key, const char *ehk, size_t len)
{
	size_t n = b->msg_bytes, k, e = SIZE_MAX;

	if (key) {
		k = find(b->keys, b->nkeys, key);
		if (k == b->nkeys)
			n += delimited_len(strlen(key));
		if (ehk) {
			e = find(b->ehks, b->nehks, ehk);
			if (e == b->nehks)
				n += delimited_len(strlen(ehk));
		}
		n += user_len(k, e, len);
	}
	return KFS_AGG_MAGIC_LEN + n + KFS_AGG_DIGEST_LEN;
}

/* Room for one more element in the array *arr of *cap elements, n used. */
#define GROW(arr, cap, n)                                                   \
	((n) < (cap) ? 0 : grow_to((void **)&(arr), &(cap), sizeof(*(arr))))

static int grow_to(void **arr, size_t *cap, size_t size)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, c * size);

	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

int kfs_agg_builder_add(struct kfs_agg_builder *b, const char *key,
			const char *ehk, const void *data, size_t len)
{
	size_t k = find(b->keys, b->nkeys, key), e = SIZE_MAX;

	if (GROW(b->keys, b->capkeys, b->nkeys) ||
	    GROW(b->ehks, b->capehks, b->nehks) ||
	    GROW(b->users, b->capusers, b->nusers))
		return -ENOMEM;
	if (k == b->nkeys) {
		b->keys[b->nkeys++] = key;
		b->msg_bytes += delimited_len(strlen(key));
	}
	if (ehk) {
		e = find(b->ehks, b->nehks, ehk);
		if (e == b->nehks) {
			b->ehks[b->nehks++] = ehk;
			b->msg_bytes += delimited_len(strlen(ehk));
		}
	}
	b->users[b->nusers++] = (struct agg_user){ k, e, data, len };
	b->msg_bytes += user_len(k, e, len);
	return 0;
}

int kfs_agg_builder_pack(struct kfs_agg_builder *b, unsigned char **out,
			 size_t *out_len)
{
	KfsKpl__AggregatedRecord m = KFS_KPL__AGGREGATED_RECORD__INIT;
	KfsKpl__Record *recs, **ptrs;
	unsigned char *buf;
	size_t body;
	int err = -ENOMEM;

	*out = NULL;
	*out_len = 0;
	if (b->nusers == 0)
		return -EINVAL;
	recs = calloc(b->nusers, sizeof(*recs));
	ptrs = calloc(b->nusers, sizeof(*ptrs));
	if (!recs || !ptrs)
		goto out;
	for (size_t i = 0; i < b->nusers; i++) {
		const struct agg_user *u = &b->users[i];

		kfs_kpl__record__init(&recs[i]);
		recs[i].partition_key_index = u->key;
		if (u->ehk != SIZE_MAX) {
			recs[i].has_explicit_hash_key_index = 1;
			recs[i].explicit_hash_key_index = u->ehk;
		}
		/* protobuf-c packs from these and never writes to them. */
		recs[i].data.data = (uint8_t *)u->data;
		recs[i].data.len = u->len;
		ptrs[i] = &recs[i];
	}
	m.n_partition_key_table = b->nkeys;
	m.partition_key_table = (char **)b->keys;
	m.n_explicit_hash_key_table = b->nehks;
	m.explicit_hash_key_table = b->nehks ? (char **)b->ehks : NULL;
	m.n_records = b->nusers;
	m.records = ptrs;
	body = kfs_kpl__aggregated_record__get_packed_size(&m);
	if (body != b->msg_bytes) {
		/* The count above is what producers plan with: never off. */
		err = -EPROTO;
		goto out;
	}
	buf = malloc(KFS_AGG_MAGIC_LEN + body + KFS_AGG_DIGEST_LEN);
	if (!buf)
		goto out;
	memcpy(buf, KFS_AGG_MAGIC, KFS_AGG_MAGIC_LEN);
	kfs_kpl__aggregated_record__pack(&m, buf + KFS_AGG_MAGIC_LEN);
	if (md5(buf + KFS_AGG_MAGIC_LEN, body, buf + KFS_AGG_MAGIC_LEN + body) != 0) {
		free(buf);
		err = -EIO;
		goto out;
	}
	*out = buf;
	*out_len = KFS_AGG_MAGIC_LEN + body + KFS_AGG_DIGEST_LEN;
	kfs_agg_builder_reset(b);
	err = 0;
out:
	free(recs);
	free(ptrs);
	return err;
}
