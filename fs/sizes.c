/* sizes.c - see sizes.h. */
#include "sizes.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kpl/expand.h"
#include "lib/log.h"
#include "lib/util.h"

#define FIRST_BUDGET_MS 500    /* the first look at a shard */
#define LATER_BUDGET_MS 500    /* every later one */
#define FORGET_MS 600000       /* shards nobody asked about for 10 min */
#define PAGE_RECORDS 10000

struct shard_size {
	char stream[KFS_STREAM_NAME_MAX + 1];
	char shard[KFS_SHARD_ID_LEN + 1];
	int64_t created_ms;        /* the stream's creation: a new stream of
				    * the same name starts again */
	uint64_t bytes;            /* learned so far */
	char last_seq[KFS_SEQ_MAX]; /* the record ending at `bytes`; "" none */
	char *iter;                /* where the next look reads on; NULL: from last_seq */
	int busy;                  /* a look is under way */
	int done;                  /* a closed shard read to its end */
	int64_t looked_ms;         /* monotonic time of the last look; 0 never */
	int64_t used_ms;           /* last asked about */
};

struct kfs_sizes {
	struct kfs_backend *be;
	enum kfs_framing framing;
	int poll_ms;
	pthread_mutex_t lock;      /* "sizes lock": protects below */
	struct shard_size *v;
	size_t n, cap;
};

int kfs_sizes_new(struct kfs_backend *be, enum kfs_framing framing,
		  int poll_ms, struct kfs_sizes **out)
{
	struct kfs_sizes *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->be = be;
	s->framing = framing;
	s->poll_ms = poll_ms;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void kfs_sizes_free(struct kfs_sizes *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].iter);
	free(s->v);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void entry_init(struct shard_size *e, const char *stream,
		       int64_t created_ms, const char *shard)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->stream, sizeof(e->stream), "%s", stream);
	snprintf(e->shard, sizeof(e->shard), "%s", shard);
	e->created_ms = created_ms;
}

/* The entry of a shard, made when missing; sizes lock held.  Entries do
 * not move while a look is under way (busy ones are never forgotten, and
 * the array only grows), but callers find them again by name. */
static struct shard_size *find(struct kfs_sizes *s, const char *stream,
			       int64_t created_ms, const char *shard, int make)
{
	int64_t now = kfs_mono_ms();
	struct shard_size *e;

	for (size_t i = 0; i < s->n; i++) {
		e = &s->v[i];
		if (strcmp(e->stream, stream) || strcmp(e->shard, shard))
			continue;
		if (e->created_ms != created_ms) {
			if (e->busy || !make)
				return NULL;   /* a look at the old stream */
			free(e->iter);
			entry_init(e, stream, created_ms, shard);
		}
		e->used_ms = now;
		return e;
	}
	if (!make)
		return NULL;
	for (size_t i = 0; i < s->n;) {
		e = &s->v[i];
		if (!e->busy && now - e->used_ms > FORGET_MS) {
			free(e->iter);
			s->v[i] = s->v[--s->n];
		} else {
			i++;
		}
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct shard_size *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	e = &s->v[s->n++];
	entry_init(e, stream, created_ms, shard);
	e->used_ms = now;
	return e;
}

/* What one look learned. */
struct look {
	uint64_t bytes;
	char last_seq[KFS_SEQ_MAX];
	char *iter;
	int done;
};

/* Reads the shard on from lk for up to budget_ms; without the lock. */
static int learn(struct kfs_sizes *s, const char *stream, const char *shard,
		 struct look *lk, int budget_ms)
{
	const struct kfs_backend_ops *ops = s->be->ops;
	int64_t until = kfs_mono_ms() + budget_ms;
	int err = 0;

	if (!lk->iter) {
		struct kfs_iter_spec spec = {
			.type = lk->last_seq[0] ? KFS_ITER_AFTER_SEQUENCE_NUMBER
						: KFS_ITER_TRIM_HORIZON,
			.seq = lk->last_seq,
		};
		err = ops->get_iterator(s->be->impl, stream, shard, &spec,
					&lk->iter);
		if (err)
			return err;
	}
	while (lk->iter) {
		struct kfs_get_result r = { 0 };

		err = ops->get_records(s->be->impl, lk->iter, PAGE_RECORDS,
				       KFS_GET_LAST_SEQ | KFS_GET_STALE_OK, &r);
		if (err)
			break;
		for (size_t i = 0; i < r.n; i++)
			lk->bytes += kfs_agg_framed_len(s->framing,
							r.records[i].data,
							r.records[i].len);
		if (r.n)
			snprintf(lk->last_seq, sizeof(lk->last_seq), "%s",
				 r.records[r.n - 1].seq);
		free(lk->iter);
		lk->iter = r.next_iterator;
		r.next_iterator = NULL;
		if (!lk->iter)
			lk->done = 1;
		if ((r.n == 0 && r.millis_behind <= 0) || kfs_mono_ms() >= until) {
			kfs_get_result_clear(&r);
			break;
		}
		kfs_get_result_clear(&r);
	}
	return err;
}

uint64_t kfs_sizes_get(struct kfs_sizes *s, const char *stream,
		       int64_t created_ms, const char *shard)
{
	struct shard_size *e;
	struct look lk = { 0 };
	uint64_t bytes, start;
	int first, err;

	pthread_mutex_lock(&s->lock);
	e = find(s, stream, created_ms, shard, 1);
	if (!e) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	bytes = e->bytes;
	if (e->busy || e->done ||
	    (e->looked_ms && kfs_mono_ms() - e->looked_ms < s->poll_ms)) {
		pthread_mutex_unlock(&s->lock);
		return bytes;
	}
	first = e->looked_ms == 0;
	e->busy = 1;
	start = lk.bytes = e->bytes;
	memcpy(lk.last_seq, e->last_seq, sizeof(lk.last_seq));
	lk.iter = e->iter;
	e->iter = NULL;
	pthread_mutex_unlock(&s->lock);

	err = learn(s, stream, shard, &lk,
		    first ? FIRST_BUDGET_MS : LATER_BUDGET_MS);
	if (err)
		kfs_debug("%s/%s: size not learned: %s", stream, shard,
			  strerror(-err));

	pthread_mutex_lock(&s->lock);
	e = find(s, stream, created_ms, shard, 0);
	if (e) {
		e->busy = 0;
		e->looked_ms = kfs_mono_ms();
		/* A reader may have reported a further end meanwhile: the
		 * further of the two wins. */
		if (lk.bytes >= e->bytes && e->bytes == start) {
			e->bytes = lk.bytes;
			memcpy(e->last_seq, lk.last_seq, sizeof(e->last_seq));
			e->iter = lk.iter;
			e->done = lk.done;
			lk.iter = NULL;
		} else if (lk.bytes > e->bytes) {
			e->bytes = lk.bytes;
			memcpy(e->last_seq, lk.last_seq, sizeof(e->last_seq));
			free(e->iter);
			e->iter = lk.iter;
			e->done = lk.done;
			lk.iter = NULL;
		}
		bytes = e->bytes;
	}
	pthread_mutex_unlock(&s->lock);
	free(lk.iter);
	return bytes;
}

void kfs_sizes_report(struct kfs_sizes *s, const char *stream,
		      int64_t created_ms, const char *shard, uint64_t end,
		      const char *last_seq)
{
	struct shard_size *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, stream, created_ms, shard, 1);
	if (e && end > e->bytes) {
		e->bytes = end;
		snprintf(e->last_seq, sizeof(e->last_seq), "%s", last_seq);
		free(e->iter);
		e->iter = NULL;   /* read on after last_seq */
	}
	pthread_mutex_unlock(&s->lock);
}
