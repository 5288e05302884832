/*
 * reader_impl.h - what reader.c and reader_named.c share of a reader:
 * its lanes (one a shard) and its state.  Nothing else includes it.
 */
#ifndef KFS_READER_IMPL_H
#define KFS_READER_IMPL_H

#include <stdio.h>

#include "backend/names.h"
#include "reader.h"
#include "named.h"
#include "render.h"

#define READ_BATCH 10000       /* records asked of get_records per fetch */
#define RELIST_MS 1000         /* a following reader looks for new shards */
#define PASSES_MAX 64          /* lane changes handled in one fetch */

enum lane_state { LANE_PENDING, LANE_ACTIVE, LANE_DONE };

/* One shard of a reader. */
struct lane {
	char shard[KFS_SHARD_ID_LEN + 1];
	char parent[KFS_SHARD_ID_LEN + 1];
	char adjacent[KFS_SHARD_ID_LEN + 1];
	enum lane_state state;
	int closed;                    /* the last listing showed it closed */
	struct kfs_iter_spec start;    /* where it begins (seq points at seq[]) */
	char seq[KFS_POS_SEQ_MAX + 1];
	char *iter;                    /* NULL: not begun */
	int64_t behind_ms;             /* MillisBehindLatest of its last page */
	/* Named readers (reader_named.c): */
	int tip;                       /* a batch reached its tip: read no more */
	char skip_seq[KFS_POS_SEQ_MAX + 1]; /* at its start: of record skip_seq, */
	int64_t skip_sub;              /* the user records below skip_sub were read */
	struct kfs_npos got;           /* the last record handed over */
	int got_changed;               /* got moved since the last delivery */
};

struct kfs_reader {
	struct kfs_backend *be;
	char stream[KFS_STREAM_NAME_MAX + 1];
	enum kfs_node kind;
	char name[NAME_MAX + 1];       /* shard id or key */
	int view;                      /* follows */
	struct kfs_position pos;       /* TRIM_HORIZON for plain files */
	enum kfs_framing framing;
	struct kfs_sizes *sizes;
	int64_t created_ms;            /* the stream's, for sizes */
	struct kfs_read_ahead *ra;     /* read-ahead allowed, or NULL */
	struct kfs_metrics *metrics;   /* records read are counted there, or NULL */

	int key_filter;                /* keep the records of name[] only */
	/* A key file of a backend that keeps names: the window of the name
	 * at the open (name[] is then its key), read through key
	 * iterators. */
	int window;
	int rotated;                   /* the window has an end */
	struct kfs_wposv wstart, wend;
	char wname[NAME_MAX + 1];      /* the name opened */
	uint64_t wid, wgen;            /* its incarnation and truncations */
	int64_t anchor_ms;             /* seq views of streams: N's arrival */

	struct lane *lanes;
	size_t n_lanes, cap_lanes;
	size_t rr;                     /* the lane whose turn is next */
	int listed;                    /* lanes made from a listing */
	int relist;                    /* list again before the next pass */
	int64_t listed_ms;
	int ended;                     /* nothing more, ever */

	/* Rendered bytes not yet returned: out.buf[out.off] is at file
	 * offset bufpos. */
	struct kfs_rbuf out;
	uint64_t bufpos;

	/* Records of a text rendering fetched but not rendered yet, from
	 * pend.records[pend_i] on: their bytes come after the buffer's, and
	 * reads copy them straight to the caller (pend_copy). */
	struct kfs_get_result pend;
	size_t pend_i;

	struct kfs_ahead *ahead;       /* the next page, being read; or NULL */
	int bad_agg_logged;            /* a record failing the KPL checks was logged */
	int pend_expanded;             /* pend's aggregated records are expanded */
	size_t pend_lane;              /* the lane pend's records are of */

	/* A named reader (reader_named.c), or NULL. */
	struct kfs_named *named;
	int batch;                     /* @BATCH=: ends at the tip */
	int tipped;                    /* reached the tip once: later reads at
				        * it look again anyway (tail -f) */
	int64_t batch_ms;              /* when it was opened: its tip */
	/* Where each record rendered ends in the file, in order, from
	 * marks[mark_head]: those that end at or before bufpos were handed
	 * over. */
	struct kfs_mark *marks;
	size_t n_marks, mark_head, cap_marks;
};

/* One record rendered by a named reader: its bytes end at file offset
 * `end`. */
struct kfs_mark {
	uint64_t end;
	size_t lane;                   /* index in lanes */
	int64_t sub;                   /* -1: the whole record; else sub_seq + 1 */
	int64_t arrival_ms;
	char seq[KFS_SEQ_MAX];
};

/* ---- reader.c, for reader_named.c ---- */
void kfs_reader_lane_start(struct lane *l, enum kfs_iter_type t,
			   const char *seq, int64_t ts);

/* ---- reader_named.c ---- */

/* Sets a lane of a named reader (not on its first use) where its name
 * is: done, after its position, or at the origin. */
void kfs_named_lane_init(struct kfs_reader *r, struct lane *l);
/* After a named reader's first setup: its state from where it starts,
 * committed (the name exists from its first use).  0 or -errno. */
int kfs_named_begin(struct kfs_reader *r);
/* Drops the records of res before the lane's start within an aggregated
 * record (the user records read before). */
void kfs_named_skip(struct lane *l, struct kfs_get_result *res);
/* Records that rec (of lane) ends at file offset end; -ENOMEM. */
int kfs_named_mark(struct kfs_reader *r, size_t lane,
		   const struct kfs_record *rec, uint64_t end);
/* Hands the positions of what was read up to bufpos to the name. */
void kfs_named_sync(struct kfs_reader *r);
/* Forgets the marks (setup: the records will come again). */
void kfs_named_marks_clear(struct kfs_reader *r);

#endif
