/* follow.c - see follow.h. */
#include "follow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "lib/util.h"

struct kfs_follow_stream {
	struct kfs_follow_stream *next;
	uint64_t gen;
	char name[KFS_STREAM_NAME_MAX + 1];
};

void kfs_follow_init(struct kfs_follow *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
}

void kfs_follow_destroy(struct kfs_follow *f)
{
	while (f->streams) {
		struct kfs_follow_stream *s = f->streams;
		f->streams = s->next;
		free(s);
	}
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
}

/* The entry of `stream`, made when missing; follow lock held.  NULL when
 * out of memory (then only `any` tells of changes). */
static struct kfs_follow_stream *entry(struct kfs_follow *f,
				       const char *stream)
{
	struct kfs_follow_stream *s;

	for (s = f->streams; s; s = s->next)
		if (strcmp(s->name, stream) == 0)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", stream);
	s->next = f->streams;
	f->streams = s;
	return s;
}

void kfs_follow_notify(struct kfs_follow *f, const char *stream)
{
	struct kfs_follow_stream *s;

	pthread_mutex_lock(&f->lock);
	s = entry(f, stream);
	if (s)
		s->gen++;
	f->any++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* The generation of stream (NULL: of all); follow lock held. */
static uint64_t gen_locked(struct kfs_follow *f, const char *stream)
{
	struct kfs_follow_stream *s = stream ? entry(f, stream) : NULL;

	return s ? s->gen : f->any;
}

uint64_t kfs_follow_gen(struct kfs_follow *f, const char *stream)
{
	uint64_t g;

	pthread_mutex_lock(&f->lock);
	g = gen_locked(f, stream);
	pthread_mutex_unlock(&f->lock);
	return g;
}

uint64_t kfs_follow_any(struct kfs_follow *f)
{
	return kfs_follow_gen(f, NULL);
}

int kfs_follow_wait(struct kfs_follow *f, const char *stream, uint64_t seen,
		    int timeout_ms)
{
	struct timespec ts;
	int changed;

	kfs_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&f->lock);
	while (!(changed = gen_locked(f, stream) != seen))
		if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) != 0)
			break;
	if (!changed)
		changed = gen_locked(f, stream) != seen;
	pthread_mutex_unlock(&f->lock);
	return changed;
}
