/*
 * rate.c - the GetRecords limiter of the AWS backend; see rate.h.
 */
#include "rate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kfs_aws_rate_init(struct kfs_aws_rate *r, const struct kfs_aws_client *c,
		       int interval_ms)
{
	memset(r, 0, sizeof(*r));
	r->client = c;
	r->interval_ms = interval_ms;
	pthread_mutex_init(&r->lock, NULL);
}

void kfs_aws_rate_destroy(struct kfs_aws_rate *r)
{
	free(r->slots);
	r->slots = NULL;
	pthread_mutex_destroy(&r->lock);
}

/* Takes the next GetRecords slot of a shard, sleeping until it comes. */
void kfs_aws_rate_wait(struct kfs_aws_rate *r, const char *stream,
		       const char *shard)
{
	struct kfs_aws_rate_slot *s = NULL;
	int64_t now, wait = 0;

	if (r->interval_ms <= 0)
		return;
	pthread_mutex_lock(&r->lock);
	now = kfs_clock_mono(r->client->clock);
	for (size_t i = 0; i < r->n_slots; i++) {
		if (!strcmp(r->slots[i].stream, stream) &&
		    !strcmp(r->slots[i].shard, shard)) {
			s = &r->slots[i];
			break;
		}
	}
	if (!s) {
		/* Forget shards nobody read for a minute. */
		for (size_t i = 0; i < r->n_slots;) {
			if (r->slots[i].next_ms < now - 60000)
				r->slots[i] = r->slots[--r->n_slots];
			else
				i++;
		}
		if (r->n_slots == r->cap_slots) {
			size_t cap = r->cap_slots ? 2 * r->cap_slots : 16;
			struct kfs_aws_rate_slot *v =
				realloc(r->slots, cap * sizeof(*v));
			if (v) {
				r->slots = v;
				r->cap_slots = cap;
			}
		}
		if (r->n_slots < r->cap_slots) {
			s = &r->slots[r->n_slots++];
			snprintf(s->stream, sizeof(s->stream), "%s", stream);
			snprintf(s->shard, sizeof(s->shard), "%s", shard);
			s->next_ms = now;
		}
	}
	if (s) {
		if (s->next_ms > now)
			wait = s->next_ms - now;
		s->next_ms = (s->next_ms > now ? s->next_ms : now) +
			     r->interval_ms;
	}
	pthread_mutex_unlock(&r->lock);
	kfs_aws_sleep_ms(r->client, wait);
}

/* Takes the shard's read slot if it is free now; -EAGAIN when it is not. */
int kfs_aws_rate_try(struct kfs_aws_rate *r, const char *stream,
		     const char *shard)
{
	int64_t now = kfs_clock_mono(r->client->clock);
	int rc = 0;

	if (r->interval_ms <= 0)
		return 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_slots; i++) {
		struct kfs_aws_rate_slot *s = &r->slots[i];
		if (!strcmp(s->stream, stream) && !strcmp(s->shard, shard)) {
			if (s->next_ms > now)
				rc = -EAGAIN;
			else
				s->next_ms = now + r->interval_ms;
			pthread_mutex_unlock(&r->lock);
			return rc;
		}
	}
	pthread_mutex_unlock(&r->lock);
	/* No slot yet: the shard is not being read; make one. */
	kfs_aws_rate_wait(r, stream, shard);
	return 0;
}

/* The service throttled a shard's reads: nobody of this mount reads it
 * before ms from now. */
void kfs_aws_rate_penalize(struct kfs_aws_rate *r, const char *stream,
			   const char *shard, int64_t ms)
{
	int64_t until = kfs_clock_mono(r->client->clock) + ms;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_slots; i++) {
		struct kfs_aws_rate_slot *s = &r->slots[i];
		if (!strcmp(s->stream, stream) && !strcmp(s->shard, shard)) {
			if (s->next_ms < until)
				s->next_ms = until;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
}
