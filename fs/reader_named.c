/*
 * reader_named.c - what a named reader adds to a view (fs/named.h): its
 * lanes start where the name committed, and it keeps track of what it
 * handed over.
 *
 * Each record rendered leaves a mark: the file offset where its bytes
 * end.  After a read, the marks up to the offset reached (bufpos) are
 * records handed over; each lane's last one is its position, given to
 * the name (kfs_named_deliver), which a commit saves.  A lane read to its
 * end is done once every record of it is handed over.
 */
#include "reader_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kpl/expand.h"
#include "lib/log.h"

void kfs_named_lane_init(struct kfs_reader *r, struct lane *l)
{
	const struct kfs_nstate *st = &r->named->start;
	const struct kfs_npos *p = kfs_nstate_find(st, l->shard);

	memset(&l->got, 0, sizeof(l->got));
	snprintf(l->got.shard, sizeof(l->got.shard), "%s", l->shard);
	l->got.sub = -1;
	l->skip_seq[0] = '\0';
	if (p)
		l->got = *p;
	if (p && p->done) {
		l->state = LANE_DONE;
	} else if (p && p->seq[0] && p->sub < 0) {
		kfs_reader_lane_start(l, KFS_ITER_AFTER_SEQUENCE_NUMBER, p->seq, 0);
	} else if (p && p->seq[0]) {
		/* Within an aggregated record: at it, less the user records
		 * read (kfs_named_skip). */
		kfs_reader_lane_start(l, KFS_ITER_AT_SEQUENCE_NUMBER, p->seq, 0);
		snprintf(l->skip_seq, sizeof(l->skip_seq), "%s", p->seq);
		l->skip_sub = p->sub;
	} else if (st->origin == KFS_ITER_AT_TIMESTAMP) {
		kfs_reader_lane_start(l, KFS_ITER_AT_TIMESTAMP, NULL,
				      st->origin_ms);
	} else {
		kfs_reader_lane_start(l, KFS_ITER_TRIM_HORIZON, NULL, 0);
	}
}

int kfs_named_begin(struct kfs_reader *r)
{
	struct kfs_named *n = r->named;
	struct kfs_nstate *d;
	int err = 0;

	pthread_mutex_lock(&n->lock);
	d = &n->delivered;
	/* Shards it has no position in (not known yet) start at the origin:
	 * the first position's time, or TRIM_HORIZON. */
	d->origin_seq[0] = '\0';
	d->origin_ms = 0;
	if (r->pos.type == KFS_ITER_AT_TIMESTAMP) {
		d->origin = KFS_ITER_AT_TIMESTAMP;
		d->origin_ms = r->pos.timestamp_ms;
	} else if (r->pos.seq[0] && r->kind != KFS_NODE_SHARD) {
		d->origin = KFS_ITER_AT_TIMESTAMP;
		d->origin_ms = r->anchor_ms;
	} else {
		d->origin = KFS_ITER_TRIM_HORIZON;
	}
	for (size_t i = 0; i < r->n_lanes && !err; i++) {
		struct lane *l = &r->lanes[i];
		struct kfs_npos *p;

		memset(&l->got, 0, sizeof(l->got));
		snprintf(l->got.shard, sizeof(l->got.shard), "%s", l->shard);
		l->got.sub = -1;
		if (l->state == LANE_DONE)
			l->got.done = 1;
		else if (l->start.type == KFS_ITER_AT_SEQUENCE_NUMBER ||
			 l->start.type == KFS_ITER_AFTER_SEQUENCE_NUMBER) {
			snprintf(l->got.seq, sizeof(l->got.seq), "%s", l->seq);
			l->got.sub = l->start.type == KFS_ITER_AT_SEQUENCE_NUMBER
				     ? 0 : -1;
		} else {
			continue;   /* from the origin */
		}
		p = kfs_nstate_get(d, l->shard);
		if (!p)
			err = -ENOMEM;
		else
			*p = l->got;
	}
	n->fresh = 0;
	d->fresh = 0;
	if (!err)
		err = kfs_nstate_copy(&n->start, d);
	pthread_mutex_unlock(&n->lock);
	if (!err)
		err = kfs_named_commit(n);
	return err;
}

void kfs_named_skip(struct lane *l, struct kfs_get_result *res)
{
	size_t k = 0;

	if (!l->skip_seq[0] || res->n == 0)
		return;
	for (size_t i = 0; i < res->n; i++) {
		struct kfs_record *rec = &res->records[i];

		if (rec->user && (int64_t)rec->sub_seq < l->skip_sub &&
		    strcmp(rec->seq, l->skip_seq) == 0) {
			if (!res->blocks) {
				free(rec->key);
				free(rec->data);
			}
			continue;
		}
		res->records[k++] = *rec;
	}
	res->n = k;
	l->skip_seq[0] = '\0';
}

int kfs_named_mark(struct kfs_reader *r, size_t lane,
		   const struct kfs_record *rec, uint64_t end)
{
	struct kfs_mark *m;

	/* Records that add no bytes (another key's) after one of the same
	 * lane ending there: the later one stands for both. */
	if (r->n_marks > r->mark_head) {
		m = &r->marks[r->n_marks - 1];
		if (m->lane == lane && m->end == end)
			goto fill;
	}
	if (r->mark_head > 0 && r->mark_head == r->n_marks)
		r->mark_head = r->n_marks = 0;
	if (r->n_marks == r->cap_marks) {
		size_t live = r->n_marks - r->mark_head, cap;
		struct kfs_mark *v;

		if (r->mark_head > live) {
			memmove(r->marks, r->marks + r->mark_head,
				live * sizeof(*v));
			r->mark_head = 0;
			r->n_marks = live;
		} else {
			cap = r->cap_marks ? 2 * r->cap_marks : 256;
			v = realloc(r->marks, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			r->marks = v;
			r->cap_marks = cap;
		}
	}
	m = &r->marks[r->n_marks++];
fill:
	m->end = end;
	m->lane = lane;
	m->sub = rec->user ? (int64_t)rec->sub_seq + 1 : -1;
	m->arrival_ms = rec->arrival_ms;
	snprintf(m->seq, sizeof(m->seq), "%s", rec->seq);
	return 0;
}

void kfs_named_marks_clear(struct kfs_reader *r)
{
	r->n_marks = r->mark_head = 0;
}

/* 1 when a record of lane is rendered or fetched and not handed over. */
static int lane_owes(const struct kfs_reader *r, size_t lane)
{
	for (size_t i = r->mark_head; i < r->n_marks; i++)
		if (r->marks[i].lane == lane)
			return 1;
	return r->pend_i < r->pend.n && r->pend_lane == lane;
}

/* The reader's own measure of its lag: the largest MillisBehindLatest
 * of its open lanes' last pages; when all were at the tip, the records
 * and bytes it holds that were not handed over. */
static void own_lag(const struct kfs_reader *r, struct kfs_named_lag *lag)
{
	int at_tip = 1;

	*lag = (struct kfs_named_lag){ -1, -1, 0 };
	for (size_t i = 0; i < r->n_lanes; i++) {
		const struct lane *l = &r->lanes[i];

		if (l->state != LANE_ACTIVE)
			continue;
		if (l->behind_ms > lag->millis)
			lag->millis = l->behind_ms;
		if (l->behind_ms > 0 || !l->iter)
			at_tip = 0;
	}
	if (!at_tip)
		return;
	lag->records = (int64_t)(r->n_marks - r->mark_head +
				 (r->pend.n - r->pend_i));
	lag->bytes = r->n_marks > r->mark_head
		     ? (int64_t)(r->marks[r->n_marks - 1].end - r->bufpos) : 0;
	for (size_t i = r->pend_i; i < r->pend.n; i++)
		lag->bytes += (int64_t)kfs_framed_len(r->framing,
						      r->pend.records[i].data,
						      r->pend.records[i].len);
}

void kfs_named_sync(struct kfs_reader *r)
{
	struct kfs_npos v[16];
	struct kfs_named_lag lag;
	size_t k = 0;

	while (r->mark_head < r->n_marks &&
	       r->marks[r->mark_head].end <= r->bufpos) {
		const struct kfs_mark *m = &r->marks[r->mark_head++];
		struct lane *l = &r->lanes[m->lane];

		snprintf(l->got.seq, sizeof(l->got.seq), "%s", m->seq);
		l->got.sub = m->sub;
		l->got.arrival_ms = m->arrival_ms;
		l->got_changed = 1;
	}
	for (size_t i = 0; i < r->n_lanes; i++) {
		struct lane *l = &r->lanes[i];

		if (l->state == LANE_DONE && !l->got.done && !lane_owes(r, i)) {
			l->got.done = 1;
			l->got_changed = 1;
		}
		if (!l->got_changed)
			continue;
		l->got_changed = 0;
		v[k++] = l->got;
		if (k == sizeof(v) / sizeof(v[0])) {
			own_lag(r, &lag);
			kfs_named_deliver(r->named, v, k, &lag);
			k = 0;
		}
	}
	own_lag(r, &lag);
	kfs_named_deliver(r->named, v, k, &lag);
}
