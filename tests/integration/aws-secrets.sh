#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012,SC2010
# aws-secrets.sh - no secret in any output of the daemon, even with
# -o debug (SPEC 5: "never with a secret"): the daemon runs with known
# dummy credentials (a secret access key and a session token, from the
# environment, then from a profile in the shared credentials file, then
# refused by a SigV4-checking proxy) while it creates streams, writes,
# reads, follows views, reads and sets attributes and meets a resharding;
# then its whole log and stdout are searched for the secret access keys,
# the session tokens, a SigV4 signature ("Signature=") and an
# Authorization header.  The access key id is not a secret (AWS puts it
# in the clear in every request) and may appear (docs/semantics.md).
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires setfattr --version

kfs_setup

token='IQoJb3JpZ2luX2VjEKFS//secrets+test/token=0123456789SESSIONTOKENabcdef=='
export AWS_SESSION_TOKEN=$token

# exercise WHAT STREAM: the operations a user makes, through the mount.
exercise()
{
    local what=$1 st=$mnt/$2 sh
    sh=$st/shardId-000000000000
    log_mark
    mkdir "$st"
    getfattr --absolute-names -d "$st" >"$tmp/$2.attrs"
    grep -q -x 'user.kinesis.status="ACTIVE"' "$tmp/$2.attrs" ||
        fail "$what: getfattr -d does not show the stream ACTIVE"
    getfattr --absolute-names -d "$sh" >/dev/null
    echo '{"Data":"1"}' >>"$st/111"
    echo 'to the shard' >>"$sh"
    "$writer" "$st/wkey" W 20 5 >/dev/null || fail "$what: kfs-writer failed"
    printf '%s\n' '{"Data":"1"}' 'to the shard' >"$tmp/$2.expected"
    "$writer" --print W 1 20 >>"$tmp/$2.expected"
    timeout 30 cat "$sh" >"$tmp/$2.out"
    assert_file_eq "$tmp/$2.out" "$tmp/$2.expected" "$what: cat of the shard"
    assert_reads "$st/111" '{"Data":"1"}' "$what: cat of key 111"
    "$probe" read-for "$st/@TRIM_HORIZON.jsonl" $((5000 * kfs_slow)) 22l \
        >"$tmp/$2.jsonl" 2>/dev/null
    [ "$(grep -c . "$tmp/$2.jsonl")" -eq 22 ] || fail "$what: the JSON view gave $(grep -c . "$tmp/$2.jsonl") lines"
    setfattr -n user.kinesis.retention_hours -v 48 "$st"
    assert_eq "$(xattr "$st" retention_hours)" 48 "$what: retention_hours"
    # Resharding: kinesalite has no UpdateShardCount (ENOTSUP, logged); a
    # split made with the aws CLI shows up as two new shards.
    expect_probe 'ENOTSUP' setxattr "$st" user.kinesis.shard_count 2
    expect_logged 1 1 "$2" "$what: setxattr shard_count on kinesalite"
    awsk split-shard --stream-name "$2" --shard-to-split shardId-000000000000 \
        --new-starting-hash-key 170141183460469231731687303715884105728 ||
        fail "$what: aws kinesis split-shard failed"
    # The listing also holds the key files 111 and wkey: count shards only.
    shards_are_3() { [ "$(ls "$st" | grep -c '^shardId-')" -eq 3 ]; }
    wait_for 20 "$what: three shards after the split" shards_are_3
    echo 'after the split' >>"$st/111"
    assert_reads "$st/111" '{"Data":"1"}
after the split' "$what: key 111 across the split"
    expect_probe EPERM rmdir "$st"
    expect_logged 1 1 "$2" "$what: rmdir without allow_delete"
    settle "$st"
}

# ---- 1: credentials from the environment, with a session token ------------
kfs_mount debug
exercise "environment" SecretsEnv
kfs_umount
grep -q '^kinesisfs: debug: ' "$tmp"/daemon.1.log ||
    fail "-o debug logged no debug line: the test saw nothing of what debug shows"

# ---- 2: credentials from a profile in the shared credentials file ---------
profile_secret='kfsProfile/Secret+Key/9876543210zyxwvutsrqpo'
profile_token='FwoGZXIvYXdzEKFS//profile+session/token=9876543210PROFILETOKEN=='
cat >"$AWS_SHARED_CREDENTIALS_FILE" <<EOF
[kfs-secrets]
aws_access_key_id = $kfs_access_key_id
aws_secret_access_key = $profile_secret
aws_session_token = $profile_token
EOF
saved_secret=$AWS_SECRET_ACCESS_KEY
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export AWS_PROFILE=kfs-secrets   # for the aws CLI too
kfs_mount debug,profile=kfs-secrets
exercise "profile" SecretsProfile
kfs_umount
unset AWS_PROFILE
export AWS_ACCESS_KEY_ID=$kfs_access_key_id AWS_SECRET_ACCESS_KEY=$saved_secret
export AWS_SESSION_TOKEN=$token

# ---- 3: credentials refused: what the daemon says about it -----------------
# A SigV4 proxy expecting another secret refuses every request: the mount
# comes up (no call at mount time), and each operation is refused with
# EACCES and logged, with -o debug, whose lines are searched below too.
KFS_SIGV4_SECRET_ACCESS_KEY='not/the+secret/the0mount0signs0with0000000' \
    KFS_SIGV4_SESSION_TOKEN=$token \
    kfs_helper_start sigv4-wrong sigv4-proxy.js --upstream "$kinesalite_url" \
    --access-key-id "$kfs_access_key_id" --region "$kfs_region" --service kinesis \
    --stats "$tmp/sigv4-wrong.stats"
kfs_endpoint=http://127.0.0.1:$helper_port
kfs_mount debug,no_endpoint_check
log_mark
expect_probe EACCES mkdir "$mnt/refused"
expect_logged 1 1 '^kinesisfs: error: stat refused: Permission denied$' "mkdir with refused credentials"
expect_probe EACCES stat "$mnt/SecretsEnv"
expect_logged 1 1 '^kinesisfs: error: stat SecretsEnv: Permission denied$' "stat with refused credentials"
expect_probe EACCES open-write "$mnt/SecretsEnv/111"
expect_logged 1 1 '^kinesisfs: error: stat SecretsEnv: Permission denied$' "open with refused credentials"
grep -q -E '^kinesisfs: info: [A-Za-z]+ (refused|SecretsEnv): InvalidSignatureException \(Permission denied\)$' \
    "$kfs_log" || fail "the daemon with refused credentials does not say the service refused its signature"
kfs_umount
kfs_endpoint=$kinesalite_url
kfs_helper_stop sigv4-wrong 1

# ---- nothing secret in any output ------------------------------------------
# A signature, the Authorization header (its name as a header or a JSON
# key), the token header, the signing algorithm with its credential scope.
header_re='Signature=|Authorization:|"Authorization"|X-Amz-Security-Token:|AWS4-HMAC-SHA256 +Credential'
found=0
for f in "$tmp"/daemon.*.log "$tmp"/daemon.*.out; do
    [ -f "$f" ] || continue
    for secret in "$kfs_secret_access_key" "$token" "$profile_secret" "$profile_token" \
                  "${kfs_secret_access_key:0:16}" "${token:0:16}" \
                  "${profile_secret:0:16}" "${profile_token:0:16}"; do
        if grep -q -F -e "$secret" "$f"; then
            msg "$(basename "$f") shows a secret: $(grep -F -e "$secret" "$f" | sed -n 1,3p)"
            found=1
        fi
    done
    if grep -q -i -E "$header_re" "$f"; then
        msg "$(basename "$f") shows a signature or an Authorization header:
$(grep -i -E "$header_re" "$f" | sed -n 1,3p)"
        found=1
    fi
done
[ "$found" -eq 0 ] || fail "a secret, a signature or an Authorization header is in the daemon's output"
lines=$(cat "$tmp"/daemon.*.log "$tmp"/daemon.*.out | wc -l)
[ "$lines" -gt 0 ] || fail "the daemons logged nothing: nothing was checked"
if grep -q -F "$kfs_access_key_id" "$tmp"/daemon.*.log "$tmp"/daemon.*.out; then
    msg "the access key id appears in the daemon's output (allowed: it is not a secret)"
fi
msg "$lines lines of daemon output checked: no secret, signature or Authorization header"
