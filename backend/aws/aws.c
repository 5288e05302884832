/*
 * aws.c - the AWS backend: the operations of backend.h as Kinesis Data
 * Streams actions; see aws.h.
 *
 * Caches.  The FUSE layer describes the stream on every getattr and open,
 * and lists on every readdir; answering each from the service would cost a
 * round trip per stat and run into the control plane's limits (a handful of
 * calls per second per account).  So ListStreams, ListShards and
 * DescribeStreamSummary answers (found and not-found alike) are reused for
 * cache_ms, and this mount's own create, delete, reshard and retention
 * changes drop what they make stale.  One fetch at a time per entry: the
 * others wait for its answer, without the cache lock held across the
 * request.  A generation number per entry keeps a fetch that started before
 * an invalidation from storing its stale answer.  When a refresh fails
 * for want of the service (network, 5xx, throttling past the retries), the
 * last answer goes on being used, for up to STALE_MAX_MS: a stream that
 * existed a moment ago still does, so stat, open and a stream view's
 * listing ride out an outage instead of failing with EIO.
 *
 * Reading (iterators, GetRecords, the shards' pollers, mtimes) is in
 * read.c.
 *
 * Times.  A shard file's mtime is the arrival of its newest record, which
 * no call tells.  The first describe of a shard takes an iterator at its
 * tip (LATEST); later describes move it on by one GetRecords, at most every
 * cache_ms and only when the shard's read slot is free, and every read of
 * the shard reports the arrivals it saw.  Until a record is seen the
 * newest arrival stays unknown (-1) and the FUSE layer shows the stream's
 * creation time.  Sizes stay unknown: only reading a whole shard tells them.
 *
 * Retries.  Control-plane calls are retried here on throttling and on
 * server or network failures (client.c).  PutRecords is never retried
 * here: the producer resends only the failed entries, which carry a
 * retryable errno.
 */
#include "internal.h"
#include "aws_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolve.h"
#include "creds.h"
#include "errors.h"
#include "fanout.h"
#include "feed.h"
#include "keys.h"
#include "rate.h"
#include "profile.h"
#include "wire.h"
#include "lib/cancel.h"
#include "lib/log.h"
#include "lib/util.h"

#define CACHE_PRUNE_AT 256       /* entries before old ones are dropped */
#define PAGES_MAX 10000          /* bound on pages of one listing */
#define POLL_MAX_MS 2000         /* longest wait between status polls */
#define EVENTUAL_MS 10000        /* a new stream may be unknown this long */
#define STALE_MAX_MS 300000      /* a cached answer stands in for one the
				  * service cannot give, this long */

enum cache_kind {
	CACHE_STREAMS,           /* the ListStreams names; name "" */
	CACHE_DESC,              /* DescribeStreamSummary of a stream */
	CACHE_SHARDS,            /* ListShards of a stream */
};

/* What one cache entry holds; owned. */
struct cval {
	int err;                          /* 0, or -ENOENT: no such stream */
	struct kfs_stream_desc desc;      /* CACHE_DESC */
	struct kfs_shard_list shards;     /* CACHE_SHARDS */
	struct kfs_name_list names;       /* CACHE_STREAMS */
};

struct centry {
	struct centry *next;              /* protected by cache_lock */
	enum cache_kind kind;             /* fixed */
	char name[KFS_STREAM_NAME_MAX + 1]; /* fixed: stream, "" for STREAMS */
	int valid;                        /* val is usable; protected by cache_lock */
	int loading;                      /* a thread is fetching it; cache_lock */
	uint64_t gen;                     /* bumped by invalidation; cache_lock */
	int64_t at_ms;                    /* monotonic time of val, or of the
					   * failed refresh that kept it;
					   * cache_lock */
	int64_t answered_ms;              /* monotonic time the service gave
					   * val; protected by cache_lock */
	int stale;                        /* val outlived a failed refresh;
					   * protected by cache_lock */
	struct cval val;                  /* protected by cache_lock */
};

/* One action with a body `req` (consumed); *resp as kfs_aws_call. */
int kfs_aws_action(struct kfs_aws *a, const char *action, const char *what,
		   cJSON *req, unsigned flags, cJSON **resp,
		   struct kfs_aws_error *e)
{
	int rc;

	if (!req) {
		memset(e, 0, sizeof(*e));
		e->err = -ENOMEM;
		snprintf(e->message, sizeof(e->message), "out of memory");
		*resp = NULL;
		return -ENOMEM;
	}
	rc = kfs_aws_call(&a->client, action, req, flags, resp, e);
	cJSON_Delete(req);
	if (rc < 0)
		kfs_aws_log_fail(action, what, e);
	return rc;
}

/* ---- fetching --------------------------------------------------------- */

static int fetch_streams(struct kfs_aws *a, struct kfs_name_list *names)
{
	char *token = NULL;
	int rc = 0;

	for (int page = 0; page < PAGES_MAX; page++) {
		const char *last = names->n ? names->v[names->n - 1] : NULL;
		struct kfs_aws_error e;
		cJSON *resp;
		int more;
		char *next;

		rc = kfs_aws_action(a, "ListStreams", "", kfs_wire_list_streams_req(
				  token ? NULL : last, token), 0, &resp, &e);
		if (rc < 0)
			break;
		rc = kfs_wire_list_streams_parse(resp, names, &more, &next);
		cJSON_Delete(resp);
		if (rc < 0)
			break;
		free(token);
		token = next;
		if (!more && !token)
			break;
		if (!token && !names->n) {
			rc = -EIO; /* more, but nothing to page from */
			break;
		}
	}
	free(token);
	if (rc < 0)
		kfs_name_list_clear(names);
	return rc;
}

static int fetch_desc(struct kfs_aws *a, const char *stream,
		      struct kfs_stream_desc *d)
{
	struct kfs_aws_error e;
	cJSON *resp;
	int rc = kfs_aws_action(a, "DescribeStreamSummary", stream,
		      kfs_wire_stream_req(stream), 0, &resp, &e);

	if (rc < 0)
		return rc;
	rc = kfs_wire_stream_summary_parse(resp, d);
	cJSON_Delete(resp);
	if (rc < 0)
		kfs_info("DescribeStreamSummary %s: an answer without the "
			 "expected fields", stream);
	return rc;
}

static int fetch_shards(struct kfs_aws *a, const char *stream,
			struct kfs_shard_list *out)
{
	char *token = NULL;
	int rc = 0, restarted = 0;

	for (int page = 0; page < PAGES_MAX; page++) {
		struct kfs_aws_error e;
		cJSON *resp;
		char *next;

		rc = kfs_aws_action(a, "ListShards", stream,
			  kfs_wire_list_shards_req(stream, token), 0, &resp, &e);
		if (rc < 0 && e.retry == KFS_AWS_EXPIRED && !restarted) {
			/* The page token aged out: list again from the top. */
			restarted = 1;
			free(token);
			token = NULL;
			kfs_shard_list_clear(out);
			continue;
		}
		if (rc < 0)
			break;
		rc = kfs_wire_list_shards_parse(resp, out, &next);
		cJSON_Delete(resp);
		if (rc < 0)
			break;
		free(token);
		token = next;
		if (!token)
			break;
	}
	free(token);
	if (rc < 0)
		kfs_shard_list_clear(out);
	return rc;
}

/* ---- caches ----------------------------------------------------------- */

static void cval_clear(struct cval *v)
{
	kfs_shard_list_clear(&v->shards);
	kfs_name_list_clear(&v->names);
	memset(v, 0, sizeof(*v));
}

/* Deep copy of src's `kind` part into dst (zeroed by the caller). */
static int cval_copy(struct cval *dst, const struct cval *src, enum cache_kind kind)
{
	dst->err = src->err;
	switch (kind) {
	case CACHE_DESC:
		dst->desc = src->desc;
		return 0;
	case CACHE_SHARDS:
		if (!src->shards.n)
			return 0;
		dst->shards.v = malloc(src->shards.n * sizeof(*dst->shards.v));
		if (!dst->shards.v)
			return -ENOMEM;
		memcpy(dst->shards.v, src->shards.v,
		       src->shards.n * sizeof(*dst->shards.v));
		dst->shards.n = src->shards.n;
		return 0;
	case CACHE_STREAMS:
		for (size_t i = 0; i < src->names.n; i++) {
			if (kfs_name_list_add(&dst->names, src->names.v[i]) < 0) {
				kfs_name_list_clear(&dst->names);
				return -ENOMEM;
			}
		}
		return 0;
	}
	return -EINVAL;
}

/* The action that fills an entry of `kind`, for log lines. */
static const char *cache_action(enum cache_kind kind)
{
	return kind == CACHE_STREAMS ? "ListStreams" : kind == CACHE_DESC
		? "DescribeStreamSummary" : "ListShards";
}

static int fetch(struct kfs_aws *a, enum cache_kind kind, const char *name,
		 struct cval *v)
{
	int rc = -EINVAL;

	switch (kind) {
	case CACHE_STREAMS:
		rc = fetch_streams(a, &v->names);
		break;
	case CACHE_DESC:
		rc = fetch_desc(a, name, &v->desc);
		break;
	case CACHE_SHARDS:
		rc = fetch_shards(a, name, &v->shards);
		break;
	}
	v->err = rc;
	return rc;
}

/* Drops entries nobody is fetching that are invalid or long stale;
 * cache_lock held. */
static void cache_prune(struct kfs_aws *a)
{
	int64_t now = kfs_aws_mono(a), old = 10 * (int64_t)a->cache_ms;

	for (struct centry **pp = &a->cache; *pp;) {
		struct centry *e = *pp;
		if (!e->loading && (!e->valid || now - e->at_ms > old)) {
			*pp = e->next;
			cval_clear(&e->val);
			free(e);
			a->n_cache--;
		} else {
			pp = &e->next;
		}
	}
}

/* The entry for (kind, name), made when missing; cache_lock held.  NULL
 * when out of memory. */
static struct centry *cache_entry(struct kfs_aws *a, enum cache_kind kind,
				  const char *name, int create)
{
	struct centry *e;

	for (e = a->cache; e; e = e->next)
		if (e->kind == kind && strcmp(e->name, name) == 0)
			return e;
	if (!create)
		return NULL;
	if (a->n_cache >= CACHE_PRUNE_AT)
		cache_prune(a);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->kind = kind;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->next = a->cache;
	a->cache = e;
	a->n_cache++;
	return e;
}

/*
 * The cached value of (kind, name) as a copy in *out (zeroed here), fetched
 * when missing or older than cache_ms.  Returns 0, -ENOENT (a cached or
 * fresh "no such stream"), or the fetch's -errno.
 */
static int cache_get(struct kfs_aws *a, enum cache_kind kind, const char *name,
		     struct cval *out)
{
	struct cval tmp;
	struct centry *e;
	uint64_t gen;
	int rc;

	memset(out, 0, sizeof(*out));
	if (a->cache_ms < 0)
		return fetch(a, kind, name, out);
	pthread_mutex_lock(&a->cache_lock);
	e = cache_entry(a, kind, name, 1);
	if (!e) {
		pthread_mutex_unlock(&a->cache_lock);
		return fetch(a, kind, name, out);
	}
	for (;;) {
		if (e->valid && kfs_aws_mono(a) - e->at_ms < a->cache_ms) {
			rc = cval_copy(out, &e->val, kind);
			pthread_mutex_unlock(&a->cache_lock);
			return rc < 0 ? rc : out->err;
		}
		if (!e->loading)
			break;
		pthread_cond_wait(&a->cache_cond, &a->cache_lock);
	}
	e->loading = 1;
	gen = e->gen;
	pthread_mutex_unlock(&a->cache_lock);

	memset(&tmp, 0, sizeof(tmp));
	rc = fetch(a, kind, name, &tmp);

	pthread_mutex_lock(&a->cache_lock);
	e->loading = 0;
	if ((rc == 0 || rc == -ENOENT) && gen == e->gen) {
		cval_clear(&e->val);
		if (cval_copy(&e->val, &tmp, kind) == 0) {
			e->valid = 1;
			e->at_ms = e->answered_ms = kfs_aws_mono(a);
			if (e->stale)
				kfs_info("%s %s: the service answers again",
					 cache_action(kind), name);
			e->stale = 0;
		} else {
			cval_clear(&e->val);
			e->valid = 0;
		}
	} else if ((rc == -EIO || rc == -EAGAIN) && gen == e->gen && e->valid &&
		   kfs_aws_mono(a) - e->answered_ms < STALE_MAX_MS) {
		struct cval old;

		memset(&old, 0, sizeof(old));
		if (cval_copy(&old, &e->val, kind) == 0) {
			if (!e->stale)
				kfs_warn("%s %s: no answer from the service (%s); "
					 "using the one of %lld s ago", cache_action(kind),
					 name, strerror(-rc), (long long)((kfs_aws_mono(a) -
					 e->answered_ms) / 1000));
			e->stale = 1;
			/* Not asked again before cache_ms: each try costs
			 * the retries of a whole call. */
			e->at_ms = kfs_aws_mono(a);
			cval_clear(&tmp);
			tmp = old;
			rc = tmp.err;
		} else {
			cval_clear(&old);
		}
	}
	pthread_cond_broadcast(&a->cache_cond);
	pthread_mutex_unlock(&a->cache_lock);
	*out = tmp;
	return rc;
}

/* Forgets (kind, name): the next get fetches anew. */
static void cache_drop(struct kfs_aws *a, enum cache_kind kind, const char *name)
{
	struct centry *e;

	pthread_mutex_lock(&a->cache_lock);
	e = cache_entry(a, kind, name, 0);
	if (e) {
		e->valid = 0;
		e->gen++;
	}
	pthread_mutex_unlock(&a->cache_lock);
}

/* Forgets everything known of a stream this mount changed. */
static void cache_drop_stream(struct kfs_aws *a, const char *stream, int listing)
{
	if (listing)
		cache_drop(a, CACHE_STREAMS, "");
	cache_drop(a, CACHE_DESC, stream);
	cache_drop(a, CACHE_SHARDS, stream);
}

/* ---- streams ---------------------------------------------------------- */

static int aws_list_streams(void *impl, struct kfs_name_list *out)
{
	struct kfs_aws *a = impl;
	struct cval v;
	int rc = cache_get(a, CACHE_STREAMS, "", &v);

	memset(out, 0, sizeof(*out));
	if (rc == 0) {
		*out = v.names;
		memset(&v.names, 0, sizeof(v.names));
	}
	cval_clear(&v);
	return rc;
}

/*
 * Polls DescribeStreamSummary until the stream is ACTIVE (want_gone 0) or
 * no longer exists (want_gone 1), waiting longer between polls each time,
 * at most `bound_ms` in all.  0, -errno, or -ETIMEDOUT past the bound.
 */
static int wait_for(struct kfs_aws *a, const char *stream, int want_gone,
		    int64_t bound_ms)
{
	int64_t t0 = kfs_aws_mono(a), interval = a->poll_first_ms;

	for (;;) {
		struct kfs_stream_desc d;
		int rc = fetch_desc(a, stream, &d);
		int64_t waited = kfs_aws_mono(a) - t0;

		if (want_gone) {
			if (rc == -ENOENT)
				return 0;
			if (rc < 0)
				return rc;
		} else {
			if (rc == 0 && d.status == KFS_STREAM_ACTIVE)
				return 0;
			if (rc == 0 && d.status == KFS_STREAM_DELETING)
				return -ENOENT;
			/* Just created, a stream may be unknown for a while. */
			if (rc == -ENOENT && waited >= EVENTUAL_MS)
				return rc;
			if (rc < 0 && rc != -ENOENT)
				return rc;
		}
		if (waited >= bound_ms)
			return -ETIMEDOUT;
		kfs_aws_sleep_ms(&a->client, interval);
		interval = interval * 3 / 2;
		if (interval > POLL_MAX_MS)
			interval = POLL_MAX_MS;
	}
}

/* wait_for(ACTIVE) after an action, turning a timeout into -EIO with a log
 * line that says the service goes on with it. */
static int wait_active(struct kfs_aws *a, const char *action, const char *stream)
{
	int rc = wait_for(a, stream, 0, a->wait_active_ms);

	if (rc == -ETIMEDOUT) {
		kfs_info("%s %s: still not ACTIVE after %" PRId64 " s; the "
			 "service goes on with it", action, stream,
			 a->wait_active_ms / 1000);
		rc = -EIO;
	}
	return rc;
}

static int aws_create_stream(void *impl, const char *stream, int shard_count)
{
	struct kfs_aws *a = impl;
	struct kfs_aws_error e;
	cJSON *resp;
	int rc;

	if (!kfs_valid_stream_name(stream) || shard_count < 1)
		return -EINVAL;
	rc = kfs_aws_action(a, "CreateStream", stream,
		  kfs_wire_create_stream_req(stream, shard_count), 0, &resp, &e);
	cJSON_Delete(resp);
	if (rc == -EEXIST && e.ambiguous) {
		/* An attempt whose answer was lost made it (or someone else
		 * did at the same moment: nobody can tell). */
		kfs_info("CreateStream %s: exists after a retried call; taking "
			 "it as made by this call", stream);
		rc = 0;
	}
	/* The lookup before mkdir cached "no such stream". */
	cache_drop_stream(a, stream, 1);
	if (rc < 0)
		return rc;
	rc = wait_active(a, "CreateStream", stream);
	cache_drop_stream(a, stream, 1);
	return rc;
}

static int aws_delete_stream(void *impl, const char *stream)
{
	struct kfs_aws *a = impl;
	struct kfs_aws_error e;
	cJSON *resp;
	int rc;

	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	rc = kfs_aws_action(a, "DeleteStream", stream, kfs_wire_stream_req(stream), 0,
		  &resp, &e);
	if (rc == -ENOENT && e.ambiguous) {
		/* An attempt whose answer was lost deleted it. */
		rc = 0;
	}
	cJSON_Delete(resp);
	cache_drop_stream(a, stream, 1);
	if (rc < 0)
		return rc;
	kfs_aws_keys_forget(a->keys, stream);
	rc = wait_for(a, stream, 1, a->wait_gone_ms);
	if (rc == -ETIMEDOUT) {
		kfs_info("DeleteStream %s: still DELETING after %" PRId64 " s; "
			 "the service goes on with it", stream,
			 a->wait_gone_ms / 1000);
		rc = 0;
	}
	cache_drop_stream(a, stream, 1);
	return rc;
}

int kfs_aws_describe(void *impl, const char *stream,
			       struct kfs_stream_desc *out)
{
	struct kfs_aws *a = impl;
	struct cval v;
	int rc;

	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	rc = cache_get(a, CACHE_DESC, stream, &v);
	if (rc == 0)
		*out = v.desc;
	cval_clear(&v);
	return rc;
}

/* ---- shards ----------------------------------------------------------- */

static int aws_list_shards(void *impl, const char *stream,
			   struct kfs_shard_list *out)
{
	struct kfs_aws *a = impl;
	struct cval v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	rc = cache_get(a, CACHE_SHARDS, stream, &v);
	if (rc == 0) {
		*out = v.shards;
		memset(&v.shards, 0, sizeof(v.shards));
	}
	cval_clear(&v);
	return rc;
}


static int aws_describe_shard(void *impl, const char *stream,
			      const char *shard_id, struct kfs_shard_desc *out)
{
	struct kfs_aws *a = impl;
	struct cval v;
	int rc;

	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	rc = cache_get(a, CACHE_SHARDS, stream, &v);
	if (rc == 0) {
		rc = -ENOENT;
		for (size_t i = 0; i < v.shards.n; i++) {
			if (strcmp(v.shards.v[i].id, shard_id) == 0) {
				*out = v.shards.v[i];
				rc = 0;
				break;
			}
		}
	}
	cval_clear(&v);
	if (rc == 0)
		out->newest_arrival_ms = kfs_aws_tail_newest(a, stream, shard_id);
	return rc;
}

/* ---- records ---------------------------------------------------------- */

/* 1 when s is a decimal number from 0 to 2^128 - 1. */
static int valid_hash_key(const char *s)
{
	static const char max[] = "340282366920938463463374607431768211455";
	size_t n = strlen(s);

	if (n == 0 || n > sizeof(max) - 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	if (n > 1 && s[0] == '0')
		return 0;
	return n < sizeof(max) - 1 || strcmp(s, max) <= 0;
}

static int aws_put_records(void *impl, const char *stream,
			   struct kfs_put_entry *entries, size_t n)
{
	struct kfs_aws *a = impl;
	struct kfs_aws_error e;
	size_t *idx, m = 0, body_len;
	struct kfs_aws_keys_ticket tk;
	char *body;
	cJSON *resp;
	int rc;

	if (n == 0)
		return 0;
	if (n > KFS_PUT_BATCH_MAX || !kfs_valid_stream_name(stream)) {
		for (size_t i = 0; i < n; i++)
			kfs_put_entry_fail(&entries[i], -EINVAL, "invalid request");
		return -EINVAL;
	}
	idx = malloc(n * sizeof(*idx));
	if (!idx) {
		for (size_t i = 0; i < n; i++)
			kfs_put_entry_fail(&entries[i], -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct kfs_put_entry *en = &entries[i];

		if (en->key && kfs_valid_partition_key(en->key) &&
		    !kfs_wire_valid_utf8(en->key)) {
			kfs_put_entry_fail(en, -EINVAL,
					   "partition key is not valid UTF-8");
			continue;
		}
		if (kfs_put_entry_check(en, a->max_record_bytes) != 0)
			continue;
		if (en->explicit_hash_key && !valid_hash_key(en->explicit_hash_key)) {
			kfs_put_entry_fail(en, -EINVAL, "explicit hash key is not a "
				   "decimal from 0 to 2^128-1");
			continue;
		}
		idx[m++] = i;
	}
	if (m == 0) {
		free(idx);
		return 0;
	}
	/* Once: the producer resends the failed entries, and only those (the
	 * body of a resend holds them alone).  The body is freed as soon as
	 * it is sent: it is the batch again, in base64. */
	rc = kfs_wire_put_records_body(stream, entries, idx, m, &body, &body_len);
	if (rc == 0) {
		/* Reads know from now on that these records may come back
		 * in this answer (key files' sizes, keys.c). */
		kfs_aws_keys_put_begin(a->keys, &tk);
		rc = kfs_aws_call_body(&a->client, "PutRecords", body, body_len,
				       KFS_CALL_ONCE | KFS_CALL_LONG, &resp, &e);
		kfs_wire_body_free(body, body_len);
		if (rc < 0) {
			kfs_aws_keys_put(a->keys, &tk, stream, entries, 0);
			kfs_aws_log_fail("PutRecords", stream, &e);
		}
	} else {
		memset(&e, 0, sizeof(e));
		e.err = rc;
		snprintf(e.message, sizeof(e.message), "out of memory");
	}
	if (rc == 0) {
		rc = kfs_wire_put_records_parse(resp, entries, idx, m);
		cJSON_Delete(resp);
		kfs_aws_keys_put(a->keys, &tk, stream, entries, rc == 0 ? n : 0);
		if (rc == 0 && a->feeds)
			/* The shards' pollers read them now: followers wake
			 * within a read, not a poll interval. */
			for (size_t k = 0; k < m; k++)
				if (!entries[idx[k]].err &&
				    (k == 0 || strcmp(entries[idx[k]].shard_id,
						      entries[idx[k - 1]].shard_id)))
					kfs_aws_feed_poke(a->feeds, stream,
							  entries[idx[k]].shard_id);
		if (rc < 0) {
			/* Stored or not, nobody can tell: resending may
			 * store some twice (at least once, docs/aws.md). */
			snprintf(e.message, sizeof(e.message), "an answer that "
				 "does not match the request");
			snprintf(e.type, sizeof(e.type), "%s", "");
			e.err = rc = -EIO;
		}
	}
	if (rc < 0) {
		char why[sizeof(entries->reason)];

		snprintf(why, sizeof(why), "%.60s%s%.90s", e.type,
			 e.type[0] && e.message[0] ? ": " : "", e.message);
		for (size_t k = 0; k < m; k++)
			kfs_put_entry_fail(&entries[idx[k]], rc, why);
	}
	free(idx);
	return rc;
}

static struct kfs_names *aws_names(void *impl)
{
	return kfs_aws_keys_names(((struct kfs_aws *)impl)->keys);
}

static int aws_key_iterator(void *impl, const char *stream,
			    const char *shard_id, const char *key,
			    const struct kfs_wpos *start,
			    const struct kfs_wpos *end, char **iter_out)
{
	struct kfs_aws *a = impl;

	*iter_out = NULL;
	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	if (!kfs_is_shard_id(shard_id))
		return -ENOENT;
	return kfs_aws_keys_iterator(a->keys, stream, shard_id, key, start,
				     end, iter_out);
}

/* The children of a shard read to its end, from the shard list (for
 * services that do not send ChildShards). */
void kfs_aws_children_from_list(struct kfs_aws *a, const char *stream,
				const char *shard, struct kfs_name_list *out)
{
	struct cval v;

	cache_drop(a, CACHE_SHARDS, stream);
	if (cache_get(a, CACHE_SHARDS, stream, &v) == 0) {
		for (size_t i = 0; i < v.shards.n; i++) {
			const struct kfs_shard_desc *d = &v.shards.v[i];
			if ((!strcmp(d->parent, shard) ||
			     !strcmp(d->adjacent_parent, shard)) &&
			    kfs_name_list_add(out, d->id) < 0)
				break;
		}
	}
	cval_clear(&v);
}

/* ---- resharding and retention ---------------------------------------- */

static int aws_update_shard_count(void *impl, const char *stream, int target)
{
	struct kfs_aws *a = impl;
	struct kfs_aws_error e;
	cJSON *resp;
	int rc;

	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	if (target < 1)
		return -EINVAL;
	rc = kfs_aws_action(a, "UpdateShardCount", stream,
		  kfs_wire_update_shard_count_req(stream, target), 0, &resp, &e);
	cJSON_Delete(resp);
	if (rc == -EBUSY && e.ambiguous)
		rc = 0; /* an attempt whose answer was lost started it */
	cache_drop_stream(a, stream, 0);
	if (rc < 0)
		return rc;
	rc = wait_active(a, "UpdateShardCount", stream);
	cache_drop_stream(a, stream, 0);
	return rc;
}

static int aws_set_retention(void *impl, const char *stream, int hours)
{
	struct kfs_aws *a = impl;
	struct kfs_stream_desc d;
	struct kfs_aws_error e;
	const char *action;
	cJSON *resp;
	int rc;

	if (!kfs_valid_stream_name(stream))
		return -EINVAL;
	if (hours < KFS_RETENTION_MIN_HOURS || hours > KFS_RETENTION_MAX_HOURS)
		return -EINVAL;
	rc = fetch_desc(a, stream, &d);
	if (rc < 0)
		return rc;
	if (d.retention_hours == hours)
		return 0;
	action = hours > d.retention_hours ? "IncreaseStreamRetentionPeriod"
					   : "DecreaseStreamRetentionPeriod";
	rc = kfs_aws_action(a, action, stream, kfs_wire_retention_req(stream, hours), 0,
		  &resp, &e);
	cJSON_Delete(resp);
	cache_drop(a, CACHE_DESC, stream);
	if (rc < 0)
		return rc;
	rc = wait_active(a, action, stream);
	cache_drop(a, CACHE_DESC, stream);
	return rc;
}

/* ---- life ------------------------------------------------------------- */

static void aws_destroy(void *impl)
{
	struct kfs_aws *a = impl;

	if (!a)
		return;
	kfs_aws_feeds_free(a->feeds);   /* its threads read through a */
	kfs_aws_fanout_free(a->fanout);
	kfs_aws_keys_free(a->keys);
	while (a->cache) {
		struct centry *e = a->cache;
		a->cache = e->next;
		cval_clear(&e->val);
		free(e);
	}
	kfs_aws_rate_destroy(&a->rate);
	kfs_aws_tails_free(a);
	pthread_mutex_destroy(&a->tail_lock);
	pthread_mutex_destroy(&a->cache_lock);
	pthread_cond_destroy(&a->cache_cond);
	kfs_http_free(a->client.http);
	free(a->client.region);
	free(a->client.url);
	if (a->chain)
		kfs_creds_chain_free(a->chain);
	free(a);
}

static const struct kfs_backend_ops aws_ops;

void kfs_aws_stop_pollers(struct kfs_backend *be)
{
	struct kfs_aws *a;

	if (!be || be->ops != &aws_ops)
		return;
	a = be->impl;
	if (a->feeds)
		kfs_aws_feeds_stop(a->feeds);
}

static const struct kfs_backend_ops aws_ops = {
	.name = "aws",
	/* A put is a round trip (batching pays off); EIO is often an outage. */
	.caps = KFS_CAP_OUTAGES,
	.destroy = aws_destroy,
	.list_streams = aws_list_streams,
	.create_stream = aws_create_stream,
	.delete_stream = aws_delete_stream,
	.describe_stream = kfs_aws_describe,
	.list_shards = aws_list_shards,
	.describe_shard = aws_describe_shard,
	.put_records = aws_put_records,
	.get_iterator = kfs_aws_get_iterator,
	.get_records = kfs_aws_get_records,
	.update_shard_count = aws_update_shard_count,
	.set_retention = aws_set_retention,
	.seek_bytes = NULL,
	.sync = NULL,
	.names = aws_names,
	.key_iterator = aws_key_iterator,
};

int kfs_aws_new(const struct kfs_aws_config *cfg, const char *region,
		const char *url, struct kfs_http *http,
		const struct kfs_aws_creds_source *creds,
		const struct kfs_aws_tuning *tuning, struct kfs_backend **out)
{
	struct kfs_aws_tuning t = tuning ? *tuning : (struct kfs_aws_tuning){ 0 };
	struct kfs_backend *be = calloc(1, sizeof(*be));
	struct kfs_aws *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!be || !a)
		goto nomem;
	a->client.http = http;
	http = NULL;
	a->client.creds = *creds;
	a->client.region = strdup(region);
	a->client.url = strdup(url);
	if (!a->client.region || !a->client.url)
		goto nomem;
	a->client.max_attempts = t.max_attempts > 0 ? t.max_attempts
						    : KFS_AWS_MAX_ATTEMPTS;
	a->client.backoff_ms = t.backoff_ms > 0 ? t.backoff_ms : KFS_AWS_BACKOFF_MS;
	a->client.backoff_cap_ms = t.backoff_cap_ms > 0 ? t.backoff_cap_ms
							: KFS_AWS_BACKOFF_CAP_MS;
	a->client.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 0;
	a->client.metrics = cfg->metrics;
	a->client.clock = cfg->clock;
	a->max_record_bytes = cfg->max_record_bytes ? cfg->max_record_bytes
						    : KFS_RECORD_LIMIT_DEFAULT;
	a->cache_ms = cfg->cache_ms ? cfg->cache_ms : KFS_AWS_CACHE_MS_DEFAULT;
	a->poll_first_ms = t.poll_first_ms > 0 ? t.poll_first_ms : 100;
	a->wait_active_ms = t.wait_active_ms > 0 ? t.wait_active_ms : 300000;
	a->wait_gone_ms = t.wait_gone_ms > 0 ? t.wait_gone_ms : 60000;
	pthread_mutex_init(&a->cache_lock, NULL);
	pthread_cond_init(&a->cache_cond, NULL);
	kfs_aws_rate_init(&a->rate, &a->client,
			  t.get_interval_ms > 0 ? t.get_interval_ms : 200);
	pthread_mutex_init(&a->tail_lock, NULL);
	be->ops = &aws_ops;
	if (kfs_aws_keys_new(&(struct kfs_aws_keys_env){
		.impl = a, .clock = cfg->clock, .list_shards = aws_list_shards,
		.get_iterator = kfs_aws_get_iterator,
		.get_records = kfs_aws_get_records }, &a->keys) < 0) {
		kfs_backend_free(be);
		return -ENOMEM;
	}
	be->impl = a;
	if (cfg->fanout) {
		int rc = kfs_aws_fanout_new(&a->client, cfg->fanout,
					    cfg->fanout_deregister, &a->fanout);

		if (rc < 0) {
			if (rc == -EINVAL)
				kfs_err("-o fanout=%s: a consumer name is 1 to 128 "
					"of A-Z a-z 0-9 _ . -", cfg->fanout);
			kfs_backend_free(be);
			return rc;
		}
	}
	if (cfg->poll_ms > 0) {
		struct kfs_aws_feed_env env = {
			.on_records = cfg->on_records,
			.on_records_arg = cfg->on_records_arg,
			.poll_ms = cfg->poll_ms,
			.clock = cfg->clock,
			.buffer_bytes = cfg->read_buffer ? cfg->read_buffer
							 : (size_t)32 << 20,
		};

		kfs_aws_feed_env(a, &env);
		if (kfs_aws_feeds_new(&env, &a->feeds) < 0) {
			kfs_backend_free(be);
			return -ENOMEM;
		}
	}
	*out = be;
	return 0;
nomem:
	kfs_http_free(http);
	if (a) {
		kfs_http_free(a->client.http);
		free(a->client.region);
		free(a->client.url);
	}
	free(a);
	free(be);
	return -ENOMEM;
}

static int probe(struct kfs_aws *a, const struct kfs_aws_target *t)
{
	struct kfs_aws_error e;
	cJSON *req = cJSON_CreateObject(), *resp = NULL;
	int rc;

	if (!req || !cJSON_AddNumberToObject(req, "Limit", 1)) {
		cJSON_Delete(req);
		return -ENOMEM;
	}
	rc = kfs_aws_call(&a->client, "ListStreams", req, 0, &resp, &e);
	cJSON_Delete(req);
	cJSON_Delete(resp);
	if (rc < 0)
		kfs_err("cannot use Kinesis at %s (region %s): ListStreams: "
			"%s%s%s (%s)", t->endpoint, t->region, e.type,
			e.type[0] && e.message[0] ? ": " : "", e.message,
			strerror(-rc));
	return rc;
}

int kfs_aws_open(const struct kfs_aws_config *cfg, struct kfs_backend **out)
{
	struct kfs_aws_target t;
	struct kfs_aws_creds_source src;
	struct kfs_creds_chain *chain = NULL;
	struct kfs_aws_creds cr;
	struct kfs_http *http = NULL;
	struct kfs_backend *be = NULL;
	char why[512];
	int rc;

	*out = NULL;
	rc = kfs_aws_resolve(cfg, kfs_aws_profile_value, &t, why, sizeof(why));
	if (rc < 0) {
		if (why[0])
			kfs_err("%s", why);
		return rc;
	}
	rc = kfs_creds_chain_new(cfg->profile, cfg->clock, &chain);
	if (rc < 0) {
		kfs_err("AWS credentials: cannot set up the chain: %s",
			strerror(-rc));
		goto fail;
	}
	/* No credentials at all is better said now than at the first ls
	 * (the chain logs which sources it tried). */
	memset(&cr, 0, sizeof(cr));
	rc = kfs_creds_chain_get(chain, &cr);
	kfs_aws_creds_clear(&cr);
	if (rc < 0)
		goto fail;
	rc = kfs_http_curl_new(&http);
	if (rc < 0)
		goto fail;
	kfs_aws_creds_source_chain(&src, chain);
	rc = kfs_aws_new(cfg, t.region, t.endpoint, http, &src, NULL, &be);
	http = NULL;
	if (rc < 0)
		goto fail;
	((struct kfs_aws *)be->impl)->chain = chain;
	chain = NULL;
	kfs_info("Kinesis endpoint %s (from %s), region %s (from %s)",
		 t.endpoint, t.endpoint_from, t.region, t.region_from);
	if (cfg->probe) {
		rc = probe(be->impl, &t);
		if (rc < 0)
			goto fail;
	}
	kfs_aws_target_clear(&t);
	*out = be;
	return 0;
fail:
	kfs_backend_free(be);
	kfs_http_free(http);
	if (chain)
		kfs_creds_chain_free(chain);
	kfs_aws_target_clear(&t);
	return rc;
}
