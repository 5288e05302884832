#!/usr/bin/env bash
# aws-throttle.sh - throttling as backpressure (docs/aws.md, "Throttling as
# backpressure"): through the fault proxy's limits mode (the service's
# per-shard write limits, 1 MiB and 1,000 records a second), one writer
# puts 8 MB of 1,000-byte lines as fast as it can (far more than the 2 MiB
# a second the shards take) into one file of a 2-shard stream that
# spreads its lines over both shards:
#   - every line is stored exactly once;
#   - the write (to close(2), which waits for every line) sustains at
#     least 80% of the two shards' limits;
#   - few entries are throttled: at most 20% of those sent and half the
#     calls (the first throttled call teaches kinesisfs the rates: 214 to
#     300 of ~8,300 entries, 1 call of 17, in the runs that set these
#     bounds; without pacing 3,488 of 11,488 entries, in 19 of 35 calls),
#     the rest paced by kinesisfs (it logs that it paces a shard once
#     throttled);
#   - without aggregation, then with it (user.kinesis.aggregate): bytes
#     are then the limit, and the same 8 MB go in far fewer records.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires setfattr --version
requires jq --version

kfs_setup
fault_proxy_start
kfs_mount shards=2,spread
s=$mnt/busy
mkdir "$s"
limit=1048576
n=8000

# phase NAME: the writer's 8 MB under the limits, checked.
phase()
{
    local name=$1 t0 t1 ms rate sent limited calls lcalls
    awk -v n="$n" -v t="$name" 'BEGIN {
        pad = sprintf("%0980d", 0)
        for (i = 1; i <= n; i++) printf "%s %05d %s\n", t, i, pad
    }' >"$tmp/lines.$name"
    fault_mode "limits bytes=$limit records=1000"
    sent=$(stat_of entries_forwarded)
    limited=$(stat_of faults.limited_entries)
    calls=$(stat_of actions.PutRecords)
    lcalls=$(stat_of faults.limited_requests)
    t0=$(date +%s%N)
    cat "$tmp/lines.$name" >>"$s/app.log" || fail "$name: the writer failed"
    t1=$(date +%s%N)
    fault_mode none
    ms=$(((t1 - t0) / 1000000))
    sent=$(($(stat_of entries_forwarded) - sent))
    limited=$(($(stat_of faults.limited_entries) - limited))
    calls=$(($(stat_of actions.PutRecords) - calls))
    lcalls=$(($(stat_of faults.limited_requests) - lcalls))
    bytes=$(file_size "$tmp/lines.$name")
    rate=$((bytes * 1000 / (ms > 0 ? ms : 1)))
    msg "$name: $bytes bytes in $ms ms: $((rate / 1024)) KiB/s of the shards' $((2 * limit / 1024)); $limited of $((sent + limited)) entries throttled, in $lcalls of $calls calls"
    # The buckets start full (a second's worth), which the rate counts
    # in: at least 80% of the limits.
    [ "$rate" -ge $((2 * limit * 8 / 10)) ] ||
        fail "$name: $rate bytes/s, less than 80% of the shards' $((2 * limit))"
    # The first throttled call teaches kinesisfs the shards' rates (one
    # batch of entries).
    [ $((limited * 5)) -le $((sent + limited)) ] ||
        fail "$name: $limited of $((sent + limited)) entries throttled, more than 20%"
    [ $((lcalls * 2)) -le "$calls" ] ||
        fail "$name: $lcalls of $calls calls throttled, more than half"
}

log_mark
phase plain
expect_logged -i 1 2 'busy, shardId-00000000000[01]: throttled: writes to it are paced' \
    "the shards paced"
setfattr -n user.kinesis.aggregate -v 1 "$s"
phase agg

aws_read_stream agg busy "$tmp/all"
cut -f2 "$tmp/all" | jq -j . | sort >"$tmp/got"
cat "$tmp/lines.plain" "$tmp/lines.agg" | sort >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "every line stored exactly once"
kfs_umount
msg "OK"
