#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012
# layout.sh - what ls, stat and getfattr show: streams as directories,
# shards as files, the user.kinesis.* attributes, times, sizes, and rmdir
# with and without -o allow_delete.  On both backends; where kinesalite
# (the AWS backend's test endpoint) differs from the service, it says so.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires setfattr --version
requires bc --version

kfs_setup

# kinesalite dates a new stream 2 s before its CreateStream, in whole
# seconds, and allows at most 168 hours of retention (the service's limit
# before 2020; it is 8760 now).
ct_slack=0
retention_max=8760
if on_aws; then
    ct_slack=3
    retention_max=168
fi

# mtime_in FILE LO HI: for wait_for, since attributes may be cached for a
# moment (so may sizes: size_is in functions.sh).
mtime_in()
{
    local t
    t=$(stat -c %Y "$1")
    [ "$t" -ge "$2" ] && [ "$t" -le "$3" ]
}

# ---- first mount: two shards, no allow_delete ---------------------------
kfs_mount shards=2
s=$mnt/two

t0=$(date +%s)
mkdir "$s"
t1=$(date +%s)

assert_eq "$(ls "$mnt")" "two" "ls of the mount point"
[ -d "$s" ] || fail "$s is not a directory"
ls "$s" >"$tmp/ls"
printf '%s\n' shardId-000000000000 shardId-000000000001 >"$tmp/ls.expected"
assert_file_eq "$tmp/ls" "$tmp/ls.expected" "ls of a 2-shard stream"
for f in shardId-000000000000 shardId-000000000001; do
    [ -f "$s/$f" ] || fail "$s/$f is not a regular file"
done
# Any other name is a key file once created (docs/semantics.md, "Key
# files"): before, it does not exist, and looking it up lists nothing.
log_mark
expect_probe ENOENT stat "$s/some-key"
expect_probe ENOENT stat "$s/shardId-1"
expect_logged 0 0 '-' "lookups of key files never created"
assert_file_eq "$tmp/ls" "$tmp/ls.expected" "ls after looking up names never created"
expect_probe ENOENT stat "$s/shardId-000000000002"
expect_logged 0 1 'shardId-000000000002' "stat of a missing shard"
expect_probe ENOENT stat "$mnt/nostream"
expect_logged 0 1 'nostream' "stat of a missing stream"
assert_file_eq "$tmp/ls" "$tmp/ls.expected" "ls after looking up key files"

# Stream attributes (describe-stream-summary).
getfattr --absolute-names -d "$s" >"$tmp/stream.attrs"
cat "$tmp/stream.attrs"
for a in stream_name arn status retention_hours open_shard_count \
         shard_count stream_mode creation_time; do
    grep -q "^user\.kinesis\.$a=" "$tmp/stream.attrs" ||
        fail "getfattr -d on a stream does not show user.kinesis.$a"
done
assert_eq "$(xattr "$s" stream_name)" two "user.kinesis.stream_name"
assert_eq "$(xattr "$s" status)" ACTIVE "user.kinesis.status"
assert_eq "$(xattr "$s" retention_hours)" 24 "user.kinesis.retention_hours"
assert_eq "$(xattr "$s" open_shard_count)" 2 "user.kinesis.open_shard_count"
assert_eq "$(xattr "$s" shard_count)" 2 "user.kinesis.shard_count"
assert_eq "$(xattr "$s" stream_mode)" PROVISIONED "user.kinesis.stream_mode"
arn=$(xattr "$s" arn)
grep -q -x -E 'arn:[^:]+:kinesis:[^:]*:[^:]*:stream/two' <<<"$arn" ||
    fail "user.kinesis.arn '$arn' is not a Kinesis stream ARN for 'two'"
ct=$(xattr "$s" creation_time)
grep -q -x -E '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|\+00:00)' <<<"$ct" ||
    fail "user.kinesis.creation_time '$ct' is not ISO 8601 UTC"
ct_s=$(date -u -d "$ct" +%s)
if [ "$ct_s" -lt "$((t0 - ct_slack))" ] || [ "$ct_s" -gt "$t1" ]; then
    fail "creation_time $ct is not the time of the mkdir ($((t0 - ct_slack))..$t1)"
fi
# A stream's ctime is its creation time.
assert_eq "$(stat -c %Z "$s")" "$ct_s" "ctime of the stream directory"

# Shard attributes.
half=170141183460469231731687303715884105728   # 2^127
top=340282366920938463463374607431768211455    # 2^128 - 1
i=0
for range in "0 $(echo "$half - 1" | bc)" "$half $top"; do
    f=$s/$(shard_name $i)
    getfattr --absolute-names -d "$f" >"$tmp/shard.attrs"
    cat "$tmp/shard.attrs"
    for a in shard_id state hash_key_start hash_key_end sequence_number_start; do
        grep -q "^user\.kinesis\.$a=" "$tmp/shard.attrs" ||
            fail "getfattr -d on $(shard_name $i) does not show user.kinesis.$a"
    done
    # An open shard of a new stream has no end and no parents.
    for a in sequence_number_end parent_shard_id adjacent_parent_shard_id; do
        ! grep -q "^user\.kinesis\.$a=" "$tmp/shard.attrs" ||
            fail "an open shard of a new stream shows user.kinesis.$a"
    done
    assert_eq "$(xattr "$f" shard_id)" "$(shard_name $i)" "shard_id of shard $i"
    assert_eq "$(xattr "$f" state)" OPEN "state of shard $i"
    assert_eq "$(xattr "$f" hash_key_start)" "${range% *}" "hash_key_start of shard $i"
    assert_eq "$(xattr "$f" hash_key_end)" "${range#* }" "hash_key_end of shard $i"
    xattr "$f" sequence_number_start | grep -q -x -E '[0-9]+' ||
        fail "sequence_number_start of shard $i is not a decimal number"
    i=$((i + 1))
done

# Retention is writable within 24..8760 hours (168 on kinesalite).
setfattr -n user.kinesis.retention_hours -v 48 "$s"
assert_eq "$(xattr "$s" retention_hours)" 48 "retention_hours after setting 48"
log_mark
if setfattr -n user.kinesis.retention_hours -v 5 "$s" 2>/dev/null; then
    fail "setfattr retention_hours=5 succeeded"
fi
expect_logged 1 1 'two' "setfattr retention_hours=5"
expect_probe EINVAL setxattr "$s" user.kinesis.retention_hours 5
expect_logged 1 1 'two' "setxattr retention_hours=5"
expect_probe EINVAL setxattr "$s" user.kinesis.retention_hours 8761
expect_logged 1 1 'two' "setxattr retention_hours=8761"
expect_probe OK setxattr "$s" user.kinesis.retention_hours "$retention_max"
expect_probe OK setxattr "$s" user.kinesis.retention_hours 48
assert_eq "$(xattr "$s" retention_hours)" 48 "retention_hours after refused values"

# Sizes: a shard file holds the bytes of its records; with record=line a
# record without a newline reads with one added.  (On AWS a size is what
# the mount learned by reading: assert_size gives it a poll interval.)
s0=$s/shardId-000000000000
s1=$s/shardId-000000000001
assert_size "$s0" 0 "size of an empty shard"
assert_size "$s1" 0 "size of an empty shard"
mtime1=$(stat -c %Y "$s1")

sleep 1
w0=$(date +%s)
echo hello >>"$s0"
wait_for 3 "size of shard 0 is 6 after 'hello\\n'" size_is "$s0" 6
printf abc >>"$s0"
# The newest record, 'abc', arrived by now (the window covers the wait
# above, which on AWS lasts up to a poll interval).
w1=$(date +%s)
wait_for 3 "size of shard 0 is 10 after 'abc' (read as 'abc\\n')" size_is "$s0" 10
assert_reads "$s0" "hello
abc" "contents of shard 0"
# A shard file's mtime is the arrival time of its newest record.
wait_for 3 "mtime of shard 0 is the arrival of its record ($w0..$w1)" \
    mtime_in "$s0" "$w0" "$((w1 + 1))"
assert_eq "$(stat -c %Y "$s1")" "$mtime1" "mtime of shard 1, which got nothing"
assert_size "$s1" 0 "size of shard 1, which got nothing"

# A key that hashes into shard 1 grows shard 1 only.
for k in k0 k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11 k12 k13 k14 k15; do
    [ "$(key_shard "$k" 2)" = 1 ] && break
done
[ "$(key_shard "$k" 2)" = 1 ] || error "no test key hashes into shard 1"
sleep 1
w0=$(date +%s)
echo "to shard one" >>"$s/$k"
w1=$(date +%s)
wait_for 3 "size of shard 1 is 13 after a line to key $k" size_is "$s1" 13
wait_for 3 "mtime of shard 1 follows its new record" \
    mtime_in "$s1" "$w0" "$((w1 + 1))"
assert_size "$s0" 10 "size of shard 0 after a write to shard 1"
# The key file is listed now, with the size and mtime of its record.
assert_size "$s/$k" 13 "size of key file $k"
wait_for 3 "mtime of key file $k is its record's arrival" \
    mtime_in "$s/$k" "$w0" "$((w1 + 1))"
ls "$s" | LC_ALL=C sort >"$tmp/ls.keys"
printf '%s\n' "$k" shardId-000000000000 shardId-000000000001 >"$tmp/ls.keys.expected"
assert_file_eq "$tmp/ls.keys" "$tmp/ls.keys.expected" "ls of a stream with a key file"

# rmdir is refused without -o allow_delete.
log_mark
expect_probe EPERM rmdir "$s"
expect_logged 1 1 'two' "rmdir without allow_delete"
if rmdir "$s" 2>/dev/null; then
    fail "rmdir of a stream succeeded without allow_delete"
fi
expect_logged 1 1 'two' "rmdir(1) without allow_delete"
[ -d "$s" ] || fail "the stream is gone after a refused rmdir"
assert_eq "$(ls "$mnt")" "two" "ls after a refused rmdir"

kfs_umount

# ---- second mount: four shards, allow_delete ---------------------------
kfs_mount shards=4,allow_delete

# What the first mount made is still there.
assert_eq "$(ls "$mnt")" "two" "ls of the mount point after remounting"
# Key files' names last on the local engine, for the mount's life on AWS.
if on_aws; then
    assert_file_eq <(ls "$s") "$tmp/ls.expected" "ls of 'two' after remounting"
else
    assert_file_eq <(ls "$s" | LC_ALL=C sort) "$tmp/ls.keys.expected" "ls of 'two' after remounting"
    assert_size "$s/$k" 13 "size of key file $k after remounting"
fi
assert_eq "$(xattr "$s" retention_hours)" 48 "retention_hours after remounting"
assert_size "$s0" 10 "size of shard 0 after remounting"
assert_reads "$s0" "hello
abc" "contents of shard 0 after remounting"

mkdir "$mnt/four"
ls "$mnt/four" >"$tmp/ls4"
printf '%s\n' shardId-000000000000 shardId-000000000001 \
    shardId-000000000002 shardId-000000000003 >"$tmp/ls4.expected"
assert_file_eq "$tmp/ls4" "$tmp/ls4.expected" "ls of a 4-shard stream"
assert_eq "$(xattr "$mnt/four" open_shard_count)" 4 "open_shard_count of four"
# The four ranges split 0..2^128-1 evenly and without a gap.
next=0
for i in 0 1 2 3; do
    f=$mnt/four/$(shard_name $i)
    assert_eq "$(xattr "$f" hash_key_start)" "$next" "hash_key_start of four's shard $i"
    end=$(xattr "$f" hash_key_end)
    want=$(echo "($i + 1) * 2^126 - 1" | BC_LINE_LENGTH=0 bc)
    assert_eq "$end" "$want" "hash_key_end of four's shard $i"
    next=$(echo "$end + 1" | BC_LINE_LENGTH=0 bc)
done
assert_eq "$(ls "$mnt" | tr '\n' ' ')" "four two " "ls with two streams"

# rmdir deletes under allow_delete.
rmdir "$s"
assert_eq "$(ls "$mnt")" "four" "ls after rmdir"
log_mark
expect_probe ENOENT stat "$s"
expect_logged 0 1 'two' "stat of a deleted stream"
# The name is free again, for a new empty stream.
mkdir "$s"
assert_eq "$(ls "$s" | wc -l)" 4 "shard count of 'two' made again with shards=4"
assert_size "$s0" 0 "size of shard 0 of the new 'two'"

kfs_umount
