/*
 * creds_process.c - the profile's credential_process: a command run through
 * /bin/sh -c whose standard output is a JSON document
 *
 *   {"Version": 1, "AccessKeyId": "...", "SecretAccessKey": "...",
 *    "SessionToken": "...", "Expiration": "2024-05-01T12:00:00Z"}
 *
 * (SessionToken and Expiration optional).  Its standard input is /dev/null,
 * its standard error is ours; it runs in a process group of its own, which
 * is killed when it takes longer than the timeout.  The output is never
 * logged: it is the credentials.
 */
#include "creds.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "profile.h"

#define PROCESS_TIMEOUT_MS 30000     /* the longest a command may run */
#define PROCESS_OUTPUT_MAX (64u << 10)

extern char **environ;

struct process_provider {
	struct kfs_creds_provider base;
	char *profile;          /* profile name; fixed */
	int timeout_ms;         /* fixed */
};

/* Runs cmd; 0 with its output in *out (caller frees), or -errno (logged). */
static int run(const char *profile, const char *cmd, int timeout_ms, char **out,
	       size_t *out_len)
{
	char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, def;
	int fds[2], err, status = 0, rc = 0, timed_out = 0;
	char *buf;
	size_t len = 0;
	int64_t deadline = kfs_mono_ms() + timeout_ms;
	pid_t pid;

	*out = NULL;
	buf = malloc(PROCESS_OUTPUT_MAX + 1);
	if (!buf)
		return -ENOMEM;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		rc = -errno;
		free(buf);
		return rc;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
				 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	err = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fds[1]);
	if (err) {
		close(fds[0]);
		free(buf);
		kfs_warn("AWS profile '%s': cannot run its credential_process: %s",
			 profile, strerror(err));
		return -EIO;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		int64_t left = deadline - kfs_mono_ms();
		ssize_t n;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			continue;   /* the deadline is checked above */
		n = read(fds[0], buf + len, PROCESS_OUTPUT_MAX + 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > PROCESS_OUTPUT_MAX) {
			rc = -EFBIG;
			break;
		}
	}
	close(fds[0]);
	/* Its output is complete; it still has until the deadline to exit. */
	while (!timed_out && rc == 0) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			goto reaped;
		if (w < 0 && errno != EINTR) {
			rc = -errno;
			goto reaped;
		}
		if (kfs_mono_ms() >= deadline)
			timed_out = 1;
		else
			usleep(5000);
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
reaped:
	if (timed_out) {
		kfs_warn("AWS profile '%s': its credential_process did not finish "
			 "within %d ms and was killed", profile, timeout_ms);
		rc = -EIO;
	} else if (rc == -EFBIG) {
		kfs_warn("AWS profile '%s': its credential_process wrote more than "
			 "%u bytes", profile, PROCESS_OUTPUT_MAX);
		rc = -EINVAL;
	} else if (rc < 0) {
		kfs_warn("AWS profile '%s': cannot read the output of its "
			 "credential_process: %s", profile, strerror(-rc));
		rc = -EIO;
	} else if (WIFSIGNALED(status)) {
		kfs_warn("AWS profile '%s': its credential_process was killed by "
			 "signal %d", profile, WTERMSIG(status));
		rc = -EIO;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		kfs_warn("AWS profile '%s': its credential_process exited with "
			 "status %d", profile, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		rc = -EIO;
	}
	if (rc < 0) {
		explicit_bzero(buf, PROCESS_OUTPUT_MAX + 1);
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

static int process_fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *out)
{
	struct process_provider *pp = (struct process_provider *)p;
	char *cmd = NULL, *text = NULL;
	size_t len = 0;
	cJSON *doc;
	const cJSON *v;
	int rc;

	rc = kfs_aws_profile_lookup(KFS_AWS_BOTH_FILES, pp->profile,
				    "credential_process", &cmd);
	if (rc < 0)
		return rc;
	if (!cmd || !*cmd) {
		free(cmd);
		return -ENOENT;
	}
	rc = run(pp->profile, cmd, pp->timeout_ms, &text, &len);
	free(cmd);
	if (rc < 0)
		return rc;
	doc = cJSON_ParseWithLength(text, len);
	v = cJSON_GetObjectItemCaseSensitive(doc, "Version");
	if (!cJSON_IsObject(doc) || !cJSON_IsNumber(v) || v->valuedouble != 1) {
		kfs_warn("AWS profile '%s': the output of its credential_process "
			 "is not a JSON object with \"Version\": 1", pp->profile);
		rc = -EINVAL;
	} else {
		char what[300];

		snprintf(what, sizeof(what), "the credential_process of profile '%s'",
			 pp->profile);
		rc = kfs_creds_from_json(text, len, "SessionToken", 0, what, out);
	}
	cJSON_Delete(doc);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

static void process_destroy(struct kfs_creds_provider *p)
{
	struct process_provider *pp = (struct process_provider *)p;

	free(pp->profile);
	free(pp);
}

struct kfs_creds_provider *kfs_creds_process_new_timeout(const char *profile,
							 int timeout_ms)
{
	struct process_provider *pp = calloc(1, sizeof(*pp));

	if (!pp)
		return NULL;
	pp->profile = strdup(profile);
	if (!pp->profile) {
		free(pp);
		return NULL;
	}
	pp->timeout_ms = timeout_ms > 0 ? timeout_ms : PROCESS_TIMEOUT_MS;
	pp->base.name = "process";
	pp->base.fetch = process_fetch;
	pp->base.destroy = process_destroy;
	return &pp->base;
}

struct kfs_creds_provider *kfs_creds_process_new(const char *profile)
{
	return kfs_creds_process_new_timeout(profile, 0);
}
