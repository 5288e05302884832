#!/usr/bin/env bash
# shellcheck disable=SC2119
# torture.sh - kill -9 of the daemon at random moments while writers
# write, round after round on the same data_dir.  After each crash and
# remount:
#  - every line whose fsync (or close) succeeded is there exactly once;
#  - everything there is a whole line that was written (no torn, mixed or
#    made-up line), each writer's lines to one key in order;
#  - sequence numbers (the .jsonl view) grow strictly within each shard;
#    every record read before (at the previous check, and by a reader
#    following the stream up to the kill) is still there with the same
#    sequence number, and records new since the previous check come after
#    all of them (no number handed out again);
#  - the stream takes new writes.
# A round ends with a clean unmount or, one time in two, with another
# kill -9 of the daemon that has just recovered.
#
#   KFS_TORTURE_ROUNDS=N          rounds (default 10; 3 under valgrind)
#   KFS_TORTURE_STREAM_ROUNDS=N   rounds written to one stream before the
#                                 next one (default 5), so that the checks
#                                 of a long run stay short; the streams
#                                 written before are checked each round by
#                                 their shard sizes, and at the end whole
#                                 (their contents' MD5)
#   KFS_SEED=N                    replays a run: every random choice (each
#                                 writer's fsync interval, the moment of
#                                 each kill, unmount or second kill) is
#                                 drawn from the seed the test prints at
#                                 the start ("seed N (KFS_SEED=N replays
#                                 it)"), in the test's own shell only
#                                 (rand in functions.sh).  The same
#                                 choices; the daemon's and the writers'
#                                 timing still varies from run to run.
#
# The long form: KFS_TORTURE_ROUNDS=300 make check TESTS=tests/integration/torture.sh
# (tests/torture-long.sh).  kill9.sh runs this on both backends.

if [ "${KFS_VALGRIND:-}" = 1 ]; then
    rounds=${KFS_TORTURE_ROUNDS:-3}
else
    rounds=${KFS_TORTURE_ROUNDS:-10}
fi
stream_rounds=${KFS_TORTURE_STREAM_ROUNDS:-5}
: "${KFS_TEST_TIMEOUT:=$((120 + 20 * rounds))}"

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

requires jq --version
kfs_seed
kfs_setup
cat_to() { read_into "$tmp/$1" "$2"; }

nshards=2
# The writers with SPLIT 2 send each line in two write calls: a half line
# waits for its newline (SPEC 3), so a torn line in a shard is a failure.
opts=shards=$nshards,linger_ms=10000
view_ms=$((15000 * kfs_slow))
: >"$tmp/acked.all"
: >"$tmp/writers.all"
: >"$tmp/old.streams"

# The writers of a round: ID, then FILE[,FILE...] relative to the stream,
# then FSYNC_EVERY (drawn from 1 to the MAX below) and SPLIT (write calls
# per line).  Nine of them keep the daemon's queue full, so that an fsync
# acknowledged before its records are stored would be caught.
writers_of_round()
{
    local r=$1 id files max split
    while read -r id files max split; do
        rand "$max"
        echo "r$r$id $files $((rand + 1)) $split"
    done <<'EOF2'
a k1 20 1
b k2 20 2
c k3,k4 20 1
d shardId-000000000001 20 1
e k1 1 1
f k5 200 1
g k6 200 1
h k7,k8 200 1
i k9 200 1
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

# jsonl_records JSONL: "SHARD SEQUENCENUMBER LINE" for each whole line of
# a .jsonl view's output (a reader killed mid-line leaves a partial one).
jsonl_records()
{
    # No whole line at all (a reader killed before the first) is no error.
    { grep -a '}$' "$1" || true; } |
        jq -r '"\(.ShardId) \(.SequenceNumber) \(.Data | rtrimstr("\n"))"' ||
        fail "$1: not JSON lines"
}

# shard_sizes STREAM: "SHARD SIZE" of each shard file.
shard_sizes()
{
    local i
    for ((i = 0; i < nshards; i++)); do
        echo "$(shard_name $i) $(file_size "$mnt/$1/$(shard_name $i)")"
    done
}

# check_stream ROUND: everything the checks above say, for the stream
# written to now ($s), against what every writer of it acknowledged.
check_stream()
{
    local round=$1 i n id max
    : >"$tmp/got"
    : >"$tmp/all"
    for ((i = 0; i < nshards; i++)); do
        cat_to "shard.$i" "$s/$(shard_name $i)"
        cat "$tmp/shard.$i" >>"$tmp/all"
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
    grep -x -E 'r[0-9]+z 1 after-remount' "$tmp/all" | sort >"$tmp/markers" || true
    sort "$tmp/markers.written" >"$tmp/markers.expected"
    assert_file_eq "$tmp/markers" "$tmp/markers.expected" \
        "round $round: the lines written after earlier remounts"
    # Each line read names its writer and number: the lines each writer
    # may have written, up to the highest number read.
    awk '{ if ($2 + 0 > max[$1]) max[$1] = $2 + 0 } END { for (id in max) print id, max[id] }' \
        "$tmp/got" >"$tmp/maxes"
    : >"$tmp/written"
    while read -r id max; do
        grep -q -x -E 'r[0-9]+[a-i]' <<<"$id" || fail "round $round: a line from no writer: $id"
        "$writer" --print "$id" 1 "$max" >>"$tmp/written"
    done <"$tmp/maxes"
    sort "$tmp/got" >"$tmp/got.sorted"
    sort "$tmp/written" >"$tmp/written.sorted"
    sort "$tmp/acked.all" >"$tmp/acked.sorted"

    assert_once "$tmp/got.sorted" "lines are there (round $round)"
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

    # Sequence numbers, from the stream's .jsonl view (which follows:
    # read until every record came).
    n=$(grep -c '' "$tmp/all" || true)
    "$probe" read-for "$s/@TRIM_HORIZON.jsonl" "$view_ms" "${n}l" >"$tmp/view" 2>"$tmp/view.end"
    jsonl_records "$tmp/view" >"$tmp/seqs"
    assert_eq "$(grep -c '' "$tmp/seqs" || true)" "$n" "round $round: records in @TRIM_HORIZON.jsonl"
    cut -d' ' -f3- "$tmp/seqs" | sort >"$tmp/seqs.lines"
    sort "$tmp/all" >"$tmp/all.sorted"
    cmp -s "$tmp/seqs.lines" "$tmp/all.sorted" ||
        fail "round $round: @TRIM_HORIZON.jsonl and the shard files hold different lines"
    # All 56 digits: compared as strings (awk would compare numbers as
    # doubles).
    awk '{ if (($1 in last) && ($2 "") <= last[$1]) { print "not growing: " $0; exit 1 }
           last[$1] = $2 "" }' "$tmp/seqs" >&2 ||
        fail "round $round: sequence numbers do not grow within a shard"
    sort "$tmp/seqs" >"$tmp/seqs.sorted"
    # What was read before is still there, with the same numbers.
    for f in "$tmp/seqs.prev" "$tmp/follow.$round"; do
        [ -s "$f" ] || continue
        comm -23 "$f" "$tmp/seqs.sorted" >"$tmp/changed"
        if [ -s "$tmp/changed" ]; then
            head -n 5 "$tmp/changed" | cut -c1-200 >&2
            fail "round $round: $(wc -l <"$tmp/changed") records read before (${f##*/}) are gone or renumbered"
        fi
    done
    # Records new since the last check come after every record of then.
    if [ -s "$tmp/seqs.prev" ]; then
        comm -13 "$tmp/seqs.prev" "$tmp/seqs.sorted" >"$tmp/new"
        awk 'NR == FNR { if (($2 "") > max[$1] "") max[$1] = $2 ""; next }
             ($1 in max) && ($2 "") <= max[$1] { print "number given again: " $0; exit 1 }' \
            "$tmp/seqs.prev" "$tmp/new" >&2 ||
            fail "round $round: a record new since the last check has a number not past the old ones"
    fi
    mv "$tmp/seqs.sorted" "$tmp/seqs.prev"
    msg "round $round: $(wc -l <"$tmp/got") lines, $(wc -l <"$tmp/acked.sorted") acknowledged, all there"
}

# stream_sum STREAM: the MD5 of its shards' contents, one after another,
# each read whole (read_into: a failed read fails the test).  For an
# assignment, whose status set -e checks.
stream_sum()
{
    local i
    : >"$tmp/sum.all"
    for ((i = 0; i < nshards; i++)); do
        read_into "$tmp/sum.shard" "$mnt/$1/$(shard_name $i)"
        cat "$tmp/sum.shard" >>"$tmp/sum.all"
    done
    md5sum <"$tmp/sum.all" | cut -d' ' -f1
}

# check_old_streams: the streams written in earlier rounds did not change
# (sizes each round; the content itself with $1 = all).
check_old_streams()
{
    local name sum now
    while read -r name sum; do
        shard_sizes "$name" | diff "$tmp/sizes.$name" - >&2 ||
            fail "stream $name changed after it was last written"
        if [ "${1:-}" = all ]; then
            now=$(stream_sum "$name")
            [ "$now" = "$sum" ] || fail "stream $name changed after it was last written"
        fi
    done <"$tmp/old.streams"
}

# Recovery may cut the torn tail of a log that a kill interrupted, or the
# index entries past it, and say so.
expect_log '^kinesisfs: warning: [^ ]+/streams/crash[0-9]+/shardId-[0-9]{12}/[0-9]{16}\.(log: torn or corrupt tail cut at offset [0-9]+ \([0-9]+ bytes removed\)(; [0-9]+ index entries dropped)?|idx: [0-9]+ index entries beyond the last valid record dropped)$'
s=
for ((round = 1; round <= rounds; round++)); do
    msg "round $round"
    kfs_mount "$opts"
    # A new stream every stream_rounds rounds: what the last one holds
    # is kept to be checked again.
    if [ $(((round - 1) % stream_rounds)) = 0 ]; then
        if [ -n "$s" ]; then
            shard_sizes "${s##*/}" >"$tmp/sizes.${s##*/}"
            sum=$(stream_sum "${s##*/}")
            echo "${s##*/} $sum" >>"$tmp/old.streams"
        fi
        s=$mnt/crash$(((round - 1) / stream_rounds))
        mkdir "$s"
        : >"$tmp/acked.all"
        : >"$tmp/markers.written"
        rm -f "$tmp/seqs.prev"
    fi

    # A reader follows the stream up to the kill: what it saw must
    # survive the crash.
    "$probe" read-for "$s/@TRIM_HORIZON.jsonl" 3600000 >"$tmp/follow.raw" 2>/dev/null &
    bg_pids+=($!)
    follower=$!

    writers_of_round "$round" >"$tmp/writers.$round"
    cat "$tmp/writers.$round" >>"$tmp/writers.all"
    msg "round $round: fsync every $(awk '{ printf "%s%s", sep, $3; sep = "," }' "$tmp/writers.$round") lines"
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

    # Kill at a random moment: before the first write or in the middle
    # of the writes.
    rand 800
    delay=$((rand * kfs_slow))
    sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
    # The first round leaves the dead mount, as a killed container does:
    # the next daemon clears it itself.
    if [ "$round" = 1 ]; then
        kfs_kill9 --keep-mount
    else
        kfs_kill9
    fi

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
    nacked=0
    while read -r id rest; do
        acks_of "$tmp/acks.$id" >>"$tmp/acked.all"
        nacked=$((nacked + $(grep -c '' "$tmp/acks.$id" || true)))
    done <"$tmp/writers.$round"
    wait "$follower" || true
    jsonl_records "$tmp/follow.raw" | sort >"$tmp/follow.$round"
    msg "round $round: killed after ${delay} ms, $nacked fsyncs acknowledged," \
        "$(grep -c '' "$tmp/follow.$round" || true) records seen by the reader"

    # Remount and read everything back.
    kfs_mount "$opts"
    if [ "$round" = 1 ]; then
        grep -q -F "$mnt: a kinesisfs that ended without unmounting (killed) left its mount there: unmounting it" "$kfs_log" ||
            fail "round 1: the new daemon did not say it cleared the dead mount"
    fi
    check_stream "$round"
    if [ "$round" = "$rounds" ]; then
        check_old_streams all
    else
        check_old_streams
    fi
    rm -f "$tmp/follow.$round"

    # The stream takes new records after the crash.
    echo "r${round}z 1 after-remount" >>"$s/marker"
    echo "r${round}z 1 after-remount" >>"$tmp/markers.written"
    grep -q -x "r${round}z 1 after-remount" "$s/marker" ||
        fail "round $round: a line written after the remount is not there"
    rand 2
    if [ "$rand" = 0 ]; then
        msg "round $round: ends with an unmount"
        kfs_umount
    else
        msg "round $round: ends with a kill -9 of the recovered daemon"
        kfs_kill9
    fi
done
