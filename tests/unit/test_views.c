/*
 * test_views.c - what docs/reading.md promises of views, checked below the
 * FUSE layer: kfs_parse_timestamp, kfs_position_parse and kfs_path_parse,
 * and the reader (fs/reader.c) over a real local engine in a mkdtemp
 * directory, with the engine's clock injected so that records get the
 * arrival times a test wants.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/names.h"
#include "backend/local/ids.h"
#include "backend/local/local.h"
#include "fs/path.h"
#include "fs/reader.h"
#include "lib/log.h"
#include "lib/util.h"
#include "tap.h"

/* 2026-11-25T10:00:00Z in ms (date -ud 2026-11-25T10:00:00Z +%s). */
#define T0 ((int64_t)1795600800000)
#include "scratch.h"
#define S0 "shardId-000000000000"
#define S1 "shardId-000000000001"

/* ---- a data directory and an engine -------------------------------------- */

struct env {
	char *dir;
	struct kfs_backend *be;
};

static void env_open(struct env *e)
{
	struct kfs_local_config cfg = {
		.clock = &scratch_clock,
	};
	int rc;

	set_now(T0);
	e->dir = strdup("/tmp/kfs-views-XXXXXX");
	REQUIRE(e->dir && mkdtemp(e->dir));
	cfg.data_dir = e->dir;
	e->be = NULL;
	rc = kfs_local_open(&cfg, &e->be);
	if (rc != 0)
		printf("# kfs_local_open(%s): %s\n", e->dir, strerror(-rc));
	REQUIRE(rc == 0 && e->be);
}

static void env_close(struct env *e)
{
	kfs_backend_free(e->be);
	rm_rf(e->dir);
	free(e->dir);
	set_now(T0);
}

static void mkstream(struct env *e, const char *s, int shards)
{
	REQUIRE(e->be->ops->create_stream(e->be->impl, s, shards) == 0);
}

static void reshard(struct env *e, const char *s, int target)
{
	int rc = e->be->ops->update_shard_count(e->be->impl, s, target);
	if (rc)
		printf("# update_shard_count(%s, %d): %s\n", s, target, strerror(-rc));
	REQUIRE(rc == 0);
}

/* Puts one record; seq and shard (either may be NULL) get its result. */
static void put_rec(struct env *e, const char *stream, const char *key,
		    const char *ehk, const void *data, size_t len,
		    char *seq, char *shard)
{
	struct kfs_put_entry en = {.key = key, .explicit_hash_key = ehk,
				   .data = data, .len = len};
	int rc = e->be->ops->put_records(e->be->impl, stream, &en, 1);

	if (rc == 0 && en.err)
		printf("# put: %s\n", en.reason);
	REQUIRE(rc == 0 && en.err == 0);
	if (seq)
		strcpy(seq, en.seq);
	if (shard)
		strcpy(shard, en.shard_id);
}

static void put_str(struct env *e, const char *stream, const char *key,
		    const char *s, char *seq)
{
	put_rec(e, stream, key, NULL, s, strlen(s), seq, NULL);
}

/* ---- a growing buffer ------------------------------------------------------ */

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		REQUIRE(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int buf_is(const struct buf *b, const char *s)
{
	size_t n = strlen(s);
	return b->n == n && (n == 0 || memcmp(b->p, s, n) == 0);
}

/* ---- readers --------------------------------------------------------------- */

/* Opens the reader of a mount path such as "/S/shardId-000000000000@LATEST",
 * as fs/ops.c would: *rc gets kfs_reader_open's result. */
static struct kfs_reader *open_path(struct env *e, const char *path,
				    enum kfs_framing f, int *rc)
{
	struct kfs_path p;
	struct kfs_reader_spec spec;
	struct kfs_reader *r = NULL;
	char why[256];
	int prc = kfs_path_parse(path, &p);

	if (prc != 0)
		printf("# kfs_path_parse(%s) = %d\n", path, prc);
	REQUIRE(prc == 0);
	REQUIRE(p.kind == KFS_NODE_SHARD || p.kind == KFS_NODE_KEY ||
		p.kind == KFS_NODE_SVIEW);
	memset(&spec, 0, sizeof(spec));
	spec.stream = p.stream;
	spec.kind = p.kind;
	spec.name = p.name;
	spec.pos = (p.view || p.kind == KFS_NODE_SVIEW) ? &p.pos : NULL;
	spec.framing = f;
	*rc = kfs_reader_open(e->be, &spec, &r, why, sizeof(why));
	if (*rc == 0)
		REQUIRE(r);
	else
		REQUIRE(!r);
	return r;
}

static struct kfs_reader *must_open(struct env *e, const char *path,
				    enum kfs_framing f)
{
	int rc;
	struct kfs_reader *r = open_path(e, path, f, &rc);

	if (rc != 0)
		printf("# kfs_reader_open(%s): %s\n", path, strerror(-rc));
	REQUIRE(rc == 0);
	return r;
}

/* Reads on from b->n in chunks until a read returns 0 or fails (-EAGAIN
 * at the tip of a view); returns that last result. */
static ssize_t drain(struct kfs_reader *r, struct buf *b, size_t chunk)
{
	char *tmp = malloc(chunk);
	ssize_t rc;
	int guard = 0;

	REQUIRE(tmp);
	for (;;) {
		rc = kfs_reader_read(r, tmp, chunk, b->n);
		if (rc <= 0)
			break;
		if ((size_t)rc > chunk) {
			printf("#   read returned %zd > %zu\n", rc, chunk);
			rc = -EIO;
			break;
		}
		buf_add(b, tmp, (size_t)rc);
		if (++guard > 10000000) {
			rc = -ELOOP;
			break;
		}
	}
	free(tmp);
	return rc;
}

/* The whole content of a path read with a fresh reader. */
static ssize_t read_path(struct env *e, const char *path, enum kfs_framing f,
			 struct buf *b, size_t chunk)
{
	struct kfs_reader *r = must_open(e, path, f);
	ssize_t rc = drain(r, b, chunk);
	kfs_reader_free(r);
	return rc;
}

/* ---- JSON lines ------------------------------------------------------------ */

struct jrec {
	char seq[KFS_SEQ_MAX];
	char ts[64];
	char key[1024];
	char shard[64];
	unsigned char *data;
	size_t len;
	int b64;
	int64_t arrival_ms;
};

static void jrecs_free(struct jrec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].data);
	free(v);
}

static int b64_decode(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *d;
	int got;

	if (n % 4)
		return -1;
	d = malloc(n / 4 * 3 + 1);
	REQUIRE(d);
	if (n == 0) {
		*out = d;
		*len = 0;
		return 0;
	}
	got = EVP_DecodeBlock(d, (const unsigned char *)s, (int)n);
	if (got < 0) {
		free(d);
		return -1;
	}
	if (s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	*out = d;
	*len = (size_t)got - pad;
	return 0;
}

/* Parses JSON lines (each checked for the six documented fields); returns
 * how many, *out the records. */
static size_t parse_jsonl(const char *p, size_t n, struct jrec **out)
{
	static const char *const names[] = {
		"SequenceNumber", "ApproximateArrivalTimestamp", "PartitionKey",
		"ShardId", "Data", "DataEncoding",
	};
	struct jrec *v = NULL;
	size_t cnt = 0, cap = 0;
	const char *end = p + n;

	if (n > 0)
		CHECK(p[n - 1] == '\n');
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = strndup(p, ll);
		cJSON *j, *it;
		struct jrec *r;
		int k = 0;

		REQUIRE(line);
		/* One object a line: no raw control character inside. */
		for (size_t i = 0; i < ll; i++)
			if ((unsigned char)line[i] < 0x20) {
				printf("#   raw control byte 0x%02x in a JSON line\n",
				       (unsigned char)line[i]);
				tap_cur_failed = 1;
				break;
			}
		CHECK(strncmp(line, "{\"SequenceNumber\":\"", 19) == 0);
		j = cJSON_Parse(line);
		if (!j || !cJSON_IsObject(j)) {
			printf("#   not a JSON object: %s\n", line);
			tap_cur_failed = 1;
			cJSON_Delete(j);
			free(line);
			p = nl ? nl + 1 : end;
			continue;
		}
		if (cnt == cap) {
			cap = cap ? 2 * cap : 64;
			v = realloc(v, cap * sizeof(*v));
			REQUIRE(v);
		}
		r = &v[cnt++];
		memset(r, 0, sizeof(*r));
		cJSON_ArrayForEach(it, j) {
			if (k >= 6 || strcmp(it->string, names[k]) != 0 ||
			    !cJSON_IsString(it)) {
				printf("#   field %d is \"%s\" in %s\n", k, it->string, line);
				tap_cur_failed = 1;
				k++;
				continue;
			}
			switch (k) {
			case 0:
				snprintf(r->seq, sizeof(r->seq), "%s", it->valuestring);
				break;
			case 1:
				snprintf(r->ts, sizeof(r->ts), "%s", it->valuestring);
				break;
			case 2:
				snprintf(r->key, sizeof(r->key), "%s", it->valuestring);
				break;
			case 3:
				snprintf(r->shard, sizeof(r->shard), "%s", it->valuestring);
				break;
			default:
				break;
			}
			k++;
		}
		CHECK_EQ_INT(k, 6);
		{
			cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "Data");
			cJSON *de = cJSON_GetObjectItemCaseSensitive(j, "DataEncoding");
			if (cJSON_IsString(d) && cJSON_IsString(de)) {
				if (strcmp(de->valuestring, "base64") == 0) {
					r->b64 = 1;
					if (b64_decode(d->valuestring, &r->data, &r->len)) {
						printf("#   bad base64: %s\n", d->valuestring);
						tap_cur_failed = 1;
					}
				} else {
					CHECK_EQ_STR(de->valuestring, "utf8");
					r->len = strlen(d->valuestring);
					r->data = (unsigned char *)strdup(d->valuestring);
				}
			}
		}
		/* ISO 8601 UTC with milliseconds, accepted back. */
		CHECK_EQ_INT(strlen(r->ts), 24);
		CHECK(r->ts[23] == 'Z' && r->ts[19] == '.');
		r->arrival_ms = -1;
		CHECK_EQ_INT(kfs_parse_timestamp(r->ts, &r->arrival_ms), 0);
		cJSON_Delete(j);
		free(line);
		p = nl ? nl + 1 : end;
	}
	*out = v;
	return cnt;
}

static int jdata_is(const struct jrec *r, const void *d, size_t n)
{
	return r->data && r->len == n && memcmp(r->data, d, n) == 0;
}

/* ---- 1. timestamps ------------------------------------------------------- */

struct ts_case {
	const char *s;
	int ok;
	int64_t ms;
};

TEST(parse_timestamp)
{
	static const struct ts_case cases[] = {
		/* ISO 8601, every zone form; no zone is UTC */
		{"2026-11-25T10:00:00Z", 1, T0},
		{"2026-11-25T10:00:00", 1, T0},
		{"2026-11-25t10:00:00z", 1, T0},
		{"2026-11-25t10:00:00", 1, T0},
		{"2026-11-25T12:00:00+02:00", 1, T0},
		{"2026-11-25T12:00:00+0200", 1, T0},
		{"2026-11-25T12:00:00+02", 1, T0},
		{"2026-11-25T05:00:00-05", 1, T0},
		{"2026-11-25T05:00:00-05:00", 1, T0},
		{"2026-11-25T05:00:00-0500", 1, T0},
		{"2026-11-25T10:00:00+00:00", 1, T0},
		{"2026-11-25T10:00:00-00", 1, T0},
		{"2026-11-25T10:30:00+00:30", 1, T0},
		{"2026-11-25T04:15:00-05:45", 1, T0},
		{"2026-11-26T09:59:00+23:59", 1, T0},
		/* the day changes with the zone */
		{"2026-11-25T00:00:00-23:59", 1, T0 + (13 * 60 + 59) * 60000LL},
		{"2026-11-25T01:00:00+02:00", 1, T0 - 11 * 3600000LL},
		/* fractions: 1 to 9 digits, past the millisecond dropped */
		{"2026-11-25T10:00:00.5Z", 1, T0 + 500},
		{"2026-11-25T10:00:00.12Z", 1, T0 + 120},
		{"2026-11-25T10:00:00.123Z", 1, T0 + 123},
		{"2026-11-25T10:00:00.1234Z", 1, T0 + 123},
		{"2026-11-25T10:00:00.12345Z", 1, T0 + 123},
		{"2026-11-25T10:00:00.123456Z", 1, T0 + 123},
		{"2026-11-25T10:00:00.1234567Z", 1, T0 + 123},
		{"2026-11-25T10:00:00.12345678Z", 1, T0 + 123},
		{"2026-11-25T10:00:00.123456789Z", 1, T0 + 123},
		{"2026-11-25T10:00:00.999999999Z", 1, T0 + 999},
		{"2026-11-25T10:00:00.000000001Z", 1, T0},
		{"2026-11-25T10:00:00.007", 1, T0 + 7},
		{"2026-11-25T10:00:00.05", 1, T0 + 50},
		{"2026-11-25T12:00:00.250+02:00", 1, T0 + 250},
		{"2026-11-25T05:00:00.9-05", 1, T0 + 900},
		{"2026-11-25t10:00:00.5z", 1, T0 + 500},
		/* known instants (date -ud X +%s) */
		{"1970-01-01T00:00:00Z", 1, 0},
		{"2024-02-29T00:00:00Z", 1, 1709164800000LL},
		{"2000-02-29T12:34:56Z", 1, 951827696000LL},
		{"2026-12-31T23:59:59Z", 1, 1798761599000LL},
		{"2027-01-01T00:00:00Z", 1, 1798761600000LL},
		{"2025-11-25T10:00:00Z", 1, 1764064800000LL},
		{"2025-11-24T16:00:00Z", 1, 1764000000000LL},
		{"2025-11-24T16:00:00.250Z", 1, 1764000000250LL},
		/* epoch seconds, with or without a fraction */
		{"1764000000", 1, 1764000000000LL},
		{"1764000000.250", 1, 1764000000250LL},
		{"1764000000.25", 1, 1764000000250LL},
		{"1764000000.5", 1, 1764000000500LL},
		{"1764000000.123456", 1, 1764000000123LL},
		{"1764000000.123456789", 1, 1764000000123LL},
		{"1795600800", 1, T0},
		{"0", 1, 0},
		{"1", 1, 1000},
		/* leap day of a year that has none; 1900 and 2100 have none */
		{"2025-02-29T00:00:00Z", 0, 0},
		{"2100-02-29T00:00:00Z", 0, 0},
		{"1900-02-29T00:00:00Z", 0, 0},
		/* out-of-range fields */
		{"2026-02-30T00:00:00Z", 0, 0},
		{"2026-04-31T00:00:00Z", 0, 0},
		{"2026-06-31T00:00:00Z", 0, 0},
		{"2026-13-01T00:00:00Z", 0, 0},
		{"2026-00-10T00:00:00Z", 0, 0},
		{"2026-11-00T00:00:00Z", 0, 0},
		{"2026-11-32T00:00:00Z", 0, 0},
		{"2026-11-25T24:00:00Z", 0, 0},
		{"2026-11-25T10:60:00Z", 0, 0},
		{"2026-11-25T10:00:61Z", 0, 0},
		{"2026-11-25T10:00:00+24:00", 0, 0},
		{"2026-11-25T10:00:00+02:60", 0, 0},
		{"2026-11-25T10:00:00-99", 0, 0},
		/* malformed, trailing junk */
		{"", 0, 0},
		{"2026-11-25T10:00:00ZZ", 0, 0},
		{"2026-11-25T10:00:00Z junk", 0, 0},
		{"2026-11-25T10:00:00Zjunk", 0, 0},
		{"2026-11-25T10:00:00 ", 0, 0},
		{"2026-11-25T10:00:00x", 0, 0},
		{"2026-11-25T10:00:00.", 0, 0},
		{"2026-11-25T10:00:00.Z", 0, 0},
		{"2026-11-25T10:00:00.5.5Z", 0, 0},
		{"2026-11-25T10:00:00.5x", 0, 0},
		{"2026-11-25T10:00:00+2", 0, 0},
		{"2026-11-25T10:00:00+020", 0, 0},
		{"2026-11-25T10:00:00+02:0", 0, 0},
		{"2026-11-25T10:00:00+02:00:00", 0, 0},
		{"2026-11-25T10:00:00+02:00Z", 0, 0},
		{"2026-11-25T10:00:00Z+02:00", 0, 0},
		{"2026-11-25T10:00:00+", 0, 0},
		{"2026-11-25T10:00:00+02:", 0, 0},
		{"2026-11-25 10:00:00Z", 0, 0},
		{"2026-11-25X10:00:00Z", 0, 0},
		{"2026-11-25", 0, 0},
		{"2026-11-25T10:00Z", 0, 0},
		{"2026-11-25T10:00", 0, 0},
		{"2026-1-25T10:00:00Z", 0, 0},
		{"2026-11-25T1:00:00Z", 0, 0},
		{"2026-11-25T10:0a:00Z", 0, 0},
		{"26-11-25T10:00:00Z", 0, 0},
		{"20261125T100000Z", 0, 0},
		{"1764000000.", 0, 0},
		{"1764000000.5.5", 0, 0},
		{"1764000000x", 0, 0},
		{"1764000000 ", 0, 0},
		{" 1764000000", 0, 0},
		{"+1764000000", 0, 0},
		{".5", 0, 0},
		{"1e9", 0, 0},
		{"1764000000,5", 0, 0},
		{"99999999999999999999", 0, 0},
		{"noon", 0, 0},
		{"yesterday", 0, 0},
		/* negative */
		{"-1", 0, 0},
		{"-1764000000", 0, 0},
		{"-1764000000.5", 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = 424242;
		int rc = kfs_parse_timestamp(cases[i].s, &ms);

		if (cases[i].ok && (rc != 0 || ms != cases[i].ms)) {
			printf("#   kfs_parse_timestamp(\"%s\") = %d, %" PRId64
			       "; expected 0, %" PRId64 "\n",
			       cases[i].s, rc, ms, cases[i].ms);
			tap_cur_failed = 1;
		} else if (!cases[i].ok && rc != -1) {
			printf("#   kfs_parse_timestamp(\"%s\") = %d (%" PRId64
			       "); expected -1\n", cases[i].s, rc, ms);
			tap_cur_failed = 1;
		}
	}
	/* A time before the epoch is a time (negative ms) ... */
	{
		int64_t ms = 0;
		CHECK_EQ_INT(kfs_parse_timestamp("1969-12-31T23:59:59Z", &ms), 0);
		CHECK_EQ_INT(ms, -1000);
	}
	/* ... and what kfs_format_iso8601 writes reads back. */
	{
		static const int64_t v[] = {0, T0, T0 + 1, T0 + 999, 1709164800123LL};
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			char b[64];
			int64_t ms = -5;
			kfs_format_iso8601(v[i], b, sizeof(b));
			CHECK_EQ_INT(kfs_parse_timestamp(b, &ms), 0);
			CHECK_EQ_INT(ms, v[i]);
		}
	}
}

/* ---- 2. positions and paths ------------------------------------------------ */

struct pos_case {
	const char *s;
	int rc;
	enum kfs_iter_type type;
	const char *seq;
	int64_t ts;
	int json;
};

#define SEQ56 "49656940713124985428137225467463451066282880215138205698"

TEST(position_parse)
{
	static const struct pos_case cases[] = {
		{"TRIM_HORIZON", 0, KFS_ITER_TRIM_HORIZON, "", 0, 0},
		{"TRIM_HORIZON.jsonl", 0, KFS_ITER_TRIM_HORIZON, "", 0, 1},
		{"LATEST", 0, KFS_ITER_LATEST, "", 0, 0},
		{"LATEST.jsonl", 0, KFS_ITER_LATEST, "", 0, 1},
		{"AT_SEQUENCE_NUMBER=" SEQ56, 0, KFS_ITER_AT_SEQUENCE_NUMBER, SEQ56, 0, 0},
		{"AT_SEQUENCE_NUMBER=" SEQ56 ".jsonl", 0, KFS_ITER_AT_SEQUENCE_NUMBER, SEQ56, 0, 1},
		{"AT_SEQUENCE_NUMBER=0", 0, KFS_ITER_AT_SEQUENCE_NUMBER, "0", 0, 0},
		{"AT_SEQUENCE_NUMBER=7.jsonl", 0, KFS_ITER_AT_SEQUENCE_NUMBER, "7", 0, 1},
		{"AFTER_SEQUENCE_NUMBER=" SEQ56, 0, KFS_ITER_AFTER_SEQUENCE_NUMBER, SEQ56, 0, 0},
		{"AFTER_SEQUENCE_NUMBER=12.jsonl", 0, KFS_ITER_AFTER_SEQUENCE_NUMBER, "12", 0, 1},
		{"AT_TIMESTAMP=2026-11-25T10:00:00Z", 0, KFS_ITER_AT_TIMESTAMP, "", T0, 0},
		{"AT_TIMESTAMP=2026-11-25T12:00:00+02:00.jsonl", 0, KFS_ITER_AT_TIMESTAMP, "", T0, 1},
		{"AT_TIMESTAMP=2026-11-25T12:00:00.5+0200", 0, KFS_ITER_AT_TIMESTAMP, "", T0 + 500, 0},
		{"AT_TIMESTAMP=2026-11-25T05:00:00-05", 0, KFS_ITER_AT_TIMESTAMP, "", T0, 0},
		{"AT_TIMESTAMP=2026-11-25T10:00:00", 0, KFS_ITER_AT_TIMESTAMP, "", T0, 0},
		{"AT_TIMESTAMP=1764000000", 0, KFS_ITER_AT_TIMESTAMP, "", 1764000000000LL, 0},
		{"AT_TIMESTAMP=1764000000.250", 0, KFS_ITER_AT_TIMESTAMP, "", 1764000000250LL, 0},
		{"AT_TIMESTAMP=1764000000.250.jsonl", 0, KFS_ITER_AT_TIMESTAMP, "", 1764000000250LL, 1},
		/* malformed after a keyword: EINVAL */
		{"LATEST.json", -EINVAL, 0, NULL, 0, 0},
		{"TRIM_HORIZON.json", -EINVAL, 0, NULL, 0, 0},
		{"LATEST.jsonl.jsonl", -EINVAL, 0, NULL, 0, 0},
		{"LATESTX", -EINVAL, 0, NULL, 0, 0},
		{"LATEST=", -EINVAL, 0, NULL, 0, 0},
		{"LATEST=5", -EINVAL, 0, NULL, 0, 0},
		{"TRIM_HORIZON ", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER.jsonl", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER5", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER:5", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=.jsonl", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=12a", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=a12", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=-1", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=+1", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER= 1", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=1 ", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=1.5", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=1=2", -EINVAL, 0, NULL, 0, 0},
		{"AT_SEQUENCE_NUMBER=1.json", -EINVAL, 0, NULL, 0, 0},
		{"AFTER_SEQUENCE_NUMBER=", -EINVAL, 0, NULL, 0, 0},
		{"AFTER_SEQUENCE_NUMBERS=1", -EINVAL, 0, NULL, 0, 0},
		{"AT_TIMESTAMP", -EINVAL, 0, NULL, 0, 0},
		{"AT_TIMESTAMP=", -EINVAL, 0, NULL, 0, 0},
		{"AT_TIMESTAMP=noon", -EINVAL, 0, NULL, 0, 0},
		{"AT_TIMESTAMP=yesterday", -EINVAL, 0, NULL, 0, 0},
		{"AT_TIMESTAMP=-5", -EINVAL, 0, NULL, 0, 0},
		{"AT_TIMESTAMP=2026-02-30T00:00:00Z", -EINVAL, 0, NULL, 0, 0},
		{"AT_TIMESTAMP=2026-11-25T10:00:00Z.json", -EINVAL, 0, NULL, 0, 0},
		{"AT_TIMESTAMP=1969-12-31T23:59:59Z", -EINVAL, 0, NULL, 0, 0},
		/* no keyword at all: ENOENT (lowercase is no keyword) */
		{"", -ENOENT, 0, NULL, 0, 0},
		{"latest", -ENOENT, 0, NULL, 0, 0},
		{"Latest", -ENOENT, 0, NULL, 0, 0},
		{"trim_horizon", -ENOENT, 0, NULL, 0, 0},
		{"at_timestamp=1764000000", -ENOENT, 0, NULL, 0, 0},
		{"example.com", -ENOENT, 0, NULL, 0, 0},
		{".jsonl", -ENOENT, 0, NULL, 0, 0},
		{"FOO", -ENOENT, 0, NULL, 0, 0},
		{"=5", -ENOENT, 0, NULL, 0, 0},
	};
	struct kfs_position p;
	char seq[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pos_case *c = &cases[i];
		int rc = kfs_position_parse(c->s, &p);

		if (rc != c->rc) {
			printf("#   kfs_position_parse(\"%s\") = %d, expected %d\n",
			       c->s, rc, c->rc);
			tap_cur_failed = 1;
			continue;
		}
		if (rc != 0)
			continue;
		if (p.type != c->type || strcmp(p.seq, c->seq) != 0 ||
		    p.json != c->json ||
		    (c->type == KFS_ITER_AT_TIMESTAMP && p.timestamp_ms != c->ts)) {
			printf("#   kfs_position_parse(\"%s\"): type %d seq \"%s\" ts %"
			       PRId64 " json %d\n", c->s, p.type, p.seq,
			       p.timestamp_ms, p.json);
			tap_cur_failed = 1;
		}
	}

	/* N is 1 to 128 decimal digits (docs/reading.md, "Positions"). */
	{
		int first_bad = 0, last_bad = 0, bad_rc = 0;
		for (int n = 1; n <= 129; n++) {
			int rc, want = n <= 128 ? 0 : -EINVAL;
			snprintf(seq, sizeof(seq), "AT_SEQUENCE_NUMBER=");
			for (int k = 0; k < n; k++)
				strcat(seq, k == 0 ? "1" : "0");
			rc = kfs_position_parse(seq, &p);
			if (rc != want || (rc == 0 && strcmp(p.seq, seq + 19) != 0)) {
				if (!first_bad)
					first_bad = n, bad_rc = rc;
				last_bad = n;
			}
		}
		if (first_bad) {
			printf("#   kfs_position_parse(AT_SEQUENCE_NUMBER=<n digits>) wrong "
			       "for n = %d..%d (rc %d at n = %d); expected 0 for 1..128, "
			       "-EINVAL for 129\n", first_bad, last_bad, bad_rc, first_bad);
			tap_cur_failed = 1;
		}
	}

	CHECK_EQ_STR(kfs_iter_type_name(KFS_ITER_TRIM_HORIZON), "TRIM_HORIZON");
	CHECK_EQ_STR(kfs_iter_type_name(KFS_ITER_LATEST), "LATEST");
	CHECK_EQ_STR(kfs_iter_type_name(KFS_ITER_AT_SEQUENCE_NUMBER), "AT_SEQUENCE_NUMBER");
	CHECK_EQ_STR(kfs_iter_type_name(KFS_ITER_AFTER_SEQUENCE_NUMBER), "AFTER_SEQUENCE_NUMBER");
	CHECK_EQ_STR(kfs_iter_type_name(KFS_ITER_AT_TIMESTAMP), "AT_TIMESTAMP");
}

struct path_case {
	const char *path;
	int rc;
	enum kfs_node kind;
	const char *stream;
	const char *name;
	const char *full;
	int view;
	enum kfs_iter_type type;
	int json;
};

TEST(path_parse)
{
	static const struct path_case cases[] = {
		{"/", 0, KFS_NODE_ROOT, "", "", "", 0, 0, 0},
		{"", 0, KFS_NODE_ROOT, "", "", "", 0, 0, 0},
		{"/S", 0, KFS_NODE_STREAM, "S", "", "", 0, 0, 0},
		{"/S/", 0, KFS_NODE_STREAM, "S", "", "", 0, 0, 0},
		/* the metrics file; '@' is never in a stream name */
		{"/@metrics", 0, KFS_NODE_METRICS, "@metrics", "", "", 0, 0, 0},
		{"/@metrics/x", -ENOENT, KFS_NODE_METRICS, "@metrics", NULL, NULL,
		 0, 0, 0},
		{"/@metricsx", 0, KFS_NODE_STREAM, "@metricsx", "", "", 0, 0, 0},
		/* plain files */
		{"/S/" S0, 0, KFS_NODE_SHARD, "S", S0, S0, 0, 0, 0},
		{"/S/mykey", 0, KFS_NODE_KEY, "S", "mykey", "mykey", 0, 0, 0},
		{"/S/user@example.com", 0, KFS_NODE_KEY, "S", "user@example.com",
		 "user@example.com", 0, 0, 0},
		{"/S/a@b@c", 0, KFS_NODE_KEY, "S", "a@b@c", "a@b@c", 0, 0, 0},
		{"/S/k@", 0, KFS_NODE_KEY, "S", "k@", "k@", 0, 0, 0},
		{"/S/k@latest", 0, KFS_NODE_KEY, "S", "k@latest", "k@latest", 0, 0, 0},
		/* .jsonl only makes JSON lines of a view: these are keys */
		{"/S/" S0 ".jsonl", 0, KFS_NODE_KEY, "S", S0 ".jsonl", S0 ".jsonl", 0, 0, 0},
		{"/S/mykey.jsonl", 0, KFS_NODE_KEY, "S", "mykey.jsonl", "mykey.jsonl", 0, 0, 0},
		/* not a shard id (11 digits): a key view */
		{"/S/shardId-00000000000@LATEST", 0, KFS_NODE_KEY, "S",
		 "shardId-00000000000", "shardId-00000000000@LATEST", 1, KFS_ITER_LATEST, 0},
		/* shard views */
		{"/S/" S0 "@TRIM_HORIZON", 0, KFS_NODE_SHARD, "S", S0,
		 S0 "@TRIM_HORIZON", 1, KFS_ITER_TRIM_HORIZON, 0},
		{"/S/" S0 "@TRIM_HORIZON.jsonl", 0, KFS_NODE_SHARD, "S", S0,
		 S0 "@TRIM_HORIZON.jsonl", 1, KFS_ITER_TRIM_HORIZON, 1},
		{"/S/" S1 "@LATEST", 0, KFS_NODE_SHARD, "S", S1, S1 "@LATEST", 1,
		 KFS_ITER_LATEST, 0},
		{"/S/" S0 "@LATEST.jsonl", 0, KFS_NODE_SHARD, "S", S0,
		 S0 "@LATEST.jsonl", 1, KFS_ITER_LATEST, 1},
		{"/S/" S0 "@AT_SEQUENCE_NUMBER=" SEQ56, 0, KFS_NODE_SHARD, "S", S0,
		 S0 "@AT_SEQUENCE_NUMBER=" SEQ56, 1, KFS_ITER_AT_SEQUENCE_NUMBER, 0},
		{"/S/" S0 "@AFTER_SEQUENCE_NUMBER=" SEQ56 ".jsonl", 0, KFS_NODE_SHARD,
		 "S", S0, S0 "@AFTER_SEQUENCE_NUMBER=" SEQ56 ".jsonl", 1,
		 KFS_ITER_AFTER_SEQUENCE_NUMBER, 1},
		{"/S/" S0 "@AT_TIMESTAMP=2026-11-25T12:00:00+02:00.jsonl", 0,
		 KFS_NODE_SHARD, "S", S0,
		 S0 "@AT_TIMESTAMP=2026-11-25T12:00:00+02:00.jsonl", 1,
		 KFS_ITER_AT_TIMESTAMP, 1},
		/* key views */
		{"/S/mykey@LATEST", 0, KFS_NODE_KEY, "S", "mykey", "mykey@LATEST", 1,
		 KFS_ITER_LATEST, 0},
		{"/S/mykey@TRIM_HORIZON.jsonl", 0, KFS_NODE_KEY, "S", "mykey",
		 "mykey@TRIM_HORIZON.jsonl", 1, KFS_ITER_TRIM_HORIZON, 1},
		{"/S/user@example.com@LATEST", 0, KFS_NODE_KEY, "S", "user@example.com",
		 "user@example.com@LATEST", 1, KFS_ITER_LATEST, 0},
		{"/S/user@example.com@AFTER_SEQUENCE_NUMBER=5.jsonl", 0, KFS_NODE_KEY,
		 "S", "user@example.com", "user@example.com@AFTER_SEQUENCE_NUMBER=5.jsonl",
		 1, KFS_ITER_AFTER_SEQUENCE_NUMBER, 1},
		{"/S/k@AT_TIMESTAMP=1764000000", 0, KFS_NODE_KEY, "S", "k",
		 "k@AT_TIMESTAMP=1764000000", 1, KFS_ITER_AT_TIMESTAMP, 0},
		/* after a shard id, "x@LATEST" is no position */
		{"/S/" S0 "@x@LATEST", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		/* stream views */
		{"/S/@TRIM_HORIZON", 0, KFS_NODE_SVIEW, "S", "", "@TRIM_HORIZON", 0,
		 KFS_ITER_TRIM_HORIZON, 0},
		{"/S/@LATEST.jsonl", 0, KFS_NODE_SVIEW, "S", "", "@LATEST.jsonl", 0,
		 KFS_ITER_LATEST, 1},
		{"/S/@AT_SEQUENCE_NUMBER=42", 0, KFS_NODE_SVIEW, "S", "",
		 "@AT_SEQUENCE_NUMBER=42", 0, KFS_ITER_AT_SEQUENCE_NUMBER, 0},
		{"/S/@AFTER_SEQUENCE_NUMBER=42.jsonl", 0, KFS_NODE_SVIEW, "S", "",
		 "@AFTER_SEQUENCE_NUMBER=42.jsonl", 0, KFS_ITER_AFTER_SEQUENCE_NUMBER, 1},
		{"/S/@AT_TIMESTAMP=1764000000.250.jsonl", 0, KFS_NODE_SVIEW, "S", "",
		 "@AT_TIMESTAMP=1764000000.250.jsonl", 0, KFS_ITER_AT_TIMESTAMP, 1},
		/* malformed positions */
		{"/S/" S0 "@latest", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@FOO", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@example.com", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@LATEST.json", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@AT_SEQUENCE_NUMBER", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@AT_SEQUENCE_NUMBER=", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@AT_SEQUENCE_NUMBER=12x", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@AT_TIMESTAMP=noon", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@LATEST@LATEST", -EINVAL, KFS_NODE_SHARD, "S", NULL, NULL, 0, 0, 0},
		{"/S/@", -EINVAL, KFS_NODE_SVIEW, "S", NULL, NULL, 0, 0, 0},
		{"/S/@latest", -EINVAL, KFS_NODE_SVIEW, "S", NULL, NULL, 0, 0, 0},
		{"/S/@FOO", -EINVAL, KFS_NODE_SVIEW, "S", NULL, NULL, 0, 0, 0},
		{"/S/@user", -EINVAL, KFS_NODE_SVIEW, "S", NULL, NULL, 0, 0, 0},
		{"/S/@LATEST.json", -EINVAL, KFS_NODE_SVIEW, "S", NULL, NULL, 0, 0, 0},
		{"/S/@AT_TIMESTAMP=yesterday", -EINVAL, KFS_NODE_SVIEW, "S", NULL, NULL, 0, 0, 0},
		{"/S/@AT_SEQUENCE_NUMBER=", -EINVAL, KFS_NODE_SVIEW, "S", NULL, NULL, 0, 0, 0},
		{"/S/k@AT_TIMESTAMP=noon", -EINVAL, KFS_NODE_KEY, "S", NULL, NULL, 0, 0, 0},
		{"/S/user@AT_TIMESTAMP=noon", -EINVAL, KFS_NODE_KEY, "S", NULL, NULL, 0, 0, 0},
		{"/S/k@LATEST.json", -EINVAL, KFS_NODE_KEY, "S", NULL, NULL, 0, 0, 0},
		{"/S/k@AT_SEQUENCE_NUMBER=", -EINVAL, KFS_NODE_KEY, "S", NULL, NULL, 0, 0, 0},
		/* deeper than a stream's entries */
		{"/S/a/b", -ENOENT, KFS_NODE_STREAM, "S", NULL, NULL, 0, 0, 0},
		{"/S/k/", -ENOENT, KFS_NODE_STREAM, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "/x", -ENOENT, KFS_NODE_STREAM, "S", NULL, NULL, 0, 0, 0},
		{"/S/" S0 "@LATEST/x", -ENOENT, KFS_NODE_STREAM, "S", NULL, NULL, 0, 0, 0},
		{"/S/@LATEST/x", -ENOENT, KFS_NODE_STREAM, "S", NULL, NULL, 0, 0, 0},
		{"/S/a/b/c", -ENOENT, KFS_NODE_STREAM, "S", NULL, NULL, 0, 0, 0},
	};
	struct kfs_path p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct path_case *c = &cases[i];
		int rc = kfs_path_parse(c->path, &p);
		int bad = 0;

		if (rc != c->rc) {
			printf("#   kfs_path_parse(\"%s\") = %d, expected %d\n",
			       c->path, rc, c->rc);
			tap_cur_failed = 1;
			continue;
		}
		if (strcmp(p.stream, c->stream) != 0)
			bad = 1;
		if (rc == -EINVAL && p.kind != c->kind)
			bad = 1;
		if (rc == 0) {
			if (p.kind != c->kind || strcmp(p.name, c->name) != 0 ||
			    strcmp(p.full, c->full) != 0)
				bad = 1;
			if ((c->kind == KFS_NODE_SHARD || c->kind == KFS_NODE_KEY) &&
			    p.view != c->view)
				bad = 1;
			if ((c->view || c->kind == KFS_NODE_SVIEW) &&
			    (p.pos.type != c->type || p.pos.json != c->json))
				bad = 1;
		}
		if (bad) {
			printf("#   kfs_path_parse(\"%s\"): kind %d stream \"%s\" name "
			       "\"%s\" full \"%s\" view %d type %d json %d\n",
			       c->path, p.kind, p.stream, p.name, p.full, p.view,
			       p.pos.type, p.pos.json);
			tap_cur_failed = 1;
		}
	}

	/* Positions come through whole. */
	CHECK_EQ_INT(kfs_path_parse("/S/" S0 "@AT_SEQUENCE_NUMBER=" SEQ56, &p), 0);
	CHECK_EQ_STR(p.pos.seq, SEQ56);
	CHECK_EQ_INT(kfs_path_parse("/S/@AT_TIMESTAMP=2026-11-25T12:00:00.250+02:00.jsonl", &p), 0);
	CHECK_EQ_INT(p.pos.timestamp_ms, T0 + 250);
	CHECK_EQ_INT(p.pos.json, 1);
	CHECK_EQ_INT(kfs_path_parse("/S/user@example.com@AT_TIMESTAMP=1764000000.5", &p), 0);
	CHECK_EQ_INT(p.pos.timestamp_ms, 1764000000500LL);
	CHECK_EQ_STR(p.name, "user@example.com");

	/* Streams: names checked, too long kept as a prefix. */
	CHECK_EQ_INT(kfs_path_parse("/my-stream_1.x", &p), 0);
	CHECK_EQ_INT(p.valid_stream, 1);
	CHECK_EQ_INT(kfs_path_parse("/bad name", &p), 0);
	CHECK_EQ_INT(p.kind, KFS_NODE_STREAM);
	CHECK_EQ_INT(p.valid_stream, 0);
	{
		char path[600], name[300];
		memset(name, 'a', 129);
		name[129] = '\0';
		snprintf(path, sizeof(path), "/%s", name);
		CHECK_EQ_INT(kfs_path_parse(path, &p), 0);
		CHECK_EQ_INT(p.kind, KFS_NODE_STREAM);
		CHECK_EQ_INT(p.valid_stream, 0);
		snprintf(path, sizeof(path), "/%s/x", name);
		CHECK_EQ_INT(kfs_path_parse(path, &p), -ENOENT);
		name[128] = '\0';
		snprintf(path, sizeof(path), "/%s/x", name);
		CHECK_EQ_INT(kfs_path_parse(path, &p), 0);
		CHECK_EQ_INT(p.valid_stream, 1);
		CHECK_EQ_INT(p.kind, KFS_NODE_KEY);

		/* An entry of NAME_MAX bytes, and full[] holds all of it. */
		memset(name, 'k', NAME_MAX);
		name[NAME_MAX] = '\0';
		memcpy(name + NAME_MAX - 7, "@LATEST", 7);
		snprintf(path, sizeof(path), "/S/%s", name);
		CHECK_EQ_INT(kfs_path_parse(path, &p), 0);
		CHECK_EQ_INT(p.kind, KFS_NODE_KEY);
		CHECK_EQ_INT(p.view, 1);
		CHECK_EQ_STR(p.full, name);
		CHECK_EQ_INT(strlen(p.name), NAME_MAX - 7);
		snprintf(path, sizeof(path), "/S/%sk", name);
		CHECK_EQ_INT(kfs_path_parse(path, &p), -ENOENT);
	}
}

/* ---- 3. readers ----------------------------------------------------------- */

TEST(plain_shard_reader_ends_at_tip)
{
	struct env e;
	struct kfs_reader *r, *w;
	struct buf b = {0}, c = {0};
	char tmp[64];

	env_open(&e);
	mkstream(&e, "S", 1);
	put_str(&e, "S", "k", "a\n", NULL);
	put_str(&e, "S", "k", "b", NULL);
	put_str(&e, "S", "k", "", NULL);
	put_str(&e, "S", "k", "c\n\n", NULL);
	put_str(&e, "S", "k", "d", NULL);

	/* LINE: '\n' only where missing. */
	r = must_open(&e, "/S/" S0, KFS_FRAMING_LINE);
	CHECK_EQ_INT(kfs_reader_follows(r), 0);
	CHECK_EQ_INT(kfs_reader_poll(r), 1);
	CHECK_EQ_INT(drain(r, &b, 3), 0);
	CHECK(buf_is(&b, "a\nb\n\nc\n\nd\n"));
	CHECK_EQ_INT(kfs_reader_read(r, tmp, sizeof(tmp), b.n), 0);
	CHECK_EQ_INT(kfs_reader_poll(r), 1);
	/* More records: the same reader reads them on a later call. */
	put_str(&e, "S", "k", "e", NULL);
	put_str(&e, "S", "k", "f\n", NULL);
	CHECK_EQ_INT(drain(r, &b, 64), 0);
	CHECK(buf_is(&b, "a\nb\n\nc\n\nd\ne\nf\n"));
	kfs_reader_free(r);

	/* One read fills what it is asked for, up to the tip. */
	r = must_open(&e, "/S/" S0, KFS_FRAMING_LINE);
	CHECK_EQ_INT(kfs_reader_read(r, tmp, sizeof(tmp), 0), (ssize_t)b.n);
	kfs_reader_free(r);

	/* WRITE: the raw bytes. */
	w = must_open(&e, "/S/" S0, KFS_FRAMING_WRITE);
	CHECK_EQ_INT(drain(w, &c, 2), 0);
	CHECK(buf_is(&c, "a\nbc\n\ndef\n"));
	kfs_reader_free(w);

	/* An empty shard is an empty file. */
	mkstream(&e, "E", 2);
	buf_free(&b);
	CHECK_EQ_INT(read_path(&e, "/E/" S1, KFS_FRAMING_LINE, &b, 16), 0);
	CHECK_EQ_INT(b.n, 0);

	buf_free(&b);
	buf_free(&c);
	env_close(&e);
}

TEST(view_waits_at_tip_and_poll)
{
	struct env e;
	struct kfs_reader *sv, *st, *kv;
	struct buf b = {0}, s = {0}, k = {0};

	env_open(&e);
	mkstream(&e, "S", 1);
	put_str(&e, "S", "k", "one", NULL);

	sv = must_open(&e, "/S/" S0 "@TRIM_HORIZON", KFS_FRAMING_LINE);
	st = must_open(&e, "/S/@TRIM_HORIZON", KFS_FRAMING_LINE);
	kv = must_open(&e, "/S/k@TRIM_HORIZON", KFS_FRAMING_LINE);
	CHECK_EQ_INT(kfs_reader_follows(sv), 1);
	CHECK_EQ_INT(kfs_reader_follows(st), 1);
	CHECK_EQ_INT(kfs_reader_follows(kv), 1);

	/* Records there: poll says so before the read. */
	CHECK_EQ_INT(kfs_reader_poll(sv), 1);
	CHECK_EQ_INT(drain(sv, &b, 100), -EAGAIN);
	CHECK(buf_is(&b, "one\n"));
	CHECK_EQ_INT(drain(st, &s, 100), -EAGAIN);
	CHECK(buf_is(&s, "one\n"));
	CHECK_EQ_INT(drain(kv, &k, 100), -EAGAIN);
	CHECK(buf_is(&k, "one\n"));

	/* At the tip: -EAGAIN again, and poll finds nothing. */
	CHECK_EQ_INT(kfs_reader_poll(sv), 0);
	CHECK_EQ_INT(kfs_reader_poll(st), 0);
	CHECK_EQ_INT(kfs_reader_poll(kv), 0);
	CHECK_EQ_INT(drain(sv, &b, 100), -EAGAIN);

	/* Another key's record wakes the shard and stream views, not the
	 * key view. */
	put_str(&e, "S", "other", "two", NULL);
	CHECK_EQ_INT(kfs_reader_poll(sv), 1);
	CHECK_EQ_INT(kfs_reader_poll(st), 1);
	CHECK_EQ_INT(kfs_reader_poll(kv), 0);
	CHECK_EQ_INT(drain(sv, &b, 100), -EAGAIN);
	CHECK(buf_is(&b, "one\ntwo\n"));
	CHECK_EQ_INT(drain(st, &s, 100), -EAGAIN);
	CHECK(buf_is(&s, "one\ntwo\n"));
	CHECK_EQ_INT(drain(kv, &k, 100), -EAGAIN);
	CHECK(buf_is(&k, "one\n"));

	put_str(&e, "S", "k", "three\n", NULL);
	CHECK_EQ_INT(kfs_reader_poll(sv), 1);
	CHECK_EQ_INT(kfs_reader_poll(kv), 1);
	/* poll found it: a second poll says so at once. */
	CHECK_EQ_INT(kfs_reader_poll(sv), 1);
	CHECK_EQ_INT(drain(sv, &b, 100), -EAGAIN);
	CHECK(buf_is(&b, "one\ntwo\nthree\n"));
	CHECK_EQ_INT(drain(kv, &k, 100), -EAGAIN);
	CHECK(buf_is(&k, "one\nthree\n"));
	CHECK_EQ_INT(drain(st, &s, 100), -EAGAIN);
	CHECK(buf_is(&s, "one\ntwo\nthree\n"));
	CHECK_EQ_INT(kfs_reader_poll(sv), 0);
	CHECK_EQ_INT(kfs_reader_poll(st), 0);
	CHECK_EQ_INT(kfs_reader_poll(kv), 0);

	/* A view returns what it has at once, less than asked for. */
	put_str(&e, "S", "k", "four", NULL);
	{
		char tmp[4096];
		CHECK_EQ_INT(kfs_reader_read(sv, tmp, sizeof(tmp), b.n), 5);
		CHECK(memcmp(tmp, "four\n", 5) == 0);
	}

	kfs_reader_free(sv);
	kfs_reader_free(st);
	kfs_reader_free(kv);
	buf_free(&b);
	buf_free(&s);
	buf_free(&k);
	env_close(&e);
}

TEST(latest_is_fixed_at_open)
{
	struct env e;
	struct kfs_reader *sv, *st, *kv, *svj;
	struct buf b = {0}, s = {0}, k = {0}, j = {0};

	env_open(&e);
	mkstream(&e, "S", 1);
	put_str(&e, "S", "k", "old1", NULL);
	put_str(&e, "S", "k", "old2", NULL);

	sv = must_open(&e, "/S/" S0 "@LATEST", KFS_FRAMING_LINE);
	st = must_open(&e, "/S/@LATEST", KFS_FRAMING_LINE);
	kv = must_open(&e, "/S/k@LATEST", KFS_FRAMING_LINE);
	svj = must_open(&e, "/S/" S0 "@LATEST.jsonl", KFS_FRAMING_LINE);
	/* Put after open, before the first read: they are read. */
	put_str(&e, "S", "k", "new1", NULL);
	put_str(&e, "S", "x", "new2", NULL);
	put_str(&e, "S", "k", "new3", NULL);

	CHECK_EQ_INT(drain(sv, &b, 7), -EAGAIN);
	CHECK(buf_is(&b, "new1\nnew2\nnew3\n"));
	CHECK_EQ_INT(drain(st, &s, 7), -EAGAIN);
	CHECK(buf_is(&s, "new1\nnew2\nnew3\n"));
	CHECK_EQ_INT(drain(kv, &k, 7), -EAGAIN);
	CHECK(buf_is(&k, "new1\nnew3\n"));
	CHECK_EQ_INT(drain(svj, &j, 7), -EAGAIN);
	{
		struct jrec *v = NULL;
		size_t n = parse_jsonl(j.p, j.n, &v);
		CHECK_EQ_INT(n, 3);
		if (n == 3) {
			CHECK(jdata_is(&v[0], "new1", 4));
			CHECK(jdata_is(&v[2], "new3", 4));
		}
		jrecs_free(v, n);
	}
	kfs_reader_free(sv);
	kfs_reader_free(st);
	kfs_reader_free(kv);
	kfs_reader_free(svj);
	buf_free(&b);
	buf_free(&s);
	buf_free(&k);
	buf_free(&j);

	/* After resharding: closed shards skipped, open ones from their tip. */
	mkstream(&e, "R", 1);
	for (int i = 0; i < 20; i++) {
		char key[16];
		snprintf(key, sizeof(key), "key%d", i);
		put_str(&e, "R", key, "before", NULL);
	}
	reshard(&e, "R", 2);
	for (int i = 0; i < 20; i++) {
		char key[16];
		snprintf(key, sizeof(key), "key%d", i);
		put_str(&e, "R", key, "middle", NULL);
	}
	st = must_open(&e, "/R/@LATEST", KFS_FRAMING_LINE);
	for (int i = 0; i < 20; i++) {
		char key[16], d[16];
		snprintf(key, sizeof(key), "key%d", i);
		snprintf(d, sizeof(d), "after%02d", i);
		put_str(&e, "R", key, d, NULL);
	}
	CHECK_EQ_INT(drain(st, &s, 50), -EAGAIN);
	{
		/* Each of after00..after19 exactly once, nothing else. */
		int seen[20] = {0}, other = 0;
		char *save = NULL, *line;
		for (line = strtok_r(s.p ? s.p : (char[]){0}, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			int n;
			if (sscanf(line, "after%d", &n) == 1 && n >= 0 && n < 20)
				seen[n]++;
			else
				other++;
		}
		CHECK_EQ_INT(other, 0);
		for (int i = 0; i < 20; i++)
			CHECK_EQ_INT(seen[i], 1);
	}
	kfs_reader_free(st);
	buf_free(&s);
	env_close(&e);
}

TEST(sequence_number_positions)
{
	struct env e;
	char seq[6][KFS_SEQ_MAX], other[KFS_SEQ_MAX], path[512];
	struct buf b = {0};
	struct kfs_reader *r;
	int rc;

	env_open(&e);
	mkstream(&e, "S", 1);
	/* Another second: the local engine's numbers carry the shard's index
	 * and creation second, not the stream, so T's shard 0 made in the
	 * same second as S's would hand out S's very numbers. */
	set_now(T0 + 5000);
	mkstream(&e, "T", 1);
	set_now(T0);
	for (int i = 0; i < 5; i++) {
		char d[8];
		snprintf(d, sizeof(d), "r%d", i);
		put_str(&e, "S", "k", d, seq[i]);
	}
	put_str(&e, "T", "k", "t0", other);
	CHECK(strcmp(seq[1], seq[0]) != 0);

	/* Shard views. */
	snprintf(path, sizeof(path), "/S/" S0 "@AT_SEQUENCE_NUMBER=%s", seq[2]);
	CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_LINE, &b, 4), -EAGAIN);
	CHECK(buf_is(&b, "r2\nr3\nr4\n"));
	buf_free(&b);
	snprintf(path, sizeof(path), "/S/" S0 "@AFTER_SEQUENCE_NUMBER=%s", seq[2]);
	CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_LINE, &b, 4), -EAGAIN);
	CHECK(buf_is(&b, "r3\nr4\n"));
	buf_free(&b);
	snprintf(path, sizeof(path), "/S/" S0 "@AT_SEQUENCE_NUMBER=%s", seq[0]);
	CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_WRITE, &b, 4), -EAGAIN);
	CHECK(buf_is(&b, "r0r1r2r3r4"));
	buf_free(&b);
	/* After the last one: at the tip, then what comes. */
	snprintf(path, sizeof(path), "/S/" S0 "@AFTER_SEQUENCE_NUMBER=%s", seq[4]);
	r = must_open(&e, path, KFS_FRAMING_LINE);
	CHECK_EQ_INT(drain(r, &b, 4), -EAGAIN);
	CHECK_EQ_INT(b.n, 0);
	CHECK_EQ_INT(kfs_reader_poll(r), 0);
	put_str(&e, "S", "k", "r5", seq[5]);
	CHECK_EQ_INT(kfs_reader_poll(r), 1);
	CHECK_EQ_INT(drain(r, &b, 4), -EAGAIN);
	CHECK(buf_is(&b, "r5\n"));
	kfs_reader_free(r);
	buf_free(&b);

	/* Stream and key views. */
	snprintf(path, sizeof(path), "/S/@AT_SEQUENCE_NUMBER=%s", seq[3]);
	CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_LINE, &b, 4), -EAGAIN);
	CHECK(buf_is(&b, "r3\nr4\nr5\n"));
	buf_free(&b);
	snprintf(path, sizeof(path), "/S/@AFTER_SEQUENCE_NUMBER=%s", seq[3]);
	CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_LINE, &b, 4), -EAGAIN);
	CHECK(buf_is(&b, "r4\nr5\n"));
	buf_free(&b);
	snprintf(path, sizeof(path), "/S/k@AFTER_SEQUENCE_NUMBER=%s", seq[1]);
	CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_LINE, &b, 4), -EAGAIN);
	CHECK(buf_is(&b, "r2\nr3\nr4\nr5\n"));
	buf_free(&b);

	/* A sequence number of no shard of the stream: EINVAL at open. */
	{
		static const char *const bad[] = {"1", "0", SEQ56, NULL};
		for (int i = 0; i < 4; i++) {
			const char *n = bad[i] ? bad[i] : other;
			static const char *const fmt[][2] = {
				{"/S/@AT_SEQUENCE_NUMBER=", ""},
				{"/S/@AFTER_SEQUENCE_NUMBER=", ".jsonl"},
				{"/S/k@AT_SEQUENCE_NUMBER=", ""},
				{"/S/" S0 "@AT_SEQUENCE_NUMBER=", ""},
				{"/S/" S0 "@AFTER_SEQUENCE_NUMBER=", ""},
			};
			for (size_t f = 0; f < sizeof(fmt) / sizeof(fmt[0]); f++) {
				snprintf(path, sizeof(path), "%s%s%s", fmt[f][0], n, fmt[f][1]);
				r = open_path(&e, path, KFS_FRAMING_LINE, &rc);
				if (rc != -EINVAL) {
					printf("#   open(%s) = %d, expected -EINVAL\n", path, rc);
					tap_cur_failed = 1;
				}
				kfs_reader_free(r);
			}
		}
	}
	/* why[] says what is wrong. */
	{
		struct kfs_path p;
		struct kfs_reader_spec spec = {0};
		char why[256];

		snprintf(path, sizeof(path), "/S/@AT_SEQUENCE_NUMBER=%s", other);
		REQUIRE(kfs_path_parse(path, &p) == 0);
		spec.stream = p.stream;
		spec.kind = p.kind;
		spec.name = p.name;
		spec.pos = &p.pos;
		r = NULL;
		CHECK_EQ_INT(kfs_reader_open(e.be, &spec, &r, why, sizeof(why)), -EINVAL);
		CHECK(r == NULL);
		CHECK(strstr(why, other) != NULL);
	}
	/*
	 * A number of the right shard's shape that the shard does not hold
	 * (past its tip): "A sequence number the shard does not hold gives
	 * EINVAL".
	 */
	{
		struct kfs_seq sq;
		char fake[KFS_SEQ_MAX];
		REQUIRE(kfs_ids_seq_decode(seq[5], &sq) == 0);
		sq.counter += 1000;
		REQUIRE(kfs_ids_seq_encode(&sq, fake, sizeof(fake)) == 0);
		snprintf(path, sizeof(path), "/S/@AT_SEQUENCE_NUMBER=%s", fake);
		r = open_path(&e, path, KFS_FRAMING_LINE, &rc);
		CHECK_EQ_INT(rc, -EINVAL);
		kfs_reader_free(r);
		snprintf(path, sizeof(path), "/S/" S0 "@AT_SEQUENCE_NUMBER=%s", fake);
		r = open_path(&e, path, KFS_FRAMING_LINE, &rc);
		if (rc != -EINVAL)
			printf("#   shard view at a number past the shard's tip: open = %d\n", rc);
		CHECK_EQ_INT(rc, -EINVAL);
		kfs_reader_free(r);
	}
	env_close(&e);
}

TEST(timestamp_positions)
{
	struct env e;
	struct buf b = {0};
	struct kfs_reader *r;
	char path[256];

	env_open(&e);
	mkstream(&e, "S", 1);
	set_now(T0);
	put_str(&e, "S", "k", "a", NULL);
	set_now(T0 + 1000);
	put_str(&e, "S", "k", "b", NULL);
	set_now(T0 + 2500);
	put_str(&e, "S", "k", "c", NULL);

	static const struct {
		const char *pos;
		const char *want;
	} cases[] = {
		{"AT_TIMESTAMP=2026-11-25T10:00:00Z", "a\nb\nc\n"},
		{"AT_TIMESTAMP=2026-11-25T09:00:00Z", "a\nb\nc\n"},
		{"AT_TIMESTAMP=1764000000", "a\nb\nc\n"},
		{"AT_TIMESTAMP=2026-11-25T10:00:00.001Z", "b\nc\n"},
		{"AT_TIMESTAMP=2026-11-25T10:00:01Z", "b\nc\n"},
		{"AT_TIMESTAMP=2026-11-25T11:00:01+01:00", "b\nc\n"},
		{"AT_TIMESTAMP=2026-11-25T05:00:01-05", "b\nc\n"},
		{"AT_TIMESTAMP=1795600800.5", "b\nc\n"},
		{"AT_TIMESTAMP=1795600801", "b\nc\n"},
		{"AT_TIMESTAMP=1795600801.001", "c\n"},
		{"AT_TIMESTAMP=2026-11-25T10:00:02.500Z", "c\n"},
		{"AT_TIMESTAMP=2026-11-25T10:00:02.5001Z", "c\n"},
		{"AT_TIMESTAMP=2026-11-25T10:00:02.501Z", ""},
		{"AT_TIMESTAMP=2030-01-01T00:00:00Z", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static const char *const fmt[] = {"/S/" S0 "@", "/S/@", "/S/k@"};
		for (int f = 0; f < 3; f++) {
			ssize_t rc;
			snprintf(path, sizeof(path), "%s%s", fmt[f], cases[i].pos);
			rc = read_path(&e, path, KFS_FRAMING_LINE, &b, 3);
			if (rc != -EAGAIN || !buf_is(&b, cases[i].want)) {
				printf("#   %s: %zd \"%s\", expected \"%s\"\n", path, rc,
				       b.p ? b.p : "", cases[i].want);
				tap_cur_failed = 1;
			}
			buf_free(&b);
		}
	}

	/* A view past the last record follows. */
	r = must_open(&e, "/S/@AT_TIMESTAMP=2026-11-25T10:00:03Z", KFS_FRAMING_LINE);
	CHECK_EQ_INT(drain(r, &b, 8), -EAGAIN);
	CHECK_EQ_INT(kfs_reader_poll(r), 0);
	set_now(T0 + 2900);
	put_str(&e, "S", "k", "early", NULL);
	set_now(T0 + 3000);
	put_str(&e, "S", "k", "d", NULL);
	/* 'early' arrived before T but after the view's first look; whether
	 * it is read is not specified (iterator semantics would read it).
	 * 'd' comes either way. */
	CHECK_EQ_INT(drain(r, &b, 8), -EAGAIN);
	CHECK(b.n >= 2 && strcmp(b.p + b.n - 2, "d\n") == 0);
	kfs_reader_free(r);
	buf_free(&b);

	/* What JSON lines print is accepted back. */
	{
		struct jrec *v = NULL;
		size_t n;
		CHECK_EQ_INT(read_path(&e, "/S/" S0 "@TRIM_HORIZON.jsonl",
				       KFS_FRAMING_LINE, &b, 64), -EAGAIN);
		n = parse_jsonl(b.p, b.n, &v);
		CHECK_EQ_INT(n, 5);
		if (n == 5) {
			CHECK_EQ_STR(v[1].ts, "2026-11-25T10:00:01.000Z");
			CHECK_EQ_INT(v[1].arrival_ms, T0 + 1000);
			CHECK_EQ_STR(v[2].ts, "2026-11-25T10:00:02.500Z");
			buf_free(&b);
			snprintf(path, sizeof(path), "/S/@AT_TIMESTAMP=%s", v[2].ts);
			CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_LINE, &b, 64), -EAGAIN);
			CHECK(buf_is(&b, "c\nearly\nd\n"));
		}
		jrecs_free(v, n);
	}
	buf_free(&b);
	env_close(&e);
}

TEST(json_lines)
{
	struct env e;
	struct buf b = {0}, b2 = {0};
	char seq[16][KFS_SEQ_MAX];
	static const unsigned char bin1[] = {0x00, 0x01, 0xff, 0xfe, 0x00, 0x80, 'x', 0x00};
	static const unsigned char bin2[] = {0xc3};                 /* truncated */
	static const unsigned char bin3[] = {0xc0, 0x80};           /* overlong NUL */
	static const unsigned char bin4[] = {0xed, 0xa0, 0x80};     /* surrogate */
	static const unsigned char bin5[] = {0xf4, 0x90, 0x80, 0x80}; /* > U+10FFFF */
	static const unsigned char bin6[] = {'o', 'k', '\n', 0xff, '\n'};
	static const char text_ctl[] = "a\x01" "b\tc\rd\x1f" "e\x7f" "f\"g\\h/\n";
	static const char text_utf8[] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\n";
	static const char nul_text[] = {'a', 0x00, 'b'};
	struct {
		const char *key;
		const void *data;
		size_t len;
		int b64;
		int64_t at;
	} recs[] = {
		{"111", "{\"Data\":\"1\"}\n", 13, 0, T0 + 123},
		{"k", "", 0, 0, T0 + 124},
		{"k", text_ctl, sizeof(text_ctl) - 1, 0, T0 + 125},
		{"k", text_utf8, sizeof(text_utf8) - 1, 0, T0 + 999},
		{"k", bin1, sizeof(bin1), 1, T0 + 1000},
		{"k", bin2, sizeof(bin2), 1, T0 + 1001},
		{"k", bin3, sizeof(bin3), 1, T0 + 1002},
		{"k", bin4, sizeof(bin4), 1, T0 + 1003},
		{"k", bin5, sizeof(bin5), 1, T0 + 1004},
		{"k", bin6, sizeof(bin6), 1, T0 + 1005},
		{"k\xff", "bad key", 7, 0, T0 + 1006},
		{"we\"ird\\key\x01", "x", 1, 0, T0 + 1007},
		{"k", nul_text, sizeof(nul_text), 0, T0 + 1008},
	};
	const size_t nrec = sizeof(recs) / sizeof(recs[0]);
	unsigned char big[1000];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + 3);
	env_open(&e);
	mkstream(&e, "S", 1);
	for (size_t i = 0; i < nrec; i++) {
		set_now(recs[i].at);
		put_rec(&e, "S", recs[i].key, NULL, recs[i].data, recs[i].len, seq[i], NULL);
	}
	set_now(T0 + 2000);
	put_rec(&e, "S", "big", NULL, big, sizeof(big), seq[nrec], NULL);

	CHECK_EQ_INT(read_path(&e, "/S/" S0 "@TRIM_HORIZON.jsonl", KFS_FRAMING_LINE,
			       &b, 100), -EAGAIN);
	/* The framing does not change JSON lines. */
	CHECK_EQ_INT(read_path(&e, "/S/" S0 "@TRIM_HORIZON.jsonl", KFS_FRAMING_WRITE,
			       &b2, 4096), -EAGAIN);
	CHECK(b.n == b2.n && memcmp(b.p, b2.p, b.n) == 0);
	{
		struct jrec *v = NULL;
		size_t n = parse_jsonl(b.p, b.n, &v);
		char ts[40];

		CHECK_EQ_INT(n, nrec + 1);
		for (size_t i = 0; i < n && i < nrec; i++) {
			CHECK_EQ_STR(v[i].seq, seq[i]);
			kfs_format_iso8601(recs[i].at, ts, sizeof(ts));
			CHECK_EQ_STR(v[i].ts, ts);
			CHECK_EQ_INT(v[i].arrival_ms, recs[i].at);
			CHECK_EQ_STR(v[i].shard, S0);
			if (recs[i].key[0] != 'k' || recs[i].key[1] != '\xff')
				CHECK_EQ_STR(v[i].key, recs[i].key);
			if (v[i].b64 != recs[i].b64) {
				printf("#   record %zu: DataEncoding %s\n", i,
				       v[i].b64 ? "base64" : "utf8");
				tap_cur_failed = 1;
			}
			if (i != nrec - 1 && !jdata_is(&v[i], recs[i].data, recs[i].len)) {
				printf("#   record %zu: Data differs (%zu bytes)\n", i, v[i].len);
				tap_cur_failed = 1;
			}
		}
		if (n >= 4) {
			CHECK_EQ_STR(v[0].ts, "2026-11-25T10:00:00.123Z");
			CHECK_EQ_STR(v[3].ts, "2026-11-25T10:00:00.999Z");
		}
		if (n == nrec + 1) {
			/* A key that is not UTF-8: U+FFFD for the bad byte. */
			CHECK_EQ_STR(v[10].key, "k\xef\xbf\xbd");
			CHECK(v[nrec].b64 && jdata_is(&v[nrec], big, sizeof(big)));
			CHECK_EQ_STR(v[nrec].seq, seq[nrec]);
		}
		jrecs_free(v, n);
	}
	/* The raw text: documented example, escapes, NUL as \u0000. */
	CHECK(strstr(b.p, "\"PartitionKey\":\"111\",\"ShardId\":\"" S0 "\","
		      "\"Data\":\"{\\\"Data\\\":\\\"1\\\"}\\n\",\"DataEncoding\":\"utf8\"}\n") != NULL);
	CHECK(strstr(b.p, "\"Data\":\"\",\"DataEncoding\":\"utf8\"}") != NULL);
	CHECK(strstr(b.p, "a\\u0001b\\tc\\rd\\u001f") != NULL);
	CHECK(strstr(b.p, "\"Data\":\"a\\u0000b\",\"DataEncoding\":\"utf8\"}") != NULL);
	CHECK(strstr(b.p, "\"Data\":\"AAH//gCAeAA=\",\"DataEncoding\":\"base64\"}") != NULL);
	CHECK(strstr(b.p, "\"PartitionKey\":\"we\\\"ird\\\\key\\u0001\"") != NULL);

	/* Stream and key views print the same objects. */
	buf_free(&b2);
	CHECK_EQ_INT(read_path(&e, "/S/@TRIM_HORIZON.jsonl", KFS_FRAMING_LINE, &b2, 333),
		     -EAGAIN);
	CHECK(b.n == b2.n && memcmp(b.p, b2.p, b.n) == 0);
	buf_free(&b2);
	CHECK_EQ_INT(read_path(&e, "/S/111@TRIM_HORIZON.jsonl", KFS_FRAMING_LINE, &b2, 333),
		     -EAGAIN);
	{
		const char *nl = memchr(b.p, '\n', b.n);
		CHECK(nl && b2.n == (size_t)(nl - b.p + 1) && memcmp(b.p, b2.p, b2.n) == 0);
	}
	buf_free(&b);
	buf_free(&b2);
	env_close(&e);
}

/* Hash keys that pick shard 0 and shard 1 of two. */
#define EHK_LOW "1"
#define EHK_HIGH "340282366920938463463374607431768211455"

TEST(key_readers_keep_their_key)
{
	struct env e;
	struct buf b = {0};
	struct kfs_reader *r;
	char shard[KFS_SHARD_ID_LEN + 1];

	env_open(&e);
	mkstream(&e, "S", 2);
	/* Key files exist once created (SPEC 3), their windows from then. */
	for (const char *const *n = (const char *const[]){"alpha", "nobody",
		     "user@example.com", NULL}; *n; n++)
		REQUIRE(kfs_names_create(e.be->ops->names(e.be->impl), "S", *n, 0,
					 0, 0, 0644, NULL, NULL) == 0);
	/* "alpha" records go where MD5 sends them; others of every shard
	 * are mixed in (explicit hash keys). */
	for (int i = 0; i < 6; i++) {
		char d[16];
		snprintf(d, sizeof(d), "alpha%d", i);
		put_str(&e, "S", "alpha", d, NULL);
		snprintf(d, sizeof(d), "lo%d", i);
		put_rec(&e, "S", "other", EHK_LOW, d, strlen(d), NULL, shard);
		CHECK_EQ_STR(shard, S0);
		snprintf(d, sizeof(d), "hi%d", i);
		put_rec(&e, "S", "other", EHK_HIGH, d, strlen(d), NULL, shard);
		CHECK_EQ_STR(shard, S1);
	}
	/* Plain key file: ends at the tip. */
	r = must_open(&e, "/S/alpha", KFS_FRAMING_LINE);
	CHECK_EQ_INT(kfs_reader_follows(r), 0);
	CHECK_EQ_INT(drain(r, &b, 5), 0);
	CHECK(buf_is(&b, "alpha0\nalpha1\nalpha2\nalpha3\nalpha4\nalpha5\n"));
	kfs_reader_free(r);
	buf_free(&b);

	/* A key that is a prefix of another is not that other. */
	put_str(&e, "S", "alphabet", "nope", NULL);
	put_str(&e, "S", "alph", "nope", NULL);
	r = must_open(&e, "/S/alpha@TRIM_HORIZON", KFS_FRAMING_LINE);
	CHECK_EQ_INT(drain(r, &b, 64), -EAGAIN);
	CHECK(strstr(b.p ? b.p : "", "nope") == NULL);
	CHECK(strstr(b.p ? b.p : "", "alpha5\n") != NULL);
	put_str(&e, "S", "alpha", "alpha6", NULL);
	put_str(&e, "S", "beta", "beta", NULL);
	CHECK_EQ_INT(drain(r, &b, 64), -EAGAIN);
	CHECK(b.n >= 7 && memcmp(b.p + b.n - 7, "alpha6\n", 7) == 0);
	CHECK(strstr(b.p, "beta") == NULL);
	kfs_reader_free(r);
	buf_free(&b);

	/* A key of no record: empty file; its view waits. */
	CHECK_EQ_INT(read_path(&e, "/S/nobody", KFS_FRAMING_LINE, &b, 64), 0);
	CHECK_EQ_INT(b.n, 0);
	CHECK_EQ_INT(read_path(&e, "/S/nobody@TRIM_HORIZON", KFS_FRAMING_LINE, &b, 64),
		     -EAGAIN);
	CHECK_EQ_INT(b.n, 0);
	/* A key with '@': its own file. */
	put_str(&e, "S", "user@example.com", "mail", NULL);
	CHECK_EQ_INT(read_path(&e, "/S/user@example.com", KFS_FRAMING_LINE, &b, 64), 0);
	CHECK(buf_is(&b, "mail\n"));
	buf_free(&b);
	r = must_open(&e, "/S/user@example.com@LATEST", KFS_FRAMING_LINE);
	put_str(&e, "S", "user@example.com", "mail2", NULL);
	put_str(&e, "S", "user", "no", NULL);
	CHECK_EQ_INT(drain(r, &b, 64), -EAGAIN);
	CHECK(buf_is(&b, "mail2\n"));
	kfs_reader_free(r);
	buf_free(&b);
	env_close(&e);
}

/* ---- resharding ------------------------------------------------------------ */

#define NKEYS 23
#define PHASE0 10050       /* more than a reader's batch (10000) */
#define PER_PHASE 90

struct putrec {
	char seq[KFS_SEQ_MAX];
	char shard[KFS_SHARD_ID_LEN + 1];
	char key[16];
	int n;              /* per-key counter */
	int64_t at;
	int seen;
};

static const struct kfs_shard_desc *find_shard(const struct kfs_shard_list *sl,
					       const char *id)
{
	for (size_t i = 0; i < sl->n; i++)
		if (strcmp(sl->v[i].id, id) == 0)
			return &sl->v[i];
	return NULL;
}

/* 1 when a is an ancestor of d (parent or adjacent parent, transitively). */
static int is_ancestor(const struct kfs_shard_list *sl, const char *a,
		       const char *d, int depth)
{
	const struct kfs_shard_desc *x = find_shard(sl, d);

	if (!x || depth > 64)
		return 0;
	if ((x->parent[0] && (strcmp(x->parent, a) == 0 ||
			      is_ancestor(sl, a, x->parent, depth + 1))) ||
	    (x->adjacent_parent[0] && (strcmp(x->adjacent_parent, a) == 0 ||
				       is_ancestor(sl, a, x->adjacent_parent, depth + 1))))
		return 1;
	return 0;
}

static int n_ancestors(const struct kfs_shard_list *sl, const char *d)
{
	int n = 0;
	for (size_t i = 0; i < sl->n; i++)
		n += is_ancestor(sl, sl->v[i].id, d, 0);
	return n;
}

/* The data of record i: "key-K #N @i". */
static int rec_data(const struct putrec *p, size_t i, char *d, size_t size)
{
	return snprintf(d, size, "%s #%d @%zu", p->key, p->n, i);
}

/* The put record a JSON line is, by the index in its data; NULL (and a
 * failed check) when it is none or its number or shard differ. */
static struct putrec *find_put(struct putrec *v, size_t nv, const struct jrec *j)
{
	const char *at = j->data ? memchr(j->data, '@', j->len) : NULL;
	size_t i;
	char d[64];

	if (!at || sscanf(at + 1, "%zu", &i) != 1 || i >= nv ||
	    strcmp(v[i].seq, j->seq) != 0 || strcmp(v[i].shard, j->shard) != 0) {
		printf("#   record %s of %s was never put\n", j->seq, j->shard);
		tap_cur_failed = 1;
		return NULL;
	}
	rec_data(&v[i], i, d, sizeof(d));
	if (!jdata_is(j, d, strlen(d))) {
		printf("#   record %s: data differs\n", j->seq);
		tap_cur_failed = 1;
	}
	return &v[i];
}

/* Puts `count` records of stream `stream` under rotating keys, one at a
 * time from time t (10 ms apart), or in batches of 500 (each batch one
 * time). */
static void put_many(struct env *e, const char *stream, struct putrec *v,
		     size_t *n, int count, int64_t t, int batched, int *counter)
{
	for (int i = 0; i < count;) {
		int m = batched ? (count - i < 500 ? count - i : 500) : 1;
		struct kfs_put_entry en[500];
		char d[500][64];

		memset(en, 0, sizeof(en[0]) * (size_t)m);
		set_now(t + (int64_t)i * 10);
		for (int x = 0; x < m; x++) {
			struct putrec *p = &v[*n + (size_t)x];
			int k = ((i + x) * 7 + (int)(t / 1000)) % NKEYS;

			p->at = t + (int64_t)i * 10;
			snprintf(p->key, sizeof(p->key), "key-%d", k);
			p->n = counter[k]++;
			rec_data(p, *n + (size_t)x, d[x], sizeof(d[x]));
			en[x].key = p->key;
			en[x].data = d[x];
			en[x].len = strlen(d[x]);
		}
		REQUIRE(e->be->ops->put_records(e->be->impl, stream, en, (size_t)m) == 0);
		for (int x = 0; x < m; x++) {
			REQUIRE(en[x].err == 0);
			strcpy(v[*n + (size_t)x].seq, en[x].seq);
			strcpy(v[*n + (size_t)x].shard, en[x].shard_id);
		}
		*n += (size_t)m;
		i += m;
	}
}

/* Checks the JSON lines of a whole-stream read: every record once,
 * ancestors' records before descendants', per-key order. */
static void check_stream_order(const char *what, const struct buf *b,
			       struct putrec *v, size_t nv,
			       const struct kfs_shard_list *sl)
{
	struct jrec *j = NULL;
	size_t n = parse_jsonl(b->p, b->n, &j);
	int last[NKEYS];
	int fails = tap_cur_failed, reported = 0;
	long *max_i = calloc(sl->n, sizeof(long)), *min_i = calloc(sl->n, sizeof(long));

	REQUIRE(max_i && min_i);
	tap_cur_failed = 0;
	for (size_t i = 0; i < nv; i++)
		v[i].seen = 0;
	for (int k = 0; k < NKEYS; k++)
		last[k] = -1;
	for (size_t s = 0; s < sl->n; s++)
		max_i[s] = min_i[s] = -1;
	CHECK_EQ_INT(n, nv);
	for (size_t i = 0; i < n; i++) {
		struct putrec *p = find_put(v, nv, &j[i]);
		int k;

		if (!p)
			continue;
		p->seen++;
		CHECK_EQ_STR(j[i].key, p->key);
		CHECK_EQ_INT(j[i].arrival_ms, p->at);
		k = atoi(p->key + 4);
		if (p->n != last[k] + 1 && reported++ < 5) {
			printf("#   %s: %s #%d after #%d\n", what, p->key, p->n, last[k]);
			tap_cur_failed = 1;
		}
		last[k] = p->n;
		for (size_t s = 0; s < sl->n; s++)
			if (strcmp(sl->v[s].id, j[i].shard) == 0) {
				max_i[s] = (long)i;
				if (min_i[s] < 0)
					min_i[s] = (long)i;
			}
	}
	reported = 0;
	for (size_t i = 0; i < nv; i++)
		if (v[i].seen != 1 && reported++ < 5) {
			printf("#   %s: %s #%d (%s) seen %d times\n", what, v[i].key,
			       v[i].n, v[i].shard, v[i].seen);
			tap_cur_failed = 1;
		}
	/* Every record of an ancestor before every record of a descendant. */
	for (size_t a = 0; a < sl->n; a++)
		for (size_t d = 0; d < sl->n; d++)
			if (is_ancestor(sl, sl->v[a].id, sl->v[d].id, 0) &&
			    max_i[a] >= 0 && min_i[d] >= 0 && max_i[a] > min_i[d]) {
				printf("#   %s: record %ld of %s (ancestor) after record "
				       "%ld of %s\n", what, max_i[a], sl->v[a].id,
				       min_i[d], sl->v[d].id);
				tap_cur_failed = 1;
			}
	if (tap_cur_failed)
		printf("#   (%s)\n", what);
	tap_cur_failed |= fails;
	free(max_i);
	free(min_i);
	jrecs_free(j, n);
}

/* Reads path (a view from a sequence number) and checks it holds exactly
 * the records in(v[i]) says, those of N's shard first N (or the one after). */
static void check_seq_view(struct env *e, const char *path, struct putrec *v,
			   size_t nv, const struct kfs_shard_list *sl,
			   const struct putrec *anchor, int after, const char *key)
{
	struct buf b = {0};
	struct jrec *j = NULL;
	size_t n, want = 0;
	int first_in_shard = 1, reported = 0;

	CHECK_EQ_INT(read_path(e, path, KFS_FRAMING_LINE, &b, 4096), -EAGAIN);
	n = parse_jsonl(b.p, b.n, &j);
	for (size_t i = 0; i < nv; i++)
		v[i].seen = 0;
	for (size_t i = 0; i < n; i++) {
		struct putrec *p = find_put(v, nv, &j[i]);
		if (!p)
			continue;
		p->seen++;
		if (is_ancestor(sl, j[i].shard, anchor->shard, 0) && reported++ < 3) {
			printf("#   %s: record %s of ancestor %s\n", path, p->key,
			       j[i].shard);
			tap_cur_failed = 1;
		}
		if (strcmp(j[i].shard, anchor->shard) == 0 && first_in_shard) {
			if (after ? p <= anchor : p != anchor) {
				printf("#   %s: %s's first record is %s #%d\n", path,
				       anchor->shard, p->key, p->n);
				tap_cur_failed = 1;
			}
			first_in_shard = 0;
		}
	}
	/* Exactly: N's shard from N (after N), its ancestors none, the
	 * others from N's arrival time. */
	reported = 0;
	for (size_t i = 0; i < nv; i++) {
		int in;
		if (key && strcmp(v[i].key, key) != 0)
			in = 0;
		else if (strcmp(v[i].shard, anchor->shard) == 0)
			in = after ? &v[i] > anchor : &v[i] >= anchor;
		else if (is_ancestor(sl, v[i].shard, anchor->shard, 0))
			in = 0;
		else
			in = v[i].at >= anchor->at;
		want += (size_t)in;
		if (v[i].seen != in && reported++ < 5) {
			printf("#   %s: %s #%d (%s, at %+" PRId64 ") seen %d, expected %d\n",
			       path, v[i].key, v[i].n, v[i].shard, v[i].at - T0,
			       v[i].seen, in);
			tap_cur_failed = 1;
		}
	}
	CHECK_EQ_INT(n, want);
	CHECK(want > 0);
	jrecs_free(j, n);
	buf_free(&b);
}

TEST(stream_view_across_resharding)
{
	struct env e;
	struct putrec *v = calloc(PHASE0 + 2 * PER_PHASE, sizeof(*v));
	size_t nv = 0;
	int counter[NKEYS] = {0};
	struct kfs_reader *early, *early_text, *kv;
	struct buf eb = {0}, et = {0}, kb = {0}, b = {0};
	struct kfs_shard_list sl = {0};

	REQUIRE(v);
	env_open(&e);
	mkstream(&e, "R", 1);
	/* The key files, created before any record (SPEC 3). */
	for (int k = 0; k < NKEYS; k++) {
		char key[16];
		snprintf(key, sizeof(key), "key-%d", k);
		REQUIRE(kfs_names_create(e.be->ops->names(e.be->impl), "R", key, 0,
					 0, 0, 0644, NULL, NULL) == 0);
	}
	/* Opened before anything: follows through both reshards. */
	early = must_open(&e, "/R/@TRIM_HORIZON.jsonl", KFS_FRAMING_LINE);
	early_text = must_open(&e, "/R/@TRIM_HORIZON", KFS_FRAMING_WRITE);
	kv = must_open(&e, "/R/key-3@TRIM_HORIZON", KFS_FRAMING_LINE);

	put_many(&e, "R", v, &nv, PHASE0, T0, 1, counter);
	CHECK_EQ_INT(drain(early, &eb, 100000), -EAGAIN);
	CHECK_EQ_INT(drain(kv, &kb, 7), -EAGAIN);
	set_now(T0 + 200000);
	reshard(&e, "R", 2);
	put_many(&e, "R", v, &nv, PER_PHASE, T0 + 300000, 0, counter);
	CHECK_EQ_INT(drain(early, &eb, 1000), -EAGAIN);
	CHECK_EQ_INT(drain(early_text, &et, 100), -EAGAIN);
	set_now(T0 + 400000);
	reshard(&e, "R", 3);
	put_many(&e, "R", v, &nv, PER_PHASE, T0 + 500000, 0, counter);
	CHECK_EQ_INT(drain(early, &eb, 1000), -EAGAIN);
	CHECK_EQ_INT(drain(early_text, &et, 100), -EAGAIN);
	CHECK_EQ_INT(drain(kv, &kb, 7), -EAGAIN);

	REQUIRE(e.be->ops->list_shards(e.be->impl, "R", &sl) == 0);
	{
		int open = 0;
		for (size_t i = 0; i < sl.n; i++)
			open += !sl.v[i].closed;
		CHECK_EQ_INT(open, 3);
		CHECK(sl.n >= 6);
	}
	check_stream_order("view open before resharding", &eb, v, nv, &sl);
	/* The same bytes in text: each record once. */
	{
		size_t want = 0;
		for (size_t i = 0; i < nv; i++) {
			char d[64];
			want += (size_t)rec_data(&v[i], i, d, sizeof(d));
		}
		CHECK_EQ_INT(et.n, want);
	}

	/* Opened after: the same. */
	CHECK_EQ_INT(read_path(&e, "/R/@TRIM_HORIZON.jsonl", KFS_FRAMING_LINE, &b, 65536),
		     -EAGAIN);
	check_stream_order("view opened after resharding", &b, v, nv, &sl);
	buf_free(&b);
	CHECK_EQ_INT(read_path(&e, "/R/@TRIM_HORIZON.jsonl", KFS_FRAMING_LINE, &b, 77),
		     -EAGAIN);
	check_stream_order("view opened after resharding, small reads", &b, v, nv, &sl);
	buf_free(&b);

	/* Keys: plain files and views, only the key, in order, all of it. */
	for (int k = 0; k < NKEYS; k++) {
		char path[64], key[16];
		struct buf want = {0};

		snprintf(key, sizeof(key), "key-%d", k);
		for (size_t i = 0; i < nv; i++)
			if (strcmp(v[i].key, key) == 0) {
				char d[80];
				int l = rec_data(&v[i], i, d, sizeof(d) - 1);
				d[l++] = '\n';
				buf_add(&want, d, (size_t)l);
			}
		snprintf(path, sizeof(path), "/R/%s", key);
		CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_LINE, &b, 50), 0);
		if (!buf_is(&b, want.p)) {
			printf("#   %s: %zu bytes, expected %zu\n", path, b.n, want.n);
			tap_cur_failed = 1;
		}
		buf_free(&b);
		snprintf(path, sizeof(path), "/R/%s@TRIM_HORIZON", key);
		CHECK_EQ_INT(read_path(&e, path, KFS_FRAMING_LINE, &b, 50), -EAGAIN);
		CHECK(buf_is(&b, want.p));
		buf_free(&b);
		if (k == 3)
			CHECK(buf_is(&kb, want.p));
		buf_free(&want);
	}

	/* A shard view of a closed shard reads to its end, then EOF. */
	{
		struct kfs_reader *r = must_open(&e, "/R/" S0 "@TRIM_HORIZON",
						 KFS_FRAMING_LINE);
		CHECK_EQ_INT(drain(r, &b, 100000), 0);
		CHECK_EQ_INT(kfs_reader_poll(r), 1);
		CHECK(b.n > 0);
		kfs_reader_free(r);
		buf_free(&b);
		CHECK_EQ_INT(read_path(&e, "/R/" S0 "@LATEST", KFS_FRAMING_LINE, &b, 100), 0);
		CHECK_EQ_INT(b.n, 0);
		buf_free(&b);
		CHECK_EQ_INT(read_path(&e, "/R/" S0, KFS_FRAMING_LINE, &b, 100000), 0);
		buf_free(&b);
	}

	/*
	 * AT_SEQUENCE_NUMBER=N of a record in a child shard: N's ancestors
	 * are skipped, its shard starts at N, the others at N's arrival.
	 */
	{
		struct putrec *anchor = NULL;
		char path[256];

		for (size_t i = PHASE0 + PER_PHASE + PER_PHASE / 3; i < nv && !anchor; i++)
			if (n_ancestors(&sl, v[i].shard) >= 3)
				anchor = &v[i];
		REQUIRE(anchor);
		printf("# anchor %s #%d in %s (%d ancestors)\n", anchor->key, anchor->n,
		       anchor->shard, n_ancestors(&sl, anchor->shard));
		snprintf(path, sizeof(path), "/R/@AT_SEQUENCE_NUMBER=%s.jsonl", anchor->seq);
		check_seq_view(&e, path, v, nv, &sl, anchor, 0, NULL);
		snprintf(path, sizeof(path), "/R/@AFTER_SEQUENCE_NUMBER=%s.jsonl", anchor->seq);
		check_seq_view(&e, path, v, nv, &sl, anchor, 1, NULL);
		snprintf(path, sizeof(path), "/R/%s@AT_SEQUENCE_NUMBER=%s.jsonl",
			 anchor->key, anchor->seq);
		check_seq_view(&e, path, v, nv, &sl, anchor, 0, anchor->key);
	}

	kfs_shard_list_clear(&sl);
	kfs_reader_free(early);
	kfs_reader_free(early_text);
	kfs_reader_free(kv);
	buf_free(&eb);
	buf_free(&et);
	buf_free(&kb);
	free(v);
	env_close(&e);
}

/*
 * Arrival times need not grow across shards (clocks differ): children
 * whose records arrived "before" their parent's.  A view from N in a
 * child still skips N's ancestors, rather than reading them from N's
 * arrival time.
 */
TEST(seq_view_skips_ancestors_whatever_the_clock)
{
	struct env e;
	struct putrec v[64];
	size_t nv = 0;
	int counter[NKEYS] = {0};
	struct kfs_shard_list sl = {0};
	struct putrec *anchor = NULL;
	char path[256];

	memset(v, 0, sizeof(v));
	env_open(&e);
	mkstream(&e, "Q", 1);
	put_many(&e, "Q", v, &nv, 20, T0 + 50000, 0, counter);
	set_now(T0 + 60000);
	reshard(&e, "Q", 2);
	put_many(&e, "Q", v, &nv, 30, T0 + 10000, 0, counter);
	REQUIRE(e.be->ops->list_shards(e.be->impl, "Q", &sl) == 0);
	for (size_t i = 20 + 10; i < nv && !anchor; i++)
		anchor = &v[i];
	REQUIRE(anchor);
	snprintf(path, sizeof(path), "/Q/@AT_SEQUENCE_NUMBER=%s.jsonl", anchor->seq);
	check_seq_view(&e, path, v, nv, &sl, anchor, 0, NULL);
	snprintf(path, sizeof(path), "/Q/@AFTER_SEQUENCE_NUMBER=%s.jsonl", anchor->seq);
	check_seq_view(&e, path, v, nv, &sl, anchor, 1, NULL);
	snprintf(path, sizeof(path), "/Q/%s@AT_SEQUENCE_NUMBER=%s.jsonl", anchor->key,
		 anchor->seq);
	check_seq_view(&e, path, v, nv, &sl, anchor, 0, anchor->key);
	kfs_shard_list_clear(&sl);
	env_close(&e);
}

/* ---- seeking ---------------------------------------------------------------- */

/* A backend that counts what the reader asks of the engine. */
static const struct kfs_backend_ops *real_ops;
static struct kfs_backend_ops counting_ops;
static long n_seeks, n_got_records;

static int counting_get_records(void *impl, const char *iterator, int limit,
				unsigned flags, struct kfs_get_result *out)
{
	int rc = real_ops->get_records(impl, iterator, limit, flags, out);
	if (rc == 0)
		n_got_records += (long)out->n;
	return rc;
}

static int counting_seek_bytes(void *impl, const char *stream, const char *shard_id,
			       enum kfs_framing framing, uint64_t offset,
			       char **iter_out, uint64_t *skip_out)
{
	n_seeks++;
	return real_ops->seek_bytes(impl, stream, shard_id, framing, offset,
				    iter_out, skip_out);
}

static struct kfs_reader *open_counting(struct kfs_backend *wrapped, const char *path,
					enum kfs_framing f)
{
	struct kfs_path p;
	struct kfs_reader_spec spec = {0};
	struct kfs_reader *r = NULL;

	REQUIRE(kfs_path_parse(path, &p) == 0);
	spec.stream = p.stream;
	spec.kind = p.kind;
	spec.name = p.name;
	spec.pos = (p.view || p.kind == KFS_NODE_SVIEW) ? &p.pos : NULL;
	spec.framing = f;
	REQUIRE(kfs_reader_open(wrapped, &spec, &r, NULL, 0) == 0);
	return r;
}

TEST(seek_backwards_and_far)
{
	enum { NR = 3000, RL = 997 };
	struct env e;
	struct buf whole[KFS_FRAMING_COUNT] = {{0}};
	struct kfs_backend wrapped;
	char *tmp = malloc(200000);

	REQUIRE(tmp);
	env_open(&e);
	mkstream(&e, "S", 1);
	/* ~3 MB; half the records end in '\n', half do not. */
	for (int i = 0; i < NR; i += 500) {
		struct kfs_put_entry en[500];
		static unsigned char data[500][RL];
		memset(en, 0, sizeof(en));
		for (int k = 0; k < 500; k++) {
			int len = RL - (k % 5);
			for (int x = 0; x < len; x++)
				data[k][x] = (unsigned char)('a' + (i + k + x) % 26);
			if (k % 2)
				data[k][len - 1] = '\n';
			en[k].key = "k";
			en[k].data = data[k];
			en[k].len = (size_t)len;
		}
		REQUIRE(e.be->ops->put_records(e.be->impl, "S", en, 500) == 0);
		for (int k = 0; k < 500; k++)
			REQUIRE(en[k].err == 0);
	}
	REQUIRE(e.be->ops->seek_bytes != NULL);
	real_ops = e.be->ops;
	counting_ops = *e.be->ops;
	counting_ops.get_records = counting_get_records;
	counting_ops.seek_bytes = counting_seek_bytes;
	wrapped.ops = &counting_ops;
	wrapped.impl = e.be->impl;

	for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
		struct kfs_reader *r;
		struct buf *w = &whole[f];
		ssize_t got;

		CHECK_EQ_INT(read_path(&e, "/S/" S0, (enum kfs_framing)f, w, 65536), 0);
		CHECK(w->n > 2 * 1024 * 1024 + 300000);

		/* Backwards: offset 0 again reads from the start. */
		r = open_counting(&wrapped, "/S/" S0, (enum kfs_framing)f);
		{
			struct buf b = {0};
			CHECK_EQ_INT(drain(r, &b, 100000), 0);
			CHECK(b.n == w->n && memcmp(b.p, w->p, b.n) == 0);
			buf_free(&b);
		}
		got = kfs_reader_read(r, tmp, 1000, 0);
		CHECK_EQ_INT(got, 1000);
		CHECK(got == 1000 && memcmp(tmp, w->p, 1000) == 0);
		got = kfs_reader_read(r, tmp, 5000, 12345);
		CHECK_EQ_INT(got, 5000);
		CHECK(got == 5000 && memcmp(tmp, w->p + 12345, 5000) == 0);
		got = kfs_reader_read(r, tmp, 100, 10);
		CHECK_EQ_INT(got, 100);
		CHECK(got == 100 && memcmp(tmp, w->p + 10, 100) == 0);
		kfs_reader_free(r);

		/* Far forwards: a seek, not a read of everything before. */
		{
			static const uint64_t offs[] = {2000123, 1500000, 2999, 0};
			n_seeks = n_got_records = 0;
			r = open_counting(&wrapped, "/S/" S0, (enum kfs_framing)f);
			got = kfs_reader_read(r, tmp, 100000, offs[0]);
			CHECK_EQ_INT(got, (ssize_t)(w->n - offs[0] < 100000 ? w->n - offs[0] : 100000));
			CHECK(got > 0 && memcmp(tmp, w->p + offs[0], (size_t)got) == 0);
			CHECK_EQ_INT(n_seeks, 1);
			if (n_got_records > NR / 2) {
				printf("#   framing %d: %ld records fetched for a read at %"
				       PRIu64 " (%d in the shard): no seek\n", f,
				       n_got_records, offs[0], NR);
				tap_cur_failed = 1;
			}
			/* The suffix from there is the rest of the file. */
			{
				struct buf b = {0};
				buf_add(&b, tmp, (size_t)got);
				while ((got = kfs_reader_read(r, tmp, 65536, offs[0] + b.n)) > 0)
					buf_add(&b, tmp, (size_t)got);
				CHECK_EQ_INT(got, 0);
				CHECK(b.n == w->n - offs[0] &&
				      memcmp(b.p, w->p + offs[0], b.n) == 0);
				buf_free(&b);
			}
			/* Back, and far again, mid-record. */
			for (size_t i = 1; i < sizeof(offs) / sizeof(offs[0]); i++) {
				got = kfs_reader_read(r, tmp, 3000, offs[i]);
				CHECK_EQ_INT(got, 3000);
				CHECK(got == 3000 && memcmp(tmp, w->p + offs[i], 3000) == 0);
			}
			got = kfs_reader_read(r, tmp, 777, w->n - 500);
			CHECK_EQ_INT(got, 500);
			CHECK(got == 500 && memcmp(tmp, w->p + w->n - 500, 500) == 0);
			/* At and past the end: 0. */
			CHECK_EQ_INT(kfs_reader_read(r, tmp, 100, w->n), 0);
			CHECK_EQ_INT(kfs_reader_read(r, tmp, 100, w->n + 5000000), 0);
			CHECK_EQ_INT(kfs_reader_read(r, tmp, 100, w->n - 1), 1);
			kfs_reader_free(r);

			/* A fresh reader straight past the end, then records come. */
			r = open_counting(&wrapped, "/S/" S0, (enum kfs_framing)f);
			CHECK_EQ_INT(kfs_reader_read(r, tmp, 100, w->n + 2000000), 0);
			CHECK_EQ_INT(kfs_reader_read(r, tmp, 100, w->n - 3), 3);
			CHECK(memcmp(tmp, w->p + w->n - 3, 3) == 0);
			kfs_reader_free(r);
		}
	}

	/* Views seek backwards by starting again. */
	{
		struct kfs_reader *r = must_open(&e, "/S/" S0 "@TRIM_HORIZON",
						 KFS_FRAMING_LINE);
		struct buf b = {0};
		ssize_t got;
		CHECK_EQ_INT(drain(r, &b, 200000), -EAGAIN);
		CHECK(b.n == whole[KFS_FRAMING_LINE].n &&
		      memcmp(b.p, whole[KFS_FRAMING_LINE].p, b.n) == 0);
		got = kfs_reader_read(r, tmp, 50, 0);
		CHECK_EQ_INT(got, 50);
		CHECK(got == 50 && memcmp(tmp, b.p, 50) == 0);
		kfs_reader_free(r);
		buf_free(&b);
		r = must_open(&e, "/S/@TRIM_HORIZON", KFS_FRAMING_WRITE);
		CHECK_EQ_INT(drain(r, &b, 200000), -EAGAIN);
		CHECK(b.n == whole[KFS_FRAMING_WRITE].n);
		got = kfs_reader_read(r, tmp, 50, 7);
		CHECK_EQ_INT(got, 50);
		CHECK(got == 50 && memcmp(tmp, whole[KFS_FRAMING_WRITE].p + 7, 50) == 0);
		kfs_reader_free(r);
		buf_free(&b);
	}

	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		buf_free(&whole[f]);
	free(tmp);
	env_close(&e);
}

/* ---- read-ahead -------------------------------------------------------------- */

/* ---- a closed shard's empty page before its end -------------------------- */

/* Kinesis (and kinesalite) may answer GetRecords on a closed shard, past
 * its last record, with empty pages and a next iterator before the page
 * that ends it.  This wrapper makes the local engine do so: the page that
 * ends the closed shard with records ends it with an iterator past them
 * instead, and the next lag_budget empty ends are empty pages with the
 * same iterator again. */
static int lag_budget;

static int lagging_get_records(void *impl, const char *iterator, int limit,
			       unsigned flags, struct kfs_get_result *out)
{
	int rc = real_ops->get_records(impl, iterator, limit, flags, out);

	if (rc != 0 || out->next_iterator || lag_budget == 0)
		return rc;
	if (out->n > 0) {
		struct kfs_iter_spec at = {
			.type = KFS_ITER_AFTER_SEQUENCE_NUMBER,
			.seq = out->records[out->n - 1].seq,
		};
		REQUIRE(real_ops->get_iterator(impl, "S", S0, &at,
					       &out->next_iterator) == 0);
	} else {
		out->next_iterator = strdup(iterator);
		REQUIRE(out->next_iterator);
		lag_budget--;
	}
	kfs_name_list_clear(&out->children);
	return 0;
}

TEST(key_file_reads_on_past_empty_pages_of_closed_shards)
{
	struct env e;
	struct buf b = {0};
	struct kfs_backend wrapped;
	struct kfs_reader *r;

	env_open(&e);
	mkstream(&e, "S", 1);
	REQUIRE(kfs_names_create(e.be->ops->names(e.be->impl), "S", "k", 0, 0, 0,
				 0644, NULL, NULL) == 0);
	put_str(&e, "S", "k", "k 1\n", NULL);
	put_str(&e, "S", "k", "k 2\n", NULL);
	reshard(&e, "S", 2);
	put_str(&e, "S", "k", "k 3\n", NULL);
	put_str(&e, "S", "k", "k 4\n", NULL);
	real_ops = e.be->ops;
	counting_ops = *e.be->ops;
	counting_ops.get_records = lagging_get_records;
	wrapped.ops = &counting_ops;
	wrapped.impl = e.be->impl;
	/* Two: a read that fetches the records goes on to the first empty
	 * page and returns what it has; the next read begins with one. */
	lag_budget = 2;
	r = open_counting(&wrapped, "S/k", KFS_FRAMING_LINE);
	CHECK_EQ_INT((int)drain(r, &b, 4096), 0);
	CHECK(buf_is(&b, "k 1\nk 2\nk 3\nk 4\n"));
	CHECK_EQ_INT(lag_budget, 0);   /* the empty pages were given */
	kfs_reader_free(r);
	buf_free(&b);
	env_close(&e);
}

static pthread_t main_thread;
static long n_ahead;   /* get_records calls from other threads; atomic */

static int ahead_get_records(void *impl, const char *iterator, int limit,
			     unsigned flags, struct kfs_get_result *out)
{
	if (!pthread_equal(pthread_self(), main_thread))
		__atomic_add_fetch(&n_ahead, 1, __ATOMIC_RELAXED);
	return real_ops->get_records(impl, iterator, limit, flags, out);
}

/* Puts records from..to-1 of the test's pattern (lengths 0 to 60, some
 * ending in a newline) and adds their rendering to want[]. */
static void put_pattern(struct env *e, int from, int to,
			struct buf want[KFS_FRAMING_COUNT])
{
	static unsigned char data[500][64];
	struct kfs_put_entry en[500];

	for (int i = from; i < to; i += 500) {
		int n = to - i < 500 ? to - i : 500;

		memset(en, 0, sizeof(en));
		for (int k = 0; k < n; k++) {
			int len = (i + k) * 7 % 61;
			for (int x = 0; x < len; x++)
				data[k][x] = (unsigned char)('a' + (i + k + x) % 26);
			if (len && (i + k) % 3 == 0)
				data[k][len - 1] = '\n';
			en[k].key = "k";
			en[k].data = data[k];
			en[k].len = (size_t)len;
		}
		REQUIRE(e->be->ops->put_records(e->be->impl, "S", en, (size_t)n) == 0);
		for (int k = 0; k < n; k++) {
			REQUIRE(en[k].err == 0);
			for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
				buf_add(&want[f], data[k], en[k].len);
				if (kfs_framed_len((enum kfs_framing)f, data[k],
						   en[k].len) > en[k].len)
					buf_add(&want[f], "\n", 1);
			}
		}
	}
}

/* Reads r from offset `from` to its end, in chunks of changing sizes. */
static ssize_t drain_odd(struct kfs_reader *r, struct buf *b, uint64_t from)
{
	static const size_t sizes[] = { 131072, 1, 4093, 65536, 77777, 100 };
	char *tmp = malloc(131072);
	ssize_t got;
	size_t k = 0;

	REQUIRE(tmp);
	while ((got = kfs_reader_read(r, tmp, sizes[k++ % 6], from + b->n)) > 0)
		buf_add(b, tmp, (size_t)got);
	free(tmp);
	return got;
}

TEST(read_ahead_gives_the_same_bytes)
{
	enum { NR = 23456, MORE = 777 };   /* pages of 10000 records */
	struct env e;
	struct buf want[KFS_FRAMING_COUNT] = {{0}};
	struct kfs_backend_ops ops;
	struct kfs_backend wrapped;
	struct kfs_read_ahead ra;
	char *tmp = malloc(100000);

	REQUIRE(tmp);
	env_open(&e);
	mkstream(&e, "S", 1);
	put_pattern(&e, 0, NR, want);
	REQUIRE(e.be->ops->caps & KFS_CAP_READ_AHEAD);
	real_ops = e.be->ops;
	ops = *e.be->ops;
	ops.get_records = ahead_get_records;
	wrapped.ops = &ops;
	wrapped.impl = e.be->impl;
	main_thread = pthread_self();
	kfs_read_ahead_init(&ra);

	for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
		struct kfs_reader_spec spec = {
			.stream = "S", .kind = KFS_NODE_SHARD, .name = S0,
			.framing = (enum kfs_framing)f, .ahead = &ra,
		};
		struct kfs_reader *r = NULL;
		struct buf b = {0};
		size_t end;
		ssize_t got;

		REQUIRE(kfs_reader_open(&wrapped, &spec, &r, NULL, 0) == 0);
		n_ahead = 0;
		/* Every byte there is, not asking for more: the page after
		 * the last one (none yet) is being read ahead. */
		end = want[f].n;
		while (b.n < end) {
			size_t n = end - b.n < 65536 ? end - b.n : 65536;
			got = kfs_reader_read(r, tmp, n, b.n);
			REQUIRE(got > 0);
			buf_add(&b, tmp, (size_t)got);
		}
		/* The pages after the first were read ahead, the last one
		 * (empty) is by now. */
		for (int k = 0; k < 5000; k++) {
			int running;
			pthread_mutex_lock(&ra.lock);
			running = ra.running;
			pthread_mutex_unlock(&ra.lock);
			if (!running)
				break;
			usleep(1000);
		}
		CHECK(__atomic_load_n(&n_ahead, __ATOMIC_RELAXED) >= 3);
		/* Records that come before the reader gets to the tip are
		 * read, not the empty page read ahead there. */
		put_pattern(&e, NR + 2 * f * MORE, NR + (2 * f + 1) * MORE, want);
		CHECK_EQ_INT(drain_odd(r, &b, 0), 0);
		CHECK(b.n == want[f].n && memcmp(b.p, want[f].p, b.n) == 0);

		/* At the end (EOF), records come: the same reader reads them. */
		end = b.n;
		put_pattern(&e, NR + (2 * f + 1) * MORE, NR + (2 * f + 2) * MORE, want);
		CHECK_EQ_INT(drain_odd(r, &b, 0), 0);
		CHECK(b.n == want[f].n && memcmp(b.p, want[f].p, b.n) == 0);
		CHECK(b.n > end);

		/* Back while a page is read ahead, then far forwards. */
		got = kfs_reader_read(r, tmp, 100000, 0);
		CHECK_EQ_INT(got, 100000);
		CHECK(got == 100000 && memcmp(tmp, want[f].p, 100000) == 0);
		got = kfs_reader_read(r, tmp, 1000, 5);
		CHECK(got == 1000 && memcmp(tmp, want[f].p + 5, 1000) == 0);
		got = kfs_reader_read(r, tmp, 1000, want[f].n - 700000);
		CHECK(got == 1000 && memcmp(tmp, want[f].p + want[f].n - 700000, 1000) == 0);
		buf_free(&b);
		CHECK_EQ_INT(drain_odd(r, &b, want[f].n - 699000), 0);
		CHECK(b.n == 699000 && memcmp(b.p, want[f].p + want[f].n - 699000, b.n) == 0);
		kfs_reader_free(r);   /* with a page being read ahead, maybe */
		buf_free(&b);
	}
	pthread_mutex_lock(&ra.lock);
	CHECK_EQ_INT(ra.running, 0);
	pthread_mutex_unlock(&ra.lock);
	kfs_read_ahead_destroy(&ra);

	/* Views do not read ahead: they follow, and show every number. */
	{
		struct kfs_reader_spec spec = { .stream = "S", .kind = KFS_NODE_SHARD,
						.name = S0, .ahead = &ra };
		struct kfs_position pos = { .type = KFS_ITER_TRIM_HORIZON, .json = 1 };
		struct kfs_reader *r = NULL;
		struct buf b = {0};
		struct jrec *v = NULL;
		size_t nv;
		int bad = 0;

		kfs_read_ahead_init(&ra);
		spec.pos = &pos;
		REQUIRE(kfs_reader_open(&wrapped, &spec, &r, NULL, 0) == 0);
		n_ahead = 0;
		CHECK_EQ_INT(drain(r, &b, 65536), -EAGAIN);
		nv = parse_jsonl(b.p, b.n, &v);
		CHECK_EQ_INT(nv, NR + 2 * KFS_FRAMING_COUNT * MORE);
		for (size_t i = 0; i < nv; i++)
			if (strlen(v[i].seq) != KFS_SEQ_DIGITS ||
			    (i > 0 && strcmp(v[i - 1].seq, v[i].seq) >= 0))
				bad++;
		CHECK_EQ_INT(bad, 0);
		jrecs_free(v, nv);
		CHECK_EQ_INT(__atomic_load_n(&n_ahead, __ATOMIC_RELAXED), 0);
		kfs_reader_free(r);
		kfs_read_ahead_destroy(&ra);
		buf_free(&b);
	}

	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		buf_free(&want[f]);
	free(tmp);
	env_close(&e);
}

int main(void)
{
	kfs_log_init(1, KFS_LOG_ERR);
	RUN(parse_timestamp);
	RUN(position_parse);
	RUN(path_parse);
	RUN(plain_shard_reader_ends_at_tip);
	RUN(view_waits_at_tip_and_poll);
	RUN(latest_is_fixed_at_open);
	RUN(sequence_number_positions);
	RUN(timestamp_positions);
	RUN(json_lines);
	RUN(key_readers_keep_their_key);
	RUN(stream_view_across_resharding);
	RUN(seq_view_skips_ancestors_whatever_the_clock);
	RUN(seek_backwards_and_far);
	RUN(read_ahead_gives_the_same_bytes);
	RUN(key_file_reads_on_past_empty_pages_of_closed_shards);
	return tap_done();
}
