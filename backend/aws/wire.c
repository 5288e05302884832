/* wire.c - the Kinesis JSON protocol; see wire.h. */
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "errors.h"
#include "lib/util.h"

/* ---- base64 ---------------------------------------------------------- */

int kfs_wire_b64_encode(const void *data, size_t len, char **out)
{
	size_t olen;
	char *s;

	*out = NULL;
	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return -ENOMEM;
	olen = 4 * ((len + 2) / 3);
	s = malloc(olen + 1);
	if (!s)
		return -ENOMEM;
	if (len)
		EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	s[olen] = '\0';
	*out = s;
	return 0;
}

static int b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int kfs_wire_b64_decode(const char *s, size_t slen, unsigned char **out,
			size_t *len_out)
{
	size_t pad = 0;
	unsigned char *b;
	int n;

	*out = NULL;
	*len_out = 0;
	if (slen % 4 || slen > (size_t)INT_MAX)
		return -EINVAL;
	if (slen && s[slen - 1] == '=')
		pad++;
	if (slen > 1 && s[slen - 2] == '=')
		pad++;
	for (size_t i = 0; i < slen - pad; i++)
		if (!b64_char((unsigned char)s[i]))
			return -EINVAL;
	b = malloc(slen / 4 * 3 + 1);
	if (!b)
		return -ENOMEM;
	n = slen ? EVP_DecodeBlock(b, (const unsigned char *)s, (int)slen) : 0;
	if (n < 0 || (size_t)n < pad) {
		free(b);
		return -EINVAL;
	}
	*out = b;
	*len_out = (size_t)n - pad;
	return 0;
}

/* ---- small helpers --------------------------------------------------- */

static const char *str_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Copies the string member `name` into buf; -EIO when missing (and
 * required) or too long. */
static int copy_str(const cJSON *o, const char *name, char *buf, size_t size,
		    int required)
{
	const char *s = str_of(o, name);

	if (!s) {
		buf[0] = '\0';
		return required ? -EIO : 0;
	}
	if (strlen(s) >= size)
		return -EIO;
	strcpy(buf, s);
	return 0;
}

static int int_of(const cJSON *o, const char *name, int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < INT_MIN ||
	    v->valuedouble > INT_MAX)
		return -EIO;
	*out = (int)v->valuedouble;
	return 0;
}

int kfs_wire_valid_seq(const char *s)
{
	size_t n = 0;

	for (; s && s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return 0;
	return n >= 1 && n < KFS_SEQ_MAX;
}

int kfs_wire_valid_utf8(const char *s)
{
	return kfs_utf8_valid(s, strlen(s));
}

int kfs_wire_time_ms(const cJSON *v, int64_t *ms)
{
	double d;

	if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
	} else if (cJSON_IsString(v)) {
		char *end;
		struct tm tm;
		const char *rest;

		d = strtod(v->valuestring, &end);
		if (end != v->valuestring && *end == '\0')
			goto have;
		memset(&tm, 0, sizeof(tm));
		rest = strptime(v->valuestring, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!rest)
			return -EIO;
		d = (double)timegm(&tm);
		if (*rest == '.') {
			double frac = strtod(rest, &end);
			d += frac;
			rest = end;
		}
		if (*rest && strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
			return -EIO;
	} else {
		return -EIO;
	}
have:
	if (!isfinite(d) || d < 0 || d > 1e13)
		return -EIO;
	*ms = (int64_t)(d * 1000.0 + 0.5); /* d >= 0: rounds */
	return 0;
}

/* ---- ListStreams ----------------------------------------------------- */

cJSON *kfs_wire_list_streams_req(const char *exclusive_start,
				 const char *next_token)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	if (next_token) {
		if (!cJSON_AddStringToObject(o, "NextToken", next_token))
			goto fail;
	} else if (exclusive_start) {
		if (!cJSON_AddStringToObject(o, "ExclusiveStartStreamName",
					     exclusive_start))
			goto fail;
	}
	if (!cJSON_AddNumberToObject(o, "Limit", 100))
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* 1 when a StreamSummaries entry says `name` is DELETING. */
static int summary_deleting(const cJSON *resp, const char *name)
{
	const cJSON *sums = cJSON_GetObjectItemCaseSensitive(resp, "StreamSummaries");
	const cJSON *s;

	cJSON_ArrayForEach(s, sums) {
		const char *n = str_of(s, "StreamName"), *st = str_of(s, "StreamStatus");
		if (n && st && strcmp(n, name) == 0)
			return strcmp(st, "DELETING") == 0;
	}
	return 0;
}

int kfs_wire_list_streams_parse(const cJSON *resp, struct kfs_name_list *names,
				int *more, char **next_token)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(resp, "StreamNames");
	const cJSON *hm = cJSON_GetObjectItemCaseSensitive(resp, "HasMoreStreams");
	const char *nt = str_of(resp, "NextToken");
	const cJSON *v;
	size_t n0 = names->n;

	*more = 0;
	*next_token = NULL;
	if (!cJSON_IsArray(arr))
		return -EIO;
	cJSON_ArrayForEach(v, arr) {
		int rc;
		if (!cJSON_IsString(v) || !v->valuestring[0])
			goto bad;
		if (summary_deleting(resp, v->valuestring))
			continue;
		rc = kfs_name_list_add(names, v->valuestring);
		if (rc < 0)
			goto fail;
	}
	*more = cJSON_IsTrue(hm);
	if (nt && *nt) {
		*next_token = strdup(nt);
		if (!*next_token)
			goto fail;
	}
	return 0;
bad:
	while (names->n > n0)
		free(names->v[--names->n]);
	return -EIO;
fail:
	while (names->n > n0)
		free(names->v[--names->n]);
	return -ENOMEM;
}

/* ---- ListShards ------------------------------------------------------ */

cJSON *kfs_wire_list_shards_req(const char *stream, const char *next_token)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	if (next_token) {
		if (!cJSON_AddStringToObject(o, "NextToken", next_token))
			goto fail;
	} else if (!cJSON_AddStringToObject(o, "StreamName", stream)) {
		goto fail;
	}
	if (!cJSON_AddNumberToObject(o, "MaxResults", 1000))
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static int shard_parse(const cJSON *s, struct kfs_shard_desc *d)
{
	const cJSON *hr = cJSON_GetObjectItemCaseSensitive(s, "HashKeyRange");
	const cJSON *sr = cJSON_GetObjectItemCaseSensitive(s, "SequenceNumberRange");

	memset(d, 0, sizeof(*d));
	if (copy_str(s, "ShardId", d->id, sizeof(d->id), 1) ||
	    copy_str(s, "ParentShardId", d->parent, sizeof(d->parent), 0) ||
	    copy_str(s, "AdjacentParentShardId", d->adjacent_parent,
		     sizeof(d->adjacent_parent), 0) ||
	    copy_str(hr, "StartingHashKey", d->hash_start, sizeof(d->hash_start), 1) ||
	    copy_str(hr, "EndingHashKey", d->hash_end, sizeof(d->hash_end), 1) ||
	    copy_str(sr, "StartingSequenceNumber", d->seq_start,
		     sizeof(d->seq_start), 1) ||
	    copy_str(sr, "EndingSequenceNumber", d->seq_end, sizeof(d->seq_end), 0))
		return -EIO;
	d->closed = d->seq_end[0] != '\0';
	d->newest_arrival_ms = -1;
	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		d->bytes[f] = -1;
	return 0;
}

int kfs_wire_list_shards_parse(const cJSON *resp, struct kfs_shard_list *out,
			       char **next_token)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(resp, "Shards");
	const char *nt = str_of(resp, "NextToken");
	const cJSON *s;
	size_t n0 = out->n, add = (size_t)cJSON_GetArraySize(arr);
	struct kfs_shard_desc *v;

	*next_token = NULL;
	if (!cJSON_IsArray(arr))
		return -EIO;
	v = realloc(out->v, (n0 + add + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	out->v = v;
	cJSON_ArrayForEach(s, arr) {
		if (shard_parse(s, &out->v[out->n]) < 0) {
			out->n = n0;
			return -EIO;
		}
		out->n++;
	}
	if (nt && *nt) {
		*next_token = strdup(nt);
		if (!*next_token) {
			out->n = n0;
			return -ENOMEM;
		}
	}
	return 0;
}

/* ---- streams --------------------------------------------------------- */

cJSON *kfs_wire_stream_req(const char *stream)
{
	cJSON *o = cJSON_CreateObject();

	if (o && !cJSON_AddStringToObject(o, "StreamName", stream)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

static cJSON *stream_int_req(const char *stream, const char *name, int v,
			     const char *name2, const char *v2)
{
	cJSON *o = kfs_wire_stream_req(stream);

	if (o && (!cJSON_AddNumberToObject(o, name, v) ||
		  (name2 && !cJSON_AddStringToObject(o, name2, v2)))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

cJSON *kfs_wire_create_stream_req(const char *stream, int shard_count)
{
	return stream_int_req(stream, "ShardCount", shard_count, NULL, NULL);
}

cJSON *kfs_wire_update_shard_count_req(const char *stream, int target)
{
	return stream_int_req(stream, "TargetShardCount", target, "ScalingType",
			      "UNIFORM_SCALING");
}

cJSON *kfs_wire_retention_req(const char *stream, int hours)
{
	return stream_int_req(stream, "RetentionPeriodHours", hours, NULL, NULL);
}

int kfs_wire_stream_summary_parse(const cJSON *resp, struct kfs_stream_desc *out)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(resp,
							  "StreamDescriptionSummary");
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(s, "StreamModeDetails");
	const char *status = str_of(s, "StreamStatus");
	const char *mode = str_of(md, "StreamMode");
	int64_t ms;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(s) || !status ||
	    copy_str(s, "StreamName", out->name, sizeof(out->name), 1) ||
	    copy_str(s, "StreamARN", out->arn, sizeof(out->arn), 0) ||
	    int_of(s, "RetentionPeriodHours", &out->retention_hours) ||
	    kfs_wire_time_ms(cJSON_GetObjectItemCaseSensitive(
				     s, "StreamCreationTimestamp"), &ms))
		goto bad;
	out->creation_ms = ms;
	if (int_of(s, "OpenShardCount", &out->open_shard_count))
		out->open_shard_count = 0;
	if (!strcmp(status, "CREATING"))
		out->status = KFS_STREAM_CREATING;
	else if (!strcmp(status, "ACTIVE"))
		out->status = KFS_STREAM_ACTIVE;
	else if (!strcmp(status, "UPDATING"))
		out->status = KFS_STREAM_UPDATING;
	else if (!strcmp(status, "DELETING"))
		out->status = KFS_STREAM_DELETING;
	else
		goto bad;
	snprintf(out->mode, sizeof(out->mode), "%s",
		 mode && *mode ? mode : "PROVISIONED");
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -EIO;
}

/* ---- PutRecords ------------------------------------------------------ */

/*
 * The PutRecords body is written as text into one buffer sized first,
 * each record's base64 encoded in place: no cJSON tree, no printed copy
 * of it.  A batch is up to 5 MiB of records, and up to 4 are in flight,
 * so every copy of a batch costs the daemon MiBs (docs/PERFORMANCE.md).
 * The bytes are what cJSON_PrintUnformatted made of the same request.
 */

#define B64_CHUNK (3u << 20)   /* bytes encoded per EVP_EncodeBlock call */

/* Length of s as a JSON string, quotes included (escaped as cJSON does). */
static size_t json_str_len(const char *s)
{
	size_t n = 2;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '\b' || *p == '\f' ||
		    *p == '\n' || *p == '\r' || *p == '\t')
			n += 2;
		else if (*p < 0x20)
			n += 6;
		else
			n++;
	}
	return n;
}

/* Writes s as a JSON string at p; returns the end. */
static char *json_str_put(char *p, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	*p++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char esc = *c == '"' ? '"' : *c == '\\' ? '\\' : *c == '\b' ? 'b'
			: *c == '\f' ? 'f' : *c == '\n' ? 'n' : *c == '\r' ? 'r'
			: *c == '\t' ? 't' : 0;

		if (esc) {
			*p++ = '\\';
			*p++ = esc;
		} else if (*c < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = hex[*c >> 4];
			p[5] = hex[*c & 0xf];
			p += 6;
		} else {
			*p++ = (char)*c;
		}
	}
	*p++ = '"';
	return p;
}

/* Writes the base64 of data at p (in chunks of a multiple of 3 bytes,
 * which concatenate, so that no length passes EVP_EncodeBlock's int);
 * returns the end.  EVP_EncodeBlock ends with a NUL: p has room for it. */
static char *b64_put(char *p, const unsigned char *data, size_t len)
{
	while (len) {
		size_t n = len < B64_CHUNK ? len : B64_CHUNK;
		p += EVP_EncodeBlock((unsigned char *)p, data, (int)n);
		data += n;
		len -= n;
	}
	return p;
}

/*
 * A body of BODY_MMAP_MIN bytes or more is mapped on its own, not taken
 * from malloc: unmapped, its pages go back at once.  From malloc it would
 * come from the sender thread's arena, which the daemon lets keep up to
 * 16 MiB of freed memory (fs/main.c, for reads), so every sender would
 * go on holding its biggest body between batches (docs/PERFORMANCE.md,
 * figure 7).
 */
#define BODY_MMAP_MIN (256u << 10)

static char *body_alloc(size_t size)
{
	void *p;

	if (size < BODY_MMAP_MIN)
		return malloc(size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void kfs_wire_body_free(char *body, size_t len)
{
	if (!body)
		return;
	if (len + 1 < BODY_MMAP_MIN)
		free(body);
	else
		munmap(body, len + 1);
}

#define PUT_HEAD "{\"StreamName\":"
#define PUT_RECORDS ",\"Records\":["
#define PUT_DATA "{\"Data\":\""
#define PUT_KEY "\",\"PartitionKey\":"
#define PUT_EHK ",\"ExplicitHashKey\":"
#define PUT_TAIL "]}"
#define LIT(s) (sizeof(s) - 1)

int kfs_wire_put_records_body(const char *stream, const struct kfs_put_entry *e,
			      const size_t *idx, size_t n, char **out,
			      size_t *len)
{
	size_t size = LIT(PUT_HEAD) + json_str_len(stream) + LIT(PUT_RECORDS) +
		      LIT(PUT_TAIL);
	char *buf, *p;

	*out = NULL;
	*len = 0;
	for (size_t k = 0; k < n; k++) {
		const struct kfs_put_entry *en = &e[idx[k]];
		size_t rec;

		if (en->len > SIZE_MAX / 2)
			return -ENOMEM;
		rec = LIT(PUT_DATA) + 4 * ((en->len + 2) / 3) + LIT(PUT_KEY) +
		      json_str_len(en->key) + 1 /* } */ + (k > 0) /* , */;
		if (en->explicit_hash_key)
			rec += LIT(PUT_EHK) + json_str_len(en->explicit_hash_key);
		if (rec > SIZE_MAX - 1 - size)
			return -ENOMEM;
		size += rec;
	}
	buf = body_alloc(size + 1);
	if (!buf)
		return -ENOMEM;
	p = buf;
#define PUT(s) (memcpy(p, s, LIT(s)), p += LIT(s))
	PUT(PUT_HEAD);
	p = json_str_put(p, stream);
	PUT(PUT_RECORDS);
	for (size_t k = 0; k < n; k++) {
		const struct kfs_put_entry *en = &e[idx[k]];

		if (k > 0)
			*p++ = ',';
		PUT(PUT_DATA);
		p = b64_put(p, en->data, en->len);
		PUT(PUT_KEY);
		p = json_str_put(p, en->key);
		if (en->explicit_hash_key) {
			PUT(PUT_EHK);
			p = json_str_put(p, en->explicit_hash_key);
		}
		*p++ = '}';
	}
	PUT(PUT_TAIL);
#undef PUT
	*p = '\0';
	*out = buf;
	*len = size;
	return 0;
}

static void entry_error(struct kfs_put_entry *en, int err, const char *code,
			const char *msg)
{
	char m[120];

	en->err = err;
	en->seq[0] = '\0';
	en->shard_id[0] = '\0';
	kfs_aws_error_sanitize(msg, m, sizeof(m));
	snprintf(en->reason, sizeof(en->reason), "%s%s%s", code, m[0] ? ": " : "",
		 m);
}

int kfs_wire_put_records_parse(const cJSON *resp, struct kfs_put_entry *e,
			       const size_t *idx, size_t n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(resp, "Records");
	const cJSON *r;
	size_t k = 0;

	if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n)
		return -EIO;
	cJSON_ArrayForEach(r, arr) {
		struct kfs_put_entry *en = &e[idx[k++]];
		const char *code = str_of(r, "ErrorCode");

		if (code && *code) {
			enum kfs_aws_retry retry;
			int err;

			/* No HTTP status for an entry: unknown codes count
			 * as the service's failure, worth another try. */
			kfs_aws_error_classify("PutRecords", code, 0, &err, &retry);
			entry_error(en, err, code, str_of(r, "ErrorMessage"));
			continue;
		}
		if (copy_str(r, "SequenceNumber", en->seq, sizeof(en->seq), 1) ||
		    copy_str(r, "ShardId", en->shard_id, sizeof(en->shard_id), 1)) {
			entry_error(en, -EIO, "malformed answer",
				    "an entry has neither a sequence number nor "
				    "an error");
			continue;
		}
		en->err = 0;
		en->reason[0] = '\0';
	}
	return 0;
}

/* ---- GetShardIterator ------------------------------------------------ */

int kfs_wire_shard_iterator_req(const char *stream, const char *shard_id,
				const struct kfs_iter_spec *spec, cJSON **out)
{
	cJSON *o;

	*out = NULL;
	if ((unsigned)spec->type > KFS_ITER_AT_TIMESTAMP)
		return -EINVAL;
	if ((spec->type == KFS_ITER_AT_SEQUENCE_NUMBER ||
	     spec->type == KFS_ITER_AFTER_SEQUENCE_NUMBER) &&
	    !kfs_wire_valid_seq(spec->seq))
		return -EINVAL;
	if (spec->type == KFS_ITER_AT_TIMESTAMP && spec->timestamp_ms < 0)
		return -EINVAL;
	o = kfs_wire_stream_req(stream);
	if (!o)
		return -ENOMEM;
	if (!cJSON_AddStringToObject(o, "ShardId", shard_id) ||
	    !cJSON_AddStringToObject(o, "ShardIteratorType",
				     kfs_iter_type_name(spec->type)))
		goto fail;
	if ((spec->type == KFS_ITER_AT_SEQUENCE_NUMBER ||
	     spec->type == KFS_ITER_AFTER_SEQUENCE_NUMBER) &&
	    !cJSON_AddStringToObject(o, "StartingSequenceNumber", spec->seq))
		goto fail;
	if (spec->type == KFS_ITER_AT_TIMESTAMP &&
	    !cJSON_AddNumberToObject(o, "Timestamp",
				     (double)spec->timestamp_ms / 1000.0))
		goto fail;
	*out = o;
	return 0;
fail:
	cJSON_Delete(o);
	return -ENOMEM;
}

int kfs_wire_shard_iterator_parse(const cJSON *resp, char **iter)
{
	const char *s = str_of(resp, "ShardIterator");

	*iter = NULL;
	if (!s || !*s)
		return -EIO;
	*iter = strdup(s);
	return *iter ? 0 : -ENOMEM;
}

/* ---- GetRecords ------------------------------------------------------ */

cJSON *kfs_wire_get_records_req(const char *iterator, int limit)
{
	cJSON *o = cJSON_CreateObject();

	if (o && (!cJSON_AddStringToObject(o, "ShardIterator", iterator) ||
		  !cJSON_AddNumberToObject(o, "Limit", limit))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

static int record_parse(const cJSON *r, struct kfs_record *rec)
{
	const char *data = str_of(r, "Data"), *key = str_of(r, "PartitionKey");
	int rc;

	memset(rec, 0, sizeof(*rec));
	if (!data || !key ||
	    copy_str(r, "SequenceNumber", rec->seq, sizeof(rec->seq), 1))
		return -EIO;
	if (kfs_wire_time_ms(cJSON_GetObjectItemCaseSensitive(
				     r, "ApproximateArrivalTimestamp"),
			     &rec->arrival_ms) < 0)
		rec->arrival_ms = 0;
	rc = kfs_wire_b64_decode(data, strlen(data), &rec->data, &rec->len);
	if (rc < 0)
		return rc == -EINVAL ? -EIO : rc;
	rec->key = strdup(key);
	if (!rec->key) {
		free(rec->data);
		rec->data = NULL;
		return -ENOMEM;
	}
	return 0;
}

int kfs_wire_get_records_parse(const cJSON *resp, struct kfs_get_result *out,
			       char **next)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(resp, "Records");
	const cJSON *mb = cJSON_GetObjectItemCaseSensitive(resp, "MillisBehindLatest");
	const cJSON *kids = cJSON_GetObjectItemCaseSensitive(resp, "ChildShards");
	const char *nx = str_of(resp, "NextShardIterator");
	const cJSON *r;
	size_t n0 = out->n, add = (size_t)cJSON_GetArraySize(arr);
	size_t c0 = out->children.n;
	struct kfs_record *v;
	int rc = 0;

	*next = NULL;
	if (!cJSON_IsArray(arr))
		return -EIO;
	v = realloc(out->records, (n0 + add + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	out->records = v;
	cJSON_ArrayForEach(r, arr) {
		rc = record_parse(r, &out->records[out->n]);
		if (rc < 0)
			goto fail;
		out->n++;
	}
	/* 2^63 and above (or inf) do not convert: INT64_MAX. */
	out->millis_behind = !cJSON_IsNumber(mb) || !(mb->valuedouble > 0) ? 0
		: mb->valuedouble < 9223372036854775808.0 ? (int64_t)mb->valuedouble
		: INT64_MAX;
	cJSON_ArrayForEach(r, kids) {
		const char *id = str_of(r, "ShardId");
		if (!id || strlen(id) > KFS_SHARD_ID_LEN) {
			rc = -EIO;
			goto fail;
		}
		rc = kfs_name_list_add(&out->children, id);
		if (rc < 0)
			goto fail;
	}
	if (nx && *nx) {
		*next = strdup(nx);
		if (!*next) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	return 0;
fail:
	while (out->n > n0) {
		out->n--;
		free(out->records[out->n].key);
		free(out->records[out->n].data);
	}
	while (out->children.n > c0)
		free(out->children.v[--out->children.n]);
	return rc;
}

/* ---- the composite iterator ------------------------------------------ */

#define ITER_MAGIC "kfs1|"
#define ITER_MAGIC2 "kfs2|"

int kfs_wire_iter_format(const struct kfs_wire_iter *it, const char *service,
			 char **out)
{
	*out = NULL;
	if (strchr(it->stream, '|') || strchr(it->shard, '|') ||
	    strchr(it->seq, '|') || strchr(it->last_seq, '|'))
		return -EINVAL;
	if (it->feed ? asprintf(out, ITER_MAGIC2 "%s|%s|%d|%s|%" PRId64 "|%s|%"
				PRIu64 "|%s", it->stream, it->shard,
				(int)it->type, it->seq, it->time_ms,
				it->last_seq, it->feed, service) < 0
		     : asprintf(out, ITER_MAGIC "%s|%s|%d|%s|%" PRId64 "|%s|%s",
				it->stream, it->shard, (int)it->type, it->seq,
				it->time_ms, it->last_seq, service) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Copies the field at *p up to the next '|' into buf; advances *p past
 * the '|'. */
static int field(const char **p, char *buf, size_t size)
{
	const char *bar = strchr(*p, '|');
	size_t n;

	if (!bar)
		return -EINVAL;
	n = (size_t)(bar - *p);
	if (n >= size)
		return -EINVAL;
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p = bar + 1;
	return 0;
}

int kfs_wire_iter_parse(const char *s, struct kfs_wire_iter *it)
{
	const char *p = s;
	char type[8], t[24], feed[24], *end;
	long ty;
	int v2;

	memset(it, 0, sizeof(*it));
	if (!s)
		return -EINVAL;
	v2 = strncmp(s, ITER_MAGIC2, strlen(ITER_MAGIC2)) == 0;
	if (!v2 && strncmp(s, ITER_MAGIC, strlen(ITER_MAGIC)) != 0)
		return -EINVAL;
	p += strlen(ITER_MAGIC);
	if (field(&p, it->stream, sizeof(it->stream)) ||
	    field(&p, it->shard, sizeof(it->shard)) ||
	    field(&p, type, sizeof(type)) ||
	    field(&p, it->seq, sizeof(it->seq)) ||
	    field(&p, t, sizeof(t)) ||
	    field(&p, it->last_seq, sizeof(it->last_seq)) ||
	    (v2 && field(&p, feed, sizeof(feed))))
		goto bad;
	if (v2) {
		errno = 0;
		it->feed = strtoull(feed, &end, 10);
		if (errno || *end || end == feed || !it->feed)
			goto bad;
	}
	errno = 0;
	ty = strtol(type, &end, 10);
	if (errno || *end || end == type || ty < KFS_ITER_TRIM_HORIZON ||
	    ty > KFS_ITER_AT_TIMESTAMP)
		goto bad;
	it->type = (enum kfs_iter_type)ty;
	it->time_ms = strtoll(t, &end, 10);
	if (*end || end == t || !kfs_valid_stream_name(it->stream) ||
	    !it->shard[0] || !*p ||
	    (it->last_seq[0] && !kfs_wire_valid_seq(it->last_seq)) ||
	    (it->seq[0] && !kfs_wire_valid_seq(it->seq)))
		goto bad;
	it->service = p;
	return 0;
bad:
	memset(it, 0, sizeof(*it));
	return -EINVAL;
}

void kfs_wire_iter_resume_spec(const struct kfs_wire_iter *it,
			       struct kfs_iter_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	if (it->last_seq[0]) {
		spec->type = KFS_ITER_AFTER_SEQUENCE_NUMBER;
		spec->seq = it->last_seq;
		return;
	}
	spec->type = it->type;
	spec->seq = it->seq[0] ? it->seq : NULL;
	spec->timestamp_ms = it->time_ms;
	if (it->type == KFS_ITER_LATEST)
		spec->type = KFS_ITER_AT_TIMESTAMP;
}
