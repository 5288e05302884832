#!/usr/bin/env bash
# shellcheck disable=SC2119
# kill9.sh - kill -9 of the daemon while writers write: after a remount,
# every line whose fsync (or close) succeeded is there exactly once, and
# everything there is a whole line that was written.  Three rounds on the
# same data_dir, each checking all rounds so far.  On AWS the same holds
# of what kinesalite stored (no torn tail to recover there: the lines are
# whole records or nothing).
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

kfs_setup
cat_to() { timeout 60 cat "$2" >"$tmp/$1" || fail "cat $2 failed"; }

s=$mnt/crash
nshards=2
# The writers with SPLIT 2 send each line in two write calls: a long
# linger keeps a slow daemon (valgrind) from sending a half line as its
# own record, which SPEC allows and would read as a torn line.
opts=shards=$nshards,linger_ms=10000
rounds=3
: >"$tmp/acked.all"
: >"$tmp/writers.all"

# The writers of a round: ID, then FILE[,FILE...] relative to the stream,
# then FSYNC_EVERY and SPLIT (write calls per line).  Nine of them keep
# the daemon's queue full, so that an fsync acknowledged before its
# records are stored would be caught.
writers_of_round()
{
    local r=$1
    cat <<EOF2
r${r}a k1 $((RANDOM % 20 + 1)) 1
r${r}b k2 $((RANDOM % 20 + 1)) 2
r${r}c k3,k4 $((RANDOM % 20 + 1)) 1
r${r}d shardId-000000000001 $((RANDOM % 20 + 1)) 1
r${r}e k1 1 1
r${r}f k5 $((RANDOM % 200 + 1)) 1
r${r}g k6 $((RANDOM % 200 + 1)) 1
r${r}h k7,k8 $((RANDOM % 200 + 1)) 1
r${r}i k9 $((RANDOM % 200 + 1)) 1
EOF2
}

# acks_of FILE: the lines that the "ack ID FIRST LAST" lines of FILE cover.
acks_of()
{
    local word id first last
    while read -r word id first last; do
        [ "$word" = ack ] || fail "unexpected kfs-writer output: $word $id $first $last"
        "$writer" --print "$id" "$first" "$last"
    done <"$1"
}

for ((round = 1; round <= rounds; round++)); do
    msg "round $round"
    kfs_mount "$opts"
    [ -d "$s" ] || mkdir "$s"

    writers_of_round "$round" >"$tmp/writers.$round"
    cat "$tmp/writers.$round" >>"$tmp/writers.all"
    pids=()
    while read -r id files every split; do
        paths=
        IFS=, read -r -a fs <<<"$files"
        for f in "${fs[@]}"; do
            paths=${paths:+$paths,}$s/$f
        done
        "$writer" "$paths" "$id" 100000000 "$every" "$split" \
            >"$tmp/acks.$id" 2>"$tmp/err.$id" &
        pids+=($!)
    done <"$tmp/writers.$round"

    # Kill at a random moment, once every writer has had an acknowledgement.
    all_acked()
    {
        local id rest
        while read -r id rest; do
            [ -s "$tmp/acks.$id" ] || return 1
        done <"$tmp/writers.$round"
    }
    wait_for 30 "every writer of round $round got an fsync acknowledged" all_acked
    sleep "0.$((RANDOM % 900 + 100))"
    kfs_kill9

    # The writers meet the dead connection and stop with an error.
    for pid in "${pids[@]}"; do
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid"
            fail "a writer is still running 10s after the daemon died"
        fi
        if wait "$pid"; then
            fail "a writer of 100,000,000 lines succeeded"
        fi
    done
    while read -r id rest; do
        acks_of "$tmp/acks.$id" >>"$tmp/acked.all"
        msg "$id: $(wc -l <"$tmp/acks.$id") acknowledgements, last: $(tail -n 1 "$tmp/acks.$id")"
    done <"$tmp/writers.$round"

    # Remount and read everything back.  Recovery may cut the torn tail of
    # a log that the kill interrupted, and say so.
    expect_log '^kinesisfs: warning: .*torn'
    kfs_mount "$opts"
    : >"$tmp/got"
    for ((i = 0; i < nshards; i++)); do
        cat_to "shard.$i" "$s/$(shard_name $i)"
        # Lines written after each earlier remount are not kfs-writer's.
        grep -v -x -E 'r[0-9]+z 1 after-remount' "$tmp/shard.$i" >>"$tmp/got" || true
        # Each writer's lines to one key keep their order (the order
        # SPEC promises is per partition key: a writer sends line n to
        # its file (n-1) % nfiles, and two keys may go in two batches).
        awk 'NR == FNR { n = split($2, f, ","); nfiles[$1] = n; next }
             !($1 in nfiles) { next }
             { k = $1 "/" (($2 - 1) % nfiles[$1])
               if ((k in last) && $2 + 0 <= last[k]) { print "out of order: " $0; exit 1 }
               last[k] = $2 + 0 }' "$tmp/writers.all" "$tmp/shard.$i" >&2 ||
            fail "round $round: a writer's lines to one key are out of order in shard $i"
    done
    cat "$tmp"/shard.* | grep -x -E 'r[0-9]+z 1 after-remount' | sort >"$tmp/markers" || true
    seq 1 $((round - 1)) | sed 's/.*/r&z 1 after-remount/' | sort >"$tmp/markers.expected"
    assert_file_eq "$tmp/markers" "$tmp/markers.expected" \
        "round $round: the lines written after earlier remounts"
    [ -s "$tmp/got" ] || fail "round $round: the stream is empty after the crash"
    # Each line read names its writer and number: the lines each writer
    # may have written, up to the highest number read.
    awk '{ if ($2 + 0 > max[$1]) max[$1] = $2 + 0 } END { for (id in max) print id, max[id] }' \
        "$tmp/got" >"$tmp/maxes"
    : >"$tmp/written"
    while read -r id max; do
        grep -q -x -E 'r[0-9]+[a-i]' <<<"$id" || fail "a line from no writer: $id"
        "$writer" --print "$id" 1 "$max" >>"$tmp/written"
    done <"$tmp/maxes"
    sort "$tmp/got" >"$tmp/got.sorted"
    sort "$tmp/written" >"$tmp/written.sorted"
    sort "$tmp/acked.all" >"$tmp/acked.sorted"

    uniq -d "$tmp/got.sorted" >"$tmp/dups"
    if [ -s "$tmp/dups" ]; then
        head -n 5 "$tmp/dups" >&2
        fail "round $round: $(wc -l <"$tmp/dups") lines are there more than once"
    fi
    comm -23 "$tmp/got.sorted" "$tmp/written.sorted" >"$tmp/bad"
    if [ -s "$tmp/bad" ]; then
        head -n 5 "$tmp/bad" | cut -c1-200 >&2
        fail "round $round: $(wc -l <"$tmp/bad") lines there were never written (torn or mixed)"
    fi
    comm -13 "$tmp/got.sorted" "$tmp/acked.sorted" >"$tmp/lost"
    if [ -s "$tmp/lost" ]; then
        head -n 5 "$tmp/lost" >&2
        fail "round $round: $(wc -l <"$tmp/lost") acknowledged lines are missing"
    fi
    msg "round $round: $(wc -l <"$tmp/got") lines, $(wc -l <"$tmp/acked.sorted") acknowledged, all there"

    # The stream takes new records after the crash.
    echo "r${round}z 1 after-remount" >>"$s/marker"
    grep -q -x "r${round}z 1 after-remount" "$s/marker" ||
        fail "round $round: a line written after the remount is not there"
    kfs_umount
done
