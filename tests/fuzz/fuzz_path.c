/*
 * fuzz_path.c - libFuzzer harness for the names of the mount: paths and
 * view names (fs/path.h: kfs_path_parse on "/" + input), positions
 * (kfs_position_parse on the input) and times (lib/util.h:
 * kfs_parse_timestamp, kfs_parse_iso8601).  The input is taken as a
 * NUL-terminated string (a NUL inside ends it, as in a path).
 *
 * Checked beyond "no crash": the results are what path.h says.  Errors are
 * only -ENOENT and -EINVAL; every name field is terminated inside its
 * buffer; a view's position has a known type, a sequence number of 1 to
 * 128 digits for the two sequence types and a time >= 0 for AT_TIMESTAMP;
 * and an ISO 8601 time between 1970 and 9999 that parses comes back to
 * the same instant once formatted (kfs_format_iso8601) and parsed again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/path.h"
#include "lib/util.h"

/* 10000-01-01T00:00:00Z: four-digit years end there. */
#define YEAR_10000_MS INT64_C(253402300800000)

static void die(const char *what)
{
	fprintf(stderr, "fuzz_path: %s\n", what);
	abort();
}

#define TERMINATED(buf) (memchr((buf), '\0', sizeof(buf)) != NULL)

static void check_position(const struct kfs_position *pos)
{
	size_t n;

	if ((unsigned)pos->type > KFS_ITER_AT_TIMESTAMP)
		die("a position type out of range");
	if (strcmp(kfs_iter_type_name(pos->type), "?") == 0)
		die("a position type without a name");
	if (!TERMINATED(pos->seq))
		die("an unterminated sequence number");
	if (pos->json != 0 && pos->json != 1)
		die("json neither 0 nor 1");
	switch (pos->type) {
	case KFS_ITER_AT_SEQUENCE_NUMBER:
	case KFS_ITER_AFTER_SEQUENCE_NUMBER:
		n = strlen(pos->seq);
		if (n < 1 || n > KFS_POS_SEQ_MAX ||
		    strspn(pos->seq, "0123456789") != n)
			die("a sequence number that is not 1 to 128 digits");
		break;
	case KFS_ITER_AT_TIMESTAMP:
		if (pos->timestamp_ms < 0)
			die("a view at a negative time");
		break;
	default:
		break;
	}
}

static void path(const char *s, size_t n)
{
	char *p = malloc(n + 2);
	struct kfs_path out;
	int rc;

	if (!p)
		return;
	p[0] = '/';
	memcpy(p + 1, s, n + 1);
	rc = kfs_path_parse(p, &out);
	if (rc != 0 && rc != -ENOENT && rc != -EINVAL)
		die("kfs_path_parse: an unexpected error");
	if ((unsigned)out.kind > KFS_NODE_METRICS)
		die("kfs_path_parse: a kind out of range");
	if (!TERMINATED(out.stream) || !TERMINATED(out.name) || !TERMINATED(out.full))
		die("kfs_path_parse: an unterminated field");
	if (rc == 0) {
		if (out.kind != KFS_NODE_ROOT && !out.stream[0])
			die("kfs_path_parse: no stream name");
		if (out.valid_stream && !kfs_valid_stream_name(out.stream))
			die("kfs_path_parse: valid_stream for an invalid name");
		if (out.view && out.kind != KFS_NODE_SHARD && out.kind != KFS_NODE_KEY)
			die("kfs_path_parse: a view of neither a shard nor a key");
		if (out.kind == KFS_NODE_SHARD && !kfs_is_shard_id(out.name))
			die("kfs_path_parse: a shard that is no shard id");
		if (out.view || out.kind == KFS_NODE_SVIEW)
			check_position(&out.pos);
	}
	free(p);
}

static void position(const char *s)
{
	struct kfs_position pos;
	int rc = kfs_position_parse(s, &pos);

	if (rc != 0 && rc != -ENOENT && rc != -EINVAL)
		die("kfs_position_parse: an unexpected error");
	if (rc == 0)
		check_position(&pos);
}

static void times(const char *s)
{
	char buf[64];
	int64_t ms, again;

	kfs_parse_timestamp(s, &ms);
	for (int need_zone = 0; need_zone < 2; need_zone++) {
		if (kfs_parse_iso8601(s, need_zone, &ms) < 0 || ms < 0 ||
		    ms >= YEAR_10000_MS)
			continue;
		kfs_format_iso8601(ms, buf, sizeof(buf));
		if (kfs_parse_iso8601(buf, 1, &again) < 0 || again != ms) {
			fprintf(stderr, "fuzz_path: %s -> %lld -> %s\n", s,
				(long long)ms, buf);
			die("an ISO 8601 time does not survive format and parse");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	size_t n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);
	path(s, n);
	position(s);
	times(s);
	kfs_valid_stream_name(s);
	kfs_is_shard_id(s);
	free(s);
	return 0;
}
