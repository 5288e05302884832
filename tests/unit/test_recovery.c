/* test_recovery.c - a shard log recovers from torn, corrupt and
 * mismatched files to its last valid record, and appends go on. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/local/crc32c.h"
#include "backend/local/ids.h"
#include "backend/local/local.h"
#include "backend/local/seglog.h"
#include "lib/log.h"
#include "tap.h"

#define KEY "k"
#define REC_BYTES 33         /* frame 8 + body header 18 + "k" + "rec-NN" */
#define LOG_HDR 16
#define IDX_HDR 64
#define IDX_ENTRY 40
#define SEG0 "0000000000000000"
#define MIN_REC 26           /* frame 8 + body header 18: empty key and data */
#define RESERVE_BLOCK KFS_SEGLOG_RESERVE_BLOCK
#define IDX_RESERVED 52      /* the reservation in the .idx header: u64, crc */
#define T0 0                 /* the clock is not faked here */
#include "scratch.h"

static char *new_log_dir(void)
{
	char *d = strdup("/tmp/kfs-recovery-XXXXXX");
	int fd;

	REQUIRE(d && mkdtemp(d));
	fd = open(d, O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0);
	REQUIRE(kfs_seglog_create(fd, 0, 1) == 0);
	close(fd);
	return d;
}

/* A clean close: synced, the reserved counters given back. */
static void close_clean(struct kfs_seglog *log)
{
	REQUIRE(kfs_seglog_unreserve(log) == 0);
	kfs_seglog_close(log);
}

static struct kfs_seglog *open_log(const char *dir, uint64_t seg_bytes)
{
	struct kfs_seglog *log = NULL;
	int rc = kfs_seglog_open(dir, seg_bytes, 1, &log);

	if (rc != 0)
		printf("# kfs_seglog_open: %s\n", strerror(-rc));
	REQUIRE(rc == 0);
	return log;
}

/* Appends records "rec-<from>" .. "rec-<to-1>", one append each. */
static void append_range(struct kfs_seglog *log, int from, int to)
{
	for (int i = from; i < to; i++) {
		char v[16];
		struct kfs_seglog_in in;
		uint64_t first;
		int64_t arrival;

		snprintf(v, sizeof(v), "rec-%02d", i % 100);
		in = (struct kfs_seglog_in){KEY, 1, v, strlen(v)};
		REQUIRE(kfs_seglog_append(log, &in, 1, 1000 + i, &first, &arrival) == 0);
		REQUIRE(first == (uint64_t)i);
	}
}

static void seq_dec(void *ctx, uint64_t counter, int64_t arrival_ms, char *seq)
{
	(void)ctx;
	(void)arrival_ms;
	snprintf(seq, KFS_SEQ_MAX, "%" PRIu64, counter);
}

/* Appends "rec-<i>" (arrival 1000 + i) and returns its counter. */
static uint64_t append_one(struct kfs_seglog *log, int i)
{
	char v[16];
	struct kfs_seglog_in in;
	uint64_t first;
	int64_t arrival;

	snprintf(v, sizeof(v), "rec-%02d", i % 100);
	in = (struct kfs_seglog_in){KEY, 1, v, strlen(v)};
	REQUIRE(kfs_seglog_append(log, &in, 1, 1000 + i, &first, &arrival) == 0);
	return first;
}

/*
 * Reads the whole log and checks record i is "rec-i" with counter i for
 * i < dense, and counter gap_to + i - dense after (appends that went on
 * past skipped counters).  Returns how many records were read, or -1
 * when one was wrong.
 */
static int read_check_gap(struct kfs_seglog *log, int dense, uint64_t gap_to)
{
	struct kfs_get_result r = {0};
	uint64_t next, c = 0;
	int rc, n;

	rc = kfs_seglog_read(log, 0, 100000, 1 << 30, seq_dec, NULL, &r, &next);
	if (rc < 0) {
		printf("#   read: %s\n", strerror(-rc));
		return -1;
	}
	n = (int)r.n;
	for (size_t i = 0; i < r.n; i++) {
		char want[16], seq[32];
		c = (int)i < dense ? i : gap_to + (i - (size_t)dense);
		snprintf(want, sizeof(want), "rec-%02zu", i % 100);
		snprintf(seq, sizeof(seq), "%" PRIu64, c);
		if (r.records[i].len != strlen(want) ||
		    memcmp(r.records[i].data, want, r.records[i].len) != 0 ||
		    strcmp(r.records[i].seq, seq) != 0 || strcmp(r.records[i].key, KEY) != 0 ||
		    r.records[i].arrival_ms != 1000 + (int64_t)i) {
			printf("#   record %zu is wrong\n", i);
			n = -1;
			break;
		}
	}
	/* After the last record: reading resumes at the tip. */
	if (n > 0 && next != c + 1 && next != kfs_seglog_next(log)) {
		printf("#   next is %" PRIu64 " after counter %" PRIu64 "\n", next, c);
		n = -1;
	}
	kfs_get_result_clear(&r);
	return n;
}

/* The same, for a log without gaps. */
static int read_check(struct kfs_seglog *log)
{
	return read_check_gap(log, INT_MAX, 0);
}

static int rec_data_is(const struct kfs_record *r, const char *s)
{
	return r->len == strlen(s) && memcmp(r->data, s, r->len) == 0;
}

/* What the engine logged (stderr) between capture_begin() and
 * capture_end(). */
static char captured[8192];
static int capture_fd = -1, capture_saved = -1;

static void capture_begin(void)
{
	char path[] = "/tmp/kfs-recovery-log-XXXXXX";

	capture_fd = mkstemp(path);
	capture_saved = dup(2);
	REQUIRE(capture_fd >= 0 && capture_saved >= 0);
	unlink(path);
	fflush(stderr);
	dup2(capture_fd, 2);
}

static void capture_end(void)
{
	ssize_t n;

	fflush(stderr);
	dup2(capture_saved, 2);
	close(capture_saved);
	n = pread(capture_fd, captured, sizeof(captured) - 1, 0);
	captured[n > 0 ? n : 0] = '\0';
	close(capture_fd);
}

static struct kfs_seglog *open_log_capture(const char *dir, uint64_t seg_bytes)
{
	struct kfs_seglog *log;

	capture_begin();
	log = open_log(dir, seg_bytes);
	capture_end();
	return log;
}

/* After recovery: appends continue at `expect_next`, and a reopen finds
 * the same records plus the new one without any more repair. */
static void check_appends_continue(const char *dir, struct kfs_seglog *log,
				   int expect_next, uint64_t seg_bytes)
{
	CHECK_EQ_INT(kfs_seglog_next(log), expect_next);
	append_range(log, expect_next, expect_next + 1);
	CHECK_EQ_INT(read_check(log), expect_next + 1);
	close_clean(log);
	log = open_log_capture(dir, seg_bytes);
	CHECK_EQ_INT(read_check(log), expect_next + 1);
	CHECK_EQ_STR(captured, "");
	kfs_seglog_close(log);
}

/*
 * After recovery from a cut: `survivors` records are left, and the next
 * append gets a counter at least min_next, past every counter the lost
 * records could have had.  Reads give the survivors, then the new record;
 * a reopen finds the same without any more repair, and does not skip
 * again.
 */
static void check_appends_skip(const char *dir, struct kfs_seglog *log,
			       int survivors, uint64_t min_next, uint64_t seg_bytes)
{
	uint64_t next = kfs_seglog_next(log), c;

	if (next < min_next)
		printf("#   next is %" PRIu64 ", counters below %" PRIu64
		       " may have been handed out\n", next, min_next);
	CHECK(next >= min_next);
	CHECK_EQ_INT(read_check(log), survivors);
	c = append_one(log, survivors);
	CHECK_EQ_INT(c, next);
	CHECK_EQ_INT(read_check_gap(log, survivors, c), survivors + 1);
	close_clean(log);
	log = open_log_capture(dir, seg_bytes);
	CHECK_EQ_INT(read_check_gap(log, survivors, c), survivors + 1);
	CHECK_EQ_STR(captured, "");
	CHECK_EQ_INT(kfs_seglog_next(log), c + 1);
	kfs_seglog_close(log);
}

/* Most records that can have started in `bytes` bytes of log. */
static uint64_t could_hold(uint64_t bytes)
{
	return (bytes + MIN_REC - 1) / MIN_REC;
}

/* A fresh log with n records, closed cleanly. */
static char *log_with(int n, uint64_t seg_bytes)
{
	char *dir = new_log_dir();
	struct kfs_seglog *log = open_log(dir, seg_bytes);

	append_range(log, 0, n);
	close_clean(log);
	return dir;
}

TEST(clean_reopen_needs_no_repair)
{
	char *dir = log_with(10, 0);
	struct kfs_seglog *log = open_log_capture(dir, 0);

	CHECK_EQ_INT(read_check(log), 10);
	CHECK_EQ_STR(captured, "");
	CHECK_EQ_INT(file_size(dir, SEG0 ".log"), LOG_HDR + 10 * REC_BYTES);
	CHECK_EQ_INT(file_size(dir, SEG0 ".idx"), IDX_HDR + 10 * IDX_ENTRY);
	check_appends_continue(dir, log, 10, 0);
	rm_rf(dir);
	free(dir);
}

TEST(truncated_tail_mid_record)
{
	char *dir = log_with(10, 0);
	struct kfs_seglog *log;

	truncate_to(dir, SEG0 ".log", LOG_HDR + 10 * REC_BYTES - 5);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 9);
	CHECK(strstr(captured, SEG0 ".log") != NULL);
	CHECK(strstr(captured, "cut at offset 313 (28 bytes removed)") != NULL);
	CHECK_EQ_INT(file_size(dir, SEG0 ".log"), LOG_HDR + 9 * REC_BYTES);
	CHECK_EQ_INT(file_size(dir, SEG0 ".idx"), IDX_HDR + 9 * IDX_ENTRY);
	/* Record 9 was handed out, and the 28 bytes could have held two. */
	CHECK(strstr(captured, "may have been handed out") != NULL);
	check_appends_skip(dir, log, 9, 9 + could_hold(28), 0);
	rm_rf(dir);
	free(dir);
}

TEST(truncated_inside_frame_header)
{
	char *dir = log_with(10, 0);
	struct kfs_seglog *log;

	truncate_to(dir, SEG0 ".log", LOG_HDR + 7 * REC_BYTES + 3);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 7);
	CHECK(strstr(captured, "(3 bytes removed)") != NULL);
	/* Records 7 to 9 are gone but for 3 bytes; their index entries
	 * show they were handed out. */
	check_appends_skip(dir, log, 7, 10, 0);
	rm_rf(dir);
	free(dir);
}

TEST(corrupt_tail_flipped_bytes)
{
	char *dir = log_with(10, 0);
	struct kfs_seglog *log;

	/* A data byte of record 7, then a length byte of record 8. */
	flip_byte(dir, SEG0 ".log", LOG_HDR + 7 * REC_BYTES + 30);
	flip_byte(dir, SEG0 ".log", LOG_HDR + 8 * REC_BYTES);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 7);
	CHECK(strstr(captured, "cut at offset 247 (99 bytes removed)") != NULL);
	CHECK_EQ_INT(file_size(dir, SEG0 ".log"), LOG_HDR + 7 * REC_BYTES);
	check_appends_skip(dir, log, 7, 7 + could_hold(99), 0);
	rm_rf(dir);
	free(dir);
}

TEST(zeros_after_the_tail)
{
	char *dir = log_with(10, 0);
	struct kfs_seglog *log;

	/* What a crash can leave: the size grew, the data never came. */
	truncate_to(dir, SEG0 ".log", LOG_HDR + 10 * REC_BYTES + 4096);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 10);
	CHECK(strstr(captured, "(4096 bytes removed)") != NULL);
	check_appends_skip(dir, log, 10, 10 + could_hold(4096), 0);
	rm_rf(dir);
	free(dir);
}

TEST(index_lagging_the_log)
{
	char *dir = log_with(10, 0);
	struct kfs_seglog *log;

	/* Three entries and part of a fourth lost. */
	truncate_to(dir, SEG0 ".idx", IDX_HDR + 6 * IDX_ENTRY + 17);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 10);
	CHECK_EQ_INT(file_size(dir, SEG0 ".idx"), IDX_HDR + 10 * IDX_ENTRY);
	CHECK_EQ_INT(file_size(dir, SEG0 ".log"), LOG_HDR + 10 * REC_BYTES);
	check_appends_continue(dir, log, 10, 0);
	rm_rf(dir);
	free(dir);
}

TEST(index_ahead_of_truncated_log)
{
	char *dir = log_with(10, 0);
	struct kfs_seglog *log;

	/* The log lost its last four records, cleanly at a boundary. */
	truncate_to(dir, SEG0 ".log", LOG_HDR + 6 * REC_BYTES);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 6);
	CHECK(strstr(captured, "index entries beyond the last valid record") != NULL);
	CHECK_EQ_INT(file_size(dir, SEG0 ".idx"), IDX_HDR + 6 * IDX_ENTRY);
	/* No byte of records 6 to 9 is left, but their entries are. */
	check_appends_skip(dir, log, 6, 10, 0);
	rm_rf(dir);
	free(dir);
}

TEST(index_missing_or_corrupt)
{
	char *dir = log_with(10, 0);
	char p[512];
	struct kfs_seglog *log;

	/* A corrupt header (its reservation has a checksum of its own and
	 * is kept), then a corrupt entry in the middle. */
	flip_byte(dir, SEG0 ".idx", 9);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 10);
	CHECK(strstr(captured, "rebuilding") != NULL);
	CHECK_EQ_INT(kfs_seglog_next(log), 10);
	kfs_seglog_close(log);
	flip_byte(dir, SEG0 ".idx", IDX_HDR + 4 * IDX_ENTRY + 2);
	flip_byte(dir, SEG0 ".idx", 41); /* and its "synced" count */
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 10);
	check_appends_continue(dir, log, 10, 0);

	/* Without the .idx, the reservation is not known: a whole block of
	 * counters is taken as handed out. */
	snprintf(p, sizeof(p), "%s/" SEG0 ".idx", dir);
	REQUIRE(unlink(p) == 0);
	log = open_log_capture(dir, 0);
	CHECK(strstr(captured, "rebuilding") != NULL);
	CHECK(strstr(captured, "no readable reservation") != NULL);
	check_appends_skip(dir, log, 11, 11 + RESERVE_BLOCK, 0);
	rm_rf(dir);
	free(dir);
}

TEST(corrupt_record_in_synced_part_is_not_served)
{
	/* 3000 records: about 99 KB, past the tail that open re-checks. */
	char *dir = log_with(3000, 0);
	struct kfs_seglog *log;
	struct kfs_get_result r = {0};
	uint64_t next = 0;

	/* Bit rot in the middle: opening does not scan it (by design), but
	 * no read hands it out. */
	flip_byte(dir, SEG0 ".log", LOG_HDR + 3 * REC_BYTES + 29);
	log = open_log_capture(dir, 0);
	CHECK_EQ_STR(captured, "");
	CHECK_EQ_INT(kfs_seglog_read(log, 0, 100, 1 << 20, seq_dec, NULL, &r, &next), 0);
	CHECK_EQ_INT(r.n, 3);
	CHECK_EQ_INT(next, 3);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(kfs_seglog_read(log, 3, 100, 1 << 20, seq_dec, NULL, &r, &next), -EIO);
	CHECK_EQ_INT(r.n, 0);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(kfs_seglog_read(log, 4, 100, 1 << 20, seq_dec, NULL, &r, &next), 0);
	CHECK_EQ_INT(r.n, 100);
	kfs_get_result_clear(&r);
	kfs_seglog_close(log);
	rm_rf(dir);
	free(dir);
}

/* A read goes through the log in passes of at most READ_CHUNK records
 * and READ_SPAN_MAX bytes (seglog.c); it reads the index entries of a
 * pass's first and last record and walks the records between. */
#define READ_CHUNK 8192
#define READ_SPAN_MAX (1024 * 1024)

/* Size of the data of record i of sized_log(): mostly short, some past
 * a pass's bytes, one far past them. */
static size_t sized_len(uint64_t i)
{
	if (i == 7000)
		return 3 * READ_SPAN_MAX + 17;
	if (i % 997 == 3)
		return READ_SPAN_MAX / 3 + i % 11;
	if (i % 5 == 0)
		return 0;
	return 40 + i % 200;
}

static unsigned char sized_byte(uint64_t i, size_t j)
{
	return (unsigned char)(i * 31 + j * 7);
}

/* n records of sized_len() bytes, keys "k<i % 7>", appended up to 300 at
 * a time, in segments of seg_bytes. */
static char *sized_log(uint64_t n, uint64_t seg_bytes)
{
	char *dir = new_log_dir();
	struct kfs_seglog *log = open_log(dir, seg_bytes);
	struct kfs_seglog_in in[300];
	char keys[300][4];
	unsigned char *data[300];

	for (uint64_t i = 0; i < n;) {
		size_t k = 0;
		uint64_t first;
		int64_t arrival;

		for (; k < 1 + i % 300 && i + k < n; k++) {
			size_t len = sized_len(i + k);

			data[k] = malloc(len + 1);
			REQUIRE(data[k]);
			for (size_t j = 0; j < len; j++)
				data[k][j] = sized_byte(i + k, j);
			snprintf(keys[k], sizeof(keys[k]), "k%d", (int)((i + k) % 7));
			in[k] = (struct kfs_seglog_in){keys[k], strlen(keys[k]), data[k], len};
		}
		REQUIRE(kfs_seglog_append(log, in, k, 1000 + i, &first, &arrival) == 0);
		REQUIRE(first == i);
		for (size_t j = 0; j < k; j++)
			free(data[j]);
		i += k;
	}
	close_clean(log);
	return dir;
}

/* Whether r is record c of sized_log(). */
static int sized_ok(const struct kfs_record *r, uint64_t c)
{
	char key[4], seq[32];

	snprintf(key, sizeof(key), "k%d", (int)(c % 7));
	snprintf(seq, sizeof(seq), "%" PRIu64, c);
	if (r->len != sized_len(c) || strcmp(r->key, key) != 0 ||
	    strcmp(r->seq, seq) != 0)
		return 0;
	for (size_t j = 0; j < r->len; j++)
		if (r->data[j] != sized_byte(c, j))
			return 0;
	return 1;
}

TEST(reads_in_passes_give_every_record_whatever_the_limits)
{
	const uint64_t n = 20000;
	char *dir = sized_log(n, 4 * 1024 * 1024);
	struct kfs_seglog *log = open_log(dir, 4 * 1024 * 1024);
	static const size_t max_records[] = {100000, 1, 3, 8191, 8193, 4999};
	static const size_t max_bytes[] = {(size_t)1 << 30, 1, 5000, READ_SPAN_MAX,
					   3 * READ_SPAN_MAX, 100000};
	int bad = 0;

	CHECK(kfs_seglog_segments(log) > 2);
	for (size_t t = 0; t < sizeof(max_records) / sizeof(max_records[0]); t++) {
		uint64_t c = t * 1237 % 5000, calls = 0;

		while (c < n && !bad) {
			struct kfs_get_result r = {0};
			uint64_t next;
			size_t bytes = 0;

			REQUIRE(kfs_seglog_read(log, c, max_records[t], max_bytes[t],
						seq_dec, NULL, &r, &next) == 0);
			calls++;
			if (r.n == 0 || r.n > max_records[t] || next != c + r.n) {
				printf("#   limits %zu/%zu at %" PRIu64 ": %zu records,"
				       " next %" PRIu64 "\n", max_records[t],
				       max_bytes[t], c, r.n, next);
				bad = 1;
			}
			for (size_t i = 0; i < r.n && !bad; i++) {
				bytes += r.records[i].len + strlen(r.records[i].key);
				if (!sized_ok(&r.records[i], c + i)) {
					printf("#   record %" PRIu64 " is wrong\n", c + i);
					bad = 1;
				}
			}
			/* Over the byte limit only with its first record. */
			if (r.n > 1 && bytes > max_bytes[t]) {
				printf("#   %zu bytes read with a limit of %zu\n", bytes,
				       max_bytes[t]);
				bad = 1;
			}
			c = next;
			kfs_get_result_clear(&r);
		}
		if (max_records[t] == 100000 && max_bytes[t] == (size_t)1 << 30)
			CHECK(calls <= 2); /* passes are not calls */
	}
	CHECK_EQ_INT(bad, 0);
	kfs_seglog_close(log);
	rm_rf(dir);
	free(dir);
}

/* Where entry i of the first segment is in its .idx. */
static off_t entry_at(uint64_t i)
{
	return IDX_HDR + (off_t)i * IDX_ENTRY;
}

TEST(a_corrupt_index_entry_at_the_end_of_a_pass_costs_no_record)
{
	char *dir = log_with(READ_CHUNK + 3000, 0);
	struct kfs_seglog *log;
	struct kfs_get_result r = {0};
	uint64_t next = 0, c = 0;

	/* The entry that would end the first pass: the pass is cut short
	 * instead, and the records (each checked by its own checksum) are
	 * all served. */
	flip_byte(dir, SEG0 ".idx", entry_at(READ_CHUNK - 1) + 3);
	log = open_log_capture(dir, 0);
	CHECK_EQ_STR(captured, "");
	while (c < READ_CHUNK + 3000) {
		REQUIRE(kfs_seglog_read(log, c, 100000, 1 << 30, seq_dec, NULL, &r,
					&next) == 0);
		REQUIRE(r.n > 0);
		c = next;
	}
	CHECK_EQ_INT(r.n, READ_CHUNK + 3000);
	for (size_t i = 0; i < r.n; i++) {
		char want[16];

		snprintf(want, sizeof(want), "rec-%02zu", i % 100);
		if (!rec_data_is(&r.records[i], want)) {
			printf("#   record %zu is wrong\n", i);
			CHECK(0);
			break;
		}
	}
	kfs_get_result_clear(&r);
	kfs_seglog_close(log);
	rm_rf(dir);
	free(dir);
}

TEST(an_index_entry_out_of_place_is_not_followed)
{
	char *dir = log_with(READ_CHUNK + 3000, 0);
	char path[512];
	unsigned char e[IDX_ENTRY];
	struct kfs_seglog *log;
	struct kfs_get_result r = {0};
	uint64_t next = 0;
	int fd;

	/* The entry that ends the first pass says its record is where the
	 * one before is, with a valid checksum: the pass stops before it,
	 * and reading it fails. */
	snprintf(path, sizeof(path), "%s/%s", dir, SEG0 ".idx");
	fd = open(path, O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(pread(fd, e, IDX_ENTRY, entry_at(READ_CHUNK - 2)) == IDX_ENTRY);
	REQUIRE(pwrite(fd, e, 8, entry_at(READ_CHUNK - 1)) == 8);
	{
		unsigned char whole[IDX_ENTRY];
		uint32_t crc;

		REQUIRE(pread(fd, whole, IDX_ENTRY, entry_at(READ_CHUNK - 1)) == IDX_ENTRY);
		crc = kfs_crc32c(0, whole, 36);
		for (int b = 0; b < 4; b++)
			whole[36 + b] = (unsigned char)(crc >> (8 * b));
		REQUIRE(pwrite(fd, whole + 36, 4, entry_at(READ_CHUNK - 1) + 36) == 4);
	}
	close(fd);
	log = open_log_capture(dir, 0);
	capture_begin();
	CHECK_EQ_INT(kfs_seglog_read(log, 0, 100000, 1 << 30, seq_dec, NULL, &r, &next), 0);
	CHECK_EQ_INT(r.n, READ_CHUNK - 1);
	CHECK_EQ_INT(next, READ_CHUNK - 1);
	kfs_get_result_clear(&r);
	CHECK_EQ_INT(kfs_seglog_read(log, next, 100000, 1 << 30, seq_dec, NULL, &r,
				     &next), -EIO);
	CHECK_EQ_INT(r.n, 0);
	capture_end();
	CHECK(strstr(captured, "out of place") != NULL);
	CHECK(strstr(captured, "fails its checksum") != NULL);
	kfs_get_result_clear(&r);
	kfs_seglog_close(log);
	rm_rf(dir);
	free(dir);
}

/* Names of the .log files of dir, sorted, as one string. */
static void list_logs(const char *dir, char *out, size_t size)
{
	char cmd[600];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "cd %s && ls | tr '\\n' ' '", dir);
	p = popen(cmd, "r");
	REQUIRE(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	pclose(p);
}

TEST(segments_torn_tail)
{
	/* 100-byte segments hold two 33-byte records after the header. */
	char *dir = log_with(9, 100);
	char names[1024];
	struct kfs_seglog *log;

	log = open_log(dir, 100);
	CHECK_EQ_INT(kfs_seglog_segments(log), 5);
	CHECK_EQ_INT(read_check(log), 9);
	kfs_seglog_close(log);
	list_logs(dir, names, sizeof(names));
	CHECK_EQ_STR(names, "0000000000000000.idx 0000000000000000.log "
			    "0000000000000002.idx 0000000000000002.log "
			    "0000000000000004.idx 0000000000000004.log "
			    "0000000000000006.idx 0000000000000006.log "
			    "0000000000000008.idx 0000000000000008.log ");
	/* The last segment's only record torn. */
	truncate_to(dir, "0000000000000008.log", LOG_HDR + 20);
	log = open_log_capture(dir, 100);
	CHECK_EQ_INT(read_check(log), 8);
	CHECK(strstr(captured, "0000000000000008.log: torn or corrupt tail cut at "
			       "offset 16 (20 bytes removed)") != NULL);
	CHECK_EQ_INT(file_size(dir, "0000000000000008.log"), LOG_HDR);
	/* Appends go on in a new segment; the emptied one stays until
	 * retention removes it. */
	check_appends_skip(dir, log, 8, 8 + could_hold(20), 100);
	list_logs(dir, names, sizeof(names));
	CHECK(strstr(names, "0000000000000008.log 0000000000000009.idx "
			    "0000000000000009.log ") != NULL);
	rm_rf(dir);
	free(dir);
}

TEST(interrupted_rotation)
{
	char *dir = log_with(9, 100);
	char names[1024], p[512];
	struct kfs_seglog *log;
	int fd;

	/* A rotation to counter 9 cut short right after creating its .log;
	 * an .idx whose .log a purge removed. */
	snprintf(p, sizeof(p), "%s/0000000000000009.log", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/000000000000000a.idx", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	log = open_log_capture(dir, 100);
	CHECK_EQ_INT(read_check(log), 9);
	CHECK(strstr(captured, "interrupted rotation") != NULL);
	list_logs(dir, names, sizeof(names));
	CHECK(strstr(names, "0000000000000009") == NULL);
	CHECK(strstr(names, "000000000000000a") == NULL);
	check_appends_continue(dir, log, 9, 100);
	rm_rf(dir);
	free(dir);
}

TEST(failed_append_leaves_no_torn_record)
{
	char *dir = log_with(5, 0);
	struct kfs_seglog *log = open_log(dir, 0);
	struct rlimit old, lim;
	struct kfs_seglog_in in[4];
	uint64_t first = 99;
	int64_t arrival;
	int rc;

	for (int i = 0; i < 4; i++)
		in[i] = (struct kfs_seglog_in){KEY, 1, "rec-xx", 6};
	/* The file may grow by 50 bytes only: the batch (132) fails half
	 * written, as on a full disk. */
	signal(SIGXFSZ, SIG_IGN);
	REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = LOG_HDR + 5 * REC_BYTES + 50;
	REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	rc = kfs_seglog_append(log, in, 4, 2000, &first, &arrival);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK(rc < 0);
	CHECK_EQ_INT(first, 99);
	CHECK_EQ_INT(file_size(dir, SEG0 ".log"), LOG_HDR + 5 * REC_BYTES);
	CHECK_EQ_INT(file_size(dir, SEG0 ".idx"), IDX_HDR + 5 * IDX_ENTRY);
	CHECK_EQ_INT(kfs_seglog_next(log), 5);
	CHECK_EQ_INT(read_check(log), 5);
	check_appends_continue(dir, log, 5, 0);
	rm_rf(dir);
	free(dir);
}

TEST(failed_open_keeps_the_evidence)
{
	char *dir = log_with(10, 0);
	struct kfs_seglog *log = NULL;
	struct rlimit old, lim;
	int rc;

	/* Record 9 torn.  The open fails while starting the segment that
	 * skips its counter (as a crash there would): the torn tail and
	 * the index entries must still be there for the next open. */
	truncate_to(dir, SEG0 ".log", LOG_HDR + 10 * REC_BYTES - 5);
	signal(SIGXFSZ, SIG_IGN);
	REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = 8;
	REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	capture_begin();
	rc = kfs_seglog_open(dir, 0, 1, &log);
	capture_end();
	REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK(rc < 0);
	CHECK(log == NULL);
	CHECK_EQ_INT(file_size(dir, SEG0 ".log"), LOG_HDR + 10 * REC_BYTES - 5);
	CHECK_EQ_INT(file_size(dir, SEG0 ".idx"), IDX_HDR + 10 * IDX_ENTRY);
	log = open_log_capture(dir, 0);
	CHECK(strstr(captured, "(28 bytes removed)") != NULL);
	check_appends_skip(dir, log, 9, 10, 0);
	rm_rf(dir);
	free(dir);
}

TEST(corrupt_last_segment_header_skips_its_counters)
{
	char *dir = log_with(9, 100);
	char names[1024];
	struct kfs_seglog *log;

	/* Record 8, alone in the last segment, was handed out. */
	flip_byte(dir, "0000000000000008.log", 0);
	log = open_log_capture(dir, 100);
	CHECK(strstr(captured, "set aside as 0000000000000008.log.bad") != NULL);
	list_logs(dir, names, sizeof(names));
	CHECK(strstr(names, "0000000000000008.log.bad") != NULL);
	CHECK(strstr(names, "0000000000000008.idx") == NULL);
	check_appends_skip(dir, log, 8, 9, 100);
	rm_rf(dir);
	free(dir);
}

/* How many of this process's open files are renamed aside (".bad") or
 * deleted. */
/* Open descriptors on files under dir that were renamed aside (.bad) or
 * deleted (a tool such as valgrind keeps its own deleted files open). */
static int fds_on_gone_files(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	REQUIRE(d != NULL);
	while ((de = readdir(d))) {
		char p[300], target[PATH_MAX];
		ssize_t k;

		snprintf(p, sizeof(p), "/proc/self/fd/%s", de->d_name);
		k = readlink(p, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		if (strncmp(target, dir, strlen(dir)) != 0)
			continue;
		if (strstr(target, ".bad") || strstr(target, " (deleted)")) {
			printf("#   fd %s is on %s\n", de->d_name, target);
			n++;
		}
	}
	closedir(d);
	return n;
}

static void write_garbage(const char *dir, const char *name, size_t n)
{
	char p[512];
	unsigned char buf[256];
	int fd;

	REQUIRE(n <= sizeof(buf));
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, buf, n) == (ssize_t)n);
	close(fd);
}

TEST(corrupt_segment_at_the_last_counter)
{
	char *dir = log_with(3, 0);
	struct kfs_seglog *log;
	struct kfs_seglog_in in = {KEY, 1, "late", 4};
	uint64_t first;
	int64_t arrival;

	/* Found by fuzz_seglog: the new tail, made at the same counter as
	 * the segment set aside, replaced its file, and was then renamed
	 * aside itself, the log writing to files that were gone. */
	write_garbage(dir, "ffffffffffffffff.log", 100);
	log = open_log_capture(dir, 0);
	CHECK(strstr(captured, "set aside as ffffffffffffffff.log.bad") != NULL);
	CHECK_EQ_INT(fds_on_gone_files(dir), 0);
	CHECK_EQ_INT(file_size(dir, "ffffffffffffffff.log.bad"), 100);
	CHECK_EQ_INT(file_size(dir, "ffffffffffffffff.log"), LOG_HDR);
	CHECK_EQ_INT(file_size(dir, "ffffffffffffffff.idx"), IDX_HDR);
	CHECK_EQ_INT(read_check(log), 3);
	/* Every counter may have been handed out: none is left. */
	CHECK_EQ_INT(kfs_seglog_append(log, &in, 1, 5000, &first, &arrival), -ENOSPC);
	close_clean(log);
	log = open_log_capture(dir, 0);
	CHECK_EQ_STR(captured, "");
	CHECK_EQ_INT(fds_on_gone_files(dir), 0);
	CHECK_EQ_INT(read_check(log), 3);
	CHECK(kfs_seglog_next(log) == UINT64_MAX);
	kfs_seglog_close(log);
	rm_rf(dir);
	free(dir);
}

TEST(segment_set_aside_still_counts_after_a_crash)
{
	char *dir = log_with(9, 100);
	char from[512], to[512];
	struct kfs_seglog *log;

	/* A crash right after the open set the last segment aside, before
	 * it made the one that skips its counters. */
	snprintf(from, sizeof(from), "%s/0000000000000008.log", dir);
	snprintf(to, sizeof(to), "%s/0000000000000008.log.bad", dir);
	REQUIRE(rename(from, to) == 0);
	snprintf(from, sizeof(from), "%s/0000000000000008.idx", dir);
	REQUIRE(unlink(from) == 0);
	log = open_log_capture(dir, 100);
	CHECK(strstr(captured, "0000000000000008 has no readable reservation") != NULL);
	check_appends_skip(dir, log, 8, 9, 100);
	rm_rf(dir);
	free(dir);
}

TEST(overlapping_segments)
{
	char *dir = log_with(6, 0), *other = strdup("/tmp/kfs-recovery-XXXXXX");
	char from[512], to[512];
	struct kfs_seglog *log;
	struct kfs_seglog_in in = {KEY, 1, "over", 4};
	struct kfs_get_result r = {0};
	struct kfs_seglog_stat st;
	uint64_t c = 0, next, pos;
	int64_t arrival;
	int fd;

	/* A segment starting at counter 3 next to one holding 0 to 5. */
	REQUIRE(other && mkdtemp(other));
	fd = open(other, O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0 && kfs_seglog_create(fd, 3, 1) == 0);
	close(fd);
	log = open_log(other, 0);
	REQUIRE(kfs_seglog_append(log, &in, 1, 5000, &c, &arrival) == 0 && c == 3);
	close_clean(log);
	for (int k = 0; k < 2; k++) {
		const char *ext = k ? "idx" : "log";
		snprintf(from, sizeof(from), "%s/0000000000000003.%s", other, ext);
		snprintf(to, sizeof(to), "%s/0000000000000003.%s", dir, ext);
		REQUIRE(rename(from, to) == 0);
	}
	rm_rf(other);
	free(other);

	for (int round = 0; round < 2; round++) {
		log = open_log_capture(dir, 0);
		if (round == 0) {
			CHECK(strstr(captured, "overlaps") != NULL);
			/* Counters 3 to 5 of the earlier segment were handed out. */
			CHECK(kfs_seglog_next(log) >= 6);
			c = append_one(log, 99);
		} else {
			CHECK_EQ_STR(captured, "");
			CHECK_EQ_INT(kfs_seglog_next(log), c + 1);
		}
		CHECK_EQ_INT(kfs_seglog_read(log, 0, 100, 1 << 20, seq_dec, NULL, &r, &next), 0);
		CHECK_EQ_INT(r.n, 5);
		if (r.n == 5) {
			CHECK(rec_data_is(&r.records[2], "rec-02"));
			CHECK(rec_data_is(&r.records[3], "over"));
			CHECK_EQ_STR(r.records[3].seq, "3");
			CHECK(rec_data_is(&r.records[4], "rec-99"));
		}
		kfs_get_result_clear(&r);
		/* Byte positions run on without a hole where the cut records
		 * were: 3 * 6 bytes, then "over", then "rec-99". */
		CHECK_EQ_INT(kfs_seglog_stat(log, 0, &st), 0);
		CHECK_EQ_INT(st.bytes[KFS_FRAMING_WRITE], 3 * 6 + 4 + 6);
		CHECK_EQ_INT(kfs_seglog_bytes_before(log, 3, KFS_FRAMING_WRITE, &pos), 0);
		CHECK_EQ_INT(pos, 18);
		CHECK_EQ_INT(kfs_seglog_bytes_before(log, c, KFS_FRAMING_WRITE, &pos), 0);
		CHECK_EQ_INT(pos, 22);
		close_clean(log);
	}
	rm_rf(dir);
	free(dir);
}

TEST(purge_and_byte_positions_after_a_skip)
{
	char *dir = log_with(9, 100);
	struct kfs_seglog *log;
	struct kfs_seglog_stat st;
	uint64_t c, trim, pos, before;
	int purged;

	truncate_to(dir, "0000000000000008.log", LOG_HDR + 20);
	log = open_log_capture(dir, 100);
	c = append_one(log, 8);
	CHECK(c >= 9);
	CHECK_EQ_INT(kfs_seglog_bytes_before(log, c, KFS_FRAMING_LINE, &before), 0);
	CHECK_EQ_INT(before, 8 * 7); /* "rec-NN" and a newline each */
	/* Every segment before the new one is past retention, the emptied
	 * one included. */
	purged = kfs_seglog_purge(log, 1008);
	CHECK_EQ_INT(purged, 5);
	CHECK_EQ_INT(kfs_seglog_segments(log), 1);
	CHECK_EQ_INT(kfs_seglog_trim_horizon(log, 1008, &trim), 0);
	CHECK_EQ_INT(trim, c);
	CHECK_EQ_INT(kfs_seglog_stat(log, 1008, &st), 0);
	CHECK_EQ_INT(st.first, c);
	CHECK_EQ_INT(st.next, c + 1);
	CHECK_EQ_INT(st.bytes[KFS_FRAMING_LINE], 7);
	close_clean(log);
	log = open_log_capture(dir, 100);
	CHECK_EQ_STR(captured, "");
	CHECK_EQ_INT(kfs_seglog_next(log), c + 1);
	CHECK_EQ_INT(kfs_seglog_bytes_before(log, c, KFS_FRAMING_LINE, &pos), 0);
	CHECK_EQ_INT(pos, before);
	CHECK_EQ_INT(kfs_seglog_bytes_before(log, c + 1, KFS_FRAMING_LINE, &pos), 0);
	CHECK_EQ_INT(pos, before + 7);
	{
		uint64_t at, start;
		CHECK_EQ_INT(kfs_seglog_find_byte(log, KFS_FRAMING_LINE, before + 3,
						  &at, &start), 0);
		CHECK_EQ_INT(at, c);
		CHECK_EQ_INT(start, before);
	}
	kfs_seglog_close(log);
	rm_rf(dir);
	free(dir);
}

/* ---- a power cut that takes unsynced records whole -------------------- */

/* The files of one segment as a power cut leaves them: as they were the
 * last time the log made them durable. */
struct durable {
	off_t log_size;                  /* bytes of the .log */
	off_t idx_size;                  /* bytes of the .idx */
	unsigned char hdr[IDX_HDR];      /* the .idx header */
};

static void durable_snap(const char *dir, const char *seg, struct durable *d)
{
	char p[512], name[64];
	int fd;

	snprintf(name, sizeof(name), "%s.log", seg);
	d->log_size = file_size(dir, name);
	snprintf(name, sizeof(name), "%s.idx", seg);
	d->idx_size = file_size(dir, name);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDONLY);
	REQUIRE(fd >= 0 && d->log_size >= LOG_HDR && d->idx_size >= IDX_HDR);
	REQUIRE(pread(fd, d->hdr, IDX_HDR, 0) == IDX_HDR);
	close(fd);
}

/* Puts the segment's files back as d says: what was written after is
 * gone, log bytes, index entries and header updates alike. */
static void durable_restore(const char *dir, const char *seg, const struct durable *d)
{
	char p[512], name[64];
	int fd;

	snprintf(name, sizeof(name), "%s.log", seg);
	truncate_to(dir, name, d->log_size);
	snprintf(name, sizeof(name), "%s.idx", seg);
	truncate_to(dir, name, d->idx_size);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY);
	REQUIRE(fd >= 0 && pwrite(fd, d->hdr, IDX_HDR, 0) == IDX_HDR);
	close(fd);
}

/* The reservation a header holds (its checksum is not checked). */
static uint64_t hdr_reserved(const unsigned char *h)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | h[IDX_RESERVED + i];
	return v;
}

static uint64_t file_reserved(const char *dir, const char *seg)
{
	struct durable d;

	durable_snap(dir, seg, &d);
	return hdr_reserved(d.hdr);
}

/*
 * Called after each append (before: the files just before it) and
 * after each sync (before: NULL) of a writer that may crash: keeps in d
 * what a power cut at that point would leave.  An append that raised
 * the reservation made the .idx durable as it was before its records,
 * the new header included; the .log is not synced for it.
 */
static void durable_track(const char *dir, const char *seg, const struct durable *before,
			  struct durable *d)
{
	struct durable now;

	durable_snap(dir, seg, &now);
	if (!before) {
		*d = now;
	} else if (hdr_reserved(now.hdr) != hdr_reserved(before->hdr)) {
		d->idx_size = before->idx_size;
		memcpy(d->hdr, now.hdr, IDX_HDR);
	}
}

static void read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		REQUIRE(r > 0);
		got += (size_t)r;
	}
}

static void child_write(int fd, const void *buf, size_t n)
{
	if (write(fd, buf, n) != (ssize_t)n)
		_exit(2);
}

/*
 * A child process opens the log in dir (of `from` records, closed
 * cleanly), appends records from..to-1 in batches of `batch`, with a
 * sync after record sync_at - 1 when sync_at > 0, and is killed
 * (SIGKILL) without closing.  *d gets what a power cut at that moment
 * leaves of SEG0 and *max_out the highest counter handed out.
 */
static void crash_appending(const char *dir, int from, int to, int batch, int sync_at,
			    struct durable *d, uint64_t *max_out)
{
	int status, p[2];
	pid_t pid;

	REQUIRE(pipe(p) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct kfs_seglog *log = NULL;
		struct kfs_seglog_in *in = calloc((size_t)batch, sizeof(*in));
		char (*v)[16] = calloc((size_t)batch, sizeof(*v));
		uint64_t max = 0;

		if (!in || !v || kfs_seglog_open(dir, 0, 1, &log) != 0)
			_exit(1);
		durable_track(dir, SEG0, NULL, d);
		for (int i = from; i < to; i += batch) {
			int k = to - i < batch ? to - i : batch;
			struct durable before;
			uint64_t first;
			int64_t arrival;

			for (int j = 0; j < k; j++) {
				snprintf(v[j], sizeof(v[j]), "rec-%02d", (i + j) % 100);
				in[j] = (struct kfs_seglog_in){KEY, 1, v[j], strlen(v[j])};
			}
			durable_snap(dir, SEG0, &before);
			if (kfs_seglog_append(log, in, (size_t)k, 1000 + i, &first, &arrival) != 0)
				_exit(3);
			durable_track(dir, SEG0, &before, d);
			max = first + (uint64_t)k - 1;
			if (sync_at > 0 && i + k == sync_at) {
				if (kfs_seglog_sync(log) != 0)
					_exit(4);
				durable_track(dir, SEG0, NULL, d);
			}
		}
		child_write(p[1], d, sizeof(*d));
		child_write(p[1], &max, sizeof(max));
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	close(p[1]);
	read_full(p[0], d, sizeof(*d));
	read_full(p[0], max_out, sizeof(*max_out));
	close(p[0]);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Reads the whole log: `n` records "rec-NN" with counters 0 .. n-1?
 * Returns how many differ (or are missing or extra). */
static int read_check_dense(struct kfs_seglog *log, uint64_t n)
{
	struct kfs_get_result r = {0};
	uint64_t next;
	int bad = 0;

	if (kfs_seglog_read(log, 0, 200000, 1 << 30, seq_dec, NULL, &r, &next) < 0)
		return 1;
	if (r.n != n) {
		printf("#   %zu records read, %" PRIu64 " expected\n", r.n, n);
		bad++;
	}
	for (size_t i = 0; i < r.n && i < n; i++) {
		char want[16], seq[32];
		snprintf(want, sizeof(want), "rec-%02zu", i % 100);
		snprintf(seq, sizeof(seq), "%zu", i);
		if (!rec_data_is(&r.records[i], want) || strcmp(r.records[i].seq, seq) != 0)
			bad++;
	}
	kfs_get_result_clear(&r);
	return bad;
}

/*
 * The requirement again, for records a power cut took whole: no byte
 * and no index entry of them left, nothing in the files shows they
 * existed.  Yet their counters were handed out, and must not be again:
 * the durable reservation covers them.
 */
TEST(power_cut_takes_unsynced_records_whole)
{
	static const struct {
		const char *how;
		int to, batch, sync_at;
	} v[] = {
		{"nothing synced since the open", 50, 1, 0},
		{"a sync, then more records", 50, 1, 25},
		{"unsynced records across a raise of the reservation",
		 10 + RESERVE_BLOCK + 1000, 500, 0},
	};

	for (size_t k = 0; k < sizeof(v) / sizeof(*v); k++) {
		char *dir = log_with(10, 0);
		struct durable d;
		struct kfs_seglog *log;
		uint64_t max, next, survivors, c;

		printf("# %s\n", v[k].how);
		crash_appending(dir, 10, v[k].to, v[k].batch, v[k].sync_at, &d, &max);
		CHECK_EQ_INT(max, v[k].to - 1);
		durable_restore(dir, SEG0, &d);
		survivors = (uint64_t)(d.log_size - LOG_HDR) / REC_BYTES;
		CHECK_EQ_INT(d.log_size, LOG_HDR + (off_t)survivors * REC_BYTES);
		CHECK(d.idx_size >= IDX_HDR + (off_t)survivors * IDX_ENTRY);
		CHECK(survivors < (uint64_t)v[k].to); /* records were lost */

		log = open_log_capture(dir, 0);
		next = kfs_seglog_next(log);
		if (next <= max)
			printf("#   next is %" PRIu64 ", counters up to %" PRIu64
			       " were handed out\n", next, max);
		CHECK(next > max);
		CHECK(strstr(captured, "may have been handed out") != NULL);
		CHECK_EQ_INT(read_check_dense(log, survivors), 0);
		c = append_one(log, 99);
		CHECK_EQ_INT(c, next);
		close_clean(log);

		/* A clean reopen goes on densely, without repair. */
		log = open_log_capture(dir, 0);
		CHECK_EQ_STR(captured, "");
		CHECK_EQ_INT(kfs_seglog_next(log), c + 1);
		kfs_seglog_close(log);
		rm_rf(dir);
		free(dir);
	}
}

TEST(rotation_carries_the_reservation)
{
	/* 100-byte segments: two records each. */
	char *dir = log_with(4, 100);
	char last[] = "0000000000000008";
	struct durable d;
	struct kfs_seglog *log;
	int status;
	pid_t pid;

	CHECK_EQ_INT(file_reserved(dir, "0000000000000002"), 4);
	/* Records 4 to 8 in three new segments; each rotation syncs the
	 * segment it leaves, and the last one is never synced. */
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		log = NULL;
		if (kfs_seglog_open(dir, 100, 1, &log) != 0)
			_exit(1);
		for (int i = 4; i < 9; i++)
			if (append_one(log, i) != (uint64_t)i)
				_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The raise went to segment 4; 6 and 8 got it when created. */
	CHECK_EQ_INT(file_reserved(dir, "0000000000000004"), 4 + RESERVE_BLOCK);
	CHECK_EQ_INT(file_reserved(dir, "0000000000000006"), 4 + RESERVE_BLOCK);
	CHECK_EQ_INT(file_reserved(dir, last), 4 + RESERVE_BLOCK);
	/* Record 8 is lost whole: segment 8 as it was created. */
	durable_snap(dir, last, &d);
	d.log_size = LOG_HDR;
	d.idx_size = IDX_HDR;
	durable_restore(dir, last, &d);
	log = open_log_capture(dir, 100);
	CHECK_EQ_INT(read_check(log), 8);
	CHECK_EQ_INT(kfs_seglog_next(log), 4 + RESERVE_BLOCK);
	kfs_seglog_close(log);
	rm_rf(dir);
	free(dir);
}

/* The "synced" count a header holds (its checksum is not checked). */
static uint64_t hdr_synced(const unsigned char *h)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | h[40 + i];
	return v;
}

static uint64_t file_synced(const char *dir, const char *seg)
{
	struct durable d;

	durable_snap(dir, seg, &d);
	return hdr_synced(d.hdr);
}

/* Rotation leaves the segment it leaves to the next sync, and a power
 * cut that takes that segment's end is repaired like any torn tail:
 * the records after it, in later segments, stay, and no counter is
 * given twice. */
TEST(rotation_leaves_the_old_segment_to_the_next_sync)
{
	/* 100-byte segments: two records each. */
	char *dir = log_with(4, 100);
	struct kfs_seglog *log = open_log(dir, 100);
	struct kfs_get_result r = {0};
	static const int want[] = {0, 1, 2, 3, 4, 6, 7, 8};
	uint64_t next;

	for (int i = 4; i < 9; i++)
		CHECK_EQ_INT(append_one(log, i), i);
	/* Segments 4 and 6 were rotated away from without a sync. */
	CHECK_EQ_INT(file_synced(dir, "0000000000000004"), 0);
	CHECK_EQ_INT(file_synced(dir, "0000000000000006"), 0);
	CHECK_EQ_INT(kfs_seglog_dirty(log), 1);
	kfs_seglog_close(log);

	/* The power cut: record 5 never reached the disk. */
	truncate_to(dir, "0000000000000004.log", LOG_HDR + REC_BYTES);
	truncate_to(dir, "0000000000000004.idx", IDX_HDR + IDX_ENTRY);
	log = open_log_capture(dir, 100);
	CHECK(kfs_seglog_next(log) > 8);
	CHECK_EQ_INT(kfs_seglog_read(log, 0, 100, 1 << 20, seq_dec, NULL, &r, &next), 0);
	CHECK_EQ_INT(r.n, sizeof(want) / sizeof(*want));
	for (size_t i = 0; i < r.n && i < sizeof(want) / sizeof(*want); i++) {
		char data[16], seq[16];

		snprintf(data, sizeof(data), "rec-%02d", want[i]);
		snprintf(seq, sizeof(seq), "%d", want[i]);
		CHECK(rec_data_is(&r.records[i], data));
		CHECK_EQ_STR(r.records[i].seq, seq);
	}
	kfs_get_result_clear(&r);

	/* A sync covers every segment left unsynced, not only the tail. */
	next = append_one(log, 99);
	for (int i = 0; i < 4; i++)
		append_one(log, 99);
	CHECK_EQ_INT(kfs_seglog_segments(log) > 4, 1);
	CHECK_EQ_INT(kfs_seglog_sync(log), 0);
	CHECK_EQ_INT(kfs_seglog_dirty(log), 0);
	{
		char seg[17];

		snprintf(seg, sizeof(seg), "%016" PRIx64, next);
		CHECK_EQ_INT(file_synced(dir, seg), 2);
		snprintf(seg, sizeof(seg), "%016" PRIx64, next + 2);
		CHECK_EQ_INT(file_synced(dir, seg), 2);
	}
	close_clean(log);
	rm_rf(dir);
	free(dir);
}

struct syncer {
	struct kfs_seglog *log;   /* synced over and over */
	int stop;                 /* atomic */
	int failed;               /* a sync failed */
};

static void *sync_loop(void *arg)
{
	struct syncer *sy = arg;

	while (!__atomic_load_n(&sy->stop, __ATOMIC_ACQUIRE))
		if (kfs_seglog_sync(sy->log) != 0)
			sy->failed = 1;
	return NULL;
}

/* Rotations (every other record here) while another thread syncs: the
 * segments rotated away from are handed between the two, none is lost
 * or synced after it is freed, and in the end all are synced. */
TEST(rotation_while_syncing)
{
	char *dir = new_log_dir();
	struct kfs_seglog *log = open_log(dir, 100);
	struct syncer sy = {log, 0, 0};
	pthread_t th;

	REQUIRE(pthread_create(&th, NULL, sync_loop, &sy) == 0);
	for (int i = 0; i < 400; i++)
		CHECK_EQ_INT(append_one(log, i), i);
	__atomic_store_n(&sy.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK_EQ_INT(sy.failed, 0);
	CHECK_EQ_INT(kfs_seglog_sync(log), 0);
	CHECK_EQ_INT(kfs_seglog_dirty(log), 0);
	for (int i = 0; i < 400; i += 2) {
		char seg[17];

		snprintf(seg, sizeof(seg), "%016x", i);
		CHECK_EQ_INT(file_synced(dir, seg), 2);
	}
	CHECK_EQ_INT(read_check(log), 400);
	close_clean(log);
	rm_rf(dir);
	free(dir);
}

/* Appends without the reservation syncing per call; a clean close gives
 * the rest back and a reopen goes on densely; any other close leaves a
 * gap, never a reuse. */
TEST(clean_close_gives_back_the_reservation)
{
	char *dir = new_log_dir();
	struct kfs_seglog *log = open_log(dir, 0);
	struct kfs_seglog_in in = {KEY, 1, "x", 1};
	struct durable a, b;
	uint64_t c;
	int64_t arrival;

	CHECK_EQ_INT(file_reserved(dir, SEG0), 0);
	append_range(log, 0, 10);
	durable_snap(dir, SEG0, &a);
	CHECK_EQ_INT(hdr_reserved(a.hdr), RESERVE_BLOCK);
	/* The header is not touched again until the block is used up:
	 * neither the reservation nor the "synced" count (raising syncs). */
	append_range(log, 10, 200);
	durable_snap(dir, SEG0, &b);
	CHECK(memcmp(a.hdr, b.hdr, IDX_HDR) == 0);
	CHECK_EQ_INT(kfs_seglog_dirty(log), 1);
	{
		static struct kfs_seglog_in big[RESERVE_BLOCK + 1];
		for (size_t i = 0; i < sizeof(big) / sizeof(*big); i++)
			big[i] = in;
		CHECK_EQ_INT(kfs_seglog_append(log, big, RESERVE_BLOCK + 1, 5000, &c,
					       &arrival), -EINVAL);
	}

	/* Clean: the reservation comes down to the next counter. */
	CHECK_EQ_INT(kfs_seglog_unreserve(log), 0);
	CHECK_EQ_INT(file_reserved(dir, SEG0), 200);
	CHECK_EQ_INT(kfs_seglog_dirty(log), 0);
	CHECK_EQ_INT(kfs_seglog_unreserve(log), 0);
	kfs_seglog_close(log);
	log = open_log_capture(dir, 0);
	CHECK_EQ_STR(captured, "");
	CHECK_EQ_INT(kfs_seglog_next(log), 200);
	CHECK_EQ_INT(kfs_seglog_segments(log), 1);
	CHECK_EQ_INT(read_check(log), 200);
	CHECK_EQ_INT(append_one(log, 200), 200);

	/* Closed without giving back: the reservation stands. */
	kfs_seglog_close(log);
	log = open_log_capture(dir, 0);
	CHECK(strstr(captured, "may have been handed out") != NULL);
	CHECK_EQ_INT(kfs_seglog_next(log), 200 + RESERVE_BLOCK);
	CHECK_EQ_INT(kfs_seglog_segments(log), 2);
	CHECK_EQ_INT(read_check(log), 201);
	close_clean(log);
	log = open_log_capture(dir, 0);
	CHECK_EQ_STR(captured, "");
	CHECK_EQ_INT(kfs_seglog_next(log), 200 + RESERVE_BLOCK);
	CHECK_EQ_INT(kfs_seglog_segments(log), 2);
	kfs_seglog_close(log);
	rm_rf(dir);
	free(dir);
}

/* ---- through the engine: a process that dies without closing ---------- */

static char *shard_dir(const char *data)
{
	char *p = malloc(512);
	REQUIRE(p);
	snprintf(p, 512, "%s/streams/s/shardId-000000000000", data);
	return p;
}

/* A child process opens data_dir, writes n records to stream "s" and
 * is killed (SIGKILL) without closing anything.  When seqs is not NULL
 * it gets the sequence numbers the child was handed. */
static void crash_after_writing_seqs(const char *data, int n, char (*seqs)[KFS_SEQ_MAX])
{
	int status, p[2];
	pid_t pid;

	REQUIRE(pipe(p) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct kfs_local_config cfg = {.data_dir = data, .log_format = 1};
		struct kfs_backend *be;
		if (kfs_local_open(&cfg, &be) != 0 ||
		    be->ops->create_stream(be->impl, "s", 1) != 0)
			_exit(1);
		for (int i = 0; i < n; i++) {
			char v[16];
			struct kfs_put_entry en = {.key = KEY, .data = v};
			snprintf(v, sizeof(v), "rec-%02d", i);
			en.len = strlen(v);
			if (be->ops->put_records(be->impl, "s", &en, 1) != 0 || en.err ||
			    write(p[1], en.seq, KFS_SEQ_MAX) != KFS_SEQ_MAX)
				_exit(2);
		}
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	close(p[1]);
	for (int i = 0; i < n; i++) {
		char seq[KFS_SEQ_MAX];
		size_t got = 0;
		while (got < sizeof(seq)) {
			ssize_t r = read(p[0], seq + got, sizeof(seq) - got);
			REQUIRE(r > 0);
			got += (size_t)r;
		}
		if (seqs)
			memcpy(seqs[i], seq, sizeof(seq));
	}
	close(p[0]);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void crash_after_writing(const char *data, int n)
{
	crash_after_writing_seqs(data, n, NULL);
}

static int engine_count(const char *data, int *bad)
{
	struct kfs_local_config cfg = {.data_dir = data, .log_format = 1};
	struct kfs_backend *be;
	struct kfs_iter_spec spec = {.type = KFS_ITER_TRIM_HORIZON};
	struct kfs_get_result r;
	char *it = NULL;
	int n = -1;

	*bad = 0;
	if (kfs_local_open(&cfg, &be) != 0)
		return -1;
	if (be->ops->get_iterator(be->impl, "s", "shardId-000000000000", &spec, &it) == 0 &&
	    be->ops->get_records(be->impl, it, 10000, 0, &r) == 0) {
		n = (int)r.n;
		for (size_t i = 0; i < r.n; i++) {
			char want[16];
			snprintf(want, sizeof(want), "rec-%02d", (int)i);
			if (r.records[i].len != strlen(want) ||
			    memcmp(r.records[i].data, want, r.records[i].len))
				(*bad)++;
		}
		kfs_get_result_clear(&r);
	}
	free(it);
	/* And appends go on. */
	{
		struct kfs_put_entry en = {.key = KEY, .data = "after", .len = 5};
		if (be->ops->put_records(be->impl, "s", &en, 1) != 0 || en.err)
			(*bad)++;
	}
	kfs_backend_free(be);
	return n;
}

TEST(crash_then_corrupt_unsynced_index_entry)
{
	char data[] = "/tmp/kfs-recovery-XXXXXX";
	char *sd;
	int bad;

	REQUIRE(mkdtemp(data));
	crash_after_writing(data, 50);
	sd = shard_dir(data);
	/* Entries after the last sync are checked one by one; a bad one
	 * is rebuilt from the log. */
	flip_byte(sd, SEG0 ".idx", IDX_HDR + 20 * IDX_ENTRY + 3);
	CHECK_EQ_INT(engine_count(data, &bad), 50);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(engine_count(data, &bad), 51);
	free(sd);
	rm_rf(data);
}

TEST(crash_then_corrupt_unsynced_record)
{
	char data[] = "/tmp/kfs-recovery-XXXXXX";
	char *sd;
	int bad;

	REQUIRE(mkdtemp(data));
	crash_after_writing(data, 50);
	sd = shard_dir(data);
	/* Record 30's data ("s" key: frame 8 + 18 + 1). */
	flip_byte(sd, SEG0 ".log", LOG_HDR + 30 * REC_BYTES + 28);
	CHECK_EQ_INT(engine_count(data, &bad), 30);
	CHECK_EQ_INT(bad, 0);
	/* Cut at record 30; "after" went to a new segment, past the
	 * counters of records 30 to 49. */
	CHECK_EQ_INT(file_size(sd, SEG0 ".log"), LOG_HDR + 30 * REC_BYTES);
	CHECK_EQ_INT(engine_count(data, &bad), 31);
	CHECK_EQ_INT(bad, 1); /* "after" read where "rec-30" would be */
	free(sd);
	rm_rf(data);
}

/* Puts "new-<i>" for i in [from, to) in one batch; their numbers into
 * seqs[i]. */
static void put_batch(struct kfs_backend *be, int from, int to, char (*seqs)[KFS_SEQ_MAX])
{
	struct kfs_put_entry en[8];
	char v[8][16];

	REQUIRE(to - from <= 8);
	for (int i = from; i < to; i++) {
		snprintf(v[i - from], sizeof(v[0]), "new-%02d", i);
		en[i - from] = (struct kfs_put_entry){.key = KEY, .data = v[i - from],
						      .len = strlen(v[i - from])};
	}
	REQUIRE(be->ops->put_records(be->impl, "s", en, (size_t)(to - from)) == 0);
	for (int i = from; i < to; i++) {
		CHECK_EQ_INT(en[i - from].err, 0);
		strcpy(seqs[i], en[i - from].seq);
	}
}

/* Reads shard 0 from TRIM_HORIZON: `old` records "rec-NN" numbered as
 * before[0..old), then "new-NN" numbered as after[0..n_new).  Returns
 * how many records differ from that (or are missing or extra). */
static int engine_read_check(struct kfs_backend *be, char (*before)[KFS_SEQ_MAX], int old,
			     char (*after)[KFS_SEQ_MAX], int n_new)
{
	struct kfs_iter_spec spec = {.type = KFS_ITER_TRIM_HORIZON};
	struct kfs_get_result r;
	char *it = NULL;
	int bad = 0;

	if (be->ops->get_iterator(be->impl, "s", "shardId-000000000000", &spec, &it) != 0 ||
	    be->ops->get_records(be->impl, it, 10000, 0, &r) != 0) {
		free(it);
		return old + n_new;
	}
	free(it);
	if (r.n != (size_t)(old + n_new))
		bad++;
	for (size_t i = 0; i < r.n && i < (size_t)(old + n_new); i++) {
		char want[16];
		int k = (int)i < old ? (int)i : (int)i - old;
		snprintf(want, sizeof(want), (int)i < old ? "rec-%02d" : "new-%02d", k);
		if (!rec_data_is(&r.records[i], want) ||
		    strcmp(r.records[i].seq, (int)i < old ? before[k] : after[k]) != 0) {
			printf("#   record %zu: \"%.*s\" %s\n", i, (int)r.records[i].len,
			       r.records[i].data, r.records[i].seq);
			bad++;
		}
	}
	kfs_get_result_clear(&r);
	return bad;
}

/*
 * The requirement: sequence numbers grow strictly within a shard and are
 * never reused across restarts.  A power cut can tear the log tail of
 * records whose numbers were already handed out; whatever is cut, every
 * number handed out after the reopen is above every number handed out
 * before it, and the survivors keep theirs.
 */
TEST(torn_tail_never_reuses_sequence_numbers)
{
	enum { N = 50, KEEP = 40 };
	static const char *const how[] = {
		"torn inside record 40, index whole",
		"record 40 garbled, index lagging at 38 entries",
		"zeros where records 40 to 49 were, index at 40 entries",
	};

	for (int v = 0; v < 3; v++) {
		char data[] = "/tmp/kfs-recovery-XXXXXX";
		char before[N][KFS_SEQ_MAX], after[8][KFS_SEQ_MAX], *sd;
		struct kfs_local_config cfg = {.data_dir = data, .log_format = 1};
		struct kfs_backend *be;
		int below = 0;

		printf("# %s\n", how[v]);
		REQUIRE(mkdtemp(data));
		crash_after_writing_seqs(data, N, before);
		for (int i = 1; i < N; i++)
			REQUIRE(strcmp(before[i - 1], before[i]) < 0);
		sd = shard_dir(data);
		if (v == 0)
			truncate_to(sd, SEG0 ".log", LOG_HDR + KEEP * REC_BYTES + 11);
		if (v == 1) {
			flip_byte(sd, SEG0 ".log", LOG_HDR + KEEP * REC_BYTES + 9);
			truncate_to(sd, SEG0 ".idx", IDX_HDR + 38 * IDX_ENTRY);
		}
		if (v == 2) {
			truncate_to(sd, SEG0 ".log", LOG_HDR + KEEP * REC_BYTES);
			truncate_to(sd, SEG0 ".log", LOG_HDR + N * REC_BYTES);
			truncate_to(sd, SEG0 ".idx", IDX_HDR + KEEP * IDX_ENTRY);
		}

		/* Reopen: the survivors, then new records numbered above
		 * every number handed out before the cut. */
		capture_begin();
		REQUIRE(kfs_local_open(&cfg, &be) == 0);
		capture_end();
		CHECK(strstr(captured, "bytes removed") != NULL);
		put_batch(be, 0, 3, after);
		for (int i = 0; i < 3; i++) {
			for (int j = 0; j < N; j++)
				below += strcmp(after[i], before[j]) <= 0;
			if (i > 0)
				CHECK(strcmp(after[i - 1], after[i]) < 0);
		}
		CHECK_EQ_INT(engine_read_check(be, before, KEEP, after, 3), 0);
		kfs_backend_free(be);

		/* A second reopen repairs nothing and skips nothing more. */
		capture_begin();
		REQUIRE(kfs_local_open(&cfg, &be) == 0);
		capture_end();
		CHECK_EQ_STR(captured, "");
		put_batch(be, 3, 4, after);
		for (int j = 0; j < N; j++)
			below += strcmp(after[3], before[j]) <= 0;
		CHECK(strcmp(after[2], after[3]) < 0);
		{
			struct kfs_seq a, b;
			CHECK_EQ_INT(kfs_ids_seq_decode(after[2], &a), 0);
			CHECK_EQ_INT(kfs_ids_seq_decode(after[3], &b), 0);
			CHECK(b.counter == a.counter + 1);
		}
		CHECK_EQ_INT(engine_read_check(be, before, KEEP, after, 4), 0);
		kfs_backend_free(be);
		CHECK_EQ_INT(below, 0);
		free(sd);
		rm_rf(data);
	}
}

/*
 * A child process opens data_dir, creates stream "s" (one shard) and
 * puts n records "rec-NN" one by one, with a sync of the stream after
 * the first sync_after (when > 0); then it is killed (SIGKILL).  seqs
 * gets the sequence numbers it was handed, *d what a power cut at that
 * moment leaves of the shard's segment.
 */
static void crash_putting(const char *data, int n, int sync_after,
			  char (*seqs)[KFS_SEQ_MAX], struct durable *d)
{
	int status, p[2];
	pid_t pid;

	REQUIRE(pipe(p) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct kfs_local_config cfg = {.data_dir = data, .log_format = 1};
		struct kfs_backend *be;
		char *sd = shard_dir(data);

		if (kfs_local_open(&cfg, &be) != 0 ||
		    be->ops->create_stream(be->impl, "s", 1) != 0)
			_exit(1);
		durable_track(sd, SEG0, NULL, d);
		for (int i = 0; i < n; i++) {
			char v[16];
			struct kfs_put_entry en = {.key = KEY, .data = v};
			struct durable before;

			snprintf(v, sizeof(v), "rec-%02d", i);
			en.len = strlen(v);
			durable_snap(sd, SEG0, &before);
			if (be->ops->put_records(be->impl, "s", &en, 1) != 0 || en.err)
				_exit(2);
			durable_track(sd, SEG0, &before, d);
			child_write(p[1], en.seq, KFS_SEQ_MAX);
			if (i + 1 == sync_after) {
				if (be->ops->sync(be->impl, "s") != 0)
					_exit(3);
				durable_track(sd, SEG0, NULL, d);
			}
		}
		child_write(p[1], d, sizeof(*d));
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	close(p[1]);
	for (int i = 0; i < n; i++)
		read_full(p[0], seqs[i], KFS_SEQ_MAX);
	read_full(p[0], d, sizeof(*d));
	close(p[0]);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/*
 * Through the engine: records whose sequence numbers were returned, then
 * lost whole to a power cut (nothing of them in the files).  Every number
 * returned after the reopen is above every number returned before it,
 * the survivors keep theirs, and a clean restart after that goes on
 * densely.
 */
TEST(vanished_records_never_reuse_sequence_numbers)
{
	enum { N = 50 };
	static const int sync_after[] = {0, 10};

	for (int v = 0; v < 2; v++) {
		char data[] = "/tmp/kfs-recovery-XXXXXX";
		char before[N][KFS_SEQ_MAX], after[8][KFS_SEQ_MAX], *sd;
		struct kfs_local_config cfg = {.data_dir = data, .log_format = 1};
		struct kfs_backend *be;
		struct durable d;
		int below = 0, survivors;

		printf("# %d records synced of %d\n", sync_after[v], N);
		REQUIRE(mkdtemp(data));
		crash_putting(data, N, sync_after[v], before, &d);
		for (int i = 1; i < N; i++)
			REQUIRE(strcmp(before[i - 1], before[i]) < 0);
		sd = shard_dir(data);
		durable_restore(sd, SEG0, &d);
		survivors = (int)((d.idx_size - IDX_HDR) / IDX_ENTRY);
		CHECK(survivors >= sync_after[v] && survivors < N);

		capture_begin();
		REQUIRE(kfs_local_open(&cfg, &be) == 0);
		capture_end();
		CHECK(strstr(captured, "may have been handed out") != NULL);
		put_batch(be, 0, 3, after);
		for (int i = 0; i < 3; i++) {
			for (int j = 0; j < N; j++)
				below += strcmp(after[i], before[j]) <= 0;
			if (i > 0)
				CHECK(strcmp(after[i - 1], after[i]) < 0);
		}
		CHECK_EQ_INT(engine_read_check(be, before, survivors, after, 3), 0);
		kfs_backend_free(be);

		/* A clean close: the next numbers follow on. */
		capture_begin();
		REQUIRE(kfs_local_open(&cfg, &be) == 0);
		capture_end();
		CHECK_EQ_STR(captured, "");
		put_batch(be, 3, 4, after);
		{
			struct kfs_seq a, b;
			CHECK_EQ_INT(kfs_ids_seq_decode(after[2], &a), 0);
			CHECK_EQ_INT(kfs_ids_seq_decode(after[3], &b), 0);
			CHECK(b.counter == a.counter + 1);
		}
		CHECK_EQ_INT(engine_read_check(be, before, survivors, after, 4), 0);
		kfs_backend_free(be);
		if (below)
			printf("#   %d numbers at or below one handed out before\n", below);
		CHECK_EQ_INT(below, 0);
		free(sd);
		rm_rf(data);
	}
}

int main(void)
{
	kfs_log_init(1, KFS_LOG_INFO);
	RUN(clean_reopen_needs_no_repair);
	RUN(truncated_tail_mid_record);
	RUN(truncated_inside_frame_header);
	RUN(corrupt_tail_flipped_bytes);
	RUN(zeros_after_the_tail);
	RUN(index_lagging_the_log);
	RUN(index_ahead_of_truncated_log);
	RUN(index_missing_or_corrupt);
	RUN(corrupt_record_in_synced_part_is_not_served);
	RUN(reads_in_passes_give_every_record_whatever_the_limits);
	RUN(a_corrupt_index_entry_at_the_end_of_a_pass_costs_no_record);
	RUN(an_index_entry_out_of_place_is_not_followed);
	RUN(segments_torn_tail);
	RUN(interrupted_rotation);
	RUN(failed_append_leaves_no_torn_record);
	RUN(failed_open_keeps_the_evidence);
	RUN(corrupt_last_segment_header_skips_its_counters);
	RUN(corrupt_segment_at_the_last_counter);
	RUN(segment_set_aside_still_counts_after_a_crash);
	RUN(overlapping_segments);
	RUN(purge_and_byte_positions_after_a_skip);
	RUN(power_cut_takes_unsynced_records_whole);
	RUN(rotation_carries_the_reservation);
	RUN(rotation_leaves_the_old_segment_to_the_next_sync);
	RUN(rotation_while_syncing);
	RUN(clean_close_gives_back_the_reservation);
	RUN(crash_then_corrupt_unsynced_index_entry);
	RUN(crash_then_corrupt_unsynced_record);
	RUN(torn_tail_never_reuses_sequence_numbers);
	RUN(vanished_records_never_reuse_sequence_numbers);
	return tap_done();
}
