/* mountpoint.c - a mount point left by a kinesisfs that was killed; see
 * mountpoint.h. */
#include "fs/mountpoint.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"

/* Undoes /proc/self/mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' &&
		    r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Scans mountinfo for the topmost mount at `path`: its mount ID, and in
 * *is_kfs whether it is a fuse.kinesisfs one.  -1 when nothing is
 * mounted there (or mountinfo cannot be read). */
static long topmost_at(const char *path, int *is_kfs)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	long id = -1;

	*is_kfs = 0;
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *field, *mp = NULL, *sep;
		long this_id = -1;
		int i = 0;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		for (field = strtok_r(line, " ", &save); field;
		     field = strtok_r(NULL, " ", &save)) {
			if (++i == 1)
				this_id = strtol(field, NULL, 10);
			else if (i == 5)
				mp = field;
		}
		if (!mp)
			continue;
		unescape(mp);
		if (strcmp(mp, path) == 0) {   /* the last one is on top */
			id = this_id;
			*is_kfs = strncmp(sep + 3, "fuse.kinesisfs ", 15) == 0;
		}
	}
	free(line);
	fclose(f);
	return id;
}

/* 1 when the topmost mount at `path` is a fuse.kinesisfs one. */
static int kinesisfs_at(const char *path)
{
	int is_kfs;

	return topmost_at(path, &is_kfs) >= 0 && is_kfs;
}

long kfs_mountpoint_id(const char *path)
{
	int is_kfs;
	long id = topmost_at(path, &is_kfs);

	return id >= 0 && is_kfs ? id : -1;
}

int kfs_mount_id_present(FILE *mountinfo, long id)
{
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	rewind(mountinfo);
	while (getline(&line, &cap, mountinfo) > 0)
		if (!found && strtol(line, NULL, 10) == id)
			found = 1;   /* read on: the whole table clears the event */
	free(line);
	return found;
}

/* fusermount3 -u -z PATH, for a user who may not umount(2). */
static int fusermount_lazy(const char *path)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", path, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

int kfs_mountpoint_clear_dead(const char *mp)
{
	char path[PATH_MAX], cwd[PATH_MAX];
	struct stat st;
	int err;

	if (stat(mp, &st) == 0 || errno != ENOTCONN)
		return 0;
	if (mp[0] == '/')
		snprintf(path, sizeof(path), "%s", mp);
	else if (getcwd(cwd, sizeof(cwd)) &&
		 (size_t)snprintf(path, sizeof(path), "%s/%s", cwd, mp) < sizeof(path))
		;
	else
		return -ENAMETOOLONG;
	if (!kinesisfs_at(path)) {
		kfs_err("%s: transport endpoint is not connected, and not by a "
			"kinesisfs mount: unmount it first (fusermount3 -u %s)",
			path, path);
		return -ENOTCONN;
	}
	kfs_warn("%s: a kinesisfs that ended without unmounting (killed) left "
		 "its mount there: unmounting it", path);
	if (umount2(path, MNT_DETACH) == 0)
		return 0;
	err = fusermount_lazy(path);
	if (err)
		kfs_err("%s: cannot unmount the dead mount (run fusermount3 -u "
			"-z %s, or umount -l as root)", path, path);
	return err;
}
