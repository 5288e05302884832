#!/usr/bin/env bash
# perms.sh - who may use a mount (docs/semantics.md, "Who may use the
# mount").  The mount is made by root; another user (nobody, through
# setpriv) tries it:
#   - without allow_other only the mounting user gets in: EACCES for
#     anything, even stat of the mount's root;
#   - with allow_other, default_permissions applies: streams are readable
#     (0755 directories, 0644 files owned by the mounting user), but
#     appending, mkdir and setfattr are EACCES, and nothing is stored;
#   - allow_other,no_default_permissions turns the kernel's check off:
#     the other user's append is stored;
#   - allow_root (the mounting user is root here): others get EACCES.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

kfs_setup
requires setpriv --help
# The other user needs its own copy of kfs-probe and a way to the mount
# point ($tmp is 0700).
chmod 0755 "$tmp"
install -m 0755 "$probe" "$tmp/kfs-probe"
nobody_uid=65534
# as_other CMD...: CMD as uid/gid 65534 with no supplementary groups.
as_other() { setpriv --reuid=$nobody_uid --regid=$nobody_uid --clear-groups "$@"; }
# expect_other WANT OP ARGS...: kfs-probe OP as the other user gives WANT.
expect_other()
{
    local want=$1 got
    shift
    got=$(as_other "$tmp/kfs-probe" "$@")
    [ "$got" = "$want" ] || fail "kfs-probe $* as uid $nobody_uid: got '$got', expected '$want'"
}

# ---- only the mounting user ---------------------------------------------
kfs_mount shards=1
s=$mnt/perm
mkdir "$s"
echo "by root" >>"$s/k"
assert_reads "$s/k" "by root" "root's own record"
expect_other EACCES stat "$mnt"
expect_other EACCES stat "$s/k"
expect_other EACCES open-read "$s/k"
expect_other EACCES write "$s/k" 10
expect_other EACCES mkdir "$mnt/other"
if as_other ls "$mnt" >/dev/null 2>&1; then
    fail "ls of the mount by another user succeeded without allow_other"
fi
kfs_umount

# ---- allow_other: the kernel checks modes ------------------------------
kfs_mount allow_other
grep -F " $mnt " /proc/mounts | grep -q default_permissions ||
    fail "allow_other did not bring default_permissions: $(grep -F " $mnt " /proc/mounts)"
assert_eq "$(as_other cat "$s/k")" "by root" "the record read by another user"
as_other ls "$s" >/dev/null || fail "ls of a stream by another user failed with allow_other"
as_other getfattr -n user.kinesis.status --only-values "$s" >/dev/null ||
    fail "getfattr by another user failed with allow_other"
expect_other OK stat "$s/k"
expect_other EACCES write "$s/k" 10
expect_other EACCES write "$s/newkey" 10
expect_other EACCES mkdir "$mnt/other"
expect_other EACCES setxattr "$s" user.kinesis.retention_hours 48
# Root, the owner, still writes.
echo "again by root" >>"$s/k"
assert_reads "$s/k" "by root
again by root" "records after the other user's refused appends"
kfs_umount

# ---- allow_other,no_default_permissions ----------------------------------
kfs_mount allow_other,no_default_permissions
if grep -F " $mnt " /proc/mounts | grep -q default_permissions; then
    fail "no_default_permissions still mounted with default_permissions"
fi
expect_other OK write "$s/k" 10
assert_eq "$(tail -n 1 "$s/k")" "aaaaaaaaaa" "the other user's record"
kfs_umount

# ---- allow_root ----------------------------------------------------------
kfs_mount allow_root
expect_other EACCES stat "$s/k"
assert_eq "$(wc -l <"$s/k")" 3 "records read by root with allow_root"
kfs_umount

# ---- the two exclude each other -----------------------------------------
kfs_mount_fails allow_other,allow_root 1 \
    '^kinesisfs: -o allow_other and -o allow_root exclude each other$'
