/* util.c - see util.h. */
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t kfs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kfs_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kfs_deadline(struct timespec *ts, int64_t ms_from_now)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms_from_now / 1000;
	ts->tv_nsec += (ms_from_now % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int kfs_valid_stream_name(const char *name)
{
	size_t n = 0;

	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	if (n < 1 || n > 128)
		return 0;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int kfs_valid_partition_key(const char *key)
{
	size_t n = strlen(key);
	return n >= 1 && n <= 256;
}

int kfs_is_shard_id(const char *name)
{
	if (strncmp(name, "shardId-", 8) != 0 || strlen(name) != 20)
		return 0;
	for (int i = 8; i < 20; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return 1;
}

void kfs_format_iso8601(int64_t ms, char *buf, size_t size)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char base[32];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000));
}
