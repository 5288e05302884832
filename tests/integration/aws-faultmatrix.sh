#!/usr/bin/env bash
# shellcheck disable=SC2119
# aws-faultmatrix.sh - the rest of the fault matrix of the AWS backend
# (aws-faults.sh has resets, 500, throttling, partial failures and slow
# answers under writers), each fault injected by tests/aws/fault-proxy.js
# on every action, writers and readers alike:
#
#   http503       503 ServiceUnavailable / InternalFailure / empty body
#   hang          no answer at all: the mount's -o timeout_ms ends the wait
#   expired       GetRecords: ExpiredIteratorException on iterators in use
#   expiredtoken  ExpiredTokenException while the credentials come from a
#                 container endpoint (tests/aws/creds-server.js) that has
#                 rotated them: refreshed, nobody sees an error; then with
#                 no good credentials to get: EACCES at fsync, logged
#   gone 30 s     the endpoint down for longer than the writers' retry
#                 budget: writers caught in it get EIO or get through
#
# Three followers run across all of it: a stream view at @LATEST (JSON
# lines), shard views at @TRIM_HORIZON and @LATEST.  (`tail -f` of a plain
# shard file is not among them: a plain file's read that finds no service
# is EIO, which ends tail; docs/aws.md, "Faults".)
# At the end what each got is compared with what the aws CLI reads from
# kinesalite directly: the same records, each once, in order per shard.
# Every acknowledged line is stored exactly once; a writer that saw no
# error has all of its lines stored.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

kfs_setup
fault_proxy_start

# Credentials from a container endpoint that rotates them: key1, then key2.
key1=AKIAKFSFAULTMATRIX01
key2=AKIAKFSFAULTMATRIX02
creds_token=kfs-container-token
echo "$key1" >"$tmp/creds.control"
kfs_helper_start creds creds-server.js --stats "$tmp/creds.stats" \
    --control "$tmp/creds.control" --token "$creds_token"
creds_url=http://127.0.0.1:$helper_port/v2/credentials/kfs
creds_stat() { json_stat "$tmp/creds.stats" "$1"; }

# Retries are worth a warning in the log, at most; the errors this test
# provokes are taken with expect_logged.  The warnings an outage may
# cause: a cached answer standing in for the service, a follower waiting
# for it.
expect_log '^kinesisfs: warning: (ListStreams |(DescribeStreamSummary|ListShards) matrix): no answer from the service \([^)]*\); using the one of [0-9]+ s ago$'
expect_log '^kinesisfs: warning: read matrix/[^:]+: Input/output error; trying again every [0-9]+ ms$'
timeout_ms=$((2000 * kfs_slow))
# The daemon alone takes its credentials from the endpoint; the aws CLI
# keeps the dummy ones of functions.sh (kinesalite checks none).
(
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    export AWS_CONTAINER_CREDENTIALS_FULL_URI=$creds_url
    export AWS_CONTAINER_AUTHORIZATION_TOKEN=$creds_token
    declare -p AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN
) >"$tmp/creds.env"
saved_key=$AWS_ACCESS_KEY_ID saved_secret=$AWS_SECRET_ACCESS_KEY
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
# shellcheck disable=SC1091
. "$tmp/creds.env"
kfs_mount "shards=3,timeout_ms=$timeout_ms"
unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN
export AWS_ACCESS_KEY_ID=$saved_key AWS_SECRET_ACCESS_KEY=$saved_secret
s=$mnt/matrix
mkdir "$s"
[ "$(creds_stat "fetches.$key1")" -ge 1 ] || fail "the mount did not fetch its credentials from the container endpoint"

# ---- the followers ---------------------------------------------------------
# fd_open PID: PID has a file of the mount open (its open(2) returned).
fd_open()
{
    local fd
    for fd in /proc/"$1"/fd/*; do
        case $(readlink "$fd" 2>/dev/null || true) in "$mnt"/*) return 0 ;; esac
    done
    return 1
}
cat "$s/@LATEST.jsonl" >"$tmp/follow.view" 2>"$tmp/follow.view.err" &
view_pid=$!
cat "$s/shardId-000000000000@TRIM_HORIZON" >"$tmp/follow.shard0" 2>"$tmp/follow.shard0.err" &
shard0_pid=$!
cat "$s/shardId-000000000001@LATEST" >"$tmp/follow.shard1" 2>"$tmp/follow.shard1.err" &
tail_pid=$!
for pid in "$view_pid" "$shard0_pid" "$tail_pid"; do
    wait_for 10 "follower $pid has opened its file" fd_open "$pid"
done
# follower_alive NAME PID: the follower is still reading.
follower_alive()
{
    kill -0 "$2" 2>/dev/null ||
        fail "follower $1 ended: $(cat "$tmp/follow.$1.err")"
}
followers_alive()
{
    follower_alive view "$view_pid"
    follower_alive shard0 "$shard0_pid"
    follower_alive shard1 "$tail_pid"
}

# ---- writers -----------------------------------------------------------------
# A writer's lines go to its files in turn (kfs-writer), keys shared between
# writers and a shard file among them.
writers="w0 key0,key1
w1 key1,key2
w2 key3,shardId-000000000002"

# wait_writers: every writer of the phase succeeded.
wait_writers()
{
    local i
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || fail "writer ${ids[$i]} saw an error: $(cat "$tmp/err.${ids[$i]}")"
    done
}

# run_phase LINE COUNTER: writers under fault LINE, which must have
# injected faults.COUNTER; every writer succeeds and every follower reads on.
run_phase()
{
    local line=$1 counter=$2 before t0
    before=$(stat_of "faults.$counter")
    fault_mode "$line"
    t0=$(date +%s)
    start_writers "${line%% *}" 100 10
    wait_writers
    # Followers keep looking while the fault holds.
    sleep 2
    fault_mode none
    [ "$(stat_of "faults.$counter")" -gt "$before" ] || fail "phase '$line': no fault was injected"
    followers_alive
    msg "phase '$line': $(($(stat_of "faults.$counter") - before)) faults, $(($(date +%s) - t0))s"
}

run_phase "http503 rate=0.4 repeat=2 actions=all" http503
run_phase "hang rate=0.2 repeat=1 actions=all" hang
run_phase "expired rate=0.5 repeat=1" expired

# ---- credentials expire and are refreshed ---------------------------------
echo "$key2" >"$tmp/creds.control"
run_phase "expiredtoken keys=$key1" expiredtoken
[ "$(creds_stat "fetches.$key2")" -ge 1 ] || fail "the mount did not fetch the rotated credentials"

# ---- credentials expire and cannot be refreshed ----------------------------
# The endpoint still hands out key2, which the service now refuses for
# PutRecords: fsync says EACCES, once logged, and nothing else breaks.
log_mark
fault_mode "expiredtoken keys=$key1,$key2 actions=PutRecords,PutRecord"
echo "refused-w0 key0 10" >>"$tmp/writer.ids"
if "$writer" "$s/key0" refused-w0 10 10 >"$tmp/acks.refused-w0" 2>"$tmp/err.refused-w0"; then
    fail "a writer whose credentials are refused saw no error"
fi
grep -q 'Permission denied' "$tmp/err.refused-w0" ||
    fail "refused credentials: expected EACCES, the writer saw: $(cat "$tmp/err.refused-w0")"
[ ! -s "$tmp/acks.refused-w0" ] || fail "refused credentials: lines were acknowledged"
expect_logged 1 2 'stream matrix, key key0: .*ExpiredToken' "refused credentials"
fault_mode none
followers_alive

# ---- the endpoint down for 30 s ---------------------------------------------
# Longer than the writers' retry budget (9 attempts, 13 to 26 s of
# backoff, docs/aws.md): writers caught in the middle get EIO at fsync;
# writers starting later, whose budget outlasts the outage, get through.
# Whichever it is, the writer hears it; the followers read on.
log_mark
outage_starts 30
sleep 20
writers="w0 key0,key1"
start_writers gone-late 50 10
late_pids=("${pids[@]}")
late_ids=("${ids[@]}")
early_failed=0
for i in "${!early_pids[@]}"; do
    if wait "${early_pids[$i]}"; then
        msg "writer ${early_ids[$i]} rode out the outage"
    else
        grep -q 'Input/output error' "$tmp/err.${early_ids[$i]}" ||
            fail "writer ${early_ids[$i]}: expected EIO, saw: $(cat "$tmp/err.${early_ids[$i]}")"
        early_failed=$((early_failed + 1))
    fi
done
pids=("${late_pids[@]}")
ids=("${late_ids[@]}")
wait_writers
wait_for 15 "the fault proxy is back" _fault_mode_is none
msg "endpoint gone for 30 s: $early_failed of ${#early_ids[@]} writers caught in it got EIO, writers started 20 s in got through $(($(date +%s) - t_gone))s after it went"
[ "$early_failed" -gt 0 ] ||
    fail "every writer rode out 30 s without the endpoint: longer than the retry budget documented"
# Each failed batch is logged with its key; a follower logs once that it
# waits, the caches once that they stand in for the service.
expect_logged "$early_failed" $((4 * early_failed + 8)) \
    'stream matrix, key .*not stored|read matrix/.*trying again|matrix: no answer from the service' \
    "the outage"
grep -c 'not stored' "$tmp/expected.lines" >/dev/null ||
    fail "the writers that got EIO were not logged"
followers_alive

# ---- what is in the stream ---------------------------------------------------
aws_read_stream tsv matrix "$tmp/got"
sort "$tmp/got" >"$tmp/got.sorted"
assert_once "$tmp/got.sorted" "records are stored"
: >"$tmp/acked"
: >"$tmp/written"
while read -r id files n; do
    writer_lines "$id" "$files" 1 "$n" >>"$tmp/written"
    if [ -s "$tmp/err.$id" ]; then
        last=$(tail -n 1 "$tmp/acks.$id" | awk '{ print $4 }')
        [ -z "$last" ] || writer_lines "$id" "$files" 1 "$last" >>"$tmp/acked"
    else
        writer_lines "$id" "$files" 1 "$n" >>"$tmp/acked"
    fi
done <"$tmp/writer.ids"
sort "$tmp/acked" >"$tmp/acked.sorted"
sort "$tmp/written" >"$tmp/written.sorted"
comm -13 "$tmp/got.sorted" "$tmp/acked.sorted" >"$tmp/lost"
if [ -s "$tmp/lost" ]; then
    head -n 5 "$tmp/lost" >&2
    fail "$(wc -l <"$tmp/lost") acknowledged lines are not in the stream"
fi
comm -23 "$tmp/got.sorted" "$tmp/written.sorted" >"$tmp/alien"
if [ -s "$tmp/alien" ]; then
    head -n 5 "$tmp/alien" >&2
    fail "$(wc -l <"$tmp/alien") records in the stream were never written (or under another key)"
fi
msg "$(wc -l <"$tmp/got") records stored, $(wc -l <"$tmp/acked") acknowledged, each once"

# ---- what the followers read -------------------------------------------------
for shard in 0 1 2; do
    aws_read_shard raw matrix "$(shard_name "$shard")" "$tmp/cli.shard$shard"
done
cat "$tmp"/cli.shard[012] | wc -l >"$tmp/cli.count"
view_lines() { wc -l <"$tmp/follow.view"; }
view_caught_up() { [ "$(view_lines)" -ge "$(cat "$tmp/cli.count")" ]; }
shard_caught_up() { [ "$(wc -c <"$tmp/follow.shard$1")" -ge "$(wc -c <"$tmp/cli.shard$1")" ]; }
wait_for 20 "the stream view follower read everything ($(view_lines) of $(cat "$tmp/cli.count") lines)" view_caught_up
wait_for 20 "the shard 0 view follower read everything" shard_caught_up 0
wait_for 20 "the shard 1 view follower read everything" shard_caught_up 1
sleep 1
followers_alive
kill "$view_pid" "$shard0_pid" "$tail_pid"
wait "$view_pid" "$shard0_pid" "$tail_pid" 2>/dev/null || true
# The stream view's records, shard by shard, in the order read.
node -e '
    const fs = require("fs")
    const out = {}
    for (const line of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
        if (!line) continue
        const r = JSON.parse(line)
        const data = r.DataEncoding === "base64" ? Buffer.from(r.Data, "base64").toString() : r.Data
        ;(out[r.ShardId] = out[r.ShardId] || []).push(data)
    }
    for (const [shard, recs] of Object.entries(out)) fs.writeFileSync(process.argv[2] + "." + shard, recs.join(""))
' "$tmp/follow.view" "$tmp/view"
for shard in 0 1 2; do
    name=$(shard_name "$shard")
    touch "$tmp/view.$name"
    assert_file_eq "$tmp/view.$name" "$tmp/cli.shard$shard" \
        "the stream view follower's records of $name (each once, in order)"
done
assert_file_eq "$tmp/follow.shard0" "$tmp/cli.shard0" "the shard 0 view follower's records"
assert_file_eq "$tmp/follow.shard1" "$tmp/cli.shard1" "the shard 1 view follower's records"
msg "followers: $(view_lines) records each once, in order, across every fault"
assert_eq "$(stat_of upstream_errors)" 0 "requests kinesalite did not answer"

kfs_umount
