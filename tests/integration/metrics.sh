#!/usr/bin/env bash
# shellcheck disable=SC2119
# metrics.sh - MOUNT/@metrics (docs/metrics.md): lines written to two
# streams (one big write, and many small ones) and read back through a
# shard file and a key file show exactly in the per-stream counters of
# records and bytes put and read; the document is valid Prometheus text
# (promtool, and a check of our own of its shape); it is not listed, it is
# read-only with the documented errnos, its st_size is its length, and a
# reader sees one snapshot however it reads.  On AWS (aws-metrics.sh), the
# fault proxy throttles PutRecords: the throttle and retry counters move
# while the records put stay exact.  Logs: on stderr with -f, each line
# with its level, debug lines only with -o debug.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires promtool --version

kfs_setup
if on_aws; then
    fault_proxy_start
fi
kfs_mount
m=$mnt/@metrics

# metric NAME [STREAM]: the value of sample kinesisfs_NAME (of STREAM) in
# the document $tmp/doc; empty when there is none.
metric()
{
    local sel=kinesisfs_$1
    [ $# -lt 2 ] || sel="kinesisfs_$1{stream=\"$2\"}"
    awk -v s="$sel" '$1 == s { print $2 }' "$tmp/doc"
}

# assert_metric NAME STREAM WANT
assert_metric()
{
    assert_eq "$(metric "$1" "$2")" "$3" "kinesisfs_$1 of $2"
}

# check_format: $tmp/doc is Prometheus text: promtool finds nothing to
# say, and each family has one HELP and one TYPE line, before its samples,
# which come together; every sample is `kinesisfs_NAME{stream="S"} N` or
# `kinesisfs_NAME N`; counters end in _total.
check_format()
{
    local out
    out=$(promtool check metrics <"$tmp/doc" 2>&1) ||
        fail "promtool check metrics: $out"
    [ -z "$out" ] || fail "promtool check metrics: $out"
    [ "$(tail -c 1 "$tmp/doc" | od -An -c | tr -d ' ')" = '\n' ] ||
        fail "the document does not end with a newline"
    out=$(awk '
        function bad(why) { print NR ": " why ": " $0; exit 1 }
        /^# HELP / {
            if (!($3 ~ /^kinesisfs_[a-z_]+$/)) bad("HELP of a bad name")
            if (help[$3]++) bad("HELP twice")
            if (done[$3]) bad("HELP after the samples")
            if (NF < 4) bad("HELP without text")
            next
        }
        /^# TYPE / {
            if (!help[$3]) bad("TYPE before HELP")
            if (type[$3]) bad("TYPE twice")
            if ($4 != "counter" && $4 != "gauge") bad("unknown type")
            if ($4 == "counter" && $3 !~ /_total$/) bad("a counter not in _total")
            type[$3] = $4
            cur = $3
            next
        }
        /^#/ { bad("a comment of another kind") }
        {
            if (NF != 2) bad("not name and value")
            name = $1
            sub(/\{stream="[a-zA-Z0-9_.-]+"\}$/, "", name)
            if (!(name ~ /^kinesisfs_[a-z_]+$/)) bad("bad sample name or labels")
            if (name != cur) bad("a sample outside its family")
            if (!($2 ~ /^[0-9]+(\.[0-9]+)?$/)) bad("bad value")
            if (seen[$1]++) bad("a sample twice")
            done[name] = 1
            n++
        }
        END { if (n == 0) { print "no samples"; exit 1 } }
    ' "$tmp/doc") || fail "the metrics file is not Prometheus text: $out"
}

# ---- the file itself ---------------------------------------------------
expect_probe OK stat "$m"
cat "$m" >"$tmp/doc"
check_format
[ "$(stat -c %F:%a "$m")" = "regular file:444" ] ||
    fail "@metrics is $(stat -c %F:%a "$m"), expected a read-only regular file"
for f in "$mnt"/*; do
    [ "$f" != "$m" ] || fail "@metrics is listed in the root"
done
! ls_has "$mnt" @metrics || fail "ls -a lists @metrics"
# Read-only: EACCES as views (docs/metrics.md).
log_mark
expect_probe EACCES open-write "$m"
expect_probe EACCES writestr "$m" "x 1"
expect_probe EACCES truncate "$m" 0
expect_logged 3 3 '@metrics' "writing to @metrics"
expect_probe EPERM unlink "$m"
expect_probe EPERM chmod "$m" 644
expect_probe 'EXDEV|ENOTSUP' rename "$m" "$mnt/@m2"
expect_logged 3 3 '@metrics' "unlink, chmod, rename of @metrics"
expect_probe ENOTDIR stat "$m/x"
expect_probe EEXIST mkdir "$m"

# ---- writing and reading -------------------------------------------------
mkdir "$mnt/m1" "$mnt/m2"
n1=300
n2=40
for ((i = 1; i <= n1; i++)); do
    echo "alpha line $i of m1"
done >"$tmp/a"
for ((i = 1; i <= n2; i++)); do
    echo "beta $i"
done >"$tmp/b"
# m1: one write of every line (the local engine stores it from the
# writer's thread); m2: a write and a close per line (queued, batched).
cat "$tmp/a" >>"$mnt/m1/k1"
while IFS= read -r line; do
    printf '%s\n' "$line" >>"$mnt/m2/k2"
done <"$tmp/b"
bytes1=$(wc -c <"$tmp/a")
bytes2=$(wc -c <"$tmp/b")

# close(2) returned: every record is counted (before the writer heard).
cat "$m" >"$tmp/doc"
check_format
assert_metric put_records_total m1 "$n1"
assert_metric put_bytes_total m1 "$bytes1"
assert_metric put_records_total m2 "$n2"
assert_metric put_bytes_total m2 "$bytes2"
assert_metric read_records_total m1 0
assert_metric read_bytes_total m1 0
assert_metric put_failed_records_total m1 0
assert_metric producer_queued_records m2 0
assert_metric producer_inflight_records m2 0
assert_metric producer_oldest_unacked_age_seconds m2 0.000
[ -n "$(metric producer_queue_limit_bytes)" ] || fail "no queue limit"

cat "$mnt/m1/shardId-000000000000" >"$tmp/got1"
assert_file_eq "$tmp/got1" "$tmp/a" "m1 read back"
cat "$mnt/m2/k2" >"$tmp/got2"
assert_file_eq "$tmp/got2" "$tmp/b" "m2 read back through its key file"

cat "$m" >"$tmp/doc"
check_format
assert_metric read_records_total m1 "$n1"
assert_metric read_bytes_total m1 "$bytes1"
assert_metric read_records_total m2 "$n2"
assert_metric read_bytes_total m2 "$bytes2"
assert_metric put_records_total m1 "$n1"

# A record over the limit: refused, counted, nothing put.
log_mark
expect_probe EFBIG write "$mnt/m2/k2" 2000000
expect_logged 1 1 'm2' "the record over the limit"
cat "$m" >"$tmp/doc"
assert_metric put_rejected_records_total m2 1
assert_metric put_records_total m2 "$n2"

# ---- a snapshot per open ---------------------------------------------------
# st_size is the length of the document (nothing moves meanwhile), and a
# reader in small pieces gets one whole document while records are put.
assert_eq "$(stat -c %s "$m")" "$(wc -c <"$tmp/doc")" "st_size of @metrics"
exec 3<"$m"
echo "one more" >>"$mnt/m1/k1"
cat <&3 >"$tmp/doc.open"
exec 3<&-
assert_file_eq "$tmp/doc.open" "$tmp/doc" "a document read after records were put"
dd if="$m" bs=7 status=none >"$tmp/doc.small"
cp "$tmp/doc.small" "$tmp/doc"
check_format
assert_metric put_records_total m1 $((n1 + 1))

# ---- the AWS backend: throttling ----------------------------------------------
if on_aws; then
    cat "$m" >"$tmp/doc"
    assert_metric put_throttled_records_total m2 0
    assert_eq "$(metric throttled_requests_total)" 0 "throttled requests before"
    retried0=$(metric retried_requests_total)
    fault_mode "throttle rate=1 repeat=2"
    for ((i = 1; i <= 10; i++)); do
        echo "throttled $i"
    done >"$tmp/c"
    cat "$tmp/c" >>"$mnt/m2/k2"
    fault_mode none
    thr=$(stat_of faults.throttle)
    [ "$thr" -ge 2 ] || fail "the fault proxy throttled $thr requests"
    cat "$m" >"$tmp/doc"
    check_format
    assert_metric put_records_total m2 $((n2 + 10))
    assert_metric put_bytes_total m2 $((bytes2 + $(wc -c <"$tmp/c")))
    assert_metric put_failed_records_total m2 0
    # Each throttled PutRecords refused every record of it, and sent it
    # again: at least 2 refusals and 2 resends of each of the 10 records.
    [ "$(metric put_throttled_records_total m2)" -ge 20 ] ||
        fail "put_throttled_records_total of m2: $(metric put_throttled_records_total m2), expected 20 or more"
    [ "$(metric put_retried_records_total m2)" -ge 20 ] ||
        fail "put_retried_records_total of m2: $(metric put_retried_records_total m2), expected 20 or more"
    msg "throttled: $thr requests; m2: $(metric put_throttled_records_total m2) records throttled, $(metric put_retried_records_total m2) resent"
    assert_eq "$(metric throttled_requests_total)" "$thr" \
        "throttled requests (the proxy's count)"
    assert_eq "$(metric retried_requests_total)" "$retried0" \
        "requests retried by the backend (PutRecords is retried by the producer)"
fi

# ---- logs: debug lines only with -o debug; a deleted stream's counters go ------
kfs_umount
! grep -q '^kinesisfs: debug: ' "$kfs_log" || fail "debug lines without -o debug"
grep -q '^kinesisfs: info: mounted ' "$kfs_log" || fail "no info line at mount"
kfs_mount allow_delete,debug
cat "$m" >"$tmp/doc"
assert_eq "$(metric put_records_total m1)" "" "counters of a new mount"
echo x >>"$mnt/m1/k1"
cat "$m" >"$tmp/doc"
assert_metric put_records_total m1 1
rmdir "$mnt/m1"
cat "$m" >"$tmp/doc"
assert_eq "$(metric put_records_total m1)" "" "counters of a deleted stream"
check_format
grep -q '^kinesisfs: debug: ' "$kfs_log" || fail "no debug line with -o debug"
kfs_umount
