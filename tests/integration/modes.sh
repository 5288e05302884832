#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012,SC2010
# modes.sh - the local engine's data_dir: everything the engine writes
# keeps group and others out (files 0600, directories 0700), even when the
# daemon starts with umask 000; and no name given to the mount (streams,
# keys, views: "..", ".", "%2e%2e", very long, ...) makes anything appear
# outside data_dir, or anywhere in it but where a valid stream lives.
# Local engine only: the AWS backend writes no files.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires setfattr --version

on_aws && error "modes.sh tests the local engine's data_dir; there is no aws-modes.sh"

kfs_setup
# data_dir in a box of its own, created by the daemon; the test's own
# files go to $scratch.
box=$tmp/box
data=$box/data
scratch=$tmp/scratch
mkdir "$box" "$scratch"

# outside: what exists around data_dir: in $tmp (but the daemon's logs,
# which come and go, what assert_reads read, and what is inside data_dir,
# the mount point and $scratch), and in the box.
outside()
{
    find "$tmp" \( -path "$data" -o -path "$mnt" -o -path "$scratch" \) -prune -o -print |
        grep -v -E "^$tmp/(daemon\.|expected\.lines|fusermount\.err|timed-out|reads)" | sort
}
outside >"$scratch/outside.before"

old_umask=$(umask)
umask 000
kfs_mount shards=2,allow_delete
umask "$old_umask"
[ -d "$data" ] || fail "the daemon did not create data_dir $data"

# ---- names: nothing outside data_dir --------------------------------------
log_mark
s=$mnt/s1
mkdir "$s"
echo one >>"$s/k"

# Stream names the kernel keeps to itself, and names outside the rule.
expect_probe EEXIST mkdir "$mnt/.."
expect_probe EEXIST mkdir "$mnt/."
expect_probe ENOENT mkdir "$mnt/a/b"
expect_logged 0 0 "-" "mkdir of '..', '.', 'a/b'"
for name in %2e%2e ..%2f.. '..\..' $'..\n' $'..\t' ' ..' '.. '; do
    expect_probe EINVAL mkdir "$mnt/$name"
    expect_logged 1 1 "stream name" "mkdir '$name'"
done
long=$(printf '.%.0s' $(seq 300))
expect_probe ENAMETOOLONG mkdir "$mnt/$long"
expect_logged 0 1 "\.\.\.\." "mkdir of 300 dots"
long=$(printf '.%.0s' $(seq 200))
expect_probe EINVAL mkdir "$mnt/$long"
expect_logged 1 1 "\.\.\.\." "mkdir of 200 dots"
# Dots are allowed in stream names: "...", "...." and 128 dots are
# streams like any other, directories inside data_dir/streams.
dots128=$(printf '.%.0s' $(seq 128))
for name in ... .... "$dots128"; do
    expect_probe OK mkdir "$mnt/$name"
    echo "in $name" >>"$mnt/$name/key"
    assert_reads "$mnt/$name/key" "in $name" "key file of stream '$name'"
done
expect_logged 0 0 "-" "streams named with dots"
expect_probe EPERM mkdir "$mnt/.../shardId-000000000009"
expect_logged 1 1 '\.\.\./shardId-000000000009' "mkdir inside the stream '...'"

# Key names: "..", "." and "a/b" are the kernel's; dots, escapes and
# look-alikes of slashes are keys like any other (their names go to the
# stream's names journal, no file of their own).  "a/b": ENOENT while no
# key file a exists, ENOTDIR once it does.
if echo x 2>/dev/null >>"$s/.."; then
    fail "echo >> s1/.. succeeded"
fi
if echo x 2>/dev/null >>"$s/."; then
    fail "echo >> s1/. succeeded"
fi
expect_probe ENOENT open-write "$s/a/b"
expect_probe ENOENT creat "$s/a/b"
touch "$s/a"
expect_probe ENOTDIR open-write "$s/a/b"
expect_probe ENOTDIR creat "$s/a/b"
expect_logged 0 0 "-" "open of s1/a/b"
for key in ... %2e%2e%2f ..%2f..%2f..%2fetc '..\..\x' $'\xe2\x88\x95..' $'..\xef\xbc\x8f..'; do
    expect_probe ENOENT stat "$s/$key"
    echo "key $key" >>"$s/$key"
    assert_reads "$s/$key" "key $key" "key file '$key'"
done
expect_logged 0 0 "-" "keys with dots and slash look-alikes"
# Shard views: "../" in a view name is a path to the kernel.
for v in 'shardId-000000000000@../../x' 'shardId-000000000000@..' \
         'shardId-000000000000@..%2f..%2fx' '@../x' 'shardId-000000000000@TRIM_HORIZON/../x'; do
    got=$("$probe" open-read "$s/$v")
    case $got in
    EINVAL | ENOENT | ENOTDIR) ;;
    *) fail "open of the view '$v': $got, expected EINVAL, ENOENT or ENOTDIR" ;;
    esac
    got=$("$probe" open-write "$s/$v")
    case $got in
    EINVAL | ENOENT | ENOTDIR | EACCES) ;;
    *) fail "open for writing of the view '$v': $got" ;;
    esac
done
expect_logged -i 0 20 "s1" "views with ../ in their names"

# Resharding, retention and deletion write files too.
setfattr -n user.kinesis.retention_hours -v 48 "$s"
setfattr -n user.kinesis.shard_count -v 3 "$s"
echo two >>"$s/k"
sync
rmdir "$mnt/...."

# Every stream directory is a stream the mount has.
ls -A "$data/streams" | sort >"$scratch/streams"
ls -A "$mnt" | sort >"$scratch/streams.expected"
assert_file_eq "$scratch/streams" "$scratch/streams.expected" "data_dir/streams against ls of the mount"
ls -A "$data" >"$scratch/top.all"
grep -v -x -E 'LOCK|streams|tmp|trash' "$scratch/top.all" >"$scratch/top" || true
[ ! -s "$scratch/top" ] || fail "unexpected entries in data_dir: $(cat "$scratch/top")"

# ---- modes, while mounted and after --------------------------------------
# check_modes WHEN: no file or directory under data_dir (data_dir too)
# lets group or others in; files are 0600, directories 0700.
check_modes()
{
    find "$data" -perm /077 -printf '%m %p\n' >"$scratch/open"
    if [ -s "$scratch/open" ]; then
        fail "$1: group or others can get in: $(cat "$scratch/open")"
    fi
    find "$data" \( -type d ! -perm 0700 -o -type f ! -perm 0600 \) -printf '%m %y %p\n' >"$scratch/odd"
    if [ -s "$scratch/odd" ]; then
        fail "$1: not 0600 files and 0700 directories: $(cat "$scratch/odd")"
    fi
    find "$data" ! -type d ! -type f -printf '%y %p\n' >"$scratch/other"
    if [ -s "$scratch/other" ]; then
        fail "$1: neither files nor directories: $(cat "$scratch/other")"
    fi
}
check_modes "mounted with umask 000"
kfs_umount
check_modes "after the unmount"

# Not vacuous: each kind of file the engine writes is there.
for pat in LOCK stream.meta shard.meta '*.log' '*.idx' names; do
    [ -n "$(find "$data" -name "$pat" -type f -print -quit)" ] ||
        fail "no $pat under data_dir: the mode check saw nothing of that kind"
done
[ "$(stat -c %a "$data")" = 700 ] || fail "data_dir is $(stat -c %a "$data"), expected 700"

# A second mount (recovery, tmp/ and trash/ cleaned) keeps them so too.
umask 000
kfs_mount
umask "$old_umask"
assert_reads "$s/k" "one
two" "s1/k after remounting"
check_modes "remounted with umask 000"
kfs_umount

outside >"$scratch/outside.after"
assert_file_eq "$scratch/outside.after" "$scratch/outside.before" "what exists outside data_dir"
