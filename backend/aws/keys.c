/*
 * keys.c - key files on the AWS backend; see keys.h and docs/aws.md,
 * "Key files".
 *
 * Counting.  Per tracked key (one that a name refers to) and shard, this
 * mount keeps running totals of the key's records it has counted: bytes
 * in both framings, records, the newest arrival, and the highest
 * sequence number counted.  A position (the tip hook) is a copy of those
 * totals with that sequence number, or, where none is known, the time:
 * the key's records after it are those with a greater sequence number
 * (AFTER_SEQUENCE_NUMBER), or arriving at or after the time
 * (AT_TIMESTAMP).  A window's size is the difference of the totals at
 * its two ends.  For that to be right, every record counted after a
 * position must lie after it, and every one counted before it, before:
 *
 *  - a read counts a record only above the highest one counted (or, with
 *    none, arriving at or after the last position's time): records
 *    skipped over are never counted later, so a size is a lower bound;
 *  - a put counts its own records only above the last position handed
 *    out (or, with none, when the request was sent after its time): two
 *    writers' results may come back out of order, and each is counted;
 *  - a record both read and reported by a put (a reader got it before
 *    the put's answer came back) is counted once: while puts are in
 *    flight (put_begin to put), a read remembers each record it counts
 *    as a claim, which the put reporting it takes instead of counting
 *    it again; a claim goes once no put sent before the read is in
 *    flight (no later put can report a record that was already read);
 *  - when a key becomes tracked in a shard, counting starts above the
 *    highest sequence number this mount has seen there (of any key):
 *    positions are then sequence numbers from the start, and the mount's
 *    own later records are after them exactly, whatever the clocks say.
 *
 * Iterators.  key_iterator hands out the service iterator (aws.c's
 * composite, which survives expiry) wrapped with the key and the
 * window's end:
 *
 *   kfsk1|END_KIND|END_SEQ|END_MS|KEY_LEN|KEY|INNER
 *
 * END_KIND 0: no end (a live window), 1: up to END_SEQ, 2: before
 * END_MS.  KEY is KEY_LEN bytes (it may hold '|'); INNER is the composite.
 *
 * Lock order: the names table's lock, then keys_lock; keys_lock is never
 * held across a request or a call into the names table.
 */
#include "keys.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "backend/kpl/agg.h"
#include "backend/kpl/expand.h"
#include "lib/log.h"
#include "lib/util.h"

#define END_SETTLE_MS 1000       /* a record arriving before a time end may
				  * take this long to be readable at the tip */
#define ITER_MAGIC "kfsk1|"

enum end_kind { END_NONE = 0, END_SEQ = 1, END_TIME = 2 };

/* A record a read counted while puts were in flight: the puts sent
 * before the read (ticket below `before`) may report it again. */
struct claim {
	char seq[KFS_SEQ_MAX];
	uint64_t before;
};

/* One tracked key in one shard. */
struct kshard {
	char shard[KFS_SHARD_ID_LEN + 1];   /* fixed */
	uint64_t cum[KFS_FRAMING_COUNT];    /* bytes counted; keys_lock */
	uint64_t records;                   /* records counted; keys_lock */
	int64_t last_ms;                    /* newest counted arrival, -1 none;
					     * keys_lock */
	char max_seq[KFS_SEQ_MAX];          /* highest counted, or where counting
					     * began; "" none; keys_lock */
	char fence_seq[KFS_SEQ_MAX];        /* that of the last position handed
					     * out ("" none); keys_lock */
	int64_t fence_ms;                   /* with fence_seq "": the time of the
					     * last position (or of tracking);
					     * keys_lock */
	struct claim *claims;               /* records reads counted that a put
					     * in flight may report; keys_lock */
	size_t n_claims, cap_claims;        /* keys_lock */
};

/* A tracked key of a stream. */
struct tkey {
	struct tkey *next;                  /* hash chain; keys_lock */
	uint64_t hash;                      /* fixed */
	char *stream, *key;                 /* fixed, owned */
	int64_t since_ms;                   /* fixed: when tracking began */
	struct kshard *shards;              /* owned; keys_lock */
	size_t n_shards, cap_shards;        /* keys_lock */
};

/* The highest sequence number this mount has seen in a shard. */
struct seen {
	char stream[KFS_STREAM_NAME_MAX + 1];
	char shard[KFS_SHARD_ID_LEN + 1];
	char seq[KFS_SEQ_MAX];
};

struct kfs_aws_keys {
	struct kfs_aws_keys_env env;        /* fixed */
	struct kfs_names *names;            /* owned; fixed */
	pthread_mutex_t lock;               /* "keys_lock": everything below */
	struct tkey **tab;                  /* hash table; keys_lock */
	size_t cap_tab, n_keys;             /* keys_lock */
	struct seen *seen;                  /* keys_lock */
	size_t n_seen, cap_seen;            /* keys_lock */
	uint64_t last_ticket;               /* the latest put's (from 1);
					     * keys_lock */
	uint64_t *inflight;                 /* tickets of the puts sent and not
					     * answered, ascending; keys_lock */
	size_t n_inflight, cap_inflight;    /* keys_lock */
};

/* ---- sequence numbers ---------------------------------------------- */

int kfs_aws_seq_cmp(const char *a, const char *b)
{
	size_t la, lb;
	int c;

	while (*a == '0' && a[1])
		a++;
	while (*b == '0' && b[1])
		b++;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	c = strcmp(a, b);
	return c < 0 ? -1 : c > 0;
}

static void seq_set(char dst[KFS_SEQ_MAX], const char *src)
{
	snprintf(dst, KFS_SEQ_MAX, "%s", src);
}

/* ---- the tables ---------------------------------------------------- */

static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (; *b; b++)
		h = (h ^ (unsigned char)*b) * 1099511628211ULL;
	return h;
}

static struct tkey *tkey_find(struct kfs_aws_keys *k, const char *stream,
			      const char *key)
{
	uint64_t h;

	if (k->n_keys == 0)
		return NULL;
	h = hash2(stream, key);
	for (struct tkey *t = k->tab[h % k->cap_tab]; t; t = t->next)
		if (t->hash == h && !strcmp(t->key, key) &&
		    !strcmp(t->stream, stream))
			return t;
	return NULL;
}

static void tkey_free(struct tkey *t)
{
	for (size_t i = 0; i < t->n_shards; i++)
		free(t->shards[i].claims);
	free(t->shards);
	free(t->stream);
	free(t->key);
	free(t);
}

/* Grows the table to hold one more key; -ENOMEM. */
static int tab_grow(struct kfs_aws_keys *k)
{
	size_t cap = k->cap_tab ? 2 * k->cap_tab : 64;
	struct tkey **v;

	if (k->n_keys + 1 <= k->cap_tab * 3 / 4)
		return 0;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return k->n_keys < k->cap_tab ? 0 : -ENOMEM;
	for (size_t i = 0; i < k->cap_tab; i++) {
		while (k->tab[i]) {
			struct tkey *t = k->tab[i];
			k->tab[i] = t->next;
			t->next = v[t->hash % cap];
			v[t->hash % cap] = t;
		}
	}
	free(k->tab);
	k->tab = v;
	k->cap_tab = cap;
	return 0;
}

static int tkey_add(struct kfs_aws_keys *k, const char *stream,
		    const char *key, struct tkey **out)
{
	struct tkey *t;

	*out = tkey_find(k, stream, key);
	if (*out)
		return 0;
	if (tab_grow(k) < 0)
		return -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->stream = strdup(stream)) || !(t->key = strdup(key))) {
		if (t)
			tkey_free(t);
		return -ENOMEM;
	}
	t->hash = hash2(stream, key);
	t->since_ms = kfs_clock_now(k->env.clock);
	t->next = k->tab[t->hash % k->cap_tab];
	k->tab[t->hash % k->cap_tab] = t;
	k->n_keys++;
	*out = t;
	return 0;
}

static void tkey_del(struct kfs_aws_keys *k, struct tkey *t)
{
	struct tkey **pp = &k->tab[t->hash % k->cap_tab];

	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = t->next;
		k->n_keys--;
	}
	tkey_free(t);
}

/* The seen entry of (stream, shard); made when `make` (NULL when out of
 * memory). */
static struct seen *seen_of(struct kfs_aws_keys *k, const char *stream,
			    const char *shard, int make)
{
	struct seen *s;

	for (size_t i = 0; i < k->n_seen; i++)
		if (!strcmp(k->seen[i].shard, shard) &&
		    !strcmp(k->seen[i].stream, stream))
			return &k->seen[i];
	if (!make)
		return NULL;
	if (k->n_seen == k->cap_seen) {
		size_t cap = k->cap_seen ? 2 * k->cap_seen : 16;
		struct seen *v = realloc(k->seen, cap * sizeof(*v));
		if (!v)
			return NULL;
		k->seen = v;
		k->cap_seen = cap;
	}
	s = &k->seen[k->n_seen++];
	memset(s, 0, sizeof(*s));
	snprintf(s->stream, sizeof(s->stream), "%s", stream);
	snprintf(s->shard, sizeof(s->shard), "%s", shard);
	return s;
}

static void seen_raise(struct kfs_aws_keys *k, const char *stream,
		       const char *shard, const char *seq)
{
	struct seen *s = seen_of(k, stream, shard, 1);

	if (s && kfs_aws_seq_cmp(seq, s->seq) > 0)
		seq_set(s->seq, seq);
}

/* The state of tracked key t in `shard`, made when missing: counting
 * begins above what the mount has seen of the shard, or at the time
 * tracking began.  NULL when out of memory. */
static struct kshard *kshard_of(struct kfs_aws_keys *k, struct tkey *t,
				const char *shard)
{
	struct seen *sn;
	struct kshard *s;

	for (size_t i = 0; i < t->n_shards; i++)
		if (!strcmp(t->shards[i].shard, shard))
			return &t->shards[i];
	if (t->n_shards == t->cap_shards) {
		size_t cap = t->cap_shards ? 2 * t->cap_shards : 1;
		struct kshard *v = realloc(t->shards, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->shards = v;
		t->cap_shards = cap;
	}
	s = &t->shards[t->n_shards++];
	memset(s, 0, sizeof(*s));
	snprintf(s->shard, sizeof(s->shard), "%s", shard);
	s->last_ms = -1;
	sn = seen_of(k, t->stream, shard, 0);
	if (sn) {
		seq_set(s->max_seq, sn->seq);
		seq_set(s->fence_seq, sn->seq);
	}
	s->fence_ms = t->since_ms;
	return s;
}

static void count_bytes(struct kshard *s, const uint64_t b[KFS_FRAMING_COUNT],
			uint64_t records, const char *seq, int64_t arrival_ms)
{
	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		s->cum[f] += b[f];
	s->records += records;
	if (arrival_ms > s->last_ms)
		s->last_ms = arrival_ms;
	if (kfs_aws_seq_cmp(seq, s->max_seq) > 0)
		seq_set(s->max_seq, seq);
}

static void count(struct kshard *s, const void *data, size_t len,
		  const char *seq, int64_t arrival_ms)
{
	uint64_t b[KFS_FRAMING_COUNT];

	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		b[f] = kfs_framed_len((enum kfs_framing)f, data, len);
	count_bytes(s, b, 1, seq, arrival_ms);
}

/* ---- the put and get paths ----------------------------------------- */

/* Drops the claims of s that no put in flight can take: those of reads
 * made before the oldest put in flight was sent (all of them, with none
 * in flight). */
static void claims_prune(const struct kfs_aws_keys *k, struct kshard *s)
{
	uint64_t oldest = k->n_inflight ? k->inflight[0] : UINT64_MAX;
	size_t m = 0;

	for (size_t i = 0; i < s->n_claims; i++)
		if (oldest < s->claims[i].before)
			s->claims[m++] = s->claims[i];
	s->n_claims = m;
}

/* Remembers that a read counted seq while puts were in flight; -ENOMEM. */
static int claim_add(struct kfs_aws_keys *k, struct kshard *s, const char *seq)
{
	claims_prune(k, s);
	if (s->n_claims == s->cap_claims) {
		size_t cap = s->cap_claims ? 2 * s->cap_claims : 8;
		struct claim *v = realloc(s->claims, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->claims = v;
		s->cap_claims = cap;
	}
	seq_set(s->claims[s->n_claims].seq, seq);
	s->claims[s->n_claims++].before = k->last_ticket + 1;
	return 0;
}

/* 1 when a put's record at seq, sent at sent_ms, is to be counted. */
static int put_counts(struct kfs_aws_keys *k, struct kshard *s,
		      const char *seq, int64_t sent_ms)
{
	if (s->fence_seq[0] ? kfs_aws_seq_cmp(seq, s->fence_seq) <= 0
			    : sent_ms < s->fence_ms)
		return 0;
	for (size_t i = 0; i < s->n_claims; i++) {
		if (!strcmp(s->claims[i].seq, seq)) {
			/* A read counted it. */
			s->claims[i] = s->claims[--s->n_claims];
			return 0;
		}
	}
	claims_prune(k, s);
	return 1;
}

void kfs_aws_keys_put_begin(struct kfs_aws_keys *k, struct kfs_aws_keys_ticket *tk)
{
	pthread_mutex_lock(&k->lock);
	tk->sent_ms = kfs_clock_now(k->env.clock);
	tk->id = 0;
	if (k->n_inflight == k->cap_inflight) {
		size_t cap = k->cap_inflight ? 2 * k->cap_inflight : 16;
		uint64_t *v = realloc(k->inflight, cap * sizeof(*v));
		if (v) {
			k->inflight = v;
			k->cap_inflight = cap;
		}
	}
	if (k->n_inflight < k->cap_inflight) {
		/* Tickets grow: the list stays in order. */
		tk->id = ++k->last_ticket;
		k->inflight[k->n_inflight++] = tk->id;
	}
	pthread_mutex_unlock(&k->lock);
}

/* Takes ticket id off the puts in flight (keys_lock held). */
static void put_end(struct kfs_aws_keys *k, uint64_t id)
{
	for (size_t i = 0; i < k->n_inflight; i++) {
		if (k->inflight[i] == id) {
			memmove(&k->inflight[i], &k->inflight[i + 1],
				(k->n_inflight - i - 1) * sizeof(*k->inflight));
			k->n_inflight--;
			return;
		}
	}
}

void kfs_aws_keys_put(struct kfs_aws_keys *k,
		      const struct kfs_aws_keys_ticket *tk, const char *stream,
		      const struct kfs_put_entry *e, size_t n)
{
	int64_t now = kfs_clock_now(k->env.clock);

	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < n; i++) {
		const struct kfs_put_entry *en = &e[i];
		struct tkey *t;
		struct kshard *s;
		struct kfs_agg_keyset ks;

		if (en->err || !en->seq[0] || !en->shard_id[0] || !en->key)
			continue;
		if (kfs_agg_keys(en->data, en->len, &ks) == 1) {
			/* A KPL aggregated record: each tracked key of its
			 * user records counts its own. */
			for (size_t j = 0; j < ks.n; j++)
				if (tk->id && (t = tkey_find(k, stream, ks.v[j].key)) &&
				    (s = kshard_of(k, t, en->shard_id)) &&
				    put_counts(k, s, en->seq, tk->sent_ms))
					count_bytes(s, ks.v[j].bytes, ks.v[j].records,
						    en->seq, now);
			kfs_agg_keyset_clear(&ks);
			seen_raise(k, stream, en->shard_id, en->seq);
			continue;
		}
		t = tkey_find(k, stream, en->key);
		/* The service tells no arrival of a put: now is close.  A
		 * put reads did not know of (no ticket) counts nothing:
		 * they may have counted its records. */
		if (tk->id && t && (s = kshard_of(k, t, en->shard_id)) &&
		    put_counts(k, s, en->seq, tk->sent_ms))
			count(s, en->data, en->len, en->seq, now);
		seen_raise(k, stream, en->shard_id, en->seq);
	}
	if (tk->id)
		put_end(k, tk->id);
	pthread_mutex_unlock(&k->lock);
}

/* 1 when a read's record is to be counted in s: above what was counted,
 * and, while puts are in flight, remembered for them. */
static int read_counts(struct kfs_aws_keys *k, struct kshard *s,
		       const struct kfs_record *rec)
{
	if (s->max_seq[0] ? kfs_aws_seq_cmp(rec->seq, s->max_seq) <= 0
			  : rec->arrival_ms < s->fence_ms)
		return 0;
	/* Not counted when it cannot be remembered: the put that may
	 * report it counts it then (a lower bound, never twice). */
	return k->n_inflight == 0 || claim_add(k, s, rec->seq) == 0;
}

void kfs_aws_keys_read(struct kfs_aws_keys *k, const char *stream,
		       const char *shard, const struct kfs_get_result *r)
{
	if (r->n == 0)
		return;
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < r->n; i++) {
		const struct kfs_record *rec = &r->records[i];
		struct tkey *t;
		struct kshard *s;
		struct kfs_agg_keyset ks;

		if (!rec->seq[0] || !rec->key)
			continue;
		if (kfs_agg_keys(rec->data, rec->len, &ks) == 1) {
			for (size_t j = 0; j < ks.n; j++)
				if ((t = tkey_find(k, stream, ks.v[j].key)) &&
				    (s = kshard_of(k, t, shard)) &&
				    read_counts(k, s, rec))
					count_bytes(s, ks.v[j].bytes, ks.v[j].records,
						    rec->seq, rec->arrival_ms);
			kfs_agg_keyset_clear(&ks);
			continue;
		}
		t = tkey_find(k, stream, rec->key);
		if (t && (s = kshard_of(k, t, shard)) && read_counts(k, s, rec))
			count(s, rec->data, rec->len, rec->seq, rec->arrival_ms);
	}
	seen_raise(k, stream, shard, r->records[r->n - 1].seq);
	pthread_mutex_unlock(&k->lock);
}

/* ---- the hooks of backend/names.h ---------------------------------- */

static void pos_of(const struct kshard *s, int64_t now, struct kfs_wpos *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->shard, sizeof(p->shard), "%s", s->shard);
	seq_set(p->seq, s->max_seq);
	p->ms = now;
	memcpy(p->cum, s->cum, sizeof(p->cum));
	p->records = s->records;
	p->last_ms = s->last_ms;
}

static int hook_tip(void *ctx, const char *stream, const char *key,
		    struct kfs_wposv *out)
{
	struct kfs_aws_keys *k = ctx;
	struct kfs_shard_list l = { 0 };
	struct tkey *t;
	int64_t now;
	int rc;

	out->n = 0;
	out->v = NULL;
	rc = k->env.list_shards(k->env.impl, stream, &l);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&k->lock);
	now = kfs_clock_now(k->env.clock);
	rc = tkey_add(k, stream, key, &t);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		if (!kshard_of(k, t, l.v[i].id))
			rc = -ENOMEM;
	if (rc == 0 && t->n_shards) {
		out->v = calloc(t->n_shards, sizeof(*out->v));
		if (!out->v)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < t->n_shards; i++) {
		struct kshard *s = &t->shards[i];
		/* What is counted from now on is after this position. */
		seq_set(s->fence_seq, s->max_seq);
		s->fence_ms = now;
		pos_of(s, now, &out->v[out->n++]);
	}
	pthread_mutex_unlock(&k->lock);
	kfs_shard_list_clear(&l);
	if (rc < 0)
		kfs_wposv_clear(out);
	return rc;
}

/* Adds to out what a shard holds between from (NULL: nothing before)
 * and to. */
static void measure_shard(const struct kfs_wpos *from, uint64_t cum[],
			  uint64_t records, int64_t last_ms,
			  struct kfs_name_desc *out)
{
	for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
		uint64_t before = from ? from->cum[f] : 0;
		if (cum[f] > before)
			out->bytes[f] += (int64_t)(cum[f] - before);
	}
	if (records > (from ? from->records : 0)) {
		out->records += records - (from ? from->records : 0);
		if (last_ms > out->mtime_ms)
			out->mtime_ms = last_ms;
	}
}

static int hook_measure(void *ctx, const char *stream, const char *key,
			const struct kfs_wposv *start, const struct kfs_wposv *end,
			struct kfs_name_desc *out)
{
	struct kfs_aws_keys *k = ctx;
	struct tkey *t;

	memset(out->bytes, 0, sizeof(out->bytes));
	out->records = 0;
	out->mtime_ms = -1;
	if (end) {
		for (size_t i = 0; i < end->n; i++) {
			const struct kfs_wpos *p = &end->v[i];
			uint64_t cum[KFS_FRAMING_COUNT];

			memcpy(cum, p->cum, sizeof(cum));
			measure_shard(kfs_wposv_find(start, p->shard), cum,
				      p->records, p->last_ms, out);
		}
		return 0;
	}
	pthread_mutex_lock(&k->lock);
	t = tkey_find(k, stream, key);
	for (size_t i = 0; t && i < t->n_shards; i++) {
		struct kshard *s = &t->shards[i];
		measure_shard(kfs_wposv_find(start, s->shard), s->cum,
			      s->records, s->last_ms, out);
	}
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int hook_track(void *ctx, const char *stream, const char *key, int on)
{
	struct kfs_aws_keys *k = ctx;
	struct tkey *t;
	int rc = 0;

	pthread_mutex_lock(&k->lock);
	if (on) {
		rc = tkey_add(k, stream, key, &t);
	} else if ((t = tkey_find(k, stream, key))) {
		tkey_del(k, t);
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

/* ---- life ---------------------------------------------------------- */

int kfs_aws_keys_new(const struct kfs_aws_keys_env *env,
		     struct kfs_aws_keys **out)
{
	struct kfs_aws_keys *k = calloc(1, sizeof(*k));
	struct kfs_names_hooks h = {
		.ctx = k, .clock = env->clock, .tip = hook_tip,
		.measure = hook_measure, .track = hook_track,
		.persist = NULL,        /* names last as long as the mount */
	};

	*out = NULL;
	if (!k)
		return -ENOMEM;
	k->env = *env;
	pthread_mutex_init(&k->lock, NULL);
	if (kfs_names_new(&h, &k->names) < 0) {
		kfs_aws_keys_free(k);
		return -ENOMEM;
	}
	*out = k;
	return 0;
}

void kfs_aws_keys_free(struct kfs_aws_keys *k)
{
	if (!k)
		return;
	/* First: freeing the names untracks their keys through the hooks. */
	kfs_names_free(k->names);
	for (size_t i = 0; i < k->cap_tab; i++) {
		while (k->tab[i]) {
			struct tkey *t = k->tab[i];
			k->tab[i] = t->next;
			tkey_free(t);
		}
	}
	free(k->tab);
	free(k->seen);
	free(k->inflight);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

struct kfs_names *kfs_aws_keys_names(struct kfs_aws_keys *k)
{
	return k->names;
}

void kfs_aws_keys_forget(struct kfs_aws_keys *k, const char *stream)
{
	kfs_names_forget(k->names, stream);
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->cap_tab; i++) {
		struct tkey **pp = &k->tab[i];
		while (*pp) {
			struct tkey *t = *pp;
			if (strcmp(t->stream, stream) == 0) {
				*pp = t->next;
				k->n_keys--;
				tkey_free(t);
			} else {
				pp = &t->next;
			}
		}
	}
	for (size_t i = 0; i < k->n_seen;) {
		if (strcmp(k->seen[i].stream, stream) == 0)
			k->seen[i] = k->seen[--k->n_seen];
		else
			i++;
	}
	pthread_mutex_unlock(&k->lock);
}

/* ---- iterators over a key's window --------------------------------- */

struct kiter {
	enum end_kind end;
	char end_seq[KFS_SEQ_MAX];
	int64_t end_ms;
	char key[KFS_KEY_MAX + 1];
	const char *inner;                  /* borrowed from the parsed text */
};

static int kiter_format(const struct kiter *it, const char *inner, char **out)
{
	if (asprintf(out, ITER_MAGIC "%d|%s|%" PRId64 "|%zu|%s|%s", (int)it->end,
		     it->end_seq, it->end_ms, strlen(it->key), it->key, inner) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Reads a '|'-ended field of at most size - 1 bytes. */
static int kfield(const char **p, char *buf, size_t size)
{
	const char *bar = strchr(*p, '|');

	if (!bar || (size_t)(bar - *p) >= size)
		return -EINVAL;
	memcpy(buf, *p, (size_t)(bar - *p));
	buf[bar - *p] = '\0';
	*p = bar + 1;
	return 0;
}

static int kiter_parse(const char *s, struct kiter *it)
{
	const char *p = s + strlen(ITER_MAGIC);
	char kind[4], ms[24], klen[8], *end;
	unsigned long n;

	memset(it, 0, sizeof(*it));
	if (!kfs_aws_keys_is_iterator(s) || kfield(&p, kind, sizeof(kind)) ||
	    kfield(&p, it->end_seq, sizeof(it->end_seq)) ||
	    kfield(&p, ms, sizeof(ms)) || kfield(&p, klen, sizeof(klen)))
		return -EINVAL;
	if (strcmp(kind, "0") && strcmp(kind, "1") && strcmp(kind, "2"))
		return -EINVAL;
	it->end = (enum end_kind)(kind[0] - '0');
	it->end_ms = strtoll(ms, &end, 10);
	if (*end || end == ms)
		return -EINVAL;
	n = strtoul(klen, &end, 10);
	if (*end || end == klen || n < 1 || n > KFS_KEY_MAX ||
	    strnlen(p, n + 1) < n + 1 || p[n] != '|' ||
	    (it->end == END_SEQ && !kfs_wire_valid_seq(it->end_seq)))
		return -EINVAL;
	memcpy(it->key, p, n);
	it->key[n] = '\0';
	if (strlen(it->key) != n)
		return -EINVAL;
	it->inner = p + n + 1;
	return 0;
}

int kfs_aws_keys_is_iterator(const char *iterator)
{
	return iterator && !strncmp(iterator, ITER_MAGIC, strlen(ITER_MAGIC));
}

int kfs_aws_keys_iterator(struct kfs_aws_keys *k, const char *stream,
			  const char *shard_id, const char *key,
			  const struct kfs_wpos *start, const struct kfs_wpos *end,
			  char **iter_out)
{
	struct kfs_iter_spec spec = { .type = KFS_ITER_TRIM_HORIZON };
	struct kiter it;
	char *inner;
	int rc;

	*iter_out = NULL;
	if (!key || !kfs_valid_partition_key(key) ||
	    (start && start->shard[0] && strcmp(start->shard, shard_id)) ||
	    (end && end->shard[0] && strcmp(end->shard, shard_id)))
		return -EINVAL;
	memset(&it, 0, sizeof(it));
	snprintf(it.key, sizeof(it.key), "%s", key);
	if (end && end->seq[0]) {
		it.end = END_SEQ;
		seq_set(it.end_seq, end->seq);
	} else if (end) {
		it.end = END_TIME;
		it.end_ms = end->ms;
	}
	if (start && start->seq[0]) {
		spec.type = KFS_ITER_AFTER_SEQUENCE_NUMBER;
		spec.seq = start->seq;
	} else if (start) {
		spec.type = KFS_ITER_AT_TIMESTAMP;
		spec.timestamp_ms = start->ms;
	}
	rc = k->env.get_iterator(k->env.impl, stream, shard_id, &spec, &inner);
	if (rc < 0)
		return rc;
	rc = kiter_format(&it, inner, iter_out);
	free(inner);
	return rc;
}

/* 1 when the service iterator `next` (a composite) is at or past a
 * sequence-number end: every record after it is above the end. */
static int past_seq_end(const char *next, const char *end_seq)
{
	struct kfs_wire_iter w;
	const char *at;

	if (kfs_wire_iter_parse(next, &w) < 0)
		return 0;
	at = w.last_seq[0] ? w.last_seq
	     : w.type == KFS_ITER_AFTER_SEQUENCE_NUMBER ? w.seq : "";
	return at[0] && kfs_aws_seq_cmp(at, end_seq) >= 0;
}

/* Keeps the records of it->key before the end in r; 1 when the end was
 * reached. */
static int keep_window(struct kfs_aws_keys *k, const struct kiter *it,
		       int limit, struct kfs_get_result *r)
{
	size_t m = 0, n = r->n, i;
	int ended = 0;

	for (i = 0; i < r->n; i++) {
		struct kfs_record *rec = &r->records[i];

		if ((it->end == END_SEQ && kfs_aws_seq_cmp(rec->seq, it->end_seq) > 0) ||
		    (it->end == END_TIME && rec->arrival_ms >= it->end_ms)) {
			ended = 1;
			break;
		}
		/* An aggregated record with another partition key may hold
		 * user records of this one: the reader picks them. */
		if (rec->key && (!strcmp(rec->key, it->key) ||
				 kfs_agg_looks(rec->data, rec->len))) {
			r->records[m++] = *rec;
		} else if (!r->blocks) {
			free(rec->key);
			free(rec->data);
		}
	}
	for (; i < r->n && !r->blocks; i++) {
		free(r->records[i].key);
		free(r->records[i].data);
	}
	r->n = m;
	if (ended || it->end == END_NONE || !r->next_iterator)
		return ended;
	if (it->end == END_SEQ)
		return past_seq_end(r->next_iterator, it->end_seq);
	/* A time end, at the tip: what arrived before it is readable by
	 * now.  (kinesalite says 0 ms behind on every page: a full page is
	 * not the tip.) */
	return r->millis_behind == 0 && n < (size_t)limit &&
	       kfs_clock_now(k->env.clock) >= it->end_ms + END_SETTLE_MS;
}

int kfs_aws_keys_get_records(struct kfs_aws_keys *k, const char *iterator,
			     int limit, unsigned flags,
			     struct kfs_get_result *out)
{
	struct kiter it;
	char *next;
	int rc, ended;

	memset(out, 0, sizeof(*out));
	if (kiter_parse(iterator, &it) < 0) {
		kfs_info("GetRecords: not a key iterator of this mount");
		return -EINVAL;
	}
	rc = k->env.get_records(k->env.impl, it.inner, limit, flags, out);
	if (rc < 0)
		return rc;
	ended = keep_window(k, &it, limit, out);
	/* A closed window lists each of its shards: no children. */
	if (it.end != END_NONE)
		kfs_name_list_clear(&out->children);
	next = out->next_iterator;
	out->next_iterator = NULL;
	if (!ended && next)
		rc = kiter_format(&it, next, &out->next_iterator);
	free(next);
	if (rc < 0)
		kfs_get_result_clear(out);
	return rc;
}
