#!/usr/bin/env bash
# pylogging.sh - Python's logging handlers (Debian's python3) writing into
# the mount: FileHandler; WatchedFileHandler from 4 threads, the file
# renamed half-way as logrotate does (the handler reopens it);
# RotatingFileHandler with maxBytes=2000 and backupCount=5 (about eight
# rollovers); TimedRotatingFileHandler with when='S' and backupCount=3 for
# about 6 s; and the guide's recipe.  Every record is stored once, in
# order (each thread's), under the key of the handler's file; rollovers
# happened (their names are listed, at most backupCount of them) and the
# windows of the rotated names and the live one are the last records, in
# order; no handler reported an error (logging prints "--- Logging error
# ---" and drops the record).
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
kfs_setup
# shellcheck source=functions-logs.sh
. "$testdir/functions-logs.sh"
py=/usr/bin/python3
requires_prog "$py"
requires_prog jq

kfs_mount
s=$mnt/py
# The timed handler runs at the same time as the others, in a stream of
# its own (reading a stream back needs it quiet).
st=$mnt/pytimed
mkdir "$s" "$st"

cat >"$tmp/handlers.py" <<'PY'
import logging
import logging.handlers
import os
import sys
import threading
import time

s, what = sys.argv[1], sys.argv[2]


def logger(name, handler):
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log


if what == "file":
    log = logger("file", logging.FileHandler(os.path.join(s, "fh.log")))
    for i in range(1, 201):
        log.info("fh %d", i)
elif what == "watched":
    # Four threads, each 125 records, then the rename, then 125 more.
    path = os.path.join(s, "wfh.log")
    log = logger("watched", logging.handlers.WatchedFileHandler(path))
    half = threading.Barrier(5)
    renamed = threading.Event()

    def work(t):
        for i in range(1, 251):
            if i == 126:
                half.wait(30)
                renamed.wait(30)
            log.info("wfh %d %d", t, i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    half.wait(30)
    try:
        os.rename(path, path + ".1")
    finally:
        renamed.set()
    for t in threads:
        t.join()
elif what == "rotating":
    log = logger("rotating", logging.handlers.RotatingFileHandler(
        os.path.join(s, "rfh.log"), maxBytes=2000, backupCount=5))
    for i in range(1, 401):
        log.info("rfh %03d %s", i, "x" * 30)
elif what == "timed":
    log = logger("timed", logging.handlers.TimedRotatingFileHandler(
        os.path.join(s, "tfh.log"), when="S", interval=1, backupCount=3))
    for i in range(1, 61):
        log.info("tfh %d", i)
        time.sleep(0.1)
PY

# handlers WHAT: runs that part; it must exit 0 and print nothing.
handlers()
{
    local rc=0
    "$py" "$tmp/handlers.py" "$s" "$1" >"$tmp/py.$1" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && [ ! -s "$tmp/py.$1" ] ||
        fail "python ($1) exited $rc: $(sed -n 1,30p "$tmp/py.$1")"
}

# windows DIR OUT NAME...: cat of each name of DIR, in turn, into OUT.
windows()
{
    local dir=$1 out=$2 name
    shift 2
    : >"$out"
    for name in "$@"; do
        read_into "$tmp/one" "$dir/$name"
        cat "$tmp/one" >>"$out"
    done
}

# The timed handler runs its 6 s while the others run.
"$py" "$tmp/handlers.py" "$st" timed >"$tmp/py.timed" 2>&1 &
timed_pid=$!
bg_pids+=("$timed_pid")

# ---- FileHandler -------------------------------------------------------------
handlers file
printf 'fh %d\n' $(seq 1 200) >"$tmp/want"
assert_window "$s/fh.log" "$tmp/want" "FileHandler's fh.log"
cp "$tmp/want" "$tmp/want.fh"

# ---- WatchedFileHandler, 4 threads, renamed half-way ----------------------
handlers watched
ls_has "$s" wfh.log.1 || fail "no wfh.log.1 after the rename: $(ls "$s")"
windows "$s" "$tmp/got" wfh.log.1 wfh.log
for t in 0 1 2 3; do
    printf "wfh $t %d\n" $(seq 1 250) >"$tmp/want"
    grep "^wfh $t " "$tmp/got" >"$tmp/got.$t" || true
    assert_file_eq "$tmp/got.$t" "$tmp/want" "thread $t's records in wfh.log.1 then wfh.log"
done
assert_eq "$(grep -c '' "$tmp/got" || true)" 1000 "lines of wfh.log.1 and wfh.log"
# Before the rename each thread had written 125: all in the rotated name.
read_into "$tmp/old" "$s/wfh.log.1"
for t in 0 1 2 3; do
    assert_eq "$(grep -c "^wfh $t " "$tmp/old" || true)" 125 "thread $t's records in wfh.log.1"
done

# ---- RotatingFileHandler ----------------------------------------------------
handlers rotating
for i in 1 2 3 4 5; do
    ls_has "$s" "rfh.log.$i" || fail "no rfh.log.$i: $(ls "$s")"
    size=$(bytes_in "$s/rfh.log.$i")
    [ "$size" -gt 0 ] && [ "$size" -le 2000 ] || fail "rfh.log.$i holds $size bytes, expected 1..2000"
done
assert_gone "$s/rfh.log.6"
for i in $(seq 1 400); do printf 'rfh %03d %s\n' "$i" "$(printf '%30s' '' | tr ' ' x)"; done >"$tmp/want"
cp "$tmp/want" "$tmp/want.rfh"
windows "$s" "$tmp/got" rfh.log.5 rfh.log.4 rfh.log.3 rfh.log.2 rfh.log.1 rfh.log
n=$(grep -c '' "$tmp/got" || true)
[ "$n" -lt 400 ] || fail "the backups and rfh.log hold all $n records: were there more than 5 rollovers?"
tail -n "$n" "$tmp/want" >"$tmp/want.tail"
assert_file_eq "$tmp/got" "$tmp/want.tail" "rfh.log.5 .. rfh.log.1, rfh.log: the last records in order"

# ---- the stream: every record once, in order, under its handler's key ----
read_stream "$s"
assert_records fh.log "$tmp/want.fh" "FileHandler's records"
key_records wfh.log "$tmp/stored"
for t in 0 1 2 3; do
    printf "wfh $t %d\n" $(seq 1 250) >"$tmp/want"
    grep "^wfh $t " "$tmp/stored" >"$tmp/got.$t" || true
    assert_file_eq "$tmp/got.$t" "$tmp/want" "thread $t's records in key wfh.log"
done
assert_eq "$(grep -c '' "$tmp/stored" || true)" 1000 "records of key wfh.log"
assert_records rfh.log "$tmp/want.rfh" "RotatingFileHandler's records"

# ---- TimedRotatingFileHandler ------------------------------------------------
wait "$timed_pid" || fail "python (timed) failed: $(sed -n 1,30p "$tmp/py.timed")"
[ ! -s "$tmp/py.timed" ] || fail "python (timed) said: $(sed -n 1,30p "$tmp/py.timed")"
ls "$st" >"$tmp/names" || fail "ls $st failed"
grep -E '^tfh\.log\.[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}$' "$tmp/names" >"$tmp/timed" || true
n=$(grep -c '' "$tmp/timed" || true)
[ "$n" -ge 1 ] && [ "$n" -le 3 ] || fail "$n timed backups listed, expected 1..3: $(tr '\n' ' ' <"$tmp/names")"
printf 'tfh %d\n' $(seq 1 60) >"$tmp/want"
read_stream "$st"
assert_records tfh.log "$tmp/want" "TimedRotatingFileHandler's records"
# shellcheck disable=SC2046
windows "$st" "$tmp/got" $(cat "$tmp/timed") tfh.log
n=$(grep -c '' "$tmp/got" || true)
[ "$n" -lt 60 ] || fail "the timed backups and tfh.log hold all 60 records: no backup was removed"
tail -n "$n" "$tmp/want" >"$tmp/want.tail"
assert_file_eq "$tmp/got" "$tmp/want.tail" "the timed backups, then tfh.log: the last records in order"

# ---- the guide's recipe ---------------------------------------------------
run_recipe python-logging
printf 'INFO app request %d done\n' 0 1 2 >"$tmp/want"
assert_file_eq "$tmp/out.python-logging" "$tmp/want" "the python-logging recipe's cat"

kfs_umount
