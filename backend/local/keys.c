/*
 * keys.c - key files of the local engine (SPEC 3, backend/names.h): the
 * hooks of the names table (tip, measure, track, persist), the streams'
 * names journals, and key iterators, which read a key's runs only.
 *
 * Positions (struct kfs_wpos) of the local engine: counter, a record
 * counter of the shard (the key's records at counters >= it are after
 * the position); cum, records, last_ms, the key's totals in the shard
 * below it (keyidx.h); ms, when it was taken.  Sizes are differences of
 * totals, so `stat` reads no record; keyidx.c's postings answer the
 * one question a subtraction cannot: the totals at the trim horizon.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kpl/agg.h"
#include "lib/log.h"
#include "lib/util.h"

/* Postings fetched per call of kfs_kidx_runs(). */
#define RUNS_BATCH 64

/* ---- hooks ------------------------------------------------------------ */

static int hook_track(void *ctx, const char *stream, const char *key, int on)
{
	struct kfs_local *e = ctx;
	struct lstream *st = kfs_local_stream_get(e, stream);
	size_t klen = strlen(key), i;
	int rc = 0;

	if (!st)
		return on ? -ENOENT : 0;
	pthread_rwlock_rdlock(&st->lock);
	for (i = 0; i < st->n_shards && rc == 0; i++)
		rc = kfs_kidx_track(st->shards[i]->kidx, key, klen, on,
				    e->names_loading);
	if (rc < 0 && on)
		while (i-- > 0)
			kfs_kidx_track(st->shards[i]->kidx, key, klen, 0,
				       e->names_loading);
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}

static void wpos_of(struct kfs_wpos *p, const char *shard,
		    const struct kfs_ktotals *t, int64_t now)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->shard, sizeof(p->shard), "%s", shard);
	p->counter = t->counter;
	p->ms = now;
	memcpy(p->cum, t->cum, sizeof(p->cum));
	p->records = t->records;
	p->last_ms = t->last_ms;
}

static int hook_tip(void *ctx, const char *stream, const char *key,
		    struct kfs_wposv *out)
{
	struct kfs_local *e = ctx;
	struct lstream *st = kfs_local_stream_get(e, stream);
	size_t klen = strlen(key);
	int64_t now = kfs_local_now(e);
	int rc = 0;

	out->n = 0;
	out->v = NULL;
	if (!st)
		return -ENOENT;
	pthread_rwlock_rdlock(&st->lock);
	out->v = calloc(st->n_shards, sizeof(*out->v));
	if (!out->v)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < st->n_shards; i++) {
		struct kfs_ktotals t;
		kfs_kidx_tip(st->shards[i]->kidx, key, klen, &t);
		wpos_of(&out->v[out->n++], st->shards[i]->id, &t, now);
	}
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}

static void totals_of(struct kfs_ktotals *t, const struct kfs_wpos *p)
{
	t->counter = p->counter;
	memcpy(t->cum, p->cum, sizeof(t->cum));
	t->records = p->records;
	t->last_ms = p->last_ms;
}

/* Adds the window of key in sh (from *a, to *b) to out; st->lock held. */
static int measure_shard(struct kfs_local *e, struct lstream *st,
			 struct lshard *sh, const char *key, size_t klen,
			 int64_t from_ms, struct kfs_ktotals *a,
			 const struct kfs_ktotals *b, struct kfs_name_desc *out)
{
	int64_t cutoff = kfs_local_cutoff(e, st);
	int rc;

	/* Records past retention are not in the window any more: its
	 * start moves to the trim horizon.  Only a window that began
	 * before the cutoff can have lost any. */
	if (from_ms < cutoff) {
		uint64_t h;
		struct kfs_ktotals t;

		if ((rc = kfs_seglog_trim_horizon(sh->log, cutoff, &h)) < 0)
			return rc;
		if (h >= b->counter)
			return 0;
		if (h > a->counter) {
			if ((rc = kfs_kidx_totals_at(sh->kidx, key, klen, h, &t)) < 0)
				return rc;
			if (t.records > a->records)
				*a = t;
		}
	}
	if (b->records <= a->records)
		return 0;
	out->records += b->records - a->records;
	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		if (b->cum[f] > a->cum[f])
			out->bytes[f] += (int64_t)(b->cum[f] - a->cum[f]);
	if (b->last_ms > out->mtime_ms)
		out->mtime_ms = b->last_ms;
	return 0;
}

static int hook_measure(void *ctx, const char *stream, const char *key,
			const struct kfs_wposv *start, const struct kfs_wposv *end,
			struct kfs_name_desc *out)
{
	struct kfs_local *e = ctx;
	struct lstream *st = kfs_local_stream_get(e, stream);
	size_t klen = strlen(key);
	int rc = 0;

	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		out->bytes[f] = 0;
	out->records = 0;
	out->mtime_ms = -1;
	if (!st)
		return -ENOENT;
	pthread_rwlock_rdlock(&st->lock);
	for (size_t i = 0; i < st->n_shards && rc == 0; i++) {
		struct lshard *sh = st->shards[i];
		const struct kfs_wpos *s = start ? kfs_wposv_find(start, sh->id) : NULL;
		const struct kfs_wpos *en = end ? kfs_wposv_find(end, sh->id) : NULL;
		struct kfs_ktotals a = {.last_ms = -1}, b;

		/* A shard not in a closed window's end was made after it. */
		if (end && !en)
			continue;
		/* A shard not in the start was made after it: from its
		 * beginning, where the key's totals are 0. */
		if (s)
			totals_of(&a, s);
		if (en)
			totals_of(&b, en);
		else
			kfs_kidx_tip(sh->kidx, key, klen, &b);
		rc = measure_shard(e, st, sh, key, klen, s ? s->ms : sh->created_ms,
				   &a, &b, out);
	}
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}

static int hook_persist(void *ctx, const char *stream,
			const struct kfs_name_rec *v, size_t n)
{
	struct kfs_local *e = ctx;
	struct lstream *st = kfs_local_stream_get(e, stream);
	int rc;

	if (!st)
		return -ENOENT;
	rc = kfs_njournal_append(st->journal, v, n);
	kfs_local_stream_unref(st);
	return rc;
}

struct kfs_names *kfs_local_names(void *impl)
{
	struct kfs_local *e = impl;

	return e->names;
}

/* ---- journals --------------------------------------------------------- */

int kfs_local_journal_new(struct kfs_local *e, struct lstream *st)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/streams/%s", e->data_dir,
			     st->name) >= sizeof(path))
		return -ENAMETOOLONG;
	return kfs_njournal_open(path, &st->journal);
}

struct replay {
	struct kfs_local *e;
	const char *stream;
};

static int replay_one(void *ctx, const struct kfs_name_rec *r)
{
	struct replay *rp = ctx;
	int rc = kfs_names_load(rp->e->names, rp->stream, r);

	/* A state the table refuses (a key no longer valid...) is
	 * logged and skipped: the other names are served. */
	if (rc < 0 && rc != -ENOMEM) {
		kfs_warn("stream %s: name %s in the names journal: %s; ignored",
			 rp->stream, r->name, strerror(-rc));
		rc = 0;
	}
	return rc;
}

void kfs_local_journal_compact(struct kfs_local *e, struct lstream *st)
{
	struct kfs_name_rec *v = NULL;
	uint64_t changes;
	size_t n = 0;

	if (!kfs_njournal_big(st->journal))
		return;
	changes = kfs_njournal_changes(st->journal);
	if (kfs_names_snapshot(e->names, st->name, &v, &n) < 0)
		return;
	/* -EAGAIN: a change came meanwhile; the next pass tries again. */
	kfs_njournal_compact(st->journal, changes, v, n);
	kfs_names_snapshot_free(v, n);
}

int kfs_local_names_open(struct kfs_local *e)
{
	struct kfs_names_hooks h = {
		.ctx = e,
		.clock = e->clock,
		.tip = hook_tip,
		.measure = hook_measure,
		.track = hook_track,
		.persist = hook_persist,
	};
	int rc = kfs_names_new(&h, &e->names);

	if (rc < 0)
		return rc;
	/* No thread runs yet: the table of streams is read unlocked. */
	e->names_loading = 1;
	for (size_t i = 0; i < e->n_streams && rc == 0; i++) {
		struct replay rp = {.e = e, .stream = e->streams[i]->name};
		rc = kfs_njournal_replay(e->streams[i]->journal, replay_one, &rp);
		if (rc == -ENOMEM)
			break;
		rc = 0;  /* logged: the stream is served without its names */
	}
	e->names_loading = 0;
	for (size_t i = 0; i < e->n_streams && rc == 0; i++) {
		struct lstream *st = e->streams[i];
		for (size_t j = 0; j < st->n_shards; j++)
			kfs_kidx_recover(st->shards[j]->kidx); /* logged */
		kfs_local_journal_compact(e, st);
	}
	return rc;
}

int kfs_local_keys_sync(struct kfs_local *e, struct lstream *st, int all)
{
	int rc = 0, r;

	(void)e;
	for (size_t i = 0; i < st->n_shards; i++) {
		struct kfs_kidx *k = st->shards[i]->kidx;
		if (all || kfs_kidx_dirty(k)) {
			r = kfs_kidx_sync(k);
			if (rc == 0)
				rc = r;
		}
	}
	r = kfs_njournal_sync(st->journal);
	return rc < 0 ? rc : r;
}

/* ---- key iterators ---------------------------------------------------- */

int kfs_local_key_iterator(void *impl, const char *stream, const char *shard_id,
			   const char *key, const struct kfs_wpos *start,
			   const struct kfs_wpos *end, char **iter_out)
{
	struct kfs_local *e = impl;
	struct kfs_local_iter it = {0};
	struct lstream *st;
	struct lshard *sh;
	int rc = 0;

	kfs_local_bg_ensure(e);
	*iter_out = NULL;
	it.key_len = key ? strlen(key) : 0;
	if (it.key_len < 1 || it.key_len > KFS_KEY_MAX)
		return -EINVAL;
	memcpy(it.key, key, it.key_len + 1);
	st = kfs_local_stream_get(e, stream);
	if (!st)
		return kfs_valid_stream_name(stream) ? -ENOENT : -EINVAL;
	pthread_rwlock_rdlock(&st->lock);
	sh = kfs_local_shard_find(st, shard_id);
	if (!sh) {
		rc = -ENOENT;
		goto out;
	}
	if (start)
		it.counter = start->counter;
	else
		rc = kfs_seglog_trim_horizon(sh->log, kfs_local_cutoff(e, st), &it.counter);
	it.end = end ? end->counter : UINT64_MAX;
	/* An empty window in this shard: nothing to read there. */
	if (rc == 0 && it.counter < it.end)
		rc = kfs_local_key_iter_format(st, sh, &it, iter_out);
out:
	pthread_rwlock_unlock(&st->lock);
	kfs_local_stream_unref(st);
	return rc;
}

/* seglog_read's callback under KFS_GET_LAST_SEQ (see iter.c). */
struct last {
	uint64_t counter;
	int64_t arrival_ms;
};

static void seq_last(void *ctx, uint64_t counter, int64_t arrival_ms, char *seq)
{
	struct last *l = ctx;

	l->counter = counter;
	l->arrival_ms = arrival_ms;
	seq[0] = '\0';
}

/* What one GetRecords through a key iterator reads, and how far. */
struct kread {
	struct lshard *sh;
	unsigned flags;
	size_t limit;           /* records */
	size_t bytes;           /* key and data bytes read */
	struct last last;
	int full;               /* limit or bytes reached */
};

/* Reads [from, to) of the shard (all the key's records, or any records
 * when filter) into out; returns the counter reading would go on from. */
static int read_span(struct kread *kr, uint64_t from, uint64_t to,
		     const char *filter, size_t klen, struct kfs_get_result *out,
		     uint64_t *next)
{
	size_t before = out->n, want = kr->limit - out->n, k;
	int rc;

	if (to - from < want)
		want = (size_t)(to - from);
	int last = (kr->flags & KFS_GET_LAST_SEQ) && !filter;

	rc = kfs_seglog_read(kr->sh->log, from, want, KFS_GET_BYTES_MAX - kr->bytes,
			     last ? seq_last : kfs_local_seq_of,
			     last ? (void *)&kr->last : (void *)kr->sh, out, next);
	if (rc < 0)
		return rc;
	if (*next > to || (*next <= from && out->n == before && !filter))
		*next = to;   /* (counters lost to a crash: none there) */
	k = before;
	for (size_t i = before; i < out->n; i++) {
		struct kfs_record *r = &out->records[i];
		/* An aggregated record with another partition key may hold
		 * user records of this one: kept, the reader picks them
		 * (backend/kpl/expand.h). */
		if (filter && (strlen(r->key) != klen || memcmp(r->key, filter, klen)) &&
		    !kfs_agg_looks(r->data, r->len))
			continue;
		kr->bytes += r->len + strlen(r->key);
		out->records[k++] = *r;
	}
	out->n = k;
	if (out->n >= kr->limit || kr->bytes >= KFS_GET_BYTES_MAX ||
	    (*next < to && !filter && out->n > before))
		kr->full = 1;
	return 0;
}

/* Reads the key's records from *c to `lim` through its postings (or, for
 * a key no longer tracked, by reading every record and keeping its). */
static int read_key(struct kread *kr, struct kfs_local_iter *it, uint64_t *c,
		    uint64_t lim, struct kfs_get_result *out)
{
	struct kfs_krun runs[RUNS_BATCH];
	uint64_t tip, hint, next;
	int n, rc = 0;

	while (!kr->full && *c < lim) {
		hint = it->hint;
		n = kfs_kidx_runs(kr->sh->kidx, it->key, it->key_len, *c, &hint,
				  runs, RUNS_BATCH, &tip);
		if (n == -ENOENT || n == -ESTALE) {
			/* Its last name went while this reader was open, or
			 * its postings have a hole from here (a failed
			 * write): every record is read, the key's kept. */
			uint64_t was = *c;

			rc = read_span(kr, *c, lim, it->key, it->key_len, out, &next);
			if (rc < 0)
				return rc;
			*c = next;
			if (next >= lim || next <= was || out->n >= kr->limit)
				return 0;
			continue;
		}
		if (n < 0)
			return n;
		it->hint = hint - (uint64_t)n;
		for (int i = 0; i < n && !kr->full; i++, it->hint++) {
			uint64_t from = runs[i].first > *c ? runs[i].first : *c;
			uint64_t to = runs[i].first + runs[i].count;
			if (from >= lim) {
				*c = lim;
				return 0;
			}
			if (to > lim)
				to = lim;
			if ((rc = read_span(kr, from, to, NULL, 0, out, &next)) < 0)
				return rc;
			*c = next;
			if (next < to)
				break;
		}
		if (kr->full || n == RUNS_BATCH)
			continue;
		/* Every run of the key below the tip is read. */
		*c = tip < lim ? (tip > *c ? tip : *c) : lim;
		break;
	}
	return rc;
}

int kfs_local_key_records(struct kfs_local *e, struct lstream *st,
			  struct lshard *sh, struct kfs_local_iter *it,
			  int limit, unsigned flags, struct kfs_get_result *out)
{
	struct kread kr = {.sh = sh, .flags = flags, .limit = (size_t)limit};
	uint64_t trim, c, lim, tip;
	int rc, done;

	rc = kfs_seglog_trim_horizon(sh->log, kfs_local_cutoff(e, st), &trim);
	if (rc < 0)
		return rc;
	c = it->counter < trim ? trim : it->counter;
	lim = it->end;
	if (sh->closed && sh->end_counter < lim)
		lim = sh->end_counter;
	if (c < lim && (rc = read_key(&kr, it, &c, lim, out)) < 0)
		return rc;
	if ((flags & KFS_GET_LAST_SEQ) && out->n > 0 && !out->records[out->n - 1].seq[0])
		kfs_local_seq_of(sh, kr.last.counter, kr.last.arrival_ms,
				 out->records[out->n - 1].seq);
	tip = sh->closed ? sh->end_counter : kfs_seglog_next(sh->log);
	/* At the window's end: nothing more, and no children (the window's
	 * other shards are the caller's).  At a closed shard's end without
	 * one: its children, as any iterator. */
	done = c >= lim && (it->end != UINT64_MAX || sh->closed);
	if (done && it->end == UINT64_MAX)
		rc = kfs_local_children(st, sh, out);
	else if (!done) {
		it->counter = c;
		rc = kfs_local_key_iter_format(st, sh, it, &out->next_iterator);
	}
	if (rc == 0)
		out->millis_behind = out->n == 0 || c >= tip ? 0 :
			kfs_local_now(e) - out->records[out->n - 1].arrival_ms;
	if (out->millis_behind < 0)
		out->millis_behind = 0;
	return rc;
}
