/*
 * expand.h - reading KPL aggregated records as their user records.
 *
 * The backends store and return Kinesis records as they are (an
 * aggregated record is one record, with one sequence number); what the
 * mount shows of them is their user records (SPEC 4): each with its own
 * partition key and explicit hash key, the record's sequence number and
 * arrival, and its sub-sequence number.  These helpers give that view
 * wherever records are read, counted or sized, so that every path
 * agrees on which record is aggregated (agg.h: magic, digest, message,
 * indexes) and on what its user records weigh.
 */
#ifndef KFS_KPL_EXPAND_H
#define KFS_KPL_EXPAND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* The bytes a stored record's data takes rendered in each framing: its
 * user records' when it is aggregated (then 1 is returned and *users,
 * when not NULL, is their number), else its own (0, *users = 1). */
int kfs_agg_rendered(const void *data, size_t len,
		     uint64_t bytes[KFS_FRAMING_COUNT], uint64_t *users);

/* The same in one framing. */
uint64_t kfs_agg_framed_len(enum kfs_framing f, const void *data, size_t len);

/* One partition key's share of an aggregated record. */
struct kfs_agg_keytot {
	const char *key;                     /* NUL-terminated, in the set */
	uint64_t bytes[KFS_FRAMING_COUNT];   /* its user records, rendered */
	uint64_t records;                    /* how many */
};

/* The keys of an aggregated record, each once, in the order of their
 * first user record. */
struct kfs_agg_keyset {
	size_t n;
	struct kfs_agg_keytot *v;            /* owned */
	void *agg;                           /* owned: the decoded record */
};

/* 1 with *out filled (freed with kfs_agg_keyset_clear) when data is an
 * aggregated record, 0 when it is plain data (*out zeroed), -ENOMEM. */
int kfs_agg_keys(const void *data, size_t len, struct kfs_agg_keyset *out);
void kfs_agg_keyset_clear(struct kfs_agg_keyset *s);

/*
 * Replaces every aggregated record of res by its user records, in
 * place and in order: each has its record's sequence number and
 * arrival, its own key, explicit hash key and sub-sequence number, and
 * user = 1.  Plain records stay as they are, and so does a record that
 * starts with the magic but fails a check (plain data, as the KCL reads
 * it): *bad (when not NULL) counts those of partition key `key` (any
 * key when NULL: a reader of one key has no use for the others), and
 * *why says the first one's reason.  Afterwards every record of res lives in its blocks.
 * Returns how many records were expanded (0: res untouched), or -ENOMEM
 * (res untouched).
 */
int kfs_agg_expand(struct kfs_get_result *res, const char *key, size_t *bad,
		   const char **why);

#endif
