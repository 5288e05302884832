/*
 * fanout.c - enhanced fan-out: stream consumers and SubscribeToShard; see
 * fanout.h.
 */
#include "fanout.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventstream.h"
#include "wire.h"
#include "lib/cancel.h"
#include "lib/log.h"

#define ARN_MAX 512
#define ACTIVE_WAIT_MS 120000     /* a consumer becomes ACTIVE within this */
#define IDLE_MS 60000             /* a subscription silent this long broke
				   * (the service sends an event every few
				   * seconds) */

/* A stream's consumer. */
struct consumer {
	struct consumer *next;                /* protected by the fanout lock */
	char stream[KFS_STREAM_NAME_MAX + 1]; /* fixed */
	char stream_arn[ARN_MAX];             /* fixed */
	char arn[ARN_MAX];                    /* "" until known; protected by
					       * the fanout lock */
	int busy;                             /* a thread looks it up */
};

struct kfs_aws_fanout {
	struct kfs_aws_client *client;        /* borrowed; fixed */
	char name[129];                       /* fixed: the consumer's name */
	int deregister;                       /* fixed: at free */
	pthread_mutex_t lock;                 /* "fanout lock": below */
	pthread_cond_t cond;                  /* a lookup ended */
	struct consumer *list;
	unsigned long subs, events;           /* counts */
};

static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 128)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		      *s == '-'))
			return 0;
	return 1;
}

int kfs_aws_fanout_new(struct kfs_aws_client *c, const char *name,
		       int deregister, struct kfs_aws_fanout **out)
{
	struct kfs_aws_fanout *fo;

	*out = NULL;
	if (!valid_name(name))
		return -EINVAL;
	fo = calloc(1, sizeof(*fo));
	if (!fo)
		return -ENOMEM;
	fo->client = c;
	snprintf(fo->name, sizeof(fo->name), "%s", name);
	fo->deregister = deregister;
	pthread_mutex_init(&fo->lock, NULL);
	pthread_cond_init(&fo->cond, NULL);
	*out = fo;
	return 0;
}

const char *kfs_aws_fanout_name(const struct kfs_aws_fanout *fo)
{
	return fo->name;
}

void kfs_aws_fanout_counts(struct kfs_aws_fanout *fo, unsigned long *subs,
			   unsigned long *events)
{
	pthread_mutex_lock(&fo->lock);
	*subs = fo->subs;
	*events = fo->events;
	pthread_mutex_unlock(&fo->lock);
}

/* A consumer action on StreamARN and ConsumerName; *resp as kfs_aws_call. */
static int consumer_call(struct kfs_aws_fanout *fo, const char *action,
			 const char *stream_arn, cJSON **resp,
			 struct kfs_aws_error *e)
{
	cJSON *req = cJSON_CreateObject();
	int rc;

	if (!req || !cJSON_AddStringToObject(req, "StreamARN", stream_arn) ||
	    !cJSON_AddStringToObject(req, "ConsumerName", fo->name)) {
		cJSON_Delete(req);
		memset(e, 0, sizeof(*e));
		e->err = -ENOMEM;
		return -ENOMEM;
	}
	rc = kfs_aws_call(fo->client, action, req, 0, resp, e);
	cJSON_Delete(req);
	return rc;
}

/* The consumer's status and ARN from an answer's `field` object. */
static int consumer_of(const cJSON *resp, const char *field, char *arn,
		       char *status, size_t status_size)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(resp, field);
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "ConsumerARN");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "ConsumerStatus");

	if (!cJSON_IsString(a) || strlen(a->valuestring) >= ARN_MAX ||
	    !cJSON_IsString(s))
		return -EIO;
	snprintf(arn, ARN_MAX, "%s", a->valuestring);
	snprintf(status, status_size, "%s", s->valuestring);
	return 0;
}

/* Looks the consumer up, registering it when it does not exist, and
 * waits for it to be ACTIVE: its ARN into arn. */
static int lookup(struct kfs_aws_fanout *fo, const char *stream,
		  const char *stream_arn, char *arn, struct kfs_aws_error *e)
{
	int64_t until = kfs_clock_mono(fo->client->clock) + ACTIVE_WAIT_MS;
	int registered = 0;

	for (;;) {
		char status[32];
		cJSON *resp = NULL;
		int rc = consumer_call(fo, "DescribeStreamConsumer", stream_arn,
				       &resp, e);

		if (rc == -ENOENT && !registered) {
			rc = consumer_call(fo, "RegisterStreamConsumer",
					   stream_arn, &resp, e);
			if (rc == 0) {
				kfs_info("%s: registered the stream consumer %s "
					 "(enhanced fan-out; it stays registered: "
					 "docs/aws.md)", stream, fo->name);
				registered = 1;
				rc = consumer_of(resp, "Consumer", arn, status,
						 sizeof(status));
			} else if (rc == -EBUSY) {
				rc = 0;   /* registered meanwhile: look again */
				registered = 1;
				status[0] = '\0';
			}
		} else if (rc == 0) {
			rc = consumer_of(resp, "ConsumerDescription", arn,
					 status, sizeof(status));
		}
		cJSON_Delete(resp);
		if (rc < 0)
			return rc;
		if (!strcmp(status, "ACTIVE"))
			return 0;
		if (kfs_clock_mono(fo->client->clock) >= until) {
			snprintf(e->message, sizeof(e->message), "the stream "
				 "consumer %s is still %s", fo->name, status);
			return e->err = -ETIMEDOUT;
		}
		/* CREATING, or DELETING before a new registration. */
		if (!strcmp(status, "DELETING"))
			registered = 0;
		kfs_aws_sleep_ms(fo->client, 1000);
		if (kfs_cancelled())
			return e->err = -EINTR;
	}
}

/* The stream's consumer ARN, looked up once (one thread at a time). */
static int consumer_arn(struct kfs_aws_fanout *fo, const char *stream,
			const char *stream_arn, char *arn,
			struct kfs_aws_error *e)
{
	struct consumer *c;
	int rc;

	pthread_mutex_lock(&fo->lock);
	for (;;) {
		for (c = fo->list; c; c = c->next)
			if (!strcmp(c->stream, stream) &&
			    !strcmp(c->stream_arn, stream_arn))
				break;
		if (!c || !c->busy)
			break;
		pthread_cond_wait(&fo->cond, &fo->lock);
	}
	if (c && c->arn[0]) {
		memcpy(arn, c->arn, ARN_MAX);
		pthread_mutex_unlock(&fo->lock);
		return 0;
	}
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c) {
			pthread_mutex_unlock(&fo->lock);
			return e->err = -ENOMEM;
		}
		snprintf(c->stream, sizeof(c->stream), "%s", stream);
		snprintf(c->stream_arn, sizeof(c->stream_arn), "%s", stream_arn);
		c->next = fo->list;
		fo->list = c;
	}
	c->busy = 1;
	pthread_mutex_unlock(&fo->lock);
	rc = lookup(fo, stream, stream_arn, arn, e);
	pthread_mutex_lock(&fo->lock);
	c->busy = 0;
	if (rc == 0)
		memcpy(c->arn, arn, ARN_MAX);
	pthread_cond_broadcast(&fo->cond);
	pthread_mutex_unlock(&fo->lock);
	return rc;
}

/* The state of one subscription's stream. */
struct sub {
	struct kfs_aws_fanout *fo;
	struct kfs_es_decoder dec;
	kfs_aws_fanout_fn fn;
	void *arg;
	int stop;                    /* fn's non-zero answer */
	char exc_type[64];           /* an exception event's type */
	char exc_message[200];       /* and message */
};

static int on_event(struct sub *s, const struct kfs_es_message *m)
{
	struct kfs_get_result res = { 0 };
	const cJSON *cont;
	char *next = NULL;
	cJSON *j;
	int rc;

	j = cJSON_ParseWithLength((const char *)m->payload, m->payload_len);
	cont = cJSON_GetObjectItemCaseSensitive(j, "ContinuationSequenceNumber");
	if (!cJSON_IsString(cont) || !kfs_wire_valid_seq(cont->valuestring)) {
		cJSON_Delete(j);
		snprintf(s->exc_message, sizeof(s->exc_message),
			 "an event without a ContinuationSequenceNumber");
		return -EBADMSG;
	}
	rc = kfs_wire_get_records_parse(j, &res, &next);
	free(next);
	if (rc < 0) {
		cJSON_Delete(j);
		kfs_get_result_clear(&res);
		snprintf(s->exc_message, sizeof(s->exc_message),
			 "an event whose records do not parse");
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	pthread_mutex_lock(&s->fo->lock);
	s->fo->events++;
	pthread_mutex_unlock(&s->fo->lock);
	rc = s->fn(s->arg, &res, cont->valuestring);
	cJSON_Delete(j);
	kfs_get_result_clear(&res);
	if (rc)
		s->stop = rc;
	return rc;
}

static int on_message(void *arg, const struct kfs_es_message *m)
{
	struct sub *s = arg;

	if (!strcmp(m->message_type, "event")) {
		if (!strcmp(m->event_type, "SubscribeToShardEvent"))
			return on_event(s, m);
		return 0;   /* initial-response, and what may come later */
	}
	/* An exception (or error) ends the subscription: what it says. */
	snprintf(s->exc_type, sizeof(s->exc_type), "%s",
		 m->event_type[0] ? m->event_type : "InternalFailure");
	{
		cJSON *j = cJSON_ParseWithLength((const char *)m->payload,
						 m->payload_len);
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");

		if (!cJSON_IsString(msg))
			msg = cJSON_GetObjectItemCaseSensitive(j, "Message");
		kfs_aws_error_sanitize(cJSON_IsString(msg) ? msg->valuestring
				       : "", s->exc_message,
				       sizeof(s->exc_message));
		cJSON_Delete(j);
	}
	return -EPROTO;
}

static int on_data(void *arg, const void *p, size_t n)
{
	struct sub *s = arg;
	int rc = kfs_es_feed(&s->dec, p, n, on_message, s);

	if (rc == -EBADMSG && s->dec.broken)
		snprintf(s->exc_message, sizeof(s->exc_message),
			 "a damaged event stream: %s", s->dec.why);
	return rc;
}

int kfs_aws_fanout_subscribe(struct kfs_aws_fanout *fo, const char *stream,
			     const char *stream_arn, const char *shard,
			     const char *after, kfs_aws_fanout_fn fn, void *arg,
			     struct kfs_aws_error *e)
{
	struct sub s = { .fo = fo, .fn = fn, .arg = arg };
	char arn[ARN_MAX];
	cJSON *req, *pos;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = consumer_arn(fo, stream, stream_arn, arn, e);
	if (rc < 0)
		return rc;
	req = cJSON_CreateObject();
	pos = cJSON_AddObjectToObject(req, "StartingPosition");
	if (!req || !pos || !cJSON_AddStringToObject(req, "ConsumerARN", arn) ||
	    !cJSON_AddStringToObject(req, "ShardId", shard) ||
	    !cJSON_AddStringToObject(pos, "Type", "AFTER_SEQUENCE_NUMBER") ||
	    !cJSON_AddStringToObject(pos, "SequenceNumber", after)) {
		cJSON_Delete(req);
		return e->err = -ENOMEM;
	}
	kfs_es_init(&s.dec);
	pthread_mutex_lock(&fo->lock);
	fo->subs++;
	pthread_mutex_unlock(&fo->lock);
	rc = kfs_aws_call_stream(fo->client, "SubscribeToShard", req, on_data,
				 &s, IDLE_MS, e);
	cJSON_Delete(req);
	kfs_es_clear(&s.dec);
	if (s.stop && s.stop != -EPROTO && s.stop != -EBADMSG) {
		e->err = rc = s.stop;
	} else if (s.exc_type[0]) {
		/* The service's exception, classified as its answers are. */
		enum kfs_aws_retry retry;
		int err;

		kfs_aws_error_classify("SubscribeToShard", s.exc_type, 400, &err,
				       &retry);
		memset(e, 0, sizeof(*e));
		e->err = rc = err;
		e->retry = retry;
		snprintf(e->type, sizeof(e->type), "%s", s.exc_type);
		snprintf(e->message, sizeof(e->message), "%s", s.exc_message);
	} else if (s.exc_message[0]) {
		memset(e, 0, sizeof(*e));
		e->err = rc = -EBADMSG;
		e->retry = KFS_AWS_TRANSIENT;
		snprintf(e->message, sizeof(e->message), "%s", s.exc_message);
	}
	return rc;
}

void kfs_aws_fanout_free(struct kfs_aws_fanout *fo)
{
	if (!fo)
		return;
	while (fo->list) {
		struct consumer *c = fo->list;

		fo->list = c->next;
		if (fo->deregister && c->arn[0]) {
			struct kfs_aws_error e;
			cJSON *resp = NULL;

			if (consumer_call(fo, "DeregisterStreamConsumer",
					  c->stream_arn, &resp, &e) == 0)
				kfs_info("%s: deregistered the stream consumer "
					 "%s", c->stream, fo->name);
			else
				kfs_warn("%s: cannot deregister the stream "
					 "consumer %s: %s", c->stream, fo->name,
					 e.message);
			cJSON_Delete(resp);
		}
		free(c);
	}
	pthread_mutex_destroy(&fo->lock);
	pthread_cond_destroy(&fo->cond);
	free(fo);
}
