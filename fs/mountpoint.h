/*
 * mountpoint.h - the mount point before mounting.
 *
 * A kinesisfs killed (kill -9, the OOM killer, a container runtime's
 * SIGKILL) leaves its mount behind: every access to it is ENOTCONN until
 * it is unmounted, and a new mount there fails.  The next start clears it
 * itself (docs/mounting.md, "After a crash").
 */
#ifndef KFS_MOUNTPOINT_H
#define KFS_MOUNTPOINT_H

#include <stdio.h>

/* When mp is a dead fuse.kinesisfs mount (ENOTCONN), unmounts it lazily
 * (umount2 MNT_DETACH, else fusermount3 -u -z), logging one line.  0
 * when mp can be mounted on now (nothing was there, or it is cleared);
 * -ENOTCONN for a dead mount of another filesystem, which is left alone;
 * -errno when the unmount failed (logged). */
int kfs_mountpoint_clear_dead(const char *mp);

/* The mount ID (/proc/self/mountinfo) of the fuse.kinesisfs mount on top
 * of the absolute path `path`, or -1. */
long kfs_mountpoint_id(const char *path);

/* 1 when the mount `id` is still in the table `mountinfo` (an open
 * /proc/self/mountinfo, read again from its start; reading it to the end
 * clears the POLLPRI that a change of the table raises). */
int kfs_mount_id_present(FILE *mountinfo, long id);

#endif
