/*
 * keys.h - key files on the AWS backend (SPEC 3, docs/aws.md "Key
 * files"): the names table for the mount's life, what this mount knows
 * of each tracked key's records (the engine's hooks of backend/names.h),
 * and iterators over one key's window of a shard.
 *
 * The service cannot say how many bytes of a key a stream holds, so the
 * sizes count what passes through this mount: the records of tracked
 * keys it puts, and those it reads (any reader of the stream).  A
 * position is a sequence number per shard where this mount has seen a
 * record of the shard, else a time (AT_TIMESTAMP).
 *
 * aws.c makes one of these per backend and calls the hooks below from
 * its put and get paths; this file makes no request of its own but
 * through `env`.  Every function may be called from many threads.
 */
#ifndef KFS_AWS_KEYS_H
#define KFS_AWS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"
#include "../names.h"
#include "lib/clock.h"

/* What the backend lends: its clock and three of its operations. */
struct kfs_aws_keys_env {
	void *impl;                /* the backend (struct kfs_aws) */
	struct kfs_clock *clock;   /* NULL: the real clock */
	int (*list_shards)(void *impl, const char *stream,
			   struct kfs_shard_list *out);
	int (*get_iterator)(void *impl, const char *stream, const char *shard_id,
			    const struct kfs_iter_spec *spec, char **iter_out);
	int (*get_records)(void *impl, const char *iterator, int limit,
			   unsigned flags, struct kfs_get_result *out);
};

struct kfs_aws_keys;

/* *out freed with kfs_aws_keys_free (NULL: no-op); 0 or -ENOMEM. */
int kfs_aws_keys_new(const struct kfs_aws_keys_env *env,
		     struct kfs_aws_keys **out);
void kfs_aws_keys_free(struct kfs_aws_keys *k);

/* The names table (backend.h ops->names); owned by k. */
struct kfs_names *kfs_aws_keys_names(struct kfs_aws_keys *k);

/*
 * The put path.  A PutRecords call to be sent takes a ticket (the
 * backend's clock then, and its place among the puts in flight), and
 * gives it back, once, with kfs_aws_keys_put: with the entries of the
 * call (those with err 0 were stored at their shard_id and seq) when its
 * answer was read, else with n 0.  Counts the stored records of tracked
 * keys that no read counted while the put was in flight.
 */
struct kfs_aws_keys_ticket {
	uint64_t id;                /* 0: not among the puts in flight (out
				     * of memory): the put counts nothing */
	int64_t sent_ms;
};
void kfs_aws_keys_put_begin(struct kfs_aws_keys *k,
			    struct kfs_aws_keys_ticket *tk);
void kfs_aws_keys_put(struct kfs_aws_keys *k,
		      const struct kfs_aws_keys_ticket *tk, const char *stream,
		      const struct kfs_put_entry *e, size_t n);
/* The get path: every record a GetRecords of (stream, shard) returned, to
 * any reader of this mount.  Counts the records of tracked keys above
 * what was counted. */
void kfs_aws_keys_read(struct kfs_aws_keys *k, const char *stream,
		       const char *shard, const struct kfs_get_result *r);
/* The stream was deleted through the mount: its names and counts go. */
void kfs_aws_keys_forget(struct kfs_aws_keys *k, const char *stream);

/* backend.h ops->key_iterator: *iter_out malloc'd, 0 or -errno. */
int kfs_aws_keys_iterator(struct kfs_aws_keys *k, const char *stream,
			  const char *shard_id, const char *key,
			  const struct kfs_wpos *start, const struct kfs_wpos *end,
			  char **iter_out);
/* 1 when `iterator` is one of kfs_aws_keys_iterator's (and get_records
 * is to go through kfs_aws_keys_get_records). */
int kfs_aws_keys_is_iterator(const char *iterator);
/* GetRecords through such an iterator: as env->get_records, keeping the
 * key's records only and ending at the window's end. */
int kfs_aws_keys_get_records(struct kfs_aws_keys *k, const char *iterator,
			     int limit, unsigned flags,
			     struct kfs_get_result *out);

/* Compares two sequence numbers (decimal, any length) as numbers; ""
 * is below every number.  <0, 0, >0. */
int kfs_aws_seq_cmp(const char *a, const char *b);

#endif
