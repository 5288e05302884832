/*
 * fuzz_agg.c - libFuzzer harness for KPL aggregated records
 * (backend/kpl/agg.h: kfs_agg_decode on the input as a record's data).
 *
 * Checked beyond "no crash": a decode is 0 or -EBADMSG (with a reason);
 * what decodes has at least one user record, each with a key; packed
 * again with the builder, the user records come out the same, in order,
 * and the size planned with kfs_agg_builder_size_with is the packed one.
 * The input with its magic put in front and its own MD5 appended is tried
 * too, so that the fuzzer reaches the message parser without having to
 * find a digest.  Then what readers do with it (backend/kpl/expand.h):
 * in a page beside a plain record, kfs_agg_expand gives the plain record
 * and its user records (or it as it is), whose bytes in each framing are
 * what kfs_agg_rendered says, and so are the keys' shares of
 * kfs_agg_keys.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/kpl/agg.h"
#include "backend/kpl/expand.h"

static void die(const char *what)
{
	fprintf(stderr, "fuzz_agg: %s\n", what);
	abort();
}

static void check(const uint8_t *d, size_t n)
{
	struct kfs_agg a, b;
	struct kfs_agg_builder *bl;
	const char *why = NULL;
	unsigned char *out;
	size_t len, planned = 0;
	int err = kfs_agg_decode(d, n, &a, &why);

	if (err == -EBADMSG) {
		if (!why)
			die("-EBADMSG without a reason");
		return;
	}
	if (err == -ENOMEM)
		return;
	if (err != 0)
		die("decode gave neither 0 nor -EBADMSG");
	if (a.n == 0)
		die("decoded with no user records");
	bl = kfs_agg_builder_new();
	if (!bl)
		die("out of memory");
	for (size_t i = 0; i < a.n; i++) {
		if (!a.records[i].key)
			die("a user record without a key");
		planned = kfs_agg_builder_size_with(bl, a.records[i].key,
						    a.records[i].explicit_hash_key,
						    a.records[i].len);
		kfs_agg_builder_add(bl, a.records[i].key,
				    a.records[i].explicit_hash_key,
				    a.records[i].data, a.records[i].len);
	}
	if (kfs_agg_builder_pack(bl, &out, &len) != 0)
		die("the user records do not pack again");
	if (len != planned)
		die("planned size differs from the packed size");
	if (kfs_agg_decode(out, len, &b, NULL) != 0 || b.n != a.n)
		die("packed again, it does not decode to as many user records");
	for (size_t i = 0; i < a.n; i++) {
		const struct kfs_agg_record *x = &a.records[i], *y = &b.records[i];

		if (strcmp(x->key, y->key) != 0 || x->len != y->len ||
		    (x->len && memcmp(x->data, y->data, x->len) != 0) ||
		    !x->explicit_hash_key != !y->explicit_hash_key ||
		    (x->explicit_hash_key &&
		     strcmp(x->explicit_hash_key, y->explicit_hash_key) != 0))
			die("packed again, a user record differs");
	}
	kfs_agg_clear(&b);
	free(out);
	kfs_agg_builder_free(bl);
	kfs_agg_clear(&a);
}

/* A page of a plain record and d (each owning its bytes, as the AWS
 * backend's), expanded. */
static void check_expand(const uint8_t *d, size_t n)
{
	struct kfs_get_result res = { 0 };
	struct kfs_agg_keyset ks;
	uint64_t want[KFS_FRAMING_COUNT], got[KFS_FRAMING_COUNT] = { 0 }, users;
	uint64_t keyed[KFS_FRAMING_COUNT] = { 0 }, keyed_records = 0;
	int agg = kfs_agg_rendered(d, n, want, &users);
	int kk = kfs_agg_keys(d, n, &ks);
	int rc;

	if (kk < 0)
		return;
	if (kk != agg)
		die("kfs_agg_keys and kfs_agg_rendered disagree");
	for (size_t i = 0; i < ks.n; i++) {
		for (int f = 0; f < KFS_FRAMING_COUNT; f++)
			keyed[f] += ks.v[i].bytes[f];
		keyed_records += ks.v[i].records;
	}
	if (agg && (keyed_records != users ||
		    memcmp(keyed, want, sizeof(want)) != 0))
		die("the keys' shares do not add up to the record");
	kfs_agg_keyset_clear(&ks);
	res.records = calloc(2, sizeof(*res.records));
	if (!res.records)
		return;
	res.n = 2;
	res.records[0].key = strdup("plain");
	res.records[0].data = (unsigned char *)strdup("a line");
	res.records[0].len = 6;
	res.records[1].key = strdup("outer");
	res.records[1].data = malloc(n ? n : 1);
	if (!res.records[0].key || !res.records[0].data ||
	    !res.records[1].key || !res.records[1].data) {
		kfs_get_result_clear(&res);
		return;
	}
	if (n)
		memcpy(res.records[1].data, d, n);
	res.records[1].len = n;
	rc = kfs_agg_expand(&res, NULL, NULL, NULL);
	if (rc == -ENOMEM) {
		kfs_get_result_clear(&res);
		return;
	}
	if (rc != agg || res.n != 1 + users)
		die("kfs_agg_expand gave another count than kfs_agg_rendered");
	if (strcmp(res.records[0].key, "plain") != 0 || res.records[0].user ||
	    res.records[0].len != 6 || memcmp(res.records[0].data, "a line", 6))
		die("the plain record changed");
	for (size_t i = 1; i < res.n; i++) {
		if (res.records[i].user != agg ||
		    (agg && res.records[i].sub_seq != i - 1))
			die("a user record without its sub-sequence number");
		for (int f = 0; f < KFS_FRAMING_COUNT; f++)
			got[f] += kfs_framed_len((enum kfs_framing)f,
						 res.records[i].data,
						 res.records[i].len);
	}
	if (memcmp(got, want, sizeof(got)) != 0)
		die("the expanded records' bytes are not kfs_agg_rendered's");
	kfs_get_result_clear(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	uint8_t *w = malloc(KFS_AGG_MAGIC_LEN + n + KFS_AGG_DIGEST_LEN);
	unsigned int dl;

	check(d, n);
	if (!w)
		return 0;
	memcpy(w, KFS_AGG_MAGIC, KFS_AGG_MAGIC_LEN);
	if (n)
		memcpy(w + KFS_AGG_MAGIC_LEN, d, n);
	EVP_Digest(d, n, w + KFS_AGG_MAGIC_LEN + n, &dl, EVP_md5(), NULL);
	check(w, KFS_AGG_MAGIC_LEN + n + KFS_AGG_DIGEST_LEN);
	check_expand(d, n);
	check_expand(w, KFS_AGG_MAGIC_LEN + n + KFS_AGG_DIGEST_LEN);
	free(w);
	return 0;
}
