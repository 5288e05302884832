#!/bin/bash
# user-mount.sh - a user who is not root mounts, uses and unmounts
# (docs/mounting.md, "As a user").
#
# The daemon runs as nobody (setpriv) on a mountpoint and a data_dir that
# nobody owns; libfuse's mount(2) is refused to it, so the mount goes
# through the setuid fusermount3, as for any user.  As nobody: mkdir a
# stream, echo >> a key file, cat the shard and the key file, getfattr,
# stat (owned by nobody), and fusermount3 -u, after which the daemon exits
# 0; again after a remount.  Root, without allow_other, is refused by the
# kernel.  The data_dir's files belong to nobody.
#
# libfuse opens /dev/fuse itself before it falls back to fusermount3: the
# test runs in a mount namespace of its own (unshare -m) where /dev/fuse
# is a node of the same device with mode 0666, as the kernel and Debian
# make it (some container runtimes make it 0600); nothing changes outside.
. "$(dirname "$0")/functions.sh"

[ "$KFS_BACKEND" = local ] || error "user-mount.sh runs on the local engine"
requires unshare --help
requires setpriv --help
requires getfattr --version
fusermount=$(command -v fusermount3)
[ -u "$fusermount" ] || error "$fusermount is not setuid root (Debian's fuse3 installs it so)"
if [ -z "${KFS_USER_MOUNT_NS:-}" ]; then
    export KFS_USER_MOUNT_NS=1
    exec unshare -m --propagation private bash "$0" "$@"
fi

kfs_setup
uid=65534
as_user() { setpriv --reuid=$uid --regid=$uid --clear-groups "$@"; }
# nobody goes through $tmp, and valgrind (as nobody) writes its log there.
chmod 1777 "$tmp"
mkdir "$data"
chown $uid:$uid "$mnt" "$data"
dev=$(stat -c '%t %T' /dev/fuse)
mknod -m 0666 "$tmp/fuse" c $((16#${dev% *})) $((16#${dev#* }))
mount --bind "$tmp/fuse" /dev/fuse
kfs_launcher=(setpriv --reuid=$uid --regid=$uid --clear-groups)

kfs_mount
grep -F " $mnt fuse.kinesisfs " /proc/mounts | grep -q "user_id=$uid," ||
    fail "the mount is not nobody's: $(grep -F " $mnt " /proc/mounts)"
daemon_uid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$kfs_pid/status")
assert_eq "$daemon_uid" $uid "the daemon's uid"

s=$mnt/s
shard=$s/$(shard_name 0)
as_user mkdir "$s"
as_user sh -c "echo '{\"Data\":\"1\"}' >>'$s/111'"
as_user sh -c "printf 'two\nthree\n' >>'$shard'"
printf '{"Data":"1"}\ntwo\nthree\n' >"$tmp/want"
as_user cat "$shard" >"$tmp/got"
assert_file_eq "$tmp/got" "$tmp/want" "cat of the shard as nobody"
as_user cat "$s/111" >"$tmp/got"
assert_eq "$(cat "$tmp/got")" '{"Data":"1"}' "cat of the key file as nobody"
assert_eq "$(as_user getfattr --absolute-names --only-values -n user.kinesis.status "$s")" ACTIVE \
    "getfattr of the stream as nobody"
as_user getfattr --absolute-names -d "$shard" | grep -q '^user.kinesis.' ||
    fail "getfattr -d of the shard as nobody shows nothing"
assert_eq "$(as_user stat -c %u:%g "$shard")" "$uid:$uid" "owner of the shard file"
as_user ls "$s" | grep -q -x "$(shard_name 0)" || fail "ls of the stream as nobody"

# Root is not let in without allow_other (the kernel refuses it).
expect_probe EACCES stat "$s"

# The data_dir is nobody's, and private.
find "$data" ! -user $uid -printf '%p\n' >"$tmp/others"
[ ! -s "$tmp/others" ] || fail "files in data_dir not owned by nobody: $(cat "$tmp/others")"
find "$data" -type f ! -perm 0600 -printf '%m %p\n' >"$tmp/modes"
[ ! -s "$tmp/modes" ] || fail "files in data_dir not 0600: $(cat "$tmp/modes")"

# nobody unmounts; the daemon ends.
as_user fusermount3 -u "$mnt" || fail "fusermount3 -u as nobody failed"
kfs_wait_exit 30 "fusermount3 -u as nobody"

kfs_mount
as_user cat "$shard" >"$tmp/got"
assert_file_eq "$tmp/got" "$tmp/want" "cat of the shard as nobody after a remount"
as_user sh -c "echo four >>'$s/111'"
assert_eq "$(as_user cat "$s/111")" '{"Data":"1"}
four' "the key file as nobody after a remount"
as_user fusermount3 -u "$mnt" || fail "fusermount3 -u as nobody failed after a remount"
kfs_wait_exit 30 "fusermount3 -u as nobody"
