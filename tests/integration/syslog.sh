#!/usr/bin/env bash
# syslog.sh - a daemon in the background logs to syslog (docs/metrics.md,
# "Logs"): datagrams to /dev/log, identifier kinesisfs, facility daemon,
# each line at its level's priority (error, warning, info; debug only with
# -o debug), and nothing of it on the terminal once it has detached.  No
# syslog daemon is needed: the test runs in a mount namespace of its own
# whose /dev is a tmpfs holding the real device nodes (bound one by one)
# and a /dev/log socket that socat reads into a file.  The daemon runs
# as a user starts it, without the valgrind wrapper of kfs_mount (it
# forks); its logging code is the one every other test runs under it.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires unshare --version
requires socat -V

if [ -z "${KFS_SYSLOG_NS:-}" ]; then
    requires_fuse
    export KFS_SYSLOG_NS=1
    rc=0
    unshare -m --propagation private bash "$0" "$@" || rc=$?
    exit "$rc"
fi

kfs_setup

# ---- a /dev with a /dev/log of the test's own ----------------------------
# Device nodes only, each bound on a file (never /dev itself, which a
# removal could then reach): the binds go with the namespace.
stage=$tmp/devstage
mkdir "$stage"
nodes=(null zero full random urandom tty fuse)
for n in "${nodes[@]}"; do
    : >"$stage/$n"
    mount --bind "/dev/$n" "$stage/$n"
done
unbind_stage() { umount -l "$stage"/* 2>/dev/null; }
cleanup_fn unbind_stage
mount -t tmpfs -o mode=0755,size=1m kfsdev /dev
for n in "${nodes[@]}"; do
    : >"/dev/$n"
    mount --bind "$stage/$n" "/dev/$n"
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr

syslog=$tmp/syslog
socat -u UNIX-RECV:/dev/log,mode=0666 OPEN:"$syslog",creat,append &
socat_pid=$!
stop_socat() { kill "$socat_pid" 2>/dev/null; }
cleanup_fn stop_socat
wait_for 10 "socat listens on /dev/log" test -S /dev/log

# start_daemon OPTS: kinesisfs in the background (no -f), as from a shell.
start_daemon()
{
    "$KFS_BIN" -o "$(kfs_backend_opts)${1:+,$1}" "$mnt" >"$tmp/terminal.out" 2>&1 ||
        fail "kinesisfs did not start: $(cat "$tmp/terminal.out")"
    is_mounted "$mnt" || fail "kinesisfs returned but $mnt is not mounted"
    daemon=$(pgrep -n -f "kinesisfs -o .* $mnt\$") || fail "no daemon for $mnt"
}

stop_daemon()
{
    fusermount3 -u "$mnt" || fail "cannot unmount $mnt"
    wait_for 30 "the daemon exits after the unmount" not_running
}
not_running() { ! kill -0 "$daemon" 2>/dev/null; }

# logged PRI ERE: a syslog line with priority PRI (facility daemon = 24,
# plus the level) from kinesisfs matching ERE.
logged()
{
    lines
    grep -E -q "^<$1>.*kinesisfs\[[0-9]+\]: .*$2" "$tmp/lines"
}
# lines: the datagrams received, one a line (socat writes them back to
# back), into $tmp/lines: searched there, not through a pipe that grep -q
# would close early.
lines() { sed -e 's/<\([0-9]\{1,3\}\)>/\n<\1>/g' "$syslog" | sed -e '/^$/d' >"$tmp/lines"; }

# ---- without -o debug: error, info; no debug -----------------------------
start_daemon ""
mkdir "$mnt/logs" || fail "mkdir of a stream"
echo one >>"$mnt/logs/k" || fail "a write"
if mkdir "$mnt/bad name" 2>/dev/null; then
    fail "mkdir of a bad stream name succeeded"
fi
stop_daemon
wait_for 10 "the mount is logged at info (<30>)" logged 30 "mounted $mnt"
wait_for 10 "the new stream is logged at info (<30>)" logged 30 "stream logs created"
wait_for 10 "the bad mkdir is logged at error (<27>)" logged 27 "mkdir bad name: "
wait_for 10 "the unmount is logged at info (<30>)" logged 30 "unmounting $mnt"
lines
if grep -q "^<31>" "$tmp/lines"; then
    fail "debug lines without -o debug: $(grep "^<31>" "$tmp/lines" | sed -n 1,3p)"
fi
# Until it has mounted the daemon writes to the terminal (start-up errors
# are seen there, and the mount), and once detached nothing more.
grep -q -x "kinesisfs: info: mounted $mnt .*" "$tmp/terminal.out" ||
    fail "the mount is not reported on the terminal: $(cat "$tmp/terminal.out")"
if grep -q -v -E "^kinesisfs: info: mounted " "$tmp/terminal.out"; then
    fail "the daemon wrote to the terminal after starting: $(cat "$tmp/terminal.out")"
fi
if grep -v -q "^<[0-9]*>" "$tmp/lines"; then
    fail "a datagram without a priority: $(grep -v "^<[0-9]*>" "$tmp/lines" | sed -n 1,3p)"
fi

# ---- with -o debug: debug lines too -----------------------------------------
: >"$syslog"
start_daemon debug
echo two >>"$mnt/logs/k" || fail "a write"
cat "$mnt/logs/shardId-000000000000" >/dev/null || fail "a read"
stop_daemon
wait_for 10 "debug lines (<31>) with -o debug" logged 31 "."
wait_for 10 "info lines with -o debug" logged 30 "unmounting $mnt"

unbind_stage
