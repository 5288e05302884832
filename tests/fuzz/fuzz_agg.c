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
 * find a digest.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kpl/agg.h"

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
	free(w);
	return 0;
}
