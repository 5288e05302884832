# shellcheck shell=bash
# functions-logs.sh - shared by the tests of programs that write logs into
# the mount (nginx.sh, rsyslog.sh, logrotate.sh, pylogging.sh, tailf.sh,
# shell-logs.sh) and by recipes.sh: the recipes of docs/guide.md, run as
# written there, and a stream read back record by record with its keys.
# Source it after functions.sh and after kfs_setup.
#
# Paths in a recipe are moved into the test's directory: /mnt/kinesis to
# $mnt, /var/log to $varlog, /etc/ to $etc/, /run/ to $run/; $tmp/bin
# comes first in PATH for what a recipe runs, so that a test can put
# there a wrapper that points a program at its private configuration
# (nginx -c, ...).

guide=$KFS_SRCDIR/docs/guide.md
[ -f "$guide" ] || error "$guide is missing"
varlog=$tmp/varlog
etc=$tmp/etc
run=$tmp/run
mkdir -p "$varlog" "$etc/logrotate.d" "$etc/rsyslog.d" "$run" "$tmp/bin"
# Debian's python3 for a recipe's "python3", not a pyenv shim's.
[ ! -x /usr/bin/python3 ] || ln -sf /usr/bin/python3 "$tmp/bin/python3"

# recipe NAME: the script of that block of the guide (the ```sh block
# after a "<!-- recipe: NAME -->" line), paths moved, in $tmp/recipe.NAME.
recipe()
{
    local f=$tmp/recipe.$1
    awk -v name="$1" '
        $0 == "<!-- recipe: " name " -->" { want = 1; next }
        want && /^```sh$/ { on = 1; next }
        on && /^```$/ { exit }
        on { print }' "$guide" |
        sed -e "s|/mnt/kinesis|$mnt|g" -e "s|/var/log|$varlog|g" \
            -e "s|/etc/|$etc/|g" -e "s|/run/|$run/|g" >"$f"
    [ -s "$f" ] || fail "docs/guide.md has no recipe '$1'"
    echo "$f"
}

# run_recipe NAME: runs it with bash -e; its output in $tmp/out.NAME.
run_recipe()
{
    PATH=$tmp/bin:$PATH bash -e "$(recipe "$1")" >"$tmp/out.$1" 2>"$tmp/err.$1" ||
        fail "recipe $1 failed: $(cat "$tmp/err.$1")"
}

# start_recipe NAME: runs it in the background, in a process group of its
# own (killed at the end), output in $tmp/out.NAME; sets $group.
start_recipe()
{
    : >"$tmp/out.$1"
    PATH=$tmp/bin:$PATH setsid bash "$(recipe "$1")" >"$tmp/out.$1" 2>"$tmp/err.$1" &
    group=$!
    cleanup_fn stop_group "$group"
}

# stop_group GROUP: ends a background recipe (or any process group).
stop_group() { kill -TERM -- "-$1" 2>/dev/null || true; }

# ---- reading back ------------------------------------------------------------

# read_stream S: every record of stream S, oldest first (in a stream of
# one shard: in the order they were stored), into $tmp/stream.tsv, a line
# each: "KEY<TAB>DATA", DATA without its newline (jq's @tsv escapes).
# Read from S/@TRIM_HORIZON.jsonl, as many records as the shard files
# hold lines (each record of record=line is one line there), then half a
# second more: a record more than that is one too many.  key_records and
# assert_records look at what the last read_stream read: read the stream
# once its writers are done, then check each key (on AWS a read of the
# stream takes a second or two).
stream_read=
read_stream()
{
    local s=$1 n=0 f got
    for f in "$s"/shardId-*; do
        read_into "$tmp/stream.shard" "$f"
        # wc -l counts newline bytes: grep counts NUL bytes of binary
        # data (gzip's) as line ends too.
        n=$((n + $(wc -l <"$tmp/stream.shard")))
    done
    "$probe" read-for "$s/@TRIM_HORIZON.jsonl" $((20000 * kfs_slow)) "${n}l" \
        >"$tmp/stream.jsonl" 2>"$tmp/stream.end"
    got=$(grep -c '' "$tmp/stream.jsonl" || true)
    [ "$got" -eq "$n" ] ||
        fail "$s/@TRIM_HORIZON.jsonl gave $got records, the shards hold $n: $(cat "$tmp/stream.end")"
    jq -r '[.PartitionKey, (.Data | rtrimstr("\n"))] | @tsv' "$tmp/stream.jsonl" >"$tmp/stream.tsv" ||
        fail "jq could not read $s/@TRIM_HORIZON.jsonl"
    stream_read=$s
}

# key_records KEY OUT: the data of KEY's records in the stream read last
# (read_stream), oldest first, a line each.
key_records()
{
    [ -n "$stream_read" ] || error "key_records before read_stream"
    awk -F '\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print }' "$tmp/stream.tsv" >"$2"
}

# assert_records KEY EXPECTED-FILE WHAT: KEY's records in the stream read
# last (read_stream) are the lines of EXPECTED-FILE, each once, in that
# order.
assert_records()
{
    key_records "$1" "$tmp/records.got"
    if ! cmp -s "$tmp/records.got" "$2"; then
        { diff "$2" "$tmp/records.got" || true; } | sed -n 1,20p >&2
        fail "$3: the records of key $1 in $stream_read are not the $(grep -c '' "$2" || true) expected, once each, in order (diff above: < expected, > stored)"
    fi
}

# assert_window FILE EXPECTED-FILE WHAT: cat FILE (a key file: its window)
# gives the lines of EXPECTED-FILE.
assert_window()
{
    read_into "$tmp/window.got" "$1"
    if ! cmp -s "$tmp/window.got" "$2"; then
        { diff "$2" "$tmp/window.got" || true; } | sed -n 1,20p >&2
        fail "$3: cat $1 is not the $(grep -c '' "$2" || true) lines expected (diff above: < expected, > read)"
    fi
}

# assert_size_of FILE WHAT: stat's size of a key file is what cat gives.
assert_size_of()
{
    local n
    n=$(bytes_in "$1")
    assert_eq "$(file_size "$1")" "$n" "$2: the size of $1 (what cat prints)"
}

# lines_in FILE: how many lines reading FILE gives (read_into).
lines_in()
{
    read_into "$tmp/lines_in" "$1"
    grep -c '' "$tmp/lines_in" || true
}

# has_lines FILE N: reading FILE gives N lines (for wait_for).
has_lines() { [ "$(lines_in "$1")" -eq "$2" ]; }

# assert_gone PATH: PATH does not exist (stat gives ENOENT).
assert_gone() { expect_probe ENOENT stat "$1"; }

# ---- programs ----------------------------------------------------------------

# requires_prog PATH-OR-NAME: the program is there (exit 99 otherwise:
# ./quickstart test installs it).
requires_prog()
{
    command -v "$1" >/dev/null 2>&1 ||
        error "$1 is missing (./quickstart test installs it)"
}

# free_port: a TCP port of 127.0.0.1 that nothing listens on now.
free_port()
{
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
