#!/bin/bash
# backpressure.sh - a writer faster than the backend blocks, memory stays
# bounded, nothing is lost (SPEC 3, "Backpressure, not loss";
# docs/semantics.md, "Acknowledgement and durability": the queue holds at
# most 16 MiB of records, and write(2) blocks when it is full).
#
# Four writers (awk) append 10 MiB each, in lines of 64 KiB, to four key
# files of one stream (a key in each of its four shards), as fast as they
# can.  On AWS the fault proxy holds every PutRecords half a second before kinesalite sees it, so the backend
# takes a few MiB a second; on the local engine it is the disk.  Every
# 0.2 s the test samples what the writers have written (wchar, from
# /proc/PID/io) and what the daemon has stored (kinesisfs_put_bytes_total
# of @metrics): written minus stored never passes the queue's bound
# (kinesisfs_producer_queue_limit_bytes) plus what a write in progress and
# a partial line hold, and the queue's own memory gauge never passes its
# limit.  At the end the daemon's peak RSS (VmHWM) is under 64 MiB (the
# target of docs/PERFORMANCE.md, figure 7), on AWS too, with its requests
# in flight (not checked under valgrind or the sanitizers, which add their
# own), and the shard holds each writer's
# lines exactly once, in order.  On AWS the writers must have reached
# the queue's bound (else the backend was not the slower one).
. "$(dirname "$0")/functions.sh"
kfs_setup

if on_aws; then
    fault_proxy_start
fi
requires bc --version
# Four shards, a writer's key in each: kinesalite answers a GetRecords
# with every record up to the tip, which for one shard of everything
# would pass the largest answer the mount takes (64 MiB; the service
# gives 10 MiB at most).
# awk writes a 64 KiB line in pieces (of 4 KiB), which stay one record
# however slowly they come (no timer cuts a line: docs/semantics.md).
kfs_mount shards=4,linger_ms=60000
s=$mnt/s
mkdir "$s"
ids=()
for ((i = 0; ${#ids[@]} < 4 && i < 200; i++)); do
    k=W$i
    [ -z "${shard_of[$(key_shard "$k" 4)]:-}" ] || continue
    shard_of[$(key_shard "$k" 4)]=$k
    ids+=("$k")
done
[ ${#ids[@]} = 4 ] || error "no key for each of 4 shards"
metrics=$mnt/@metrics
# metric NAME: its value, summed over its labels (the stream's).
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { v += $2 } END { printf "%d\n", v }' "$metrics"; }
limit=$(metric kinesisfs_producer_queue_limit_bytes)
assert_eq "$limit" $((16 << 20)) "the queue's bound (kinesisfs_producer_queue_limit_bytes)"
if on_aws; then
    fault_mode "slow rate=1 ms=500"
fi

nlines=160    # of 64 KiB: 10 MiB a writer
lines()
{
    exec awk -v id="$1" -v n="$nlines" 'BEGIN {
        for (pad = "x"; length(pad) < 65536; pad = pad pad)
            ;
        pad = substr(pad, 1, 65527 - length(id))
        for (i = 1; i <= n; i++)
            print id " " sprintf("%06d", i) " " pad
    }'
}
for id in "${ids[@]}"; do
    touch "$s/$id"
    lines "$id" | md5sum >"$tmp/want.$id"
done
total=$((${#ids[@]} * nlines * 65536))

t0=$(date +%s%N)
wpids=()
for id in "${ids[@]}"; do
    lines "$id" >>"$s/$id" &
    wpids+=($!)
    bg_pids+=($!)
done
# Sample while they write.  A write in progress (up to 1 MiB from the
# kernel) and a partial line (64 KiB) per writer are outside the queue.
slack=$((${#ids[@]} * (1024 + 64) * 1024))
max_ahead=0 max_mem=0 samples=0
running() { local p; for p in "${wpids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while running; do
    written=0
    for p in "${wpids[@]}"; do
        w=$(awk '$1 == "wchar:" { print $2 }' "/proc/$p/io" 2>/dev/null || true)
        written=$((written + ${w:-0}))
    done
    stored=$(metric kinesisfs_put_bytes_total)
    mem=$(metric kinesisfs_producer_queue_memory_bytes)
    ahead=$((written - stored))
    [ "$ahead" -le $((limit + slack)) ] ||
        fail "the writers are $ahead bytes ahead of the backend ($written written, $stored stored), past the queue's $limit"
    [ "$mem" -le "$limit" ] || fail "the queue holds $mem bytes, past its limit $limit"
    [ "$ahead" -gt "$max_ahead" ] && max_ahead=$ahead
    [ "$mem" -gt "$max_mem" ] && max_mem=$mem
    samples=$((samples + 1))
    sleep 0.2
done
for p in "${wpids[@]}"; do
    wait "$p" || fail "a writer failed"
done
secs=$((($(date +%s%N) - t0) / 1000000))
msg "$total bytes in ${secs} ms; $samples samples: the writers at most $max_ahead bytes ahead, the queue at most $max_mem of $limit"
stored=$(metric kinesisfs_put_bytes_total)
assert_eq "$stored" "$total" "bytes stored once every writer closed"
if on_aws; then
    # The test means something only if the writers were faster than the
    # backend: they reached the queue's bound, and waited there.
    [ "$max_ahead" -ge $((limit / 2)) ] ||
        fail "the writers were never more than $max_ahead bytes ahead: the backend was not slower than them"
fi

hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$kfs_pid/status")
msg "the daemon's peak RSS: $((hwm / 1024)) MiB"
# docs/PERFORMANCE.md, figure 7: 64 MiB.  On AWS each of the 4 batches in
# flight also holds its request body, its records in base64 (at most 4/3
# of the queue's 16 MiB in all): 40-46 MiB measured.
bound=64
if [ "$KFS_VALGRIND" != 1 ] && [ "${KFS_ASAN:-}" != 1 ] && [ "$KFS_TSAN" != 1 ]; then
    [ "$hwm" -le $((bound * 1024)) ] || fail "the daemon's peak RSS is $hwm kB, over $bound MiB"
fi

if on_aws; then
    fault_mode none
fi
for i in 0 1 2 3; do
    id=${shard_of[$i]}
    cat "$s/$(shard_name "$i")" >"$tmp/shard"
    md5sum <"$tmp/shard" >"$tmp/got.$id"
    cmp -s "$tmp/got.$id" "$tmp/want.$id" || {
        cut -c1-40 "$tmp/shard" | awk '{ print $1, $2, length($3) }' | uniq -c | sed -n 1,40p >&2
        fail "writer $id: its shard does not hold its lines exactly once and in order ($(grep -c "^$id " "$tmp/shard") of $nlines lines, $(wc -l <"$tmp/shard") in all)"
    }
done
rm -f "$tmp/shard"
kfs_umount
