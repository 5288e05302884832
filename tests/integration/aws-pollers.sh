#!/usr/bin/env bash
# aws-pollers.sh - one poller per shard feeds every reader at its tip
# (docs/aws.md, "Readers share one poller per shard"), against kinesalite
# through the fault proxy, which counts the GetRecords calls:
#   - eight followers of one shard of all kinds (shard file, key file,
#     shard, stream and key views, JSON lines) make the GetRecords calls of
#     one, never more than 5 in a second;
#   - records put from elsewhere (straight to the service) reach every
#     follower within one poll, each once, in order;
#   - a reader that falls behind what the pollers keep (-o read_buffer)
#     reads on with its own iterator: every record once, in order.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires python3 --version

kfs_setup
fault_proxy_start
s=$mnt/feeds
sh0=$s/shardId-000000000000
poll_ms=1000
kfs_mount shards=1,poll_ms=$poll_ms,read_buffer=1048576${KFS_DBG:+,debug}
mkdir "$s"
echo old >>"$s/k1"
settle "$s/k1"

cleanup_fn kill_followers

gets() { stat_of actions.GetRecords; }

# ---- one follower, then eight ---------------------------------------------
follower f1 cat "$sh0@LATEST"
sleep 3
g0=$(gets)
sleep 10
one=$(($(gets) - g0))
follower f2 tail -n 0 -f "$sh0"
follower f3 tail -n 0 -f "$s/k1"
follower f4 cat "$s/@LATEST"
follower f5 cat "$s/k1@LATEST"
follower f6 cat "$s/@LATEST.jsonl"
follower f7 tail -n +1 -f "$sh0"
follower f8 cat "$sh0@TRIM_HORIZON"
sleep 4
g1=$(gets)
sleep 10
eight=$(($(gets) - g1))
msg "GetRecords in 10 s: $one with one follower, $eight with eight"
[ "$one" -ge 5 ] || fail "one follower made $one GetRecords calls in 10 s (poll_ms=$poll_ms: about 10)"
[ "$eight" -le $((one + 2)) ] ||
    fail "eight followers made $eight GetRecords calls in 10 s, one made $one"

# ---- records from elsewhere reach every follower within one poll ----------
node "$aws_dir/put-every.js" "$kinesalite_url" feeds k1 20 250 ||
    fail "putting records straight to kinesalite failed"
for f in f1 f2 f3 f4 f5 f6 f7 f8; do
    wait_for 10 "follower $f shows ext 20" grep -q "ext 20 " "$tmp/$f"
done
sleep 1
worst=0
for f in f1 f2 f3 f4 f5 f6 f7 f8; do
    # Every ext record once, in order (the JSON view's data is a string).
    ext_lines "$tmp/$f" >"$tmp/$f.ext"
    seq 1 20 >"$tmp/want.ext"
    assert_file_eq "$tmp/$f.ext" "$tmp/want.ext" "follower $f: ext 1..20, each once, in order"
    lat=$(ext_latency "$tmp/$f")
    msg "follower $f: records put elsewhere within $lat ms"
    # tail -f looks on its own each second; the others wait in read.
    case $f in f2|f3|f7) continue ;; esac
    [ "$lat" -gt "$worst" ] && worst=$lat
done
msg "records put elsewhere woke the followers waiting in read within $worst ms (poll_ms=$poll_ms)"
[ "$worst" -le $((poll_ms + $(kfs_bound 500))) ] ||
    fail "a follower saw a record $worst ms after its put (more than one poll, $poll_ms ms)"
# The shard's limiter sends them 200 ms apart (5 a second); what the
# proxy sees of that spacing varies by a few ms.
max1s=$(stat_of get_records_max_1s)
gap=$(stat_of get_records_min_gap_ms)
msg "GetRecords at least $gap ms apart (at most $max1s seen within one second)"
[ "$gap" -ge 180 ] || fail "two GetRecords $gap ms apart: more than the service's 5 a second a shard"
for f in f1 f2 f3 f4 f5 f6 f7 f8; do
    [ ! -s "$tmp/$f.err" ] || fail "follower $f said: $(cat "$tmp/$f.err")"
done
kill_followers

# ---- a reader behind what the pollers keep reads on its own -------------
follower fast cat "$sh0@LATEST"
# The slow reader: its pipe fills and it stops reading for 8 s.
: >"$tmp/slow"
(trap - ERR; set +e; cat "$sh0@LATEST" | { sleep 8; exec cat; } >"$tmp/slow") &
bg_pids+=($!)
sleep 3
python3 -c '
import sys
with open(sys.argv[1], "a") as f:
    for i in range(1, 2049):
        f.write("big %d %s\n" % (i, "x" * 1000))
        if i % 64 == 0: f.flush()
' "$s/k2"
seq -f 'big %g' 1 2048 >"$tmp/want.big"
wait_for 60 "the fast reader has big 2048" grep -q "big 2048 " "$tmp/fast"
wait_for 60 "the slow reader has big 2048" grep -q "^big 2048 " "$tmp/slow"
sleep 1
awk '{ print $2, $3 }' "$tmp/fast" >"$tmp/fast.big"
assert_file_eq "$tmp/fast.big" "$tmp/want.big" "the fast reader: every record once, in order"
awk '{ print $1, $2 }' "$tmp/slow" >"$tmp/slow.big"
assert_file_eq "$tmp/slow.big" "$tmp/want.big" \
    "a reader behind the 1 MiB the poller keeps: every record once, in order"
kill_followers

settle "$s"
kfs_umount
