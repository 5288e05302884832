#!/usr/bin/env bash
# kpl-write.sh - writing KPL aggregated records (-o aggregate, and the
# stream's user.kinesis.aggregate), on both backends (docs/aggregation.md):
#   - four writers of 1,500 lines each (three big writes, one a line per
#     write), one key each, into a 2-shard stream: every key file reads
#     back its lines in order; the shard files hold every line and their
#     sizes are what cat gives;
#   - the JSON lines show every line as a user record (SubSequenceNumber),
#     in far fewer Kinesis records than lines;
#   - on AWS the aws CLI gets aggregated records that the npm
#     aws-kinesis-agg de-aggregates (as the KCL would) into every line,
#     each key's in order;
#   - a reshard (shard 0 split) while a writer writes a key a line at a
#     time: the key file and the key's view give every line once, in
#     order;
#   - user.kinesis.aggregate reads 1, takes 0 (then records go plain) and
#     refuses anything but 0 and 1 with EINVAL and a log line.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires jq --version
requires getfattr --version
requires setfattr --version
requires bc --version

kfs_setup
view_ms=$((15000 * kfs_slow))
n=1500
s=$mnt/agw

for k in 0 1 2 3; do
    awk -v k="$k" -v n="$n" 'BEGIN {
        for (i = 1; i <= n; i++)
            printf "k%d line %d: %s caf\303\251\n", k, i, substr("GET /index.html HTTP/1.1 200 612 \"-\" \"curl/7.88.1\" 0123456789", 1, 30 + (i * 7 + k) % 45)
    }' >"$tmp/lines.$k"
done
cat "$tmp"/lines.[0-3] | sort >"$tmp/all.sorted"

kfs_mount shards=2,aggregate
mkdir "$s"
assert_eq "$(getfattr --absolute-names -n user.kinesis.aggregate --only-values "$s")" 1 \
    "user.kinesis.aggregate with -o aggregate"
pids=()
for k in 0 1 2; do
    cat "$tmp/lines.$k" >>"$s/k$k" &
    pids+=($!)
done
# A line a write(2), as a logging program writes.
{ while IFS= read -r l; do printf '%s\n' "$l"; done <"$tmp/lines.3"; } >>"$s/k3" &
pids+=($!)
for pid in "${pids[@]}"; do
    wait "$pid" || fail "a writer failed"
done

for k in 0 1 2 3; do
    read_into "$tmp/got.$k" "$s/k$k"
    assert_file_eq "$tmp/got.$k" "$tmp/lines.$k" "key file k$k"
done
total=0
for sh in 0 1; do
    read_into "$tmp/shard.$sh" "$s/$(shard_name "$sh")"
    assert_size "$s/$(shard_name "$sh")" "$(file_size "$tmp/shard.$sh")" "size of shard $sh"
    total=$((total + $(file_size "$tmp/shard.$sh")))
done
cat "$tmp"/shard.[01] | sort >"$tmp/shards.sorted"
assert_file_eq "$tmp/shards.sorted" "$tmp/all.sorted" "the shard files' lines"
msg "4 x $n lines: key files in order, shard files and sizes ($total bytes)"

"$probe" read-for "$s/@TRIM_HORIZON.jsonl" "$view_ms" "$((4 * n))l" >"$tmp/all.jsonl" 2>/dev/null
assert_eq "$(grep -c '' "$tmp/all.jsonl")" "$((4 * n))" "JSON lines"
users=$(jq -s '[.[] | select(has("SubSequenceNumber"))] | length' "$tmp/all.jsonl")
assert_eq "$users" "$((4 * n))" "user records among the JSON lines"
records=$(jq -r .SequenceNumber "$tmp/all.jsonl" | sort -u | grep -c '')
[ "$records" -le $((4 * n / 20)) ] ||
    fail "$records Kinesis records for $((4 * n)) lines: expected at most $((4 * n / 20))"
read_into "$tmp/metrics" "$mnt/@metrics"
assert_eq "$(sed -n 's/^kinesisfs_put_kinesis_records_total{stream="agw"} //p' "$tmp/metrics")" \
    "$records" "put_kinesis_records_total of agw"
assert_eq "$(sed -n 's/^kinesisfs_put_records_total{stream="agw"} //p' "$tmp/metrics")" \
    "$((4 * n))" "put_records_total of agw"
msg "JSON lines and @metrics: $((4 * n)) user records in $records Kinesis records"

if on_aws; then
    aws_read_stream agg agw "$tmp/cli.agg"
    cut -f2 "$tmp/cli.agg" | jq -j . | sort >"$tmp/cli.sorted"
    assert_file_eq "$tmp/cli.sorted" "$tmp/all.sorted" "lines de-aggregated by aws-kinesis-agg"
    for k in 0 1 2 3; do
        awk -F '\t' -v k="k$k" '$1 == k' "$tmp/cli.agg" | cut -f2 | jq -j . >"$tmp/cli.$k"
        assert_file_eq "$tmp/cli.$k" "$tmp/lines.$k" "key k$k de-aggregated by aws-kinesis-agg"
    done
    aws_read_stream tsv agw "$tmp/cli.tsv"
    assert_eq "$(grep -c '' "$tmp/cli.tsv")" "$records" "Kinesis records the aws CLI reads"
    msg "aws CLI + aws-kinesis-agg: every line, each key in order"
fi

# ---- a reshard while aggregating -------------------------------------------
r=$mnt/rs
mkdir "$r"
seq -f 'rs line %g' 1 3000 >"$tmp/rs.want"
# A line a write, 100 lines every 50 ms (100 on AWS, where the split
# takes the aws CLI's start too): some 1.5 to 3 s of writing.
pause=0.05
on_aws && pause=0.1
{
    i=0
    while IFS= read -r l; do
        printf '%s\n' "$l"
        i=$((i + 1))
        [ $((i % 100)) != 0 ] || sleep "$pause"
    done <"$tmp/rs.want"
} >>"$r/k" &
w=$!
bg_pids+=("$w")
sleep 0.3
if on_aws; then
    # The shard of key k, split in the middle of its range.
    if [ "$(key_shard k 2)" = 0 ]; then
        awsk split-shard --stream-name rs --shard-to-split "$(shard_name 0)" \
            --new-starting-hash-key 85070591730234615865843651857942052864
    else
        awsk split-shard --stream-name rs --shard-to-split "$(shard_name 1)" \
            --new-starting-hash-key 255211775190703847597530955573826158592
    fi
else
    setfattr -n user.kinesis.shard_count -v 4 "$r"
fi
wait "$w" || fail "the writer during the reshard failed"
wait_for 20 "rs lists its children" ls_has "$r" "$(shard_name 2)"
read_into "$tmp/rs.got" "$r/k"
assert_file_eq "$tmp/rs.got" "$tmp/rs.want" "key file k across the reshard"
"$probe" read-for "$r/k@TRIM_HORIZON.jsonl" "$view_ms" 3000l >"$tmp/rs.jsonl" 2>/dev/null
jq -s -e 'length == 3000 and all(has("SubSequenceNumber"))' "$tmp/rs.jsonl" >/dev/null ||
    fail "the key's view across the reshard: $(grep -c '' "$tmp/rs.jsonl") lines, or not all aggregated"
jq -j .Data "$tmp/rs.jsonl" >"$tmp/rs.view"
assert_file_eq "$tmp/rs.view" "$tmp/rs.want" "the key's view across the reshard"
nsh=$(jq -r .ShardId "$tmp/rs.jsonl" | sort -u | grep -c '')
[ "$nsh" -ge 2 ] || fail "the key's lines are all in one shard: the reshard came after the writer"
msg "a reshard while aggregating: 3,000 lines of a key once, in order, in $nsh shards"

# ---- the attribute -----------------------------------------------------------
log_mark
rc=0
setfattr -n user.kinesis.aggregate -v 2 "$s" 2>"$tmp/setfattr.err" || rc=$?
[ "$rc" -ne 0 ] && grep -q 'Invalid argument' "$tmp/setfattr.err" ||
    fail "user.kinesis.aggregate=2: status $rc, $(cat "$tmp/setfattr.err")"
expect_logged 1 1 'agw.*aggregate takes 1 \(on\) or 0 \(off\)' "a bad user.kinesis.aggregate"
setfattr -n user.kinesis.aggregate -v 0 "$s"
assert_eq "$(getfattr --absolute-names -n user.kinesis.aggregate --only-values "$s")" 0 \
    "user.kinesis.aggregate set to 0"
printf 'plain %d\n' 1 2 3 >>"$s/k9"
"$probe" read-for "$s/k9@TRIM_HORIZON.jsonl" "$view_ms" 3l >"$tmp/k9.jsonl" 2>/dev/null
jq -s -e 'length == 3 and all(has("SubSequenceNumber") | not)' "$tmp/k9.jsonl" >/dev/null ||
    fail "records written with user.kinesis.aggregate=0 are aggregated: $(cat "$tmp/k9.jsonl")"
msg "user.kinesis.aggregate: 1, then 0 (plain records), EINVAL for 2"
kfs_umount
msg "OK"
