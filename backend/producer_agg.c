/*
 * producer_agg.c - the sender of a stream that aggregates
 * (docs/aggregation.md, "Writing"): the records of a batch are packed
 * into KPL aggregated records, each line one user record.
 *
 * Order.  The batch's records are grouped by partition key and explicit
 * hash key, each group in queue order.  They go in rounds: a round is at
 * most one aggregated record of each group (the next records of the group
 * that fit in agg_max_bytes), sent with put_records (in calls of at most
 * KFS_PUT_BATCH_MAX entries and batch_bytes) and resent, failed entries
 * only, until each is stored or out of attempts; the next round starts
 * only then.  So a key's records are stored in the order written whatever
 * entries of a call fail: an aggregated record is stored or fails whole,
 * and the key's next one is sent only once it is stored or has failed
 * for good (its records' failure then reaches their writers, and the
 * next ones go on).
 *
 * A record too big to share an aggregated record (alone it would pass
 * agg_max_bytes) goes as a plain record, as the KPL sends it, unless its
 * data starts with the KPL magic: readers would take it for an aggregated
 * record, so it is wrapped alone (over agg_max_bytes, within the record
 * limit the backend checks).
 */
#include "producer_impl.h"
#include "kpl/agg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

/* One group: the records of a key (and hash key), in queue order. */
struct group {
	size_t *idx;          /* indexes into the batch; in agg->order */
	size_t n;             /* how many */
	size_t next;          /* the first not yet sent */
};

/* One entry of a round: records next .. next + count - 1 of a group. */
struct rentry {
	struct group *g;
	size_t first, count;
	unsigned char *packed;  /* the aggregated record, or NULL: plain */
};

struct agg {
	struct sender *me;
	struct precord **recs;
	size_t n;
	size_t *order;          /* batch indexes, grouped */
	struct group *groups;
	size_t n_groups;
	int *err;               /* each record's result */
	struct kfs_agg_builder *b;
	struct kfs_put_entry *e, *sub;
	struct rentry *re;
	size_t *todo;
	unsigned *seed;
	/* what the batch came to */
	size_t calls, wire_stored, retries, throttled;
	uint64_t bytes_stored;
};

static int same_group(const struct precord *a, const struct precord *b)
{
	return strcmp(a->key, b->key) == 0 &&
	       (a->ehk == b->ehk || (a->ehk && b->ehk && !strcmp(a->ehk, b->ehk)));
}

static uint64_t group_hash(const struct precord *r)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *k = r->key; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	for (const char *k = r->ehk ? r->ehk : ""; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	return h;
}

/* Groups the batch: an open-addressed table of the groups' first
 * records, then each group's records laid out in order[], in queue
 * order. */
static int group_batch(struct agg *a)
{
	size_t cap = 16, *gi = malloc(a->n * sizeof(*gi)), *slot, *fill;

	while (cap < 2 * a->n)
		cap *= 2;
	slot = malloc(cap * sizeof(*slot));
	fill = malloc(a->n * sizeof(*fill));
	if (!gi || !slot || !fill) {
		free(gi);
		free(slot);
		free(fill);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cap; i++)
		slot[i] = SIZE_MAX;
	for (size_t i = 0; i < a->n; i++) {
		size_t h = (size_t)group_hash(a->recs[i]) & (cap - 1);

		/* fill[g]: the first record of group g, for now. */
		while (slot[h] != SIZE_MAX &&
		       !same_group(a->recs[fill[slot[h]]], a->recs[i]))
			h = (h + 1) & (cap - 1);
		if (slot[h] == SIZE_MAX) {
			slot[h] = a->n_groups;
			fill[a->n_groups++] = i;
		}
		a->groups[slot[h]].n++;
		gi[i] = slot[h];
	}
	for (size_t g = 0, at = 0; g < a->n_groups; g++) {
		fill[g] = at;
		a->groups[g].idx = a->order + at;
		at += a->groups[g].n;
	}
	for (size_t i = 0; i < a->n; i++)
		a->order[fill[gi[i]]++] = i;
	free(fill);
	free(slot);
	free(gi);
	return 0;
}

/* Packs the next records of g into one entry of the round. */
static int pack_next(struct agg *a, struct group *g, struct rentry *r,
		     struct kfs_put_entry *en)
{
	const struct kfs_producer_config *cfg = &a->me->ps->p->cfg;
	const struct precord *first = a->recs[g->idx[g->next]];
	size_t len;
	int rc;

	r->g = g;
	r->first = g->next;
	r->count = 0;
	r->packed = NULL;
	while (g->next + r->count < g->n) {
		const struct precord *x = a->recs[g->idx[g->next + r->count]];

		if (kfs_agg_builder_size_with(a->b, x->key, x->ehk, x->len) >
		    cfg->agg_max_bytes && r->count > 0)
			break;
		if (r->count == 0 &&
		    kfs_agg_builder_size_with(a->b, x->key, x->ehk, x->len) >
		    cfg->agg_max_bytes && !kfs_agg_looks(x->data, x->len)) {
			/* Too big to share: plain, as the KPL sends it. */
			r->count = 1;
			g->next++;
			prod_entry_init(en, x->key,
					x->ehk ? x->ehk : prod_spread_ehk(a->me),
					x->data, x->len);
			return 0;
		}
		if ((rc = kfs_agg_builder_add(a->b, x->key, x->ehk, x->data,
					      x->len)) < 0) {
			kfs_agg_builder_reset(a->b);
			return rc;
		}
		r->count++;
	}
	if ((rc = kfs_agg_builder_pack(a->b, &r->packed, &len)) < 0)
		return rc;
	g->next += r->count;
	prod_entry_init(en, first->key,
			first->ehk ? first->ehk : prod_spread_ehk(a->me),
			r->packed, len);
	return 0;
}

/* Sends entries e[0..m) (one round, or a part of it) until each is
 * stored or has failed for good. */
static void send_round(struct agg *a, size_t m)
{
	struct pstream *ps = a->me->ps;
	struct kfs_producer *p = ps->p;
	size_t ntodo = m;

	for (size_t i = 0; i < m; i++)
		a->todo[i] = i;
	for (int attempt = 0; ntodo > 0; attempt++) {
		struct kfs_put_entry *v = a->e;
		size_t again = 0, ok = 0;

		if (attempt > 0 && __atomic_load_n(&p->abandoned, __ATOMIC_ACQUIRE))
			break;
		if (attempt > 0) {
			prod_backoff(&p->cfg, attempt - 1, a->seed);
			a->retries += ntodo;
			for (size_t k = 0; k < ntodo; k++) {
				a->sub[k] = a->e[a->todo[k]];
				a->sub[k].err = 0;
				a->sub[k].reason[0] = '\0';
			}
			v = a->sub;
		}
		prod_rate_wait(a->me, v, ntodo);
		p->be->ops->put_records(p->be->impl, ps->name, v, ntodo);
		prod_rate_learn(a->me, v, ntodo);
		a->calls++;
		for (size_t k = 0; k < ntodo; k++) {
			ok += v[k].err == 0;
			a->throttled += v[k].err == -EAGAIN;
		}
		if (ok && p->cfg.on_stored)
			p->cfg.on_stored(p->cfg.on_stored_arg, ps->name);
		for (size_t k = 0; k < ntodo; k++) {
			if (v != a->e)
				a->e[a->todo[k]] = a->sub[k];
			if (v[k].err && prod_retryable(v[k].err) &&
			    attempt + 1 < p->cfg.max_attempts)
				a->todo[again++] = a->todo[k];
		}
		ntodo = again;
	}
	prod_log_failures(ps->name, a->e, m);
	for (size_t i = 0; i < m; i++) {
		struct rentry *r = &a->re[i];

		for (size_t k = 0; k < r->count; k++) {
			const struct precord *x = a->recs[r->g->idx[r->first + k]];

			a->err[r->g->idx[r->first + k]] = a->e[i].err;
			if (!a->e[i].err)
				a->bytes_stored += x->len;
		}
		a->wire_stored += a->e[i].err == 0;
		free(r->packed);
		r->packed = NULL;
	}
}

/* Every round of the batch; -ENOMEM leaves records unsent (their err
 * is set by the caller). */
static int send_rounds(struct agg *a)
{
	struct kfs_producer *p = a->me->ps->p;
	size_t left = a->n;

	while (left > 0 && !__atomic_load_n(&p->abandoned, __ATOMIC_ACQUIRE)) {
		size_t m = 0, bytes = 0;

		for (size_t g = 0; g < a->n_groups; g++) {
			struct group *gr = &a->groups[g];
			size_t size;
			int rc;

			if (gr->next == gr->n)
				continue;
			if (m == KFS_PUT_BATCH_MAX) {
				send_round(a, m);
				m = bytes = 0;
			}
			if ((rc = pack_next(a, gr, &a->re[m], &a->e[m])) < 0) {
				send_round(a, m);
				return rc;
			}
			left -= a->re[m].count;
			size = a->e[m].len + strlen(a->e[m].key);
			if (m > 0 && bytes + size > p->cfg.batch_bytes) {
				/* The call is full: this entry starts the
				 * next one of the same round. */
				send_round(a, m);
				a->e[0] = a->e[m];
				a->re[0] = a->re[m];
				m = bytes = 0;
			}
			bytes += size;
			m++;
		}
		if (m > 0)
			send_round(a, m);
	}
	return 0;
}

void prod_send_aggregated(struct sender *me, struct precord **recs, size_t n,
			  unsigned *seed)
{
	struct pstream *ps = me->ps;
	struct kfs_producer *p = ps->p;
	size_t slots = n < KFS_PUT_BATCH_MAX ? n : KFS_PUT_BATCH_MAX;
	struct agg a = {
		.me = me, .recs = recs, .n = n, .seed = seed,
		.order = malloc(n * sizeof(size_t)),
		.groups = calloc(n, sizeof(struct group)),
		.err = malloc(n * sizeof(int)),
		.b = kfs_agg_builder_new(),
		.e = calloc(slots, sizeof(struct kfs_put_entry)),
		.sub = calloc(slots, sizeof(struct kfs_put_entry)),
		.re = calloc(slots, sizeof(struct rentry)),
		.todo = malloc(slots * sizeof(size_t)),
	};
	size_t failed = 0, cost = 0;
	int rc = -ENOMEM;

	if (a.err)
		for (size_t i = 0; i < n; i++)
			a.err[i] = -EIO;   /* not sent: the stop's deadline */
	if (a.order && a.groups && a.err && a.b && a.e && a.sub && a.re &&
	    a.todo && (rc = group_batch(&a)) == 0)
		rc = send_rounds(&a);
	if (rc < 0) {
		kfs_err("stream %s: aggregating records: %s", ps->name,
			strerror(-rc));
		for (size_t g = 0; a.err && g < a.n_groups; g++)
			for (size_t k = a.groups[g].next; k < a.groups[g].n; k++)
				a.err[a.groups[g].idx[k]] = rc;
	}
	if (prod_batch_landed(me, n))
		goto out;   /* kfs_producer_abandon told the writers */
	for (size_t i = 0; i < n; i++)
		failed += !a.err || a.err[i] != 0;
	prod_count_batch(p, ps->name, n - failed, a.bytes_stored, failed,
			 a.retries, a.throttled, a.wire_stored);
	pthread_mutex_lock(&p->lock);
	p->stats.records_put += n - failed;
	p->stats.kinesis_records += a.wire_stored;
	p->stats.records_failed += failed;
	p->stats.retries += a.retries;
	p->stats.batches += a.calls;
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0, run; i < n; i += run) {
		int err = a.err ? a.err[i] : -ENOMEM;

		for (run = 1; i + run < n && recs[i + run]->ack == recs[i]->ack &&
		     (a.err ? a.err[i + run] : -ENOMEM) == err; run++)
			;
		prod_ack_resolve_n(recs[i]->ack, err, run);
	}
out:
	for (size_t i = 0; i < n; i++) {
		cost += recs[i]->cost;
		prod_record_done(recs[i]);
	}
	prod_queue_release(p, cost, 0);
	kfs_agg_builder_free(a.b);
	free(a.order);
	free(a.groups);
	free(a.err);
	free(a.e);
	free(a.sub);
	free(a.re);
	free(a.todo);
}
