/* iter.c - iterators of the local engine: GetShardIterator and
 * GetRecords (key iterators: keys.c). */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "lib/util.h"

/*
 * Iterators are "<stream>/<creation ms>.<uid>/<shardId>/<counter>", the
 * uid and counter in 16 hex digits: the stream's identity (a re-created
 * stream has another) and where to read next.
 *
 * A key iterator (key_iterator, keys.c) goes on with
 * "/<end>.<hint>/<key in hex>": end, the first counter past its window
 * (ffffffffffffffff: none), and hint, the posting of the key to go on
 * from (keyidx.h), in 16 hex digits; the key's bytes in lower-case hex.
 */
int kfs_local_iter_format(const struct lstream *st, const struct lshard *sh,
		       uint64_t counter, char **out)
{
	char buf[KFS_STREAM_NAME_MAX + 96];

	snprintf(buf, sizeof(buf), "%s/%" PRId64 ".%016" PRIx64 "/%s/%016" PRIx64,
		 st->name, st->creation_ms, st->uid, sh->id, counter);
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

int kfs_local_key_iter_format(const struct lstream *st, const struct lshard *sh,
			      const struct kfs_local_iter *it, char **out)
{
	char buf[KFS_STREAM_NAME_MAX + 136 + 2 * KFS_KEY_MAX];
	int n;

	n = snprintf(buf, sizeof(buf), "%s/%" PRId64 ".%016" PRIx64 "/%s/%016" PRIx64
		     "/%016" PRIx64 ".%016" PRIx64 "/", st->name, st->creation_ms,
		     st->uid, sh->id, it->counter, it->end, it->hint);
	for (size_t i = 0; i < it->key_len; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%02x",
			      (unsigned char)it->key[i]);
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

static int hex16(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n != 16)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return -EINVAL;
		v = (v << 4) | (uint64_t)d;
	}
	*out = v;
	return 0;
}

static int hexdig(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "<end>.<hint>/<key hex>" of a key iterator, into it. */
static int key_parse(const char *s, struct kfs_local_iter *it)
{
	size_t n;

	if (strlen(s) < 34 || s[16] != '.' || s[33] != '/' ||
	    hex16(s, 16, &it->end) < 0 || hex16(s + 17, 16, &it->hint) < 0)
		return -EINVAL;
	s += 34;
	n = strlen(s);
	if (n < 2 || n % 2 || n / 2 > KFS_KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexdig(s[2 * i]), lo = hexdig(s[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		it->key[i] = (char)(hi << 4 | lo);
	}
	it->key[n / 2] = '\0';
	it->key_len = n / 2;
	it->keyed = 1;
	return 0;
}

static int iter_parse(const char *s, struct kfs_local_iter *it)
{
	const char *p1, *p2, *p3, *p4, *dot;
	size_t n;
	int64_t ms = 0;

	it->keyed = 0;
	if (!s || !(p1 = strchr(s, '/')) || !(p2 = strchr(p1 + 1, '/')) ||
	    !(p3 = strchr(p2 + 1, '/')))
		return -EINVAL;
	p4 = strchr(p3 + 1, '/');
	n = (size_t)(p1 - s);
	if (n < 1 || n > KFS_STREAM_NAME_MAX)
		return -EINVAL;
	memcpy(it->stream, s, n);
	it->stream[n] = '\0';
	if (!kfs_valid_stream_name(it->stream))
		return -EINVAL;
	dot = memchr(p1 + 1, '.', (size_t)(p2 - p1 - 1));
	if (!dot || dot == p1 + 1 || dot - p1 - 1 > 18)
		return -EINVAL;
	for (const char *q = p1 + 1; q < dot; q++) {
		if (*q < '0' || *q > '9')
			return -EINVAL;
		ms = ms * 10 + (*q - '0');
	}
	it->creation_ms = ms;
	if (hex16(dot + 1, (size_t)(p2 - dot - 1), &it->uid) < 0)
		return -EINVAL;
	n = (size_t)(p3 - p2 - 1);
	if (n != KFS_SHARD_ID_LEN)
		return -EINVAL;
	memcpy(it->shard, p2 + 1, n);
	it->shard[n] = '\0';
	if (!kfs_is_shard_id(it->shard))
		return -EINVAL;
	if (hex16(p3 + 1, p4 ? (size_t)(p4 - p3 - 1) : strlen(p3 + 1), &it->counter) < 0)
		return -EINVAL;
	return p4 ? key_parse(p4 + 1, it) : 0;
}

int kfs_local_children(const struct lstream *st, const struct lshard *sh,
		       struct kfs_get_result *out)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < st->n_shards; i++) {
		const struct lshard *x = st->shards[i];
		if (!strcmp(x->parent, sh->id) || !strcmp(x->adjacent_parent, sh->id))
			rc = kfs_name_list_add(&out->children, x->id);
	}
	return rc;
}

/* Decodes a sequence number of shard sh into its counter. */
static int seq_counter(const struct lshard *sh, const char *seq, uint64_t *out)
{
	struct kfs_seq s;

	if (!seq || kfs_ids_seq_decode(seq, &s) < 0 || s.shard_index != sh->index ||
	    s.shard_created_s != sh->created_ms / 1000)
		return -EINVAL;
	*out = s.counter;
	return 0;
}

int kfs_local_get_iterator(void *impl, const char *stream, const char *shard_id,
			      const struct kfs_iter_spec *spec, char **iter_out)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	struct lshard *sh;
	uint64_t c = 0, trim;
	int rc;

	kfs_local_bg_ensure(e);
	*iter_out = NULL;
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	pthread_rwlock_rdlock(&st->lock);
	sh = kfs_local_shard_find(st, shard_id);
	if (!sh) {
		rc = -ENOENT;
		goto out;
	}
	rc = kfs_seglog_trim_horizon(sh->log, kfs_local_cutoff(e, st), &trim);
	if (rc < 0)
		goto out;
	switch (spec->type) {
	case KFS_ITER_TRIM_HORIZON:
		c = trim;
		break;
	case KFS_ITER_LATEST:
		c = sh->closed ? sh->end_counter : kfs_seglog_next(sh->log);
		break;
	case KFS_ITER_AT_SEQUENCE_NUMBER:
	case KFS_ITER_AFTER_SEQUENCE_NUMBER:
		rc = seq_counter(sh, spec->seq, &c);
		if (rc == 0 && spec->type == KFS_ITER_AFTER_SEQUENCE_NUMBER) {
			if (c == UINT64_MAX)
				rc = -EINVAL;
			else
				c++;
		}
		break;
	case KFS_ITER_AT_TIMESTAMP:
		rc = kfs_seglog_find_time(sh->log, trim, spec->timestamp_ms, &c);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = kfs_local_iter_format(st, sh, c, iter_out);
out:
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}

/* seglog_read's callback: the sequence number of a record of a shard. */
void kfs_local_seq_of(void *ctx, uint64_t counter, int64_t arrival_ms, char *seq)
{
	if (kfs_local_encode_seq(ctx, counter, arrival_ms, seq) < 0)
		seq[0] = '\0';
}

/* What seq_last() learns of the records it is called for. */
struct last_rec {
	uint64_t counter;       /* of the last record read */
	int64_t arrival_ms;     /* its arrival */
};

/* seglog_read's callback under KFS_GET_LAST_SEQ: no sequence number yet,
 * only what the last record's will be made of (encoding one costs more
 * than the rest of reading a record). */
static void seq_last(void *ctx, uint64_t counter, int64_t arrival_ms, char *seq)
{
	struct last_rec *l = ctx;

	l->counter = counter;
	l->arrival_ms = arrival_ms;
	seq[0] = '\0';
}

int kfs_local_get_records(void *impl, const char *iterator, int limit,
			     unsigned flags, struct kfs_get_result *out)
{
	struct kfs_local *e = impl;
	struct lstream *st;
	struct lshard *sh;
	struct kfs_local_iter it;
	uint64_t c, trim, next, tip;
	size_t max;
	int rc;

	kfs_local_bg_ensure(e);
	memset(out, 0, sizeof(*out));
	if (iter_parse(iterator, &it) < 0 || limit < 1)
		return -EINVAL;
	if (limit > KFS_GET_LIMIT_MAX)
		limit = KFS_GET_LIMIT_MAX;
	st = kfs_local_stream_get(e, it.stream);
	if (!st)
		return -ENOENT;
	if (st->creation_ms != it.creation_ms || st->uid != it.uid) {
		kfs_local_stream_unref(st);
		return -ENOENT; /* deleted and made again */
	}
	pthread_rwlock_rdlock(&st->lock);
	sh = kfs_local_shard_find(st, it.shard);
	if (!sh) {
		rc = -ENOENT;
		goto out;
	}
	if (it.keyed) {
		rc = kfs_local_key_records(e, st, sh, &it, limit, flags, out);
		goto out;
	}
	rc = kfs_seglog_trim_horizon(sh->log, kfs_local_cutoff(e, st), &trim);
	if (rc < 0)
		goto out;
	c = it.counter < trim ? trim : it.counter;
	tip = sh->closed ? sh->end_counter : kfs_seglog_next(sh->log);
	if (c > tip && sh->closed)
		c = tip;
	max = (size_t)limit;
	if (sh->closed && tip - c < max)
		max = (size_t)(tip - c);
	next = c;
	if (max > 0 && (flags & KFS_GET_LAST_SEQ)) {
		struct last_rec last;

		rc = kfs_seglog_read(sh->log, c, max, KFS_GET_BYTES_MAX, seq_last,
				     &last, out, &next);
		if (rc < 0)
			goto out;
		if (out->n > 0)
			kfs_local_seq_of(sh, last.counter, last.arrival_ms,
			       out->records[out->n - 1].seq);
	} else if (max > 0) {
		rc = kfs_seglog_read(sh->log, c, max, KFS_GET_BYTES_MAX, kfs_local_seq_of, sh,
				     out, &next);
		if (rc < 0)
			goto out;
	}
	if (!sh->closed)
		tip = kfs_seglog_next(sh->log);
	if (sh->closed && next >= sh->end_counter) {
		/* Read to its end: no more iterator, the children instead. */
		rc = kfs_local_children(st, sh, out);
	} else {
		rc = kfs_local_iter_format(st, sh, next, &out->next_iterator);
	}
	if (rc == 0)
		out->millis_behind = out->n == 0 || next >= tip ? 0 :
			kfs_local_now(e) - out->records[out->n - 1].arrival_ms;
	if (out->millis_behind < 0)
		out->millis_behind = 0;
out:
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	if (rc < 0)
		kfs_get_result_clear(out);
	return rc;
}


int kfs_local_behind(void *impl, const char *stream, const char *shard_id,
		     const char *seq, int64_t from_ms, enum kfs_framing framing,
		     uint64_t *records, uint64_t *bytes, int64_t *newest_ms)
{
	struct kfs_local *e = impl;
	struct kfs_seglog_stat ss;
	struct lstream *st;
	struct lshard *sh;
	struct kfs_seq q;
	uint64_t start, b0, b1;
	int rc;

	*records = *bytes = 0;
	*newest_ms = -1;
	if ((unsigned)framing >= KFS_FRAMING_COUNT)
		return -EINVAL;
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return -ENOENT;
	pthread_rwlock_rdlock(&st->lock);
	sh = kfs_local_shard_find(st, shard_id);
	if (!sh) {
		rc = -ENOENT;
		goto out;
	}
	rc = kfs_seglog_stat(sh->log, kfs_local_cutoff(e, st), &ss);
	if (rc < 0)
		goto out;
	start = ss.first;
	if (seq[0]) {
		if (kfs_ids_seq_decode(seq, &q) == 0 && q.counter + 1 > start)
			start = q.counter + 1;
	} else if (from_ms > 0) {
		rc = kfs_seglog_find_time(sh->log, ss.first, from_ms, &start);
		if (rc < 0)
			goto out;
	}
	if (start > ss.next)
		start = ss.next;
	if ((rc = kfs_seglog_bytes_before(sh->log, start, framing, &b0)) < 0 ||
	    (rc = kfs_seglog_bytes_before(sh->log, ss.next, framing, &b1)) < 0)
		goto out;
	*records = ss.next - start;
	*bytes = b1 > b0 ? b1 - b0 : 0;
	*newest_ms = ss.newest_arrival_ms;
	rc = 0;
out:
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}
