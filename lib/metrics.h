/*
 * metrics.h - counters of the daemon, per stream and global, for the
 * metrics file (docs/metrics.md).
 *
 * Any thread may count (FUSE threads, the producer's senders, the AWS
 * backend).  A count is a lookup of the stream under the read side of the
 * "metrics lock" and an atomic add: callers count once a batch, not once a
 * record.  Every function takes NULL for m and then does nothing, so that
 * code used without metrics (the unit tests) need not care.
 */
#ifndef KFS_METRICS_H
#define KFS_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Counters kept per stream. */
enum kfs_metric {
	KFS_M_RECORDS_PUT,        /* records stored (local) or acknowledged (aws) */
	KFS_M_BYTES_PUT,          /* their data bytes */
	KFS_M_RECORDS_READ,       /* records handed to readers */
	KFS_M_BYTES_READ,         /* bytes returned by read(2) */
	KFS_M_RECORDS_FAILED,     /* records whose failure reached the writer */
	KFS_M_RECORDS_REJECTED,   /* records refused at write(2): over the limit */
	KFS_M_RECORDS_RETRIED,    /* records sent again after a retryable error */
	KFS_M_RECORDS_THROTTLED,  /* records the service refused as throttled */
	KFS_M_KINESIS_RECORDS_PUT, /* Kinesis records stored: RECORDS_PUT less
				    * what KPL aggregation packed together */
	KFS_M_COUNT,
};

/* Counters kept for the whole mount (where no stream is known). */
enum kfs_gmetric {
	KFS_G_REQUESTS_RETRIED,   /* requests to the service tried again */
	KFS_G_REQUESTS_THROTTLED, /* answers of the service that were throttling */
	KFS_G_COUNT,
};

struct kfs_metrics;

/* A new, empty set of counters, or NULL when out of memory; freed with
 * kfs_metrics_free (NULL is a no-op). */
struct kfs_metrics *kfs_metrics_new(void);
void kfs_metrics_free(struct kfs_metrics *m);

/* Adds n to counter c of `stream` (a stream seen for the first time gets
 * its counters; when out of memory the count is lost and logged once). */
void kfs_metrics_add(struct kfs_metrics *m, const char *stream,
		     enum kfs_metric c, uint64_t n);
/* Adds v[c] to every counter c of `stream` at once (one lookup). */
void kfs_metrics_add_all(struct kfs_metrics *m, const char *stream,
			 const uint64_t v[KFS_M_COUNT]);
void kfs_metrics_add_global(struct kfs_metrics *m, enum kfs_gmetric c,
			    uint64_t n);
/* Drops the counters of a deleted stream. */
void kfs_metrics_forget(struct kfs_metrics *m, const char *stream);

/* The counters of one stream at one moment. */
struct kfs_metrics_stream {
	char *name;                 /* owned */
	uint64_t v[KFS_M_COUNT];
};

/* The counters at one moment: the streams sorted by name. */
struct kfs_metrics_snapshot {
	size_t n;
	struct kfs_metrics_stream *streams;   /* owned */
	uint64_t global[KFS_G_COUNT];
};

/* Fills *out (cleared with kfs_metrics_snapshot_clear); 0 or -ENOMEM.
 * With m NULL, an empty snapshot. */
int kfs_metrics_snapshot(struct kfs_metrics *m, struct kfs_metrics_snapshot *out);
void kfs_metrics_snapshot_clear(struct kfs_metrics_snapshot *s);

#endif
