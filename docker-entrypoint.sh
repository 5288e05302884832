#!/bin/sh
# docker-entrypoint.sh - the image's entry point (docs/containers.md):
# kinesisfs in the foreground, as PID 1, on $KINESISFS_MOUNT; arguments
# are kinesisfs options.
#
# Started as root (the image's default), it prepares what the user
# $KINESISFS_USER (default kinesisfs; "root" keeps root) needs, then runs
# kinesisfs as that user, which mounts through the set-uid fusermount3:
# the data_dir and the mount point are made theirs, /dev/fuse (this
# container's node) is opened to them, and the mount gets allow_other, so
# that root and other users, here or in containers sharing the mount, can
# use it.
set -eu

mp=${KINESISFS_MOUNT:-/mnt/kinesis}
data=${KINESISFS_DATA_DIR:-/var/lib/kinesisfs}
user=${KINESISFS_USER:-kinesisfs}

# A mount point left dead by a killed kinesisfs (ENOTCONN) fails mkdir and
# chown: kinesisfs clears it itself.
mkdir -p "$mp" 2>/dev/null || true

if [ "$(id -u)" -ne 0 ] || [ "$user" = root ]; then
	exec kinesisfs -f "$@" "$mp"
fi

if ! id "$user" >/dev/null 2>&1; then
	echo "kinesisfs: KINESISFS_USER=$user: no such user in the image" >&2
	exit 1
fi
group=$(id -gn "$user")
home=$(getent passwd "$user" | cut -d: -f6)

mkdir -p "$data"
# A data_dir written by a root kinesisfs (an older image, or
# KINESISFS_USER=root) is handed over whole, once.
if [ "$(stat -c %U "$data")" != "$user" ]; then
	chown -R "$user:$group" "$data"
fi
chown "$user:$group" "$mp" 2>/dev/null || true
# The device node is this container's own: hosts where /dev/fuse is 0600
# copy that mode into it.
if ! setpriv --reuid="$user" --regid="$group" --init-groups test -w /dev/fuse 2>/dev/null; then
	chgrp "$group" /dev/fuse && chmod g+rw /dev/fuse
fi

exec setpriv --reuid="$user" --regid="$group" --init-groups \
	env HOME="$home" kinesisfs -f -o allow_other "$@" "$mp"
