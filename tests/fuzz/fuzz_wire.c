/*
 * fuzz_wire.c - libFuzzer harness for the AWS backend's parsing of the
 * service's answers (backend/aws/wire.h).
 *
 * The input is parsed with cJSON_Parse and, when it is JSON, handed to
 * every answer parser: ListStreams, ListShards, DescribeStreamSummary,
 * PutRecords (for a batch of three entries, and of one), GetShardIterator
 * and GetRecords, and kfs_wire_time_ms.  The raw input, as a string, also
 * goes to kfs_wire_iter_parse (the composite iterator), kfs_wire_b64_decode
 * and the two validators, and is the data and the partition key of a
 * PutRecords body (kfs_wire_put_records_body), which must parse back to
 * them.  The raw bytes are also an event stream (eventstream.h): fed
 * whole and in pieces of every size from 1 to 7, both decoders see the
 * same messages and the same damage.
 *
 * Checked beyond "no crash, no leak": what wire.h promises.  A parser that
 * fails leaves nothing of the answer in its outputs (the list as it was,
 * no token); strings copied into fixed buffers are terminated inside
 * them; a composite iterator that parses is formatted again and parses to
 * the same fields; base64 that decodes encodes back to text that decodes
 * to the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/aws/eventstream.h"
#include "backend/aws/wire.h"
#include "backend/backend.h"
#include "lib/log.h"

static void die(const char *what)
{
	fprintf(stderr, "fuzz_wire: %s\n", what);
	abort();
}

/* 1 when buf holds a NUL within its size. */
#define TERMINATED(buf) (memchr((buf), '\0', sizeof(buf)) != NULL)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!getenv("KFS_FUZZ_VERBOSE"))
		kfs_log_init(1, (enum kfs_log_level)LOG_CRIT); /* nothing */
	return 0;
}

static void list_streams(const cJSON *j)
{
	struct kfs_name_list l = { 0 };
	char *tok = (char *)"junk";
	int more = -1, rc;

	if (kfs_name_list_add(&l, "before") < 0)
		die("out of memory");
	rc = kfs_wire_list_streams_parse(j, &l, &more, &tok);
	if (rc == 0) {
		for (size_t i = 0; i < l.n; i++)
			if (!l.v[i] || (i > 0 && !l.v[i][0]))
				die("list_streams: an empty name");
		if (more != 0 && more != 1)
			die("list_streams: HasMoreStreams neither 0 nor 1");
		if (tok && !*tok)
			die("list_streams: an empty NextToken");
		free(tok);
	} else {
		if (rc != -EIO && rc != -ENOMEM)
			die("list_streams: an unexpected error");
		if (l.n != 1 || tok)
			die("list_streams: a failed parse left something behind");
	}
	kfs_name_list_clear(&l);
}

static void list_shards(const cJSON *j)
{
	struct kfs_shard_list l = { 0 };
	char *tok = (char *)"junk";
	int rc = kfs_wire_list_shards_parse(j, &l, &tok);

	if (rc == 0) {
		for (size_t i = 0; i < l.n; i++) {
			const struct kfs_shard_desc *d = &l.v[i];
			if (!TERMINATED(d->id) || !TERMINATED(d->parent) ||
			    !TERMINATED(d->adjacent_parent) ||
			    !TERMINATED(d->hash_start) || !TERMINATED(d->hash_end) ||
			    !TERMINATED(d->seq_start) || !TERMINATED(d->seq_end))
				die("list_shards: an unterminated field");
			if (d->closed != (d->seq_end[0] != '\0'))
				die("list_shards: closed disagrees with the ending sequence number");
		}
		free(tok);
	} else if (l.n != 0 || tok) {
		die("list_shards: a failed parse left something behind");
	}
	kfs_shard_list_clear(&l);
}

static void stream_summary(const cJSON *j)
{
	struct kfs_stream_desc d;
	int rc;

	memset(&d, 0x5a, sizeof(d));
	rc = kfs_wire_stream_summary_parse(j, &d);
	if (rc == 0) {
		if (!TERMINATED(d.name) || !TERMINATED(d.arn) || !TERMINATED(d.mode))
			die("stream_summary: an unterminated field");
		if ((unsigned)d.status > KFS_STREAM_DELETING)
			die("stream_summary: a status out of range");
		if (d.creation_ms < 0)
			die("stream_summary: a negative creation time");
	} else if (rc != -EIO) {
		die("stream_summary: an unexpected error");
	}
}

static void put_records(const cJSON *j)
{
	static const size_t idx3[] = { 0, 2, 3 }, idx1[] = { 1 };
	struct kfs_put_entry e[4];

	memset(e, 0, sizeof(e));
	e[0].key = "111";
	e[0].data = "{\"Data\":\"1\"}\n";
	e[0].len = strlen(e[0].data);
	e[1].key = "k";
	e[1].data = "x";
	e[1].len = 1;
	e[2].key = "shardId-000000000001";
	e[2].explicit_hash_key = "170141183460469231731687303715884105728";
	e[2].data = "\0\1";
	e[2].len = 2;
	e[3].key = "k";
	e[3].data = "";
	e[3].len = 0;
	for (int pass = 0; pass < 2; pass++) {
		const size_t *idx = pass ? idx1 : idx3;
		size_t n = pass ? 1 : 3;

		if (kfs_wire_put_records_parse(j, e, idx, n) < 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			const struct kfs_put_entry *en = &e[idx[k]];
			if (!TERMINATED(en->seq) || !TERMINATED(en->shard_id) ||
			    !TERMINATED(en->reason))
				die("put_records: an unterminated field");
			if (en->err > 0)
				die("put_records: a positive error");
		}
	}
}

static void shard_iterator(const cJSON *j)
{
	char *it = (char *)"junk";

	if (kfs_wire_shard_iterator_parse(j, &it) == 0) {
		if (!it || !*it)
			die("shard_iterator: an empty iterator");
		free(it);
	} else if (it) {
		die("shard_iterator: a failed parse left an iterator");
	}
}

static void get_records(const cJSON *j)
{
	struct kfs_get_result r = { 0 };
	char *next = (char *)"junk";
	int rc = kfs_wire_get_records_parse(j, &r, &next);

	if (rc == 0) {
		for (size_t i = 0; i < r.n; i++) {
			const struct kfs_record *rec = &r.records[i];
			if (!TERMINATED(rec->seq) || !rec->key || !rec->data)
				die("get_records: a record without its fields");
		}
		for (size_t i = 0; i < r.children.n; i++)
			if (!r.children.v[i])
				die("get_records: a NULL child shard");
		free(next);
	} else if (r.n != 0 || r.children.n != 0 || next) {
		die("get_records: a failed parse left something behind");
	}
	kfs_get_result_clear(&r);
}

static void iterator(const char *s)
{
	struct kfs_wire_iter it, back;
	struct kfs_iter_spec spec;
	char *again;
	int rc;

	if (kfs_wire_iter_parse(s, &it) < 0)
		return;
	if (!TERMINATED(it.stream) || !TERMINATED(it.shard) ||
	    !TERMINATED(it.seq) || !TERMINATED(it.last_seq) || !it.service)
		die("iter_parse: an unterminated field");
	kfs_wire_iter_resume_spec(&it, &spec);
	if ((unsigned)spec.type > KFS_ITER_AT_TIMESTAMP)
		die("iter_resume_spec: a type out of range");
	rc = kfs_wire_iter_format(&it, it.service, &again);
	if (rc == -ENOMEM)
		die("out of memory");
	if (rc < 0)
		die("iter_format refuses what iter_parse accepted");
	if (kfs_wire_iter_parse(again, &back) < 0)
		die("iter_parse refuses what iter_format made");
	if (strcmp(it.stream, back.stream) || strcmp(it.shard, back.shard) ||
	    it.type != back.type || strcmp(it.seq, back.seq) ||
	    it.time_ms != back.time_ms || strcmp(it.last_seq, back.last_seq) ||
	    strcmp(it.service, back.service))
		die("a composite iterator does not survive format and parse");
	free(again);
}

static void base64(const char *s, size_t n)
{
	unsigned char *dec, *dec2;
	size_t len, len2;
	char *enc;
	int rc = kfs_wire_b64_decode(s, n, &dec, &len);

	if (rc < 0) {
		if (dec || len)
			die("b64_decode: a failed decode left output");
		return;
	}
	if (!dec)
		die("b64_decode: no buffer on success");
	if (len > n / 4 * 3)
		die("b64_decode: more bytes than the text holds");
	if (kfs_wire_b64_encode(dec, len, &enc) < 0)
		die("out of memory");
	if (kfs_wire_b64_decode(enc, strlen(enc), &dec2, &len2) < 0 ||
	    len2 != len || memcmp(dec, dec2, len) != 0)
		die("base64 does not round-trip");
	free(dec2);
	free(enc);
	free(dec);
}

/* The PutRecords body with the input as the data of one record and, when
 * it is a key the backend would send (1 to 256 bytes of UTF-8), as the
 * partition key of another: JSON that gives both back. */
static void put_body(const char *s, size_t n)
{
	struct kfs_put_entry e[2] = {
		{ .key = "k", .data = s, .len = n },
		{ .key = s, .explicit_hash_key = "0", .data = "", .len = 0 },
	};
	size_t idx[] = { 0, 1 }, len, m;
	int with_key = n >= 1 && n <= 256 && strlen(s) == n &&
		       kfs_wire_valid_utf8(s);
	const cJSON *recs, *r;
	unsigned char *dec;
	char *body;
	cJSON *j;

	if (kfs_wire_put_records_body("S", e, idx, with_key ? 2 : 1, &body,
				      &len) < 0)
		die("out of memory");
	if (strlen(body) != len)
		die("put_records_body: the length is not the text's");
	j = cJSON_ParseWithLength(body, len);
	if (!j)
		die("put_records_body: not JSON");
	recs = cJSON_GetObjectItemCaseSensitive(j, "Records");
	r = cJSON_GetArrayItem(recs, 0);
	if (cJSON_GetArraySize(recs) != 1 + with_key ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "Data")))
		die("put_records_body: not the records given");
	if (kfs_wire_b64_decode(cJSON_GetObjectItemCaseSensitive(r, "Data")->valuestring,
				strlen(cJSON_GetObjectItemCaseSensitive(r, "Data")->valuestring),
				&dec, &m) < 0 || m != n || memcmp(dec, s, n) != 0)
		die("put_records_body: the data does not come back");
	free(dec);
	r = cJSON_GetArrayItem(recs, 1);
	if (with_key &&
	    (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "PartitionKey")) ||
	     strcmp(cJSON_GetObjectItemCaseSensitive(r, "PartitionKey")->valuestring, s)))
		die("put_records_body: the key does not come back");
	cJSON_Delete(j);
	kfs_wire_body_free(body, len);
}

/* What the messages of an event stream were: a running hash. */
static int es_hash(void *arg, const struct kfs_es_message *m)
{
	uint64_t *h = arg;

	if (!TERMINATED(m->message_type) || !TERMINATED(m->event_type) ||
	    !TERMINATED(m->content_type))
		die("eventstream: a header value not terminated");
	*h = *h * 1099511628211ull + m->payload_len + 1;
	for (size_t i = 0; i < m->payload_len; i++)
		*h = (*h ^ m->payload[i]) * 1099511628211ull;
	*h ^= (uint64_t)strlen(m->message_type) << 32 ^ strlen(m->event_type);
	return 0;
}

static void event_stream(const uint8_t *data, size_t size)
{
	struct kfs_es_decoder whole, parts;
	uint64_t h1 = 14695981039346656037ull, h2 = h1;
	int r1, r2 = 0;
	size_t step = size % 7 + 1;

	kfs_es_init(&whole);
	kfs_es_init(&parts);
	r1 = kfs_es_feed(&whole, data, size, es_hash, &h1);
	for (size_t i = 0; i < size && r2 == 0; i += step)
		r2 = kfs_es_feed(&parts, data + i, size - i < step ? size - i : step,
				 es_hash, &h2);
	if (r1 != r2 || h1 != h2)
		die("eventstream: fed in pieces, other messages than fed whole");
	if (r1 != 0 && r1 != -EBADMSG && r1 != -ENOMEM)
		die("eventstream: an error eventstream.h does not name");
	kfs_es_clear(&whole);
	kfs_es_clear(&parts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	cJSON *j;
	int64_t ms;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	j = cJSON_Parse(s);
	if (j) {
		list_streams(j);
		list_shards(j);
		stream_summary(j);
		put_records(j);
		shard_iterator(j);
		get_records(j);
		if (kfs_wire_time_ms(j, &ms) == 0 && ms < 0)
			die("time_ms: a negative time");
		cJSON_Delete(j);
	}
	iterator(s);
	base64(s, size);
	base64(s, strlen(s));
	put_body(s, size);
	kfs_wire_valid_utf8(s);
	kfs_wire_valid_seq(s);
	event_stream(data, size);
	free(s);
	return 0;
}
