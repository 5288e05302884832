# shellcheck shell=bash
# functions-aws.sh - the AWS backend's part of functions.sh, which sources
# it: kinesalite, the aws CLI, the loopback helpers of tests/aws/ and the
# writers the fault tests run.  Not to be sourced on its own.

# ---- the AWS backend: kinesalite, the aws CLI, loopback helpers -----------

on_aws() { [ "$KFS_BACKEND" = aws ]; }

kfs_region=us-east-1
# Dummy credentials in the shape of real ones (a secret with / and +).
kfs_access_key_id=AKIAKFSTEST000000001
kfs_secret_access_key='kfsTest/Secret+Key/0123456789abcdefghijk'

# The environment of the daemon and of the aws CLI: dummy credentials, no
# profile, no shared file, nothing that could reach past loopback (IMDS is
# pointed at a closed loopback port), no HTTP proxy.
_kfs_aws_env()
{
    local v
    for v in AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
             AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS \
             AWS_ENDPOINT_URL_STS AWS_ROLE_ARN AWS_ROLE_SESSION_NAME \
             AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_FULL_URI \
             AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
             AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_CA_BUNDLE \
             http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY; do
        unset "$v"
    done
    mkdir -p "$tmp/aws"
    : >"$tmp/aws/config"
    : >"$tmp/aws/credentials"
    export AWS_ACCESS_KEY_ID=$kfs_access_key_id
    export AWS_SECRET_ACCESS_KEY=$kfs_secret_access_key
    export AWS_CONFIG_FILE=$tmp/aws/config
    export AWS_SHARED_CREDENTIALS_FILE=$tmp/aws/credentials
    export AWS_EC2_METADATA_DISABLED=true
    export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1
    export AWS_PAGER=
    export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
}

# kfs_helper_start NAME SCRIPT [ARGS...]: runs tests/aws/SCRIPT with node on
# a free loopback port, its output in $tmp/NAME.log, and waits until it
# listens; sets $helper_port.  It exits with the test (kfs_setup's cleanup
# stops it after the mounts are gone, and it watches this shell besides).
kfs_helper_start()
{
    local name=$1 script=$2 pid i
    shift 2
    rm -f "$tmp/$name.port"
    node "$aws_dir/$script" --port-file "$tmp/$name.port" --parent-pid $$ "$@" \
        </dev/null >"$tmp/$name.log" 2>&1 &
    pid=$!
    echo "$pid" >"$tmp/helper.$name.pid"
    for ((i = 0; i < 300; i++)); do
        [ -s "$tmp/$name.port" ] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$tmp/helper.$name.pid"
            wait "$pid" || true
            error "$name did not start: $(cat "$tmp/$name.log")"
        fi
        sleep 0.1
    done
    [ -s "$tmp/$name.port" ] || error "$name is not listening after 30s: $(cat "$tmp/$name.log")"
    helper_port=$(cat "$tmp/$name.port")
}

# kfs_helper_stop NAME [STATUS]: stops it with SIGTERM; a helper that had
# exited already, or that exits with another status than STATUS (0: the
# SigV4 proxy exits 1 after a mismatch), fails the test.
kfs_helper_stop()
{
    local name=$1 want=${2:-0} pid rc=0 bad=
    [ -f "$tmp/helper.$name.pid" ] || return 0
    pid=$(cat "$tmp/helper.$name.pid")
    rm -f "$tmp/helper.$name.pid"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" || rc=$?
        [ "$rc" -eq "$want" ] || bad="exited with status $rc, expected $want"
    else
        wait "$pid" || rc=$?
        bad="had died during the test (status $rc)"
    fi
    if [ -n "$bad" ]; then
        echo "---- $name.log (last 30 lines) ----" >&2
        tail -n 30 "$tmp/$name.log" >&2
        if [ "${FUNCNAME[1]}" != _kfs_stop_helpers ]; then
            fail "$name $bad"
        fi
        msg "FAIL: $name $bad"
        [ "$kfs_exit_status" -ne 0 ] || kfs_exit_status=1
    fi
    return 0
}

_kfs_stop_helpers()
{
    local f name
    for f in "$tmp"/helper.*.pid; do
        [ -f "$f" ] || continue
        name=${f##*/helper.}
        kfs_helper_stop "${name%.pid}"
    done
    return 0
}

# kinesalite_start: kinesalite in memory on a free loopback port; sets
# $kinesalite_url and points $kfs_endpoint at it.  Streams stay CREATING
# and DELETING 200 ms: short, yet long enough that a mkdir returning before
# ACTIVE would show.
kinesalite_start()
{
    kfs_helper_start kinesalite kinesalite.js --stream-ms 200
    kinesalite_url=http://127.0.0.1:$helper_port
    kfs_endpoint=$kinesalite_url
}

# fault_proxy_start [ARGS...]: tests/aws/fault-proxy.js in front of
# kinesalite (seeded by $KFS_FAULT_SEED, which a run prints so that it can
# be replayed), and $kfs_endpoint pointed at it.
fault_proxy_start()
{
    : "${KFS_FAULT_SEED:=$RANDOM}"
    msg "fault-proxy seed $KFS_FAULT_SEED (KFS_FAULT_SEED=$KFS_FAULT_SEED replays it)"
    kfs_helper_start faults fault-proxy.js --upstream "$kinesalite_url" \
        --stats "$tmp/faults.stats" --control "$tmp/faults.control" \
        --seed "$KFS_FAULT_SEED" "$@"
    kfs_endpoint=http://127.0.0.1:$helper_port
}

# json_stat FILE FIELD: a value from a helper's JSON stats file
# ("faults.reset", "fetches.AKIA...": 0 when missing).
json_stat()
{
    node -e 'let v = JSON.parse(require("fs").readFileSync(process.argv[1]));
             for (const k of process.argv[2].split(".")) v = v == null ? v : v[k];
             console.log(v == null ? 0 : v)' "$1" "$2"
}

# stat_of FIELD: a number from the fault proxy's stats.
stat_of() { json_stat "$tmp/faults.stats" "$1"; }
_fault_mode_is() { [ "$(stat_of mode)" = "$1" ]; }

# fault_mode LINE: puts LINE in force (see fault-proxy.js).
fault_mode()
{
    printf '%s\n' "$1" >"$tmp/faults.control"
    wait_for 5 "the fault proxy takes mode '$1'" _fault_mode_is "$1"
}

# writer_lines ID FILES FIRST LAST: lines FIRST..LAST of kfs-writer ID
# writing FILES in turn, as aws_read_stream's tsv shows them:
# "KEY<TAB>"LINE\n"".
writer_lines()
{
    "$writer" --print "$1" "$3" "$4" |
        awk -v files="$2" -v first="$3" \
            'BEGIN { m = split(files, f, ",") }
             { printf "%s\t\"%s\\n\"\n", f[(NR + first - 2) % m + 1], $0 }'
}

# start_writers PHASE NLINES FSYNC_EVERY: starts a kfs-writer for each line
# "ID FILE,FILE..." of $writers on the files of stream directory $s, fsync
# every FSYNC_EVERY lines; their pids in ${pids[@]}, ids (PHASE-ID) in
# ${ids[@]}, acks in $tmp/acks.ID, errors in $tmp/err.ID, and "ID FILES
# NLINES" added to $tmp/writer.ids.
start_writers()
{
    local phase=$1 n=$2 every=$3 id files paths f
    pids=()
    ids=()
    while read -r id files; do
        paths=
        for f in ${files//,/ }; do
            paths=${paths:+$paths,}$s/$f
        done
        "$writer" "$paths" "$phase-$id" "$n" "$every" \
            >"$tmp/acks.$phase-$id" 2>"$tmp/err.$phase-$id" &
        pids+=($!)
        ids+=("$phase-$id")
        echo "$phase-$id $files $n" >>"$tmp/writer.ids"
    done <<<"$writers"
}

# wait_acked: each writer of ${ids[@]} has had a first acknowledgement.
_kfs_has_ack() { [ -s "$tmp/acks.$1" ]; }
wait_acked()
{
    local id
    for id in "${ids[@]}"; do
        wait_for 30 "writer $id got a first acknowledgement" _kfs_has_ack "$id"
    done
}

# outage_starts SECS: the writers of $writers start (phase gone-early,
# 2000 lines, fsync every 10) and, once each has a first acknowledgement,
# the endpoint goes for SECS seconds.  Sets ${early_pids[@]},
# ${early_ids[@]} and $t_gone (epoch seconds).
outage_starts()
{
    start_writers gone-early 2000 10
    early_pids=("${pids[@]}")
    early_ids=("${ids[@]}")
    wait_acked
    t_gone=$(date +%s)
    fault_mode "gone secs=$1"
}

# awsk ARGS...: `aws kinesis ARGS` against kinesalite (never through a
# proxy), blobs given raw (--data '{"Data":"1"}' as in the seed scenario).
awsk()
{
    "$KFS_AWS_CLI" --endpoint-url "$kinesalite_url" --region "$kfs_region" \
        --cli-binary-format raw-in-base64-out --no-cli-pager kinesis "$@"
}

# aws_read_shard tsv|raw|agg STREAM SHARD OUT: every record of the shard, read
# with the aws CLI (get-shard-iterator TRIM_HORIZON, then get-records to the
# tip), into OUT: "KEY<TAB>DATA-as-JSON-string" lines (tsv), the data as
# they are (raw), or such lines of every user record, KPL aggregated
# records de-aggregated by the npm aws-kinesis-agg (agg).
aws_read_shard()
{
    local format=$1 stream=$2 shard=$3 out=$4 it n i
    : >"$out"
    it=$(awsk get-shard-iterator --stream-name "$stream" --shard-id "$shard" \
        --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text) ||
        fail "aws kinesis get-shard-iterator $stream $shard failed"
    for ((i = 0; i < 1000; i++)); do
        awsk get-records --shard-iterator "$it" --limit 10000 --output json >"$out.answer" ||
            fail "aws kinesis get-records $stream $shard failed"
        read -r n it < <(NODE_PATH=$KFS_AWS_NODE_MODULES node "$aws_dir/records.js" \
            "$format" "$out.answer" "$out")
        if [ "$n" -eq 0 ] || [ "$it" = - ]; then
            break
        fi
    done
    rm -f "$out.answer"
}

# aws_read_stream tsv|raw|agg STREAM OUT: aws_read_shard of every shard of the
# stream, the shards read at once, one after another in OUT.
aws_read_stream()
{
    local format=$1 stream=$2 out=$3 shard
    local -a shards=() pids=()
    mapfile -t shards < <(awsk list-shards --stream-name "$stream" \
        --query 'Shards[].ShardId' --output text | tr '\t' '\n')
    [ ${#shards[@]} -gt 0 ] || fail "aws kinesis list-shards $stream: no shards"
    for shard in "${shards[@]}"; do
        aws_read_shard "$format" "$stream" "$shard" "$out.$shard" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || fail "reading $stream with the aws CLI failed"
    done
    : >"$out"
    for shard in "${shards[@]}"; do
        cat "$out.$shard" >>"$out"
        rm -f "$out.$shard"
    done
}

# kfs_profiles: writes the credentials and config files with the profile
# forms the tests of credentials share (aws-profiles.sh,
# aws-cli-profiles.sh), and the proxy's key table ($tmp/keys.json): roles
# of account 123456789012 ($acct): base (keys AKIDBASE00000001), r1 (a role
# from base), r2 (a role from r1), self (its own source), envsrc
# (credential_source Environment), mfa (mfa_serial), dev (SSO, sso_session
# corp), legacy (SSO, the legacy form).  Tests append their own.
kfs_profiles()
{
    acct=arn:aws:iam::123456789012
    cat >"$AWS_SHARED_CREDENTIALS_FILE" <<EOF
[base]
aws_access_key_id = AKIDBASE00000001
aws_secret_access_key = base-secret-0001
EOF
    cat >"$AWS_CONFIG_FILE" <<EOF
[profile base]
region = $kfs_region

[profile r1]
role_arn = $acct:role/r1
source_profile = base
region = $kfs_region

[profile r2]
role_arn = $acct:role/r2
source_profile = r1
region = $kfs_region

[profile self]
role_arn = $acct:role/self
source_profile = self
aws_access_key_id = AKIDSELF00000001
aws_secret_access_key = self-secret-0001
region = $kfs_region

[profile envsrc]
role_arn = $acct:role/env
credential_source = Environment
region = $kfs_region

[profile mfa]
role_arn = $acct:role/mfa
source_profile = base
mfa_serial = $acct:mfa/operator
region = $kfs_region

[profile dev]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Developer
region = $kfs_region

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = $kfs_region
sso_registration_scopes = sso:account:access

[profile legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = $kfs_region
sso_account_id = 111122223333
sso_role_name = ReadOnly
region = $kfs_region

EOF
    cat >"$tmp/keys.json" <<EOF
{"AKIDBASE00000001": {"secret": "base-secret-0001", "token": null},
 "AKIDSELF00000001": {"secret": "self-secret-0001", "token": null},
 "AKIDENV000000001": {"secret": "env-secret-00001", "token": null}}
EOF
}

# follower NAME CMD...: runs CMD in the background, its lines each with the
# time they came (ms since the epoch) in $tmp/NAME, its stderr in
# $tmp/NAME.err; kill_followers ends them all (give it to cleanup_fn).
bg_pids=()
follower()
{
    local name=$1
    shift
    : >"$tmp/$name"
    # (Killed at the end: not a failure of the test.)
    (trap - ERR; set +e
        "$@" 2>"$tmp/$name.err" |
        while IFS= read -r l; do printf '%s %s\n' "$(date +%s%3N)" "$l"; done \
            >"$tmp/$name") &
    bg_pids+=($!)
}
kill_followers()
{
    local p
    for p in "${bg_pids[@]}"; do
        pkill -P "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    bg_pids=()
    return 0
}

# ext_lines FILE: the I of each "ext I MS" line of a follower's FILE
# (put-every.js's records), one a line.
ext_lines() { grep -o 'ext [0-9]* [0-9]*' "$1" | awk '{ print $2 }'; }

# ext_latency FILE: the longest time from a put-every.js record's put to
# its line in a follower's FILE, in ms.
ext_latency()
{
    grep -o '^[0-9]* .*ext [0-9]* [0-9]*' "$1" |
        awk '{ d = $1 - $NF; if (d > m) m = d } END { print m + 0 }'
}

# make_ca NAME: a self-signed CA in $pki/NAME.pem / NAME.key ($pki: a
# directory of the test's).
make_ca()
{
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kinesisfs test $1" \
        -keyout "$pki/$1.key" -out "$pki/$1.pem" 2>>"$pki/openssl.log" ||
        error "openssl could not make CA $1: $(cat "$pki/openssl.log")"
}
# make_cert NAME CA SAN: a server certificate signed by CA for SAN.
make_cert()
{
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" \
        -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>>"$pki/openssl.log" &&
        openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.pem" -CAkey "$pki/$2.key" \
            -CAcreateserial -days 2 -out "$pki/$1.pem" \
            -extfile <(printf 'subjectAltName=%s\n' "$3") 2>>"$pki/openssl.log" ||
        error "openssl could not make certificate $1: $(cat "$pki/openssl.log")"
}
