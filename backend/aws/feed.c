/*
 * feed.c - one poller per shard for every reader of the mount; see feed.h.
 */
#include "feed.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "lib/cancel.h"
#include "lib/log.h"

#define PAGE_LIMIT KFS_GET_LIMIT_MAX  /* records a poller asks for */
#define SHARE_MIN (256u << 10)        /* a poller keeps at least this */
#define IDLE_MIN_MS 10000             /* a poller outlives a quiet reader */
#define SUB_GAP_MS 5500               /* the service refuses a subscription
				       * within 5 s of the last one (as it
				       * counts them) */
#define SUB_FAILS_MAX 3               /* failed subscriptions in a row */
#define SUB_PAUSE_MS 30000            /* then GetRecords this long */

/* One poller: a shard's records from a position on, as read. */
struct feed {
	struct feed *next;                    /* in the table; protected by
					       * the feeds lock */
	struct kfs_aws_feeds *owner;          /* fixed */
	char stream[KFS_STREAM_NAME_MAX + 1]; /* fixed */
	char shard[KFS_SHARD_ID_LEN + 1];     /* fixed */
	uint64_t epoch;                       /* fixed: this run, unique in
					       * the mount */
	char *iter;                           /* the poller's composite
					       * iterator; its thread's only */

	pthread_mutex_t lock;                 /* "feed lock": below */
	struct kfs_record *v;                 /* v[head..n): the buffer, oldest
					       * first; each record owns its
					       * data and key */
	size_t head, n, cap;
	size_t bytes;                         /* held by the buffer */
	char lo[KFS_SEQ_MAX];                 /* the buffer holds every record
					       * after this one ("": every
					       * record since the run began) */
	int64_t millis_behind;                /* of the last page */
	int ended;                            /* a closed shard read to its end */
	struct kfs_name_list children;        /* its children, once ended */
	int64_t used_ms;                      /* a reader last asked (mono) */
	int poked;                            /* read now (records were put, a
					       * reader wants a fresh look);
					       * protected by the feeds lock */
	pthread_cond_t page;                  /* a page came, or the poller is
					       * gone (with the feed lock) */
	uint64_t asked;                       /* pages asked for so far */
	uint64_t answered;                    /* the last page that came */
	uint64_t puts;                        /* puts through the mount that
					       * poked it */
	uint64_t puts_seen;                   /* of them, those acknowledged
					       * before the last page was asked */
	int waiters;                          /* readers waiting for a page */
	int gone;                             /* the poller ended: waiters
					       * leave, the last one signals */
	int subscribed;                       /* reading by subscription
					       * (fan-out) */

	/* The poller thread's own: */
	char cont[KFS_SEQ_MAX];               /* read up to here: the last
					       * record, or a subscription's
					       * continuation ("": not known) */
	int64_t sub_next_ms;                  /* no subscription before (mono) */
	int sub_fails;                        /* failed subscriptions in a row */
	int64_t event_ms;                     /* the last event came (wall) */
	uint64_t event_puts;                  /* puts as that event came */
	struct kfs_aws_feed_snap tip;         /* at the last page that reached
					       * the tip (epoch 0: none yet) */
};

struct kfs_aws_feeds {
	struct kfs_aws_feed_env env;          /* fixed */
	pthread_mutex_t lock;                 /* "feeds lock": below */
	pthread_cond_t cond;                  /* stopping, or a poller ended
					       * (default attributes: clock.h) */
	struct feed *list;                    /* running pollers */
	size_t running;                       /* threads not ended yet */
	uint64_t epochs;                      /* runs started */
	uint64_t pages;                       /* GetRecords pages read */
	int stopping;                         /* kfs_aws_feeds_free began */
};

static __thread struct kfs_aws_feeds *cancel_of;

/* A poller's check for lib/cancel.h: the mount is going. */
static int feed_cancelled(void)
{
	struct kfs_aws_feeds *f = cancel_of;
	int stop;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->lock);
	stop = f->stopping;
	pthread_mutex_unlock(&f->lock);
	return stop;
}

int kfs_aws_feeds_new(const struct kfs_aws_feed_env *env,
		      struct kfs_aws_feeds **out)
{
	struct kfs_aws_feeds *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->env = *env;
	if (f->env.idle_ms <= 0)
		f->env.idle_ms = env->poll_ms * 5 > IDLE_MIN_MS ? env->poll_ms * 5
								: IDLE_MIN_MS;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	*out = f;
	return 0;
}

void kfs_aws_feeds_stop(struct kfs_aws_feeds *f)
{
	pthread_mutex_lock(&f->lock);
	f->stopping = 1;
	pthread_cond_broadcast(&f->cond);
	while (f->running)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

void kfs_aws_feeds_free(struct kfs_aws_feeds *f)
{
	if (!f)
		return;
	kfs_aws_feeds_stop(f);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
}

void kfs_aws_feed_counts(struct kfs_aws_feeds *f, size_t *running,
			 uint64_t *pages)
{
	pthread_mutex_lock(&f->lock);
	*running = f->running;
	*pages = f->pages;
	pthread_mutex_unlock(&f->lock);
}

/* The running poller of a shard; the feeds lock held. */
static struct feed *find_locked(struct kfs_aws_feeds *f, const char *stream,
				const char *shard)
{
	for (struct feed *d = f->list; d; d = d->next)
		if (!strcmp(d->shard, shard) && !strcmp(d->stream, stream))
			return d;
	return NULL;
}

int kfs_aws_feed_running(struct kfs_aws_feeds *f, const char *stream,
			 const char *shard)
{
	int on;

	pthread_mutex_lock(&f->lock);
	on = find_locked(f, stream, shard) != NULL;
	pthread_mutex_unlock(&f->lock);
	return on;
}

int kfs_aws_feed_tip(struct kfs_aws_feeds *f, const char *stream,
		     const char *shard, struct kfs_aws_feed_snap *out)
{
	struct feed *d;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&f->lock);
	d = find_locked(f, stream, shard);
	if (d) {
		pthread_mutex_lock(&d->lock);
		*out = d->tip;
		d->used_ms = kfs_clock_mono(f->env.clock);
		pthread_mutex_unlock(&d->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return d && out->epoch;
}

/* Index of the first buffered record after seq ("": the first). */
static size_t after_locked(const struct feed *d, const char *seq)
{
	size_t lo = d->head, hi = d->n;

	if (!seq[0])
		return lo;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (kfs_aws_seq_cmp(d->v[mid].seq, seq) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Whether a reader handed the records up to seq ("": none) is covered:
 * every record after seq is in the buffer or still to be read (1, *first
 * the first of them buffered); else 0.  A reader that joined this run
 * (epoch) while the buffer still held all of it is; so is one whose
 * position the buffer holds, or the record the buffer holds all after.
 * The feed lock held.
 */
static int covered_locked(const struct feed *d, const char *seq,
			  uint64_t epoch, size_t *first)
{
	if (epoch && epoch == d->epoch && !d->lo[0]) {
		*first = after_locked(d, seq);
		return 1;
	}
	if (!seq[0])
		return 0;
	if (d->lo[0] ? kfs_aws_seq_cmp(seq, d->lo) < 0
		     : d->n == d->head ||
		       kfs_aws_seq_cmp(seq, d->v[d->head].seq) < 0)
		return 0;
	*first = after_locked(d, seq);
	return 1;
}

/* Copies v[from..from+n) of a poller into out, in one block. */
static int copy_records(const struct feed *d, size_t from, size_t n,
			size_t bytes, struct kfs_get_result *out)
{
	unsigned char *p;

	out->records = calloc(n ? n : 1, sizeof(*out->records));
	if (!out->records)
		return -ENOMEM;
	p = kfs_get_result_block(out, bytes ? bytes : 1);
	if (!p) {
		free(out->records);
		out->records = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct kfs_record *s = &d->v[from + i];
		struct kfs_record *r = &out->records[i];
		size_t kl = s->key ? strlen(s->key) + 1 : 0;

		*r = *s;
		r->data = p;
		if (s->len)
			memcpy(p, s->data, s->len);
		p += s->len;
		r->key = NULL;
		if (kl) {
			memcpy(p, s->key, kl);
			r->key = (char *)p;
			p += kl;
		}
		r->ehk = NULL;
	}
	out->n = n;
	return 0;
}

/* Sets d to be read now. */
static void poke_locked(struct kfs_aws_feeds *f, struct feed *d)
{
	d->poked = 1;
	pthread_cond_broadcast(&f->cond);
}

/*
 * Waits, the feed lock held, for a page asked for after now: poking the
 * poller so that it reads at once (within the shard's rate), or, by
 * subscription, for the next event, at most a poll interval.  0 when it
 * came, 1 when the poller is gone or no event came, -EINTR.
 */
static int fresh_look_locked(struct kfs_aws_feeds *f, struct feed *d)
{
	uint64_t want = d->asked + 1;
	int64_t until = d->subscribed ? kfs_clock_mono(f->env.clock) +
					f->env.poll_ms : INT64_MAX;
	int rc = 0;

	d->waiters++;
	pthread_mutex_unlock(&d->lock);
	/* The feeds lock comes first; d stays while it has waiters. */
	pthread_mutex_lock(&f->lock);
	poke_locked(f, d);
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_lock(&d->lock);
	while (d->answered < want && !d->gone) {
		if (kfs_cancelled()) {
			rc = -EINTR;
			break;
		}
		if (kfs_clock_mono(f->env.clock) >= until) {
			rc = 1;
			break;
		}
		kfs_clock_wait_until(f->env.clock, &d->page, &d->lock,
				     kfs_clock_mono(f->env.clock) + 100);
	}
	if (--d->waiters == 0 && d->gone)
		pthread_cond_broadcast(&d->page);
	return rc ? rc : d->gone;
}

int kfs_aws_feed_read(struct kfs_aws_feeds *f, struct kfs_wire_iter *it,
		      int limit, unsigned flags, struct kfs_get_result *out,
		      int *ended)
{
	struct feed *d;
	size_t first = 0, n = 0, bytes = 0;
	int rc = 0, looked = 0;

	*ended = 0;
	if (!it->last_seq[0] && !it->feed)
		return 0;
	pthread_mutex_lock(&f->lock);
	d = find_locked(f, it->stream, it->shard);
	if (d)
		pthread_mutex_lock(&d->lock);
	pthread_mutex_unlock(&f->lock);
	if (!d)
		return 0;
	for (;;) {
		if (d->gone || !covered_locked(d, it->last_seq, it->feed, &first))
			goto out;
		if (first < d->n || d->ended || looked ||
		    ((flags & KFS_GET_STALE_OK) && d->puts_seen == d->puts))
			break;
		/* Nothing for it as of the poller's last page: where EOF is
		 * decided, or after a put through the mount the last page
		 * may not hold, a look at the tip asked for after this
		 * call (or, by subscription, the next event: else it looks
		 * on its own). */
		rc = fresh_look_locked(f, d);
		if (rc != 0) {
			rc = rc < 0 ? rc : 0;
			goto out;
		}
		looked = 1;
	}
	d->used_ms = kfs_clock_mono(f->env.clock);
	while (first + n < d->n && n < (size_t)limit) {
		const struct kfs_record *s = &d->v[first + n];
		size_t b = s->len + (s->key ? strlen(s->key) + 1 : 0);

		if (n > 0 && bytes + b > KFS_GET_BYTES_MAX)
			break;
		bytes += b;
		n++;
	}
	memset(out, 0, sizeof(*out));
	rc = copy_records(d, first, n, bytes, out);
	if (rc < 0)
		goto out;
	if (n > 0) {
		memcpy(it->last_seq, d->v[first + n - 1].seq,
		       sizeof(it->last_seq));
		it->feed = 0;
	}
	/* Behind while the buffer holds more for this reader. */
	out->millis_behind = d->millis_behind;
	if (first + n < d->n && out->millis_behind <= 0)
		out->millis_behind = 1;
	if (first + n == d->n && d->ended) {
		*ended = 1;
		for (size_t i = 0; i < d->children.n && rc == 0; i++)
			rc = kfs_name_list_add(&out->children,
					       d->children.v[i]);
	}
	rc = rc < 0 ? rc : 1;
out:
	pthread_mutex_unlock(&d->lock);
	if (rc < 0)
		kfs_get_result_clear(out);
	return rc;
}

/* ---- the poller --------------------------------------------------------- */

static void record_free(struct kfs_record *r)
{
	free(r->data);
	free(r->key);
}

static size_t record_bytes(const struct kfs_record *r)
{
	return sizeof(*r) + r->len + (r->key ? strlen(r->key) + 1 : 0);
}

/* Takes a page's records (each owning its data) into the buffer and drops
 * the oldest past the poller's share.  The feed lock held. */
static int append_locked(struct feed *d, struct kfs_get_result *res,
			 size_t share)
{
	if (d->n + res->n > d->cap) {
		size_t live = d->n - d->head;

		if (d->head > 0) {
			memmove(d->v, d->v + d->head, live * sizeof(*d->v));
			d->n = live;
			d->head = 0;
		}
		if (d->n + res->n > d->cap) {
			size_t cap = d->cap ? d->cap : 64;
			struct kfs_record *v;

			while (cap < d->n + res->n)
				cap *= 2;
			v = realloc(d->v, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			d->v = v;
			d->cap = cap;
		}
	}
	for (size_t i = 0; i < res->n; i++) {
		d->v[d->n++] = res->records[i];
		d->bytes += record_bytes(&res->records[i]);
	}
	/* The records are the buffer's now. */
	free(res->records);
	res->records = NULL;
	res->n = 0;
	while (d->bytes > share && d->n - d->head > 1) {
		struct kfs_record *r = &d->v[d->head++];

		memcpy(d->lo, r->seq, sizeof(d->lo));
		d->bytes -= record_bytes(r);
		record_free(r);
	}
	return 0;
}

/* Waits ms, or until d is poked; 1 when the mount is going. */
static int pause_ms(struct feed *d, int ms)
{
	struct kfs_aws_feeds *f = d->owner;
	int64_t until = kfs_clock_mono(f->env.clock) + ms;
	int stop;

	pthread_mutex_lock(&f->lock);
	while (!f->stopping && !d->poked &&
	       kfs_clock_mono(f->env.clock) < until)
		kfs_clock_wait_until(f->env.clock, &f->cond, &f->lock, until);
	d->poked = 0;
	stop = f->stopping;
	pthread_mutex_unlock(&f->lock);
	return stop;
}

void kfs_aws_feed_poke(struct kfs_aws_feeds *f, const char *stream,
		       const char *shard)
{
	struct feed *d;

	pthread_mutex_lock(&f->lock);
	d = find_locked(f, stream, shard);
	if (d) {
		poke_locked(f, d);
		pthread_mutex_lock(&d->lock);
		d->puts++;
		pthread_mutex_unlock(&d->lock);
	}
	pthread_mutex_unlock(&f->lock);
}

/* Counts a page; what each poller's buffer may keep now. */
static size_t page_share(struct kfs_aws_feeds *f)
{
	size_t running, share;

	pthread_mutex_lock(&f->lock);
	f->pages++;
	running = f->running ? f->running : 1;
	pthread_mutex_unlock(&f->lock);
	share = f->env.buffer_bytes / running;
	return share < SHARE_MIN ? SHARE_MIN : share;
}

/*
 * Takes page number `page` (its records, each owning its data) into the
 * buffer and tells the readers waiting for it: `puts` is the count of puts
 * it may hold, `whole` says it reached the tip (asked for at `asked_ms` or
 * earlier), `end` that it ends a closed shard (res's children are then
 * the poller's).  The feed lock held.
 */
static int page_in_locked(struct feed *d, struct kfs_get_result *res,
			  size_t share, uint64_t page, uint64_t puts, int whole,
			  int64_t asked_ms, int end)
{
	int rc = append_locked(d, res, share);

	d->millis_behind = res->millis_behind;
	d->answered = page;
	d->puts_seen = puts;
	pthread_cond_broadcast(&d->page);
	if (rc < 0)
		return rc;
	if (whole && res->millis_behind <= 0) {
		d->tip.epoch = d->epoch;
		d->tip.asked_ms = asked_ms;
		memcpy(d->tip.seq, d->n > d->head ? d->v[d->n - 1].seq : d->lo,
		       sizeof(d->tip.seq));
	}
	if (end) {
		d->ended = 1;
		d->children = res->children;
		memset(&res->children, 0, sizeof(res->children));
	}
	return 0;
}

/* One page into the buffer.  Returns 1 when more is to be read at once,
 * 0 at the tip, -errno. */
static int poll_once(struct feed *d)
{
	struct kfs_aws_feeds *f = d->owner;
	struct kfs_get_result res = { 0 };
	size_t share;
	int64_t asked = kfs_clock_now(f->env.clock);
	uint64_t page, puts;
	int rc, got, more;

	pthread_mutex_lock(&d->lock);
	page = ++d->asked;
	puts = d->puts;
	pthread_mutex_unlock(&d->lock);
	rc = f->env.read(f->env.ctx, d->iter, &res);
	if (rc < 0)
		return rc;   /* the poller ends: its waiters leave */
	share = page_share(f);
	got = res.n > 0;
	more = res.n > 0 && (res.millis_behind > 0 || res.n >= PAGE_LIMIT);
	if (got)
		memcpy(d->cont, res.records[res.n - 1].seq, sizeof(d->cont));
	pthread_mutex_lock(&d->lock);
	rc = page_in_locked(d, &res, share, page, puts, !more, asked,
			    !res.next_iterator);
	pthread_mutex_unlock(&d->lock);
	if (rc == 0) {
		free(d->iter);
		d->iter = res.next_iterator;
		res.next_iterator = NULL;
	}
	kfs_get_result_clear(&res);
	if (rc < 0)
		return rc;
	if ((got || d->ended) && f->env.on_records)
		f->env.on_records(f->env.on_records_arg, d->stream);
	return more;
}

static void feed_free(struct feed *d)
{
	for (size_t i = d->head; i < d->n; i++)
		record_free(&d->v[i]);
	free(d->v);
	free(d->iter);
	kfs_name_list_clear(&d->children);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->page);
	free(d);
}

/* One event of a subscription into the buffer (fan-out). */
static int sub_page(void *arg, struct kfs_get_result *res, const char *cont)
{
	struct feed *d = arg;
	struct kfs_aws_feeds *f = d->owner;
	int64_t now = kfs_clock_now(f->env.clock);
	size_t share;
	int rc, got = res->n > 0, idle;

	share = page_share(f);
	pthread_mutex_lock(&d->lock);
	/* The event was made after the one before came. */
	rc = page_in_locked(d, res, share, ++d->asked, d->event_puts, 1,
			    d->event_ms, res->children.n > 0);
	d->event_puts = d->puts;
	idle = kfs_clock_mono(f->env.clock) - d->used_ms > f->env.idle_ms;
	pthread_mutex_unlock(&d->lock);
	snprintf(d->cont, sizeof(d->cont), "%s", cont);
	d->event_ms = now;
	if ((got || d->ended) && f->env.on_records)
		f->env.on_records(f->env.on_records_arg, d->stream);
	if (rc < 0)
		return rc;
	/* Nobody reads: end it (the poller ends too). */
	return idle || d->ended ? -ECANCELED : 0;
}

/* The poller's composite iterator moved to where a subscription got. */
static int iter_at_cont(struct feed *d)
{
	struct kfs_wire_iter it;
	char *s;
	int rc = kfs_wire_iter_parse(d->iter, &it);

	if (rc < 0)
		return rc;
	memcpy(it.last_seq, d->cont, sizeof(it.last_seq));
	it.feed = 0;
	rc = kfs_wire_iter_format(&it, KFS_WIRE_NO_SERVICE, &s);
	if (rc < 0)
		return rc;
	free(d->iter);
	d->iter = s;
	return 0;
}

/* Reads by subscriptions for as long as they work.  Returns 0 to go on
 * (the poller ends when nobody reads), -EINTR when the mount is going,
 * another -errno when it polls for a while. */
static int subscribe_on(struct feed *d)
{
	struct kfs_aws_feeds *f = d->owner;

	pthread_mutex_lock(&d->lock);
	d->subscribed = 1;
	pthread_mutex_unlock(&d->lock);
	for (;;) {
		int64_t wait = d->sub_next_ms - kfs_clock_mono(f->env.clock);
		int rc;

		if (wait > 0 && pause_ms(d, (int)wait))
			return -EINTR;
		d->sub_next_ms = kfs_clock_mono(f->env.clock) + SUB_GAP_MS;
		pthread_mutex_lock(&d->lock);
		d->event_ms = kfs_clock_now(f->env.clock);
		d->event_puts = d->puts;
		pthread_mutex_unlock(&d->lock);
		rc = f->env.subscribe(f->env.ctx, d->stream, d->shard, d->cont,
				      sub_page, d);
		if (feed_cancelled())
			return -EINTR;
		if (rc == 0 || rc == -ECANCELED) {
			d->sub_fails = 0;
			if (rc == -ECANCELED || d->ended)
				return 0;
			continue;   /* the service ended it: the next one */
		}
		if (rc == -EAGAIN && ++d->sub_fails < SUB_FAILS_MAX)
			continue;
		pthread_mutex_lock(&d->lock);
		d->subscribed = 0;
		pthread_mutex_unlock(&d->lock);
		d->sub_fails = 0;
		d->sub_next_ms = kfs_clock_mono(f->env.clock) + SUB_PAUSE_MS;
		kfs_info("%s/%s: subscriptions fail (%s): reading with GetRecords "
			 "for %d s", d->stream, d->shard, strerror(-rc),
			 SUB_PAUSE_MS / 1000);
		rc = iter_at_cont(d);
		return rc < 0 ? rc : 0;
	}
}

static void *feed_main(void *arg)
{
	struct feed *d = arg;
	struct kfs_aws_feeds *f = d->owner;
	int rc = 0;

	cancel_of = f;
	kfs_cancel_set(feed_cancelled);
	for (;;) {
		int idle;

		pthread_mutex_lock(&d->lock);
		idle = kfs_clock_mono(f->env.clock) - d->used_ms > f->env.idle_ms;
		pthread_mutex_unlock(&d->lock);
		if (idle || feed_cancelled())
			break;
		if (f->env.subscribe && !d->ended && d->cont[0] &&
		    kfs_clock_mono(f->env.clock) >= d->sub_next_ms) {
			rc = subscribe_on(d);
			if (rc < 0)
				break;
			continue;
		}
		rc = d->ended ? 0 : poll_once(d);
		if (rc < 0)
			break;
		if (rc == 0 && pause_ms(d, f->env.poll_ms))
			break;
	}
	if (rc < 0 && rc != -EINTR)
		kfs_info("reading %s/%s for its readers stopped (%s): each "
			 "reads on its own", d->stream, d->shard,
			 strerror(-rc));
	kfs_cancel_set(NULL);
	cancel_of = NULL;
	pthread_mutex_lock(&f->lock);
	for (struct feed **p = &f->list; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	/* Nobody finds it now.  A reader that found it took the feed lock
	 * under the feeds lock; one waiting for a page leaves on `gone`. */
	pthread_mutex_lock(&d->lock);
	d->gone = 1;
	pthread_cond_broadcast(&d->page);
	while (d->waiters)
		kfs_clock_wait_until(f->env.clock, &d->page, &d->lock,
				     kfs_clock_mono(f->env.clock) + 100);
	pthread_mutex_unlock(&d->lock);
	feed_free(d);
	pthread_mutex_lock(&f->lock);
	f->running--;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Starts a poller of it's shard from composite iterator `next`, for a
 * reader handed records up to it->last_seq ("": none).  The feeds lock
 * held.  NULL when it cannot. */
static struct feed *start_locked(struct kfs_aws_feeds *f,
				 const struct kfs_wire_iter *it,
				 const char *next)
{
	struct feed *d = calloc(1, sizeof(*d));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (!d)
		return NULL;
	d->iter = strdup(next);
	if (!d->iter) {
		free(d);
		return NULL;
	}
	d->owner = f;
	memcpy(d->stream, it->stream, sizeof(d->stream));
	memcpy(d->shard, it->shard, sizeof(d->shard));
	memcpy(d->lo, it->last_seq, sizeof(d->lo));
	memcpy(d->cont, it->last_seq, sizeof(d->cont));
	d->epoch = ++f->epochs;
	d->used_ms = kfs_clock_mono(f->env.clock);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->page, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	f->running++;
	rc = pthread_create(&t, &attr, feed_main, d);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		f->running--;
		kfs_warn("cannot start a thread to read %s/%s for its readers "
			 "(%s): each reads on its own", it->stream, it->shard,
			 strerror(rc));
		pthread_mutex_destroy(&d->lock);
		pthread_cond_destroy(&d->page);
		free(d->iter);
		free(d);
		return NULL;
	}
	d->next = f->list;
	f->list = d;
	kfs_debug("reading %s/%s for its readers (run %llu)", d->stream,
		  d->shard, (unsigned long long)d->epoch);
	return d;
}

int kfs_aws_feed_offer(struct kfs_aws_feeds *f, struct kfs_wire_iter *it,
		       const char *next, const struct kfs_aws_feed_snap *before,
		       int64_t start_ms)
{
	struct feed *d;
	size_t first;
	int joined = 0;

	pthread_mutex_lock(&f->lock);
	if (f->stopping) {
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	d = find_locked(f, it->stream, it->shard);
	if (!d) {
		d = start_locked(f, it, next);
		if (d && !it->last_seq[0])
			it->feed = d->epoch;
		pthread_mutex_unlock(&f->lock);
		return d != NULL;
	}
	pthread_mutex_lock(&d->lock);
	pthread_mutex_unlock(&f->lock);
	if (it->last_seq[0]) {
		joined = covered_locked(d, it->last_seq, it->feed, &first);
		/* At the tip when its page was asked for, after the poller's
		 * tip `before` was read: every record after it came after
		 * that tip too, which this run reads. */
		if (!joined && before->epoch == d->epoch && !d->lo[0] &&
		    (!before->seq[0] ||
		     kfs_aws_seq_cmp(it->last_seq, before->seq) >= 0)) {
			it->feed = d->epoch;
			joined = 1;
		}
	} else if (before->epoch == d->epoch && before->asked_ms >= start_ms) {
		/* Handed nothing, and nothing was there after its start when
		 * its page was asked for, after the poller's tip `before` was
		 * read, after the start: the records up to that tip came
		 * before its start, those after it after. */
		if (covered_locked(d, before->seq, d->epoch, &first)) {
			memcpy(it->last_seq, before->seq, sizeof(it->last_seq));
			it->feed = d->epoch;
			joined = 1;
		}
	}
	if (joined)
		d->used_ms = kfs_clock_mono(f->env.clock);
	pthread_mutex_unlock(&d->lock);
	return joined;
}
