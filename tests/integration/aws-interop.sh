#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012,SC2010
# aws-interop.sh - SPEC section 6 both ways between the mount and the aws
# CLI (Debian's awscli, --endpoint-url at the same kinesalite): a record put
# with `aws kinesis put-record` is read with cat of the shard file and of
# the key file; lines appended with echo come back from get-shard-iterator
# + get-records with partition key and data intact; a stream made with
# mkdir is ACTIVE with its shards for describe-stream-summary; streams
# created and deleted with the CLI appear in and leave `ls` within the
# listing cache's few seconds, also past one page of ListStreams.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version

kfs_setup
listed() { ls_has "$mnt" "$1"; }
not_listed() { ! listed "$1"; }
stat_gone() { [ "$("$probe" stat "$1")" = ENOENT ]; }
status_is() { [ "$(xattr "$2" status 2>/dev/null)" = "$1" ]; }

kfs_mount shards=2
s=$mnt/AWSCookbook701

# ---- CLI -> mount --------------------------------------------------------
awsk create-stream --stream-name AWSCookbook701 --shard-count 1
wait_for 5 "a stream created with the aws CLI appears in ls" listed AWSCookbook701
wait_for 10 "the stream created with the aws CLI becomes ACTIVE in getfattr" \
    status_is ACTIVE "$s"
ls "$s" >"$tmp/stream.ls"
printf 'shardId-000000000000\n' >"$tmp/stream.ls.expected"
assert_file_eq "$tmp/stream.ls" "$tmp/stream.ls.expected" "ls of the stream the CLI created"

awsk put-record --stream-name AWSCookbook701 --partition-key 111 \
    --data '{"Data":"1"}' >"$tmp/put.json"
grep -q '"ShardId": "shardId-000000000000"' "$tmp/put.json" ||
    fail "put-record did not answer with the shard: $(cat "$tmp/put.json")"
# record=line adds the newline the record lacks.
printf '%s\n' '{"Data":"1"}' >"$tmp/record.expected"
timeout 30 cat "$s/shardId-000000000000" >"$tmp/shard.out"
assert_file_eq "$tmp/shard.out" "$tmp/record.expected" "cat of the shard after put-record"
# Key 111 has no key file yet (none was created through the mount): its
# records read through the key's view (docs/semantics.md, "Key files").
[ ! -e "$s/111" ] || fail "key file 111 exists without being created"
timeout 30 head -n 1 "$s/111@TRIM_HORIZON" >"$tmp/key.out"
assert_file_eq "$tmp/key.out" "$tmp/record.expected" "the view of key 111 after put-record"
# Once created, its window shows the key's records put after, by anyone.
touch "$s/111"
assert_bytes "$s/111" 0 "a key file created after put-record starts empty"
awsk put-record --stream-name AWSCookbook701 --partition-key 111 \
    --data '{"Data":"2"}' >/dev/null
assert_reads "$s/111" '{"Data":"2"}' "key file 111 after a second put-record"

# ---- mount -> CLI --------------------------------------------------------
echo 'hello from echo' >>"$s/222"
echo 'second line, same key' >>"$s/222"
echo 'to the shard file' >>"$s/shardId-000000000000"
aws_read_shard tsv AWSCookbook701 shardId-000000000000 "$tmp/records"
cat >"$tmp/records.expected" <<'EOF'
111	"{\"Data\":\"1\"}"
111	"{\"Data\":\"2\"}"
222	"hello from echo\n"
222	"second line, same key\n"
shardId-000000000000	"to the shard file\n"
EOF
assert_file_eq "$tmp/records" "$tmp/records.expected" \
    "get-records after put-record and three echo lines (key, data, order)"

# ---- mkdir -> CLI -------------------------------------------------------------
mkdir "$mnt/made-by-mkdir"
awsk describe-stream-summary --stream-name made-by-mkdir \
    --query 'StreamDescriptionSummary.[StreamStatus,OpenShardCount]' --output text >"$tmp/summary"
printf 'ACTIVE\t2\n' >"$tmp/summary.expected"
assert_file_eq "$tmp/summary" "$tmp/summary.expected" \
    "describe-stream-summary of a stream made by mkdir with shards=2"
echo 'line in a new stream' >>"$mnt/made-by-mkdir/k"
awsk list-shards --stream-name made-by-mkdir --query 'Shards[].ShardId' --output text |
    tr '\t' '\n' >"$tmp/shards"
found=
while read -r shard; do
    aws_read_shard tsv made-by-mkdir "$shard" "$tmp/new.$shard"
    if grep -q -x -F "k	\"line in a new stream\\n\"" "$tmp/new.$shard"; then
        found=$shard
    fi
done <"$tmp/shards"
assert_eq "$found" "$(shard_name "$(key_shard k 2)")" \
    "the shard get-records finds a line of key k in (where MD5 puts it)"

# ---- more streams than one ListStreams page (kinesalite gives 10) -----------
for i in $(seq -w 1 10); do
    mkdir "$mnt/page-$i"
done
awsk create-stream --stream-name zz-from-cli --shard-count 3
wait_for 5 "a stream created with the CLI after 13 others appears in ls" listed zz-from-cli
ls "$mnt" >"$tmp/root.ls"
{
    echo AWSCookbook701
    echo made-by-mkdir
    for i in $(seq -w 1 10); do echo "page-$i"; done
    echo zz-from-cli
} >"$tmp/root.ls.expected"
assert_file_eq "$tmp/root.ls" "$tmp/root.ls.expected" "ls of the mount point with 13 streams"
wait_for 10 "zz-from-cli becomes ACTIVE" status_is ACTIVE "$mnt/zz-from-cli"
assert_eq "$(ls "$mnt/zz-from-cli" | tr '\n' ' ')" \
    "shardId-000000000000 shardId-000000000001 shardId-000000000002 " \
    "ls of a 3-shard stream the CLI created"
# The CLI pages with NextToken, which kinesalite does not give: one page
# of 100 holds them all.
awsk list-streams --page-size 100 --query 'StreamNames' --output text | tr '\t' '\n' | sort >"$tmp/cli.ls"
sort "$tmp/root.ls.expected" >"$tmp/root.ls.sorted"
assert_file_eq "$tmp/cli.ls" "$tmp/root.ls.sorted" "aws kinesis list-streams"

# ---- deleted with the CLI: gone from ls -----------------------------------------
awsk delete-stream --stream-name zz-from-cli
wait_for 5 "a stream deleted with the aws CLI leaves ls" not_listed zz-from-cli
# The listing and the stream's description are cached apart, each for the
# cache period (2 s, docs/aws.md): the description may still be the one
# from before the delete for a moment after the listing has moved on.
wait_for 5 "stat of a stream deleted with the aws CLI gives ENOENT" \
    stat_gone "$mnt/zz-from-cli"
log_mark
expect_probe ENOENT stat "$mnt/zz-from-cli"
# The kernel may ask twice: once to revalidate the name it knew, once more.
expect_logged -i 0 2 'zz-from-cli' "stat of a stream deleted with the CLI"

kfs_umount
