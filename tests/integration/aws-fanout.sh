#!/usr/bin/env bash
# aws-fanout.sh - enhanced fan-out (-o fanout, docs/aws.md "Enhanced
# fan-out") against tests/aws/fanout-server.js, which gives kinesalite the
# stream consumers and SubscribeToShard (HTTP/2, binary event stream with
# CRCs) it lacks, with subscriptions that last 6 s instead of 5 minutes:
#   - the mount registers its consumer once, and a remount finds it;
#   - followers get records put elsewhere, pushed: each once, in order,
#     across subscriptions renewed when they end, one cut short
#     (RST_STREAM) and one failed by an exception event, each renewed
#     AFTER_SEQUENCE_NUMBER of the last ContinuationSequenceNumber;
#   - over https:// (tests/aws/tls-proxy.js offering h2 by ALPN, as the
#     service does) SubscribeToShard goes on HTTP/2, the rest on HTTP/1.1;
#   - -o fanout_deregister removes the consumer at unmount.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires openssl

kfs_setup
: >"$tmp/fo.control"
kfs_helper_start fanout fanout-server.js --upstream "$kinesalite_url" \
    --stats "$tmp/fo.stats" --control "$tmp/fo.control" --sub-life 6000
kfs_endpoint=http://127.0.0.1:$helper_port
fo() { json_stat "$tmp/fo.stats" "$1"; }
cleanup_fn kill_followers

s=$mnt/pushed
sh0=$s/shardId-000000000000
kfs_mount shards=1,fanout=kfs-test${KFS_DBG:+,debug}
mkdir "$s"
echo first >>"$s/a"
settle "$s/a"

follower f1 cat "$sh0@LATEST"
follower f2 cat "$s/@LATEST.jsonl"
follower f3 cat "$s/k1@LATEST"
sleep 2
# 80 records over about 20 s; a subscription cut short, then one failed.
node "$aws_dir/put-every.js" "$kinesalite_url" pushed k1 80 250 &
putter=$!
bg_pids+=("$putter")
sleep 5
printf 'early 2\n' >"$tmp/fo.control"
sleep 8
printf 'fail 2\n' >"$tmp/fo.control"
wait "$putter" || fail "putting records straight to kinesalite failed"
for f in f1 f2 f3; do
    wait_for 20 "follower $f shows ext 80" grep -q "ext 80 " "$tmp/$f"
done
sleep 1
seq 1 80 >"$tmp/want.ext"
for f in f1 f2 f3; do
    ext_lines "$tmp/$f" >"$tmp/$f.ext"
    assert_file_eq "$tmp/$f.ext" "$tmp/want.ext" "follower $f: ext 1..80, each once, in order"
    [ ! -s "$tmp/$f.err" ] || fail "follower $f said: $(cat "$tmp/$f.err")"
done
msg "records put elsewhere reached the followers within $(ext_latency "$tmp/f1") ms (subscriptions renewed included)"
subs=$(fo subscriptions)
msg "$subs subscriptions ($(fo early) cut short, $(fo failed) failed, $(fo ended) ended by the server), $(fo events) events"
[ "$(fo early)" -ge 1 ] || fail "no subscription was cut short"
[ "$(fo failed)" -ge 1 ] || fail "no subscription failed"
[ "$subs" -ge 4 ] || fail "$subs subscriptions in 20 s of 6-s subscriptions"
[ "$(fo continuity.gaps)" -eq 0 ] ||
    fail "$(fo continuity.gaps) subscription(s) did not go on after the last ContinuationSequenceNumber"
[ "$(fo continuity.ok)" -ge 3 ] || fail "only $(fo continuity.ok) subscriptions went on from a continuation"
[ "$(fo registered)" -eq 1 ] || fail "$(fo registered) consumers registered, expected 1"
grep -q 'registered the stream consumer kfs-test' "$kfs_log" ||
    fail "the daemon did not log that it registered its consumer"
kill_followers

# ---- over TLS (HTTP/2 by ALPN), a remount finds the consumer, and
# fanout_deregister removes it ----------------------------------------------
pki=$tmp/pki
mkdir "$pki"
make_ca ca
make_cert loopback ca "IP:127.0.0.1,DNS:localhost"
fanout_port=${kfs_endpoint##*:}
kfs_helper_start tls tls-proxy.js --upstream-port "$fanout_port" \
    --cert "$pki/loopback.pem" --key "$pki/loopback.key" --alpn h2,http/1.1
kfs_endpoint=https://127.0.0.1:$helper_port
settle "$s"
kfs_umount
h2_before=$(fo http2_requests)
kfs_mount "shards=1,fanout=kfs-test,fanout_deregister,ca_bundle=$pki/ca.pem${KFS_DBG:+,debug}"
follower f4 cat "$sh0@LATEST"
sleep 2
node "$aws_dir/put-every.js" "$kinesalite_url" pushed k1 10 100 ||
    fail "putting records straight to kinesalite failed"
wait_for 20 "the follower over TLS shows ext 10" grep -q "ext 10 " "$tmp/f4"
seq 1 10 >"$tmp/want4.ext"
ext_lines "$tmp/f4" >"$tmp/f4.ext"
assert_file_eq "$tmp/f4.ext" "$tmp/want4.ext" "over TLS, after a remount: ext 1..10, each once, in order"
[ "$(fo http2_requests)" -gt "$h2_before" ] || fail "no HTTP/2 request came over TLS"
[ "$(fo registered)" -eq 1 ] || fail "the remount registered a consumer again"
kill_followers
settle "$s"
kfs_umount
[ "$(fo deregistered)" -eq 1 ] || fail "-o fanout_deregister: the consumer is still registered"
