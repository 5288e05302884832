/*
 * names.c - the table of key file names and the rules of every change;
 * see names.h, and docs/semantics.md "Key files" for what users see.
 *
 * One hash table holds every name of every stream, keyed by (stream,
 * name); a second one counts the names that refer to each (stream, key),
 * so that an engine tracks a key's records exactly while some name needs
 * them.  A lookup of a name that is not there allocates nothing.
 */
#include "names.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"

#define BUCKETS_MIN 64

/* A node of a hash chain, the first member of what is chained. */
struct chain {
	struct chain *next;             /* the table's lock */
	uint64_t hash;
};

/* One name of one stream. */
struct entry {
	struct chain link;              /* hash of (stream, name) */
	char *stream;                   /* owned */
	char *name;                     /* owned */
	char *key;                      /* owned: the key it shows */
	enum kfs_name_state state;      /* LIVE, ROTATED or GONE */
	int64_t start_ms;               /* when its window began */
	int64_t ctime_ms;               /* last change */
	uint32_t uid, gid, mode;
	struct kfs_wposv start;         /* owned */
	struct kfs_wposv end;           /* owned; rotated only */
	uint64_t id;                    /* this incarnation of the name: new at
					 * each creation and rename */
	uint64_t gen;                   /* truncations of this incarnation */
};

/* How many names refer to a key of a stream. */
struct keyref {
	struct chain link;              /* hash of (stream, key) */
	char *stream;                   /* owned */
	char *key;                      /* owned */
	unsigned refs;
};

struct kfs_names {
	struct kfs_names_hooks hooks;   /* fixed */
	pthread_rwlock_t lock;          /* "names lock": everything below */
	struct chain **names;           /* buckets of struct entry */
	size_t n_names, cap_names;
	struct chain **keys;            /* buckets of struct keyref */
	size_t n_keys, cap_keys;
	uint64_t next_id;               /* of the next incarnation */
};

/* ---- positions ------------------------------------------------------ */

void kfs_wposv_clear(struct kfs_wposv *v)
{
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

int kfs_wposv_copy(struct kfs_wposv *dst, const struct kfs_wposv *src)
{
	dst->v = NULL;
	dst->n = 0;
	if (src->n == 0)
		return 0;
	dst->v = malloc(src->n * sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	dst->n = src->n;
	return 0;
}

const struct kfs_wpos *kfs_wposv_find(const struct kfs_wposv *v,
				      const char *shard)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i].shard, shard) == 0)
			return &v->v[i];
	return NULL;
}

/* ---- hash tables ---------------------------------------------------- */

static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const unsigned char *p = (const unsigned char *)b; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

static struct entry *entry_find(const struct kfs_names *t, const char *stream,
				const char *name)
{
	uint64_t h;

	if (t->cap_names == 0)
		return NULL;
	h = hash2(stream, name);
	for (struct chain *c = t->names[h % t->cap_names]; c; c = c->next) {
		struct entry *e = (struct entry *)c;
		if (c->hash == h && strcmp(e->name, name) == 0 &&
		    strcmp(e->stream, stream) == 0)
			return e;
	}
	return NULL;
}

/* Grows a table of chains to keep them short.  Best effort: a failed
 * growth leaves it as it is. */
static void rehash(struct chain ***buckets, size_t *cap, size_t n)
{
	size_t ncap = *cap ? *cap * 2 : BUCKETS_MIN;
	struct chain **nb;

	if (n < *cap)
		return;
	nb = calloc(ncap, sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < *cap; i++) {
		struct chain *c = (*buckets)[i];
		while (c) {
			struct chain *next = c->next;
			c->next = nb[c->hash % ncap];
			nb[c->hash % ncap] = c;
			c = next;
		}
	}
	free(*buckets);
	*buckets = nb;
	*cap = ncap;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->stream);
	free(e->name);
	free(e->key);
	kfs_wposv_clear(&e->start);
	kfs_wposv_clear(&e->end);
	free(e);
}

static int entry_insert(struct kfs_names *t, struct entry *e)
{
	e->link.hash = hash2(e->stream, e->name);
	rehash(&t->names, &t->cap_names, t->n_names + 1);
	if (t->cap_names == 0)
		return -ENOMEM;
	e->link.next = t->names[e->link.hash % t->cap_names];
	t->names[e->link.hash % t->cap_names] = &e->link;
	t->n_names++;
	return 0;
}

static void entry_unlink(struct kfs_names *t, struct entry *e)
{
	struct chain **pp = &t->names[e->link.hash % t->cap_names];

	while (*pp && *pp != &e->link)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = e->link.next;
		t->n_names--;
	}
}

static struct chain **keyref_slot(struct kfs_names *t, const char *stream,
				  const char *key, uint64_t h)
{
	struct chain **pp = &t->keys[h % t->cap_keys];

	for (; *pp; pp = &(*pp)->next) {
		struct keyref *k = (struct keyref *)*pp;
		if (k->link.hash == h && strcmp(k->key, key) == 0 &&
		    strcmp(k->stream, stream) == 0)
			break;
	}
	return pp;
}

/* One more name refers to key: the first makes the engine track it. */
static int key_ref(struct kfs_names *t, const char *stream, const char *key)
{
	uint64_t h = hash2(stream, key);
	struct chain **pp;
	struct keyref *k;
	int err;

	rehash(&t->keys, &t->cap_keys, t->n_keys + 1);
	if (t->cap_keys == 0)
		return -ENOMEM;
	pp = keyref_slot(t, stream, key, h);
	if (*pp) {
		((struct keyref *)*pp)->refs++;
		return 0;
	}
	k = calloc(1, sizeof(*k));
	if (!k || !(k->stream = strdup(stream)) || !(k->key = strdup(key))) {
		if (k) {
			free(k->stream);
			free(k);
		}
		return -ENOMEM;
	}
	if (t->hooks.track &&
	    (err = t->hooks.track(t->hooks.ctx, stream, key, 1)) < 0) {
		free(k->stream);
		free(k->key);
		free(k);
		return err;
	}
	k->link.hash = h;
	k->refs = 1;
	k->link.next = t->keys[h % t->cap_keys];
	t->keys[h % t->cap_keys] = &k->link;
	t->n_keys++;
	return 0;
}

static void key_unref(struct kfs_names *t, const char *stream, const char *key)
{
	struct chain **pp;
	struct keyref *k;

	if (t->cap_keys == 0)
		return;
	pp = keyref_slot(t, stream, key, hash2(stream, key));
	if (!*pp || --((struct keyref *)*pp)->refs > 0)
		return;
	k = (struct keyref *)*pp;
	*pp = k->link.next;
	t->n_keys--;
	if (t->hooks.track)
		t->hooks.track(t->hooks.ctx, stream, key, 0);
	free(k->stream);
	free(k->key);
	free(k);
}

/* ---- the table ------------------------------------------------------ */

int kfs_names_new(const struct kfs_names_hooks *hooks, struct kfs_names **out)
{
	struct kfs_names *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->hooks = *hooks;
	pthread_rwlock_init(&t->lock, NULL);
	*out = t;
	return 0;
}

void kfs_names_free(struct kfs_names *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap_names; i++) {
		struct chain *c = t->names[i];
		while (c) {
			struct chain *next = c->next;
			entry_free((struct entry *)c);
			c = next;
		}
	}
	for (size_t i = 0; i < t->cap_keys; i++) {
		struct chain *c = t->keys[i];
		while (c) {
			struct chain *next = c->next;
			struct keyref *k = (struct keyref *)c;
			free(k->stream);
			free(k->key);
			free(k);
			c = next;
		}
	}
	free(t->names);
	free(t->keys);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

/* A record of e's state for the persist hook (borrowing e's fields). */
static struct kfs_name_rec rec_of(const struct entry *e)
{
	struct kfs_name_rec r = {
		.name = e->name, .key = e->key, .state = e->state,
		.start_ms = e->start_ms, .ctime_ms = e->ctime_ms,
		.uid = e->uid, .gid = e->gid, .mode = e->mode,
		.start = e->start, .end = e->end,
	};
	return r;
}

static int persist(struct kfs_names *t, const char *stream,
		   const struct kfs_name_rec *v, size_t n)
{
	if (!t->hooks.persist)
		return 0;
	return t->hooks.persist(t->hooks.ctx, stream, v, n);
}

static struct entry *entry_new(const char *stream, const char *name,
			       const char *key)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->stream = strdup(stream);
	e->name = strdup(name);
	e->key = strdup(key);
	if (!e->stream || !e->name || !e->key) {
		entry_free(e);
		return NULL;
	}
	return e;
}

/* Removes e from the table and frees it, dropping its key reference. */
static void entry_drop(struct kfs_names *t, struct entry *e)
{
	entry_unlink(t, e);
	key_unref(t, e->stream, e->key);
	entry_free(e);
}

int kfs_names_load(struct kfs_names *t, const char *stream,
		   const struct kfs_name_rec *r)
{
	struct entry *e, *old;
	int err = 0;

	pthread_rwlock_wrlock(&t->lock);
	old = entry_find(t, stream, r->name);
	if (r->state == KFS_NAME_DROPPED) {
		if (old)
			entry_drop(t, old);
		goto out;
	}
	if (!(e = entry_new(stream, r->name, r->key))) {
		err = -ENOMEM;
		goto out;
	}
	e->state = r->state;
	e->id = ++t->next_id;
	e->start_ms = r->start_ms;
	e->ctime_ms = r->ctime_ms;
	e->uid = r->uid;
	e->gid = r->gid;
	e->mode = r->mode;
	if ((err = kfs_wposv_copy(&e->start, &r->start)) < 0 ||
	    (err = kfs_wposv_copy(&e->end, &r->end)) < 0 ||
	    (err = key_ref(t, stream, r->key)) < 0) {
		entry_free(e);
		goto out;
	}
	if (old)
		entry_drop(t, old);
	err = entry_insert(t, e);
	if (err) {
		key_unref(t, stream, r->key);
		entry_free(e);
	}
out:
	pthread_rwlock_unlock(&t->lock);
	return err;
}

void kfs_names_forget(struct kfs_names *t, const char *stream)
{
	pthread_rwlock_wrlock(&t->lock);
	for (size_t i = 0; i < t->cap_names; i++) {
		struct chain *c = t->names[i];
		while (c) {
			struct chain *next = c->next;
			struct entry *e = (struct entry *)c;
			if (strcmp(e->stream, stream) == 0)
				entry_drop(t, e);
			c = next;
		}
	}
	pthread_rwlock_unlock(&t->lock);
}

/* 1 for a name that shows: live or rotated. */
static int shows(const struct entry *e)
{
	return e && (e->state == KFS_NAME_LIVE || e->state == KFS_NAME_ROTATED);
}

static int measure(struct kfs_names *t, const struct entry *e,
		   struct kfs_name_desc *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->key, sizeof(out->key), "%s", e->key);
	out->state = e->state;
	out->uid = e->uid;
	out->gid = e->gid;
	out->mode = e->mode;
	out->mtime_ms = -1;
	if (t->hooks.measure) {
		int err = t->hooks.measure(t->hooks.ctx, e->stream, e->key,
					   &e->start, e->state == KFS_NAME_ROTATED
					   ? &e->end : NULL, out);
		if (err < 0)
			return err;
	}
	if (out->mtime_ms < 0)
		out->mtime_ms = e->start_ms;
	out->ctime_ms = e->ctime_ms > out->mtime_ms ? e->ctime_ms : out->mtime_ms;
	return 0;
}

/* 1 when e's window holds a record, 0 when not, or -errno. */
static int holds_records(struct kfs_names *t, const struct entry *e)
{
	struct kfs_name_desc d;
	int err = measure(t, e, &d);

	return err < 0 ? err : d.records > 0;
}

int kfs_names_stat(struct kfs_names *t, const char *stream, const char *name,
		   struct kfs_name_desc *out)
{
	struct entry *e;
	int err;

	pthread_rwlock_rdlock(&t->lock);
	e = entry_find(t, stream, name);
	err = shows(e) ? measure(t, e, out) : -ENOENT;
	pthread_rwlock_unlock(&t->lock);
	return err;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int kfs_names_list(struct kfs_names *t, const char *stream,
		   struct kfs_name_list *out)
{
	int err = 0;

	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->cap_names && err == 0; i++) {
		for (struct chain *c = t->names[i]; c && err == 0; c = c->next) {
			struct entry *e = (struct entry *)c;
			if (shows(e) && strcmp(e->stream, stream) == 0)
				err = kfs_name_list_add(out, e->name);
		}
	}
	pthread_rwlock_unlock(&t->lock);
	if (err)
		return err;
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

/* The window of e starts at its key's tip now (a new start). */
static int take_tip(struct kfs_names *t, const struct entry *e,
		    struct kfs_wposv *out)
{
	out->n = 0;
	out->v = NULL;
	if (!t->hooks.tip)
		return 0;
	return t->hooks.tip(t->hooks.ctx, e->stream, e->key, out);
}

static int64_t now_ms(const struct kfs_names *t)
{
	return kfs_clock_now(t->hooks.clock);
}

/* Truncation of a live e: the window starts at the tip, when it holds
 * records (else nothing changes: a truncation of an empty file is a
 * no-op on any filesystem). */
static int truncate_live(struct kfs_names *t, struct entry *e)
{
	struct kfs_wposv tip;
	struct kfs_name_rec r;
	int64_t now = now_ms(t);
	int err = holds_records(t, e);

	if (err <= 0)
		return err;
	if ((err = take_tip(t, e, &tip)) < 0)
		return err;
	r = rec_of(e);
	r.start = tip;
	r.start_ms = now;
	r.ctime_ms = now;
	if ((err = persist(t, e->stream, &r, 1)) < 0) {
		kfs_wposv_clear(&tip);
		return err;
	}
	kfs_wposv_clear(&e->start);
	e->start = tip;
	e->start_ms = now;
	e->ctime_ms = now;
	e->gen++;
	return 0;
}

/* A new live name where none was (or a gone one: its start is kept). */
static int create_new(struct kfs_names *t, const char *stream, const char *name,
		      struct entry *gone, uint32_t uid, uint32_t gid,
		      uint32_t mode, struct entry **out)
{
	struct entry *e = gone;
	struct kfs_name_rec r;
	int64_t now = now_ms(t);
	int err;

	if (!e) {
		if (!(e = entry_new(stream, name, name)))
			return -ENOMEM;
		if ((err = key_ref(t, stream, name)) < 0) {
			entry_free(e);
			return err;
		}
		e->start_ms = now;
		if ((err = take_tip(t, e, &e->start)) < 0)
			goto fail;
	}
	r = rec_of(e);
	r.state = KFS_NAME_LIVE;
	r.ctime_ms = now;
	r.uid = uid;
	r.gid = gid;
	r.mode = mode & 0777;
	if ((err = persist(t, stream, &r, 1)) < 0)
		goto fail;
	e->state = KFS_NAME_LIVE;
	e->ctime_ms = now;
	e->id = ++t->next_id;
	e->gen = 0;
	e->uid = uid;
	e->gid = gid;
	e->mode = mode & 0777;
	if (!gone && (err = entry_insert(t, e)) < 0)
		goto fail;
	*out = e;
	return 0;
fail:
	if (!gone) {
		key_unref(t, stream, name);
		entry_free(e);
	}
	return err;
}

int kfs_names_create(struct kfs_names *t, const char *stream, const char *name,
		     unsigned flags, uint32_t uid, uint32_t gid, uint32_t mode,
		     struct kfs_name_desc *out, const char **why)
{
	struct entry *e;
	int err = 0;

	pthread_rwlock_wrlock(&t->lock);
	e = entry_find(t, stream, name);
	if (shows(e) && (flags & KFS_NAME_EXCL)) {
		err = -EEXIST;
	} else if (e && e->state == KFS_NAME_ROTATED) {
		if (flags & KFS_NAME_TRUNC) {
			err = -EACCES;
			if (why)
				*why = "a rotated name is read-only: records "
				       "are never replaced";
		}
	} else if (e && e->state == KFS_NAME_LIVE) {
		if (flags & KFS_NAME_TRUNC)
			err = truncate_live(t, e);
	} else {
		err = create_new(t, stream, name, e, uid, gid, mode, &e);
		if (err == 0 && (flags & KFS_NAME_TRUNC))
			err = truncate_live(t, e);
	}
	if (err == 0 && out)
		err = measure(t, e, out);
	pthread_rwlock_unlock(&t->lock);
	return err;
}

int kfs_names_truncate(struct kfs_names *t, const char *stream,
		       const char *name, const char **why)
{
	struct entry *e;
	int err;

	pthread_rwlock_wrlock(&t->lock);
	e = entry_find(t, stream, name);
	if (!shows(e)) {
		err = -ENOENT;
	} else if (e->state == KFS_NAME_ROTATED) {
		err = -EACCES;
		if (why)
			*why = "a rotated name is read-only: records are never "
			       "replaced";
	} else {
		err = truncate_live(t, e);
	}
	pthread_rwlock_unlock(&t->lock);
	return err;
}

/* Checks a rename's target: 0 when it may be replaced, or -errno. */
static int rename_target(struct kfs_names *t, const struct entry *to,
			 unsigned flags, const char **why)
{
	int err;

	if (!shows(to))
		return 0;
	if (flags & KFS_NAME_NOREPLACE)
		return -EEXIST;
	if (to->state == KFS_NAME_ROTATED)
		return 0;
	err = holds_records(t, to);
	if (err > 0) {
		if (why)
			*why = "the target holds records, and records are "
			       "never replaced";
		return -EPERM;
	}
	return err;
}

/* The new state of the target of a rename, from `from`. */
static int rotated_from(struct kfs_names *t, const struct entry *from,
			const char *to_name, struct entry **out)
{
	struct entry *n = entry_new(from->stream, to_name, from->key);
	int err;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	n->state = KFS_NAME_ROTATED;
	n->id = ++t->next_id;
	n->start_ms = from->start_ms;
	n->ctime_ms = now_ms(t);
	n->uid = from->uid;
	n->gid = from->gid;
	n->mode = from->mode;
	if ((err = kfs_wposv_copy(&n->start, &from->start)) < 0)
		goto fail;
	if (from->state == KFS_NAME_ROTATED)
		err = kfs_wposv_copy(&n->end, &from->end);
	else
		err = take_tip(t, from, &n->end);
	if (err < 0)
		goto fail;
	*out = n;
	return 0;
fail:
	entry_free(n);
	return err;
}

static int rename_locked(struct kfs_names *t, const char *stream,
			 const char *from, const char *to, unsigned flags,
			 const char **why)
{
	struct entry *f = entry_find(t, stream, from);
	struct entry *old = entry_find(t, stream, to);
	struct entry *n = NULL;
	struct kfs_name_rec r[2];
	struct kfs_wposv gone_start = { 0 };
	int64_t now = now_ms(t);
	int err;

	if (flags & KFS_NAME_EXCHANGE)
		return -EINVAL;
	if (!shows(f))
		return -ENOENT;
	if (f == old)
		return 0;
	if ((err = rename_target(t, old, flags, why)) < 0)
		return err;
	if ((err = rotated_from(t, f, to, &n)) < 0)
		return err;
	r[0] = rec_of(n);
	r[1] = rec_of(f);
	if (f->state == KFS_NAME_LIVE) {
		/* The source is gone, remembering where its key's next
		 * window starts: here (records written meanwhile through
		 * handles opened before show in the new name). */
		if ((err = kfs_wposv_copy(&gone_start, &n->end)) < 0)
			goto fail;
		r[1].state = KFS_NAME_GONE;
		r[1].start = gone_start;
		r[1].start_ms = now;
		r[1].ctime_ms = now;
	} else {
		r[1].state = KFS_NAME_DROPPED;
	}
	if ((err = key_ref(t, stream, n->key)) < 0)
		goto fail;
	if ((err = persist(t, stream, r, 2)) < 0) {
		key_unref(t, stream, n->key);
		goto fail;
	}
	if (old)
		entry_drop(t, old);
	if (f->state == KFS_NAME_LIVE) {
		kfs_wposv_clear(&f->start);
		f->start = gone_start;
		f->state = KFS_NAME_GONE;
		f->start_ms = now;
		f->ctime_ms = now;
	} else {
		entry_drop(t, f);
	}
	if ((err = entry_insert(t, n)) < 0) {
		key_unref(t, stream, n->key);
		entry_free(n);
	}
	return err;
fail:
	kfs_wposv_clear(&gone_start);
	entry_free(n);
	return err;
}

int kfs_names_rename(struct kfs_names *t, const char *stream, const char *from,
		     const char *to, unsigned flags, const char **why)
{
	int err;

	pthread_rwlock_wrlock(&t->lock);
	err = rename_locked(t, stream, from, to, flags, why);
	pthread_rwlock_unlock(&t->lock);
	return err;
}

int kfs_names_unlink(struct kfs_names *t, const char *stream, const char *name,
		     const char **why)
{
	struct entry *e;
	struct kfs_name_rec r;
	int err = 0;

	pthread_rwlock_wrlock(&t->lock);
	e = entry_find(t, stream, name);
	if (!shows(e)) {
		err = -ENOENT;
	} else if (e->state == KFS_NAME_LIVE &&
		   (err = holds_records(t, e)) != 0) {
		if (err > 0) {
			err = -EPERM;
			if (why)
				*why = "it holds records, which only retention "
				       "removes (rename it to rotate it)";
		}
	} else {
		r = rec_of(e);
		r.state = KFS_NAME_DROPPED;
		if ((err = persist(t, stream, &r, 1)) == 0)
			entry_drop(t, e);
	}
	pthread_rwlock_unlock(&t->lock);
	return err;
}

int kfs_names_setattr(struct kfs_names *t, const char *stream,
		      const char *name, uint32_t uid, uint32_t gid,
		      uint32_t mode)
{
	struct entry *e;
	struct kfs_name_rec r;
	int err;

	pthread_rwlock_wrlock(&t->lock);
	e = entry_find(t, stream, name);
	if (!shows(e)) {
		err = -ENOENT;
		goto out;
	}
	r = rec_of(e);
	if (uid != (uint32_t)-1)
		r.uid = uid;
	if (gid != (uint32_t)-1)
		r.gid = gid;
	if (mode != (uint32_t)-1)
		r.mode = mode & 0777;
	r.ctime_ms = now_ms(t);
	if ((err = persist(t, stream, &r, 1)) == 0) {
		e->uid = r.uid;
		e->gid = r.gid;
		e->mode = r.mode;
		e->ctime_ms = r.ctime_ms;
	}
out:
	pthread_rwlock_unlock(&t->lock);
	return err;
}

int kfs_names_version(struct kfs_names *t, const char *stream,
		      const char *name, uint64_t *id, uint64_t *gen)
{
	struct entry *e;
	int err = -ENOENT;

	pthread_rwlock_rdlock(&t->lock);
	e = entry_find(t, stream, name);
	if (shows(e)) {
		*id = e->id;
		*gen = e->gen;
		err = 0;
	}
	pthread_rwlock_unlock(&t->lock);
	return err;
}

int kfs_names_window(struct kfs_names *t, const char *stream, const char *name,
		     char key[KFS_KEY_MAX + 1], struct kfs_wposv *start,
		     struct kfs_wposv *end, int *rotated)
{
	struct entry *e;
	int err = -ENOENT;

	start->n = end->n = 0;
	start->v = end->v = NULL;
	pthread_rwlock_rdlock(&t->lock);
	e = entry_find(t, stream, name);
	if (shows(e)) {
		snprintf(key, KFS_KEY_MAX + 1, "%s", e->key);
		*rotated = e->state == KFS_NAME_ROTATED;
		err = kfs_wposv_copy(start, &e->start);
		if (err == 0 && *rotated && (err = kfs_wposv_copy(end, &e->end)))
			kfs_wposv_clear(start);
	}
	pthread_rwlock_unlock(&t->lock);
	return err;
}

int kfs_names_snapshot(struct kfs_names *t, const char *stream,
		       struct kfs_name_rec **out, size_t *n)
{
	struct kfs_name_rec *v = NULL;
	size_t cnt = 0, cap = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->cap_names && !err; i++) {
		for (struct chain *c = t->names[i]; c && !err; c = c->next) {
			struct entry *e = (struct entry *)c;
			struct kfs_name_rec r;

			if (strcmp(e->stream, stream) != 0)
				continue;
			if (cnt == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct kfs_name_rec *nv = realloc(v, ncap * sizeof(*v));
				if (!nv) {
					err = -ENOMEM;
					break;
				}
				v = nv;
				cap = ncap;
			}
			r = rec_of(e);
			r.name = strdup(e->name);
			r.key = strdup(e->key);
			r.start.n = r.end.n = 0;
			r.start.v = r.end.v = NULL;
			v[cnt++] = r;
			if (!r.name || !r.key ||
			    kfs_wposv_copy(&v[cnt - 1].start, &e->start) < 0 ||
			    kfs_wposv_copy(&v[cnt - 1].end, &e->end) < 0)
				err = -ENOMEM;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	if (err) {
		kfs_names_snapshot_free(v, cnt);
		return err;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void kfs_names_snapshot_free(struct kfs_name_rec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].name);
		free((char *)v[i].key);
		kfs_wposv_clear(&v[i].start);
		kfs_wposv_clear(&v[i].end);
	}
	free(v);
}
