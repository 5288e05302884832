#!/usr/bin/env bash
# nginx.sh - nginx as Debian ships it (its own /etc/nginx, copied into the
# test's directory: user www-data, worker_processes auto, the default site
# moved to a free port of 127.0.0.1), its access and error logs pointed
# into the mount by the recipe of docs/guide.md and rotated by the guide's
# logrotate file for them (rename, create 0640 www-data adm, nginx -s
# reopen): 1,000 requests with curl, the rotation, 1,000 more, nginx -s
# quit.  Every request is a record of key access.log once, in order;
# access.log.1 shows the first 1,000, access.log the rest; the error log
# has no [emerg] or [alert] (nginx's reopen chowns the file it opens) and
# its two lines are split the same way.  The mount has allow_other: the
# workers run as www-data and reopen the logs themselves.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
kfs_setup
# shellcheck source=functions-logs.sh
. "$testdir/functions-logs.sh"
requires_prog /usr/sbin/nginx
requires_prog curl
requires_prog logrotate
requires_prog jq
requires_prog pgrep
[ -f /etc/nginx/nginx.conf ] || error "/etc/nginx/nginx.conf is missing (Debian's nginx)"
id www-data >/dev/null 2>&1 || error "no user www-data"

# The workers (www-data) reach the mount through $tmp.
chmod 0755 "$tmp"
kfs_mount allow_other
s=$mnt/nginx
port=$(free_port)

# ---- Debian's configuration, in the test's directory ----------------------
cp -rL /etc/nginx "$etc/nginx"
sed -i -e "s|/etc/nginx|$etc/nginx|g" -e "s|/var/log|$varlog|g" -e "s|/run/|$run/|g" \
    "$etc/nginx/nginx.conf"
sed -i -e "s|^\([[:space:]]*\)listen 80 default_server;|\1listen 127.0.0.1:$port default_server;|" \
    -e '/listen \[::\]:80/d' "$etc/nginx/sites-enabled/default"
grep -q "listen 127.0.0.1:$port default_server;" "$etc/nginx/sites-enabled/default" ||
    error "Debian's sites-enabled/default has no 'listen 80 default_server;'"
# A missing page under /missing- is an [error] line (try_files, which
# the default site has for /, answers 404 without one).
sed -i -e 's|^\([[:space:]]*\)server_name _;|&\n\1location /missing- { }|' "$etc/nginx/sites-enabled/default"
grep -q 'location /missing- { }' "$etc/nginx/sites-enabled/default" ||
    error "Debian's sites-enabled/default has no 'server_name _;'"
grep -q "access_log $varlog/nginx/access.log;" "$etc/nginx/nginx.conf" ||
    error "Debian's nginx.conf has no access_log /var/log/nginx/access.log"
mkdir -p "$varlog/nginx"
cat >"$tmp/bin/nginx" <<EOF
#!/bin/sh
exec /usr/sbin/nginx -c '$etc/nginx/nginx.conf' "\$@"
EOF
chmod 0755 "$tmp/bin/nginx"
export PATH=$tmp/bin:$PATH

master=
stop_nginx()
{
    local i p
    [ -n "$master" ] || return 0
    kill -TERM "$master" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$master" 2>/dev/null || return 0
        sleep 0.1
    done
    for p in $(pgrep -P "$master") "$master"; do
        kill -KILL "$p" 2>/dev/null
    done
    return 0
}
cleanup_fn stop_nginx

nginx 2>"$tmp/nginx.err" || fail "nginx did not start: $(cat "$tmp/nginx.err")"
wait_for 10 "nginx wrote its pid file" test -s "$run/nginx.pid"
master=$(cat "$run/nginx.pid")

# workers_on NAME [OLD]: nginx has workers, and each has $s/NAME open (and
# not $s/OLD: it reopened).
workers_on()
{
    local p n=0
    for p in $(pgrep -P "$master"); do
        # Also waits for the workers of the configuration before a reload
        # to leave.
        has_open "$p" "$s/$1" || return 1
        [ -z "${2:-}" ] || ! has_open "$p" "$s/$2" || return 1
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}

# requests FIRST LAST: GET /?r=FIRST .. /?r=LAST on one connection, each
# answered 200, then one for a missing page (an [error] line).
requests()
{
    local n=$(($2 - $1 + 1)) ok
    curl -sS -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/?r=[$1-$2]" \
        >"$tmp/codes" 2>"$tmp/curl.err" || fail "curl: $(cat "$tmp/curl.err")"
    ok=$(grep -c -x 200 "$tmp/codes" || true)
    assert_eq "$ok" "$n" "requests $1..$2 answered 200"
    curl -sS -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/missing-$2" \
        >"$tmp/codes" 2>"$tmp/curl.err" || fail "curl: $(cat "$tmp/curl.err")"
    assert_eq "$(cat "$tmp/codes")" 404 "a missing page"
}

# r_numbers FILE: the r= of each access log line of FILE, a line each,
# the 404s left out; a line of another shape gives "?".
r_numbers()
{
    sed -e '\|"GET /missing-[0-9]* HTTP/1\.1" 404 |d' -e 's|^.*"GET /?r=\([0-9]*\) HTTP/1\.1" 200 .*$|\1|' -e '/^[0-9]*$/!s/.*/?/' "$1"
}

# ---- the recipe: both logs into the stream "nginx", then a reload ----------
run_recipe nginx-logs
wait_for 10 "nginx's workers have $s/access.log open after the reload" workers_on access.log

requests 1 1000
wait_for 10 "the first 1,000 requests (and a 404) are in access.log" has_lines "$s/access.log" 1001

# ---- rotation as the guide's logrotate file does it -------------------------
run_recipe nginx-logrotate
logrotate -v -f -s "$tmp/lr.state" "$etc/logrotate.d/nginx-kinesis" >"$tmp/lr.out" 2>&1 ||
    fail "logrotate failed: $(cat "$tmp/lr.out")"
wait_for 10 "every worker reopened access.log" workers_on access.log access.log.1

requests 1001 2000
nginx -s quit 2>"$tmp/nginx.err" || fail "nginx -s quit: $(cat "$tmp/nginx.err")"
nginx_gone() { ! kill -0 "$master" 2>/dev/null; }
wait_for 10 "nginx exits on quit" nginx_gone
master=

# ---- checks ---------------------------------------------------------------
ls_has "$s" access.log.1 || fail "no access.log.1 after the rotation: $(ls "$s")"
ls_has "$s" error.log.1 || fail "no error.log.1 after the rotation: $(ls "$s")"
assert_eq "$(stat -c '%U %G %a' "$s/access.log")" "www-data adm 640" \
    "owner and mode of the access.log logrotate created"

read_stream "$s"
key_records access.log "$tmp/access.all"
r_numbers "$tmp/access.all" >"$tmp/got"
seq 1 2000 >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "the requests in key access.log (every one once, in order)"
assert_eq "$(grep -c '"GET /missing-' "$tmp/access.all" || true)" 2 "the 404s in key access.log"
read_into "$tmp/old" "$s/access.log.1"
r_numbers "$tmp/old" >"$tmp/got"
seq 1 1000 >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "the requests access.log.1 shows"
read_into "$tmp/new" "$s/access.log"
r_numbers "$tmp/new" >"$tmp/got"
seq 1001 2000 >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "the requests access.log shows"
assert_size_of "$s/access.log.1" "after the rotation"
assert_size_of "$s/access.log" "after the rotation"

key_records error.log "$tmp/errors"
if grep -E '\[(emerg|alert)\]' "$tmp/errors" "$varlog/nginx/error.log" "$tmp/lr.out"; then
    fail "nginx logged [emerg] or [alert] (above)"
fi
grep -c 'open() "/var/www/html/missing-' "$tmp/errors" >"$tmp/got" || true
assert_eq "$(cat "$tmp/got")" 2 "the [error] lines of the two missing pages in key error.log"
assert_eq "$(grep -c '' "$tmp/errors" || true)" 2 "records of key error.log"
read_into "$tmp/got" "$s/error.log.1"
grep -q 'missing-1000"' "$tmp/got" || fail "error.log.1 shows: $(cat "$tmp/got")"
read_into "$tmp/got" "$s/error.log"
grep -q 'missing-2000"' "$tmp/got" || fail "error.log shows: $(cat "$tmp/got")"
assert_eq "$(grep -c '' "$tmp/got" || true)" 1 "lines error.log shows"

kfs_umount
