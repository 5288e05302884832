#!/usr/bin/env bash
# rsyslog.sh - rsyslogd in the foreground (-n -f CONF -i PIDFILE, no system
# configuration: imuxsock on a private socket, and the omfile action of
# docs/guide.md's recipe, which writes facility local0 into the mount),
# fed by logger -u SOCKET: 500 messages, then the rotation of the guide's
# logrotate file for it (rename, create, kill -HUP from postrotate), 500
# more.  Every message is a record of key local0.log once, in order;
# local0.log.1 shows the first 500, local0.log the rest.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
kfs_setup
# shellcheck source=functions-logs.sh
. "$testdir/functions-logs.sh"
requires_prog /usr/sbin/rsyslogd
requires_prog logger
requires_prog logrotate
requires_prog jq

kfs_mount
s=$mnt/syslog
sock=$tmp/log.sock
mkdir "$tmp/rsyslog"

run_recipe rsyslog-conf
cat >"$tmp/rsyslog.conf" <<EOF
global(workDirectory="$tmp/rsyslog")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$sock" RateLimit.Interval="0")
\$IncludeConfig $etc/rsyslog.d/*.conf
EOF

rsyslogd -n -f "$tmp/rsyslog.conf" -i "$run/rsyslogd.pid" </dev/null \
    >"$tmp/rsyslogd.out" 2>&1 &
rsyslogd_pid=$!
stop_rsyslogd()
{
    kill -TERM "$rsyslogd_pid" 2>/dev/null
    wait "$rsyslogd_pid" 2>/dev/null || true
    return 0
}
cleanup_fn stop_rsyslogd
wait_for 10 "rsyslogd listens on $sock" test -S "$sock"

# messages FIRST LAST: "message N" for each N, through logger (one
# datagram a line of its input).
messages()
{
    seq "$1" "$2" | sed 's/^/message /' |
        logger -u "$sock" -p local0.info -t app ||
        fail "logger failed"
}

# numbers FILE: the N of each "message N" line of FILE, a line each; a
# line of another shape gives "?".
numbers()
{
    sed -e 's/^.* app: message \([0-9]*\)$/\1/' -e '/^[0-9]*$/!s/.*/?/' "$1"
}

messages 1 500
wait_for 10 "the first 500 messages are in local0.log" has_lines "$s/local0.log" 500

run_recipe rsyslog-logrotate
logrotate -v -f -s "$tmp/lr.state" "$etc/logrotate.d/rsyslog-kinesis" >"$tmp/lr.out" 2>&1 ||
    fail "logrotate failed: $(cat "$tmp/lr.out")"
ls_has "$s" local0.log.1 || fail "no local0.log.1 after the rotation: $(ls "$s"; cat "$tmp/lr.out")"

messages 501 1000
wait_for 10 "the next 500 messages are in local0.log" has_lines "$s/local0.log" 500
kill -0 "$rsyslogd_pid" 2>/dev/null || fail "rsyslogd died: $(cat "$tmp/rsyslogd.out")"
stop_rsyslogd
if grep -v -E '^$' "$tmp/rsyslogd.out"; then
    fail "rsyslogd said something (above)"
fi

read_stream "$s"
key_records local0.log "$tmp/all"
numbers "$tmp/all" >"$tmp/got"
seq 1 1000 >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "the messages in key local0.log (every one once, in order)"
read_into "$tmp/old" "$s/local0.log.1"
numbers "$tmp/old" >"$tmp/got"
seq 1 500 >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "the messages local0.log.1 shows"
read_into "$tmp/new" "$s/local0.log"
numbers "$tmp/new" >"$tmp/got"
seq 501 1000 >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "the messages local0.log shows"
assert_size_of "$s/local0.log.1" "after the rotation"
assert_size_of "$s/local0.log" "after the rotation"

kfs_umount
