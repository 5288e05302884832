/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define METRICS_BUCKETS 64

/* The counters of one stream. */
struct mstream {
	struct mstream *next;      /* bucket chain; protected by metrics lock */
	uint64_t v[KFS_M_COUNT];   /* atomic: added to under the read side */
	char name[];               /* the stream */
};

struct kfs_metrics {
	/* "metrics lock": the write side protects the chains (adding and
	 * dropping streams); the read side keeps every mstream alive while
	 * its counters are added to or read. */
	pthread_rwlock_t lock;
	struct mstream *buckets[METRICS_BUCKETS];   /* protected by metrics lock */
	uint64_t global[KFS_G_COUNT];               /* atomic */
	int nomem_logged;                           /* atomic: once is enough */
};

struct kfs_metrics *kfs_metrics_new(void)
{
	struct kfs_metrics *m = calloc(1, sizeof(*m));

	if (m && pthread_rwlock_init(&m->lock, NULL) != 0) {
		free(m);
		m = NULL;
	}
	return m;
}

void kfs_metrics_free(struct kfs_metrics *m)
{
	if (!m)
		return;
	for (size_t b = 0; b < METRICS_BUCKETS; b++)
		while (m->buckets[b]) {
			struct mstream *s = m->buckets[b];
			m->buckets[b] = s->next;
			free(s);
		}
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

static unsigned bucket(const char *name)
{
	unsigned h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % METRICS_BUCKETS;
}

/* The counters of `stream`, or NULL; metrics lock held (either side). */
static struct mstream *find(struct kfs_metrics *m, const char *stream)
{
	for (struct mstream *s = m->buckets[bucket(stream)]; s; s = s->next)
		if (strcmp(s->name, stream) == 0)
			return s;
	return NULL;
}

/*
 * The counters of `stream`, made if missing; returns with the read side
 * of the metrics lock held (the caller unlocks), and NULL when out of
 * memory.
 */
static struct mstream *get_locked(struct kfs_metrics *m, const char *stream)
{
	struct mstream *s;
	size_t len;

	pthread_rwlock_rdlock(&m->lock);
	s = find(m, stream);
	if (s)
		return s;
	pthread_rwlock_unlock(&m->lock);
	pthread_rwlock_wrlock(&m->lock);
	s = find(m, stream);
	if (!s) {
		len = strlen(stream) + 1;
		s = calloc(1, sizeof(*s) + len);
		if (s) {
			unsigned b = bucket(stream);
			memcpy(s->name, stream, len);
			s->next = m->buckets[b];
			m->buckets[b] = s;
		}
	}
	pthread_rwlock_unlock(&m->lock);
	/* Streams are dropped only on delete: one dropped in between is
	 * counted no more, as if the count came after the delete. */
	pthread_rwlock_rdlock(&m->lock);
	s = find(m, stream);
	if (!s && !__atomic_exchange_n(&m->nomem_logged, 1, __ATOMIC_RELAXED))
		kfs_warn("metrics of stream %s: out of memory, not counted",
			 stream);
	return s;
}

void kfs_metrics_add_all(struct kfs_metrics *m, const char *stream,
			 const uint64_t v[KFS_M_COUNT])
{
	struct mstream *s;

	if (!m)
		return;
	s = get_locked(m, stream);
	for (int c = 0; s && c < KFS_M_COUNT; c++)
		if (v[c])
			__atomic_add_fetch(&s->v[c], v[c], __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&m->lock);
}

void kfs_metrics_add(struct kfs_metrics *m, const char *stream,
		     enum kfs_metric c, uint64_t n)
{
	uint64_t v[KFS_M_COUNT] = { 0 };

	if (!m || n == 0)
		return;
	v[c] = n;
	kfs_metrics_add_all(m, stream, v);
}

void kfs_metrics_add_global(struct kfs_metrics *m, enum kfs_gmetric c,
			    uint64_t n)
{
	if (m)
		__atomic_add_fetch(&m->global[c], n, __ATOMIC_RELAXED);
}

void kfs_metrics_forget(struct kfs_metrics *m, const char *stream)
{
	struct mstream **sp;

	if (!m)
		return;
	pthread_rwlock_wrlock(&m->lock);
	for (sp = &m->buckets[bucket(stream)]; *sp; sp = &(*sp)->next) {
		if (strcmp((*sp)->name, stream) == 0) {
			struct mstream *s = *sp;
			*sp = s->next;
			free(s);
			break;
		}
	}
	pthread_rwlock_unlock(&m->lock);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct kfs_metrics_stream *)a)->name,
		      ((const struct kfs_metrics_stream *)b)->name);
}

int kfs_metrics_snapshot(struct kfs_metrics *m, struct kfs_metrics_snapshot *out)
{
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (!m)
		return 0;
	for (int c = 0; c < KFS_G_COUNT; c++)
		out->global[c] = __atomic_load_n(&m->global[c], __ATOMIC_RELAXED);
	pthread_rwlock_rdlock(&m->lock);
	for (size_t b = 0; b < METRICS_BUCKETS; b++)
		for (struct mstream *s = m->buckets[b]; s; s = s->next)
			n++;
	out->streams = n ? calloc(n, sizeof(*out->streams)) : NULL;
	if (n && !out->streams) {
		pthread_rwlock_unlock(&m->lock);
		return -ENOMEM;
	}
	for (size_t b = 0; b < METRICS_BUCKETS; b++) {
		for (struct mstream *s = m->buckets[b]; s; s = s->next) {
			struct kfs_metrics_stream *o = &out->streams[out->n];

			o->name = strdup(s->name);
			if (!o->name) {
				pthread_rwlock_unlock(&m->lock);
				kfs_metrics_snapshot_clear(out);
				return -ENOMEM;
			}
			for (int c = 0; c < KFS_M_COUNT; c++)
				o->v[c] = __atomic_load_n(&s->v[c],
							  __ATOMIC_RELAXED);
			out->n++;
		}
	}
	pthread_rwlock_unlock(&m->lock);
	if (out->n > 1)
		qsort(out->streams, out->n, sizeof(*out->streams), by_name);
	return 0;
}

void kfs_metrics_snapshot_clear(struct kfs_metrics_snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->streams[i].name);
	free(s->streams);
	memset(s, 0, sizeof(*s));
}
