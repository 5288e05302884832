#!/usr/bin/env bash
# logrotate.sh - logrotate -f on log files in the mount, with Debian's
# /etc/logrotate.conf (weekly, rotate 4, create) including the logrotate
# file of docs/guide.md's recipe (rotate 3, create, nocompress, notifempty):
# four rotations with lines written between them, one line through a
# handle opened before a rotation and written after it; then again with
# dateext (a dateformat with seconds, one rotation a second); then
# copytruncate and compress, whose outcome the guide states.  logrotate
# exits 0 every time; the rotated names show the old windows, the live
# name the lines since the last rotation, and the stream holds every line
# once under the key the lines were written to; create keeps the mode;
# notifempty skips an empty name.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
kfs_setup
# shellcheck source=functions-logs.sh
. "$testdir/functions-logs.sh"
requires_prog logrotate
requires_prog jq
[ -f /etc/logrotate.conf ] || error "/etc/logrotate.conf is missing (Debian's logrotate)"

kfs_mount

# Debian's defaults, with the test's logrotate.d instead of the system's
# (logrotate.conf), or with no include (defaults.conf).
sed -e "s|^include /etc/logrotate.d\$|include $etc/logrotate.d|" /etc/logrotate.conf >"$tmp/logrotate.conf"
grep -q -x "include $etc/logrotate.d" "$tmp/logrotate.conf" ||
    error "/etc/logrotate.conf has no 'include /etc/logrotate.d'"
grep -v '^include ' /etc/logrotate.conf >"$tmp/defaults.conf"

# rotate CONF WHAT: logrotate -f with CONF exits 0.
rotate()
{
    local rc=0
    logrotate -v -f -s "$tmp/state" "$1" >"$tmp/lr.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "logrotate ($2) exited $rc: $(cat "$tmp/lr.out")"
}

# round FILE N: five lines "round N line I" appended to FILE, one >> each;
# the same lines added to $tmp/want.N.
round()
{
    local i
    : >"$tmp/want.$2"
    for i in 1 2 3 4 5; do
        echo "round $2 line $i" >>"$1"
        echo "round $2 line $i" >>"$tmp/want.$2"
    done
}

# wants N...: the lines of those rounds, in that order, in $tmp/want.
wants()
{
    local n
    : >"$tmp/want"
    for n in "$@"; do
        cat "$tmp/want.$n" >>"$tmp/want"
    done
}

# ---- create, rotate 3: the guide's recipe ------------------------------------
run_recipe logrotate
s=$mnt/logs
mkdir "$s"
: >"$s/empty.log"
round "$s/app.log" 1
chmod 0640 "$s/app.log" || fail "chmod 0640 $s/app.log failed"
rotate "$tmp/logrotate.conf" "rotation 1"
round "$s/app.log" 2
rotate "$tmp/logrotate.conf" "rotation 2"
round "$s/app.log" 3
# A program that has not reopened yet: its handle keeps writing its key.
exec 5>>"$s/app.log"
rotate "$tmp/logrotate.conf" "rotation 3"
echo "round 3 late" >&5
exec 5>&-
echo "round 3 late" >"$tmp/want.late"
round "$s/app.log" 4
rotate "$tmp/logrotate.conf" "rotation 4"
round "$s/app.log" 5

wants 5
assert_window "$s/app.log" "$tmp/want" "app.log after four rotations"
wants late 4
assert_window "$s/app.log.1" "$tmp/want" "app.log.1 (with the line of the handle opened before rotation 3)"
wants 3
assert_window "$s/app.log.2" "$tmp/want" "app.log.2"
wants 2
assert_window "$s/app.log.3" "$tmp/want" "app.log.3"
assert_gone "$s/app.log.4"
for f in app.log app.log.1 app.log.2 app.log.3 empty.log; do
    ls_has "$s" "$f" || fail "ls $s does not list $f: $(ls "$s")"
    assert_size_of "$s/$f" "after the rotations"
done
assert_eq "$(stat -c %a "$s/app.log")" 640 "the mode of the app.log that create made"
assert_gone "$s/empty.log.1"
wants 1 2 3 late 4 5
read_stream "$s"
assert_records app.log "$tmp/want" "key app.log after four rotations"

# ---- dateext ---------------------------------------------------------------
d=$mnt/dated
mkdir "$d"
{
    cat "$tmp/defaults.conf"
    cat <<EOF
dateext
dateformat -%Y%m%d-%s
$d/app.log {
    rotate 3
}
EOF
} >"$tmp/dateext.conf"
last=
for n in 1 2 3 4; do
    round "$d/app.log" "d$n"
    # One rotation a second: the dated name has the second in it, taken
    # while logrotate runs, so the next one starts in a later second
    # than the one this one ended in (later, not only another: a clock
    # stepped back would give a second, and a name, already used), and
    # 100 ms into it: logrotate reads time(2), the kernel's coarse clock,
    # which may still show the second before when date's clock_gettime
    # has just passed it (distcheck hit that: the same name twice).
    while [ -n "$last" ] && [ "$(date +%s%N)" -lt "$(((last + 1) * 1000000000 + 100000000))" ]; do
        sleep 0.05
    done
    rotate "$tmp/dateext.conf" "dateext rotation $n"
    # The second logrotate put in the name, which a clock stepped back
    # right after it may not show any more.
    last=$(sed -n "s/^dateext suffix '-[0-9]*-\([0-9]*\)'\$/\1/p" "$tmp/lr.out")
    now=$(date +%s)
    [ -n "$last" ] && [ "$last" -ge "$now" ] || last=$now
done
round "$d/app.log" d5
ls "$d" >"$tmp/names" || fail "ls $d failed"
grep '^app\.log-' "$tmp/names" >"$tmp/dated" || true
assert_eq "$(grep -c '' "$tmp/dated" || true)" 3 "dated names left by rotate 3 ($(tr '\n' ' ' <"$tmp/names"))"
i=2
while read -r name; do
    wants "d$i"
    assert_window "$d/$name" "$tmp/want" "$name, the rotation of round d$i"
    i=$((i + 1))
done <"$tmp/dated"
wants d5
assert_window "$d/app.log" "$tmp/want" "app.log after the dateext rotations"
wants d1 d2 d3 d4 d5
read_stream "$d"
assert_records app.log "$tmp/want" "key app.log after the dateext rotations"

# ---- copytruncate and compress: what docs/guide.md says -------------------
o=$mnt/other
mkdir "$o"
{
    cat "$tmp/defaults.conf"
    cat <<EOF
$o/ct.log {
    rotate 1
    copytruncate
}
$o/gz.log {
    rotate 2
    compress
}
EOF
} >"$tmp/other.conf"
round "$o/ct.log" c1
round "$o/gz.log" g1
rotate "$tmp/other.conf" "copytruncate and compress"
round "$o/ct.log" c2
# copytruncate: the copy is a new key file holding the lines again; the
# truncated name shows what came after.
read_stream "$o"
wants c1
assert_window "$o/ct.log.1" "$tmp/want" "ct.log.1, copytruncate's copy"
assert_records ct.log.1 "$tmp/want" "key ct.log.1 (the copy's records)"
wants c2
assert_window "$o/ct.log" "$tmp/want" "ct.log after copytruncate"
wants c1 c2
assert_records ct.log "$tmp/want" "key ct.log after copytruncate"
# compress: gz.log.1 made, compressed into gz.log.1.gz and removed; the
# lines stay once under their key.
ls_has "$o" gz.log.1.gz || fail "no gz.log.1.gz: $(ls "$o")"
assert_gone "$o/gz.log.1"
wants g1
assert_records gz.log "$tmp/want" "key gz.log after compress"
key_records gz.log.1.gz "$tmp/gz"
[ -s "$tmp/gz" ] || fail "no record of key gz.log.1.gz"

kfs_umount
