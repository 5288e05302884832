/* test_frames.c - segment format 2 (a frame per run of one key): reads
 * and every lookup give the answers of format 1 for the same appends,
 * frames split where they should, recovery cuts and rebuilds frames, and
 * a log goes on from format 1 segments into format 2 ones. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/kpl/agg.h"
#include "backend/local/seglog.h"
#include "lib/log.h"
#include "tap.h"

#define T0 0                 /* the clock is not faked here */
#include "scratch.h"

#define SEG0 "0000000000000000"
#define LOG_HDR 16
#define IDX_HDR 64
#define IDX_ENTRY2 56
#define BIG (1536 * 1024)    /* a record larger than a frame's split */

/* What was appended, record by record: the model the logs are read
 * against. */
struct model {
	size_t n, cap;
	char **key;
	unsigned char **data;
	size_t *len;
	int64_t *arrival;
	uint64_t *cum[KFS_FRAMING_COUNT]; /* bytes before record i; [n] the end */
};

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void model_add(struct model *m, const char *key, const void *data,
		      size_t len, int64_t arrival)
{
	if (m->n + 1 >= m->cap) {
		m->cap = m->cap ? m->cap * 2 : 1024;
		m->key = realloc(m->key, m->cap * sizeof(*m->key));
		m->data = realloc(m->data, m->cap * sizeof(*m->data));
		m->len = realloc(m->len, m->cap * sizeof(*m->len));
		m->arrival = realloc(m->arrival, m->cap * sizeof(*m->arrival));
		for (int f = 0; f < KFS_FRAMING_COUNT; f++)
			m->cum[f] = realloc(m->cum[f], (m->cap + 1) * sizeof(**m->cum));
		REQUIRE(m->key && m->data && m->len && m->arrival &&
			m->cum[0] && m->cum[1]);
	}
	if (m->n == 0)
		m->cum[0][0] = m->cum[1][0] = 0;
	m->key[m->n] = strdup(key);
	m->data[m->n] = malloc(len ? len : 1);
	REQUIRE(m->key[m->n] && m->data[m->n]);
	memcpy(m->data[m->n], data, len);
	m->len[m->n] = len;
	m->arrival[m->n] = arrival;
	for (int f = 0; f < KFS_FRAMING_COUNT; f++)
		m->cum[f][m->n + 1] = m->cum[f][m->n] +
				      kfs_framed_len((enum kfs_framing)f, data, len);
	m->n++;
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->key[i]);
		free(m->data[i]);
	}
	free(m->key);
	free(m->data);
	free(m->len);
	free(m->arrival);
	free(m->cum[0]);
	free(m->cum[1]);
	memset(m, 0, sizeof(*m));
}

/* The end of a test: the model and the log's directory go. */
static void finish(char *d, struct model *m)
{
	model_free(m);
	rm_rf(d);
	free(d);
}

static char *new_log_dir(int format)
{
	char *d = strdup("/tmp/kfs-frames-XXXXXX");
	int fd;

	REQUIRE(d && mkdtemp(d));
	fd = open(d, O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0);
	REQUIRE(kfs_seglog_create(fd, 0, format) == 0);
	close(fd);
	return d;
}

static struct kfs_seglog *open_log(const char *dir, uint64_t seg_bytes, int format)
{
	struct kfs_seglog *log = NULL;
	int rc = kfs_seglog_open(dir, seg_bytes, format, &log);

	if (rc != 0)
		printf("# kfs_seglog_open: %s\n", strerror(-rc));
	REQUIRE(rc == 0);
	return log;
}

static void close_clean(struct kfs_seglog *log)
{
	REQUIRE(kfs_seglog_unreserve(log) == 0);
	kfs_seglog_close(log);
}

static void seq_dec(void *ctx, uint64_t counter, int64_t arrival_ms, char *seq)
{
	(void)ctx;
	(void)arrival_ms;
	snprintf(seq, KFS_SEQ_MAX, "%" PRIu64, counter);
}

/* The magic of a segment file: its format, 0 when neither. */
static int file_format(const char *dir, const char *name)
{
	char p[512], magic[8];
	int fd, ver = 0;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDONLY);
	if (fd >= 0 && pread(fd, magic, 8, 0) == 8) {
		if (!memcmp(magic, "KFSLOG1\n", 8) || !memcmp(magic, "KFSIDX1\0", 8))
			ver = 1;
		else if (!memcmp(magic, "KFSLOG2\n", 8) || !memcmp(magic, "KFSIDX2\0", 8))
			ver = 2;
	}
	if (fd >= 0)
		close(fd);
	return ver;
}

/*
 * Appends `n` records to log and to m with one call: keys from `keys`
 * (runs of one key, switching with probability 1/switch_in), data of
 * 0..maxlen bytes, half of them ending with a newline, and one of BIG
 * bytes when `big`.
 */
static void append_some(struct kfs_seglog *log, struct model *m, size_t n,
			const char *const *keys, int nkeys, int switch_in,
			size_t maxlen, int big, int64_t now)
{
	struct kfs_seglog_in *in = calloc(n, sizeof(*in));
	unsigned char **bufs = calloc(n, sizeof(*bufs));
	int k = (int)(rnd() % (uint64_t)nkeys);
	uint64_t first;
	int64_t arrival;

	REQUIRE(in && bufs);
	for (size_t i = 0; i < n; i++) {
		size_t len = (size_t)(rnd() % (maxlen + 1));

		if (big && i == n / 2)
			len = BIG;
		if (switch_in && rnd() % (uint64_t)switch_in == 0)
			k = (int)(rnd() % (uint64_t)nkeys);
		bufs[i] = malloc(len ? len : 1);
		REQUIRE(bufs[i]);
		/* Random letters (a pattern of them in a big record). */
		for (size_t j = 0; j < len; j++)
			bufs[i][j] = j < 512 ? (unsigned char)('a' + (rnd() % 26))
					     : bufs[i][j % 512];
		if (len && rnd() % 2)
			bufs[i][len - 1] = '\n';
		in[i] = (struct kfs_seglog_in){keys[k], strlen(keys[k]), bufs[i], len};
	}
	REQUIRE(kfs_seglog_append(log, in, n, now, &first, &arrival) == 0);
	REQUIRE(first == m->n);
	for (size_t i = 0; i < n; i++) {
		model_add(m, (const char *)in[i].key, in[i].data, in[i].len, arrival);
		free(bufs[i]);
	}
	free(bufs);
	free(in);
}

/* Reads from `from` with the given limits until the tip, checking every
 * record against m.  Returns the records read, or -1 on a wrong one. */
static long read_check(struct kfs_seglog *log, const struct model *m,
		       uint64_t from, size_t max_records, size_t max_bytes)
{
	uint64_t c = from;
	long n = 0;

	while (c < m->n) {
		struct kfs_get_result r = {0};
		uint64_t next;
		size_t bytes = 0;

		if (kfs_seglog_read(log, c, max_records, max_bytes, seq_dec, NULL,
				    &r, &next) != 0) {
			printf("#   read at %" PRIu64 " failed\n", c);
			return -1;
		}
		/* At the tip, next may be past counters skipped after a
		 * crash. */
		if (r.n == 0 || r.n > max_records ||
		    (c + r.n < m->n ? next != c + r.n : next < c + r.n)) {
			printf("#   read at %" PRIu64 ": %zu records, next %" PRIu64 "\n",
			       c, r.n, next);
			kfs_get_result_clear(&r);
			return -1;
		}
		for (size_t i = 0; i < r.n; i++, c++) {
			const struct kfs_record *x = &r.records[i];
			char want[32];

			snprintf(want, sizeof(want), "%" PRIu64, c);
			bytes += strlen(x->key) + x->len;
			if (strcmp(x->seq, want) != 0 || strcmp(x->key, m->key[c]) != 0 ||
			    x->len != m->len[c] || memcmp(x->data, m->data[c], x->len) != 0 ||
			    x->arrival_ms != m->arrival[c]) {
				printf("#   record %" PRIu64 " differs\n", c);
				kfs_get_result_clear(&r);
				return -1;
			}
		}
		if (r.n > 1 && bytes > max_bytes) {
			printf("#   read at %" PRIu64 ": %zu bytes past %zu\n",
			       c - r.n, bytes, max_bytes);
			kfs_get_result_clear(&r);
			return -1;
		}
		n += (long)r.n;
		kfs_get_result_clear(&r);
	}
	return n;
}

/* Every lookup of log against m: positions by counter and by byte in
 * both framings, times.  Returns the number of wrong answers. */
static int lookups_check(struct kfs_seglog *log, const struct model *m, int every)
{
	uint64_t tip = kfs_seglog_next(log);
	int bad = 0;

	for (uint64_t c = 0; c <= m->n; c += (c % 97 == 0 ? 1 : (uint64_t)every)) {
		for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
			uint64_t b;
			if (kfs_seglog_bytes_before(log, c, (enum kfs_framing)f, &b) != 0 ||
			    b != m->cum[f][c]) {
				if (bad++ < 5)
					printf("#   bytes before %" PRIu64 " (%d): %" PRIu64
					       ", want %" PRIu64 "\n", c, f, b, m->cum[f][c]);
			}
		}
	}
	for (int t = 0; t < 2000; t++) {
		int f = t % 2;
		uint64_t end = m->cum[f][m->n], pos = end ? rnd() % (end + 2) : 0;
		uint64_t lo = 0, hi = m->n, counter, start;

		/* The first record whose end is past pos. */
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			if (m->cum[f][mid + 1] > pos)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (kfs_seglog_find_byte(log, (enum kfs_framing)f, pos, &counter, &start) != 0 ||
		    counter != (lo < m->n ? lo : tip) || start != (lo < m->n ? m->cum[f][lo] : end)) {
			if (bad++ < 5)
				printf("#   byte %" PRIu64 " (%d): record %" PRIu64 " at %" PRIu64
				       ", want %" PRIu64 "\n", pos, f, counter, start, lo);
		}
	}
	for (int t = 0; t < 500 && m->n; t++) {
		uint64_t from = rnd() % m->n, got, want = from;
		int64_t ts = m->arrival[rnd() % m->n] + (int64_t)(rnd() % 3) - 1;

		while (want < m->n && m->arrival[want] < ts)
			want++;
		if (want == m->n)
			want = tip;
		if (kfs_seglog_find_time(log, from, ts, &got) != 0 || got != want) {
			if (bad++ < 5)
				printf("#   time %" PRId64 " from %" PRIu64 ": %" PRIu64
				       ", want %" PRIu64 "\n", ts, from, got, want);
		}
	}
	return bad;
}

static const char *const three_keys[] = {"k", "access", "a-rather-longer-partition-key"};

/* The same appends into a format 1 and a format 2 log. */
static void fill_both(struct kfs_seglog *l1, struct kfs_seglog *l2,
		      struct model *m, int appends)
{
	struct model m2 = {0};

	for (int a = 0; a < appends; a++) {
		size_t n = 1 + (size_t)(rnd() % (a % 5 == 0 ? 3000 : 40));
		int mixed = a % 3 == 0, big = a % 11 == 5;
		int64_t now = 1000 + a / 2;
		uint64_t s = rng_state;

		append_some(l1, m, n, three_keys, 3, mixed ? 4 : 0, 300, big, now);
		rng_state = s;
		append_some(l2, &m2, n, three_keys, 3, mixed ? 4 : 0, 300, big, now);
	}
	model_free(&m2);
}

TEST(format_2_reads_and_lookups_match_format_1)
{
	char *d1 = new_log_dir(1), *d2 = new_log_dir(2);
	struct kfs_seglog *l1 = open_log(d1, 4 << 20, 1), *l2 = open_log(d2, 4 << 20, 2);
	struct model m = {0};
	static const size_t limits[][2] = {
		{1, 1 << 20}, {7, 1 << 20}, {500, 1 << 20}, {100000, 1 << 20},
		{100000, 100}, {100000, 5000}, {100000, 3 << 20},
	};

	fill_both(l1, l2, &m, 60);
	CHECK_EQ_INT(file_format(d2, SEG0 ".log"), 2);
	CHECK(kfs_seglog_segments(l2) > 1);
	CHECK(kfs_seglog_next(l1) == m.n && kfs_seglog_next(l2) == m.n);
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		/* One record a call: over the last frames only. */
		uint64_t from = limits[i][0] < 100 ? m.n - 700 + rnd() % 200 : rnd() % m.n;
		CHECK_EQ_INT(read_check(l2, &m, from, limits[i][0], limits[i][1]),
			     (long)(m.n - from));
		CHECK_EQ_INT(read_check(l1, &m, from, limits[i][0], limits[i][1]),
			     (long)(m.n - from));
	}
	CHECK_EQ_INT(lookups_check(l2, &m, 13), 0);
	CHECK_EQ_INT(lookups_check(l1, &m, 13), 0);
	/* Smaller: frames hold many records, the index one entry each. */
	CHECK(file_size(d2, SEG0 ".idx") * 5 < file_size(d1, SEG0 ".idx"));
	close_clean(l1);
	close_clean(l2);
	/* And after a clean reopen, the same. */
	l2 = open_log(d2, 4 << 20, 2);
	CHECK_EQ_INT(read_check(l2, &m, 0, 100000, 1 << 20), (long)m.n);
	CHECK_EQ_INT(lookups_check(l2, &m, 29), 0);
	close_clean(l2);
	model_free(&m);
	rm_rf(d1);
	rm_rf(d2);
	free(d1);
	free(d2);
}

TEST(a_run_of_one_key_is_one_frame_until_it_splits)
{
	char *d = new_log_dir(2);
	struct kfs_seglog *log = open_log(d, 0, 2);
	static const char *const k1[] = {"web"};
	struct model m = {0};

	/* 1,000 records of one key: one frame, one entry. */
	append_some(log, &m, 1000, k1, 1, 0, 200, 0, 5000);
	CHECK_EQ_INT(file_size(d, SEG0 ".idx"), IDX_HDR + IDX_ENTRY2);
	/* 10,000 of up to 300 bytes: past FRAME2_SPLIT (1 MiB), so more
	 * than one frame, each within it. */
	append_some(log, &m, 10000, k1, 1, 0, 300, 0, 5001);
	CHECK(file_size(d, SEG0 ".idx") >= IDX_HDR + 3 * IDX_ENTRY2);
	CHECK(file_size(d, SEG0 ".idx") <= IDX_HDR + 5 * IDX_ENTRY2);
	/* A record larger than the split gets a frame of its own. */
	append_some(log, &m, 3, k1, 1, 0, 10, 1, 5002);
	/* Three keys alternating: a frame per run. */
	append_some(log, &m, 50, three_keys, 3, 1, 30, 0, 5003);
	CHECK_EQ_INT(read_check(log, &m, 0, 100000, 4 << 20), (long)m.n);
	CHECK_EQ_INT(read_check(log, &m, 17, 3, 1 << 20), (long)(m.n - 17));
	CHECK_EQ_INT(lookups_check(log, &m, 1), 0);
	/* Empty records, and records that are only a newline. */
	{
		struct kfs_seglog_in in[4] = {
			{"e", 1, "", 0}, {"e", 1, "\n", 1}, {"e", 1, "", 0}, {"e", 1, "x", 1},
		};
		uint64_t first;
		int64_t arrival;

		REQUIRE(kfs_seglog_append(log, in, 4, 5004, &first, &arrival) == 0);
		for (int i = 0; i < 4; i++)
			model_add(&m, "e", in[i].data, in[i].len, arrival);
	}
	CHECK_EQ_INT(read_check(log, &m, 0, 100000, 4 << 20), (long)m.n);
	CHECK_EQ_INT(lookups_check(log, &m, 1), 0);
	close_clean(log);
	finish(d, &m);
}

/* A log of three appends of one key each (three frames), closed cleanly:
 * the frames' offsets in offs[0..3] (offs[3] the end). */
static char *three_frames(struct model *m, off_t offs[4])
{
	char *d = new_log_dir(2);
	struct kfs_seglog *log = open_log(d, 0, 2);
	static const char *const k1[] = {"k"};

	for (int i = 0; i < 3; i++) {
		offs[i] = file_size(d, SEG0 ".log");
		append_some(log, m, 40, k1, 1, 0, 60, 0, 7000 + i);
	}
	offs[3] = file_size(d, SEG0 ".log");
	close_clean(log);
	return d;
}

TEST(a_torn_last_frame_is_cut_whole_and_its_counters_skipped)
{
	struct model m = {0};
	off_t offs[4];
	char *d = three_frames(&m, offs);
	struct kfs_seglog *log;

	truncate_to(d, SEG0 ".log", offs[2] + (offs[3] - offs[2]) / 2);
	log = open_log(d, 0, 2);
	CHECK_EQ_INT(file_size(d, SEG0 ".log"), offs[2]);
	m.n = 80;   /* the third frame is gone */
	CHECK_EQ_INT(read_check(log, &m, 0, 100000, 1 << 20), 80);
	/* Its counters may have been handed out: never again. */
	CHECK(kfs_seglog_next(log) >= 120);
	close_clean(log);
	m.n = 120;
	finish(d, &m);
}

TEST(a_corrupt_frame_in_the_middle_fails_reads_of_it_only)
{
	struct model m = {0};
	off_t offs[4];
	char *d = three_frames(&m, offs);
	struct kfs_seglog *log;
	struct kfs_get_result r = {0};
	uint64_t next;

	/* A byte of the second frame's data: synced, with a whole frame
	 * after it, so it is damage kept in place, not a torn tail. */
	flip_byte(d, SEG0 ".log", offs[2] - 3);
	log = open_log(d, 0, 2);
	CHECK_EQ_INT(file_size(d, SEG0 ".log"), offs[3]);
	CHECK(kfs_seglog_read(log, 0, 1000, 1 << 20, seq_dec, NULL, &r, &next) == 0);
	CHECK_EQ_INT(r.n, 40);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(kfs_seglog_read(log, 40, 1000, 1 << 20, seq_dec, NULL, &r, &next), -EIO);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(kfs_seglog_read(log, 55, 1000, 1 << 20, seq_dec, NULL, &r, &next), -EIO);
	kfs_get_result_clear(&r);
	/* The records after it, from their own position; and lookups,
	 * which go by the index, still answer. */
	CHECK_EQ_INT(read_check(log, &m, 80, 100000, 1 << 20), 40);
	{
		uint64_t b;
		CHECK(kfs_seglog_bytes_before(log, 80, KFS_FRAMING_WRITE, &b) == 0 &&
		      b == m.cum[KFS_FRAMING_WRITE][80]);
	}
	kfs_seglog_close(log);
	finish(d, &m);
}

TEST(a_lost_or_lagging_index_is_rebuilt_from_the_frames)
{
	struct model m = {0};
	off_t offs[4];
	char *d = three_frames(&m, offs);
	struct kfs_seglog *log;
	char p[512];

	/* One entry of three left (and the header says all were synced):
	 * the rest are checked against the log and made again. */
	truncate_to(d, SEG0 ".idx", IDX_HDR + IDX_ENTRY2);
	log = open_log(d, 0, 2);
	CHECK_EQ_INT(read_check(log, &m, 0, 100000, 1 << 20), 120);
	CHECK_EQ_INT(lookups_check(log, &m, 1), 0);
	CHECK_EQ_INT(file_size(d, SEG0 ".idx"), IDX_HDR + 3 * IDX_ENTRY2);
	close_clean(log);
	/* No index at all. */
	snprintf(p, sizeof(p), "%s/%s", d, SEG0 ".idx");
	REQUIRE(unlink(p) == 0);
	log = open_log(d, 0, 2);
	CHECK_EQ_INT(read_check(log, &m, 0, 100000, 1 << 20), 120);
	CHECK_EQ_INT(lookups_check(log, &m, 1), 0);
	CHECK_EQ_INT(file_format(d, SEG0 ".idx"), 2);
	close_clean(log);
	/* An entry altered: it fails its checksum and is made again. */
	flip_byte(d, SEG0 ".idx", IDX_HDR + IDX_ENTRY2 + 9);
	log = open_log(d, 0, 2);
	CHECK_EQ_INT(read_check(log, &m, 0, 100000, 1 << 20), 120);
	close_clean(log);
	finish(d, &m);
}

/* An aggregated record of user records "x", "yy\n" and "" (5 bytes
 * rendered line-framed: "x\n", "yy\n", "\n"; 3 raw), malloc'd. */
static unsigned char *agg_xyy(size_t *len)
{
	struct kfs_agg_builder *b = kfs_agg_builder_new();
	unsigned char *out = NULL;

	REQUIRE(b);
	REQUIRE(kfs_agg_builder_add(b, "k1", NULL, "x", 1) == 0);
	REQUIRE(kfs_agg_builder_add(b, "k2", "12345", "yy\n", 3) == 0);
	REQUIRE(kfs_agg_builder_add(b, "k1", NULL, "", 0) == 0);
	REQUIRE(kfs_agg_builder_pack(b, &out, len) == 0);
	kfs_agg_builder_free(b);
	return out;
}

/* Sizes, byte lookups and bytes before, as a log holding "a\n", the
 * aggregated record, "b", a run "c\n" "d\n" of one key renders: line
 * 2 + 6 + 2 + 4, write 2 + 4 + 1 + 4. */
static void agg_sizes_check(struct kfs_seglog *log, uint64_t first)
{
	static const struct { uint64_t pos, counter, start; } line[] = {
		{0, 0, 0}, {2, 1, 2}, {7, 1, 2}, {8, 2, 8}, {10, 3, 10}, {12, 4, 12},
	};
	struct kfs_seglog_stat st;
	uint64_t c, at, b;

	REQUIRE(kfs_seglog_stat(log, 0, &st) == 0);
	CHECK_EQ_INT(st.bytes[KFS_FRAMING_LINE], 14);
	CHECK_EQ_INT(st.bytes[KFS_FRAMING_WRITE], 11);
	for (size_t i = 0; i < sizeof(line) / sizeof(line[0]); i++) {
		REQUIRE(kfs_seglog_find_byte(log, KFS_FRAMING_LINE,
					     line[i].pos, &c, &at) == 0);
		CHECK_EQ_INT(c, first + line[i].counter);
		CHECK_EQ_INT(at, line[i].start);
	}
	REQUIRE(kfs_seglog_find_byte(log, KFS_FRAMING_WRITE, 5, &c, &at) == 0);
	CHECK_EQ_INT(c, first + 1);
	CHECK_EQ_INT(at, 2);
	REQUIRE(kfs_seglog_bytes_before(log, first + 2, KFS_FRAMING_LINE, &b) == 0);
	CHECK_EQ_INT(b, 8);
	REQUIRE(kfs_seglog_bytes_before(log, first + 3, KFS_FRAMING_WRITE, &b) == 0);
	CHECK_EQ_INT(b, 7);
}

TEST(an_aggregated_record_is_sized_by_its_user_records)
{
	for (int format = 1; format <= 2; format++) {
		char *d = new_log_dir(format);
		struct kfs_seglog *log = open_log(d, 0, format);
		size_t alen;
		unsigned char *agg = agg_xyy(&alen);
		struct kfs_seglog_in in[] = {
			{"k", 1, "a\n", 2, NULL}, {"k1", 2, agg, alen, NULL},
			{"k", 1, "b", 1, NULL}, {"k", 1, "c\n", 2, NULL},
			{"k", 1, "d\n", 2, NULL},
		};
		struct kfs_get_result res = {0};
		uint64_t first, next;
		int64_t arrival;
		char p[512];

		printf("# format %d\n", format);
		REQUIRE(kfs_seglog_append(log, in, 5, 1000, &first, &arrival) == 0);
		agg_sizes_check(log, first);
		/* Stored as given: the read gives the aggregated record whole. */
		REQUIRE(kfs_seglog_read(log, first, 10, 1 << 20, seq_dec, NULL,
					&res, &next) == 0);
		REQUIRE(res.n == 5);
		CHECK(res.records[1].len == alen &&
		      memcmp(res.records[1].data, agg, alen) == 0);
		kfs_get_result_clear(&res);
		close_clean(log);
		/* Rebuilt from the log, the index counts the same. */
		snprintf(p, sizeof(p), "%s/%s", d, SEG0 ".idx");
		REQUIRE(unlink(p) == 0);
		log = open_log(d, 0, format);
		agg_sizes_check(log, first);
		close_clean(log);
		free(agg);
		rm_rf(d);
		free(d);
	}
}

TEST(a_format_1_log_goes_on_in_format_2_segments)
{
	char *d = new_log_dir(1);
	struct kfs_seglog *log = open_log(d, 64 << 10, 1);
	static const char *const k1[] = {"k"};
	struct model m = {0};
	char name[64];

	append_some(log, &m, 300, k1, 1, 0, 100, 0, 100);
	close_clean(log);
	/* Opened for format 2: the format 1 tail takes appends until it is
	 * full, then a format 2 segment starts. */
	log = open_log(d, 64 << 10, 2);
	for (int i = 0; i < 20; i++)
		append_some(log, &m, 1 + (size_t)(rnd() % 200), three_keys, 3, 7, 120, 0, 200 + i);
	CHECK(kfs_seglog_segments(log) >= 3);
	CHECK_EQ_INT(file_format(d, SEG0 ".log"), 1);
	CHECK_EQ_INT(read_check(log, &m, 0, 100000, 1 << 20), (long)m.n);
	CHECK_EQ_INT(read_check(log, &m, 250, 9, 700), (long)(m.n - 250));
	CHECK_EQ_INT(lookups_check(log, &m, 3), 0);
	close_clean(log);
	/* The newest segment is in format 2; all reads the same after a
	 * reopen, in either format. */
	close_clean(open_log(d, 64 << 10, 1));
	log = open_log(d, 64 << 10, 2);
	CHECK_EQ_INT(read_check(log, &m, 0, 100000, 1 << 20), (long)m.n);
	CHECK_EQ_INT(lookups_check(log, &m, 3), 0);
	close_clean(log);
	{
		/* The segments started after the first: format 2. */
		int v2 = 0;
		for (uint64_t c = 0; c < m.n; c++) {
			snprintf(name, sizeof(name), "%016" PRIx64 ".log", c);
			if (file_format(d, name) == 2)
				v2++;
		}
		CHECK(v2 >= 1);
	}
	finish(d, &m);
}

int main(void)
{
	kfs_log_init(1, KFS_LOG_INFO);
	RUN(format_2_reads_and_lookups_match_format_1);
	RUN(a_run_of_one_key_is_one_frame_until_it_splits);
	RUN(a_torn_last_frame_is_cut_whole_and_its_counters_skipped);
	RUN(a_corrupt_frame_in_the_middle_fails_reads_of_it_only);
	RUN(a_lost_or_lagging_index_is_rebuilt_from_the_frames);
	RUN(a_format_1_log_goes_on_in_format_2_segments);
	RUN(an_aggregated_record_is_sized_by_its_user_records);
	return tap_done();
}
