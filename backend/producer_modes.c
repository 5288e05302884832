/*
 * producer_modes.c - how a stream's records are sent (producer.h,
 * KFS_PRODUCER_AGGREGATE and _SPREAD): the settings per stream, and the
 * explicit hash keys that spread a key's records over the open shards
 * (docs/aggregation.md, "One file over many shards").
 */
#include "producer_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

int kfs_producer_set_mode(struct kfs_producer *p, const char *stream,
			  unsigned m, int on)
{
	struct pstream *ps;

	pthread_mutex_lock(&p->lock);
	ps = p->stopping ? NULL : prod_stream_get(p, stream);
	pthread_mutex_unlock(&p->lock);
	if (!ps)
		return -ENOMEM;
	pthread_mutex_lock(&ps->lock);
	if (m & KFS_PRODUCER_AGGREGATE)
		ps->aggregate = on != 0;
	if (m & KFS_PRODUCER_SPREAD)
		ps->spread = on != 0;
	pthread_cond_signal(&ps->wake);
	pthread_mutex_unlock(&ps->lock);
	return 0;
}

unsigned kfs_producer_modes(struct kfs_producer *p, const char *stream)
{
	struct pstream *ps;
	unsigned m = (p->cfg.aggregate ? KFS_PRODUCER_AGGREGATE : 0) |
		     (p->cfg.spread ? KFS_PRODUCER_SPREAD : 0);

	pthread_mutex_lock(&p->lock);
	for (ps = p->streams; ps; ps = ps->next)
		if (strcmp(ps->name, stream) == 0)
			break;
	pthread_mutex_unlock(&p->lock);
	if (ps) {
		/* Streams are only freed by kfs_producer_free. */
		pthread_mutex_lock(&ps->lock);
		m = (ps->aggregate ? KFS_PRODUCER_AGGREGATE : 0) |
		    (ps->spread ? KFS_PRODUCER_SPREAD : 0);
		pthread_mutex_unlock(&ps->lock);
	}
	return m;
}

const char *prod_spread_ehk(struct sender *me)
{
	int64_t listed;

	if (!me->ring_spread)
		return NULL;
	prod_rate_map_fresh(me->ps, &listed);
	if (listed != me->ring_ms) {
		char (*ring)[KFS_HASH_KEY_MAX];
		size_t n = prod_rate_starts(me->ps, &listed, &ring);

		if (ring) {
			free(me->ring);
			me->ring = ring;
			me->ring_n = n;
			me->ring_ms = listed;
		}
	}
	if (me->ring_n == 0)
		return NULL;
	return me->ring[me->ring_next++ % me->ring_n];
}
