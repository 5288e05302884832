/*
 * log.h - one logging macro family for the whole daemon.
 *
 * Messages go to syslog, or to stderr when running in the foreground (-f).
 * Never log a secret, a signature, a token or a whole credential file.
 */
#ifndef KFS_LOG_H
#define KFS_LOG_H

#include <syslog.h>

enum kfs_log_level {
	KFS_LOG_ERR = LOG_ERR,
	KFS_LOG_WARN = LOG_WARNING,
	KFS_LOG_INFO = LOG_INFO,
	KFS_LOG_DEBUG = LOG_DEBUG,
};

/* Sets where messages go and the most verbose level written. */
void kfs_log_init(int to_stderr, enum kfs_log_level max_level);
/* Switches from stderr to syslog (after daemonizing). */
void kfs_log_to_syslog(void);
int kfs_log_enabled(enum kfs_log_level level);

void kfs_log(enum kfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define kfs_err(...) kfs_log(KFS_LOG_ERR, __VA_ARGS__)
#define kfs_warn(...) kfs_log(KFS_LOG_WARN, __VA_ARGS__)
#define kfs_info(...) kfs_log(KFS_LOG_INFO, __VA_ARGS__)
#define kfs_debug(...)                                   \
	do {                                             \
		if (kfs_log_enabled(KFS_LOG_DEBUG))      \
			kfs_log(KFS_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
