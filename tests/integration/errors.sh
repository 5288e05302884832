#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012
# errors.sh - the errno of each failing operation of SPEC section 5 that
# needs no failing service (on either backend), checked exactly with
# kfs-probe, and that each error reaches the log once, naming the stream
# (or name) concerned.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

kfs_setup
kfs_mount
s=$mnt/errs
mkdir "$s"
sh0=$s/shardId-000000000000
echo 'still here' >>"$sh0"

# ---- EINVAL: names outside [a-zA-Z0-9_.-]{1,128} -------------------------
long129=L129$(printf 'x%.0s' $(seq 125))
long128=L128$(printf 'y%.0s' $(seq 124))
if [ ${#long129} -ne 129 ] || [ ${#long128} -ne 128 ]; then
    error "bad name lengths"
fi

log_mark
# name, then what its log line must match (the log may escape some bytes)
while IFS='|' read -r name marker; do
    expect_probe EINVAL mkdir "$mnt/$name"
    expect_logged 1 1 "$marker" "mkdir '$name'"
    expect_probe ENOENT stat "$mnt/$name"
    expect_logged 0 1 "$marker" "stat of '$name' after a refused mkdir"
done <<NAMES
a b|a b
bad:name|bad:name
star*|star\*
tab	x|tab
$long129|${long129:0:40}
NAMES
# Non-ASCII: the log may escape it.
name=$'caf\xc3\xa9'
expect_probe EINVAL mkdir "$mnt/$name"
expect_logged 1 1 "caf" "mkdir '$name'"
expect_probe ENOENT stat "$mnt/$name"
expect_logged 0 1 "caf" "stat of '$name' after a refused mkdir"
# "x/.." never reaches the daemon as a name: the kernel resolves x first
# (ENOENT), and no stream x may appear.
expect_probe ENOENT mkdir "$mnt/x/.."
expect_logged -i 1 1 "x" "mkdir 'x/..'"
expect_probe ENOENT stat "$mnt/x"
expect_logged -i 0 1 "x" "stat of 'x'"

# The edges of the rule are valid names.
for name in "$long128" "A.b-c_9" "1"; do
    expect_probe OK mkdir "$mnt/$name"
done
expect_logged 0 0 "-" "valid mkdirs"
ls "$mnt" | sort >"$tmp/ls"
printf '%s\n' 1 A.b-c_9 errs "$long128" | sort >"$tmp/ls.expected"
assert_file_eq "$tmp/ls" "$tmp/ls.expected" "ls after refused and valid mkdirs"

# ---- EEXIST -----------------------------------------------------------
# The kernel answers this one from its lookup, so the daemon never sees
# the mkdir and has nothing to log; the errno is what a user sees.
expect_probe EEXIST mkdir "$s"
expect_logged 0 1 "errs" "mkdir of an existing stream"

# ---- ENOENT -----------------------------------------------------------
# Each is a lookup of a missing name: one line each, at info level.
expect_probe ENOENT stat "$mnt/nostream1"
expect_logged -i 1 1 "nostream1" "stat of an unknown stream"
expect_probe ENOENT open-read "$mnt/nostream2/key"
expect_logged -i 1 1 "nostream2" "open of a key in an unknown stream"
expect_probe ENOENT open-write "$mnt/nostream3/key"
expect_logged -i 1 1 "nostream3" "open for writing of a key in an unknown stream"
if echo data 2>/dev/null >>"$mnt/nostream4/key"; then
    fail "echo >> a key of an unknown stream succeeded"
fi
expect_logged -i 1 1 "nostream4" "echo >> a key in an unknown stream"
expect_probe ENOENT open-read "$s/shardId-000000000007"
expect_logged -i 1 1 "errs.*shardId-000000000007" "open of an unknown shard"
expect_probe ENOENT open-write "$s/shardId-000000000001"
expect_logged -i 1 1 "errs.*shardId-000000000001" "open for writing of an unknown shard"
expect_probe ENOENT stat "$s/shardId-000000000001"
expect_logged -i 0 1 "errs.*shardId-000000000001" "stat of an unknown shard"
# Names that are not shardId-<12 digits> are key files: ENOENT until
# created (not logged: "does it exist?" is an everyday question), then
# there.
log_mark
for key in shardId-1 shardId-0000000000000 shardid-000000000000 k; do
    expect_probe ENOENT stat "$s/$key"
    expect_probe OK creat "$s/$key"
    expect_probe OK stat "$s/$key"
done
expect_logged 0 0 '-' "lookups and creation of key files"

# ---- EPERM ------------------------------------------------------------
expect_probe EPERM creat "$mnt/rootfile"
expect_logged 1 1 "rootfile" "creat in the root"
expect_probe ENOENT stat "$mnt/rootfile"
expect_logged 0 1 "rootfile" "stat of the refused root file"
if echo x 2>/dev/null >"$mnt/rootfile2"; then
    fail "echo > a file in the root succeeded"
fi
expect_logged 1 1 "rootfile2" "echo > a file in the root"

expect_probe EPERM unlink "$sh0"
expect_logged 1 1 "errs" "unlink of a shard"
if rm -f "$sh0" 2>/dev/null; then
    fail "rm of a shard file succeeded"
fi
expect_logged 1 1 "errs" "rm of a shard"
[ -f "$sh0" ] || fail "the shard is gone after a refused unlink"

expect_probe EPERM rmdir "$s"
expect_logged 1 1 "errs" "rmdir without allow_delete"
[ -d "$s" ] || fail "the stream is gone after a refused rmdir"

# ---- rename: only key files, within their stream (rotation) ------------
expect_probe EPERM rename "$sh0" "$s/newname"
expect_logged 1 1 "errs" "rename of a shard"
expect_probe 'EXDEV|ENOTSUP' rename "$s" "$mnt/renamed"
expect_logged 1 1 "errs" "rename of a stream"
# A key file that was never created: the kernel's lookup says ENOENT.
expect_probe ENOENT rename "$s/somekey" "$s/otherkey"
expect_logged 0 0 '-' "rename of a key file never created"
# Out of its stream: EXDEV (mv copies).
mkdir "$mnt/errs2"
expect_probe EXDEV rename "$s/k" "$mnt/errs2/k"
expect_logged 1 1 "errs" "rename of a key file out of its stream"
expect_probe ENOENT stat "$mnt/renamed"
expect_logged 0 1 "renamed" "stat of the refused rename's target"
ls "$s" | LC_ALL=C sort >"$tmp/ls.errs"
printf '%s\n' k shardId-000000000000 shardId-0000000000000 shardId-1 \
    shardid-000000000000 >"$tmp/ls.errs.expected"
assert_file_eq "$tmp/ls.errs" "$tmp/ls.errs.expected" "ls of the stream after refused operations"

# Nothing above touched the data.
printf 'still here\n' >"$tmp/data.expected"
timeout 30 cat "$sh0" >"$tmp/data.out"
assert_file_eq "$tmp/data.out" "$tmp/data.expected" "the shard after refused operations"

kfs_umount

# ---- AWS: an endpoint that does not answer fails the mount ---------------
# (a container on a bridge network pointed at the host's loopback): one
# line names the endpoint and the reason; -o no_endpoint_check mounts
# anyway, and calls fail with EIO then (docs/aws.md, "Endpoint").
if on_aws; then
    good=$kfs_endpoint
    kfs_endpoint=http://127.0.0.1:1
    expect_log '^kinesisfs: cannot open the aws backend: Input/output error$'
    kfs_mount_fails "" 1 '^kinesisfs: error: cannot use Kinesis at http://127\.0\.0\.1:1/ \(region [a-z0-9-]+\): ListStreams: .*(connect|Connection refused).*\(Input/output error\)$'
    kfs_mount no_endpoint_check,timeout_ms=1000
    log_mark
    expect_probe EIO mkdir "$mnt/unreachable"
    expect_logged 1 3 'unreachable|ListStreams|DescribeStream|CreateStream' "mkdir with the endpoint unreachable"
    kfs_umount
    kfs_endpoint=$good
fi
