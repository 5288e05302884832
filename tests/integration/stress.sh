#!/usr/bin/env bash
# shellcheck disable=SC2119
# stress.sh - everything at once for a bounded time (KFS_STRESS_SECONDS,
# 15 by default): 8 writers over 64 keys on 4 shards (16 keys a writer,
# 4 writers a key, fsync every 50 lines), while followers read views
# (`@TRIM_HORIZON`, `@TRIM_HORIZON.jsonl`, each shard's `@LATEST`, a key's
# `@TRIM_HORIZON`, and views opened half-way: `@LATEST`, a shard's
# `@LATEST.jsonl`, a key's `@LATEST`), plain `cat`s of shard and key files
# loop, views are opened and closed early or interrupted while they wait,
# and `ls -l`, `stat` and `getfattr -d` loop on the root, the stream and
# its files.  The 64 key files are created (touch) before anything reads
# them, as a key file exists once created; ls -l lists them.  Then:
#   - the shard files hold every acknowledged line exactly once, each
#     key in one shard, each writer's lines in order within each key;
#   - every follower saw its shards' records consecutively, no repeats, no
#     gaps, in order, up to the end: from the first record (those opened
#     before the first write), or from where it opened (those opened
#     half-way);
#   - every plain `cat` got a prefix of the file it read, in whole lines;
#   - shard and key file sizes never went down nor past what the file
#     holds, and end at what it holds;
#   - the daemon logged no error or warning.
# Nothing depends on timing: the writers stop on a deadline, and the
# checks wait for the followers to catch up.  Under ThreadSanitizer
# (make check-tsan) the daemon must also run without a report.
# On both backends.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires jq --version
requires getfattr --version
requires md5sum --version

: "${KFS_STRESS_SECONDS:=15}"
# A cap on each writer's lines, so that a fast machine does not make the
# checks (and the plain readers, which read whole shards) slow.
: "${KFS_STRESS_MAX_LINES:=20000}"
nwriters=8
nkeys=64
keys_per_writer=16
nshards=4

kfs_setup
kfs_mount shards=$nshards
s=$mnt/stress
mkdir "$s"
# Key files exist once created: every key's, before the readers and the
# writers (whose windows then hold every record of their key).
for ((k = 0; k < nkeys; k++)); do
    expect_probe ENOENT stat "$s/key-$k"
    touch "$s/key-$k"
done

# The key of line n of writer ID: writers w0..w7 send line n to the key
# number (4 w + (n - 1) % 16) % 64 (their files in that order), writer z
# (the last one, below) line n to key (n - 1) % 64.  The same function in
# awk is awk_keyof, below.
writer_files()
{
    local w=$1 j files=
    for ((j = 0; j < keys_per_writer; j++)); do
        files+=${files:+,}$s/key-$(((4 * w + j) % nkeys))
    done
    echo "$files"
}

# ---- readers ------------------------------------------------------------

# follow NAME PATH: a follower of the view PATH in the background, its
# output in $tmp/f.NAME; waits until it has the view open (a view takes
# its position at open).
followers=()
follow()
{
    local name=$1 path=$2 pid
    cat "$path" >"$tmp/f.$name" 2>"$tmp/f.$name.err" &
    pid=$!
    bg_pids+=("$pid")
    followers+=("$name:$pid")
    wait_for 20 "a reader opens ${path#"$mnt"/}" has_open "$pid" "$path"
}

# Loops that run until $tmp/stop exists, each logging what went wrong to
# $tmp/loops.err (checked at the end) and what it read to its own log.
loops=()
loop()
{
    "$@" &
    loops+=($!)
    bg_pids+=($!)
}

# cat_loop NAME FILE...: plain cats of the FILEs in turn; logs
# "FILE BYTES MD5" of each to $tmp/cat.NAME: each must be a prefix of the
# FILE's final contents.
cat_loop()
{
    local name=$1 f out=$tmp/cat.$1.out
    shift
    while [ ! -e "$tmp/stop" ]; do
        for f in "$@"; do
            if cat "$f" >"$out" 2>"$out.err"; then
                echo "$f $(stat -c %s "$out") $(md5sum <"$out" | cut -d' ' -f1)" >>"$tmp/cat.$name"
            else
                echo "cat $f: $(cat "$out.err")" >>"$tmp/loops.err"
            fi
        done
    done
}

# head_loop: views opened and closed after one read, and followers at
# the tip interrupted while they wait, over and over.
head_loop()
{
    local rc
    while [ ! -e "$tmp/stop" ]; do
        # One read(2) each (head would seek back, which a view cannot):
        # whole lines but the last.
        dd if="$s/@TRIM_HORIZON.jsonl" bs=16k count=1 status=none >"$tmp/head.out" ||
            echo "reading @TRIM_HORIZON.jsonl failed" >>"$tmp/loops.err"
        head -n -1 "$tmp/head.out" | jq -j .Data >>"$tmp/head.lines" ||
            echo "reading @TRIM_HORIZON.jsonl: not JSON lines" >>"$tmp/loops.err"
        dd if="$s/$(shard_name $((RANDOM % nshards)))@TRIM_HORIZON" bs=1000 count=1 status=none >/dev/null ||
            echo "reading a shard view failed" >>"$tmp/loops.err"
        rc=0
        timeout -s INT 0.3 cat "$s/@LATEST" >/dev/null || rc=$?
        # 124: interrupted by timeout, as meant; 130: by its signal.
        case $rc in 0 | 124 | 130) ;; *) echo "interrupted @LATEST: status $rc" >>"$tmp/loops.err" ;; esac
    done
}

# meta_loop: ls -l, stat, getfattr -d on the root, the stream, shard and
# key files; logs each shard's size and those of the key files the plain
# readers read to $tmp/sizes.PID ("I SIZE" lines, I a shard's index or
# a key file's name).
meta_loop()
{
    local i size out=$tmp/meta.$BASHPID
    while [ ! -e "$tmp/stop" ]; do
        ls -l "$mnt" >"$out" 2>&1 && grep -q ' stress$' "$out" ||
            echo "ls -l of the root: $(cat "$out")" >>"$tmp/loops.err"
        ls -l "$s" >"$out" 2>&1 && [ "$(grep -c ' shardId-' "$out")" -eq "$nshards" ] &&
            [ "$(grep -c -E ' key-[0-9]+$' "$out")" -eq "$nkeys" ] ||
            echo "ls -l of the stream: $(cat "$out")" >>"$tmp/loops.err"
        for ((i = 0; i < nshards; i++)); do
            size=$(stat -c %s "$s/$(shard_name $i)") && echo "$i $size" >>"$tmp/sizes.$BASHPID" ||
                echo "stat of shard $i failed" >>"$tmp/loops.err"
        done
        for i in key-3 key-42 key-9; do
            size=$(stat -c %s "$s/$i") && echo "$i $size" >>"$tmp/sizes.$BASHPID" ||
                echo "stat of $i failed" >>"$tmp/loops.err"
        done
        stat "$s/key-$((RANDOM % nkeys))" "$s/@LATEST" "$s/key-1@TRIM_HORIZON.jsonl" >/dev/null ||
            echo "stat of a key file or view failed" >>"$tmp/loops.err"
        getfattr -d "$s" >"$out" 2>&1 && grep -q '^user.kinesis.status="ACTIVE"$' "$out" ||
            echo "getfattr -d of the stream: $(cat "$out")" >>"$tmp/loops.err"
        getfattr -d "$s/$(shard_name $((RANDOM % nshards)))" >"$out" 2>&1 &&
            grep -q '^user.kinesis.state="OPEN"$' "$out" ||
            echo "getfattr -d of a shard: $(cat "$out")" >>"$tmp/loops.err"
        getfattr -d "$mnt" "$s/key-$((RANDOM % nkeys))" >"$out" 2>&1 ||
            echo "getfattr -d of the root and a key file: $(cat "$out")" >>"$tmp/loops.err"
    done
}

# Before the first write, so @LATEST is the first record too.
follow all "$s/@TRIM_HORIZON"
follow all.jsonl "$s/@TRIM_HORIZON.jsonl"
for ((i = 0; i < nshards; i++)); do
    follow "shard$i" "$s/$(shard_name $i)@LATEST"
done
follow key7 "$s/key-7@TRIM_HORIZON"

loop cat_loop shards "$s/$(shard_name 0)" "$s/$(shard_name 1)" "$s/$(shard_name 2)" "$s/$(shard_name 3)"
loop cat_loop keys "$s/key-3" "$s/key-42"
loop head_loop
loop meta_loop
loop meta_loop

# ---- writers ------------------------------------------------------------

msg "writing for ${KFS_STRESS_SECONDS}s"
start=$SECONDS
pids=()
for ((w = 0; w < nwriters; w++)); do
    "$writer" --for "$KFS_STRESS_SECONDS" "$(writer_files "$w")" "w$w" \
        "$KFS_STRESS_MAX_LINES" 50 >"$tmp/acks.w$w" 2>"$tmp/err.w$w" &
    pids+=($!)
done

# Half-way, followers from where they open.
sleep $((KFS_STRESS_SECONDS / 2))
follow mid "$s/@LATEST"
follow mid-shard2.jsonl "$s/$(shard_name 2)@LATEST.jsonl"
follow mid-key9 "$s/key-9@LATEST"

for ((w = 0; w < nwriters; w++)); do
    wait "${pids[$w]}" || fail "writer w$w failed: $(cat "$tmp/err.w$w")"
done
# One line to every key once every follower is open: each of them has
# something to see in every shard and key.
zfiles=
for ((k = 0; k < nkeys; k++)); do
    zfiles+=${zfiles:+,}$s/key-$k
done
"$writer" "$zfiles" z "$nkeys" 0 >"$tmp/acks.z" 2>"$tmp/err.z" ||
    fail "writer z failed: $(cat "$tmp/err.z")"
msg "writers done after $((SECONDS - start))s"

touch "$tmp/stop"
for p in "${loops[@]}"; do
    wait "$p" || fail "a reader loop failed"
done
[ ! -s "$tmp/loops.err" ] || fail "readers failed while writing:
$(sort "$tmp/loops.err" | uniq -c | sed -n 1,20p)"

# ---- what was acknowledged, and what the shards hold --------------------

: >"$tmp/expected"
total=0
for id in $(seq -f 'w%g' 0 $((nwriters - 1))) z; do
    last=$(tail -n 1 "$tmp/acks.$id")
    [[ $last =~ ^ack\ $id\ [0-9]+\ ([0-9]+)$ ]] || fail "writer $id: last ack '$last'"
    "$writer" --print "$id" 1 "${BASH_REMATCH[1]}" >>"$tmp/expected"
    total=$((total + BASH_REMATCH[1]))
done
msg "$total lines acknowledged"

for ((i = 0; i < nshards; i++)); do
    timeout 120 cat "$s/$(shard_name $i)" >"$tmp/final.$i" || fail "cat of shard $i failed"
done
sort "$tmp"/final.[0-9]* >"$tmp/all.sorted"
sort "$tmp/expected" >"$tmp/expected.sorted"
if ! cmp -s "$tmp/all.sorted" "$tmp/expected.sorted"; then
    echo "lines read but not written (or twice):" >&2
    comm -23 "$tmp/all.sorted" "$tmp/expected.sorted" | sed -n 1,5p >&2
    uniq -d "$tmp/all.sorted" | sed -n 1,5p >&2
    echo "lines written but not read:" >&2
    comm -13 "$tmp/all.sorted" "$tmp/expected.sorted" | sed -n 1,5p >&2
    fail "the shards do not hold each acknowledged line exactly once"
fi

# The awk function giving the key of a written line (writer_files, and
# writer z's line n to key n - 1).
awk_keyof='
function keyof(line,   a, n) {
    split(line, a, " ")
    n = a[2] + 0
    if (a[1] == "z")
        return "key-" ((n - 1) % nkeys)
    return "key-" ((4 * substr(a[1], 2) + (n - 1) % kpw) % nkeys)
}'

# key_of_lines FILE...: "KEY LINE" for each line of the FILEs.
key_of_lines()
{
    awk -v nkeys="$nkeys" -v kpw="$keys_per_writer" "$awk_keyof"'
        { print keyof($0) " " $0 }' "$@"
}

# text_of OUT: a follower's output as text lines ("SHARD KEY LINE" for
# JSON lines).
text_of()
{
    case $1 in
    *jsonl) jq -j '.ShardId + " " + .PartitionKey + " " + .Data' <"$1" ;;
    *) cat "$1" ;;
    esac
}

# check_reader OUT WHAT [shard=I] [key=K] [from=start|any]: OUT holds
# the records of the final shard files (only shard I, only key K), each
# shard's consecutively, in order, no repeats, up to the shard's last
# record; from its first record (start) or from anywhere (any); none:
# only the checks of the final shard files.  An OUT
# named *jsonl holds JSON lines: their shard and key are checked too.
# Also, in the final shard files, each writer's lines of a key in order,
# and each key in one shard only.
check_reader()
{
    local out=$1 what=$2 fmt=text arg
    local -a vars=()
    shift 2
    for arg in "$@"; do
        vars+=(-v "$arg")
    done
    case $out in *jsonl) fmt=jsonl ;; esac
    text_of "$out" >"$tmp/check.in"
    awk -v what="$what" -v nkeys="$nkeys" -v kpw="$keys_per_writer" \
        -v shard=-1 -v key= -v from=start -v fmt="$fmt" "${vars[@]}" "$awk_keyof"'
        function bad(why) {
            printf "%s: %s\n", what, why > "/dev/stderr"
            failed = 1
            exit 1
        }
        FILENAME ~ /\/final\.[0-9]+$/ {
            sh = FILENAME
            sub(/.*\/final\./, "", sh)
            k = keyof($0)
            if ((k in keyshard) && keyshard[k] != sh)
                bad("key " k " in shards " keyshard[k] " and " sh)
            keyshard[k] = sh
            split($0, a, " ")
            if ((a[1], k) in lastn && a[2] + 0 <= lastn[a[1], k])
                bad("shard " sh ": " a[1] " line " a[2] " after line " lastn[a[1], k] " in key " k)
            lastn[a[1], k] = a[2] + 0
            if ((shard >= 0 && sh != shard) || (key != "" && k != key))
                next
            count[sh]++
            idx[$0] = count[sh]
            where[$0] = sh
            next
        }
        {
            line = $0
            if (fmt == "jsonl") {
                split($0, a, " ")
                sub(/^[^ ]* [^ ]* /, "", line)
                if (a[2] != keyof(line))
                    bad("record " FNR " has key " a[2] ", written to " keyof(line) ": " line)
            }
            if (!(line in idx))
                bad("record " FNR " was not written (or not here): " line)
            sh = where[line]
            i = idx[line]
            if (fmt == "jsonl" && a[1] != sprintf("shardId-%012d", sh))
                bad("record " FNR " says " a[1] ", is in shard " sh ": " line)
            if (sh in last) {
                if (i != last[sh] + 1)
                    bad("shard " sh ": record " FNR " is its record " i " after " last[sh] " (a gap, a repeat or out of order): " line)
            } else if (from == "start" && i != 1) {
                bad("shard " sh ": starts at its record " i ": " line)
            }
            last[sh] = i
        }
        END {
            if (failed)
                exit 1
            if (from == "none")
                exit 0
            for (sh in count)
                if (!(sh in last))
                    bad("nothing of shard " sh " (" count[sh] " records)")
                else if (last[sh] != count[sh])
                    bad("shard " sh ": stopped at its record " last[sh] " of " count[sh])
        }' "$tmp"/final.[0-9]* "$tmp/check.in" || fail "$what: see above"
}

check_reader /dev/null "the shard files" from=none

# ---- followers -------------------------------------------------------------

key_of_lines "$tmp"/final.[0-9]* >"$tmp/final.keyed"
# key_count K: the records of key K.  key_last K: its last record.
key_count() { grep -c "^$1 " "$tmp/final.keyed"; }
key_last() { grep "^$1 " "$tmp/final.keyed" | tail -n 1 | cut -d' ' -f2-; }
# lines_at_least NAME N: the follower's output has N lines or more.
lines_at_least() { [ "$(wc -l <"$tmp/f.$1")" -ge "$2" ]; }
# has_line NAME LINE: the follower's output holds LINE (JSON lines: as
# Data).
has_line()
{
    case $1 in
    *jsonl) grep -q -F -- "\"Data\":\"$2\\n\"" "$tmp/f.$1" ;;
    *) grep -q -x -F -- "$2" "$tmp/f.$1" ;;
    esac
}

from_start_caught_up()
{
    local i
    lines_at_least all "$total" && lines_at_least all.jsonl "$total" &&
        lines_at_least key7 "$(key_count key-7)" || return 1
    for ((i = 0; i < nshards; i++)); do
        lines_at_least "shard$i" "$(wc -l <"$tmp/final.$i")" || return 1
    done
}
# Those from half-way have the last record of every shard (of their
# shard, of their key).
half_way_caught_up()
{
    local i
    for ((i = 0; i < nshards; i++)); do
        has_line mid "$(tail -n 1 "$tmp/final.$i")" || return 1
    done
    has_line mid-shard2.jsonl "$(tail -n 1 "$tmp/final.2")" &&
        has_line mid-key9 "$(key_last key-9)"
}
# wait_until SECONDS CMD...: like wait_for, but on a timeout the checks
# below say what is missing.
wait_until()
{
    local i
    for ((i = 0; i < $1 * 10 * kfs_slow; i++)); do
        "${@:2}" && return 0
        sleep 0.1
    done
    msg "followers: $2 not true after $1 s"
}
wait_until $((60 + total / 2000)) from_start_caught_up
wait_until 60 half_way_caught_up
sleep 0.5 # anything more would show as a repeat
for f in "${followers[@]}"; do
    name=${f%%:*}
    pid=${f#*:}
    kill -0 "$pid" 2>/dev/null || fail "follower $name ended: $(cat "$tmp/f.$name.err")"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done

check_reader "$tmp/f.all" "cat @TRIM_HORIZON"
check_reader "$tmp/f.all.jsonl" "cat @TRIM_HORIZON.jsonl"
for ((i = 0; i < nshards; i++)); do
    check_reader "$tmp/f.shard$i" "cat $(shard_name $i)@LATEST" shard=$i
done
check_reader "$tmp/f.key7" "cat key-7@TRIM_HORIZON" key=key-7
check_reader "$tmp/f.mid" "cat @LATEST from half-way" from=any
check_reader "$tmp/f.mid-shard2.jsonl" "cat $(shard_name 2)@LATEST.jsonl from half-way" shard=2 from=any
check_reader "$tmp/f.mid-key9" "cat key-9@LATEST from half-way" key=key-9 from=any

# ---- plain readers, sizes --------------------------------------------------

for k in key-3 key-42 key-9; do
    timeout 120 cat "$s/$k" >"$tmp/final.$k" || fail "cat of $k failed"
    check_reader "$tmp/final.$k" "cat $k" "key=$k"
done
# Each plain cat: a prefix of the final contents, in whole lines.
n=0
while read -r f bytes sum; do
    n=$((n + 1))
    name=${f##*/}
    case $name in
    shardId-*) ref=$tmp/final.$((10#${name#shardId-})) ;;
    *) ref=$tmp/final.$name ;;
    esac
    [ "$(head -c "$bytes" "$ref" | md5sum | cut -d' ' -f1)" = "$sum" ] ||
        fail "cat $name read $bytes bytes that are not the start of its final contents"
    [ "$bytes" -eq 0 ] || [ "$(head -c "$bytes" "$ref" | tail -c 1 | od -An -tx1 | tr -d ' ')" = 0a ] ||
        fail "cat $name ended inside a line (at byte $bytes)"
done < <(cat "$tmp/cat.shards" "$tmp/cat.keys")
[ "$n" -gt 0 ] || fail "the plain readers read nothing"
msg "$n plain cats checked"
# What the views closed early read: written lines.
[ -s "$tmp/head.lines" ] || fail "the views closed early read nothing"
sort -u "$tmp/head.lines" | comm -23 - "$tmp/expected.sorted" >"$tmp/head.bad"
[ ! -s "$tmp/head.bad" ] || fail "reads of @TRIM_HORIZON.jsonl gave lines not written: $(head -n 3 "$tmp/head.bad")"
# Sizes, as each loop saw them one after the other: never down, never
# past the final size; and the final size is what cat read.
for f in "$tmp"/sizes.*; do
    for i in $(seq 0 $((nshards - 1))) key-3 key-42 key-9; do
        awk -v i="$i" -v final="$(stat -c %s "$tmp/final.$i")" '
            $1 == i && $2 + 0 < prev { print i ": size " $2 " after " prev; exit 1 }
            $1 == i && $2 + 0 > final { print i ": size " $2 ", it holds " final; exit 1 }
            $1 == i { prev = $2 + 0 }' "$f" >&2 ||
            fail "the size of $i went down or past its contents"
    done
done
for i in key-3 key-42 key-9; do
    assert_size "$s/$i" "$(stat -c %s "$tmp/final.$i")" "size of the key file $i"
done

settle "$s"
kfs_umount
msg "$total lines in $((SECONDS - start))s"
