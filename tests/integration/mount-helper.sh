#!/usr/bin/env bash
# mount-helper.sh - mounting through mount(8) (docs/mounting.md):
#   - mount -t kinesisfs SOURCE DIR -o OPTIONS, SOURCE an absolute path
#     (the local engine's data_dir): a stream made, a line written and
#     read back, the options applied, then umount(8), and the daemon exits;
#   - an fstab line (mount --fstab FILE DIR) of type kinesisfs with
#     noauto,_netdev,x-systemd.automount,nofail among its options;
#   - an fstab line of type fuse.kinesisfs, SOURCE kinesisfs, with
#     data_dir=, ro and comment=: read-only, EROFS on a write;
#   - mount.fuse3 without our helper (what mount -t fuse.kinesisfs does
#     where mount.fuse.kinesisfs is missing): it runs kinesisfs SOURCE DIR;
#   - -o data_dir=RELATIVE: taken against the working directory, though
#     the daemon moves to / in the background;
#   - a bad SOURCE: a clear message, a non-zero exit, no mount.
# The helper is installed into a scratch prefix (make install prefix=...),
# and mount(8) finds it in /sbin through an overlay of /usr/sbin with that
# prefix's sbin, in a mount namespace of the test's own: the system's
# /sbin is never touched.
if [ -z "${KFS_MOUNT_NS:-}" ]; then
    if ! unshare --mount --propagation private true 2>/dev/null; then
        echo "mount-helper: ERROR: cannot make a mount namespace (unshare --mount)" >&2
        exit 99
    fi
    KFS_MOUNT_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires flock --version
requires command -v mount.fuse3
on_aws && error "mount-helper.sh mounts the local engine; there is no aws-mount-helper.sh"

kfs_setup
# mount(8) takes a SOURCE that names a file in the working directory for
# that file's path: "kinesisfs" in the build tree would be the binary.
cd "$tmp"
p=$tmp/prefix
kfs_make install prefix="$p" mount_helper_dir="$p/sbin"
mount -t overlay overlay -o "lowerdir=$p/sbin:/usr/sbin" /usr/sbin ||
    error "cannot lay $p/sbin over /usr/sbin (overlay)"
cleanup_fn umount -l /usr/sbin
if [ ! -x /sbin/mount.kinesisfs ] || [ ! -x /sbin/mount.fuse.kinesisfs ]; then
    error "the helpers are not in /sbin after the overlay"
fi

# A daemon started by mount(8) is nobody's child here: its pid goes where
# the cleanup kills what is left (daemon.N.pid), found by its mount point.
n=0
note_daemon()
{
    local f pid
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        if grep -q -x -F "$mnt" <<<"$(tr '\0' '\n' 2>/dev/null <"$f")" &&
            [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$p/bin/kinesisfs" ]; then
            n=$((n + 1))
            echo "$pid" >"$tmp/daemon.helper$n.pid"
            return 0
        fi
    done
    fail "no kinesisfs daemon serving $mnt"
}

# The daemon let data_dir's lock go: it exited.
lock_free() { flock -n "$1/LOCK" true; }

# umounted DATA_DIR: umount(8) unmounts, and the daemon exits.
umounted()
{
    umount "$mnt" || fail "umount $mnt failed"
    ! is_mounted "$mnt" || fail "$mnt still mounted after umount"
    wait_for 30 "the daemon exits after umount" lock_free "$1"
}

# write_read S: a stream made, a line appended, read back.
write_read()
{
    mkdir "$mnt/$1"
    echo "through $1" >>"$mnt/$1/k"
    assert_reads "$mnt/$1/shardId-000000000000" "through $1" "the record read back in $1"
}

# ---- mount -t kinesisfs ------------------------------------------------------
mount -t kinesisfs "$data" "$mnt" -o shards=2,record=write,allow_delete ||
    fail "mount -t kinesisfs failed"
note_daemon
is_mounted "$mnt" || fail "mount -t kinesisfs: $mnt is not mounted"
grep -F " $mnt " /proc/mounts | grep -q -F "kinesisfs:$data " ||
    fail "the mount's source is not kinesisfs:$data: $(grep -F " $mnt " /proc/mounts)"
mkdir "$mnt/s1"
assert_eq "$(xattr "$mnt/s1" shard_count)" 2 "shards=2 through the helper"
# record=write: two writes, two records, read back raw ("xy"); line
# framing would have made one, read back as "xy\n".
{ printf x; printf y; } >>"$mnt/s1/k"
assert_bytes "$mnt/s1/k" 2 "bytes read back with record=write"
rmdir "$mnt/s1" || fail "allow_delete did not reach the daemon"
umounted "$data"

# ---- an fstab line, with what systemd and mount(8) add ---------------------------
echo "$data $mnt kinesisfs noauto,_netdev,x-systemd.automount,nofail,shards=1 0 0" >"$tmp/fstab"
mount --fstab "$tmp/fstab" "$mnt" || fail "mount --fstab (type kinesisfs) failed"
note_daemon
write_read s2
umounted "$data"

# ---- fuse.kinesisfs, SOURCE kinesisfs, read-only -------------------------------
echo "kinesisfs $mnt fuse.kinesisfs data_dir=$data,ro,comment=x-test,defaults 0 0" >"$tmp/fstab"
mount -T "$tmp/fstab" "$mnt" || fail "mount -T (type fuse.kinesisfs) failed"
note_daemon
grep -F " $mnt " /proc/mounts | grep -q ' ro,' || fail "ro did not reach the kernel: $(grep -F " $mnt " /proc/mounts)"
assert_reads "$mnt/s2/k" "through s2" "reading a read-only mount"
expect_probe EROFS write "$mnt/s2/k" 3
umounted "$data"

# ---- mount.fuse3, where mount.fuse.kinesisfs is missing -------------------------
PATH=$p/bin:$PATH mount.fuse3 "$data" "$mnt" -t fuse.kinesisfs -o _netdev,nofail,x-systemd.automount ||
    fail "mount.fuse3 ... -t fuse.kinesisfs failed"
note_daemon
write_read s3
umounted "$data"

# ---- a relative data_dir, the daemon in the background --------------------------
# The daemon moves to / once in the background: data_dir is taken against
# the directory the command ran in ($tmp), before that.
mount -t kinesisfs local "$mnt" -o data_dir=reldata ||
    fail "mount -t kinesisfs local -o data_dir=reldata failed"
note_daemon
grep -F " $mnt " /proc/mounts | grep -q -F "kinesisfs:$tmp/reldata " ||
    fail "the relative data_dir was not taken against the working directory: $(grep -F " $mnt " /proc/mounts)"
write_read s4
[ -d "$tmp/reldata/streams/s4" ] || fail "the stream is not in $tmp/reldata"
umounted "$tmp/reldata"

# ---- a bad SOURCE ------------------------------------------------------------
if mount -t kinesisfs relative/dir "$mnt" 2>"$tmp/bad.err"; then
    umount "$mnt"
    fail "mount -t kinesisfs of a relative SOURCE succeeded"
fi
grep -q "SOURCE relative/dir: expected an absolute path" "$tmp/bad.err" ||
    fail "no clear message for a bad SOURCE: $(cat "$tmp/bad.err")"
! is_mounted "$mnt" || fail "a bad SOURCE left a mount"
