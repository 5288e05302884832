/*
 * producer_rate.c - throttling as backpressure (docs/aws.md, "Throttling
 * as backpressure"): a per-shard write rate that adapts to the service's
 * throttling answers, as the KPL's per-shard rate limit does.
 *
 * A shard is not limited until the service throttles one of its entries.
 * From then on, the puts to it are paced at a rate of bytes and of
 * records a second: at first what the service took of it over the last
 * second (counted from the answers), then shrunk by SHRINK at each
 * further throttling answer (at most once per SHRINK_GAP_MS, never below
 * RATE_MIN of the service's limits: throttling that does not come from
 * the rate, as a fault's or another producer's, must not bring a shard
 * to a crawl) and grown by GROW each second without one (never above the service's per-shard limits, KFS_SHARD_WRITE_BYTES
 * and _RECORDS: an endpoint that allows more does not throttle, and is
 * never paced).  Pacing is a GCRA per limit: each call
 * reserves its entries' bytes and records on their shards, and waits
 * until the shards it reserved on are within BURST_MS of their
 * theoretical arrival time.  The sender waiting is what slows the
 * writers: the queue fills and their writes block (producer.h), instead
 * of retries spending the shards' capacity on throttled calls.
 *
 * Which shard an entry goes to is worked out as the service does it:
 * its explicit hash key, or the MD5 of its partition key, in the hash
 * ranges of the open shards (listed again every MAP_REFRESH_MS, or when
 * an entry falls in none).  Only backends whose puts are API calls use
 * it (not KFS_CAP_CHEAP_PUT).
 */
#include "producer_impl.h"
#include "local/ids.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define KFS_SHARD_WRITE_BYTES (1024.0 * 1024.0)
#define KFS_SHARD_WRITE_RECORDS 1000.0
#define SHRINK 0.85
#define SHRINK_GAP_MS 200
#define GROW 1.25
#define RATE_MIN 0.25
#define SLOTS 10                 /* the last second, in tenths */
#define BURST_MS 250.0
#define WAIT_MAX_MS 2000
#define MAP_REFRESH_MS 10000

struct prate_shard {
	char id[KFS_SHARD_ID_LEN + 1];
	char start_s[KFS_HASH_KEY_MAX];  /* start, decimal: spreading's hash key */
	unsigned __int128 start, end;
	int limited;              /* a throttling answer was seen */
	double rate_bytes;        /* paced at, a second, when limited */
	double rate_records;
	double tat_bytes;         /* theoretical arrival times, ms */
	double tat_records;
	int64_t throttled_ms;     /* last throttling answer */
	int64_t grown_ms;         /* last growth of the rates */
	/* What the service took, by tenth of a second (slot = ms / 100). */
	struct { int64_t slot; double bytes, records; } took[SLOTS];
};

void prod_rate_init(struct prate *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

void prod_rate_destroy(struct prate *r)
{
	free(r->v);
	pthread_mutex_destroy(&r->lock);
}

/* Lists the stream's open shards into the map, keeping the state of
 * those it had; without the lock held. */
static void map_refresh(struct pstream *ps, int64_t now)
{
	struct kfs_producer *p = ps->p;
	struct prate *r = &ps->rate;
	struct kfs_shard_list sl = { 0 };
	struct prate_shard *v;
	size_t n = 0;

	if (!p->be->ops->list_shards ||
	    p->be->ops->list_shards(p->be->impl, ps->name, &sl) != 0 ||
	    !(v = calloc(sl.n ? sl.n : 1, sizeof(*v)))) {
		pthread_mutex_lock(&r->lock);
		r->listed_ms = now;   /* not again at once */
		pthread_mutex_unlock(&r->lock);
		kfs_shard_list_clear(&sl);
		return;
	}
	for (size_t i = 0; i < sl.n; i++) {
		struct prate_shard *x = &v[n];

		if (sl.v[i].closed ||
		    kfs_ids_parse_u128(sl.v[i].hash_start, &x->start) < 0 ||
		    kfs_ids_parse_u128(sl.v[i].hash_end, &x->end) < 0)
			continue;
		memcpy(x->id, sl.v[i].id, sizeof(x->id));
		memcpy(x->start_s, sl.v[i].hash_start, sizeof(x->start_s));
		n++;
	}
	kfs_shard_list_clear(&sl);
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < r->n; j++)
			if (!strcmp(v[i].id, r->v[j].id)) {
				v[i] = r->v[j];
				break;
			}
	free(r->v);
	r->v = v;
	r->n = n;
	r->listed_ms = now;
	pthread_mutex_unlock(&r->lock);
}

int64_t prod_rate_map_fresh(struct pstream *ps, int64_t *listed_ms)
{
	struct prate *r = &ps->rate;
	int64_t now = kfs_clock_mono(ps->p->cfg.clock);
	int stale;

	pthread_mutex_lock(&r->lock);
	stale = !r->listed_ms || now - r->listed_ms >= MAP_REFRESH_MS;
	pthread_mutex_unlock(&r->lock);
	if (stale)
		map_refresh(ps, now);
	if (listed_ms) {
		pthread_mutex_lock(&r->lock);
		*listed_ms = r->listed_ms;
		pthread_mutex_unlock(&r->lock);
	}
	return now;
}

size_t prod_rate_starts(struct pstream *ps, int64_t *listed_ms,
			char (**out)[KFS_HASH_KEY_MAX])
{
	struct prate *r = &ps->rate;
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	*listed_ms = r->listed_ms;
	*out = malloc((n ? n : 1) * sizeof(**out));
	for (size_t i = 0; *out && i < n; i++)
		memcpy((*out)[i], r->v[i].start_s, sizeof((*out)[i]));
	pthread_mutex_unlock(&r->lock);
	return *out ? n : 0;
}

/* The map's index of the shard holding entry e, or -1; r->lock held. */
static int shard_of(const struct prate *r, const struct kfs_put_entry *e)
{
	unsigned __int128 h;

	if (e->explicit_hash_key
	    ? kfs_ids_parse_u128(e->explicit_hash_key, &h) < 0
	    : kfs_ids_md5_hash(e->key, strlen(e->key), &h) < 0)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (h >= r->v[i].start && h <= r->v[i].end)
			return (int)i;
	return -1;
}

static int64_t reserve(double *tat, double now, double cost_ms)
{
	double start = *tat > now ? *tat : now;
	double wait = start - now - BURST_MS;

	*tat = start + cost_ms;
	return wait > 0 ? (int64_t)wait + 1 : 0;
}

void prod_rate_wait(struct sender *me, const struct kfs_put_entry *e,
		    size_t n)
{
	struct pstream *ps = me->ps;
	struct kfs_producer *p = ps->p;
	struct prate *r = &ps->rate;
	int64_t now, wait = 0;
	int missing = 0;

	if (p->be->ops->caps & KFS_CAP_CHEAP_PUT || n == 0)
		return;
	now = prod_rate_map_fresh(ps, NULL);
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		int s = shard_of(r, &e[i]);
		struct prate_shard *x;
		double size = (double)(e[i].len + strlen(e[i].key));
		int64_t w;

		if (s < 0) {
			missing = 1;
			continue;
		}
		x = &r->v[s];
		if (!x->limited)
			continue;
		w = reserve(&x->tat_bytes, (double)now,
			    size * 1000.0 / x->rate_bytes);
		if (w > wait)
			wait = w;
		w = reserve(&x->tat_records, (double)now, 1000.0 / x->rate_records);
		if (w > wait)
			wait = w;
	}
	/* An entry in no known shard: the shards changed (a reshard). */
	if (missing && now - r->listed_ms >= 1000)
		r->listed_ms = 0;
	pthread_mutex_unlock(&r->lock);
	if (wait > 0)
		kfs_clock_sleep(p->cfg.clock, wait < WAIT_MAX_MS ? wait : WAIT_MAX_MS);
}

/* Counts what the service took of shard x now, and sums the last
 * second of it. */
static void took(struct prate_shard *x, int64_t now, double bytes,
		 double records, double *sum_bytes, double *sum_records)
{
	int64_t slot = now / 100;
	int k = (int)(slot % SLOTS);

	if (x->took[k].slot != slot) {
		x->took[k].slot = slot;
		x->took[k].bytes = x->took[k].records = 0;
	}
	x->took[k].bytes += bytes;
	x->took[k].records += records;
	*sum_bytes = *sum_records = 0;
	for (int i = 0; i < SLOTS; i++)
		if (slot - x->took[i].slot < SLOTS) {
			*sum_bytes += x->took[i].bytes;
			*sum_records += x->took[i].records;
		}
}

static double clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void prod_rate_learn(struct sender *me, const struct kfs_put_entry *e,
		     size_t n)
{
	struct pstream *ps = me->ps;
	struct kfs_producer *p = ps->p;
	struct prate *r = &ps->rate;
	int64_t now;

	if (p->be->ops->caps & KFS_CAP_CHEAP_PUT || n == 0)
		return;
	now = kfs_clock_mono(p->cfg.clock);
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		int s = shard_of(r, &e[i]);
		struct prate_shard *x;
		double sb, sr;

		if (s < 0)
			continue;
		x = &r->v[s];
		took(x, now, e[i].err ? 0 : (double)(e[i].len + strlen(e[i].key)),
		     e[i].err ? 0 : 1, &sb, &sr);
		if (e[i].err == -EAGAIN) {
			if (!x->limited) {
				/* What it took over the last second is what
				 * it can take. */
				x->limited = 1;
				x->rate_bytes = clamp(sb, RATE_MIN * KFS_SHARD_WRITE_BYTES,
						      KFS_SHARD_WRITE_BYTES);
				x->rate_records = clamp(sr, RATE_MIN * KFS_SHARD_WRITE_RECORDS,
							KFS_SHARD_WRITE_RECORDS);
				x->grown_ms = now;
				kfs_info("stream %s, %s: throttled: writes to it are "
					 "paced from now on", ps->name, x->id);
			} else if (now - x->throttled_ms >= SHRINK_GAP_MS) {
				x->rate_bytes = clamp(x->rate_bytes * SHRINK,
						      RATE_MIN * KFS_SHARD_WRITE_BYTES,
						      KFS_SHARD_WRITE_BYTES);
				x->rate_records = clamp(x->rate_records * SHRINK,
							RATE_MIN * KFS_SHARD_WRITE_RECORDS,
							KFS_SHARD_WRITE_RECORDS);
			}
			/* The shard's budget is spent: no burst now, the
			 * next entries wait their turn at the rate. */
			if (x->tat_bytes < now + BURST_MS)
				x->tat_bytes = (double)now + BURST_MS;
			if (x->tat_records < now + BURST_MS)
				x->tat_records = (double)now + BURST_MS;
			x->throttled_ms = now;
		} else if (e[i].err == 0 && x->limited &&
			   now - x->throttled_ms >= 1000 &&
			   now - x->grown_ms >= 1000) {
			x->rate_bytes = clamp(x->rate_bytes * GROW, 0,
					      KFS_SHARD_WRITE_BYTES);
			x->rate_records = clamp(x->rate_records * GROW, 0,
						KFS_SHARD_WRITE_RECORDS);
			x->grown_ms = now;
		}
	}
	pthread_mutex_unlock(&r->lock);
}
