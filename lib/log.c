/* log.c - see log.h. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Set once at start-up, before threads exist; read-only afterwards except
 * for the switch to syslog, which happens before FUSE starts its threads. */
static int log_stderr = 1;
static enum kfs_log_level log_max = KFS_LOG_INFO;
/* Serializes lines on stderr so that two threads never mix one line. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void kfs_log_init(int to_stderr, enum kfs_log_level max_level)
{
	log_stderr = to_stderr;
	log_max = max_level;
	if (!to_stderr)
		openlog("kinesisfs", LOG_PID, LOG_DAEMON);
}

void kfs_log_to_syslog(void)
{
	openlog("kinesisfs", LOG_PID, LOG_DAEMON);
	log_stderr = 0;
}

int kfs_log_enabled(enum kfs_log_level level)
{
	return level <= log_max;
}

static const char *level_name(enum kfs_log_level level)
{
	switch (level) {
	case KFS_LOG_ERR: return "error";
	case KFS_LOG_WARN: return "warning";
	case KFS_LOG_INFO: return "info";
	default: return "debug";
	}
}

void kfs_log(enum kfs_log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (level > log_max) {
		errno = saved;
		return;
	}
	va_start(ap, fmt);
	if (log_stderr) {
		char buf[2048];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "kinesisfs: %s: %s\n", level_name(level), buf);
		pthread_mutex_unlock(&log_lock);
	} else {
		vsyslog(level, fmt, ap);
	}
	va_end(ap);
	errno = saved;
}
