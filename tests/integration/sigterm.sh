#!/bin/bash
# sigterm.sh - SIGTERM while writers hold files open (docs/semantics.md,
# "At unmount or SIGTERM"; docs/containers.md, docker stop).
#
# Three kfs-writers (--hold) write numbered lines without fsync, then a
# tail without a newline, and keep their files open: two on one key file,
# one on another key file and the shard file.  With linger_ms=60000 the
# lines wait in the producer's queue (on AWS; the local engine stores them
# at once), and the tails are partial lines, sent only at close (SPEC 3).
# Then kill -TERM: the daemon must deliver what is queued and the tails,
# unmount and exit 0, well within the 30 s it allows itself, and say in
# its log that it sent each partial line and delivered every queued
# record.  The writers, let go after it exited, find their files gone
# (close gives ENOTCONN, the kernel's answer once the mount is gone); after
# a remount every line and every tail is there exactly once, each file's in
# the order written, the tail last: the key files read by name on the
# local engine, which keeps their names across the remount; on AWS, whose
# names last as long as the mount, they are gone (ENOENT) and the keys
# are read through their @TRIM_HORIZON views.  A reader following a view
# at the tip does not hold the daemon up.  On AWS the fault proxy delays
# every PutRecords by 1.5 s, so that the records are still in flight when
# the signal comes.
. "$(dirname "$0")/functions.sh"
kfs_setup

if on_aws; then
    fault_proxy_start
fi
opts=linger_ms=60000
kfs_mount "$opts"
s=$mnt/s
mkdir "$s"
touch "$s/k1" "$s/k2"
shard=$(shard_name 0)
if on_aws; then
    fault_mode "slow rate=1 ms=1500"
fi

n=100
writers="W1 k1
W2 k1
W3 k2,$shard"
mkfifo "$tmp/hold"
pids=()
while read -r id files; do
    paths=
    for f in ${files//,/ }; do
        paths=${paths:+$paths,}$s/$f
    done
    "$writer" --hold "$paths" "$id" "$n" 0 <"$tmp/hold" >"$tmp/out.$id" 2>"$tmp/err.$id" &
    pids+=($!)
    bg_pids+=($!)
done <<<"$writers"
exec 9>"$tmp/hold"
holding() { grep -qs '^holding ' "$tmp/out.$1"; }
for id in W1 W2 W3; do
    wait_for 20 "writer $id wrote its lines and its tail" holding "$id"
done
before=$(cat "$s/$shard" | wc -l)
msg "$before of $((3 * n)) lines readable before SIGTERM"
if on_aws; then
    # Lingering for 60 s: nothing has been sent yet.
    [ "$before" = 0 ] || fail "$before lines were put before SIGTERM despite linger_ms=60000"
fi

# A follower waits at the tip of a view: SIGTERM must not wait for it.
cat "$s/$shard@LATEST" >"$tmp/follower" 2>"$tmp/follower.err" &
follower=$!
bg_pids+=($follower)
wait_for 10 "the follower has the view open" has_open "$follower" "$s/$shard@LATEST"

kfs_sigterm 35
follower_gone() { ! kill -0 "$follower" 2>/dev/null; }
wait_for 5 "the follower's read ends with the mount" follower_gone
msg "the daemon exited $kfs_stop_ms ms after SIGTERM"
exec 9>&-
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || true
done

# What each writer's close gave: ENOTCONN, the mount being gone.
for id in W1 W2 W3; do
    grep '^close ' "$tmp/out.$id" >"$tmp/closes.$id" || true
    nf=$(awk -v id="$id" '$1 == id { print split($2, a, ",") }' <<<"$writers")
    [ "$(wc -l <"$tmp/closes.$id")" = "$nf" ] || fail "writer $id: $(cat "$tmp/out.$id" "$tmp/err.$id")"
    if grep -v -E ' (OK|Transport endpoint is not connected)$' "$tmp/closes.$id"; then
        fail "writer $id: a close failed otherwise"
    fi
done

# The log says what it sent and that all was delivered.
for f in s/k1 s/k2 "s/$shard"; do
    c=$(grep -c -F "info: $f: sending the partial line of a file still open at unmount" "$kfs_log" || true)
    [ "$c" -ge 1 ] || fail "the log does not say the partial line of $f was sent"
done
grep -q -E 'info: unmount: every record still queued was delivered \([0-9]+\)' "$kfs_log" ||
    fail "the log does not say every queued record was delivered"
if grep -q -E 'not (stored|delivered)' "$kfs_log"; then
    fail "records were lost: $(grep -E 'not (stored|delivered)' "$kfs_log")"
fi

kfs_mount "$opts"
# expected ID FILE-INDEX NFILES: the lines writer ID wrote to its file
# number FILE-INDEX (of NFILES), in order, then its tail.
expected()
{
    "$writer" --print "$1" 1 "$n" | awk -v i="$2" -v m="$3" '(NR - 1) % m == i - 1'
    echo "$1 tail $2"
}
cat "$s/$shard" >"$tmp/got.$shard"
# The key files: the lines of their writers and a tail each.
for f in k1:$((2 * n + 2)) k2:$((n / 2 + 1)); do
    k=${f%:*}
    if on_aws; then
        expect_probe ENOENT stat "$s/$k"
        # The view follows: read until its lines came, and half a second
        # more to catch any that should not.
        "$probe" read-for "$s/$k@TRIM_HORIZON" $((30000 * kfs_slow)) "${f#*:}l" \
            >"$tmp/got.$k" 2>"$tmp/got.$k.end"
        grep -q '^end: timeout ' "$tmp/got.$k.end" ||
            fail "reading $k@TRIM_HORIZON: $(cat "$tmp/got.$k.end")"
    else
        [ -f "$s/$k" ] || fail "the key file $k is gone after the remount"
        cat "$s/$k" >"$tmp/got.$k"
    fi
done
# k1: W1 and W2, each in order; k2 and the shard: W3's odd and even lines.
for id in W1 W2; do
    grep "^$id " "$tmp/got.k1" >"$tmp/got.k1.$id" || true
    expected "$id" 1 1 >"$tmp/want.k1.$id"
    assert_file_eq "$tmp/got.k1.$id" "$tmp/want.k1.$id" "key file k1, writer $id"
done
[ "$(wc -l <"$tmp/got.k1")" = $((2 * n + 2)) ] || fail "k1 holds $(wc -l <"$tmp/got.k1") lines, $((2 * n + 2)) written"
expected W3 1 2 >"$tmp/want.k2"
assert_file_eq "$tmp/got.k2" "$tmp/want.k2" "key file k2"
cp "$tmp/got.$shard" "$tmp/got.shard"
sort "$tmp/got.shard" >"$tmp/got.sorted"
assert_once "$tmp/got.sorted" "lines"
{ expected W1 1 1; expected W2 1 1; expected W3 1 2; expected W3 2 2; } | sort >"$tmp/want.sorted"
assert_file_eq "$tmp/got.sorted" "$tmp/want.sorted" "every line and tail once in the shard"
grep "^W3 " "$tmp/got.shard" | grep -v -F -x -f "$tmp/want.k2" >"$tmp/got.w3shard" || true
expected W3 2 2 >"$tmp/want.w3shard"
assert_file_eq "$tmp/got.w3shard" "$tmp/want.w3shard" "W3's lines to the shard file, in order"
kfs_umount
