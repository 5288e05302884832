#!/usr/bin/env bash
# tailf.sh - tail -f and tail -F of a key file while it is written, across
# a truncation (: > FILE) and a rotation (mv FILE FILE.1 with a handle
# still writing, then FILE created again).  tail -F prints every line
# once, in order: the truncation shows as "file truncated" and only the
# lines after it follow; after the rotation it follows the new file from
# the rename on, which holds what the old handle wrote meanwhile.  tail -f
# (by descriptor) prints the lines up to the rotation once each, in order.
# Both poll (-s 0.2): tail does not trust inotify on a FUSE mount.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
kfs_setup
# shellcheck source=functions-logs.sh
. "$testdir/functions-logs.sh"
requires tail --version
requires jq --version

kfs_mount
s=$mnt/tail
mkdir "$s"
k=$s/app.log
: >"$k"

tail -n +1 -s 0.2 -f "$k" >"$tmp/f.out" 2>"$tmp/f.err" &
bg_pids+=($!)
tail -n +1 -s 0.2 -F "$k" >"$tmp/F.out" 2>"$tmp/F.err" &
bg_pids+=($!)

# lines FIRST LAST: "line N" appended to the key file, one >> each.
lines()
{
    local i
    for ((i = $1; i <= $2; i++)); do
        echo "line $i" >>"$k"
    done
}

# printed OUT N: tail's output has N lines.
printed() { [ "$(grep -c '' "$1" || true)" -eq "$2" ]; }

# wait_printed f|F N WHAT: tail -f (f) or tail -F (F) has printed N lines
# within 10 s; else what it printed is shown.
wait_printed()
{
    local i
    for ((i = 0; i < 100 * kfs_slow; i++)); do
        printed "$tmp/$1.out" "$2" && return 0
        sleep 0.1
    done
    { echo "---- tail -$1's output (last 10 lines) and errors:"; tail -n 10 "$tmp/$1.out"; cat "$tmp/$1.err"; } >&2
    fail "$3: tail -$1 printed $(grep -c '' "$tmp/$1.out" || true) lines, expected $2"
}
said() { grep -q -F -- "$2" "$1"; }

lines 1 20
wait_printed f 20 "the first lines"
wait_printed F 20 "the first lines"

# Truncation: the window starts again at the tip; both tails notice
# before the next lines come (as they must on any filesystem: a file
# that grew past where tail was would not look truncated).
: >"$k"
assert_eq "$(file_size "$k")" 0 "the size after : > $k"
wait_for 10 "tail -f notices the truncation" said "$tmp/f.err" "file truncated"
wait_for 10 "tail -F notices the truncation" said "$tmp/F.err" "file truncated"
lines 21 40
wait_printed f 40 "the lines after the truncation"
wait_printed F 40 "the lines after the truncation"

# Rotation, with a handle opened before it still writing, then the name
# created again (>> does not truncate: its window starts at the rename).
exec 5>>"$k"
mv "$k" "$k.1"
for i in 41 42 43 44 45; do echo "line $i" >&5; done
exec 5>&-
: >>"$k"
lines 46 60
wait_printed F 60 "the lines after the rotation"
# Time for a line twice to show.
sleep 1

printf 'line %d\n' $(seq 1 60) >"$tmp/want"
assert_file_eq "$tmp/F.out" "$tmp/want" "tail -F's output"
grep -q -E 'has been replaced|has appeared|has become inaccessible' "$tmp/F.err" ||
    fail "tail -F did not say it followed a new file: $(cat "$tmp/F.err")"
head -n 40 "$tmp/want" >"$tmp/want.f"
head -n 40 "$tmp/f.out" >"$tmp/got.f"
assert_file_eq "$tmp/got.f" "$tmp/want.f" "tail -f's first 40 lines"
sort "$tmp/f.out" >"$tmp/f.sorted"
assert_once "$tmp/f.sorted" "lines printed by tail -f"

printf 'line %d\n' $(seq 1 60) >"$tmp/want.key"
read_stream "$s"
assert_records app.log "$tmp/want.key" "key app.log"
printf 'line %d\n' $(seq 21 40) >"$tmp/want"
assert_window "$k.1" "$tmp/want" "app.log.1"
printf 'line %d\n' $(seq 41 60) >"$tmp/want"
assert_window "$k" "$tmp/want" "app.log"

_kfs_kill_bg
settle "$s"
kfs_umount
