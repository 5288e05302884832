/*
 * fuzz_seglog.c - libFuzzer harness for the local engine's on-disk format:
 * the recovery of a shard log (kfs_seglog_open) from segment and index
 * files, and every read of what it recovered.
 *
 * The input is a little archive of the files of one shard directory: up
 * to 8 chunks, each
 *
 *   tag (1 byte) | length (3 bytes, little-endian) | that many bytes
 *
 * (a length past the end of the input takes what is left).  Tag bit 0:
 * the chunk is a .idx (else a .log); bit 1: the file is named after the
 * first counter in its own header (bytes 8..15, as the engine names
 * segments; 0 when the chunk is shorter), else after tag >> 2 (0..63),
 * so that names that disagree with headers are tried too.  A later chunk
 * with the same name replaces an earlier one.  Seeds are real shard
 * directories written by the engine (docs/fuzzing.md).
 *
 * Each run: the files go into a fresh directory, the log is opened
 * (recovered), every record is read back with small and large budgets,
 * the lookups (times, byte positions, stat) are asked, one record is
 * appended, synced and given back cleanly, and the log is opened again.
 * Checked beyond "no crash, no leak, no hang":
 *  - records come back in increasing counter order, each with a key of
 *    at most KFS_KEY_MAX bytes and at most KFS_RECORD_LIMIT_MAX bytes of
 *    data (the code checks each one's CRC-32C before serving it);
 *  - a reopen after a clean close succeeds and never gives again the
 *    counter of the record appended, and a record served at that counter
 *    is the one appended.
 *
 * KFS_FUZZ_VERBOSE=1 in the environment shows the engine's log messages
 * (off by default: recovery warns on nearly every input).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/local/seglog.h"
#include "lib/log.h"

#define MAX_CHUNKS 8
/* Fixed arrival time of the appended record, so that runs replay. */
#define NOW_MS INT64_C(1700000000000)

static char root[PATH_MAX];  /* this process's scratch directory */
static char dir[PATH_MAX];   /* the shard directory of a run, inside root */

static void die(const char *what)
{
	fprintf(stderr, "fuzz_seglog: %s\n", what);
	abort();
}

/* Removes every file of dir, then dir. */
static void clean_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static void remove_root(void)
{
	clean_dir();
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	if (!getenv("KFS_FUZZ_VERBOSE"))
		kfs_log_init(1, (enum kfs_log_level)LOG_CRIT); /* nothing */
	else
		kfs_log_init(1, KFS_LOG_DEBUG);
	snprintf(root, sizeof(root), "%s/kfs-fuzz-seglog.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		die("cannot create a scratch directory (TMPDIR)");
	snprintf(dir, sizeof(dir), "%s/shard", root);
	atexit(remove_root);
	return 0;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot create an input file");
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			die("cannot write an input file");
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* Unpacks the chunks into dir. */
static void unpack(const uint8_t *data, size_t size)
{
	for (int k = 0; k < MAX_CHUNKS && size >= 4; k++) {
		unsigned tag = data[0];
		size_t len = data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16;
		uint64_t first;
		char name[32];

		data += 4;
		size -= 4;
		if (len > size)
			len = size;
		if (tag & 2)
			first = len >= 16 ? get64(data + 8) : 0;
		else
			first = tag >> 2;
		snprintf(name, sizeof(name), "%016" PRIx64 ".%s", first,
			 tag & 1 ? "idx" : "log");
		write_file(name, data, len);
		data += len;
		size -= len;
	}
}

/* The sequence number handed out for a record: its counter, in decimal
 * (the engine makes real ones from it; here it lets the checks see
 * which counter each record was served as). */
static void seq_of(void *ctx, uint64_t counter, int64_t arrival_ms, char *seq)
{
	(void)ctx;
	(void)arrival_ms;
	snprintf(seq, KFS_SEQ_MAX, "%" PRIu64, counter);
}

static uint64_t counter_of(const struct kfs_record *r)
{
	return strtoull(r->seq, NULL, 10);
}

static void check_record(const struct kfs_record *r)
{
	if (!r->key || !r->data)
		die("a record without key or data buffer");
	if (strlen(r->key) > KFS_KEY_MAX)
		die("a record with a key longer than KFS_KEY_MAX");
	if (r->len > KFS_RECORD_LIMIT_MAX)
		die("a record with more than KFS_RECORD_LIMIT_MAX bytes");
}

/* Reads every record from counter 0 on, max_records and max_bytes a call;
 * a record that fails its checksum is skipped as a reader would. */
static void read_all(struct kfs_seglog *log, size_t max_records,
		     size_t max_bytes)
{
	uint64_t c = 0, last = 0, tip = kfs_seglog_next(log);
	int have_last = 0;

	for (;;) {
		struct kfs_get_result r = { 0 };
		uint64_t next = 0;
		int rc = kfs_seglog_read(log, c, max_records, max_bytes, seq_of,
					 NULL, &r, &next);

		if (rc < 0) {
			kfs_get_result_clear(&r);
			if (rc == -ENOMEM)
				die("kfs_seglog_read: out of memory");
			if (next < c)
				die("kfs_seglog_read went back after an error");
			if (next >= tip)
				break;
			c = next + 1; /* past the bad record */
			continue;
		}
		if (r.n > max_records)
			die("kfs_seglog_read gave more records than asked");
		for (size_t i = 0; i < r.n; i++) {
			uint64_t k = counter_of(&r.records[i]);

			check_record(&r.records[i]);
			if (k < c || (have_last && k <= last))
				die("records out of counter order");
			last = k;
			have_last = 1;
		}
		if (r.n && next <= last)
			die("kfs_seglog_read: next is not past the last record");
		kfs_get_result_clear(&r);
		if (rc == 0 && r.n == 0)
			break;
		if (next <= c)
			die("kfs_seglog_read made no progress");
		c = next;
	}
}

/* Every lookup, at a few points. */
static void lookups(struct kfs_seglog *log)
{
	static const int64_t times[] = { INT64_MIN, -1, 0, NOW_MS, INT64_MAX };
	uint64_t tip = kfs_seglog_next(log), out, start;
	uint64_t counters[] = { 0, tip / 2, tip ? tip - 1 : 0, tip, UINT64_MAX };
	struct kfs_seglog_stat st;

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		kfs_seglog_find_time(log, 0, times[i], &out);
	for (int f = 0; f < KFS_FRAMING_COUNT; f++) {
		uint64_t end = 0;

		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
			kfs_seglog_bytes_before(log, counters[i],
						(enum kfs_framing)f, &out);
		if (kfs_seglog_bytes_before(log, tip, (enum kfs_framing)f, &end) == 0) {
			kfs_seglog_find_byte(log, (enum kfs_framing)f, 0, &out, &start);
			kfs_seglog_find_byte(log, (enum kfs_framing)f, end / 2, &out, &start);
			kfs_seglog_find_byte(log, (enum kfs_framing)f, end, &out, &start);
		}
		kfs_seglog_find_byte(log, (enum kfs_framing)f, UINT64_MAX, &out, &start);
	}
	/* Last: the trim horizon never moves back. */
	kfs_seglog_stat(log, 0, &st);
	kfs_seglog_stat(log, INT64_MAX, &st);
	kfs_seglog_segments(log);
}

/* Appends one record, syncs, gives the reservation back, closes, reopens:
 * the counter must not be given again, and is the record's if served. */
static void append_and_reopen(struct kfs_seglog *log)
{
	static const char key[] = "fuzz-key";
	static const char val[] = "appended by fuzz_seglog\n";
	struct kfs_seglog_in in = { key, sizeof(key) - 1, val, sizeof(val) - 1 };
	struct kfs_get_result r = { 0 };
	uint64_t first, next;
	int64_t arrival;
	int rc;

	rc = kfs_seglog_append(log, &in, 1, NOW_MS, &first, &arrival);
	if (rc < 0) {
		kfs_seglog_close(log);
		if (rc == -ENOMEM)
			die("kfs_seglog_append: out of memory");
		return;
	}
	if (kfs_seglog_sync(log) < 0 || kfs_seglog_unreserve(log) < 0) {
		kfs_seglog_close(log);
		return;
	}
	kfs_seglog_close(log);
	rc = kfs_seglog_open(dir, 1024, 0, &log);
	if (rc < 0)
		die("reopening a log closed cleanly failed");
	if (kfs_seglog_next(log) <= first)
		die("the counter of the appended record is given again after a reopen");
	if (kfs_seglog_read(log, first, 1, 1 << 20, seq_of, NULL, &r, &next) == 0 &&
	    r.n > 0 && counter_of(&r.records[0]) == first &&
	    (strcmp(r.records[0].key, key) != 0 || r.records[0].len != in.len ||
	     memcmp(r.records[0].data, val, in.len) != 0))
		die("the record served at the appended counter is not the one appended");
	kfs_get_result_clear(&r);
	read_all(log, 1000, 1 << 20);
	kfs_seglog_close(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kfs_seglog *log = NULL;
	int rc;

	clean_dir();
	if (mkdir(dir, 0700) < 0)
		die("cannot create the shard directory");
	unpack(data, size);

	/* A small segment size, so that the append may rotate. */
	rc = kfs_seglog_open(dir, 1024, 0, &log);
	if (rc == 0) {
		read_all(log, 1000, 1 << 20);
		read_all(log, 3, 100);  /* small budgets: many calls */
		lookups(log);
		append_and_reopen(log);
	} else if (rc == -ENOMEM) {
		die("kfs_seglog_open: out of memory");
	}
	clean_dir();
	return 0;
}
