#!/usr/bin/env bash
# shellcheck disable=SC2119
# aws-faults.sh - the AWS backend under the faults of the real service,
# injected by tests/aws/fault-proxy.js between the mount and kinesalite:
# connection resets, HTTP 500, ProvisionedThroughputExceededException,
# PutRecords with some entries failed (a suffix of a shard's entries, as a
# throttled shard does), slow answers, a mix of them, and the endpoint gone
# for 10 s.  Each fault hits a request before anything of it is stored, and
# no record is faulted more than twice, well within any retry budget.  So:
# every writer succeeds (writes, fsyncs, close), and read back with the aws
# CLI straight from kinesalite every line is there exactly once, under its
# partition key, each writer's lines in order in each key.  Then the same
# records read through the mount while reads are faulted.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

kfs_setup
fault_proxy_start

# Retries are worth a warning in the log, at most; an error is not.  The
# warnings an outage may cause: a cached answer standing in for the
# service, a follower waiting for it.
expect_log '^kinesisfs: warning: (ListStreams |(DescribeStreamSummary|ListShards) faults): no answer from the service \([^)]*\); using the one of [0-9]+ s ago$'
expect_log '^kinesisfs: warning: read faults/[^:]+: Input/output error; trying again every [0-9]+ ms$'
kfs_mount shards=4
s=$mnt/faults
mkdir "$s"

# The writers of a phase: ID suffix, then the files they write, line n to
# file (n-1) % count; keys shared between writers, and a shard file (its
# records carry an ExplicitHashKey).
writers="w0 key0,key1
w1 key1,key2
w2 key2,key3,key4
w3 key4,key5
w4 shardId-000000000003"
nlines=200

# wait_writers N: every writer succeeded and acknowledged all N lines.
wait_writers()
{
    local i
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || fail "writer ${ids[$i]} saw an error: $(cat "$tmp/err.${ids[$i]}")"
        assert_eq "$(tail -n 1 "$tmp/acks.${ids[$i]}" | awk '{ print $4 }')" "$1" \
            "the last line acknowledged to ${ids[$i]}"
    done
}

# ---- writing under each fault ------------------------------------------
for phase in "reset rate=0.5 repeat=2:reset" \
             "http500 rate=0.5 repeat=2:http500" \
             "throttle rate=0.5 repeat=2:throttle" \
             "partial rate=0.7 repeat=2:partial_requests" \
             "slow rate=0.2 ms=1500:slow" \
             "mix rate=0.5 repeat=2:"; do
    line=${phase%%:*}
    counter=${phase##*:}
    name=${line%% *}
    before=${counter:+$(stat_of "faults.$counter")}
    faulted_before=$(stat_of faulted_records)
    fault_mode "$line"
    t0=$(date +%s)
    start_writers "$name" "$nlines" 20
    wait_writers "$nlines"
    fault_mode none
    if [ -n "$counter" ]; then
        after=$(stat_of "faults.$counter")
        [ "$after" -gt "$before" ] || fail "phase '$line': no fault was injected"
    else
        after=$(stat_of faulted_records)
        [ "$after" -gt "$faulted_before" ] || fail "phase '$line': no fault was injected"
    fi
    if [ -n "$counter" ]; then
        msg "phase '$line': $((after - before)) faults, $(($(date +%s) - t0))s"
    else
        msg "phase '$line': $((after - faulted_before)) records faulted, $(($(date +%s) - t0))s"
    fi
done
msg "partial failures: $(stat_of faults.partial_entries) entries failed in $(stat_of faults.partial_requests) PutRecords"

# ---- the endpoint gone for 10 s ----------------------------------------------
# Two writers are caught in the middle of their work, three more start
# while the port is closed; all of them must get through once it is back.
pids=()
ids=()
writers_before=$writers
writers="w0 key0,key1
w4 shardId-000000000003"
outage_starts 10
writers="w1 key1,key2
w2 key2,key3,key4
w3 key4,key5"
start_writers gone-late 100 10
wait_writers 100
t_back=$(date +%s)
[ $((t_back - t_gone)) -ge 8 ] ||
    fail "writers started while the endpoint was gone finished after $((t_back - t_gone))s: the outage was not felt"
pids=("${early_pids[@]}")
ids=("${early_ids[@]}")
wait_writers 2000
wait_for 15 "the fault proxy is back" _fault_mode_is none
msg "endpoint gone: writers done $((t_back - t_gone))s after it went"
writers=$writers_before

# ---- everything, read with the aws CLI from kinesalite ------------------------
while read -r id files n; do
    writer_lines "$id" "$files" 1 "$n"
done <"$tmp/writer.ids" >"$tmp/expected"
aws_read_stream tsv faults "$tmp/got"
sort "$tmp/got" >"$tmp/got.sorted"
sort "$tmp/expected" >"$tmp/expected.sorted"
assert_once "$tmp/got.sorted" "records are stored"
if ! cmp -s "$tmp/got.sorted" "$tmp/expected.sorted"; then
    echo "stored but not written (or under another key):" >&2
    comm -23 "$tmp/got.sorted" "$tmp/expected.sorted" | sed -n 1,5p >&2
    echo "written but not stored:" >&2
    comm -13 "$tmp/got.sorted" "$tmp/expected.sorted" | sed -n 1,5p >&2
    fail "the stream does not hold each written line exactly once under its key"
fi
assert_eq "$(wc -l <"$tmp/got")" "$(wc -l <"$tmp/expected")" "records in the stream"
# In stream order: each writer's lines in order within each key.
awk -F '\t' '{ split(substr($2, 2), w, " "); k = $1 SUBSEP w[1]
               if ((k in last) && w[2] + 0 <= last[k]) { print "out of order: " $0; exit 1 }
               last[k] = w[2] + 0 }' "$tmp/got" >&2 ||
    fail "a writer's lines are out of order in a key"
msg "$(wc -l <"$tmp/got") records, each once, in order"

# ---- read back through the mount, with reads faulted ---------------------------
# The records of each key as the CLI found them, decoded.
for k in key0 key1 key2 key3 key4 key5; do
    awk -F '\t' -v k="$k" '$1 == k { s = substr($2, 2, length($2) - 4); print s }' \
        "$tmp/got" >"$tmp/key.$k.expected"
done
aws_read_shard raw faults shardId-000000000003 "$tmp/shard3.expected"
fault_mode "mix rate=0.3 repeat=2 actions=ListStreams,DescribeStreamSummary,ListShards,GetShardIterator,GetRecords"
reads_before=$(stat_of faulted_records)
for k in key0 key1 key2 key3 key4 key5; do
    timeout 120 cat "$s/$k" >"$tmp/key.$k" || fail "cat of key $k failed with reads faulted"
    assert_file_eq "$tmp/key.$k" "$tmp/key.$k.expected" "key $k read through the mount"
done
timeout 120 cat "$s/shardId-000000000003" >"$tmp/shard3" ||
    fail "cat of shard 3 failed with reads faulted"
assert_file_eq "$tmp/shard3" "$tmp/shard3.expected" "shard 3 read through the mount"
[ "$(stat_of faulted_records)" -gt "$reads_before" ] || fail "no read was faulted"
fault_mode none
assert_eq "$(stat_of upstream_errors)" 0 "requests kinesalite did not answer"

kfs_umount
