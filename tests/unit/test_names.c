/*
 * test_names.c - the rules of key file names (backend/names.c), against a
 * model engine: one shard whose records are counted per key.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend/names.h"
#include "tap.h"

#define SHARD "shardId-000000000000"
#define MAX_KEYS 16

/* The model engine: per key, its records and bytes so far. */
static struct {
	char key[MAX_KEYS][KFS_KEY_MAX + 1];
	uint64_t recs[MAX_KEYS];
	uint64_t counter;                /* records of the shard */
	int tracked[MAX_KEYS];
	int persists;                    /* changes handed to persist */
	int fail_persist;                /* make the next persist fail */
} m;

static int slot(const char *key)
{
	for (int i = 0; i < MAX_KEYS; i++) {
		if (strcmp(m.key[i], key) == 0)
			return i;
		if (!m.key[i][0]) {
			snprintf(m.key[i], sizeof(m.key[i]), "%s", key);
			return i;
		}
	}
	return 0;
}

/* Appends n records of 10 bytes to key. */
static void put(const char *key, int n)
{
	m.recs[slot(key)] += n;
	m.counter += n;
}

static int h_tip(void *ctx, const char *stream, const char *key,
		 struct kfs_wposv *out)
{
	(void)ctx;
	(void)stream;
	out->v = calloc(1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	out->n = 1;
	snprintf(out->v[0].shard, sizeof(out->v[0].shard), "%s", SHARD);
	out->v[0].counter = m.counter;
	out->v[0].records = m.recs[slot(key)];
	out->v[0].cum[KFS_FRAMING_WRITE] = 10 * m.recs[slot(key)];
	out->v[0].cum[KFS_FRAMING_LINE] = 10 * m.recs[slot(key)];
	return 0;
}

static int h_measure(void *ctx, const char *stream, const char *key,
		     const struct kfs_wposv *start, const struct kfs_wposv *end,
		     struct kfs_name_desc *out)
{
	const struct kfs_wpos *s = kfs_wposv_find(start, SHARD);
	uint64_t to = m.recs[slot(key)], from = s ? s->records : 0;

	(void)ctx;
	(void)stream;
	if (end) {
		const struct kfs_wpos *e = kfs_wposv_find(end, SHARD);
		to = e ? e->records : from;
	}
	out->records = to - from;
	out->bytes[KFS_FRAMING_WRITE] = (int64_t)(10 * out->records);
	out->bytes[KFS_FRAMING_LINE] = (int64_t)(10 * out->records);
	out->mtime_ms = out->records ? 5000 : -1;
	return 0;
}

static int h_track(void *ctx, const char *stream, const char *key, int on)
{
	(void)ctx;
	(void)stream;
	m.tracked[slot(key)] += on ? 1 : -1;
	return 0;
}

static int h_persist(void *ctx, const char *stream,
		     const struct kfs_name_rec *v, size_t n)
{
	(void)ctx;
	(void)stream;
	(void)v;
	(void)n;
	if (m.fail_persist) {
		m.fail_persist = 0;
		return -EIO;
	}
	m.persists++;
	return 0;
}

static struct kfs_names *fresh(void)
{
	struct kfs_names_hooks h = {
		.tip = h_tip, .measure = h_measure, .track = h_track,
		.persist = h_persist,
	};
	struct kfs_names *t = NULL;

	memset(&m, 0, sizeof(m));
	REQUIRE(kfs_names_new(&h, &t) == 0);
	return t;
}

static int64_t size_of(struct kfs_names *t, const char *name)
{
	struct kfs_name_desc d;
	int err = kfs_names_stat(t, "S", name, &d);

	return err < 0 ? err : d.bytes[KFS_FRAMING_WRITE];
}

TEST(missing_names_do_not_exist)
{
	struct kfs_names *t = fresh();
	struct kfs_name_list l = { 0 };
	struct kfs_name_desc d;

	put("app.log", 3);
	CHECK_EQ_INT(kfs_names_stat(t, "S", "app.log", &d), -ENOENT);
	CHECK_EQ_INT(kfs_names_list(t, "S", &l), 0);
	CHECK_EQ_INT((int)l.n, 0);
	CHECK_EQ_INT(kfs_names_unlink(t, "S", "app.log", NULL), -ENOENT);
	CHECK_EQ_INT(kfs_names_truncate(t, "S", "app.log", NULL), -ENOENT);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "app.log", "b", 0, NULL), -ENOENT);
	CHECK_EQ_INT(m.tracked[slot("app.log")], 0);
	kfs_names_free(t);
}

TEST(create_starts_empty_and_grows)
{
	struct kfs_names *t = fresh();
	struct kfs_name_list l = { 0 };
	struct kfs_name_desc d;

	put("k", 2);     /* before the name: not in its window */
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", KFS_NAME_EXCL, 7, 8, 0640,
				      &d, NULL), 0);
	CHECK_EQ_INT((int)d.bytes[KFS_FRAMING_WRITE], 0);
	CHECK_EQ_INT((int)d.mode, 0640);
	CHECK_EQ_INT((int)d.uid, 7);
	CHECK_EQ_INT(m.tracked[slot("k")], 1);
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", KFS_NAME_EXCL, 0, 0, 0644,
				      NULL, NULL), -EEXIST);
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL), 0);
	put("k", 3);
	CHECK_EQ_INT((int)size_of(t, "k"), 30);
	CHECK_EQ_INT((int)size_of(t, "other"), -ENOENT);
	CHECK_EQ_INT(kfs_names_create(t, "S", "a", 0, 0, 0, 0644, NULL, NULL), 0);
	CHECK_EQ_INT(kfs_names_create(t, "T", "z", 0, 0, 0, 0644, NULL, NULL), 0);
	CHECK_EQ_INT(kfs_names_list(t, "S", &l), 0);
	CHECK_EQ_INT((int)l.n, 2);
	if (l.n == 2) {
		CHECK_EQ_STR(l.v[0], "a");
		CHECK_EQ_STR(l.v[1], "k");
	}
	kfs_name_list_clear(&l);
	kfs_names_free(t);
}

TEST(truncation_moves_the_start)
{
	struct kfs_names *t = fresh();

	kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL);
	put("k", 1);
	CHECK_EQ_INT(kfs_names_truncate(t, "S", "k", NULL), 0);
	CHECK_EQ_INT((int)size_of(t, "k"), 0);
	put("k", 1);
	CHECK_EQ_INT((int)size_of(t, "k"), 10);
	/* O_TRUNC through create, as `>` does */
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", KFS_NAME_TRUNC, 0, 0, 0644,
				      NULL, NULL), 0);
	CHECK_EQ_INT((int)size_of(t, "k"), 0);
	kfs_names_free(t);
}

TEST(rename_rotates)
{
	struct kfs_names *t = fresh();
	struct kfs_name_desc d;
	const char *why = NULL;

	kfs_names_create(t, "S", "app.log", 0, 0, 0, 0644, NULL, NULL);
	put("app.log", 4);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "app.log", "app.log.1", 0, NULL), 0);
	CHECK_EQ_INT((int)size_of(t, "app.log"), -ENOENT);
	CHECK_EQ_INT(kfs_names_stat(t, "S", "app.log.1", &d), 0);
	CHECK_EQ_INT((int)d.state, KFS_NAME_ROTATED);
	CHECK_EQ_STR(d.key, "app.log");
	CHECK_EQ_INT((int)d.bytes[KFS_FRAMING_WRITE], 40);
	/* written through an old handle after the rename */
	put("app.log", 2);
	CHECK_EQ_INT((int)size_of(t, "app.log.1"), 40);
	/* re-created: the window starts at the rename */
	CHECK_EQ_INT(kfs_names_create(t, "S", "app.log", KFS_NAME_EXCL, 0, 0,
				      0644, NULL, NULL), 0);
	CHECK_EQ_INT((int)size_of(t, "app.log"), 20);
	/* rotated names are read-only, and can be moved and dropped */
	CHECK_EQ_INT(kfs_names_truncate(t, "S", "app.log.1", &why), -EACCES);
	CHECK(why != NULL);
	CHECK_EQ_INT(kfs_names_create(t, "S", "app.log.1", KFS_NAME_TRUNC, 0, 0,
				      0644, NULL, NULL), -EACCES);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "app.log.1", "app.log.2", 0, NULL), 0);
	CHECK_EQ_INT((int)size_of(t, "app.log.1"), -ENOENT);
	CHECK_EQ_INT((int)size_of(t, "app.log.2"), 40);
	CHECK_EQ_INT(kfs_names_unlink(t, "S", "app.log.2", NULL), 0);
	CHECK_EQ_INT((int)size_of(t, "app.log.2"), -ENOENT);
	CHECK_EQ_INT(m.tracked[slot("app.log")], 1);
	kfs_names_free(t);
}

TEST(rename_never_replaces_records)
{
	struct kfs_names *t = fresh();
	const char *why = NULL;

	kfs_names_create(t, "S", "a", 0, 0, 0, 0644, NULL, NULL);
	kfs_names_create(t, "S", "b", 0, 0, 0, 0644, NULL, NULL);
	put("a", 1);
	put("b", 1);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "a", "b", 0, &why), -EPERM);
	CHECK(why != NULL);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "a", "b", KFS_NAME_NOREPLACE, NULL),
		     -EEXIST);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "a", "b", KFS_NAME_EXCHANGE, NULL),
		     -EINVAL);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "a", "a", 0, NULL), 0);
	/* onto an empty live name: it is replaced */
	kfs_names_create(t, "S", "empty", 0, 0, 0, 0644, NULL, NULL);
	CHECK_EQ_INT(kfs_names_rename(t, "S", "a", "empty", 0, NULL), 0);
	CHECK_EQ_INT((int)size_of(t, "empty"), 10);
	CHECK_EQ_INT(m.tracked[slot("empty")], 0);
	/* onto a rotated name: replaced */
	CHECK_EQ_INT(kfs_names_rename(t, "S", "b", "empty", 0, NULL), 0);
	CHECK_EQ_INT((int)size_of(t, "empty"), 10);
	kfs_names_free(t);
}

TEST(unlink_keeps_records)
{
	struct kfs_names *t = fresh();
	const char *why = NULL;

	kfs_names_create(t, "S", "tmp", KFS_NAME_EXCL, 0, 0, 0600, NULL, NULL);
	CHECK_EQ_INT(kfs_names_unlink(t, "S", "tmp", NULL), 0);
	CHECK_EQ_INT(m.tracked[slot("tmp")], 0);
	kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL);
	put("k", 1);
	CHECK_EQ_INT(kfs_names_unlink(t, "S", "k", &why), -EPERM);
	CHECK(why != NULL);
	CHECK_EQ_INT((int)size_of(t, "k"), 10);
	kfs_names_free(t);
}

TEST(a_failed_persist_changes_nothing)
{
	struct kfs_names *t = fresh();

	m.fail_persist = 1;
	CHECK_EQ_INT(kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL), -EIO);
	CHECK_EQ_INT((int)size_of(t, "k"), -ENOENT);
	CHECK_EQ_INT(m.tracked[slot("k")], 0);
	kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL);
	put("k", 1);
	m.fail_persist = 1;
	CHECK_EQ_INT(kfs_names_rename(t, "S", "k", "k.1", 0, NULL), -EIO);
	CHECK_EQ_INT((int)size_of(t, "k"), 10);
	CHECK_EQ_INT((int)size_of(t, "k.1"), -ENOENT);
	kfs_names_free(t);
}

TEST(setattr_and_snapshot_and_load)
{
	struct kfs_names *t = fresh(), *u;
	struct kfs_names_hooks h = { .measure = h_measure, .track = h_track };
	struct kfs_name_rec *v = NULL;
	struct kfs_name_desc d;
	size_t n = 0;

	kfs_names_create(t, "S", "k", 0, 0, 0, 0644, NULL, NULL);
	put("k", 2);
	CHECK_EQ_INT(kfs_names_setattr(t, "S", "k", 33, (uint32_t)-1, 0600), 0);
	kfs_names_rename(t, "S", "k", "k.1", 0, NULL);
	CHECK_EQ_INT(kfs_names_snapshot(t, "S", &v, &n), 0);
	CHECK_EQ_INT((int)n, 2);   /* k.1 rotated, k gone */
	REQUIRE(kfs_names_new(&h, &u) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(kfs_names_load(u, "S", &v[i]), 0);
	CHECK_EQ_INT(kfs_names_stat(u, "S", "k.1", &d), 0);
	CHECK_EQ_INT((int)d.uid, 33);
	CHECK_EQ_INT((int)d.mode, 0600);
	CHECK_EQ_INT((int)d.bytes[KFS_FRAMING_WRITE], 20);
	CHECK_EQ_INT(kfs_names_stat(u, "S", "k", &d), -ENOENT);
	kfs_names_snapshot_free(v, n);
	kfs_names_forget(u, "S");
	CHECK_EQ_INT(kfs_names_stat(u, "S", "k.1", &d), -ENOENT);
	kfs_names_free(u);
	kfs_names_free(t);
}

int main(void)
{
	RUN(missing_names_do_not_exist);
	RUN(create_starts_empty_and_grows);
	RUN(truncation_moves_the_start);
	RUN(rename_rotates);
	RUN(rename_never_replaces_records);
	RUN(unlink_keeps_records);
	RUN(a_failed_persist_changes_nothing);
	RUN(setattr_and_snapshot_and_load);
	return tap_done();
}
