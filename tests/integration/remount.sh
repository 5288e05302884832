#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012
# remount.sh - data survive an unmount: streams, shards, records, key
# files, metadata; records written after the remount come after the old
# ones.  Local engine: a second mount of a data_dir in use fails and names
# the holder.  AWS backend (the same kinesalite for both mounts): nothing
# is locked, so a second mount of the same endpoint works at the same time
# and reads what the first one wrote.  Key files' names last as long as
# the mount on AWS (docs/aws.md, "Key files"): there the second mount and
# the remount read the keys through their views; on the local engine the
# names, listed, come back with their windows.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires setfattr --version

kfs_setup
cat_to() { read_into "$tmp/$1" "$2"; }
# key_to NAME KEYPATH LINES: every record of the key, through its view
# (the view follows: it ends after LINES lines).
key_to()
{
    timeout 30 head -n "$3" "$2@TRIM_HORIZON" >"$tmp/$1" ||
        fail "reading $2@TRIM_HORIZON"
}

kfs_mount shards=2
s=$mnt/keep
mkdir "$s"
mkdir "$mnt/empty"
setfattr -n user.kinesis.retention_hours -v 72 "$s"
ct=$(getfattr --absolute-names --only-values -n user.kinesis.creation_time "$s")
for i in $(seq 1 40); do
    echo "before $i" >>"$s/key$((i % 5))"
done
printf 'shard one\ntail without newline' >>"$s/shardId-000000000001"
"$writer" "$s/wkey" W1 500 50 >"$tmp/w1.acks" || fail "kfs-writer failed"
for f in shardId-000000000000 shardId-000000000001 key0 key3 wkey; do
    cat_to "before.$f" "$s/$f"
done
grep -q -x 'before 40' "$tmp/before.key0" || fail "key0 lacks its last line"

mkdir "$tmp/mnt2"
if on_aws; then
    # ---- AWS: a second mount of the same endpoint, at the same time -------
    kfs_swap
    kfs_mount "" "$tmp/mnt2"
    expect_probe ENOENT stat "$tmp/mnt2/keep/key0"
    key_to second.key0 "$tmp/mnt2/keep/key0" 8
    assert_file_eq "$tmp/second.key0" "$tmp/before.key0" "key0 read through a second mount"
    echo "from the second mount" >>"$tmp/mnt2/keep/second"
    key_to second "$s/second" 1
    assert_eq "$(cat "$tmp/second")" "from the second mount" \
        "a line written through the second mount, read through the first"
    kfs_umount
    kfs_swap
    # That line is in one of the shards now: they are read again.
    for f in shardId-000000000000 shardId-000000000001; do
        cat_to "before.$f" "$s/$f"
    done
    grep -q -x 'from the second mount' "$tmp/before.shardId-000000000000" \
        "$tmp/before.shardId-000000000001" || fail "the second mount's line is in no shard"
else
    # ---- local: a second daemon on the same data_dir fails at once --------
    # In the foreground, started as every mount is.  main.c adds its own
    # line to the engine's.
    expect_log '^kinesisfs: cannot open the local backend: Device or resource busy$'
    kfs_mount_fails "" 1 "^kinesisfs: error: data_dir $data is in use by pid $kfs_pid\$" "$tmp/mnt2"
    # And as a user starts one, without -f (it would fork, which
    # kfs_mount_fails does not follow): it fails before detaching.
    rc=0
    timeout 20 "$KFS_BIN" -o "data_dir=$data" "$tmp/mnt2" \
        </dev/null >"$tmp/second.out" 2>"$tmp/second.err" || rc=$?
    cat "$tmp/second.err" >&2
    [ "$rc" -ne 124 ] || fail "a second mount of the data_dir (no -f) hangs"
    [ "$rc" -ne 0 ] || fail "a second mount of the data_dir (no -f) succeeded"
    ! is_mounted "$tmp/mnt2" || fail "a second mount of the data_dir is mounted"
    grep -q -x -F "kinesisfs: error: data_dir $data is in use by pid $kfs_pid" "$tmp/second.err" ||
        fail "the refusal of a second mount does not name the holder pid $kfs_pid"
    # From another pid namespace and host name, as from another container
    # on the same volume: the holder's pid means nothing there, so the
    # message says whose namespace it is of and the holder's host name.
    if unshare --pid --uts --fork --mount-proc true 2>/dev/null; then
        rc=0
        timeout 20 unshare --pid --uts --fork --mount-proc sh -c \
            'hostname other-container && exec "$@"' sh \
            "$KFS_BIN" -f -o "data_dir=$data" "$tmp/mnt2" \
            </dev/null >"$tmp/third.out" 2>"$tmp/third.err" || rc=$?
        cat "$tmp/third.err" >&2
        [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "a second mount from another pid namespace did not fail (status $rc)"
        grep -q -x -E "kinesisfs: error: data_dir $data is in use by pid $kfs_pid of another pid namespace \(pid:\[[0-9]+\], host name $(hostname)\): a kinesisfs in another container or on the host \(a container's host name is usually its id\)" "$tmp/third.err" ||
            fail "the refusal from another pid namespace does not say where pid $kfs_pid is"
    else
        msg "unshare --pid --uts is not allowed here: the refusal from another pid namespace is not checked"
    fi
fi
# The first mount is unharmed.
cat_to again "$s/key0"
assert_file_eq "$tmp/again" "$tmp/before.key0" "key0 after the second mount"

kfs_umount

# ---- remount: everything is there ---------------------------------------
kfs_mount shards=2
assert_eq "$(ls "$mnt" | tr '\n' ' ')" "empty keep " "ls of the mount point after remounting"
if on_aws; then
    names="shardId-000000000000 shardId-000000000001 "
else
    names="key0 key1 key2 key3 key4 shardId-000000000000 shardId-000000000001 wkey "
fi
assert_eq "$(ls "$s" | tr '\n' ' ')" "$names" "ls of the stream after remounting"
for f in shardId-000000000000 shardId-000000000001 key0 key3 wkey; do
    if on_aws && [[ $f != shardId-* ]]; then
        key_to "after.$f" "$s/$f" "$(grep -c '' "$tmp/before.$f")"
    else
        cat_to "after.$f" "$s/$f"
    fi
    assert_file_eq "$tmp/after.$f" "$tmp/before.$f" "$f after remounting"
done
assert_eq "$(xattr "$s" retention_hours)" 72 "retention_hours after remounting"
assert_eq "$(xattr "$s" creation_time)" "$ct" "creation_time after remounting"
assert_eq "$(xattr "$s" status)" ACTIVE "status after remounting"
assert_eq "$(file_size "$mnt/empty/shardId-000000000000")" 0 "an empty stream after remounting"
"$writer" --print W1 1 500 >"$tmp/w1.expected"
assert_file_eq "$tmp/after.wkey" "$tmp/w1.expected" "kfs-writer's key after remounting"

# New records come after the old ones, in the shards and in the keys.
for i in $(seq 41 60); do
    echo "after $i" >>"$s/key$((i % 5))"
done
echo 'shard one again' >>"$s/shardId-000000000001"
for f in shardId-000000000000 shardId-000000000001 key0 key3; do
    if on_aws && [[ $f != shardId-* ]]; then
        # The name was made again by >> after the remount: its window
        # starts there; the view shows the key's older records too.
        key_to "new.$f" "$s/$f" "$(($(grep -c '' "$tmp/before.$f") + 4))"
    else
        cat_to "new.$f" "$s/$f"
    fi
    head -c "$(file_size "$tmp/before.$f")" "$tmp/new.$f" >"$tmp/new.head"
    assert_file_eq "$tmp/new.head" "$tmp/before.$f" "old records of $f lead after new writes"
done
assert_eq "$(tail -n 1 "$tmp/new.shardId-000000000001")" "shard one again" \
    "last record of shard 1"
if on_aws; then
    assert_reads "$s/key0" "$(for i in 45 50 55 60; do echo "after $i"; done)" \
        "key file key0 made again after the remount: its window starts there"
fi
{ cat "$tmp/before.key0"; for i in 45 50 55 60; do echo "after $i"; done; } >"$tmp/key0.expected"
assert_file_eq "$tmp/new.key0" "$tmp/key0.expected" "key0 after new writes"
# Every old and new record of keys 0..4 is in one of the two shards,
# old ones first in each.
cat "$tmp/new.shardId-000000000000" "$tmp/new.shardId-000000000001" |
    grep -E '^(before|after) ' | awk '{ print $2 }' | sort -n >"$tmp/nums"
seq 1 60 >"$tmp/nums.expected"
assert_file_eq "$tmp/nums" "$tmp/nums.expected" "numbered lines across both shards"
for f in shardId-000000000000 shardId-000000000001; do
    grep -E '^(before|after) ' "$tmp/new.$f" | awk '{ print $2 }' >"$tmp/order"
    sort -n "$tmp/order" | cmp -s - "$tmp/order" ||
        fail "records written after the remount come before older ones in $f"
done

kfs_umount
