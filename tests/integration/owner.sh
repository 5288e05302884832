#!/usr/bin/env bash
# owner.sh - what every node shows and lets do (docs/mounting.md,
# "Owner, modes, read-only"):
#   - by default: the mounting user's uid and gid, directories 0755,
#     files 0644, views 0444;
#   - -o uid=,gid=,file_mode=,dir_mode= change them (views keep no write
#     bit) for the root, streams, shards, views and key files created
#     then (their mode limited by file_mode); a key file keeps the owner
#     and mode it was created with across remounts (docs/semantics.md,
#     "Key files": names last);
#   - with allow_other the kernel checks them: the owner they name creates
#     and writes a key file in the stream, which then belongs to it; it
#     cannot write a key file root created 0644; another user is kept out
#     of a 0700 directory;
#   - -o read_only (and ro): the kernel's mount is read-only, and appends,
#     creating a key file, open for writing, mkdir, rmdir, truncate and
#     setfattr give EROFS and store nothing (no name is made); with the
#     kernel's flag taken off (remount,rw) the daemon still refuses each of
#     them, with one log line;
#   - -o ro,rw: the last wins, as with mount(8);
#   - -o auto_unmount: the mount goes when the daemon is killed;
#   - bad values are refused at mount with one message.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires setfattr --version
requires setpriv --help

kfs_setup
# The modes key files are created with: 0644 & ~umask, then file_mode.
umask 022
s=$mnt/own
shard=$s/shardId-000000000000

# modes_are KEY WANT: "uid gid mode" of the root, a stream, a shard, the
# key file KEY and a view, one a line.
modes_are()
{
    local got
    got=$(stat -c '%u %g %a' "$mnt" "$s" "$shard" "$s/$1" "$shard@TRIM_HORIZON")
    assert_eq "$got" "$2" "owner and mode of the root, a stream, a shard, the key file $1, a view"
}
# owner_is PATH WANT: "uid gid mode" of PATH.
owner_is() { assert_eq "$(stat -c '%u %g %a' "$1")" "$2" "owner and mode of ${1#"$mnt"/}"; }

# ---- defaults ------------------------------------------------------------
kfs_mount allow_delete
mkdir "$s"
expect_probe ENOENT stat "$s/k"
echo one >>"$s/k"
modes_are k "$(id -u) $(id -g) 755
$(id -u) $(id -g) 755
$(id -u) $(id -g) 644
$(id -u) $(id -g) 644
$(id -u) $(id -g) 444"
kfs_umount

# ---- uid, gid, file_mode, dir_mode -----------------------------------------
# A key file created now gets them; k keeps what it was created with.
kfs_mount uid=1234,gid=4321,file_mode=0640,dir_mode=0750
touch "$s/k2"
modes_are k2 "1234 4321 750
1234 4321 750
1234 4321 640
1234 4321 640
1234 4321 440"
owner_is "$s/k" "$(id -u) $(id -g) 644"
kfs_umount

# With allow_other the kernel checks them: the owner they name (nobody)
# writes; another user is kept out of a 0700 stream directory.  ($tmp is
# 0700: others need a way to the mount point, and their own kfs-probe.)
chmod 0755 "$tmp"
install -m 0755 "$probe" "$tmp/kfs-probe"
as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
kfs_mount allow_other,uid=65534,gid=65534,file_mode=0600,dir_mode=0700
got=$(as_user 65534 "$tmp/kfs-probe" write "$s/n" 4)
assert_eq "$got" OK "a key file created and appended to by the owner uid=65534 names"
owner_is "$s/n" "65534 65534 600"
got=$(as_user 65534 "$tmp/kfs-probe" write "$s/k" 4)
assert_eq "$got" EACCES "an append by uid=65534 to the key file root created 0644"
got=$(as_user 65533 "$tmp/kfs-probe" stat "$s/n")
assert_eq "$got" EACCES "stat by another user in a 0700 stream directory"
got=$(as_user 65533 "$tmp/kfs-probe" open-read "$mnt")
assert_eq "$got" EACCES "another user reading a 0700 root"
kfs_umount
kfs_mount
assert_reads "$s/n" "aaaa" "records after the owner's append"
assert_reads "$s/k" "one" "records of the key file the owner could not write"
owner_is "$s/n" "65534 65534 600"
kfs_umount

# ---- read_only -------------------------------------------------------------
# refused_all WHAT: every change gives EROFS and nothing is stored.
refused_all()
{
    expect_probe EROFS write "$s/k" 10
    expect_probe EROFS write "$s/newkey" 10
    expect_probe EROFS write "$shard" 10
    expect_probe EROFS open-write "$s/k"
    expect_probe EROFS mkdir "$mnt/other"
    expect_probe EROFS rmdir "$s"
    expect_probe EROFS truncate "$s/k" 0
    expect_probe EROFS setxattr "$s" user.kinesis.retention_hours 48
    assert_reads "$s/k" "one" "records of the key after the refused changes ($1)"
    expect_probe ENOENT stat "$s/newkey"
    assert_eq "$(xattr "$s" retention_hours)" 24 "retention after the refused setfattr ($1)"
    [ -d "$s" ] || fail "the stream is gone after a refused rmdir ($1)"
    [ ! -e "$mnt/other" ] || fail "a refused mkdir made a stream ($1)"
    # Reading works: a file, a view.
    assert_eq "$(timeout 30 sed -n "1{p;q}" "$shard@TRIM_HORIZON")" one "a view on a read-only mount ($1)"
}

for opt in read_only ro; do
    kfs_mount "$opt,allow_delete"
    grep -F " $mnt " /proc/mounts | grep -q -E ' ro,|,ro,| ro ' ||
        fail "-o $opt: the kernel's mount is not read-only: $(grep -F " $mnt " /proc/mounts)"
    log_mark
    refused_all "-o $opt"
    # The kernel refused those: the daemon saw none.
    expect_logged 0 0 "-" "changes the kernel refused (-o $opt)"
    kfs_umount
done

# The kernel's flag taken off behind the daemon's back (mount -i: no
# helper): the daemon refuses each change itself, one line each.
kfs_mount read_only,allow_delete
mount -i -o remount,rw "$mnt" || error "mount -i -o remount,rw $mnt failed"
grep -F " $mnt " /proc/mounts | grep -q ' rw,' ||
    error "remount,rw did not make the kernel's mount writable"
log_mark
refused_all "remounted rw"
expect_logged 8 8 "mounted read-only" "the changes the daemon refused"
kfs_umount

# The last of ro and rw wins, as with mount(8).
kfs_mount ro,rw
expect_probe OK write "$s/k" 3
kfs_umount

# ---- auto_unmount: fusermount3 unmounts when the daemon dies ----------------
kfs_mount auto_unmount
# Served: fusermount3 has handed the daemon its descriptor and watches it.
assert_eq "$(timeout 30 sed -n 1p "$s/k")" one "a record through an auto_unmount mount"
kill -KILL "$kfs_pid"
_kfs_reap
not_mounted() { ! is_mounted "$mnt"; }
gone=0
for ((i = 0; i < 600; i++)); do
    if not_mounted; then gone=1; break; fi
    sleep 0.1
done
if [ $gone = 0 ]; then
    # What the unmount was waiting for: fusermount3's watcher unmounts
    # once the daemon's end of its socket closes and the mount answers
    # ENOTCONN.
    {
        echo "--- /proc/mounts:"; grep -F " $mnt " /proc/mounts || true
        echo "--- fusermount3 processes:"; ps -eo pid,ppid,stat,wchan:30,args | grep "[f]usermount3" || true
        echo "--- open of the mountpoint:"; timeout 5 ls "$mnt" 2>&1
    } >&2
    fusermount3 -uz "$mnt" 2>/dev/null || true
    fail "auto_unmount: the mount did not go with the killed daemon in 60 s"
fi

# ---- bad values -----------------------------------------------------------
for o in uid=-1 uid=x uid=4294967295 gid=1.5 gid= file_mode=0888 \
         file_mode=01777 file_mode=rw dir_mode=-1 dir_mode=; do
    kfs_mount_fails "$o" 1 "^kinesisfs: -o ${o%%=*}=.*: expected (a number|an octal mode)"
    assert_eq "$(grep -c . "$refused_log")" 1 "lines printed for -o $o: $(cat "$refused_log")"
done
