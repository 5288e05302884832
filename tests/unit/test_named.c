/*
 * test_named.c - named readers below the FUSE layer (fs/named.h,
 * docs/reading.md "Named readers"): the grammar of their view names, and
 * their state: saved and loaded whole, one open at a time, positions that
 * never move back, reset, removal, and a damaged state file refused.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/named.h"
#include "fs/path.h"
#include "lib/log.h"
#include "tap.h"

#define T0 1764064800000LL  /* the fake clock of scratch.h (unused) */
#include "scratch.h"

#define SEQ "49656940713124985428137225467463451066282880215138205698"
#define SEQ2 "49656940713124985428137225467463451066282880215138205699"

struct npos_case {
	const char *s;
	int rc;
	enum kfs_named_form form;
	const char *name;
	int first_given;
	enum kfs_iter_type type;
	int json;
};

TEST(named_position_parse)
{
	static const struct npos_case cases[] = {
		{"READER=etl", 0, KFS_NAMED_FOLLOW, "etl", 0, KFS_ITER_TRIM_HORIZON, 0},
		{"BATCH=etl", 0, KFS_NAMED_BATCH, "etl", 0, KFS_ITER_TRIM_HORIZON, 0},
		{"BATCH=etl.jsonl", 0, KFS_NAMED_BATCH, "etl", 0, KFS_ITER_TRIM_HORIZON, 1},
		{"READER=a.b-c_D9,LATEST", 0, KFS_NAMED_FOLLOW, "a.b-c_D9", 1, KFS_ITER_LATEST, 0},
		{"BATCH=x,AT_TIMESTAMP=1764000000.250.jsonl", 0, KFS_NAMED_BATCH, "x", 1,
		 KFS_ITER_AT_TIMESTAMP, 1},
		{"BATCH=x,AFTER_SEQUENCE_NUMBER=" SEQ, 0, KFS_NAMED_BATCH, "x", 1,
		 KFS_ITER_AFTER_SEQUENCE_NUMBER, 0},
		{"READER=", -EINVAL, 0, NULL, 0, 0, 0},
		{"READER", -EINVAL, 0, NULL, 0, 0, 0},
		{"READERS=x", -EINVAL, 0, NULL, 0, 0, 0},
		{"BATCH=.hidden", -EINVAL, 0, NULL, 0, 0, 0},
		{"BATCH=a b", -EINVAL, 0, NULL, 0, 0, 0},
		{"BATCH=a,", -EINVAL, 0, NULL, 0, 0, 0},
		{"BATCH=a,latest", -EINVAL, 0, NULL, 0, 0, 0},
		{"BATCH=a,LATEST.jsonl.jsonl", -EINVAL, 0, NULL, 0, 0, 0},
		{"BATCH=a,READER=b", -EINVAL, 0, NULL, 0, 0, 0},
		{"BATCH=" "0123456789012345678901234567890123456789012345678901234567890123",
		 0, KFS_NAMED_BATCH,
		 "0123456789012345678901234567890123456789012345678901234567890123", 0,
		 KFS_ITER_TRIM_HORIZON, 0},
		{"BATCH=" "01234567890123456789012345678901234567890123456789012345678901234",
		 -EINVAL, 0, NULL, 0, 0, 0},
		{"reader=x", -ENOENT, 0, NULL, 0, 0, 0},
	};
	struct kfs_position p;
	struct kfs_path path;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct npos_case *c = &cases[i];
		int rc = kfs_position_parse(c->s, &p);

		if (rc != c->rc) {
			printf("#   kfs_position_parse(\"%s\") = %d, expected %d\n",
			       c->s, rc, c->rc);
			tap_cur_failed = 1;
			continue;
		}
		if (rc == 0 && (p.named != c->form || strcmp(p.rname, c->name) != 0 ||
				p.first_given != c->first_given ||
				p.type != c->type || p.json != c->json)) {
			printf("#   kfs_position_parse(\"%s\"): form %d name %s first %d "
			       "type %d json %d\n", c->s, p.named, p.rname,
			       p.first_given, p.type, p.json);
			tap_cur_failed = 1;
		}
	}
	/* On every kind of view, never a key file. */
	CHECK_EQ_INT(kfs_path_parse("/s/@BATCH=a", &path), 0);
	CHECK_EQ_INT(path.kind, KFS_NODE_SVIEW);
	CHECK_EQ_INT(kfs_path_parse("/s/shardId-000000000001@READER=a.jsonl", &path), 0);
	CHECK_EQ_INT(path.kind, KFS_NODE_SHARD);
	CHECK(path.view && path.pos.named == KFS_NAMED_FOLLOW && path.pos.json);
	CHECK_EQ_INT(kfs_path_parse("/s/user@example.com@BATCH=a", &path), 0);
	CHECK_EQ_INT(path.kind, KFS_NODE_KEY);
	CHECK(path.view && path.pos.named == KFS_NAMED_BATCH);
	CHECK_EQ_STR(path.name, "user@example.com");
	CHECK_EQ_INT(kfs_path_parse("/s/k@BATCH=a b", &path), -EINVAL);
}

static struct kfs_named *acquire(struct kfs_named_table *t, const char *name,
				 enum kfs_node kind, const char *target, int *rc)
{
	struct kfs_position first = { .type = KFS_ITER_TRIM_HORIZON };
	struct kfs_named *n = NULL;
	char why[200];

	*rc = kfs_named_acquire(t, "s", 1000, name, kind, target, &first, &n,
				why, sizeof(why));
	return n;
}

TEST(state_kept_whole)
{
	char dir[] = "/tmp/kfs-named.XXXXXX";
	struct kfs_named_table *t;
	struct kfs_named *n, *m;
	struct kfs_npos v[2] = {
		{ .shard = "shardId-000000000000", .seq = SEQ2, .sub = -1,
		  .arrival_ms = 5 },
		{ .shard = "shardId-000000000001", .seq = SEQ, .sub = 3,
		  .done = 0, .arrival_ms = 6 },
	};
	struct kfs_npos old = { .shard = "shardId-000000000000", .seq = SEQ,
				.sub = -1 };
	struct kfs_nstate s = { 0 }, live = { 0 };
	const char *key = "odd key\nwith \xff bytes";
	struct kfs_named_lag lg = { 1, 2, 7 }, lag;
	int rc, open;
	char path[300], *list;
	size_t len, count;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	t = kfs_named_table_new(dir);
	n = acquire(t, "etl", KFS_NODE_KEY, key, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(n && n->fresh);
	/* One open at a time. */
	m = acquire(t, "etl", KFS_NODE_KEY, key, &rc);
	CHECK_EQ_INT(rc, -EBUSY);
	CHECK(m == NULL);
	kfs_named_deliver(n, v, 2, &lg);
	/* A position behind does not move the name back. */
	kfs_named_deliver(n, &old, 1, &lg);
	CHECK_EQ_INT(kfs_named_commit(n), 0);
	CHECK_EQ_INT(kfs_named_load(t, "s", "etl", &s, &open, &live, &lag), 0);
	CHECK_EQ_INT(open, 1);
	CHECK_EQ_INT((int)lag.millis, 7);
	CHECK_EQ_INT((int)lag.records, 1);
	CHECK_EQ_INT(s.kind, KFS_NODE_KEY);
	CHECK_EQ_STR(s.target, key);
	CHECK_EQ_INT((int)s.n, 2);
	CHECK_EQ_STR(kfs_nstate_find(&s, "shardId-000000000000")->seq, SEQ2);
	CHECK_EQ_INT((int)kfs_nstate_find(&s, "shardId-000000000001")->sub, 3);
	CHECK_EQ_INT((int)s.commits, 1);
	kfs_nstate_clear(&s);
	kfs_nstate_clear(&live);
	/* A reset or removal of an open name: EBUSY. */
	CHECK_EQ_INT(kfs_named_reset(t, "s", 1000, "etl", NULL), -EBUSY);
	CHECK_EQ_INT(kfs_named_remove(t, "s", "etl"), -EBUSY);
	CHECK_EQ_INT(kfs_named_close(n, 0), 0);
	kfs_named_free(n);

	/* Opened again: where it committed; for another key: EINVAL. */
	n = acquire(t, "etl", KFS_NODE_KEY, key, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(n && !n->fresh && n->start.n == 2);
	kfs_named_free(n);
	n = acquire(t, "etl", KFS_NODE_SVIEW, "", &rc);
	CHECK_EQ_INT(rc, -EINVAL);
	kfs_named_free(n);

	/* Listed; reset makes it fresh and unbound; removed, it is gone. */
	CHECK_EQ_INT(kfs_named_list(t, "s", &list, &len, &count), 0);
	CHECK_EQ_INT((int)count, 1);
	CHECK_EQ_STR(list, "etl");
	free(list);
	{
		struct kfs_position latest = { .type = KFS_ITER_LATEST };
		CHECK_EQ_INT(kfs_named_reset(t, "s", 1000, "etl", &latest), 0);
	}
	n = acquire(t, "etl", KFS_NODE_SVIEW, "", &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(n && n->fresh && n->start.origin == KFS_ITER_AT_TIMESTAMP &&
	      n->start.n == 0);
	kfs_named_free(n);
	CHECK_EQ_INT(kfs_named_remove(t, "s", "etl"), 0);
	CHECK_EQ_INT(kfs_named_remove(t, "s", "etl"), -ENOENT);

	/* A damaged state file is refused, not taken for a fresh name. */
	n = acquire(t, "bad", KFS_NODE_SVIEW, "", &rc);
	CHECK_EQ_INT(kfs_named_commit(n), 0);
	kfs_named_free(n);
	snprintf(path, sizeof(path), "%s/s/bad", dir);
	f = fopen(path, "r+");
	CHECK(f != NULL);
	if (f) {
		fseek(f, -4, SEEK_END);
		fputs("9\n", f);
		fclose(f);
	}
	n = acquire(t, "bad", KFS_NODE_SVIEW, "", &rc);
	CHECK_EQ_INT(rc, -EIO);
	kfs_named_free(n);
	kfs_named_table_free(t);
	rm_rf(dir);
}

int main(void)
{
	kfs_log_init(1, KFS_LOG_ERR);
	RUN(named_position_parse);
	RUN(state_kept_whole);
	return tap_done();
}
