/* backend.c - helpers shared by every backend; see backend.h. */
#include "backend.h"

#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kfs_name_list_clear(struct kfs_name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int kfs_name_list_add(struct kfs_name_list *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n] = strdup(s);
	if (!v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

void kfs_shard_list_clear(struct kfs_shard_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void blocks_free(struct kfs_block *b)
{
	while (b) {
		struct kfs_block *next = b->next;
		free(b);
		b = next;
	}
}

void kfs_get_result_clear(struct kfs_get_result *r)
{
	if (!r->blocks) {
		for (size_t i = 0; i < r->n; i++) {
			free(r->records[i].key);
			free(r->records[i].data);
		}
	}
	blocks_free(r->blocks);
	free(r->records);
	free(r->next_iterator);
	kfs_name_list_clear(&r->children);
	memset(r, 0, sizeof(*r));
}

unsigned char *kfs_get_result_block(struct kfs_get_result *r, size_t size)
{
	struct kfs_block *b = malloc(sizeof(*b) + size);

	if (!b)
		return NULL;
	b->next = r->blocks;
	r->blocks = b;
	return b->mem;
}

int kfs_get_result_take(struct kfs_get_result *dst, struct kfs_get_result *src)
{
	struct kfs_record *v;

	if (src->n == 0)
		return 0;
	if (dst->n > 0 && !dst->blocks != !src->blocks)
		return -EINVAL;
	v = realloc(dst->records, (dst->n + src->n) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	dst->records = v;
	memcpy(v + dst->n, src->records, src->n * sizeof(*v));
	dst->n += src->n;
	if (dst->n == src->n && !src->blocks) {
		/* dst had no record: blocks it held hold nothing. */
		blocks_free(dst->blocks);
		dst->blocks = NULL;
	}
	if (src->blocks) {
		struct kfs_block **end = &src->blocks;
		while (*end)
			end = &(*end)->next;
		*end = dst->blocks;
		dst->blocks = src->blocks;
		src->blocks = NULL;
	}
	free(src->records);
	src->records = NULL;
	src->n = 0;
	return 0;
}

const char *kfs_iter_type_name(enum kfs_iter_type t)
{
	static const char *const names[] = {
		[KFS_ITER_TRIM_HORIZON] = "TRIM_HORIZON",
		[KFS_ITER_LATEST] = "LATEST",
		[KFS_ITER_AT_SEQUENCE_NUMBER] = "AT_SEQUENCE_NUMBER",
		[KFS_ITER_AFTER_SEQUENCE_NUMBER] = "AFTER_SEQUENCE_NUMBER",
		[KFS_ITER_AT_TIMESTAMP] = "AT_TIMESTAMP",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : NULL;
}

const char *kfs_stream_status_name(enum kfs_stream_status s)
{
	switch (s) {
	case KFS_STREAM_CREATING: return "CREATING";
	case KFS_STREAM_ACTIVE: return "ACTIVE";
	case KFS_STREAM_UPDATING: return "UPDATING";
	case KFS_STREAM_DELETING: return "DELETING";
	}
	return "UNKNOWN";
}

void kfs_backend_free(struct kfs_backend *be)
{
	if (!be)
		return;
	if (be->ops && be->ops->destroy)
		be->ops->destroy(be->impl);
	free(be);
}

void kfs_put_entry_fail(struct kfs_put_entry *en, int err, const char *reason)
{
	en->err = err;
	en->seq[0] = '\0';
	en->shard_id[0] = '\0';
	snprintf(en->reason, sizeof(en->reason), "%s", reason);
}

int kfs_put_entry_check(struct kfs_put_entry *en, size_t max_record_bytes)
{
	size_t klen;

	en->err = 0;
	en->reason[0] = '\0';
	if (!en->key || !kfs_valid_partition_key(en->key)) {
		kfs_put_entry_fail(en, -EINVAL,
				   "partition key must be 1 to 256 bytes");
		return -EINVAL;
	}
	klen = strlen(en->key);
	if (en->len > max_record_bytes || en->len + klen > max_record_bytes) {
		char why[160];
		snprintf(why, sizeof(why), "record of %zu bytes (data and key) "
			 "is over the limit of %zu", en->len + klen,
			 max_record_bytes);
		kfs_put_entry_fail(en, -EFBIG, why);
		return -EFBIG;
	}
	return 0;
}
