/* backend.c - helpers shared by every backend; see backend.h. */
#include "backend.h"

#include <errno.h>
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

void kfs_get_result_clear(struct kfs_get_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->records[i].key);
		free(r->records[i].data);
	}
	free(r->records);
	free(r->next_iterator);
	kfs_name_list_clear(&r->children);
	memset(r, 0, sizeof(*r));
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
