#!/usr/bin/env bash
# shellcheck disable=SC2119
# aws-sigv4.sh - every request the AWS backend sends is signed right: a
# proxy that recomputes each SigV4 signature on its own
# (tests/aws/sigv4-proxy.js) sits between the mount and kinesalite while
# the seed scenario runs, with lines written in many fsyncs, a PutRecords
# body of several MiB, an xattr change and reads.  Temporary credentials
# first (the session token must travel, signed, in X-Amz-Security-Token),
# then long-term ones (no token may be sent).  The proxy must have checked
# requests and found no mismatch.  Last, the check can fail: with a wrong
# secret the proxy refuses every request and the mount says EACCES.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires setfattr --version

kfs_setup

# stat_of NAME FIELD: a value from a proxy's stats ("actions.PutRecords").
stat_of()
{
    node -e 'let v = JSON.parse(require("fs").readFileSync(process.argv[1]));
             for (const k of process.argv[2].split(".")) v = v === undefined ? v : v[k];
             console.log(v === undefined ? 0 : v)' "$tmp/$1.stats" "$2"
}

# start_proxy NAME SECRET [TOKEN]: a SigV4 proxy in front of kinesalite that
# expects our key id with SECRET (and TOKEN); the mount goes through it.
start_proxy()
{
    KFS_SIGV4_SECRET_ACCESS_KEY=$2 KFS_SIGV4_SESSION_TOKEN=${3:-} \
        kfs_helper_start "$1" sigv4-proxy.js --upstream "$kinesalite_url" \
        --access-key-id "$kfs_access_key_id" --region "$kfs_region" --service kinesis \
        --stats "$tmp/$1.stats"
    kfs_endpoint=http://127.0.0.1:$helper_port
}

# no_mismatch NAME: the proxy checked requests and all were right.
no_mismatch()
{
    local checked mismatches
    checked=$(stat_of "$1" checked)
    mismatches=$(stat_of "$1" mismatches)
    if [ "$mismatches" -ne 0 ]; then
        cat "$tmp/$1.stats" >&2
        fail "$1: $mismatches of $checked requests had a wrong signature"
    fi
    [ "$checked" -gt 0 ] || fail "$1: no request was checked"
    msg "$1: $checked requests checked, all signed right: $(stat_of "$1" actions | tr -d '\n ')"
}

# ---- temporary credentials: with a session token ----------------------------
token='IQoJb3JpZ2luX2VjEKFS//test+session/token=0123456789abcdefghijklmnopqrstuvwxyz=='
start_proxy sigv4-token "$kfs_secret_access_key" "$token"
export AWS_SESSION_TOKEN=$token

# The proxy takes what the aws CLI signs (a check of the checker).
"$KFS_AWS_CLI" --endpoint-url "$kfs_endpoint" --region "$kfs_region" kinesis list-streams \
    >"$tmp/cli.out" || fail "the aws CLI's list-streams through the SigV4 proxy failed"
[ "$(stat_of sigv4-token accepted)" -eq 1 ] || fail "the proxy did not accept the aws CLI's request"

# A long linger: the big lines written by one cat go out in one PutRecords.
kfs_mount linger_ms=3000
s=$mnt/AWSCookbook701
mkdir "$s"
getfattr --absolute-names -d "$s" >"$tmp/summary"
grep -q -x 'user.kinesis.status="ACTIVE"' "$tmp/summary" ||
    fail "getfattr -d does not show user.kinesis.status=\"ACTIVE\""
echo '{"Data":"1"}' >>"$s/111"
printf '%s\n' '{"Data":"1"}' >"$tmp/record.expected"
timeout 30 cat "$s/shardId-000000000000" >"$tmp/shard.out"
assert_file_eq "$tmp/shard.out" "$tmp/record.expected" "cat of shardId-000000000000"
timeout 30 cat "$s/111" >"$tmp/key.out"
assert_file_eq "$tmp/key.out" "$tmp/record.expected" "cat of key file 111"
setfattr -n user.kinesis.retention_hours -v 48 "$s"
assert_eq "$(xattr "$s" retention_hours)" 48 "retention_hours after setfattr"

# Many small PutRecords, each fsync waiting for its acknowledgement.
"$writer" "$s/wkey" W1 300 10 >"$tmp/w1.acks" || fail "kfs-writer failed"
"$writer" --print W1 1 300 >"$tmp/w1.expected"
timeout 30 cat "$s/wkey" >"$tmp/w1.out"
assert_file_eq "$tmp/w1.out" "$tmp/w1.expected" "kfs-writer's lines"

# Five lines of 900 KiB in one write stream: a PutRecords body of several MiB.
for c in a b c d e; do
    head -c 921600 /dev/zero | tr '\0' "$c"
    echo
done >"$tmp/big"
cat "$tmp/big" >>"$s/bigkey"
timeout 60 cat "$s/bigkey" >"$tmp/big.out"
assert_file_eq "$tmp/big.out" "$tmp/big" "five 900 KiB lines"
kfs_umount

no_mismatch sigv4-token
assert_eq "$(stat_of sigv4-token with_token)" "$(stat_of sigv4-token accepted)" \
    "requests carrying the session token"
for action in CreateStream PutRecords GetShardIterator GetRecords; do
    [ "$(stat_of sigv4-token "actions.$action")" -gt 0 ] ||
        fail "no $action request went through the SigV4 proxy"
done
max_body=$(stat_of sigv4-token max_body)
[ "$max_body" -ge $((3 * 1024 * 1024)) ] ||
    fail "the largest request checked had $max_body bytes: the five big lines were not sent together"
msg "largest request checked: $max_body bytes"
kfs_helper_stop sigv4-token

# ---- long-term credentials: no session token ---------------------------------
unset AWS_SESSION_TOKEN
start_proxy sigv4-plain "$kfs_secret_access_key"
kfs_mount
echo 'no token' >>"$s/222"
assert_reads "$s/222" 'no token' "cat of key file 222"
assert_eq "$(ls "$mnt")" AWSCookbook701 "ls of the mount point"
kfs_umount
no_mismatch sigv4-plain
assert_eq "$(stat_of sigv4-plain with_token)" 0 "requests carrying a session token"
kfs_helper_stop sigv4-plain

# ---- a wrong secret: refused, EACCES -----------------------------------------
# The proxy expects another secret than the mount signs with.  The mount
# checks the endpoint with one ListStreams and fails, saying the
# credentials were refused.  With -o no_endpoint_check it comes up,
# refuses the first operation with EACCES (SPEC 5), logged, and unmounts
# cleanly; the proxy must have caught it.
start_proxy sigv4-wrong 'not/the+secret/the0mount0signs0with0000000'
expect_log '^kinesisfs: cannot open the aws backend: Permission denied$'
kfs_mount_fails "" 1 '^kinesisfs: error: cannot use Kinesis at http://127\.0\.0\.1:[0-9]+/ \(region [a-z0-9-]+\): ListStreams: InvalidSignatureException.*\(Permission denied\)$'
kfs_mount no_endpoint_check
log_mark
expect_probe EACCES mkdir "$mnt/refused"
expect_logged 1 1 '^kinesisfs: error: stat refused: Permission denied$' "mkdir with a wrong secret"
grep -q -E '^kinesisfs: info: [A-Za-z]+ refused: InvalidSignatureException \(Permission denied\)$' "$kfs_log" ||
    fail "the daemon with a wrong secret does not say the service refused its signature"
kfs_umount
[ "$(stat_of sigv4-wrong mismatches)" -gt 0 ] || fail "the proxy found no mismatch with a wrong secret"
kfs_helper_stop sigv4-wrong 1

# Never a secret in a log (SPEC 5).
for f in "$tmp"/daemon.*.log; do
    if grep -q -F -e "$kfs_secret_access_key" -e "$token" "$f"; then
        fail "$(basename "$f") shows the secret access key or the session token"
    fi
done
