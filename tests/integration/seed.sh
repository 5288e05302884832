#!/usr/bin/env bash
# shellcheck disable=SC2119
# seed.sh - SPEC section 6, step by step, on either backend: the AWS CLI
# seed scenario as a user runs it with mkdir, getfattr, echo and cat.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version

kfs_setup
kfs_mount

s=$mnt/AWSCookbook701

# create-stream --stream-name AWSCookbook701 --shard-count 1
mkdir "$s"
ls "$mnt" >"$tmp/root.ls"
printf 'AWSCookbook701\n' >"$tmp/root.expected"
assert_file_eq "$tmp/root.ls" "$tmp/root.expected" "ls of the mount point"
ls "$s" >"$tmp/stream.ls"
printf 'shardId-000000000000\n' >"$tmp/stream.expected"
assert_file_eq "$tmp/stream.ls" "$tmp/stream.expected" "ls of the new stream"

# describe-stream-summary: status ACTIVE
getfattr --absolute-names -d "$s" >"$tmp/summary"
cat "$tmp/summary"
grep -q -x 'user.kinesis.status="ACTIVE"' "$tmp/summary" ||
    fail "getfattr -d does not show user.kinesis.status=\"ACTIVE\""
grep -q -x 'user.kinesis.stream_name="AWSCookbook701"' "$tmp/summary" ||
    fail "getfattr -d does not show the stream name"

# put-record --partition-key 111 --data '{"Data":"1"}'
echo '{"Data":"1"}' >>"$s/111"

# get-shard-iterator TRIM_HORIZON + get-records
printf '%s\n' '{"Data":"1"}' >"$tmp/record.expected"
timeout 30 cat "$s/shardId-000000000000" >"$tmp/shard.out"
assert_file_eq "$tmp/shard.out" "$tmp/record.expected" "cat of shardId-000000000000"

# The key file gives the records of partition key 111.
timeout 30 cat "$s/111" >"$tmp/key.out"
assert_file_eq "$tmp/key.out" "$tmp/record.expected" "cat of key file 111"

# A second cat starts again at TRIM_HORIZON.
timeout 30 cat "$s/shardId-000000000000" >"$tmp/shard2.out"
assert_file_eq "$tmp/shard2.out" "$tmp/record.expected" "second cat of the shard"

kfs_umount
