/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The lines that start a metric family. */
static void family(FILE *d, const char *name, const char *type,
		   const char *help)
{
	fprintf(d, "# HELP kinesisfs_%s %s\n# TYPE kinesisfs_%s %s\n", name,
		help, name, type);
}

/* A metric family's name (after kinesisfs_) and help text. */
struct family_desc {
	const char *name, *help;
};

/* The counters kept per stream, in the order of enum kfs_metric. */
static const struct family_desc stream_counters[KFS_M_COUNT] = {
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
	[KFS_M_KINESIS_RECORDS_PUT] = { "put_kinesis_records_total",
		"Kinesis records stored: put_records_total less what KPL "
		"aggregation packed together (the records the service bills)." },
};

static const struct family_desc global_counters[KFS_G_COUNT] = {
	[KFS_G_REQUESTS_RETRIED] = { "retried_requests_total",
		"Requests to the service sent again after throttling or a failure." },
	[KFS_G_REQUESTS_THROTTLED] = { "throttled_requests_total",
		"Answers of the service that were throttling errors." },
};

/* The producer's gauges per stream: name, help, and the value of q. */
static void queue_family(FILE *d, const struct kfs_producer_queue *q,
			 size_t n, const char *name, const char *help,
			 int field)
{
	family(d, name, "gauge", help);
	for (size_t i = 0; i < n; i++) {
		fprintf(d, "kinesisfs_%s{stream=\"%s\"} ", name, q[i].name);
		switch (field) {
		case 0: fprintf(d, "%" PRIu64 "\n", q[i].queued_records); break;
		case 1: fprintf(d, "%" PRIu64 "\n", q[i].queued_bytes); break;
		case 2: fprintf(d, "%" PRIu64 "\n", q[i].inflight_records); break;
		default:
			fprintf(d, "%" PRId64 ".%03d\n", q[i].oldest_ms / 1000,
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
	char *buf = NULL;
	size_t buf_len = 0;
	FILE *d;
	int err = kfs_metrics_snapshot(m, &s);

	*outp = NULL;
	*len = 0;
	if (err)
		return err;
	if (p && (err = kfs_producer_queues(p, &q, &nq, &memory, &limit)) != 0) {
		kfs_metrics_snapshot_clear(&s);
		return err;
	}
	d = open_memstream(&buf, &buf_len);
	if (!d) {
		free(q);
		kfs_metrics_snapshot_clear(&s);
		return -ENOMEM;
	}
	/* Stream names are [a-zA-Z0-9_.-]: label values need no escaping. */
	for (int c = 0; m && c < KFS_M_COUNT; c++) {
		family(d, stream_counters[c].name, "counter",
		       stream_counters[c].help);
		for (size_t i = 0; i < s.n; i++)
			fprintf(d, "kinesisfs_%s{stream=\"%s\"} %" PRIu64 "\n",
				stream_counters[c].name, s.streams[i].name,
				s.streams[i].v[c]);
	}
	for (int c = 0; m && c < KFS_G_COUNT; c++) {
		family(d, global_counters[c].name, "counter",
		       global_counters[c].help);
		fprintf(d, "kinesisfs_%s %" PRIu64 "\n", global_counters[c].name,
			s.global[c]);
	}
	if (p) {
		queue_family(d, q, nq, "producer_queued_records",
			     "Records written and waiting for a batch.", 0);
		queue_family(d, q, nq, "producer_queued_bytes",
			     "Data and key bytes of the records waiting.", 1);
		queue_family(d, q, nq, "producer_inflight_records",
			     "Records in batches being stored or sent now.", 2);
		queue_family(d, q, nq, "producer_oldest_unacked_age_seconds",
			     "Age of the oldest record written and not yet "
			     "stored or acknowledged, 0 when none.", 3);
		family(d, "producer_queue_memory_bytes", "gauge",
		       "Memory held by queued records, counted against the bound.");
		fprintf(d, "kinesisfs_producer_queue_memory_bytes %zu\n", memory);
		family(d, "producer_queue_limit_bytes", "gauge",
		       "The bound on that memory: writers block past it.");
		fprintf(d, "kinesisfs_producer_queue_limit_bytes %zu\n", limit);
	}
	free(q);
	kfs_metrics_snapshot_clear(&s);
	/* A write that could not grow the buffer shows here. */
	if (ferror(d) | fclose(d)) {
		free(buf);
		return -ENOMEM;
	}
	*outp = buf;
	*len = buf_len;
	return 0;
}
