/* test_keyidx.c - key files of the local engine: the bookkeeping of
 * tracked keys at append, sizes and windows (names hooks), their
 * survival across remount and a kill, retention, key iterators reading
 * only their key, and appends racing with truncations. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/names.h"
#include "backend/local/crc32c.h"
#include "backend/local/engine.h"
#include "backend/local/keyidx.h"
#include "backend/local/local.h"
#include "backend/local/names_journal.h"
#include "lib/log.h"
#include "tap.h"

#define HOUR ((int64_t)3600 * 1000)
#define T0 ((int64_t)1732550000000) /* 2024-11-25, ms */
#include "scratch.h"

static char *new_dir(void)
{
	char *d = strdup("/tmp/kfs-keyidx-XXXXXX");
	REQUIRE(d && mkdtemp(d));
	return d;
}

static void rm_dir(char *d)
{
	nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

static struct kfs_backend *open_at(const char *dir, uint64_t seg_bytes)
{
	struct kfs_local_config cfg = {
		.data_dir = dir,
		.clock = &scratch_clock,
		.segment_bytes = seg_bytes,
	};
	struct kfs_backend *be = NULL;
	int rc = kfs_local_open(&cfg, &be);

	if (rc != 0)
		printf("# kfs_local_open(%s): %s\n", dir, strerror(-rc));
	REQUIRE(rc == 0 && be);
	return be;
}

static struct kfs_names *names(struct kfs_backend *be)
{
	return be->ops->names(be->impl);
}

static void create(struct kfs_backend *be, const char *s, const char *name)
{
	REQUIRE(kfs_names_create(names(be), s, name, 0, 0, 0, 0644, NULL, NULL) == 0);
}

/* Puts n records: key keys[i % nk], data "<key> <i>\n" (no newline when
 * i is odd, so the framings differ). */
static void put_mixed(struct kfs_backend *be, const char *s,
		      const char *const *keys, size_t nk, size_t n, size_t base)
{
	struct kfs_put_entry *en = calloc(n, sizeof(*en));
	char (*d)[64] = calloc(n, 64);

	REQUIRE(en && d);
	for (size_t i = 0; i < n; i++) {
		int l = snprintf(d[i], 64, "%s %zu%s", keys[i % nk], base + i,
				 (base + i) % 2 ? "" : "\n");
		en[i].key = keys[i % nk];
		en[i].data = d[i];
		en[i].len = (size_t)l;
	}
	REQUIRE(be->ops->put_records(be->impl, s, en, n) == 0);
	for (size_t i = 0; i < n; i++)
		REQUIRE(en[i].err == 0);
	free(en);
	free(d);
}

/* What the key's records weigh, computed from the data: keys[k] of
 * put_mixed's n records from base. */
struct want {
	uint64_t bytes[KFS_FRAMING_COUNT];
	uint64_t records;
};

static void want_add(struct want *w, const char *key, const char *const *keys,
		     size_t nk, size_t n, size_t base)
{
	for (size_t i = 0; i < n; i++) {
		char d[64];
		int l;

		if (strcmp(keys[i % nk], key))
			continue;
		l = snprintf(d, sizeof(d), "%s %zu%s", key, base + i,
			     (base + i) % 2 ? "" : "\n");
		w->bytes[KFS_FRAMING_WRITE] += (uint64_t)l;
		w->bytes[KFS_FRAMING_LINE] += kfs_framed_len(KFS_FRAMING_LINE, d, (size_t)l);
		w->records++;
	}
}

static void check_stat(struct kfs_backend *be, const char *s, const char *name,
		       const struct want *w, const char *what)
{
	struct kfs_name_desc d;

	REQUIRE(kfs_names_stat(names(be), s, name, &d) == 0);
	CHECK_EQ_INT(d.records, w->records);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_LINE], w->bytes[KFS_FRAMING_LINE]);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], w->bytes[KFS_FRAMING_WRITE]);
	if (d.records != w->records)
		printf("#   %s: %s holds %" PRIu64 " records, expected %" PRIu64 "\n",
		       what, name, d.records, w->records);
}

/* Reads the window of `name` in every shard through key iterators:
 * returns the records, appends their data to out (if not NULL). */
static size_t read_window(struct kfs_backend *be, const char *s, const char *name,
			  size_t limit, char **out, size_t *out_len)
{
	struct kfs_shard_list sl = {0};
	struct kfs_wposv start = {0}, end = {0};
	char key[KFS_KEY_MAX + 1];
	int rotated = 0;
	size_t n = 0;

	REQUIRE(kfs_names_window(names(be), s, name, key, &start, &end, &rotated) == 0);
	REQUIRE(be->ops->list_shards(be->impl, s, &sl) == 0);
	for (size_t i = 0; i < sl.n; i++) {
		char *it = NULL;
		const struct kfs_wpos *en = rotated ? kfs_wposv_find(&end, sl.v[i].id) : NULL;

		if (rotated && !en)
			continue;
		REQUIRE(be->ops->key_iterator(be->impl, s, sl.v[i].id, key,
					      kfs_wposv_find(&start, sl.v[i].id),
					      en, &it) == 0);
		while (it) {
			struct kfs_get_result r = {0};
			REQUIRE(be->ops->get_records(be->impl, it, (int)limit, 0, &r) == 0);
			free(it);
			it = NULL;
			for (size_t j = 0; j < r.n; j++) {
				CHECK_EQ_STR(r.records[j].key, key);
				if (out) {
					*out = realloc(*out, *out_len + r.records[j].len + 1);
					memcpy(*out + *out_len, r.records[j].data, r.records[j].len);
					*out_len += r.records[j].len;
					(*out)[*out_len] = '\0';
				}
			}
			n += r.n;
			/* At the tip of an open shard: done for this test. */
			if (r.n > 0 && r.next_iterator)
				it = strdup(r.next_iterator);
			kfs_get_result_clear(&r);
		}
	}
	kfs_shard_list_clear(&sl);
	kfs_wposv_clear(&start);
	kfs_wposv_clear(&end);
	return n;
}

static const char *const KEYS3[] = {"a", "b", "c"};

TEST(bookkeeping_of_mixed_appends)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0);
	struct want wa = {0}, wb = {0}, zero = {0};
	struct kfs_name_desc d;
	struct iovec v[3];

	set_now(T0);
	REQUIRE(be->ops->create_stream(be->impl, "S", 2) == 0);
	put_mixed(be, "S", KEYS3, 3, 30, 0);      /* before any name: not counted */
	create(be, "S", "a");
	create(be, "S", "b");
	check_stat(be, "S", "a", &zero, "new name");
	REQUIRE(kfs_names_stat(names(be), "S", "a", &d) == 0);
	CHECK_EQ_INT(d.mtime_ms, T0);      /* the window's start */
	set_now(T0 + 1000);
	put_mixed(be, "S", KEYS3, 3, 31, 100);
	want_add(&wa, "a", KEYS3, 3, 31, 100);
	want_add(&wb, "b", KEYS3, 3, 31, 100);
	/* Runs of one key in one append, and put_run. */
	put_mixed(be, "S", (const char *const[]){"a", "a", "a", "c", "b", "b"}, 6, 12, 200);
	want_add(&wa, "a", (const char *const[]){"a", "a", "a", "c", "b", "b"}, 6, 12, 200);
	want_add(&wb, "b", (const char *const[]){"a", "a", "a", "c", "b", "b"}, 6, 12, 200);
	set_now(T0 + 2000);
	v[0].iov_base = "run 1\n";
	v[0].iov_len = 6;
	v[1].iov_base = "run 2";
	v[1].iov_len = 5;
	v[2].iov_base = "";
	v[2].iov_len = 0;
	REQUIRE(be->ops->put_run(be->impl, "S", "a", v, 3) == 0);
	wa.records += 3;
	wa.bytes[KFS_FRAMING_WRITE] += 11;
	wa.bytes[KFS_FRAMING_LINE] += 6 + 6 + 1;
	check_stat(be, "S", "a", &wa, "after appends");
	check_stat(be, "S", "b", &wb, "after appends");
	REQUIRE(kfs_names_stat(names(be), "S", "a", &d) == 0);
	CHECK_EQ_INT(d.mtime_ms, T0 + 2000);
	REQUIRE(kfs_names_stat(names(be), "S", "b", &d) == 0);
	CHECK_EQ_INT(d.mtime_ms, T0 + 1000);
	/* The window reads back what stat says, and only its key. */
	CHECK_EQ_INT(read_window(be, "S", "a", 7, NULL, NULL), wa.records);
	CHECK_EQ_INT(read_window(be, "S", "b", 1000, NULL, NULL), wb.records);
	/* Truncation: the window starts at the tip. */
	REQUIRE(kfs_names_truncate(names(be), "S", "a", NULL) == 0);
	check_stat(be, "S", "a", &zero, "truncated");
	put_mixed(be, "S", KEYS3, 3, 3, 300);
	memset(&wa, 0, sizeof(wa));
	want_add(&wa, "a", KEYS3, 3, 3, 300);
	check_stat(be, "S", "a", &wa, "after truncation");
	/* Rotation: the rotated name keeps the window, closed. */
	REQUIRE(kfs_names_rename(names(be), "S", "a", "a.1", 0, NULL) == 0);
	put_mixed(be, "S", KEYS3, 3, 6, 400);
	check_stat(be, "S", "a.1", &wa, "rotated");
	CHECK_EQ_INT(read_window(be, "S", "a.1", 100, NULL, NULL), wa.records);
	kfs_backend_free(be);
	rm_dir(dir);
}

/* Every file under dir/streams/S/<shard>/keys whose name is 32 chars. */
static void each_posting_file(const char *dir, const char *shard,
			      void (*fn)(const char *path))
{
	char p[512];
	DIR *d;
	struct dirent *de;

	snprintf(p, sizeof(p), "%s/streams/S/%s/keys", dir, shard);
	d = opendir(p);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char f[1024];
		if (strlen(de->d_name) != 32)
			continue;
		snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
		fn(f);
	}
	closedir(d);
}

static void cut_postings(const char *path)
{
	/* Header only: every posting lost, as by a kill between appends
	 * and their bookkeeping. */
	REQUIRE(truncate(path, 272) == 0);
}

static void set_watermark(const char *dir, const char *shard, uint64_t w)
{
	unsigned char b[24] = "KFSKW1";
	char p[512];
	uint32_t crc;
	int fd;

	for (int i = 0; i < 8; i++)
		b[8 + i] = (unsigned char)(w >> (8 * i));
	crc = kfs_crc32c(0, b, 16);
	for (int i = 0; i < 4; i++)
		b[16 + i] = (unsigned char)(crc >> (8 * i));
	snprintf(p, sizeof(p), "%s/streams/S/%s/keys/watermark", dir, shard);
	fd = open(p, O_WRONLY);
	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b));
	close(fd);
}

TEST(names_and_sizes_survive_remount_and_a_kill)
{
	char *dir = new_dir(), cmd[512];
	char *copy = new_dir();
	struct kfs_backend *be = open_at(dir, 4096);
	struct want wa = {0}, wb = {0};
	char *text1 = NULL, *text2 = NULL;
	size_t l1 = 0, l2 = 0;

	set_now(T0);
	REQUIRE(be->ops->create_stream(be->impl, "S", 1) == 0);
	create(be, "S", "a");
	create(be, "S", "b");
	put_mixed(be, "S", KEYS3, 3, 500, 0);
	want_add(&wa, "a", KEYS3, 3, 500, 0);
	want_add(&wb, "b", KEYS3, 3, 500, 0);
	REQUIRE(kfs_names_rename(names(be), "S", "b", "b.1", 0, NULL) == 0);
	put_mixed(be, "S", KEYS3, 3, 30, 500);
	want_add(&wa, "a", KEYS3, 3, 30, 500);
	CHECK_EQ_INT(read_window(be, "S", "a", 50, &text1, &l1), wa.records);

	/* kill -9: the files as they are now (page cache), with the
	 * postings of the last appends missing. */
	snprintf(cmd, sizeof(cmd), "cp -a %s/. %s/", dir, copy);
	REQUIRE(system(cmd) == 0);
	each_posting_file(copy, "shardId-000000000000", cut_postings);
	set_watermark(copy, "shardId-000000000000", 0);

	/* A clean remount. */
	kfs_backend_free(be);
	be = open_at(dir, 4096);
	check_stat(be, "S", "a", &wa, "after remount");
	check_stat(be, "S", "b.1", &wb, "after remount");
	CHECK(kfs_names_stat(names(be), "S", "b", &(struct kfs_name_desc){0}) == -ENOENT);
	CHECK_EQ_INT(read_window(be, "S", "a", 50, &text2, &l2), wa.records);
	CHECK(l1 == l2 && l1 > 0 && memcmp(text1, text2, l1) == 0);
	kfs_backend_free(be);

	/* The killed copy: postings rebuilt from the log. */
	be = open_at(copy, 4096);
	check_stat(be, "S", "a", &wa, "after a kill");
	check_stat(be, "S", "b.1", &wb, "after a kill");
	free(text2);
	text2 = NULL;
	l2 = 0;
	CHECK_EQ_INT(read_window(be, "S", "a", 50, &text2, &l2), wa.records);
	CHECK(l1 == l2 && memcmp(text1, text2, l1) == 0);
	/* Appends go on counting from there. */
	put_mixed(be, "S", KEYS3, 3, 3, 1000);
	want_add(&wa, "a", KEYS3, 3, 3, 1000);
	check_stat(be, "S", "a", &wa, "appends after the kill");
	kfs_backend_free(be);
	free(text1);
	free(text2);
	rm_dir(dir);
	rm_dir(copy);
}

TEST(torn_journal_tail_is_cut)
{
	char *dir = new_dir(), p[512];
	struct kfs_backend *be = open_at(dir, 0);
	struct kfs_name_list l = {0};
	int fd;

	set_now(T0);
	REQUIRE(be->ops->create_stream(be->impl, "S", 1) == 0);
	create(be, "S", "x");
	create(be, "S", "y");
	kfs_backend_free(be);
	snprintf(p, sizeof(p), "%s/streams/S/names", dir);
	fd = open(p, O_WRONLY | O_APPEND);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "\x40\0\0\0garbage", 11) == 11);   /* a torn change */
	close(fd);
	off_t before = file_size(dir, "streams/S/names");
	be = open_at(dir, 0);
	REQUIRE(kfs_names_list(names(be), "S", &l) == 0);
	CHECK_EQ_INT(l.n, 2);
	CHECK(file_size(dir, "streams/S/names") == before - 11);
	kfs_name_list_clear(&l);
	create(be, "S", "z");   /* after the cut, changes are kept again */
	kfs_backend_free(be);
	be = open_at(dir, 0);
	REQUIRE(kfs_names_list(names(be), "S", &l) == 0);
	CHECK_EQ_INT(l.n, 3);
	kfs_name_list_clear(&l);
	/* A deleted stream's names go with it. */
	REQUIRE(be->ops->delete_stream(be->impl, "S") == 0);
	REQUIRE(be->ops->create_stream(be->impl, "S", 1) == 0);
	REQUIRE(kfs_names_list(names(be), "S", &l) == 0);
	CHECK_EQ_INT(l.n, 0);
	kfs_backend_free(be);
	rm_dir(dir);
}

static int count_rec(void *ctx, const struct kfs_name_rec *r)
{
	(void)r;
	++*(size_t *)ctx;
	return 0;
}

TEST(journal_compaction)
{
	char *dir = new_dir();
	struct kfs_njournal *j;
	struct kfs_wpos pos = {.shard = "shardId-000000000007", .counter = 42,
			       .cum = {5, 4}, .records = 2, .last_ms = T0};
	struct kfs_name_rec r = {.name = "n", .key = "n", .state = KFS_NAME_LIVE,
				 .start = {1, &pos}};
	size_t n = 0;

	REQUIRE(kfs_njournal_open(dir, &j) == 0);
	REQUIRE(kfs_njournal_replay(j, count_rec, &n) == 0);
	CHECK_EQ_INT(n, 0);
	while (!kfs_njournal_big(j))
		REQUIRE(kfs_njournal_append(j, &r, 1) == 0);
	CHECK(kfs_njournal_compact(j, kfs_njournal_changes(j) - 1, &r, 1) == -EAGAIN);
	REQUIRE(kfs_njournal_compact(j, kfs_njournal_changes(j), &r, 1) == 0);
	CHECK(!kfs_njournal_big(j));
	CHECK(file_size(dir, "names") < 200);
	kfs_njournal_close(j);
	REQUIRE(kfs_njournal_open(dir, &j) == 0);
	n = 0;
	REQUIRE(kfs_njournal_replay(j, count_rec, &n) == 0);
	CHECK_EQ_INT(n, 1);
	kfs_njournal_close(j);
	rm_dir(dir);
}

TEST(retention_shrinks_windows)
{
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 2048);
	struct want wa = {0}, zero = {0};
	struct kfs_name_desc d;

	set_now(T0);
	REQUIRE(be->ops->create_stream(be->impl, "S", 1) == 0);
	create(be, "S", "a");
	create(be, "S", "c");
	put_mixed(be, "S", KEYS3, 3, 60, 0);          /* expires */
	set_now(T0 + 20 * HOUR);
	put_mixed(be, "S", KEYS3, 3, 30, 100);        /* stays */
	want_add(&wa, "a", KEYS3, 3, 30, 100);
	set_now(T0 + 25 * HOUR);
	check_stat(be, "S", "a", &wa, "past retention");
	REQUIRE(kfs_local_purge(be) > 0);
	check_stat(be, "S", "a", &wa, "past retention, purged");
	CHECK_EQ_INT(read_window(be, "S", "a", 100, NULL, NULL), wa.records);
	/* A rotated window wholly past retention holds nothing. */
	set_now(T0 + 26 * HOUR);
	REQUIRE(kfs_names_rename(names(be), "S", "c", "c.1", 0, NULL) == 0);
	set_now(T0 + 46 * HOUR);
	check_stat(be, "S", "c.1", &zero, "rotated, past retention");
	REQUIRE(kfs_names_stat(names(be), "S", "c.1", &d) == 0);
	CHECK(d.mtime_ms > 0);
	kfs_backend_free(be);
	rm_dir(dir);
}

/* Bytes this thread read (the engine's background thread reads too, at
 * its own pace: it is not counted). */
static uint64_t rchar(void)
{
	FILE *f = fopen("/proc/thread-self/io", "r");
	char line[128];
	uint64_t v = 0;

	REQUIRE(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

TEST(a_key_reads_only_its_records)
{
	enum { KEYS = 10, BATCH = 500, BATCHES = 40, LEN = 400, RUN = 25 };
	char *dir = new_dir();
	struct kfs_backend *be = open_at(dir, 0);
	const char *keys[KEYS] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"};
	static char data[BATCH][LEN];
	struct kfs_put_entry en[BATCH];
	struct kfs_name_desc d;
	uint64_t r0, r1, total = 0;
	double t0, t1;
	size_t n;

	set_now(T0);
	REQUIRE(be->ops->create_stream(be->impl, "S", 1) == 0);
	for (int k = 0; k < KEYS; k++)
		create(be, "S", keys[k]);
	for (int b = 0; b < BATCHES; b++) {
		/* Runs of RUN records of a key (10 KB), the keys in turn.
		 * Each run costs a few index reads besides its data: runs
		 * of 5 records of 400 bytes read 0.156 of the bytes. */
		for (int i = 0; i < BATCH; i++) {
			memset(data[i], 'a' + (i / RUN) % KEYS, LEN - 1);
			data[i][LEN - 1] = '\n';
			en[i] = (struct kfs_put_entry){.key = keys[(i / RUN) % KEYS],
						       .data = data[i], .len = LEN};
		}
		REQUIRE(be->ops->put_records(be->impl, "S", en, BATCH) == 0);
		total += (uint64_t)BATCH * LEN;
	}
	r0 = rchar();
	n = read_window(be, "S", "k3", 10000, NULL, NULL);
	r1 = rchar();
	CHECK_EQ_INT(n, BATCH * BATCHES / KEYS);
	printf("# one key of %d: read %" PRIu64 " bytes of %" PRIu64 " (%.3f)\n", KEYS,
	       r1 - r0, total, (double)(r1 - r0) / (double)total);
	CHECK(r1 - r0 < total / KEYS + total / 50);
	CHECK(r1 - r0 >= total / KEYS);
	/* stat reads nothing and costs microseconds. */
	r0 = rchar();
	r1 = rchar() - r0;      /* what reading /proc/thread-self/io reads */
	r0 = rchar();
	t0 = now_s();
	for (int i = 0; i < 1000; i++)
		REQUIRE(kfs_names_stat(names(be), "S", "k3", &d) == 0);
	t1 = now_s();
	/* (Reading /proc/thread-self/io reads a few bytes more as numbers grow.) */
	CHECK(rchar() - r0 <= r1 + 8);
	CHECK_EQ_INT(d.bytes[KFS_FRAMING_WRITE], total / KEYS);
	printf("# stat: %.2f us\n", (t1 - t0) * 1e6 / 1000);
	CHECK((t1 - t0) / 1000 < 0.001);
	kfs_backend_free(be);
	rm_dir(dir);
}

/* Writers append to key "k" while the main thread truncates its name:
 * every append is wholly before or after a truncation's start, so the
 * size stat gives is what the window reads. */
struct race {
	struct kfs_backend *be;
	int stop;               /* atomic */
	long puts;              /* atomic */
};

static void *writer(void *arg)
{
	struct race *r = arg;
	struct iovec v[4];

	for (int i = 0; i < 4; i++) {
		v[i].iov_base = "0123456789\n";
		v[i].iov_len = 11;
	}
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		struct kfs_put_entry en[3] = {
			{.key = "k", .data = "abc\n", .len = 4},
			{.key = "other", .data = "x", .len = 1},
			{.key = "k", .data = "de", .len = 2},
		};
		if (r->be->ops->put_run(r->be->impl, "S", "k", v, 4) != 0 ||
		    r->be->ops->put_records(r->be->impl, "S", en, 3) != 0)
			break;
		__atomic_add_fetch(&r->puts, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST(appends_race_with_truncations)
{
	char *dir = new_dir();
	struct race r = {0};
	pthread_t th[3];
	int bad = 0;

	r.be = open_at(dir, 1 << 16);
	set_now(T0);
	REQUIRE(r.be->ops->create_stream(r.be->impl, "S", 2) == 0);
	create(r.be, "S", "k");
	for (int i = 0; i < 3; i++)
		REQUIRE(pthread_create(&th[i], NULL, writer, &r) == 0);
	/* On a loaded machine the writers may start late: the truncations
	 * race with them only once they append. */
	for (int i = 0; i < 10000 && __atomic_load_n(&r.puts, __ATOMIC_RELAXED) == 0; i++)
		usleep(1000);
	for (int i = 0; i < 200; i++) {
		struct kfs_name_desc d;
		kfs_names_truncate(names(r.be), "S", "k", NULL);
		REQUIRE(kfs_names_stat(names(r.be), "S", "k", &d) == 0);
		/* Records of 11, 4 and 2 bytes: bytes and records agree. */
		if (d.bytes[KFS_FRAMING_LINE] < (int64_t)d.records * 3)
			bad++;
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK(__atomic_load_n(&r.puts, __ATOMIC_RELAXED) > 0);
	CHECK_EQ_INT(bad, 0);
	{
		struct kfs_name_desc d;
		char *text = NULL;
		size_t len = 0, n;

		REQUIRE(kfs_names_stat(names(r.be), "S", "k", &d) == 0);
		n = read_window(r.be, "S", "k", 1000, &text, &len);
		CHECK_EQ_INT(n, d.records);
		CHECK_EQ_INT(len, d.bytes[KFS_FRAMING_WRITE]);
		free(text);
	}
	kfs_backend_free(r.be);
	rm_dir(dir);
}

int main(void)
{
	kfs_log_init(1, KFS_LOG_WARN);
	RUN(bookkeeping_of_mixed_appends);
	RUN(names_and_sizes_survive_remount_and_a_kill);
	RUN(torn_journal_tail_is_cut);
	RUN(journal_compaction);
	RUN(retention_shrinks_windows);
	RUN(a_key_reads_only_its_records);
	RUN(appends_race_with_truncations);
	return tap_done();
}
