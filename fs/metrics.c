/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The document being written; on a failed allocation err is set and
 * further writes do nothing. */
struct doc {
	char *buf;
	size_t len, cap;
	int err;
};

static void out(struct doc *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out(struct doc *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->err)
		return;
	for (;;) {
		size_t room = d->cap - d->len;

		va_start(ap, fmt);
		n = vsnprintf(d->buf + d->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			d->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			d->len += (size_t)n;
			return;
		}
		size_t cap = d->cap ? d->cap * 2 : 4096;
		while (cap < d->len + (size_t)n + 1)
			cap *= 2;
		char *b = realloc(d->buf, cap);
		if (!b) {
			d->err = -ENOMEM;
			return;
		}
		d->buf = b;
		d->cap = cap;
	}
}

/* The lines that start a metric family. */
static void family(struct doc *d, const char *name, const char *type,
		   const char *help)
{
	out(d, "# HELP kinesisfs_%s %s\n# TYPE kinesisfs_%s %s\n", name, help,
	    name, type);
}

/* The counters kept per stream, in the order of enum kfs_metric. */
static const struct {
	const char *name, *help;
} stream_counters[KFS_M_COUNT] = {
	[KFS_M_RECORDS_PUT] = { "put_records_total",
		"Records stored (local) or acknowledged by the service (aws)." },
	[KFS_M_BYTES_PUT] = { "put_bytes_total",
		"Data bytes of the records put." },
	[KFS_M_RECORDS_READ] = { "read_records_total",
		"Records fetched for readers of shard files, key files and views." },
	[KFS_M_BYTES_READ] = { "read_bytes_total",
		"Bytes returned by read(2) on shard files, key files and views." },
	[KFS_M_RECORDS_FAILED] = { "put_failed_records_total",
		"Records not stored, their failure reported to the writer." },
	[KFS_M_RECORDS_REJECTED] = { "put_rejected_records_total",
		"Records refused at write(2): over the size limit (EFBIG)." },
	[KFS_M_RECORDS_RETRIED] = { "put_retried_records_total",
		"Records sent again after a retryable error." },
	[KFS_M_RECORDS_THROTTLED] = { "put_throttled_records_total",
		"Records refused by the service as over the throughput (each time)." },
};

static const struct {
	const char *name, *help;
} global_counters[KFS_G_COUNT] = {
	[KFS_G_REQUESTS_RETRIED] = { "retried_requests_total",
		"Requests to the service sent again after throttling or a failure." },
	[KFS_G_REQUESTS_THROTTLED] = { "throttled_requests_total",
		"Answers of the service that were throttling errors." },
};

/* The producer's gauges per stream: name, help, and the value of q. */
static void queue_family(struct doc *d, const struct kfs_producer_queue *q,
			 size_t n, const char *name, const char *help,
			 int field)
{
	family(d, name, "gauge", help);
	for (size_t i = 0; i < n; i++) {
		out(d, "kinesisfs_%s{stream=\"%s\"} ", name, q[i].name);
		switch (field) {
		case 0: out(d, "%" PRIu64 "\n", q[i].queued_records); break;
		case 1: out(d, "%" PRIu64 "\n", q[i].queued_bytes); break;
		case 2: out(d, "%" PRIu64 "\n", q[i].inflight_records); break;
		default:
			out(d, "%" PRId64 ".%03d\n", q[i].oldest_ms / 1000,
			    (int)(q[i].oldest_ms % 1000));
			break;
		}
	}
}

int kfs_metrics_render(struct kfs_metrics *m, struct kfs_producer *p,
		       char **outp, size_t *len)
{
	struct kfs_metrics_snapshot s;
	struct kfs_producer_queue *q = NULL;
	size_t nq = 0, memory = 0, limit = 0;
	struct doc d = { 0 };
	int err = kfs_metrics_snapshot(m, &s);

	*outp = NULL;
	*len = 0;
	if (err)
		return err;
	if (p && (err = kfs_producer_queues(p, &q, &nq, &memory, &limit)) != 0) {
		kfs_metrics_snapshot_clear(&s);
		return err;
	}
	/* Stream names are [a-zA-Z0-9_.-]: label values need no escaping. */
	for (int c = 0; m && c < KFS_M_COUNT; c++) {
		family(&d, stream_counters[c].name, "counter",
		       stream_counters[c].help);
		for (size_t i = 0; i < s.n; i++)
			out(&d, "kinesisfs_%s{stream=\"%s\"} %" PRIu64 "\n",
			    stream_counters[c].name, s.streams[i].name,
			    s.streams[i].v[c]);
	}
	for (int c = 0; m && c < KFS_G_COUNT; c++) {
		family(&d, global_counters[c].name, "counter",
		       global_counters[c].help);
		out(&d, "kinesisfs_%s %" PRIu64 "\n", global_counters[c].name,
		    s.global[c]);
	}
	if (p) {
		queue_family(&d, q, nq, "producer_queued_records",
			     "Records written and waiting for a batch.", 0);
		queue_family(&d, q, nq, "producer_queued_bytes",
			     "Data and key bytes of the records waiting.", 1);
		queue_family(&d, q, nq, "producer_inflight_records",
			     "Records in batches being stored or sent now.", 2);
		queue_family(&d, q, nq, "producer_oldest_unacked_age_seconds",
			     "Age of the oldest record written and not yet "
			     "stored or acknowledged, 0 when none.", 3);
		family(&d, "producer_queue_memory_bytes", "gauge",
		       "Memory held by queued records, counted against the bound.");
		out(&d, "kinesisfs_producer_queue_memory_bytes %zu\n", memory);
		family(&d, "producer_queue_limit_bytes", "gauge",
		       "The bound on that memory: writers block past it.");
		out(&d, "kinesisfs_producer_queue_limit_bytes %zu\n", limit);
	}
	free(q);
	kfs_metrics_snapshot_clear(&s);
	if (d.err) {
		free(d.buf);
		return d.err;
	}
	*outp = d.buf;
	*len = d.len;
	return 0;
}
