#!/usr/bin/env bash
# shell-logs.sh - what a shell user does to log files, on key files:
# '>' (truncation: the file shows the new line, the stream holds both),
# '>>' and 'exec >>' in loops, a line written in pieces a second apart
# (one record), cp into a new key and again (the file shows the copy
# once, the stream holds it twice), mv of a file from another filesystem
# (a new name; an empty one; one that holds records: refused, nothing
# written), sed -i and rsync (refused at once on a name that holds
# records, nothing appended; rsync to a new name and rsync --append work),
# and mktemp in a stream (succeeds at once).  The tools that must fail or
# succeed "at once" have a second (kfs_bound 1000 ms): before SPEC
# contract version 2 sed -i spent 10 s looking for a free name.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
kfs_setup
# shellcheck source=functions-logs.sh
. "$testdir/functions-logs.sh"
requires_prog rsync
requires_prog mktemp
requires_prog jq

kfs_mount
s=$mnt/sh
p=$mnt/pieces
mkdir "$s" "$p"
bound_ms=$(kfs_bound 1000)
bound=$((bound_ms / 1000)).$(printf '%03d' $((bound_ms % 1000)))

# A line in pieces a second apart, in the background (its own stream):
# one record, whatever the time between the pieces.
{
    printf 'step 1: '
    sleep 1
    printf 'working... '
    sleep 1
    echo 'done'
} >>"$p/job.log" &
pieces=$!
bg_pids+=("$pieces")

# want LINE...: the lines, a line each, in $tmp/want.
want() { printf '%s\n' "$@" >"$tmp/want"; }

# quick WHAT CMD...: runs CMD within the bound; sets $rc and the output
# in $tmp/quick.out.  A command that had to be killed fails the test.
quick()
{
    local what=$1
    shift
    rc=0
    timeout "$bound" "$@" >"$tmp/quick.out" 2>&1 || rc=$?
    [ "$rc" -ne 124 ] || fail "$what: still running after ${bound}s"
}

# ---- '>', '>>', 'exec >>' ----------------------------------------------------
echo a >"$s/trunc"
echo b >"$s/trunc"
want b
assert_window "$s/trunc" "$tmp/want" "echo a > trunc; echo b > trunc"
assert_size_of "$s/trunc" "after '>'"

for i in 1 2 3 4 5; do echo "append $i" >>"$s/append"; done
want "append 1" "append 2" "append 3" "append 4" "append 5"
assert_window "$s/append" "$tmp/want" "'>>' in a loop"
assert_size_of "$s/append" "after '>>'"

(
    exec >>"$s/exec"
    for i in 1 2 3; do echo "exec $i"; done
)
for i in 4 5 6; do
    exec 3>>"$s/exec"
    echo "exec $i" >&3
    exec 3>&-
done
want "exec 1" "exec 2" "exec 3" "exec 4" "exec 5" "exec 6"
assert_window "$s/exec" "$tmp/want" "'exec >>'"

# ---- cp -------------------------------------------------------------------
printf 'copy 1\ncopy 2\n' >"$tmp/f"
cp "$tmp/f" "$s/cp"
assert_window "$s/cp" "$tmp/f" "cp into a new key"
cp "$tmp/f" "$s/cp"
assert_window "$s/cp" "$tmp/f" "cp into the same key again (shows the copy once)"
assert_size_of "$s/cp" "after cp twice"

# ---- mv from another filesystem -------------------------------------------
printf 'moved 1\nmoved 2\n' >"$tmp/m1"
cp "$tmp/m1" "$tmp/m1.want"
mv "$tmp/m1" "$s/mv1" || fail "mv to a new key failed"
[ ! -e "$tmp/m1" ] || fail "mv left its source"
assert_window "$s/mv1" "$tmp/m1.want" "mv to a new key"

: >"$s/mv2"
printf 'moved 3\n' >"$tmp/m2"
cp "$tmp/m2" "$tmp/m2.want"
mv "$tmp/m2" "$s/mv2" || fail "mv onto an empty key file failed"
assert_window "$s/mv2" "$tmp/m2.want" "mv onto an empty key file"

echo "kept" >>"$s/mv3"
printf 'moved 4\n' >"$tmp/m3"
log_mark
rc=0
mv "$tmp/m3" "$s/mv3" 2>"$tmp/mv.err" || rc=$?
[ "$rc" -ne 0 ] || fail "mv onto a key file that holds records succeeded"
grep -q 'unable to remove target\|cannot remove' "$tmp/mv.err" ||
    fail "mv onto a key file with records: $(cat "$tmp/mv.err")"
[ -e "$tmp/m3" ] || fail "a failed mv removed its source"
expect_logged 1 2 'sh/mv3' "mv onto a key file with records"
want kept
assert_window "$s/mv3" "$tmp/want" "a key file mv could not replace"

# ---- editing in place: refused at once, nothing appended -----------------------
echo "a line" >>"$s/sed"
log_mark
quick "sed -i" sed -i 's/line/LINE/' "$s/sed"
[ "$rc" -ne 0 ] || fail "sed -i on a key file that holds records succeeded: $(cat "$tmp/quick.out")"
expect_logged 1 4 'sh/' "sed -i on a key file with records"
want "a line"
assert_window "$s/sed" "$tmp/want" "the key file sed -i could not edit"

echo "kept" >>"$s/rsync"
printf 'rsync 1\nrsync 2\n' >"$tmp/r"
log_mark
quick "rsync onto a key file with records" rsync "$tmp/r" "$s/rsync"
[ "$rc" -ne 0 ] || fail "rsync onto a key file that holds records succeeded: $(cat "$tmp/quick.out")"
expect_logged 1 4 'sh/' "rsync onto a key file with records"
want kept
assert_window "$s/rsync" "$tmp/want" "the key file rsync could not replace"

quick "rsync to a new name" rsync "$tmp/r" "$s/rsync-new"
[ "$rc" -eq 0 ] || fail "rsync to a new name: status $rc: $(cat "$tmp/quick.out")"
assert_window "$s/rsync-new" "$tmp/r" "rsync to a new name"

echo "rsync 1" >>"$s/rsync-append"
quick "rsync --append" rsync --append "$tmp/r" "$s/rsync-append"
[ "$rc" -eq 0 ] || fail "rsync --append: status $rc: $(cat "$tmp/quick.out")"
assert_window "$s/rsync-append" "$tmp/r" "rsync --append"

# ---- mktemp -----------------------------------------------------------------
quick "mktemp in a stream" mktemp "$s/x.XXXXXX"
[ "$rc" -eq 0 ] || fail "mktemp $s/x.XXXXXX: status $rc: $(cat "$tmp/quick.out")"
name=$(cat "$tmp/quick.out")
[[ $name == "$s"/x.?????? ]] || fail "mktemp printed '$name'"
ls_has "$s" "${name##*/}" || fail "ls $s does not list ${name##*/}"
assert_eq "$(file_size "$name")" 0 "the size of the name mktemp made"

# ---- the stream: every record once, in order, under its key ---------------------
read_stream "$s"
want a b
assert_records trunc "$tmp/want" "key trunc after two '>'"
want "exec 1" "exec 2" "exec 3" "exec 4" "exec 5" "exec 6"
assert_records exec "$tmp/want" "key exec"
want "copy 1" "copy 2" "copy 1" "copy 2"
assert_records cp "$tmp/want" "key cp after cp twice (the stream holds both copies)"
want kept
assert_records mv3 "$tmp/want" "key mv3 after a refused mv"
want "a line"
assert_records sed "$tmp/want" "key sed after sed -i"
want kept
assert_records rsync "$tmp/want" "key rsync after rsync"
assert_records rsync-append "$tmp/r" "key rsync-append after rsync --append"

# ---- the line in pieces -------------------------------------------------------
wait "$pieces" || fail "writing the line in pieces failed"
read_stream "$p"
want "step 1: working... done"
assert_records job.log "$tmp/want" "a line written in pieces a second apart"

kfs_umount
