/* producer.c - see producer.h. */
#include "producer.h"
#include "producer_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kpl/agg.h"
#include "lib/log.h"
#include "lib/util.h"

/* Lets go of a resolved record; the last one frees the block. */
void prod_record_done(struct precord *r)
{
	struct pblock *b = r->blk;

	if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

void kfs_ack_init(struct kfs_ack *a)
{
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->done, NULL);
	a->pending = 0;
	a->err = 0;
}

void kfs_ack_destroy(struct kfs_ack *a)
{
	pthread_cond_destroy(&a->done);
	pthread_mutex_destroy(&a->lock);
}

int kfs_ack_wait(struct kfs_ack *a)
{
	int err;

	pthread_mutex_lock(&a->lock);
	while (a->pending > 0)
		pthread_cond_wait(&a->done, &a->lock);
	err = a->err;
	a->err = 0;
	pthread_mutex_unlock(&a->lock);
	return err;
}

int kfs_ack_drain(struct kfs_ack *a, int timeout_ms)
{
	struct timespec ts;
	int left;

	if (timeout_ms >= 0)
		kfs_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&a->lock);
	while (a->pending > 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&a->done, &a->lock);
		else if (pthread_cond_timedwait(&a->done, &a->lock, &ts) == ETIMEDOUT)
			break;
	}
	left = a->pending > 0;
	pthread_mutex_unlock(&a->lock);
	return left ? -ETIMEDOUT : 0;
}

/* Adds what one batch came to to the stream's metrics. */
void prod_count_batch(struct kfs_producer *p, const char *stream,
			uint64_t stored, uint64_t bytes, uint64_t failed,
			uint64_t retried, uint64_t throttled, uint64_t kinesis)
{
	uint64_t v[KFS_M_COUNT] = { 0 };

	v[KFS_M_RECORDS_PUT] = stored;
	v[KFS_M_KINESIS_RECORDS_PUT] = kinesis;
	v[KFS_M_BYTES_PUT] = bytes;
	v[KFS_M_RECORDS_FAILED] = failed;
	v[KFS_M_RECORDS_RETRIED] = retried;
	v[KFS_M_RECORDS_THROTTLED] = throttled;
	kfs_metrics_add_all(p->cfg.metrics, stream, v);
}

/* Adds a batch's outcome to the producer's counters. */
void prod_count_stats(struct kfs_producer *p, uint64_t stored,
			uint64_t failed, uint64_t retries, uint64_t batches)
{
	pthread_mutex_lock(&p->lock);
	p->stats.records_put += stored;
	p->stats.kinesis_records += stored;
	p->stats.records_failed += failed;
	p->stats.retries += retries;
	p->stats.batches += batches;
	pthread_mutex_unlock(&p->lock);
}

/* Fills the put entry of one record; writers learn no sequence numbers. */
void prod_entry_init(struct kfs_put_entry *en, const char *key,
		       const char *ehk, const void *data, size_t len)
{
	en->key = key;
	en->explicit_hash_key = ehk;
	en->data = data;
	en->len = len;
	en->no_seq = 1;
	en->err = 0;
	en->seq[0] = en->shard_id[0] = en->reason[0] = '\0';
}

/* Gives back the queue memory of resolved entries (cost, of which
 * run_cost is runs') and wakes the writers waiting for room. */
void prod_queue_release(struct kfs_producer *p, size_t cost, size_t run_cost)
{
	pthread_mutex_lock(&p->lock);
	p->queued -= cost;
	p->queued_runs -= run_cost;
	pthread_cond_broadcast(&p->space);
	pthread_mutex_unlock(&p->lock);
}

/* Resolves n records of a with one result. */
void prod_ack_resolve_n(struct kfs_ack *a, int err, uint64_t n)
{
	pthread_mutex_lock(&a->lock);
	if (err && !a->err)
		a->err = err;
	a->pending -= n;
	if (a->pending == 0)
		pthread_cond_broadcast(&a->done);
	pthread_mutex_unlock(&a->lock);
}

static void prod_ack_resolve(struct kfs_ack *a, int err)
{
	prod_ack_resolve_n(a, err, 1);
}

void kfs_producer_config_default(struct kfs_producer_config *cfg)
{
	cfg->linger_ms = 20;
	cfg->queue_bytes = 16u << 20;
	cfg->batch_records = KFS_PUT_BATCH_MAX;
	cfg->batch_bytes = 5u << 20;
	cfg->max_attempts = 1;
	cfg->backoff_ms = 100;
	cfg->max_inflight = 1;
	cfg->on_stored = NULL;
	cfg->on_stored_arg = NULL;
	cfg->metrics = NULL;
	cfg->clock = NULL;
	cfg->aggregate = 0;
	cfg->spread = 0;
	cfg->agg_max_bytes = KFS_AGG_MAX_BYTES_DEFAULT;
	cfg->agg_linger_ms = 100;
}

int kfs_producer_new(struct kfs_backend *be,
		     const struct kfs_producer_config *cfg,
		     struct kfs_producer **out)
{
	struct kfs_producer *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->be = be;
	p->cfg = *cfg;
	if (p->cfg.batch_records == 0 || p->cfg.batch_records > KFS_PUT_BATCH_MAX)
		p->cfg.batch_records = KFS_PUT_BATCH_MAX;
	if (p->cfg.batch_bytes == 0)
		p->cfg.batch_bytes = 5u << 20;
	if (p->cfg.max_attempts < 1)
		p->cfg.max_attempts = 1;
	if (p->cfg.max_inflight < 1)
		p->cfg.max_inflight = 1;
	if (p->be->ops->caps & KFS_CAP_CHEAP_PUT)
		p->cfg.max_inflight = 1; /* one writer per log is all it takes */
	if (p->cfg.linger_ms < 0)
		p->cfg.linger_ms = 0;
	if (p->cfg.agg_linger_ms < 0)
		p->cfg.agg_linger_ms = 0;
	if (p->cfg.agg_max_bytes == 0)
		p->cfg.agg_max_bytes = KFS_AGG_MAX_BYTES_DEFAULT;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->space, NULL);
	pthread_cond_init(&p->idle, NULL);
	*out = p;
	return 0;
}

/* Errors worth sending the record again for. */
int prod_retryable(int err)
{
	return err == -EAGAIN || err == -EIO || err == -ETIMEDOUT ||
	       err == -ECONNRESET || err == -EBUSY;
}

/* Sleeps for the n-th retry's prod_backoff: base * 2^n, the upper half of it
 * with jitter. */
void prod_backoff(const struct kfs_producer_config *cfg, int n,
		    unsigned *seed)
{
	int64_t cap = (int64_t)cfg->backoff_ms << (n < 10 ? n : 10);
	int64_t ms = cap / 2 + (cap > 1 ? rand_r(seed) % (cap / 2 + 1) : 0);

	kfs_clock_sleep(cfg->clock, ms);
}

/* Logs one line per distinct error of a batch, with the stream, the first
 * key that got it and the reason. */
void prod_log_failures(const char *stream, struct kfs_put_entry *e,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t count = 0;
		int seen = 0;

		if (!e[i].err)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = e[j].err == e[i].err;
		if (seen)
			continue;
		for (size_t j = i; j < n; j++)
			count += e[j].err == e[i].err;
		kfs_err("stream %s, key %s: %zu record(s) not stored: %s (%s)",
			stream, e[i].key, count,
			e[i].reason[0] ? e[i].reason : strerror(-e[i].err),
			strerror(-e[i].err));
	}
}

/* The records of a batch are no longer in flight (for the gauges of the
 * metrics file, before their writers hear).  Returns 1 when
 * kfs_producer_abandon has failed the batch already: its writers have
 * heard (and may be gone), its records are counted. */
int prod_batch_landed(struct sender *me, size_t n)
{
	struct pstream *ps = me->ps;
	int gone;

	pthread_mutex_lock(&ps->lock);
	gone = me->abandoned;
	if (!gone)
		ps->inflight_n -= n;
	me->since = 0;
	me->flight = NULL;
	me->flight_n = me->flight_records = 0;
	me->abandoned = 0;
	pthread_mutex_unlock(&ps->lock);
	return gone;
}

/* How many of the records v[i..n) go in the next batch (at least one, at
 * most max, and within batch_bytes), their bytes in *bytes. */
static size_t batch_span(const struct kfs_producer *p, const struct iovec *v,
			 size_t i, size_t n, size_t max, size_t *bytes)
{
	size_t m = 0;

	*bytes = 0;
	while (i + m < n && m < max &&
	       (m == 0 || *bytes + v[i + m].iov_len <= p->cfg.batch_bytes))
		*bytes += v[i + m++].iov_len;
	return m;
}

/*
 * Stores a run (the records of one big write, one key) for a cheap
 * backend, in batches of up to KFS_CHEAP_PUT_BATCH_MAX records and
 * batch_bytes, then resolves it with its writer: the first error, if any,
 * for all of its records (a run is stored in order and stops at nothing:
 * each batch's records are stored or failed on their own).
 */
static void send_run(struct sender *me, struct precord *r)
{
	struct pstream *ps = me->ps;
	struct kfs_producer *p = ps->p;
	const struct iovec *v = r->run;
	const char *key = r->key, *ehk = r->ehk;
	/* One backend call for all of them where it can: each call is one
	 * append to the shard's log, two pwrites and a lock round. */
	size_t n = r->n, max = KFS_CHEAP_PUT_BATCH_MAX, failed = 0;
	size_t batches = 0, stored_bytes = 0, throttled = 0;
	struct kfs_put_entry *e = NULL; /* made when put_records is called */
	int err = 0;

	for (size_t i = 0; i < n && !__atomic_load_n(&p->abandoned,
						       __ATOMIC_ACQUIRE);) {
		size_t bytes, m = batch_span(p, v, i, n, max, &bytes);
		size_t bad = 0;

		/* A run of one key, without an entry per record, where the
		 * backend can; what it does not take goes the usual way. */
		if (!ehk && p->be->ops->put_run &&
		    p->be->ops->put_run(p->be->impl, ps->name, key, v + i, m) == 0) {
			batches++;
			stored_bytes += bytes;
			if (p->cfg.on_stored)
				p->cfg.on_stored(p->cfg.on_stored_arg, ps->name);
			i += m;
			continue;
		}
		if (!e && !(e = malloc((n - i < max ? n - i : max) * sizeof(*e)))) {
			kfs_err("stream %s, key %s: %zu record(s) not stored: out "
				"of memory", ps->name, key, n - i);
			failed += n - i;
			err = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < m; k++)
			prod_entry_init(&e[k], key, ehk, v[i + k].iov_base,
				   v[i + k].iov_len);
		p->be->ops->put_records(p->be->impl, ps->name, e, m);
		batches++;
		for (size_t k = 0; k < m; k++) {
			if (e[k].err && !err)
				err = e[k].err;
			bad += e[k].err != 0;
			throttled += e[k].err == -EAGAIN;
			stored_bytes += e[k].err ? 0 : e[k].len;
		}
		failed += bad;
		if (bad < m && p->cfg.on_stored)
			p->cfg.on_stored(p->cfg.on_stored_arg, ps->name);
		prod_log_failures(ps->name, e, m);
		i += m;
	}
	free(e);
	if (!prod_batch_landed(me, n)) {
		/* Counted before the writer hears, as in send_batch. */
		prod_count_batch(p, ps->name, n - failed, stored_bytes, failed, 0,
				 throttled, n - failed);
		prod_count_stats(p, n - failed, failed, 0, batches);
		prod_ack_resolve_n(r->ack, err, n);
	}
	prod_queue_release(p, r->cost, r->cost);
	prod_record_done(r);
}

/*
 * Sends one batch, resending failed prod_retryable entries (only those, in their
 * order) until they succeed or run out of attempts, then resolves every
 * record with its writer (unless kfs_producer_abandon did already).
 * me->since, the sender's oldest record in flight, is cleared once the
 * batch has landed.
 */
static void send_records(struct sender *me, struct precord **recs, size_t n,
			 unsigned *seed)
{
	struct pstream *ps = me->ps;
	struct kfs_producer *p = ps->p;
	struct kfs_put_entry *e = malloc(n * sizeof(*e));
	size_t *todo = malloc(n * sizeof(*todo));
	struct kfs_put_entry *sub = NULL;
	size_t ntodo = n, cost = 0, stored = 0, failed = 0, retries = 0;
	size_t throttled = 0, bytes = 0;

	if (!e || !todo) {
		if (prod_batch_landed(me, n))
			goto out;
		kfs_err("stream %s: %zu record(s) not stored: out of memory",
			ps->name, n);
		prod_count_batch(p, ps->name, 0, 0, n, 0, 0, 0);
		prod_count_stats(p, 0, n, 0, 1);
		for (size_t i = 0; i < n; i++)
			prod_ack_resolve(recs[i]->ack, -ENOMEM);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		prod_entry_init(&e[i], recs[i]->key,
				recs[i]->ehk ? recs[i]->ehk : prod_spread_ehk(me),
				recs[i]->data,
			   recs[i]->len);
		todo[i] = i;
	}
	for (int attempt = 0; ntodo > 0; attempt++) {
		struct kfs_put_entry *v = e;
		size_t again = 0, ok = 0;

		/* Failed to the writers already: no more tries. */
		if (attempt > 0 &&
		    __atomic_load_n(&p->abandoned, __ATOMIC_ACQUIRE))
			break;
		if (attempt > 0) {
			/* Only the failed entries go again, in their order. */
			if (!sub && !(sub = malloc(n * sizeof(*sub)))) {
				for (size_t k = 0; k < ntodo; k++)
					e[todo[k]].err = -ENOMEM;
				break;
			}
			prod_backoff(&p->cfg, attempt - 1, seed);
			retries += ntodo;
			for (size_t k = 0; k < ntodo; k++) {
				sub[k] = e[todo[k]];
				sub[k].err = 0;
				sub[k].reason[0] = '\0';
			}
			v = sub;
		}
		prod_rate_wait(me, v, ntodo);
		p->be->ops->put_records(p->be->impl, ps->name, v, ntodo);
		prod_rate_learn(me, v, ntodo);
		for (size_t k = 0; k < ntodo; k++) {
			ok += v[k].err == 0;
			throttled += v[k].err == -EAGAIN;
		}
		if (ok && p->cfg.on_stored)
			p->cfg.on_stored(p->cfg.on_stored_arg, ps->name);
		for (size_t k = 0; k < ntodo; k++) {
			if (v != e)
				e[todo[k]] = sub[k];
			if (v[k].err && prod_retryable(v[k].err) &&
			    attempt + 1 < p->cfg.max_attempts)
				todo[again++] = todo[k];
		}
		if (again && again < ntodo)
			kfs_debug("stream %s: resending %zu of %zu record(s)",
				  ps->name, again, ntodo);
		ntodo = again;
	}
	if (prod_batch_landed(me, n))
		goto out;   /* kfs_producer_abandon told the writers */
	prod_log_failures(ps->name, e, n);
	for (size_t i = 0; i < n; i++) {
		failed += e[i].err != 0;
		bytes += e[i].err ? 0 : e[i].len;
	}
	stored = n - failed;
	/* Counted before the writers hear: once close(2) returns, the
	 * metrics file shows its records. */
	prod_count_batch(p, ps->name, stored, bytes, failed, retries, throttled,
			 stored);
	prod_count_stats(p, stored, failed, retries, 1);
	for (size_t i = 0, run; i < n; i += run) {
		/* A run of one writer's records with one result: one wake-up. */
		for (run = 1; i + run < n && recs[i + run]->ack == recs[i]->ack &&
		     e[i + run].err == e[i].err; run++)
			;
		prod_ack_resolve_n(recs[i]->ack, e[i].err, run);
	}
out:
	for (size_t i = 0; i < n; i++) {
		cost += recs[i]->cost;
		prod_record_done(recs[i]);
	}
	free(e);
	free(todo);
	free(sub);
	prod_queue_release(p, cost, 0);
}

/* Sends one batch: a run (alone in its batch), or records. */
static void send_batch(struct sender *me, struct precord **recs, size_t n,
		       unsigned *seed)
{
	if (n == 1 && recs[0]->run)
		send_run(me, recs[0]);
	else
		send_records(me, recs, n, seed);
}

/* Fails every record still queued on ps; called with ps->lock held, once
 * the drain deadline has passed. */
void prod_fail_queued(struct pstream *ps)
{
	struct kfs_producer *p = ps->p;
	size_t n = 0, cost = 0, run_cost = 0;
	const char *first = NULL;

	for (struct precord *r = ps->head, *next; r; r = next) {
		next = r->next;
		if (!first)
			first = r->key;
		n += r->n;
		cost += r->cost;
		run_cost += r->run ? r->cost : 0;
		prod_ack_resolve_n(r->ack, -EIO, r->n);
	}
	if (n)
		kfs_err("stream %s, key %s: %zu record(s) not delivered before "
			"unmount", ps->name, first, n);
	/* first points into the head's block: free only after the log. */
	for (struct precord *r = ps->head, *next; r; r = next) {
		next = r->next;
		prod_record_done(r);
	}
	ps->head = ps->tail = NULL;
	ps->count = ps->bytes = 0;
	prod_count_stats(p, 0, n, 0, 0);
	prod_queue_release(p, cost, run_cost);
	prod_count_batch(p, ps->name, 0, 0, n, 0, 0, 0);
}

static unsigned key_bucket(const char *key)
{
	unsigned h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % KEYSET_BUCKETS;
}

/* The sender holding `key` in flight, or -1; ps->lock held. */
static int key_owner(struct pstream *ps, const char *key)
{
	for (struct inflight_key *k = ps->inflight[key_bucket(key)]; k; k = k->next)
		if (strcmp(k->key, key) == 0)
			return k->owner;
	return -1;
}

/* Marks key as held by sender `owner`; ps->lock held.  0 or -ENOMEM. */
static int key_hold(struct pstream *ps, const char *key, int owner)
{
	size_t len = strlen(key) + 1;
	struct inflight_key *k = malloc(sizeof(*k) + len);
	unsigned b = key_bucket(key);

	if (!k)
		return -ENOMEM;
	k->owner = owner;
	memcpy(k->key, key, len);
	k->next = ps->inflight[b];
	ps->inflight[b] = k;
	return 0;
}

/* Lets go of every key held by sender `owner`; ps->lock held. */
static void keys_release(struct pstream *ps, int owner)
{
	for (int b = 0; b < KEYSET_BUCKETS; b++) {
		struct inflight_key **kp = &ps->inflight[b];

		while (*kp) {
			struct inflight_key *k = *kp;
			if (k->owner == owner) {
				*kp = k->next;
				free(k);
			} else {
				kp = &k->next;
			}
		}
	}
}

/*
 * Takes the next batch for sender `me` out of the queue: records in queue
 * order, skipping those whose key another sender has in flight (and so,
 * since the key stays held, every later record of that key too).  A run
 * is a batch of its own.  Looks at a bounded part of the queue.  ps->lock
 * held.  Returns the count of queue entries, the records they stand for
 * in *records_out.
 */
static size_t take_batch(struct pstream *ps, int me, struct precord **batch,
			 size_t *records_out)
{
	const struct kfs_producer_config *cfg = &ps->p->cfg;
	struct precord **pp = &ps->head, *prev = NULL;
	size_t n = 0, records = 0, bytes = 0, scanned = 0;
	size_t max = ps->aggregate ? KFS_PRODUCER_AGG_BATCH : cfg->batch_records;
	size_t scan_max = 4 * max;
	int shared = cfg->max_inflight > 1;

	while (*pp && n < max && scanned++ < scan_max) {
		struct precord *r = *pp;
		int owner = shared ? key_owner(ps, r->key) : -1;

		if (owner != -1 && owner != me) {
			prev = r;
			pp = &r->next;
			continue;
		}
		if (n > 0 && (r->run || bytes + r->wire > cfg->batch_bytes))
			break;
		if (shared && owner == -1 && key_hold(ps, r->key, me) != 0)
			break; /* out of memory: send what we have */
		*pp = r->next;
		if (ps->tail == r)
			ps->tail = prev;
		bytes += r->wire;
		records += r->n;
		batch[n++] = r;
		if (r->run)
			break;
	}
	ps->count -= records;
	ps->bytes -= bytes;
	if (!ps->head)
		ps->kicked = 0;
	*records_out = records;
	return n;
}

static void *sender_main(void *arg)
{
	struct sender *me = arg;
	struct pstream *ps = me->ps;
	struct kfs_producer *p = ps->p;
	const struct kfs_producer_config *cfg = &p->cfg;
	int cheap = (p->be->ops->caps & KFS_CAP_CHEAP_PUT) != 0;
	unsigned seed = (unsigned)kfs_mono_ms() ^ (unsigned)(uintptr_t)me;
	size_t batch_cap = cfg->batch_records > KFS_PRODUCER_AGG_BATCH
			   ? cfg->batch_records : KFS_PRODUCER_AGG_BATCH;
	struct precord **batch = malloc(batch_cap * sizeof(*batch));

	pthread_mutex_lock(&ps->lock);
	for (;;) {
		size_t n, records;
		int agg;

		while (!ps->head && !ps->stop)
			pthread_cond_wait(&ps->wake, &ps->lock);
		if (!ps->head)
			break;
		/* The producer's flag too, not only the stream's, which
		 * kfs_producer_free sets a moment later: a batch that ends
		 * in between must not start the next one past the drain
		 * deadline. */
		if (ps->stop || __atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE)) {
			int64_t deadline;

			pthread_mutex_lock(&p->lock);
			deadline = p->drain_deadline;
			pthread_mutex_unlock(&p->lock);
			if (kfs_clock_mono(cfg->clock) >= deadline) {
				prod_fail_queued(ps);
				break;
			}
		} else if ((!cheap || ps->aggregate) && !ps->kicked &&
			   ps->count < (ps->aggregate ? KFS_PRODUCER_AGG_BATCH
						      : cfg->batch_records) &&
			   ps->bytes < cfg->batch_bytes) {
			int64_t due = ps->head->enq_ms +
				      (ps->aggregate ? cfg->agg_linger_ms
						     : cfg->linger_ms);

			if (kfs_clock_mono(cfg->clock) < due) {
				kfs_clock_wait_until(cfg->clock, &ps->wake,
						     &ps->lock, due);
				continue;
			}
		}
		if (!batch) {
			batch = malloc(batch_cap * sizeof(*batch));
			if (!batch) {
				/* Try again shortly rather than lose records. */
				kfs_clock_wait_until(cfg->clock, &ps->wake, &ps->lock,
						     kfs_clock_mono(cfg->clock) + 10);
				continue;
			}
		}
		n = take_batch(ps, me->idx, batch, &records);
		if (n == 0) {
			/* Every queued key is in another batch: wait for
			 * one to finish (or for the drain deadline). */
			kfs_clock_wait_until(cfg->clock, &ps->wake, &ps->lock,
					     kfs_clock_mono(cfg->clock) + 100);
			continue;
		}
		if (ps->head)
			pthread_cond_signal(&ps->wake); /* more for another sender */
		ps->busy++;
		ps->inflight_n += records;
		me->since = batch[0]->enq_ms;   /* batches keep queue order */
		me->flight = batch;
		me->flight_n = n;
		me->flight_records = records;
		agg = ps->aggregate;
		me->ring_spread = ps->spread;
		pthread_mutex_unlock(&ps->lock);
		if (agg && !(n == 1 && batch[0]->run))
			prod_send_aggregated(me, batch, n, &seed);
		else
			send_batch(me, batch, n, &seed);
		pthread_mutex_lock(&ps->lock);
		ps->busy--;
		if (cfg->max_inflight > 1) {
			keys_release(ps, me->idx);
			pthread_cond_broadcast(&ps->wake);
		}
	}
	pthread_mutex_unlock(&ps->lock);
	free(batch);
	free(me->ring);
	me->ring = NULL;
	pthread_mutex_lock(&p->lock);
	p->running--;
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void prod_stream_destroy(struct pstream *ps)
{
	prod_rate_destroy(&ps->rate);
	pthread_cond_destroy(&ps->wake);
	pthread_mutex_destroy(&ps->lock);
	for (int b = 0; b < KEYSET_BUCKETS; b++)
		while (ps->inflight[b]) {
			struct inflight_key *k = ps->inflight[b];
			ps->inflight[b] = k->next;
			free(k);
		}
	free(ps->senders);
	free(ps->threads);
	free(ps);
}

/* Finds or makes the queue of `stream`, starting its senders; called with
 * p->lock held. */
struct pstream *prod_stream_get(struct kfs_producer *p, const char *stream)
{
	struct pstream *ps;
	int want = p->cfg.max_inflight;

	for (ps = p->streams; ps; ps = ps->next)
		if (strcmp(ps->name, stream) == 0)
			return ps;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	snprintf(ps->name, sizeof(ps->name), "%s", stream);
	ps->p = p;
	ps->aggregate = p->cfg.aggregate != 0;
	ps->spread = p->cfg.spread != 0;
	pthread_mutex_init(&ps->lock, NULL);
	pthread_cond_init(&ps->wake, NULL);
	prod_rate_init(&ps->rate);
	ps->threads = calloc((size_t)want, sizeof(*ps->threads));
	ps->senders = calloc((size_t)want, sizeof(*ps->senders));
	for (int i = 0; ps->threads && ps->senders && i < want; i++) {
		ps->senders[i].ps = ps;
		ps->senders[i].idx = i;
		if (pthread_create(&ps->threads[i], NULL, sender_main,
				   &ps->senders[i]) != 0)
			break;
		ps->nthreads++;
		p->running++;
	}
	if (ps->nthreads == 0) {
		prod_stream_destroy(ps);
		return NULL;
	}
	ps->next = p->streams;
	p->streams = ps;
	return ps;
}

int kfs_producer_put(struct kfs_producer *p, const char *stream,
		     const char *key, const char *explicit_hash_key,
		     const void *data, size_t len, struct kfs_ack *ack)
{
	struct iovec v = { .iov_base = (void *)data, .iov_len = len };

	return kfs_producer_put_many(p, stream, key, explicit_hash_key, &v, 1,
				     ack);
}

#define PALIGN(x) (((x) + 15) & ~(size_t)15)

/* Records in one call that are queued as one run, for a cheap backend. */
#define RUN_MIN 32

/*
 * Builds the block of n records of one key: with an entry for each
 * record, or, as a run, with one entry standing for all of them and their
 * data back to back.  Sets *first and *last (the entries to queue) and
 * *wire; returns the block, NULL when out of memory.
 */
static struct pblock *block_make(const char *key, const char *ehk,
				 const struct iovec *v, size_t n, int run,
				 struct kfs_ack *ack, struct precord **first,
				 struct precord **last, size_t *wire)
{
	size_t klen = strlen(key) + 1;
	size_t elen = ehk ? strlen(ehk) + 1 : 0;
	size_t head = PALIGN(sizeof(struct pblock) + klen + elen);
	size_t size = head, data = 0;
	struct precord *prev = NULL;
	struct pblock *b;
	char *at;

	for (size_t i = 0; i < n; i++)
		data += v[i].iov_len;
	if (run)
		size += PALIGN(sizeof(struct precord)) +
			PALIGN(n * sizeof(struct iovec)) + data;
	else
		for (size_t i = 0; i < n; i++)
			size += PALIGN(sizeof(struct precord) + v[i].iov_len);
	b = malloc(size);
	if (!b)
		return NULL;
	b->refs = run ? 1 : (unsigned)n;
	at = (char *)(b + 1);
	memcpy(at, key, klen);
	key = at;
	if (elen) {
		memcpy(at + klen, ehk, elen);
		ehk = at + klen;
	}
	at = (char *)b + head;
	*first = (struct precord *)at;
	*wire = data + n * klen;
	if (run) {
		struct precord *r = *first;
		struct iovec *rv = (struct iovec *)((char *)r +
				   PALIGN(sizeof(*r)));
		unsigned char *d = (unsigned char *)rv +
				   PALIGN(n * sizeof(struct iovec));

		*r = (struct precord){ .blk = b, .ack = ack, .key = key,
				       .ehk = ehk, .run = rv, .n = n,
				       .cost = size, .wire = *wire };
		for (size_t i = 0; i < n; i++) {
			rv[i].iov_base = d;
			rv[i].iov_len = v[i].iov_len;
			if (v[i].iov_len)
				memcpy(d, v[i].iov_base, v[i].iov_len);
			d += v[i].iov_len;
		}
		*last = r;
		return b;
	}
	/* A record costs what it takes in memory (the block's header goes
	 * with the first), so that the queue bound bounds the daemon's
	 * memory, whatever the size of the records. */
	for (size_t i = 0; i < n; i++) {
		struct precord *r = (struct precord *)at;
		size_t rsize = PALIGN(sizeof(*r) + v[i].iov_len);

		*r = (struct precord){ .blk = b, .ack = ack, .key = key,
				       .ehk = ehk, .n = 1,
				       .data = (unsigned char *)(r + 1),
				       .len = v[i].iov_len,
				       .cost = rsize + (i == 0 ? head : 0),
				       .wire = v[i].iov_len + klen };
		if (v[i].iov_len)
			memcpy(r + 1, v[i].iov_base, v[i].iov_len);
		if (prev)
			prev->next = r;
		prev = r;
		at += rsize;
	}
	*last = prev;
	return b;
}

int kfs_producer_put_many(struct kfs_producer *p, const char *stream,
			  const char *key, const char *explicit_hash_key,
			  const struct iovec *v, size_t n, struct kfs_ack *ack)
{
	/* A big write to a cheap backend is one queue entry, stored by the
	 * sender with one append while the writer goes on (unless its
	 * records are to be aggregated). */
	int run = n >= RUN_MIN && (p->be->ops->caps & KFS_CAP_CHEAP_PUT) &&
		  !kfs_producer_modes(p, stream);
	struct precord *first, *last;
	struct pstream *ps;
	struct pblock *b;
	size_t total = 0, wire;
	int64_t now;
	int wake;

	if (n == 0)
		return 0;
	b = block_make(key, explicit_hash_key, v, n, run, ack, &first, &last,
		       &wire);
	if (!b)
		return -ENOMEM;
	for (struct precord *r = first; r; r = r == last ? NULL : r->next)
		total += r->cost;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping && p->queued > 0 &&
	       (p->queued + total > p->cfg.queue_bytes ||
		(run && p->queued_runs > 0 &&
		 p->queued_runs + total > KFS_PRODUCER_RUN_QUEUE_MAX)))
		pthread_cond_wait(&p->space, &p->lock);
	ps = p->stopping ? NULL : prod_stream_get(p, stream);
	if (!ps) {
		int err = p->stopping ? -ESHUTDOWN : -ENOMEM;
		pthread_mutex_unlock(&p->lock);
		free(b);
		return err;
	}
	p->queued += total;
	p->queued_runs += run ? total : 0;
	pthread_mutex_unlock(&p->lock);

	pthread_mutex_lock(&ack->lock);
	ack->pending += n;
	pthread_mutex_unlock(&ack->lock);

	now = kfs_clock_mono(p->cfg.clock);
	for (struct precord *r = first; r; r = r == last ? NULL : r->next)
		r->enq_ms = now;
	pthread_mutex_lock(&ps->lock);
	wake = ps->head == NULL;
	if (ps->tail)
		ps->tail->next = first;
	else
		ps->head = first;
	ps->tail = last;
	ps->count += n;
	ps->bytes += wire;
	if (wake || run || ps->count >= p->cfg.batch_records ||
	    ps->bytes >= p->cfg.batch_bytes)
		pthread_cond_signal(&ps->wake);
	pthread_mutex_unlock(&ps->lock);
	return 0;
}

void kfs_producer_kick(struct kfs_producer *p, const char *stream)
{
	struct pstream *ps;

	pthread_mutex_lock(&p->lock);
	for (ps = p->streams; ps; ps = ps->next)
		if (strcmp(ps->name, stream) == 0)
			break;
	pthread_mutex_unlock(&p->lock);
	if (!ps)
		return;
	/* Streams are only freed by kfs_producer_free, after every writer
	 * is gone, so ps stays valid here. */
	pthread_mutex_lock(&ps->lock);
	if (ps->head) {
		ps->kicked = 1;
		pthread_cond_signal(&ps->wake);
	}
	pthread_mutex_unlock(&ps->lock);
}

void kfs_producer_stats(struct kfs_producer *p, struct kfs_producer_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->stats;
	out->queued_bytes = p->queued;
	pthread_mutex_unlock(&p->lock);
}

static int queue_by_name(const void *a, const void *b)
{
	return strcmp(((const struct kfs_producer_queue *)a)->name,
		      ((const struct kfs_producer_queue *)b)->name);
}

/* The oldest of two queue times, 0 standing for none. */
static int64_t oldest(int64_t a, int64_t b)
{
	return a == 0 || (b != 0 && b < a) ? b : a;
}

int kfs_producer_queues(struct kfs_producer *p, struct kfs_producer_queue **out,
			size_t *n, size_t *memory, size_t *limit)
{
	struct kfs_producer_queue *q;
	struct pstream *ps, *first;
	size_t count = 0, i = 0;
	int64_t now = kfs_clock_mono(p->cfg.clock);

	/* Streams are only added at the head and freed with the producer:
	 * the list from `first` on holds still once the lock is let go. */
	pthread_mutex_lock(&p->lock);
	first = p->streams;
	*memory = p->queued;
	pthread_mutex_unlock(&p->lock);
	*limit = p->cfg.queue_bytes;
	for (ps = first; ps; ps = ps->next)
		count++;
	*out = NULL;
	*n = 0;
	if (count == 0)
		return 0;
	q = calloc(count, sizeof(*q));
	if (!q)
		return -ENOMEM;
	for (ps = first; ps; ps = ps->next, i++) {
		int64_t since;

		snprintf(q[i].name, sizeof(q[i].name), "%s", ps->name);
		pthread_mutex_lock(&ps->lock);
		q[i].queued_records = ps->count;
		q[i].queued_bytes = ps->bytes;
		q[i].inflight_records = ps->inflight_n;
		since = ps->head ? ps->head->enq_ms : 0;
		for (int s = 0; s < ps->nthreads; s++)
			since = oldest(since, ps->senders[s].since);
		pthread_mutex_unlock(&ps->lock);
		q[i].oldest_ms = since ? now - since : 0;
	}
	qsort(q, count, sizeof(*q), queue_by_name);
	*out = q;
	*n = count;
	return 0;
}
