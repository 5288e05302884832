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

/* Reads exactly n digits at *p; -1 when they are not there. */
static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

/* A fraction of a second after the '.', as milliseconds (further digits
 * are dropped); -1 when there is no digit. */
static int fraction_ms(const char **p)
{
	int ms = 0, n = 0;

	while (**p >= '0' && **p <= '9') {
		if (n < 3)
			ms = ms * 10 + (**p - '0');
		n++;
		(*p)++;
	}
	if (n == 0)
		return -1;
	for (; n < 3; n++)
		ms *= 10;
	return ms;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int parse_epoch(const char *s, int64_t *ms_out)
{
	const char *p = s;
	int64_t sec = 0;
	int ms = 0;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (sec > (INT64_MAX / 1000 - 9) / 10)
			return -1;
		sec = sec * 10 + (*p++ - '0');
	}
	if (*p == '.') {
		p++;
		ms = fraction_ms(&p);
		if (ms < 0)
			return -1;
	}
	if (*p)
		return -1;
	*ms_out = sec * 1000 + ms;
	return 0;
}

int kfs_parse_timestamp(const char *s, int64_t *ms_out)
{
	if (strlen(s) < 19 || s[4] != '-')
		return parse_epoch(s, ms_out);
	return kfs_parse_iso8601(s, 0, ms_out);
}

int kfs_parse_iso8601(const char *s, int need_zone, int64_t *ms_out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, sec, ms = 0, off = 0;

	if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 0 ||
	    *p++ != '-' || (d = digits(&p, 2)) < 0 || (*p != 'T' && *p != 't') ||
	    (p++, (h = digits(&p, 2)) < 0) || *p++ != ':' ||
	    (mi = digits(&p, 2)) < 0 || *p++ != ':' || (sec = digits(&p, 2)) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (*p == '.' || *p == ',') {
		p++;
		if ((ms = fraction_ms(&p)) < 0)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om = 0;

		if ((oh = digits(&p, 2)) < 0 || oh > 23)
			return -1;
		if (*p == ':' && !p[1])
			return -1;   /* "+02:" */
		if (*p == ':')
			p++;
		if (*p && ((om = digits(&p, 2)) < 0 || om > 59))
			return -1;
		off = sign * (oh * 60 + om);
	} else if (need_zone) {
		return -1;
	}
	if (*p)
		return -1;
	*ms_out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL +
		  (sec - off * 60LL) * 1000 + ms;
	/* Leap second 60 is the next second, as the service reads it. */
	return 0;
}

size_t kfs_utf8_seq(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

int kfs_utf8_valid(const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n;) {
		size_t l;

		if (p[i] < 0x80) {   /* ASCII, most of the time */
			i++;
			continue;
		}
		l = kfs_utf8_seq(p + i, n - i);
		if (!l)
			return 0;
		i += l;
	}
	return 1;
}
