/* reader.c - see reader.h. */
#include "reader.h"
#include "reader_impl.h"
#include "readahead.h"
#include "render.h"

#include "backend/kpl/agg.h"
#include "backend/kpl/expand.h"
#include "backend/names.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

int kfs_reader_follows(const struct kfs_reader *r)
{
	return r->view && !r->batch;
}

/* ---- the buffer -------------------------------------------------------- */

static void drop_buffer(struct kfs_reader *r)
{
	r->out.len = r->out.off = 0;
	kfs_get_result_clear(&r->pend);
	r->pend_i = 0;
}

/* 1 when rec is one of the file's records (of the key, for key readers). */
static int kept(const struct kfs_reader *r, const struct kfs_record *rec)
{
	return !r->key_filter || strcmp(rec->key, r->name) == 0;
}

/* Appends the records of res as JSON lines. */
static int render_jsonl(struct kfs_reader *r, size_t lane,
			const struct kfs_get_result *res)
{
	const char *shard = r->lanes[lane].shard;
	int err = 0;

	for (size_t i = 0; !err && i < res->n; i++) {
		if (kept(r, &res->records[i]))
			err = kfs_render_json(&r->out, shard, &res->records[i]);
		if (!err && r->named)
			err = kfs_named_mark(r, lane, &res->records[i],
					     r->bufpos + (r->out.len - r->out.off));
	}
	return err;
}

/* Records of res kept by the file. */
static uint64_t kept_records(const struct kfs_reader *r,
			     const struct kfs_get_result *res)
{
	uint64_t n = 0;

	if (!r->key_filter)
		return res->n;
	for (size_t i = 0; i < res->n; i++)
		n += kept(r, &res->records[i]);
	return n;
}

/* Bytes the records of res kept by the file take in text; with `any`,
 * only whether there are any (not 0). */
static uint64_t text_bytes(const struct kfs_reader *r,
			   const struct kfs_get_result *res, int any)
{
	uint64_t n = 0;

	for (size_t i = 0; i < res->n && !(any && n); i++)
		if (kept(r, &res->records[i]))
			n += kfs_framed_len(r->framing, res->records[i].data,
					    res->records[i].len);
	return n;
}

static int pending(const struct kfs_reader *r)
{
	return r->pend_i < r->pend.n;
}

static void pend_next(struct kfs_reader *r)
{
	if (++r->pend_i == r->pend.n) {
		kfs_get_result_clear(&r->pend);
		r->pend_i = 0;
	}
}

/* Replaces the KPL aggregated records of res by their user records
 * (backend/kpl/expand.h); on error res is cleared.  A record that starts
 * with the magic and fails a check is read as plain data, logged once a
 * reader.  With `count`, the user records beyond the records are added
 * to those read in the metrics (the records were counted). */
static int expand(struct kfs_reader *r, const char *shard,
		  struct kfs_get_result *res, int count)
{
	size_t bad = 0;
	const char *why = "";
	size_t before = res->n;
	int rc = kfs_agg_expand(res, r->key_filter ? r->name : NULL, &bad, &why);

	if (rc < 0) {
		kfs_get_result_clear(res);
		return rc;
	}
	if (rc > 0 && count && r->metrics)
		kfs_metrics_add(r->metrics, r->stream, KFS_M_RECORDS_READ,
				res->n - before);
	if (bad && !r->bad_agg_logged) {
		r->bad_agg_logged = 1;
		kfs_info("%s/%s: %zu record%s with the KPL magic but not "
			 "aggregated (%s): read as plain data", r->stream,
			 shard, bad, bad == 1 ? "" : "s", why);
	}
	return 0;
}

/*
 * Renders pending records as text: whole ones straight into dst, up to
 * `room` bytes, and returns how many bytes that was.  When none is put
 * there (the next one does not fit, or dst is NULL), the next one goes
 * to the buffer instead, so that every call makes progress: 0 with the
 * buffer filled, or -errno.
 */
static ssize_t pend_copy(struct kfs_reader *r, char *dst, size_t room)
{
	size_t n = 0;

	while (pending(r)) {
		const struct kfs_record *rec = &r->pend.records[r->pend_i];
		size_t fl;

		/* Text of a reader that takes every record is expanded here,
		 * as it is rendered: a look at data about to be copied, not a
		 * pass of its own over a page (fetch_lane).  The records
		 * before are plain, so pend_i stays theirs. */
		if (!r->pend_expanded && kfs_agg_looks(rec->data, rec->len)) {
			int err = expand(r, r->name[0] ? r->name : "(the stream)",
					 &r->pend, 1);

			if (err)
				return err;
			r->pend_expanded = 1;
			continue;
		}
		if (!kept(r, rec)) {
			if (r->named) {
				int err = kfs_named_mark(r, r->pend_lane, rec,
							 r->bufpos + n);
				if (err)
					return err;
			}
			pend_next(r);
			continue;
		}
		fl = (size_t)kfs_framed_len(r->framing, rec->data, rec->len);
		if (!dst || fl > room - n) {
			int err = 0;

			if (n > 0)
				break;
			err = kfs_rbuf_put(&r->out, rec->data, rec->len);
			if (!err && fl > rec->len)
				err = kfs_rbuf_put(&r->out, "\n", 1);
			if (!err && r->named)
				err = kfs_named_mark(r, r->pend_lane, rec,
						     r->bufpos + (r->out.len -
								  r->out.off));
			if (err)
				return err;
			pend_next(r);
			break;
		}
		memcpy(dst + n, rec->data, rec->len);
		if (fl > rec->len)
			dst[n + rec->len] = '\n';
		n += fl;
		if (r->named) {
			int err = kfs_named_mark(r, r->pend_lane, rec,
						 r->bufpos + n);
			if (err)
				return err;
		}
		pend_next(r);
	}
	return (ssize_t)n;
}

/* ---- lanes ------------------------------------------------------------- */

static struct lane *lane_find(struct kfs_reader *r, const char *shard)
{
	for (size_t i = 0; i < r->n_lanes; i++)
		if (strcmp(r->lanes[i].shard, shard) == 0)
			return &r->lanes[i];
	return NULL;
}

static struct lane *lane_add(struct kfs_reader *r, const char *shard)
{
	struct lane *l;

	if (r->n_lanes == r->cap_lanes) {
		size_t cap = r->cap_lanes ? 2 * r->cap_lanes : 8;
		struct lane *v = realloc(r->lanes, cap * sizeof(*v));
		if (!v)
			return NULL;
		r->lanes = v;
		r->cap_lanes = cap;
	}
	l = &r->lanes[r->n_lanes++];
	memset(l, 0, sizeof(*l));
	snprintf(l->shard, sizeof(l->shard), "%s", shard);
	l->start.type = KFS_ITER_TRIM_HORIZON;
	return l;
}

static void ahead_drop(struct kfs_reader *r);

static void lanes_clear(struct kfs_reader *r)
{
	ahead_drop(r);   /* it reads from a lane's iterator */
	for (size_t i = 0; i < r->n_lanes; i++)
		free(r->lanes[i].iter);
	r->n_lanes = 0;
	r->rr = 0;
	r->listed = 0;
}

void kfs_reader_lane_start(struct lane *l, enum kfs_iter_type t,
			   const char *seq, int64_t ts)
{
	l->start.type = t;
	l->start.timestamp_ms = ts;
	l->start.seq = NULL;
	if (seq) {
		snprintf(l->seq, sizeof(l->seq), "%s", seq);
		l->start.seq = l->seq;
	}
}

static int lane_begin(struct kfs_reader *r, struct lane *l)
{
	struct kfs_iter_spec spec = l->start;
	int err;

	if (l->iter)
		return 0;
	if (spec.seq)
		spec.seq = l->seq;
	if (r->window)
		return r->be->ops->key_iterator(r->be->impl, r->stream, l->shard,
						r->name,
						kfs_wposv_find(&r->wstart, l->shard),
						r->rotated ? kfs_wposv_find(&r->wend,
									    l->shard)
							   : NULL,
						&l->iter);
	err = r->be->ops->get_iterator(r->be->impl, r->stream, l->shard, &spec,
				       &l->iter);
	if (err == -EINVAL && r->named && spec.seq && l->got.seq[0] &&
	    strcmp(spec.seq, l->got.seq) == 0) {
		/* The name's position is past the retention period: what
		 * is left of the shard, said once. */
		kfs_warn("named reader %s/%s: its position in %s (%s) is no "
			 "longer retained: reading on from the oldest record "
			 "(records in between expired unread)", r->stream,
			 r->named->name, l->shard, spec.seq);
		spec = (struct kfs_iter_spec){ .type = KFS_ITER_TRIM_HORIZON };
		l->skip_seq[0] = '\0';
		err = r->be->ops->get_iterator(r->be->impl, r->stream, l->shard,
					       &spec, &l->iter);
	}
	return err;
}

/* Marks the ancestors of `shard` done (seq views: they end before N). */
static void skip_ancestors(struct kfs_reader *r, const char *shard, int depth)
{
	struct lane *l = lane_find(r, shard);

	if (!l || depth > 64)
		return;
	if (l->parent[0]) {
		struct lane *p = lane_find(r, l->parent);
		if (p) {
			p->state = LANE_DONE;
			skip_ancestors(r, p->shard, depth + 1);
		}
	}
	if (l->adjacent[0]) {
		struct lane *p = lane_find(r, l->adjacent);
		if (p) {
			p->state = LANE_DONE;
			skip_ancestors(r, p->shard, depth + 1);
		}
	}
}

/* Looks up record N (the view's sequence number) in a shard.  Returns 0
 * with its arrival time, -EINVAL when the shard does not hold it, or
 * -errno. */
static int find_seq(struct kfs_reader *r, const char *shard, int64_t *arrival_ms)
{
	struct kfs_iter_spec spec = {
		.type = KFS_ITER_AT_SEQUENCE_NUMBER,
		.seq = r->pos.seq,
	};
	struct kfs_get_result res = { 0 };
	char *it = NULL;
	int err = r->be->ops->get_iterator(r->be->impl, r->stream, shard, &spec,
					   &it);

	if (err)
		return err == -ENOENT ? -EINVAL : err;
	err = r->be->ops->get_records(r->be->impl, it, 1, 0, &res);
	free(it);
	if (err)
		return err == -ENOENT ? -EINVAL : err;
	if (res.n > 0 && strcmp(res.records[0].seq, r->pos.seq) == 0)
		*arrival_ms = res.records[0].arrival_ms;
	else
		err = -EINVAL;
	kfs_get_result_clear(&res);
	return err;
}

/*
 * Finds the shard that holds sequence number N, and N's arrival time.
 * Returns 0, -EINVAL when no shard of the stream holds it, or -errno.
 */
static int locate_seq(struct kfs_reader *r, const struct kfs_shard_list *sl,
		      size_t *index, int64_t *arrival_ms)
{
	for (size_t i = 0; i < sl->n; i++) {
		int err = find_seq(r, sl->v[i].id, arrival_ms);

		if (err == 0)
			*index = i;
		if (err != -EINVAL)
			return err;
	}
	return -EINVAL;
}

/*
 * Lists the stream's shards and makes lanes of those not known yet.  The
 * first listing of a view fixes where each lane starts (docs/reading.md,
 * "Positions"); shards that appear later start at their beginning.
 */
static int list_lanes(struct kfs_reader *r, char *why, size_t why_size)
{
	struct kfs_shard_list sl = { 0 };
	size_t anchor = (size_t)-1;
	int first = !r->listed, err;

	err = r->be->ops->list_shards(r->be->impl, r->stream, &sl);
	if (err)
		return err;
	if (first && r->view && (r->pos.type == KFS_ITER_AT_SEQUENCE_NUMBER ||
				 r->pos.type == KFS_ITER_AFTER_SEQUENCE_NUMBER)) {
		err = locate_seq(r, &sl, &anchor, &r->anchor_ms);
		if (err == -EINVAL && why)
			snprintf(why, why_size, "no shard of the stream holds "
				 "sequence number %s", r->pos.seq);
		if (err)
			goto out;
	}
	for (size_t i = 0; i < sl.n; i++) {
		const struct kfs_shard_desc *d = &sl.v[i];
		struct lane *l = lane_find(r, d->id);

		if (l) {
			l->closed = d->closed;
			continue;
		}
		l = lane_add(r, d->id);
		if (!l) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(l->parent, d->parent, sizeof(l->parent));
		memcpy(l->adjacent, d->adjacent_parent, sizeof(l->adjacent));
		l->closed = d->closed;
		l->state = LANE_PENDING;
		if (r->named && !r->named->fresh) {
			kfs_named_lane_init(r, l);
			continue;
		}
		/* A rotated window ends where the rename found the key: a
		 * shard made after it is not in the window. */
		if (r->window && r->rotated && !kfs_wposv_find(&r->wend, d->id))
			l->state = LANE_DONE;
		if (!r->view || !first) {
			if (r->view && r->pos.type == KFS_ITER_AT_TIMESTAMP)
				kfs_reader_lane_start(l, KFS_ITER_AT_TIMESTAMP, NULL,
					   r->pos.timestamp_ms);
			continue;   /* TRIM_HORIZON */
		}
		switch (r->pos.type) {
		case KFS_ITER_TRIM_HORIZON:
			break;
		case KFS_ITER_LATEST:
			if (d->closed) {
				l->state = LANE_DONE;
			} else {
				kfs_reader_lane_start(l, KFS_ITER_LATEST, NULL, 0);
				err = lane_begin(r, l); /* the tip at open */
				if (err)
					goto out;
			}
			break;
		case KFS_ITER_AT_TIMESTAMP:
			kfs_reader_lane_start(l, KFS_ITER_AT_TIMESTAMP, NULL,
				   r->pos.timestamp_ms);
			break;
		default:
			if (i == anchor)
				kfs_reader_lane_start(l, r->pos.type, r->pos.seq, 0);
			else
				kfs_reader_lane_start(l, KFS_ITER_AT_TIMESTAMP, NULL,
					   r->anchor_ms);
			break;
		}
	}
	if (anchor != (size_t)-1)
		skip_ancestors(r, sl.v[anchor].id, 0);
	r->listed = 1;
	r->relist = 0;
	r->listed_ms = kfs_mono_ms();
out:
	kfs_shard_list_clear(&sl);
	return err;
}

/* Starts the lanes whose retained parents are all read to their end. */
static void promote(struct kfs_reader *r)
{
	for (size_t i = 0; i < r->n_lanes; i++) {
		struct lane *l = &r->lanes[i], *p;

		if (l->state != LANE_PENDING)
			continue;
		if (l->parent[0] && (p = lane_find(r, l->parent)) &&
		    p->state != LANE_DONE)
			continue;
		if (l->adjacent[0] && (p = lane_find(r, l->adjacent)) &&
		    p->state != LANE_DONE)
			continue;
		l->state = LANE_ACTIVE;
	}
}

/* Sets the reader up at its start; also after a seek backwards. */
static int setup(struct kfs_reader *r, char *why, size_t why_size)
{
	int64_t arrival_ms;   /* of record N: known, not needed here */
	struct lane *l;
	int err;

	lanes_clear(r);
	drop_buffer(r);
	kfs_named_marks_clear(r);
	r->bufpos = 0;
	r->ended = 0;
	if (r->kind != KFS_NODE_SHARD)
		return list_lanes(r, why, why_size);
	l = lane_add(r, r->name);
	if (!l)
		return -ENOMEM;
	l->state = LANE_ACTIVE;
	r->listed = 1;
	if (!r->view)
		return 0;
	if (r->named && !r->named->fresh) {
		kfs_named_lane_init(r, l);
		return 0;
	}
	kfs_reader_lane_start(l, r->pos.type, r->pos.seq[0] ? r->pos.seq : NULL,
		   r->pos.timestamp_ms);
	err = r->pos.seq[0] ? find_seq(r, r->name, &arrival_ms) : 0;
	if (!err)
		err = lane_begin(r, l);   /* checks the position now */
	if (err == -EINVAL && why)
		snprintf(why, why_size, "shard %s has no %s%s%s", r->name,
			 kfs_iter_type_name(r->pos.type), r->pos.seq[0] ? "=" : "",
			 r->pos.seq);
	return err;
}

/*
 * The window of the name a key file reader opened, as it is now: its
 * start, and its end when the name is rotated.  A rotation later does not
 * move what the reader reads (SPEC 3); a truncation does (follow_truncation).
 */
static int take_window(struct kfs_reader *r)
{
	struct kfs_names *t = r->be->ops->names(r->be->impl);
	struct kfs_wposv start, end;
	char key[KFS_KEY_MAX + 1];
	uint64_t id, gen;
	int rotated, err;

	/* The version first: a truncation between the two calls makes the
	 * next read take the window again, never miss it. */
	err = kfs_names_version(t, r->stream, r->wname, &id, &gen);
	if (!err)
		err = kfs_names_window(t, r->stream, r->wname, key, &start,
				       &end, &rotated);
	if (err)
		return err;
	kfs_wposv_clear(&r->wstart);
	kfs_wposv_clear(&r->wend);
	r->wstart = start;
	r->wend = end;
	r->rotated = rotated;
	r->wid = id;
	r->wgen = gen;
	/* A name's key was a name: at most NAME_MAX bytes. */
	memcpy(r->name, key, strnlen(key, NAME_MAX));
	r->name[strnlen(key, NAME_MAX)] = '\0';
	return 0;
}

/*
 * A reader of a live name sees it truncated, as every descriptor of a
 * truncated file does: once the name (the same incarnation: not a file
 * created again under it after a rename) was truncated, reads are of its
 * new window, from its start.  1 when the window was taken again.
 */
static int follow_truncation(struct kfs_reader *r)
{
	uint64_t id, gen;

	if (!r->window || r->rotated ||
	    kfs_names_version(r->be->ops->names(r->be->impl), r->stream,
			      r->wname, &id, &gen) != 0 ||
	    id != r->wid || gen == r->wgen)
		return 0;
	if (take_window(r) != 0 || setup(r, NULL, 0) != 0)
		return 0;   /* the old window, as before */
	return 1;
}

int kfs_reader_open(struct kfs_backend *be, const struct kfs_reader_spec *spec,
		    struct kfs_reader **out, char *why, size_t why_size)
{
	struct kfs_reader *r = calloc(1, sizeof(*r));
	int err;

	*out = NULL;
	if (why && why_size)
		why[0] = '\0';
	if (!r)
		return -ENOMEM;
	r->be = be;
	snprintf(r->stream, sizeof(r->stream), "%s", spec->stream);
	snprintf(r->name, sizeof(r->name), "%s", spec->name ? spec->name : "");
	r->kind = spec->kind;
	r->framing = spec->framing;
	r->view = spec->pos != NULL;
	if (spec->pos)
		r->pos = *spec->pos;
	else
		r->pos.type = KFS_ITER_TRIM_HORIZON;
	r->named = spec->named;
	if (r->named) {
		/* On its first use a name reads from its first position as
		 * a view would; then from where it committed. */
		const struct kfs_nstate *st = &r->named->start;

		r->view = 1;
		r->batch = spec->pos && spec->pos->named == KFS_NAMED_BATCH;
		r->batch_ms = kfs_now_ms();
		r->pos.type = st->origin;
		r->pos.timestamp_ms = st->origin_ms;
		snprintf(r->pos.seq, sizeof(r->pos.seq), "%s", st->origin_seq);
	}
	if (r->kind == KFS_NODE_SHARD && !r->view)
		r->sizes = spec->sizes;
	r->created_ms = spec->created_ms;
	r->ra = spec->ahead;
	r->metrics = spec->metrics;
	/* Key readers read every shard: writers may have put the key's
	 * records anywhere with an explicit hash key. */
	r->key_filter = r->kind == KFS_NODE_KEY;
	if (r->kind == KFS_NODE_KEY && !r->view && be->ops->names &&
	    be->ops->names(be->impl) && be->ops->key_iterator) {
		memcpy(r->wname, r->name, sizeof(r->wname));
		r->window = 1;
		err = take_window(r);
		if (err) {
			kfs_reader_free(r);
			return err;
		}
	}
	err = setup(r, why, why_size);
	if (!err && r->named && r->named->fresh)
		err = kfs_named_begin(r);
	if (err) {
		kfs_reader_free(r);
		return err;
	}
	*out = r;
	return 0;
}

void kfs_reader_free(struct kfs_reader *r)
{
	if (!r)
		return;
	lanes_clear(r);
	free(r->lanes);
	free(r->out.buf);
	kfs_wposv_clear(&r->wstart);
	kfs_wposv_clear(&r->wend);
	kfs_get_result_clear(&r->pend);
	kfs_named_marks_clear(r);
	free(r->marks);
	free(r);
}

/* ---- reading ahead (readahead.h) ---------------------------------------- */

/* Starts reading the page at iter (not taken) early, when the reader and
 * the backend allow it; without it all works the same, later. */
static void ahead_start(struct kfs_reader *r, const char *iter)
{
	if (r->ahead || !iter || !r->ra || r->kind != KFS_NODE_SHARD ||
	    r->view || !(r->be->ops->caps & KFS_CAP_READ_AHEAD))
		return;
	r->ahead = kfs_ahead_start(r->be, r->ra, iter, READ_BATCH);
}

static int ahead_take(struct kfs_reader *r, const char *iter,
		      struct kfs_get_result *res)
{
	return kfs_ahead_take(&r->ahead, iter, res);
}

static void ahead_drop(struct kfs_reader *r)
{
	kfs_ahead_drop(&r->ahead);
}

/* ---- fetching ---------------------------------------------------------- */


/* One get_records on a lane.  Returns 1 when bytes were added, 2 when
 * records came but none was kept (another key's) or the service says
 * more is behind an empty page, 3 for an empty page of a closed shard
 * not yet at its end, 0 at the tip, -errno. */
static int fetch_lane(struct kfs_reader *r, struct lane *l)
{
	size_t li = (size_t)(l - r->lanes);
	struct kfs_get_result res = { 0 };
	size_t before = r->out.len - r->out.off;
	uint64_t added = 0;
	int lazy, err = lane_begin(r, l);

	if (err)
		return err;
	if (!l->iter) {
		/* A key iterator of a shard the window has nothing in. */
		l->state = LANE_DONE;
		r->relist = 1;
		return 2;
	}
	/* Only JSON lines show every sequence number; sizes take the
	 * last one. */
	if (!ahead_take(r, l->iter, &res))
		err = r->be->ops->get_records(r->be->impl, l->iter, READ_BATCH,
					      (r->pos.json || r->named
					       ? 0 : KFS_GET_LAST_SEQ) |
					      (kfs_reader_follows(r) || r->tipped
					       ? KFS_GET_STALE_OK : 0),
					      &res);
	/* Aggregated records as their user records: for JSON lines, the
	 * key filter and learned sizes, now; for text of every record,
	 * as it is rendered (pend_copy). */
	lazy = !r->pos.json && !r->key_filter && !r->sizes && !r->named;
	if (!err && !lazy)
		err = expand(r, l->shard, &res, 0);
	if (err)
		return err;
	l->behind_ms = res.millis_behind;
	if (r->named)
		kfs_named_skip(l, &res);
	/* A batch ends at the tip of when it began: a lane that reaches
	 * records that arrived since is read no further (a writer as fast
	 * as the reads would never let it see an empty page). */
	if (r->batch && !l->closed && res.n > 0 &&
	    res.records[res.n - 1].arrival_ms >= r->batch_ms)
		l->tip = 1;
	free(l->iter);
	l->iter = res.next_iterator;
	res.next_iterator = NULL;
	if (res.n > 0) {
		ahead_start(r, l->iter);   /* while this page is rendered */
		if (r->metrics)
			kfs_metrics_add(r->metrics, r->stream,
					KFS_M_RECORDS_READ, kept_records(r, &res));
	}
	if (r->pos.json) {
		err = render_jsonl(r, li, &res);
		added = r->out.len - r->out.off - before;
	} else {
		/* The whole batch's bytes only for sizes: they cost a pass
		 * over records not in the cache any more. */
		added = text_bytes(r, &res, !r->sizes);
	}
	if (!err && r->sizes && res.n > 0)
		kfs_sizes_report(r->sizes, r->stream, r->created_ms, l->shard,
				 r->bufpos + (r->out.len - r->out.off) +
				 (r->pos.json ? 0 : added),
				 res.records[res.n - 1].seq);
	if (!l->iter) {
		/* A closed shard read to its end: its children may start. */
		l->state = LANE_DONE;
		r->relist = 1;
	}
	if (!err && r->named && !r->pos.json && added == 0)
		/* None kept: read past, as soon as what is before is. */
		for (size_t i = 0; !err && i < res.n; i++)
			err = kfs_named_mark(r, li, &res.records[i],
					     r->bufpos + (r->out.len - r->out.off));
	if (!err && !r->pos.json && added > 0) {
		/* Text is rendered as reads ask for it (fetch runs with
		 * nothing pending). */
		r->pend = (struct kfs_get_result){
			.n = res.n, .records = res.records, .blocks = res.blocks,
		};
		r->pend_i = 0;
		r->pend_lane = li;
		r->pend_expanded = !lazy;
		res.n = 0;
		res.records = NULL;
		res.blocks = NULL;
		kfs_get_result_clear(&res);
		return 1;
	}
	if (err) {
		kfs_get_result_clear(&res);
		return err;
	}
	/* A closed shard has no tip: an empty page of it with a next
	 * iterator (Kinesis and kinesalite give one before the end) is not
	 * the end of what there is to read, and its children wait on it. */
	err = added > 0 ? 1
	      : res.n > 0 || (res.millis_behind > 0 && l->iter) ? 2
	      : l->closed && l->iter ? 3 : 0;
	kfs_get_result_clear(&res);
	return err;
}

/* Fetches the next records into the buffer.  Returns 1 when bytes were
 * added, 0 at the tip of every lane (r->ended once nothing more can
 * come), -errno. */
static int fetch(struct kfs_reader *r)
{
	for (int idle = 0; idle < PASSES_MAX;) {
		int changed = 0, active = 0, pending = 0, progress = 0;
		size_t n;

		if (r->kind != KFS_NODE_SHARD &&
		    (r->relist || (r->view && kfs_mono_ms() - r->listed_ms >=
						      RELIST_MS))) {
			int err = list_lanes(r, NULL, 0);
			if (err)
				return err;
		}
		promote(r);
		n = r->n_lanes;
		for (size_t k = 0; k < n; k++) {
			size_t i = (r->rr + k) % n;
			struct lane *l = &r->lanes[i];
			int got;

			if (l->state == LANE_PENDING)
				pending++;
			if (l->state != LANE_ACTIVE || (r->batch && l->tip))
				continue;
			active++;
			got = fetch_lane(r, l);
			if (got < 0)
				return got;
			if (got == 0 && r->batch)
				l->tip = 1;   /* the batch ends at this tip */
			if (l->state == LANE_DONE || got == 3)
				changed = 1;   /* counted: a bounded number */
			if (got == 1) {
				r->rr = (i + 1) % n;
				return 1;
			}
			if (got == 2)
				progress = 1;
		}
		if (progress)
			continue;   /* records of other keys: read on */
		if (changed) {
			idle++;
			continue;   /* children may start now */
		}
		if (active == 0 && pending == 0 &&
		    (r->kind == KFS_NODE_SHARD || r->batch))
			r->ended = 1;   /* a closed shard read to its end */
		r->tipped = 1;
		return 0;           /* plain files: EOF at the tip, for now */
	}
	return 0;
}

/* 1 when the reader can seek by bytes: plain shard files of engines that
 * index them. */
static int can_seek(const struct kfs_reader *r)
{
	return r->kind == KFS_NODE_SHARD && !r->view && r->be->ops->seek_bytes;
}

/* Moves the cursor to file offset off: a seek where the engine can, else
 * from the start again (reading on to off drops what comes before). */
static int seek_to(struct kfs_reader *r, uint64_t off)
{
	uint64_t skip = 0;
	char *iter = NULL;
	int err;

	if (!can_seek(r))
		return setup(r, NULL, 0);
	err = r->be->ops->seek_bytes(r->be->impl, r->stream, r->name,
				     r->framing, off, &iter, &skip);
	if (err)
		return err;
	err = setup(r, NULL, 0);
	if (err) {
		free(iter);
		return err;
	}
	r->lanes[0].iter = iter;
	r->bufpos = off - skip;
	return 0;
}

ssize_t kfs_reader_read(struct kfs_reader *r, char *dst, size_t size,
			uint64_t offset)
{
	size_t copied = 0;
	int err = 0;

	follow_truncation(r);
	/* Backwards, or far forwards on a file that can seek. */
	if (offset < r->bufpos ||
	    (can_seek(r) &&
	     offset > r->bufpos + (r->out.len - r->out.off) + (1u << 20))) {
		err = seek_to(r, offset);
		if (err)
			return err;
	}
	while (copied < size) {
		uint64_t want = offset + copied;
		size_t avail = r->out.len - r->out.off;

		if (avail > 0 && want > r->bufpos) {
			size_t n = want - r->bufpos < avail ? want - r->bufpos
							    : avail;
			r->out.off += n;
			r->bufpos += n;
			continue;
		}
		if (avail > 0) {
			size_t n = avail < size - copied ? avail : size - copied;
			memcpy(dst + copied, r->out.buf + r->out.off, n);
			r->out.off += n;
			r->bufpos += n;
			copied += n;
			continue;
		}
		if (pending(r)) {
			/* Straight to dst, unless bytes are to be skipped
			 * first (then through the buffer, above). */
			ssize_t n = want > r->bufpos
				    ? pend_copy(r, NULL, 0)
				    : pend_copy(r, dst + copied, size - copied);
			if (n < 0) {
				err = (int)n;
				break;
			}
			r->bufpos += (uint64_t)n;
			copied += (size_t)n;
			continue;
		}
		/* A view returns what it has rather than wait for a fetch. */
		if ((copied > 0 && r->view) || r->ended)
			break;
		err = fetch(r);
		if (err <= 0)
			break;
		err = 0;
	}
	if (r->named)
		kfs_named_sync(r);   /* what was handed over */
	if (copied > 0)
		return (ssize_t)copied;
	if (err < 0)
		return err;
	return r->ended || !r->view || r->batch ? 0 : -EAGAIN;
}

int kfs_reader_poll(struct kfs_reader *r)
{
	int got;

	if (r->out.len > r->out.off || pending(r) || r->ended || !r->view)
		return 1;
	got = fetch(r);
	if (got < 0)
		return got;
	return got > 0 || r->ended;
}
