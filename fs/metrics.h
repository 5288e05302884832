/*
 * metrics.h - the metrics file of the root, MOUNT/@metrics: the counters
 * of lib/metrics.h and the producer's queues in the Prometheus text
 * exposition format (docs/metrics.md).
 */
#ifndef KFS_FS_METRICS_H
#define KFS_FS_METRICS_H

#include <stddef.h>

#include "backend/producer.h"
#include "lib/metrics.h"

/*
 * Renders the document as it is now into *out (malloc'd, the caller
 * frees it; not NUL-terminated) of *len bytes.  m and p may be NULL
 * (their lines are left out).  0 or -ENOMEM.
 */
int kfs_metrics_render(struct kfs_metrics *m, struct kfs_producer *p,
		       char **out, size_t *len);

#endif
