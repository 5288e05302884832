/*
 * read.c - the AWS backend's reading: shard iterators, GetRecords, the
 * shards' pollers (feed.h) and subscriptions (fanout.h) that feed readers
 * at the tip, and the newest record of each shard (for mtimes).
 *
 * Iterators.  What get_iterator hands out is a composite (wire.h): the
 * service's iterator plus where reading started and the last record
 * delivered, so that an expired service iterator is replaced by one
 * AFTER_SEQUENCE_NUMBER of that record without the reader noticing.
 *
 * Rates.  The service allows 5 GetRecords per second per shard, for all
 * readers together; every handle of this mount reading a shard takes a
 * slot of one limiter per shard (200 ms apart; rate.c), and a throttled
 * answer pushes the shard's next slot further out for everyone.  Readers
 * at a shard's tip make no calls of their own: one poller per shard reads
 * for them all (feed.h).
 */
#include "aws_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "lib/cancel.h"
#include "lib/log.h"
#include "lib/util.h"

#define EMPTY_ROUNDS_MAX 100     /* empty GetRecords pages followed while
				  * behind the tip */
#define GET_THROTTLE_TRIES 6     /* GetRecords throttled this often: EAGAIN */
#define ITER_REFRESH_MAX 3       /* expired iterators replaced per call */

/* A service iterator for spec; *out malloc'd. */
static int service_iterator(struct kfs_aws *a, const char *stream,
			    const char *shard_id, const struct kfs_iter_spec *spec,
			    char **out)
{
	struct kfs_aws_error e;
	char what[KFS_STREAM_NAME_MAX + KFS_SHARD_ID_LEN + 2];
	cJSON *req, *resp;
	int rc;

	*out = NULL;
	rc = kfs_wire_shard_iterator_req(stream, shard_id, spec, &req);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "%s/%s", stream, shard_id);
	rc = kfs_aws_action(a, "GetShardIterator", what, req, 0, &resp, &e);
	if (rc < 0)
		return rc;
	rc = kfs_wire_shard_iterator_parse(resp, out);
	cJSON_Delete(resp);
	return rc;
}

int kfs_aws_get_iterator(void *impl, const char *stream, const char *shard_id,
			    const struct kfs_iter_spec *spec, char **iter_out)
{
	struct kfs_aws *a = impl;
	struct kfs_wire_iter it;
	char *svc;
	int rc;

	*iter_out = NULL;
	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	if (!kfs_is_shard_id(shard_id))
		return -ENOENT;
	memset(&it, 0, sizeof(it));
	snprintf(it.stream, sizeof(it.stream), "%s", stream);
	snprintf(it.shard, sizeof(it.shard), "%s", shard_id);
	it.type = spec->type;
	if (spec->type == KFS_ITER_AT_SEQUENCE_NUMBER ||
	    spec->type == KFS_ITER_AFTER_SEQUENCE_NUMBER) {
		if (!kfs_wire_valid_seq(spec->seq))
			return -EINVAL;
		snprintf(it.seq, sizeof(it.seq), "%s", spec->seq);
	}
	if (spec->type == KFS_ITER_AT_TIMESTAMP)
		it.time_ms = spec->timestamp_ms;
	else if (spec->type == KFS_ITER_LATEST)
		it.time_ms = kfs_clock_now(a->client.clock);
	rc = service_iterator(a, stream, shard_id, spec, &svc);
	if (rc < 0)
		return rc;
	rc = kfs_wire_iter_format(&it, svc, iter_out);
	free(svc);
	return rc;
}

static void tail_seen(struct kfs_aws *a, const char *stream, const char *shard,
		      const struct kfs_get_result *r);

/* read_records modes. */
#define RR_NOWAIT 0x1   /* a poll for the tail: no wait for a slot */
#define RR_POLLER 0x2   /* a shard's poller: never served by one */

/* When a reader handed nothing yet starts, for kfs_aws_feed_offer: its
 * time (LATEST, AT_TIMESTAMP), 0 for TRIM_HORIZON, never for a sequence
 * number it is to start at (that record is its first). */
static int64_t start_ms(const struct kfs_wire_iter *it)
{
	switch (it->type) {
	case KFS_ITER_TRIM_HORIZON:
		return 0;
	case KFS_ITER_LATEST:
	case KFS_ITER_AT_TIMESTAMP:
		return it->time_ms;
	default:
		return INT64_MAX;
	}
}

/* A reader served by its shard's poller: 1 (out filled, its next
 * iterator set), 0 when the poller does not cover it, -errno. */
static int read_fed(struct kfs_aws *a, struct kfs_wire_iter *it, int limit,
		    unsigned flags, struct kfs_get_result *out)
{
	int ended, rc = kfs_aws_feed_read(a->feeds, it, limit, flags, out,
					  &ended);

	if (rc <= 0)
		return rc;
	if (!ended)
		rc = kfs_wire_iter_format(it, KFS_WIRE_NO_SERVICE,
					  &out->next_iterator);
	if (rc < 0) {
		kfs_get_result_clear(out);
		return rc;
	}
	return 1;
}

/*
 * GetRecords on a composite iterator, following empty pages, replacing an
 * expired service iterator, backing off when throttled, asking for half
 * the records (down to one) when an answer is too large to take.  With `nowait`
 * (polls for the tail) it makes no request unless the shard's read slot is
 * free now, and gives -EAGAIN at once when throttled.
 */
static int read_records(struct kfs_aws *a, const char *iterator, int limit,
			unsigned mode, unsigned flags, struct kfs_get_result *out)
{
	struct kfs_wire_iter it;
	struct kfs_aws_feed_snap before = { 0 };
	char what[KFS_STREAM_NAME_MAX + KFS_SHARD_ID_LEN + 2];
	char *svc = NULL, *next = NULL;
	int rc = 0, throttled = 0, failed = 0, refreshed = 0, empty = 0;
	int nowait = (mode & RR_NOWAIT) != 0;
	int fed = a->feeds && !(mode & (RR_NOWAIT | RR_POLLER));

	memset(out, 0, sizeof(*out));
	if (kfs_wire_iter_parse(iterator, &it) < 0 || limit < 1)
		return -EINVAL;
	if (limit > KFS_GET_LIMIT_MAX)
		limit = KFS_GET_LIMIT_MAX;
	snprintf(what, sizeof(what), "%s/%s", it.stream, it.shard);
	if (fed) {
		rc = read_fed(a, &it, limit, flags, out);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		/* Read on its own; the poller's tip before, to join it. */
		kfs_aws_feed_tip(a->feeds, it.stream, it.shard, &before);
	}
	it.feed = 0;
	if (fed && !it.last_seq[0] && it.type == KFS_ITER_AFTER_SEQUENCE_NUMBER)
		/* The same position, which a poller can serve. */
		memcpy(it.last_seq, it.seq, sizeof(it.last_seq));
	if (!strcmp(it.service, KFS_WIRE_NO_SERVICE)) {
		struct kfs_iter_spec spec;

		/* Fed by a poller until now: an iterator of its own. */
		kfs_wire_iter_resume_spec(&it, &spec);
		rc = service_iterator(a, it.stream, it.shard, &spec, &svc);
		if (rc < 0)
			return rc;
	} else {
		svc = strdup(it.service);
		if (!svc)
			return -ENOMEM;
	}
	for (;;) {
		cJSON *req, *resp;
		struct kfs_aws_error e;

		if (kfs_cancelled()) {
			rc = -EINTR;
			break;
		}
		req = kfs_wire_get_records_req(svc, limit);
		if (!req) {
			rc = -ENOMEM;
			break;
		}
		if (!nowait) {
			kfs_aws_rate_wait(&a->rate, it.stream, it.shard);
		} else if (kfs_aws_rate_try(&a->rate, it.stream, it.shard) < 0) {
			cJSON_Delete(req);
			rc = -EAGAIN;
			break;
		}
		rc = kfs_aws_call(&a->client, "GetRecords", req,
				  KFS_CALL_ONCE | KFS_CALL_LONG, &resp, &e);
		cJSON_Delete(req);
		if (rc == 0) {
			rc = kfs_wire_get_records_parse(resp, out, &next);
			cJSON_Delete(resp);
			if (rc < 0) {
				kfs_info("GetRecords %s: an answer without the "
					 "expected fields", what);
				break;
			}
			if (out->n) {
				const char *last = out->records[out->n - 1].seq;
				snprintf(it.last_seq, sizeof(it.last_seq), "%s", last);
			}
			free(svc);
			svc = next;
			next = NULL;
			/* An empty page while behind the tip: the records are
			 * further on (the service pages through time). */
			if (out->n == 0 && svc && out->millis_behind > 0 &&
			    ++empty < EMPTY_ROUNDS_MAX)
				continue;
			break;
		}
		if (e.retry == KFS_AWS_EXPIRED && refreshed < ITER_REFRESH_MAX) {
			struct kfs_iter_spec spec;

			refreshed++;
			kfs_wire_iter_resume_spec(&it, &spec);
			kfs_debug("GetRecords %s: iterator expired, resuming %s",
				  what, it.last_seq[0] ? "after the last record read"
				  : "where reading started");
			free(svc);
			rc = service_iterator(a, it.stream, it.shard, &spec, &svc);
			if (rc < 0)
				break;
			continue;
		}
		if (e.retry == KFS_AWS_TOO_LARGE && limit > 1) {
			/* The service caps an answer at 10 MiB; kinesalite
			 * does not, and a full shard's answer can pass what
			 * is taken (KFS_HTTP_BODY_MAX).  The iterator did not
			 * move: ask it for fewer records. */
			limit /= 2;
			kfs_debug("GetRecords %s: %s, asking for %d record(s)",
				  what, e.message, limit);
			continue;
		}
		if (e.retry == KFS_AWS_THROTTLED && nowait) {
			kfs_aws_rate_penalize(&a->rate, it.stream, it.shard,
					      a->rate.interval_ms);
			break;
		}
		if (e.retry == KFS_AWS_THROTTLED && ++throttled < GET_THROTTLE_TRIES) {
			int64_t ms = (int64_t)a->rate.interval_ms << throttled;
			kfs_debug("GetRecords %s: throttled, waiting %lld ms", what,
				  (long long)ms);
			kfs_aws_rate_penalize(&a->rate, it.stream, it.shard, ms);
			kfs_metrics_add_global(a->client.metrics,
					       KFS_G_REQUESTS_RETRIED, 1);
			continue;
		}
		if (e.retry == KFS_AWS_TRANSIENT && ++failed < a->client.max_attempts) {
			kfs_metrics_add_global(a->client.metrics,
					       KFS_G_REQUESTS_RETRIED, 1);
			kfs_aws_backoff(&a->client, failed - 1);
			continue;
		}
		if (e.retry == KFS_AWS_EXPIRED)
			rc = -EIO;
		if (!nowait)
			kfs_aws_log_fail("GetRecords", what, &e);
		break;
	}
	if (rc == 0 && svc) {
		rc = kfs_wire_iter_format(&it, svc, &out->next_iterator);
		/* At the tip: the shard's poller reads for it from now on. */
		if (rc == 0 && fed && out->millis_behind == 0 &&
		    kfs_aws_feed_offer(a->feeds, &it, out->next_iterator,
				       &before, start_ms(&it))) {
			free(out->next_iterator);
			out->next_iterator = NULL;
			rc = kfs_wire_iter_format(&it, KFS_WIRE_NO_SERVICE,
						  &out->next_iterator);
		}
	} else if (rc == 0 && !nowait) {
		/* The end of a closed shard: its children take over. */
		if (!out->children.n)
			kfs_aws_children_from_list(a, it.stream, it.shard, &out->children);
	}
	free(svc);
	free(next);
	if (rc < 0) {
		kfs_get_result_clear(out);
	} else {
		tail_seen(a, it.stream, it.shard, out);
		kfs_aws_keys_read(a->keys, it.stream, it.shard, out);
	}
	return rc;
}

/* flags: sequence numbers come with the records anyway; KFS_GET_STALE_OK
 * lets a reader fed by a poller take its last page (feed.h). */
int kfs_aws_get_records(void *impl, const char *iterator, int limit,
			   unsigned flags, struct kfs_get_result *out)
{
	struct kfs_aws *a = impl;

	if (kfs_aws_keys_is_iterator(iterator))
		return kfs_aws_keys_get_records(a->keys, iterator, limit, flags,
						out);
	return read_records(impl, iterator, limit, 0, flags, out);
}

/* A poller's subscription (feed.h, fanout.h). */
static int poller_subscribe(void *ctx, const char *stream, const char *shard,
			    const char *after, kfs_aws_fanout_fn fn, void *arg)
{
	struct kfs_aws *a = ctx;
	struct kfs_stream_desc desc;
	struct kfs_aws_error e;
	char what[KFS_STREAM_NAME_MAX + KFS_SHARD_ID_LEN + 2];
	int rc = kfs_aws_describe(a, stream, &desc);

	if (rc < 0)
		return rc;
	rc = kfs_aws_fanout_subscribe(a->fanout, stream, desc.arn, shard, after,
				      fn, arg, &e);
	if (rc == 0 || rc == -ECANCELED || rc == -EINTR)
		return rc;
	snprintf(what, sizeof(what), "%s/%s", stream, shard);
	kfs_aws_log_fail("SubscribeToShard", what, &e);
	/* A broken or damaged stream, an exception the service may not
	 * raise again, one subscription too soon: subscribe again. */
	if (e.retry == KFS_AWS_TRANSIENT || e.retry == KFS_AWS_THROTTLED ||
	    rc == -EBUSY || rc == -EBADMSG || rc == -EPROTO)
		return -EAGAIN;
	return rc;
}

/* The poller's page (feed.h): read_records that is never fed itself. */
static int poller_read(void *ctx, const char *iter, struct kfs_get_result *out)
{
	return read_records(ctx, iter, KFS_GET_LIMIT_MAX, RR_POLLER, 0, out);
}

/* ---- the newest record of a shard ------------------------------------- */

/* The tail of (stream, shard), made when missing; tail_lock held.  NULL
 * when out of memory. */
static struct tail *tail_of(struct kfs_aws *a, const char *stream,
			    const char *shard)
{
	int64_t now = kfs_aws_mono(a);
	struct tail *t;

	for (size_t i = 0; i < a->n_tails; i++) {
		t = &a->tails[i];
		if (!strcmp(t->stream, stream) && !strcmp(t->shard, shard)) {
			t->used_ms = now;
			return t;
		}
	}
	/* Forget shards nobody looked at for ten minutes. */
	for (size_t i = 0; i < a->n_tails;) {
		t = &a->tails[i];
		if (!t->busy && now - t->used_ms > 600000) {
			free(t->iter);
			a->tails[i] = a->tails[--a->n_tails];
		} else {
			i++;
		}
	}
	if (a->n_tails == a->cap_tails) {
		size_t cap = a->cap_tails ? 2 * a->cap_tails : 16;
		struct tail *v = realloc(a->tails, cap * sizeof(*v));
		if (!v)
			return NULL;
		a->tails = v;
		a->cap_tails = cap;
	}
	t = &a->tails[a->n_tails++];
	memset(t, 0, sizeof(*t));
	snprintf(t->stream, sizeof(t->stream), "%s", stream);
	snprintf(t->shard, sizeof(t->shard), "%s", shard);
	t->newest_ms = -1;
	t->used_ms = now;
	return t;
}

/* Records read from a shard (by anyone) tell its newest arrival. */
static void tail_seen(struct kfs_aws *a, const char *stream, const char *shard,
		      const struct kfs_get_result *r)
{
	int64_t newest = -1;
	struct tail *t;

	for (size_t i = 0; i < r->n; i++)
		if (r->records[i].arrival_ms > newest)
			newest = r->records[i].arrival_ms;
	if (newest < 0)
		return;
	pthread_mutex_lock(&a->tail_lock);
	t = tail_of(a, stream, shard);
	if (t && newest > t->newest_ms)
		t->newest_ms = newest;
	pthread_mutex_unlock(&a->tail_lock);
}

/*
 * The newest arrival known for a shard, -1 when none.  Polls the shard's
 * tail first when the last poll is older than cache_ms and nobody else is
 * polling it; a poll never waits for the shard's read slot (readers come
 * first) and any failure just leaves what was known.
 */
int64_t kfs_aws_tail_newest(struct kfs_aws *a, const char *stream,
			   const char *shard)
{
	struct kfs_get_result r = { 0 };
	struct tail *t;
	int64_t newest;
	char *iter;
	int rc;

	pthread_mutex_lock(&a->tail_lock);
	t = tail_of(a, stream, shard);
	if (!t) {
		pthread_mutex_unlock(&a->tail_lock);
		return -1;
	}
	newest = t->newest_ms;
	if (t->busy || t->done || (t->polled_ms &&
	    kfs_aws_mono(a) - t->polled_ms < (a->cache_ms > 0 ? a->cache_ms : 0)) ||
	    (a->feeds && kfs_aws_feed_running(a->feeds, stream, shard))) {
		/* (A shard's poller reports every arrival it reads.) */
		pthread_mutex_unlock(&a->tail_lock);
		return newest;
	}
	t->busy = 1;
	iter = t->iter;
	t->iter = NULL;
	pthread_mutex_unlock(&a->tail_lock);

	if (!iter) {
		struct kfs_iter_spec spec = { .type = KFS_ITER_LATEST };
		rc = kfs_aws_get_iterator(a, stream, shard, &spec, &iter);
	} else {
		rc = read_records(a, iter, 1000, RR_NOWAIT, 0, &r);
		if (rc == 0) {
			free(iter);
			iter = r.next_iterator;
			r.next_iterator = NULL;
		}
	}
	if (rc < 0 && rc != -EAGAIN)
		kfs_debug("%s/%s: newest record not known: %s", stream, shard,
			  strerror(-rc));
	kfs_get_result_clear(&r);

	pthread_mutex_lock(&a->tail_lock);
	t = tail_of(a, stream, shard);
	if (t) {
		t->busy = 0;
		if (rc != -EAGAIN)
			t->polled_ms = kfs_aws_mono(a);
		if (rc == 0 && !iter)
			t->done = 1;    /* a closed shard read to its end */
		free(t->iter);
		t->iter = iter;
		iter = NULL;
		newest = t->newest_ms;
	}
	pthread_mutex_unlock(&a->tail_lock);
	free(iter);
	return newest;
}

void kfs_aws_tails_free(struct kfs_aws *a)
{
	for (size_t i = 0; i < a->n_tails; i++)
		free(a->tails[i].iter);
	free(a->tails);
	a->tails = NULL;
	a->n_tails = a->cap_tails = 0;
}

void kfs_aws_feed_env(struct kfs_aws *a, struct kfs_aws_feed_env *env)
{
	env->read = poller_read;
	env->ctx = a;
	env->subscribe = a->fanout ? poller_subscribe : NULL;
}
