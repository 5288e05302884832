#!/usr/bin/env bash
# kpl-read.sh - KPL aggregated records put by another producer read as
# their user records (docs/aggregation.md), on both backends: 240 user
# records over 6 partition keys (some with explicit hash keys, lines with
# and without a newline, tabs, UTF-8), packed by the npm aws-kinesis-agg
# into 4 aggregated records, are put as they are (a write-framed mount,
# one write a record, beside a plain record and an aggregated one with a
# bad digest).  Then, through a line-framed mount:
#   - the shard file is every user record in order, the plain record, and
#     the damaged one as the plain data it is (one log line); its size is
#     the size of what cat gives;
#   - a key file made before the puts shows its key's user records only,
#     with that size, and so does the key's @TRIM_HORIZON view; the
#     stream's @TRIM_HORIZON view gives what the shard file gives;
#   - the JSON lines give each user record its own PartitionKey, its
#     ExplicitHashKey where it has one, its record's SequenceNumber and a
#     SubSequenceNumber counting from 0 in each aggregated record; the
#     plain records have none;
#   - the backend stores what it was given: 6 Kinesis records (the aws
#     CLI reads them on AWS); on the local engine all of it again after a
#     remount, the first after a kill -9 right after the puts (the key
#     postings rebuilt from the records).
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires node --version
requires jq --version
agg_tool=$KFS_SRCDIR/tests/aws/agg-tool.js
[ -f "$KFS_AWS_NODE_MODULES/aws-kinesis-agg/package.json" ] ||
    error "aws-kinesis-agg is not installed in $KFS_AWS_NODE_MODULES (./quickstart test, or npm ci --prefix tests/aws)"
export NODE_PATH=$KFS_AWS_NODE_MODULES

kfs_setup
view_ms=$((15000 * kfs_slow))
s=$mnt/agg
shard=$s/$(shard_name 0)

# The user records: "KEY<TAB>EHK or -<TAB>DATA as a JSON string", in 4
# batches, each packed into one aggregated record.
awk 'BEGIN {
    for (i = 1; i <= 240; i++) {
        key = "k" (i * 7 % 6)
        ehk = (i % 7 == 0) ? (i * 1000003) "00000000000000000000" : "-"
        d = "user record " i " of " key
        if (i % 10 == 0) d = d "\\tcaf\303\251 \342\202\254"
        if (i % 3 == 0) d = d "\\n"
        printf "%s\t%s\t\"%s\"\n", key, ehk, d > ("'"$tmp"'/in." int((i - 1) / 60))
    }
}'
for b in 0 1 2 3; do
    node "$agg_tool" encode "$tmp/in.$b" "$tmp/agg.$b" >"$tmp/agg.$b.list" ||
        fail "aws-kinesis-agg could not pack batch $b"
    assert_eq "$(grep -c '' "$tmp/agg.$b.list")" 1 "aggregated records of batch $b"
done
cat "$tmp"/in.[0-3] >"$tmp/in.tsv"
# A copy of the first with a byte of its digest changed: plain data.
cp "$tmp/agg.0.1" "$tmp/bad"
size=$(file_size "$tmp/bad")
printf '\xff' | dd of="$tmp/bad" bs=1 seek=$((size - 1)) conv=notrunc status=none

# ---- put as they are ------------------------------------------------------
# put KEY FILE: one record, FILE's bytes, of partition key KEY: on the
# local engine one write through a write-framed mount, on AWS with the aws
# CLI (another producer: this mount counts what it reads of it).
put()
{
    if on_aws; then
        awsk put-record --stream-name agg --partition-key "$1" \
            --data "fileb://$2" >/dev/null || fail "aws kinesis put-record $2 failed"
    else
        cat "$2" >>"$s/$1" || fail "writing $2 to agg/$1 failed"
    fi
}
if on_aws; then
    kfs_mount shards=1
else
    kfs_mount shards=1,record=write
fi
mkdir "$s"
: >"$s/k3"   # a key file made before the puts
printf 'a plain record between' >"$tmp/plain"
put_agg() { put "$(cut -f2 "$tmp/agg.$1.list")" "$tmp/agg.$1.1"; }
put_agg 0
put_agg 1
put plain "$tmp/plain"
put plain "$tmp/bad"
put_agg 2
put_agg 3
# On the local engine the daemon is killed right after the puts: the
# next open rebuilds the key postings from the records (the aggregated
# ones posted under each key they hold).
on_aws || { kfs_kill9; kfs_mount shards=1; }

# What the mount is to show, with a newline after a record that lacks one.
lines() { jq -j 'if endswith("\n") then . else . + "\n" end'; }
{
    cut -f3 "$tmp/in.0" "$tmp/in.1" | lines
    printf 'a plain record between\n'
    cat "$tmp/bad"
    [ "$(tail -c 1 "$tmp/bad" | od -An -c | tr -d ' ')" = '\n' ] || echo
    cut -f3 "$tmp/in.2" "$tmp/in.3" | lines
} >"$tmp/shard.expected"
awk -F '\t' '$1 == "k3"' "$tmp/in.tsv" | cut -f3 | lines >"$tmp/k3.expected"

check_reads()
{
    read_into "$tmp/shard.got" "$shard"
    assert_file_eq "$tmp/shard.got" "$tmp/shard.expected" "the shard file"
    assert_size "$shard" "$(file_size "$tmp/shard.expected")" "the shard file's size"
    read_into "$tmp/k3.got" "$s/k3"
    assert_file_eq "$tmp/k3.got" "$tmp/k3.expected" "key file k3"
    assert_size "$s/k3" "$(file_size "$tmp/k3.expected")" "key file k3's size"
}

log_mark
check_reads
msg "shard file, key file and sizes: 240 user records, 2 plain"
expect_logged -i 1 1 'agg/shardId-000000000000: 1 record with the KPL magic but not aggregated \(MD5 mismatch\): read as plain data' \
    "the damaged aggregated record"

"$probe" read-for "$s/k3@TRIM_HORIZON" "$view_ms" "$(grep -c '' "$tmp/k3.expected")l" \
    >"$tmp/k3view.got" 2>/dev/null
assert_file_eq "$tmp/k3view.got" "$tmp/k3.expected" "the view k3@TRIM_HORIZON"
# The stream's text view (expanded as it is rendered).
"$probe" read-for "$s/@TRIM_HORIZON" "$view_ms" "$(file_size "$tmp/shard.expected")" \
    >"$tmp/sview.got" 2>/dev/null
assert_file_eq "$tmp/sview.got" "$tmp/shard.expected" "the view @TRIM_HORIZON"

# ---- JSON lines ------------------------------------------------------------
"$probe" read-for "$s/@TRIM_HORIZON.jsonl" "$view_ms" 242l >"$tmp/all.jsonl" 2>/dev/null
assert_eq "$(grep -c '' "$tmp/all.jsonl")" 242 "JSON lines"
jq -c 'select(has("SubSequenceNumber")) | [.PartitionKey, (.ExplicitHashKey // "-"), .Data]' \
    "$tmp/all.jsonl" >"$tmp/users.got"
jq -R -c 'split("\t") | [.[0], .[1], (.[2] | fromjson)]' "$tmp/in.tsv" >"$tmp/users.expected"
assert_file_eq "$tmp/users.got" "$tmp/users.expected" "user records in JSON lines"
jq -s -e '[.[] | select(has("SubSequenceNumber"))] | group_by(.SequenceNumber) |
          length == 4 and all(map(.SubSequenceNumber) == [range(length)])' \
    "$tmp/all.jsonl" >/dev/null ||
    fail "sub-sequence numbers do not count from 0 in each of 4 aggregated records"
jq -s -e '[.[] | select(has("SubSequenceNumber") | not)] |
          length == 2 and all(has("ExplicitHashKey") | not) and
          .[0].Data == "a plain record between" and .[1].DataEncoding == "base64"' \
    "$tmp/all.jsonl" >/dev/null || fail "the plain records in JSON lines: $(grep -v SubSequence "$tmp/all.jsonl" | head -c 600)"
msg "JSON lines: keys, hash keys, sequence and sub-sequence numbers"

# ---- stored as given ---------------------------------------------------------
if on_aws; then
    aws_read_shard raw agg "$(shard_name 0)" "$tmp/cli.raw"
    cat "$tmp"/agg.0.1 "$tmp"/agg.1.1 >"$tmp/cli.expected"
    printf 'a plain record between' >>"$tmp/cli.expected"
    cat "$tmp/bad" "$tmp"/agg.2.1 "$tmp"/agg.3.1 >>"$tmp/cli.expected"
    assert_file_eq "$tmp/cli.raw" "$tmp/cli.expected" "the records the aws CLI reads"
    kfs_umount
else
    kfs_umount
    kfs_mount shards=1
    check_reads
    kfs_umount
    kfs_mount shards=1,record=write
    read_into "$tmp/raw.got" "$shard"
    assert_eq "$(file_size "$tmp/raw.got")" "$(cut -f3 "$tmp/in.tsv" | jq -j . | wc -c | \
        awk -v b="$(file_size "$tmp/bad")" '{ print $1 + 22 + b }')" "bytes with record=write"
    kfs_umount
fi
msg "OK"
