#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012
# follow.sh - following at the tip (docs/reading.md, "Following" and
# "tail -f"): a reader at @LATEST of a shard, of the stream and of a key
# sees only what is put after it opened and keeps waiting; poll, select
# and epoll report a view readable when a record comes (on the local
# engine within 100 ms of the write through the mount, more under the
# sanitizers and valgrind (kfs_bound in functions.sh); on AWS within the
# poll interval from another writer, at once from the same mount);
# O_NONBLOCK gives EAGAIN at the tip; a signal interrupts a waiting read;
# `tail -f` of a shard file sees appends without reading anything twice.
# On both backends.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires tail --version
requires getfattr --version
requires bc --version

kfs_setup

# start_reader OUT CMD...: CMD in the background, its output in OUT; sets
# $reader.
start_reader()
{
    local out=$1
    shift
    # Empty before the background job's own redirection happens.
    : >"$out"
    "$@" >"$out" 2>"$out.err" &
    reader=$!
    bg_pids+=("$reader")
}

# opened PID PATH: waits until PID has PATH open, then a moment for the
# view to take its position.
opened()
{
    wait_for 10 "the reader $1 opens ${2#"$mnt"/}" has_open "$1" "$2"
    sleep 0.5
}

# has_line FILE LINE
has_line() { grep -q -x -F -- "$2" "$1"; }

# running PID WHAT: PID has not ended (a view does not end).
running()
{
    kill -0 "$1" 2>/dev/null || fail "$2: the reader ended: $(cat "$3.err" 2>/dev/null)"
}

# stop PID: kills a reader and reaps it.
stop()
{
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# lines_are FILE WHAT LINE...: FILE holds exactly these lines.
lines_are()
{
    local file=$1 what=$2
    shift 2
    printf '%s\n' "$@" >"$file.expected"
    assert_file_eq "$file" "$file.expected" "$what"
}

poll_ms=500
if on_aws; then
    kfs_mount shards=2,poll_ms=$poll_ms
else
    kfs_mount shards=2
fi
sname=fstream
s=$mnt/$sname
mkdir "$s"
sh0=$s/shardId-000000000000
sh1=$s/shardId-000000000001

# Keys: ka and kb in shard 0, kc in shard 1.
ka=''
kb=''
kc=''
for k in ka kb kc kd ke kf kg kh ki kj kk kl km kn ko kp; do
    if [ "$(key_shard "$k" 2)" = 0 ]; then
        if [ -z "$ka" ]; then ka=$k; elif [ -z "$kb" ]; then kb=$k; fi
    elif [ -z "$kc" ]; then
        kc=$k
    fi
done
if [ -z "$ka" ] || [ -z "$kb" ] || [ -z "$kc" ]; then
    error "no test keys for both shards"
fi

echo old1 >>"$sh0"
echo old2 >>"$s/$ka"
echo old3 >>"$sh1"

# ---- a shard view at LATEST ---------------------------------------------
start_reader "$tmp/latest0" cat "$sh0@LATEST"
cat0=$reader
opened "$cat0" "$sh0@LATEST"
echo new1 >>"$sh0"
echo new2 >>"$s/$ka"
echo other1 >>"$sh1"
printf new3 >>"$sh0"
wait_for 10 "cat of shard 0 at LATEST shows new3" has_line "$tmp/latest0" new3
sleep 0.5
lines_are "$tmp/latest0" "cat of shard 0 at LATEST (only what came after the open)" \
    new1 new2 new3
running "$cat0" "cat of shard 0 at LATEST" "$tmp/latest0"
# It waits on, and wakes again.
sleep 1
echo new4 >>"$sh0"
wait_for 10 "cat of shard 0 at LATEST shows new4, put after a pause" has_line "$tmp/latest0" new4
running "$cat0" "cat of shard 0 at LATEST" "$tmp/latest0"
lines_are "$tmp/latest0" "cat of shard 0 at LATEST after a pause" new1 new2 new3 new4
stop "$cat0"

# TRIM_HORIZON gives what there is, then follows.
start_reader "$tmp/th1" cat "$sh1@TRIM_HORIZON"
cat1=$reader
wait_for 10 "cat of shard 1 at TRIM_HORIZON shows other1" has_line "$tmp/th1" other1
echo other2 >>"$s/$kc"
wait_for 10 "cat of shard 1 at TRIM_HORIZON follows: other2" has_line "$tmp/th1" other2
running "$cat1" "cat of shard 1 at TRIM_HORIZON" "$tmp/th1"
lines_are "$tmp/th1" "cat of shard 1 from TRIM_HORIZON" old3 other1 other2
stop "$cat1"

# ---- the stream at LATEST ----------------------------------------------------
start_reader "$tmp/slatest" cat "$s/@LATEST"
cats=$reader
opened "$cats" "$s/@LATEST"
echo s0a >>"$sh0"
echo s1a >>"$sh1"
echo "$kc-1" >>"$s/$kc"
echo "$ka-1" >>"$s/$ka"
echo s0b >>"$sh0"
for l in s0a s1a "$kc-1" "$ka-1" s0b; do
    wait_for 10 "cat of the stream at LATEST shows $l" has_line "$tmp/slatest" "$l"
done
sleep 0.5
sort "$tmp/slatest" >"$tmp/slatest.sorted"
printf '%s\n' s0a s1a "$kc-1" "$ka-1" s0b | sort >"$tmp/slatest.expected"
assert_file_eq "$tmp/slatest.sorted" "$tmp/slatest.expected" \
    "cat of the stream at LATEST (sorted: only what came after the open)"
assert_eq "$(grep -x -E 's0a|s0b|'"$ka"'-1' "$tmp/slatest" | tr '\n' ' ')" "s0a $ka-1 s0b " \
    "order of shard 0's records in the stream at LATEST"
running "$cats" "cat of the stream at LATEST" "$tmp/slatest"
stop "$cats"

# ---- a key at LATEST -----------------------------------------------------------
start_reader "$tmp/klatest" cat "$s/$ka@LATEST"
catk=$reader
opened "$catk" "$s/$ka@LATEST"
echo "$kb-x" >>"$s/$kb"
echo "$ka-a" >>"$s/$ka"
echo "$kc-x" >>"$s/$kc"
echo shard0-x >>"$sh0"
echo "$ka-b" >>"$s/$ka"
wait_for 10 "cat of key $ka at LATEST shows $ka-b" has_line "$tmp/klatest" "$ka-b"
sleep 0.5
lines_are "$tmp/klatest" "cat of key $ka at LATEST (its records only)" "$ka-a" "$ka-b"
running "$catk" "cat of key $ka at LATEST" "$tmp/klatest"
stop "$catk"

# ---- poll, select, epoll -------------------------------------------------------
# Bounds on the wake-up, from the end of the write (ms).  Local engine:
# at once (100 ms) for writes through the mount.  AWS: a write from another
# client (the aws CLI) within a poll interval; through the mount at once.
# 100 ms on a plain build; kfs_bound allows for sanitizers and valgrind.
if on_aws; then
    bound=$((poll_ms + $(kfs_bound 1000)))  # the poll interval is a timer: not scaled
else
    bound=$(kfs_bound 100)
fi

# poll_wake VIEW HOW WHAT TARGET DATA: kfs-probe poll on VIEW with HOW
# (poll, select or epoll); once it is idle at the tip, DATA is put to
# TARGET (a shard or key file of the stream), through the mount or, with
# CLI=1 on AWS, with the aws CLI.  The view must wake within $bound ms of
# the put's end, not before its start, and read DATA (for a .jsonl view:
# its JSON line).
poll_wake()
{
    local view=$1 how=$2 what=$3 target=$4 data=$5 pp line st t0 t1 woke at i
    local -a hk=()
    start_reader "$tmp/poll" "$probe" poll "$view" $((20000 * kfs_slow)) "$how"
    pp=$reader
    wait_for 10 "$what: kfs-probe poll answers" test -s "$tmp/poll"
    line=$(head -n 1 "$tmp/poll")
    [ "$line" = idle ] || fail "$what: $how said '$line' at the tip, expected not readable (idle)"
    sleep 0.5
    if [ "${CLI:-0}" = 1 ]; then
        case $target in
        shardId-*) hk=(--explicit-hash-key "$(xattr "$s/$target" hash_key_start)") ;;
        esac
        t0=$("$probe" now)
        awsk put-record --stream-name "$sname" --partition-key "$target" "${hk[@]}" \
            --data "$data" >/dev/null || fail "$what: aws kinesis put-record failed"
        t1=$("$probe" now)
    else
        read -r st t0 t1 < <("$probe" writestr-at "$s/$target" "$data")
        assert_eq "$st" OK "$what: the write to $target"
    fi
    for ((i = 0; i < 100 * kfs_slow; i++)); do
        kill -0 "$pp" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pp" 2>/dev/null && fail "$what: kfs-probe poll still runs 10 s after the write: $(cat "$tmp/poll")"
    wait "$pp" || true
    line=$(sed -n 2p "$tmp/poll")
    case $line in
    "readable "*" at "*) ;;
    *) fail "$what: $how gave '$line' after a write, expected readable: $(cat "$tmp/poll")" ;;
    esac
    woke=${line#readable }
    at=${woke#* at }
    msg "$what: $how woke $((at - t1)) ms after the write ended (it took $((t1 - t0)) ms)"
    [ "$at" -ge "$t0" ] || fail "$what: $how woke before the write began ($at < $t0)"
    [ "$((at - t1))" -le "$bound" ] ||
        fail "$what: $how woke $((at - t1)) ms after the write, more than $bound ms"
    sed -n '3,$p' "$tmp/poll" >"$tmp/poll.read"
    case $view in
    *.jsonl)
        grep -q -F "\"Data\":\"$data\"" "$tmp/poll.read" ||
            fail "$what: the read after the wake gave $(cat "$tmp/poll.read"), expected the JSON line of $data"
        ;;
    *)
        printf 'read %s: %s\n' "${#data}" "$data" >"$tmp/poll.read.expected"
        assert_file_eq "$tmp/poll.read" "$tmp/poll.read.expected" "$what: the read after the wake"
        ;;
    esac
}

# Plain files end: always readable.
"$probe" poll "$sh0" 1000 >"$tmp/poll.plain"
head -n 1 "$tmp/poll.plain" | grep -q '^ready ' ||
    fail "poll of the plain shard file: '$(head -n 1 "$tmp/poll.plain")', expected readable at once"

if on_aws; then
    CLI=1 poll_wake "$sh0@LATEST" poll "poll of shard 0 at LATEST" shardId-000000000000 $'p1\n'
    CLI=1 poll_wake "$s/@LATEST" epoll "epoll of the stream at LATEST" "$kc" $'p2\n'
    CLI=1 poll_wake "$s/$ka@LATEST" select "select of key $ka at LATEST" "$ka" $'p3\n'
else
    poll_wake "$sh0@LATEST" poll "poll of shard 0 at LATEST" shardId-000000000000 $'p1\n'
    poll_wake "$s/@LATEST" epoll "epoll of the stream at LATEST" "$kc" $'p2\n'
    poll_wake "$s/$ka@LATEST" select "select of key $ka at LATEST" "$ka" $'p3\n'
    poll_wake "$sh1@LATEST.jsonl" poll "poll of shard 1 at LATEST, JSON lines" shardId-000000000001 p4
fi

# ---- O_NONBLOCK ------------------------------------------------------------
for v in "$sh0@LATEST" "$s/@LATEST" "$s/$ka@LATEST" "$sh1@LATEST.jsonl"; do
    expect_probe EAGAIN read-nonblock "$v"
done
# Where there is something to read, it is read.
expect_probe 'OK [1-9][0-9]*' read-nonblock "$sh0"
if on_aws; then
    # A view opened O_NONBLOCK may not have fetched its first records yet.
    expect_probe 'OK [1-9][0-9]*|EAGAIN' read-nonblock "$sh0@TRIM_HORIZON"
else
    expect_probe 'OK [1-9][0-9]*' read-nonblock "$sh0@TRIM_HORIZON"
fi

# ---- signals interrupt a waiting read ---------------------------------------
t0=$("$probe" now)
rc=0
timeout -k 10 -s INT 2 cat "$sh0@LATEST" >/dev/null || rc=$?
t1=$("$probe" now)
assert_eq "$rc" 124 "status of timeout -s INT 2 cat of a view"
[ "$((t1 - t0))" -le $((5000 * kfs_slow)) ] ||
    fail "cat of a view ended $((t1 - t0)) ms after its start, SIGINT came at 2000"
# A signal with a handler: the read returns EINTR.
start_reader "$tmp/intr" "$probe" read-intr "$sh0@LATEST" 1000
pi=$reader
for ((i = 0; i < 50 * kfs_slow; i++)); do
    kill -0 "$pi" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pi" 2>/dev/null; then
    echo release >>"$sh0"
    sleep 1
    fail "a read of a view waiting at the tip was not interrupted by SIGALRM within 5 s: $(cat "$tmp/intr")"
fi
wait "$pi" || true
read -r got ms <"$tmp/intr" || true
assert_eq "$got" EINTR "a read of a view at the tip interrupted by SIGALRM after 1 s"
[ "$ms" -le $((3000 * kfs_slow)) ] || fail "the interrupted read took $ms ms, SIGALRM came at 1000"

# ---- tail -f of a shard file ------------------------------------------------
t=$mnt/tstream
mkdir "$t"
t0f=$t/shardId-000000000000
for i in $(seq 1 12); do
    echo "pre $i"
done >>"$t0f"
start_reader "$tmp/tail1" tail -n +1 -f "$t0f"
tail1=$reader
start_reader "$tmp/tail2" tail -f "$t0f"
tail2=$reader
wait_for 15 "tail -n +1 -f shows the 12 lines there were" has_line "$tmp/tail1" "pre 12"
wait_for 15 "tail -f shows the last lines there were" has_line "$tmp/tail2" "pre 12"
for i in 1 2 3 4 5; do
    if [ "$i" = 3 ]; then
        # Through a key of shard 0, two lines in one write.
        printf 'post 3a\npost 3b\n' >>"$t/$ka"
    else
        echo "post $i" >>"$t0f"
    fi
    sleep 0.7
done
wait_for 20 "tail -n +1 -f shows the appended lines" has_line "$tmp/tail1" "post 5"
wait_for 20 "tail -f shows the appended lines" has_line "$tmp/tail2" "post 5"
# Time for tail to look again, and read anything twice if it would.
sleep 2.5
post=("post 1" "post 2" "post 3a" "post 3b" "post 4" "post 5")
lines_are "$tmp/tail1" "tail -n +1 -f of a shard file (nothing twice)" \
    "pre "{1..12} "${post[@]}"
lines_are "$tmp/tail2" "tail -f of a shard file (nothing twice)" \
    "pre "{3..12} "${post[@]}"
for f in tail1 tail2; do
    if [ -s "$tmp/$f.err" ]; then
        fail "$f said on stderr: $(cat "$tmp/$f.err")"
    fi
done
running "$tail1" "tail -n +1 -f" "$tmp/tail1"
running "$tail2" "tail -f" "$tmp/tail2"
stop "$tail1"
stop "$tail2"

settle "$s"
kfs_umount

# ---- AWS: records put through the mount wake its followers at once ----------
if on_aws; then
    # A long poll interval, so that a wake within it is not the poll's.
    poll_ms=5000
    kfs_mount shards=2,poll_ms=$poll_ms
    bound=$(kfs_bound 500)
    poll_wake "$sh0@LATEST" poll "poll of shard 0 at LATEST, a write through the mount" \
        shardId-000000000000 $'m1\n'
    poll_wake "$s/@LATEST" epoll "epoll of the stream at LATEST, a write through the mount" \
        "$kc" $'m2\n'
    settle "$s"
    kfs_umount
fi
