/* test_recovery.c - a shard log recovers from torn, corrupt and
 * mismatched files to its last valid record, and appends go on. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
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

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *new_log_dir(void)
{
	char *d = strdup("/tmp/kfs-recovery-XXXXXX");
	int fd;

	REQUIRE(d && mkdtemp(d));
	fd = open(d, O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0);
	REQUIRE(kfs_seglog_create(fd, 0) == 0);
	close(fd);
	return d;
}

static struct kfs_seglog *open_log(const char *dir, uint64_t seg_bytes)
{
	struct kfs_seglog *log = NULL;
	int rc = kfs_seglog_open(dir, seg_bytes, &log);

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

/*
 * Reads the whole log and checks record i is "rec-i" with counter i.
 * Returns how many records were read, or -1 when one was wrong.
 */
static int read_check(struct kfs_seglog *log)
{
	struct kfs_get_result r = {0};
	uint64_t next;
	int rc, n;

	rc = kfs_seglog_read(log, 0, 100000, 1 << 30, seq_dec, NULL, &r, &next);
	if (rc < 0) {
		printf("#   read: %s\n", strerror(-rc));
		return -1;
	}
	n = (int)r.n;
	for (size_t i = 0; i < r.n; i++) {
		char want[16], seq[32];
		snprintf(want, sizeof(want), "rec-%02zu", i % 100);
		snprintf(seq, sizeof(seq), "%zu", i);
		if (r.records[i].len != strlen(want) ||
		    memcmp(r.records[i].data, want, r.records[i].len) != 0 ||
		    strcmp(r.records[i].seq, seq) != 0 || strcmp(r.records[i].key, KEY) != 0 ||
		    r.records[i].arrival_ms != 1000 + (int64_t)i) {
			printf("#   record %zu is wrong\n", i);
			n = -1;
			break;
		}
	}
	if (n >= 0 && next != (uint64_t)n) {
		printf("#   next is %" PRIu64 " after %d records\n", next, n);
		n = -1;
	}
	kfs_get_result_clear(&r);
	return n;
}

static off_t file_size(const char *dir, const char *name)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &sb) == 0 ? sb.st_size : -1;
}

static void truncate_to(const char *dir, const char *name, off_t size)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	REQUIRE(truncate(p, size) == 0);
}

static void flip_byte(const char *dir, const char *name, off_t off)
{
	char p[512];
	unsigned char c;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(pread(fd, &c, 1, off) == 1);
	c ^= 0x5a;
	REQUIRE(pwrite(fd, &c, 1, off) == 1);
	close(fd);
}

/* Captures what the engine logs (stderr) while `log` is opened. */
static char captured[8192];

static struct kfs_seglog *open_log_capture(const char *dir, uint64_t seg_bytes)
{
	char path[] = "/tmp/kfs-recovery-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	struct kfs_seglog *log;
	ssize_t n;

	REQUIRE(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	log = open_log(dir, seg_bytes);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, captured, sizeof(captured) - 1, 0);
	captured[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
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
	kfs_seglog_close(log);
	log = open_log_capture(dir, seg_bytes);
	CHECK_EQ_INT(read_check(log), expect_next + 1);
	CHECK_EQ_STR(captured, "");
	kfs_seglog_close(log);
}

/* A fresh log with n records, closed after a sync (a clean close). */
static char *log_with(int n, uint64_t seg_bytes)
{
	char *dir = new_log_dir();
	struct kfs_seglog *log = open_log(dir, seg_bytes);

	append_range(log, 0, n);
	REQUIRE(kfs_seglog_sync(log) == 0);
	kfs_seglog_close(log);
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
	check_appends_continue(dir, log, 9, 0);
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
	check_appends_continue(dir, log, 7, 0);
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
	check_appends_continue(dir, log, 7, 0);
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
	check_appends_continue(dir, log, 10, 0);
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
	check_appends_continue(dir, log, 6, 0);
	rm_rf(dir);
	free(dir);
}

TEST(index_missing_or_corrupt)
{
	char *dir = log_with(10, 0);
	char p[512];
	struct kfs_seglog *log;

	snprintf(p, sizeof(p), "%s/" SEG0 ".idx", dir);
	REQUIRE(unlink(p) == 0);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 10);
	CHECK(strstr(captured, "rebuilding") != NULL);
	kfs_seglog_close(log);
	/* A corrupt header, then a corrupt entry in the middle. */
	flip_byte(dir, SEG0 ".idx", 9);
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 10);
	kfs_seglog_close(log);
	flip_byte(dir, SEG0 ".idx", IDX_HDR + 4 * IDX_ENTRY + 2);
	flip_byte(dir, SEG0 ".idx", 41); /* and its "synced" count */
	log = open_log_capture(dir, 0);
	CHECK_EQ_INT(read_check(log), 10);
	check_appends_continue(dir, log, 10, 0);
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
	check_appends_continue(dir, log, 8, 100);
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

/* ---- through the engine: a process that dies without closing ---------- */

static char *shard_dir(const char *data)
{
	char *p = malloc(512);
	REQUIRE(p);
	snprintf(p, 512, "%s/streams/s/shardId-000000000000", data);
	return p;
}

/* A child process opens data_dir, writes n records to stream "s" and
 * is killed (SIGKILL) without closing anything. */
static void crash_after_writing(const char *data, int n)
{
	pid_t pid = fork();
	int status;

	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct kfs_local_config cfg = {.data_dir = data};
		struct kfs_backend *be;
		if (kfs_local_open(&cfg, &be) != 0 ||
		    be->ops->create_stream(be->impl, "s", 1) != 0)
			_exit(1);
		for (int i = 0; i < n; i++) {
			char v[16];
			struct kfs_put_entry en = {.key = KEY, .data = v};
			snprintf(v, sizeof(v), "rec-%02d", i);
			en.len = strlen(v);
			if (be->ops->put_records(be->impl, "s", &en, 1) != 0 || en.err)
				_exit(2);
		}
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static int engine_count(const char *data, int *bad)
{
	struct kfs_local_config cfg = {.data_dir = data};
	struct kfs_backend *be;
	struct kfs_iter_spec spec = {.type = KFS_ITER_TRIM_HORIZON};
	struct kfs_get_result r;
	char *it = NULL;
	int n = -1;

	*bad = 0;
	if (kfs_local_open(&cfg, &be) != 0)
		return -1;
	if (be->ops->get_iterator(be->impl, "s", "shardId-000000000000", &spec, &it) == 0 &&
	    be->ops->get_records(be->impl, it, 10000, &r) == 0) {
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
	/* Cut at record 30, then "after" (8 + 18 + 1 + 5 bytes) appended. */
	CHECK_EQ_INT(file_size(sd, SEG0 ".log"), LOG_HDR + 30 * REC_BYTES + 32);
	free(sd);
	rm_rf(data);
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
	RUN(segments_torn_tail);
	RUN(interrupted_rotation);
	RUN(failed_append_leaves_no_torn_record);
	RUN(crash_then_corrupt_unsynced_index_entry);
	RUN(crash_then_corrupt_unsynced_record);
	return tap_done();
}
