# shellcheck shell=bash
# functions.sh - shared by the integration tests; source it, don't run it.
#
# Each test:
#
#   . "$(dirname "$0")/functions.sh"
#   kfs_setup                        # $tmp, $mnt, $data; cleanup on exit
#   kfs_mount shards=4,record=line   # daemon in the foreground, in the background
#   ...                              # assertions; fail "why" on a mismatch
#   kfs_umount                       # unmount, daemon exit status, its log
#
# Environment (set by automake's TESTS_ENVIRONMENT, or by hand):
#   KFS_BIN       the kinesisfs binary
#   KFS_TOOLS     directory holding kfs-probe and kfs-writer
#   KFS_SRCDIR    source top directory
#   KFS_BUILDDIR  build top directory (kfs_make runs make there)
#   KFS_MAKE      make
#   VALGRIND      valgrind, or empty
#   KFS_VALGRIND  1 to run the daemon under valgrind; errors fail the test
#   KFS_TSAN      1 when built with --enable-tsan: ThreadSanitizer reports
#                 of the daemon (or of a test tool) fail the test
#   KFS_BACKEND   local (default) or aws: the same test on the AWS backend,
#                 against kinesalite started by kfs_setup on a free loopback
#                 port (the tests/integration/aws-*.sh wrappers set it)
#   KFS_AWS_NODE_MODULES  where kinesalite is installed (default
#                 tests/aws/node_modules, which ./quickstart test fills)
#
# On the AWS backend kfs_setup also exports dummy credentials and points
# every AWS_* setting away from the user's own (~/.aws, IMDS, profiles), so
# that the daemon and the aws CLI (awsk) talk to kinesalite only.  A test
# may put a proxy in between by setting $kfs_endpoint before kfs_mount.
#
# Exit status follows automake: 0 pass, 1 fail, 77 skip, 99 hard error.
# The only reason to skip is a missing /dev/fuse: a missing tool is an
# error of the test environment, not a reason to pass quietly.
#
# pipefail: a pipeline fails when any of its commands does, so that `cat
# SHARD | tail -n 1` fails on a reader's EIO.  Hence, in these tests, no
# reader of the mount, nor any command whose output may be long, is piped
# into one that may stop reading early (head, grep -q, cmp on a
# difference): it would die of SIGPIPE on a good run.  A file of the
# mount is read whole with read_into (its status checked), a listing
# checked with ls_has, a variable searched with grep <<<"$var", and the
# first lines of an output shown with sed -n 1,5p (which reads it all).
# A pipeline inside "$(...)" given as an argument is not checked at all:
# assign it (x=$(...)) or write a file when its status matters.

set -e
set -u
set -o pipefail
export LC_ALL=C

testname=$(basename "$0" .sh)
testdir=$(cd "$(dirname "$0")" && pwd)

: "${KFS_SRCDIR:=$(cd "$testdir/../.." && pwd)}"
: "${KFS_BIN:=$KFS_SRCDIR/kinesisfs}"
: "${KFS_TOOLS:=$testdir}"
: "${VALGRIND:=}"
: "${KFS_VALGRIND:=}"
: "${KFS_TSAN:=}"
# ThreadSanitizer maps its shadow memory at fixed addresses, which some
# kernels' address space randomization (vm.mmap_rnd_bits above 28) gets in
# the way of ("FATAL: ThreadSanitizer: unexpected memory mapping"): under
# it the test runs again with randomization off for itself and everything
# it starts, when setarch can do that.
if [ "$KFS_TSAN" = 1 ] && [ -z "${KFS_TSAN_NORANDOM:-}" ] &&
    setarch "$(uname -m)" -R true 2>/dev/null; then
    export KFS_TSAN_NORANDOM=1
    exec setarch "$(uname -m)" -R bash "$0" "$@"
fi
: "${KFS_BACKEND:=local}"
aws_dir=$KFS_SRCDIR/tests/aws
if [ -z "${KFS_AWS_NODE_MODULES:-}" ]; then
    KFS_AWS_NODE_MODULES=$aws_dir/node_modules
    # make check-sanitizers runs in a distdir inside the source tree, with
    # no node_modules of its own: the tree's will do if the lock is ours.
    if [ ! -d "$KFS_AWS_NODE_MODULES" ] && [ -d "$KFS_SRCDIR/../tests/aws/node_modules" ] &&
        cmp -s "$aws_dir/package-lock.json" "$KFS_SRCDIR/../tests/aws/package-lock.json"; then
        KFS_AWS_NODE_MODULES=$(cd "$KFS_SRCDIR/../tests/aws/node_modules" && pwd)
    fi
fi
export KFS_AWS_NODE_MODULES
# Debian's awscli, by its path: a pyenv shim or a pip install named aws
# may come first in PATH.
: "${KFS_AWS_CLI:=/usr/bin/aws}"
case $KFS_BACKEND in
local) ;;
aws) testname=aws-${testname#aws-} ;;
*)
    echo "$testname: ERROR: KFS_BACKEND=$KFS_BACKEND: expected local or aws" >&2
    exit 99
    ;;
esac

probe=$KFS_TOOLS/kfs-probe
writer=$KFS_TOOLS/kfs-writer

# Seconds allowed for the mount to appear, the daemon to exit after an
# unmount, and the whole test; valgrind makes everything slower.
if [ "$KFS_VALGRIND" = 1 ]; then
    kfs_slow=4
elif [ "$KFS_TSAN" = 1 ]; then
    kfs_slow=2
else
    kfs_slow=1
fi
mount_timeout=$((20 * kfs_slow))

# kfs_bound MS: the bound a test puts on a latency that is MS on a plain
# build (a wake-up, an answer), allowing for what the checking builds cost
# (docs/testing.md, "Timing bounds"): ASan/UBSan (KFS_ASAN=1) 3 x MS;
# ThreadSanitizer (KFS_TSAN=1), which instruments every memory access and
# lock, 10 x MS; valgrind (KFS_VALGRIND=1), which runs one thread of the
# daemon at a time and so adds a scheduling delay rather than a factor,
# MS + 3000.  A plain build always gets MS itself.
kfs_bound()
{
    if [ "$KFS_VALGRIND" = 1 ]; then
        echo $(($1 + 3000))
    elif [ "$KFS_TSAN" = 1 ]; then
        echo $(($1 * 10))
    elif [ "${KFS_ASAN:-}" = 1 ]; then
        echo $(($1 * 3))
    else
        echo "$1"
    fi
}
exit_timeout=$((30 * kfs_slow))
: "${KFS_TEST_TIMEOUT:=$((240 * kfs_slow))}"

msg() { echo "$testname: $*" >&2; }

# Records the failure, then exits 1: the exit trap cleans up and shows
# the daemon logs.
fail()
{
    msg "FAIL: $*"
    exit 1
}

# Hard error: the test could not run at all.
error()
{
    msg "ERROR: $*"
    exit 99
}

# requires CMD [ARGS...]: the command must succeed, else the test is an
# error (not a skip).
requires()
{
    if ! "$@" >/dev/null 2>&1; then
        error "required command failed: $*"
    fi
}

requires_fuse()
{
    if [ ! -c /dev/fuse ]; then
        echo "$testname: SKIP: /dev/fuse is missing"
        exit 77
    fi
}

# ---- cleanup -----------------------------------------------------------

cleanup_fns=()

# cleanup_fn CMD [ARGS...]: run at exit, last registered first.
cleanup_fn()
{
    local IFS=' '
    cleanup_fns+=("$(printf '%q ' "$@")")
}

# The exit status; cleanup functions may turn a pass into a failure.
kfs_exit_status=0

_kfs_run_cleanup()
{
    kfs_exit_status=$?
    local i
    set +e
    trap - ERR
    trap '' INT TERM QUIT HUP
    for ((i = ${#cleanup_fns[@]} - 1; i >= 0; i--)); do
        eval "${cleanup_fns[$i]}"
    done
    exit "$kfs_exit_status"
}
trap _kfs_run_cleanup EXIT
trap 'exit 1' INT TERM QUIT HUP
# Says which command failed when set -e ends the test.
set -E
trap 'msg "FAIL: line $LINENO: status $? from: $BASH_COMMAND"' ERR

# ---- the test's directory ---------------------------------------------

kfs_pid=
kfs_log=
kfs_n=0
kfs_expect=()

# kfs_setup: checks the environment, makes $tmp with $mnt and $data in
# it, and arms a watchdog against hangs.
kfs_setup()
{
    requires_fuse
    [ -x "$KFS_BIN" ] || error "KFS_BIN=$KFS_BIN is not an executable"
    [ -x "$probe" ] || error "$probe is missing (make check builds it)"
    [ -x "$writer" ] || error "$writer is missing (make check builds it)"
    requires fusermount3 --version
    requires timeout --version
    if [ "$KFS_VALGRIND" = 1 ]; then
        [ -n "$VALGRIND" ] || error "KFS_VALGRIND=1 but VALGRIND is empty"
        requires "$VALGRIND" --version
    fi

    if on_aws; then
        requires node --version
        requires "$KFS_AWS_CLI" --version
        [ -f "$KFS_AWS_NODE_MODULES/kinesalite/package.json" ] ||
            error "kinesalite is not installed in $KFS_AWS_NODE_MODULES (./quickstart test, or npm ci --prefix tests/aws)"
    fi

    tmp=$(mktemp -d "${TMPDIR:-/tmp}/kfs-$testname.XXXXXX")
    tmp=$(cd "$tmp" && pwd -P)
    mnt=$tmp/mnt
    data=$tmp/data
    mkdir "$mnt"
    cleanup_fn _kfs_remove_tmp
    if [ "${KFS_ASAN:-}" = 1 ]; then
        # The known library leaks (lsan.supp) are not reported, nor is a
        # table of the suppressions used on the daemon's stderr, which
        # the test checks for unexpected lines.
        export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KFS_SRCDIR/tests/lsan.supp:print_suppressions=0"
    fi
    if [ "$KFS_TSAN" = 1 ]; then
        # Every report in a file of its own ($tmp/tsan.PID), none on the
        # daemon's stderr; the process goes on after one and exits 66.
        export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=0:exitcode=66:log_path=$tmp/tsan:second_deadlock_stack=1:suppressions=$KFS_SRCDIR/tests/tsan.supp"
        cleanup_fn _kfs_check_tsan
    fi
    # Helpers (kinesalite, proxies) stop once the mounts are gone.
    cleanup_fn _kfs_stop_helpers
    cleanup_fn _kfs_cleanup_mounts
    cleanup_fn _kfs_kill_bg

    # A hung read or write in the filesystem cannot be interrupted, and
    # bash runs traps only once the foreground command returns: the
    # watchdog kills the daemon, which fails what hangs on it.
    (
        trap - ERR
        trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
        sleep "$KFS_TEST_TIMEOUT" &
        sleeper=$!
        wait "$sleeper"
        msg "FAIL: timed out after ${KFS_TEST_TIMEOUT}s"
        touch "$tmp/timed-out"
        for f in "$tmp"/daemon.*.pid; do
            [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
        done
        kill -TERM $$ 2>/dev/null
    ) </dev/null >/dev/null &
    kfs_watchdog=$!
    cleanup_fn _kfs_stop_watchdog

    if on_aws; then
        _kfs_aws_env
        kinesalite_start
    fi
}

_kfs_stop_watchdog()
{
    kill "$kfs_watchdog" 2>/dev/null
    wait "$kfs_watchdog" 2>/dev/null
    if [ -e "$tmp/timed-out" ]; then
        kfs_exit_status=1
    fi
    return 0
}

# Unmounts whatever is still mounted under $tmp (a failed test), lazily
# if it must, and kills daemons still running.  Shows the logs on failure.
_kfs_cleanup_mounts()
{
    local m f pid
    awk -v t="$tmp/" 'index($2, t) == 1 { print $2 }' /proc/mounts |
        while read -r m; do
            fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null ||
                umount -l "$m" 2>/dev/null
        done
    for f in "$tmp"/daemon.*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
            sleep 1
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    if [ "$kfs_exit_status" -ne 0 ] && [ "$kfs_exit_status" -ne 77 ]; then
        for f in "$tmp"/daemon.*.log "$tmp"/daemon.*.out "$tmp"/daemon.*.vg; do
            [ -s "$f" ] || continue
            echo "---- $(basename "$f") (last 60 lines) ----" >&2
            tail -n 60 "$f" >&2
        done
    fi
    return 0
}

_kfs_remove_tmp()
{
    # Never recurse into a live mount.
    if awk -v t="$tmp/" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        msg "not removing $tmp: something is still mounted under it"
        return 0
    fi
    rm -rf --one-file-system "$tmp"
}

# ---- mounting ----------------------------------------------------------

# is_mounted DIR: DIR is a kinesisfs mount point.
is_mounted()
{
    awk -v m="$1" '$2 == m && $3 == "fuse.kinesisfs" { found = 1 } END { exit !found }' /proc/mounts
}

# kfs_backend_opts: the -o options that choose the backend and its store:
# data_dir=$data on the local engine; on the AWS backend the region and
# $kfs_endpoint (kinesalite, or a proxy a test put in front of it).
kfs_backend_opts()
{
    if on_aws; then
        echo "backend=aws,region=$kfs_region,endpoint=$kfs_endpoint,state_dir=$tmp/state"
    else
        echo "data_dir=$data"
    fi
}

# A command the daemon is started through, which execs it (the daemon's
# pid stays the one kfs_mount knows): e.g. (unshare -m --propagation
# unchanged) for a mount made from another mount namespace.
kfs_launcher=()

# _kfs_start OPTS MOUNTPOINT: starts the daemon the one way every test
# does: through kfs_launcher, under valgrind with KFS_VALGRIND=1, -f in the
# background, its stderr in $kfs_log; its pid in $kfs_pid and in
# $tmp/daemon.N.pid, which the watchdog and the cleanup kill.
_kfs_start()
{
    local opts=$1 mp=$2
    local -a cmd=()

    [ -z "$kfs_pid" ] || error "kfs_mount: a daemon is already running"
    kfs_n=$((kfs_n + 1))
    kfs_log=$tmp/daemon.$kfs_n.log
    kfs_mp=$mp
    kfs_vg=
    cmd=("${kfs_launcher[@]}")
    if [ "$KFS_VALGRIND" = 1 ]; then
        kfs_vg=$tmp/daemon.$kfs_n.vg
        cmd+=("$VALGRIND" --error-exitcode=99 --leak-check=full
             --errors-for-leak-kinds=definite --log-file="$kfs_vg"
             --suppressions="$KFS_SRCDIR/tests/valgrind.supp")
    fi
    cmd+=("$KFS_BIN" -f -o "$(kfs_backend_opts)${opts:+,$opts}" "$mp")
    echo "+ ${cmd[*]}" >&2
    "${cmd[@]}" </dev/null >"$tmp/daemon.$kfs_n.out" 2>"$kfs_log" &
    kfs_pid=$!
    echo "$kfs_pid" >"$tmp/daemon.$kfs_n.pid"
    kfs_log_mark=0
}

# kfs_mount [OPT,...] [MOUNTPOINT]: starts the daemon on $data (or on
# $kfs_endpoint, see kfs_backend_opts) with -f in the background and waits
# until the mount is up.  Sets $kfs_pid and $kfs_log (its stderr).
kfs_mount()
{
    local opts=${1:-} mp=${2:-$mnt} i dead=0

    # A dead mount left by a killed daemon (kfs_kill9 --keep-mount) is
    # listed until the new daemon clears it: then its own line says when
    # it is mounted.
    is_mounted "$mp" && dead=1
    _kfs_start "$opts" "$mp"
    for ((i = 0; i < mount_timeout * 10; i++)); do
        if is_mounted "$mp" &&
            { [ "$dead" = 0 ] || grep -q -F "info: mounted $mp (" "$kfs_log"; }; then
            return 0
        fi
        if ! kill -0 "$kfs_pid" 2>/dev/null; then
            _kfs_reap
            fail "the daemon exited before mounting $mp (status $kfs_status): $(cat "$kfs_log")"
        fi
        sleep 0.1
    done
    grep -F " $mp " /proc/mounts >&2 || true
    fail "$mp not mounted as fuse.kinesisfs after ${mount_timeout}s"
}

# kfs_mount_fails OPTS STATUS ERE [MOUNTPOINT]: a daemon started as
# kfs_mount starts one (valgrind, the watchdog, the cleanup) must refuse
# to mount: it exits with STATUS within the mount timeout, without
# mounting; its stderr says why in a line matching ERE and holds nothing
# else but info lines and those expect_log allows, its stdout nothing;
# valgrind and ThreadSanitizer found nothing.  A daemon mounted before (kfs_mount) is
# left running and stays the one kfs_umount unmounts (and $kfs_log its
# stderr); the refused daemon's is $refused_log.
kfs_mount_fails()
{
    local opts=$1 want=$2 re=$3 mp=${4:-$mnt} i
    local -a held_expect=("${kfs_expect[@]}")

    [ -z "$kfs_other_pid" ] || error "kfs_mount_fails while kfs_swap holds a daemon aside"
    ! is_mounted "$mp" || error "kfs_mount_fails: $mp is mounted already"
    kfs_swap
    _kfs_start "$opts" "$mp"
    for ((i = 0; i < mount_timeout * 10; i++)); do
        kill -0 "$kfs_pid" 2>/dev/null || break
        is_mounted "$mp" && fail "-o $opts mounted $mp (expected a refusal)"
        sleep 0.1
    done
    if kill -0 "$kfs_pid" 2>/dev/null; then
        is_mounted "$mp" && fail "-o $opts mounted $mp (expected a refusal)"
        kill -KILL "$kfs_pid"
        _kfs_reap
        fail "-o $opts: the daemon neither mounted nor exited within ${mount_timeout}s"
    fi
    _kfs_reap
    ! is_mounted "$mp" || fail "-o $opts left $mp mounted"
    _kfs_check_valgrind
    _kfs_check_tsan
    [ "$kfs_status" -eq "$want" ] ||
        fail "-o $opts: the daemon exited with status $kfs_status, expected $want: $(cat "$kfs_log")"
    grep -q -E -- "$re" "$kfs_log" ||
        fail "-o $opts: the daemon does not say why it refused ('$re'): $(cat "$kfs_log")"
    [ ! -s "${kfs_log%.log}.out" ] ||
        fail "-o $opts: the refused daemon wrote on stdout: $(cat "${kfs_log%.log}.out")"
    kfs_expect+=("$re")
    _kfs_check_log "$kfs_log"
    kfs_expect=("${held_expect[@]}")
    refused_log=$kfs_log
    kfs_swap
}

# kfs_swap: puts the daemon kfs_umount, log_mark and the like act on
# aside, and takes back the one put aside before (none at first): a second
# daemon at the same time, started and stopped as the first.
#   kfs_swap; kfs_mount "" "$tmp/mnt2"; ...; kfs_umount; kfs_swap
kfs_other_pid= kfs_other_log= kfs_other_mp= kfs_other_vg= kfs_other_mark=0
kfs_swap()
{
    local pid=$kfs_pid log=$kfs_log mp=${kfs_mp:-} vg=${kfs_vg:-} mark=${kfs_log_mark:-0}
    kfs_pid=$kfs_other_pid kfs_log=$kfs_other_log kfs_mp=$kfs_other_mp
    kfs_vg=$kfs_other_vg kfs_log_mark=$kfs_other_mark
    kfs_other_pid=$pid kfs_other_log=$log kfs_other_mp=$mp
    kfs_other_vg=$vg kfs_other_mark=$mark
}

# Collects the daemon's exit status into $kfs_status and forgets it.
_kfs_reap()
{
    kfs_status=0
    wait "$kfs_pid" || kfs_status=$?
    rm -f "${kfs_log%.log}.pid"
    kfs_pid=
}

# expect_log ERE: daemon warning/error lines matching ERE are expected
# (for the rest of the test); any other is a failure at unmount.
expect_log()
{
    kfs_expect+=("$1")
}

# _kfs_check_log LOG: every line is info/debug, expected with expect_log,
# or a line taken by expect_logged.
_kfs_check_log()
{
    local log=$1 bad re
    local -a args=()
    bad=$(grep -v -E '^kinesisfs: (info|debug): ' "$log" || true)
    if [ -n "$bad" ] && [ -s "$tmp/expected.lines" ]; then
        bad=$(printf '%s\n' "$bad" | grep -v -x -F -f "$tmp/expected.lines" || true)
    fi
    if [ -n "$bad" ] && [ ${#kfs_expect[@]} -gt 0 ]; then
        for re in "${kfs_expect[@]}"; do
            args+=(-e "$re")
        done
        bad=$(printf '%s\n' "$bad" | grep -v -E "${args[@]}" || true)
    fi
    if [ -n "$bad" ]; then
        fail "unexpected output from the daemon on stderr:
$bad"
    fi
}

# log_mark: remembers where the daemon's log ends, for expect_logged.
log_mark()
{
    kfs_log_mark=$(wc -l <"$kfs_log")
}

# The lines logged since log_mark: debug excepted, and info too unless
# $1 is "-i".
_kfs_log_new()
{
    local skip='^kinesisfs: (info|debug): '
    [ "${1:-}" = -i ] && skip='^kinesisfs: debug: '
    tail -n +"$((kfs_log_mark + 1))" "$kfs_log" | grep -v -E "$skip" || true
}

# expect_logged [-i] MIN MAX ERE WHAT: since log_mark the daemon logged
# between MIN and MAX error or warning lines (with -i, info lines count
# too), each matching ERE (the stream, key or name concerned); they are
# expected lines from now on.  SPEC 5: every error is logged once.
# docs/semantics.md: lookups of missing names log at info, the rest at
# error.
expect_logged()
{
    local info=
    if [ "$1" = -i ]; then
        info=-i
        shift
    fi
    local min=$1 max=$2 re=$3 what=$4 i new n
    for ((i = 0; i < 20 * kfs_slow; i++)); do
        n=$(_kfs_log_new $info | grep -c . || true)
        [ "$n" -ge "$min" ] && break
        sleep 0.1
    done
    # Time for a duplicate to show up.
    sleep "0.$((kfs_slow))"
    new=$(_kfs_log_new $info)
    n=$(printf '%s' "$new" | grep -c . || true)
    if [ "$n" -lt "$min" ] || [ "$n" -gt "$max" ]; then
        fail "$what: the daemon logged $n lines, expected $min..$max:
$new"
    fi
    if [ "$n" -gt 0 ]; then
        if grep -v -q -E -- "$re" <<<"$new"; then
            fail "$what: a log line does not mention '$re':
$new"
        fi
        printf '%s\n' "$new" >>"$tmp/expected.lines"
    fi
    log_mark
}

_kfs_check_valgrind()
{
    if [ -n "$kfs_vg" ] && grep -q -E 'ERROR SUMMARY: [1-9]' "$kfs_vg"; then
        cat "$kfs_vg" >&2
        fail "valgrind reported errors in the daemon"
    fi
}

# ThreadSanitizer's reports, of the daemon or of any test tool: each fails
# the test, once.
_kfs_check_tsan()
{
    local f found=
    [ "$KFS_TSAN" = 1 ] || return 0
    for f in "$tmp"/tsan.*; do
        [ -f "$f" ] || continue
        echo "---- ThreadSanitizer: $(basename "$f") ----" >&2
        head -n 200 "$f" >&2
        mv "$f" "$tmp/reported.${f##*/}"
        found=1
    done
    [ -z "$found" ] && return 0
    if [ "${FUNCNAME[1]}" = _kfs_run_cleanup ]; then
        msg "FAIL: ThreadSanitizer reported races or errors"
        [ "$kfs_exit_status" -ne 0 ] || kfs_exit_status=1
        return 0
    fi
    fail "ThreadSanitizer reported races or errors"
}

# kfs_umount: unmounts, waits for the daemon to exit, fails on a nonzero
# exit status, on valgrind errors and on unexpected log lines.
kfs_umount()
{
    local i
    [ -n "$kfs_pid" ] || error "kfs_umount: no daemon running"
    # The kernel sends RELEASE/RELEASEDIR after close(2) has returned, and
    # drops those still queued at unmount: libfuse then never frees the
    # handle of a directory just listed (a definite leak of 120 bytes plus
    # the listing).  A daemon slowed by valgrind or ASan needs a moment, and
    # both check for leaks at exit.
    if [ "$KFS_VALGRIND" = 1 ] || [ "${KFS_ASAN:-}" = 1 ]; then
        sleep 1
    fi
    # Busy right after a close is possible while the kernel releases files.
    for ((i = 0; ; i++)); do
        if fusermount3 -u "$kfs_mp" 2>"$tmp/fusermount.err"; then
            break
        fi
        if [ "$i" -ge 20 ]; then
            cat "$tmp/fusermount.err" >&2
            fail "cannot unmount $kfs_mp"
        fi
        sleep 0.25
    done
    for ((i = 0; i < exit_timeout * 10; i++)); do
        kill -0 "$kfs_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$kfs_pid" 2>/dev/null; then
        kill -KILL "$kfs_pid"
        _kfs_reap
        fail "the daemon did not exit within ${exit_timeout}s of the unmount"
    fi
    _kfs_reap
    _kfs_check_valgrind
    _kfs_check_tsan
    [ "$kfs_status" -eq 0 ] || fail "the daemon exited with status $kfs_status"
    _kfs_check_log "$kfs_log"
}

# kfs_sigterm SECONDS [STATUS]: stops the daemon with SIGTERM, as docker
# stop and systemd do: it must exit with STATUS (default 0; 2 when records
# were failed) within SECONDS (times kfs_slow) with its mount gone
# (docs/semantics.md: queued records are delivered first, -o stop_timeout
# at most).  Sets $kfs_stop_ms to how long it took; checks the log as
# kfs_umount does.
kfs_sigterm()
{
    [ -n "$kfs_pid" ] || error "kfs_sigterm: no daemon running"
    kill -TERM "$kfs_pid"
    kfs_wait_exit "$1" "SIGTERM" "${2:-0}"
}

# kfs_wait_exit SECONDS WHAT [STATUS]: after WHAT (a signal, an unmount
# made by someone else), the daemon must exit with STATUS (default 0)
# within SECONDS (times kfs_slow) with its mount gone.  Sets $kfs_stop_ms;
# checks valgrind and the log.
kfs_wait_exit()
{
    local secs=$(($1 * kfs_slow)) what=$2 want=${3:-0} t0 i
    [ -n "$kfs_pid" ] || error "kfs_wait_exit: no daemon running"
    t0=$(date +%s%N)
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$kfs_pid" 2>/dev/null || break
        sleep 0.1
    done
    kfs_stop_ms=$((($(date +%s%N) - t0) / 1000000))
    if kill -0 "$kfs_pid" 2>/dev/null; then
        kill -KILL "$kfs_pid"
        _kfs_reap
        fail "the daemon did not exit within ${secs}s of $what"
    fi
    _kfs_reap
    _kfs_check_valgrind
    _kfs_check_tsan
    [ "$kfs_status" -eq "$want" ] || fail "the daemon exited with status $kfs_status after $what (expected $want)"
    ! is_mounted "$kfs_mp" || fail "$kfs_mp still mounted after the daemon exited on $what"
    _kfs_check_log "$kfs_log"
}

# kfs_kill9 [--keep-mount]: kills the daemon with SIGKILL and lazily
# unmounts the dead mount (with --keep-mount leaves it, ENOTCONN, for the
# next kfs_mount's daemon to clear).  Its log up to then must still be
# clean.
kfs_kill9()
{
    [ -n "$kfs_pid" ] || error "kfs_kill9: no daemon running"
    kill -KILL "$kfs_pid"
    _kfs_reap
    [ "$kfs_status" -eq 137 ] || fail "the daemon was not killed by SIGKILL (status $kfs_status)"
    if [ "${1:-}" = --keep-mount ]; then
        # As after a kill in a container: the next kfs_mount's daemon
        # must clear the dead mount itself (fs/mountpoint.c).
        expect_probe ENOTCONN stat "$kfs_mp"
        expect_log "^kinesisfs: warning: $kfs_mp: a kinesisfs that ended without unmounting \(killed\) left its mount there: unmounting it\$"
    else
        fusermount3 -uz "$kfs_mp" 2>/dev/null || umount -l "$kfs_mp"
        ! is_mounted "$kfs_mp" || fail "$kfs_mp still mounted after a lazy unmount"
    fi
    _kfs_check_tsan
    _kfs_check_log "$kfs_log"
}

# ---- seeded random choices ----------------------------------------------

# kfs_seed: seeds bash's $RANDOM with $KFS_SEED (a new seed when unset) and
# prints it; rand draws from it, so that KFS_SEED=N replays a run's choices.
kfs_seed()
{
    : "${KFS_SEED:=$((RANDOM * 32768 + RANDOM))}"
    [[ $KFS_SEED =~ ^[0-9]+$ ]] || error "KFS_SEED=$KFS_SEED: expected a number"
    msg "seed $KFS_SEED (KFS_SEED=$KFS_SEED replays it)"
    RANDOM=$KFS_SEED
    kfs_seeded=1
}

# rand N: sets $rand to the next number, 0 to N-1, of the seeded sequence.
# Only the test's own shell draws: bash seeds $RANDOM anew from the clock
# in a subshell, a $(...) or a background job, whose draws would neither
# replay nor advance the sequence (hence a variable, not an output).
rand()
{
    [ -n "${kfs_seeded:-}" ] || error "rand before kfs_seed"
    [ "$BASHPID" = "$$" ] || error "rand in a subshell: its choice would not replay"
    rand=$((RANDOM % $1))
}

# ---- make in the build tree ---------------------------------------------

: "${KFS_BUILDDIR:=$KFS_SRCDIR}"
: "${KFS_MAKE:=make}"

# kfs_make TARGET VAR=VALUE...: make in the build tree (install into a
# scratch prefix, ...), quietly, its output in $tmp/make.log, outside the
# jobserver of the make check that runs the test.
kfs_make()
{
    [ -f "$KFS_BUILDDIR/Makefile" ] || error "no Makefile in KFS_BUILDDIR=$KFS_BUILDDIR"
    # shellcheck disable=SC2086
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        $KFS_MAKE -s -C "$KFS_BUILDDIR" "$@" >>"$tmp/make.log" 2>&1 ||
        { tail -n 30 "$tmp/make.log" >&2; fail "make $* failed"; }
}

# ---- helpers for assertions -------------------------------------------

# expect_probe WANT OP ARGS...: kfs-probe OP ARGS must print WANT, an ERE
# matched against the whole output ("OK", "EXDEV|ENOTSUP", ...).
expect_probe()
{
    local want=$1 got
    shift
    got=$("$probe" "$@")
    if ! grep -q -x -E -- "$want" <<<"$got"; then
        fail "kfs-probe $*: got '$got', expected '$want'"
    fi
}

# assert_once SORTED WHAT: no line of the sorted file SORTED is there more
# than once; else shows up to 5 and fails with "N WHAT more than once".
assert_once()
{
    local dups
    dups=$(uniq -d "$1")
    if [ -n "$dups" ]; then
        head -n 5 <<<"$dups" >&2
        fail "$(grep -c '' <<<"$dups") $2 more than once"
    fi
}

# wait_for SECONDS WHAT CMD...: polls CMD every 0.1s until it succeeds.
wait_for()
{
    local secs=$1 what=$2 i
    shift 2
    for ((i = 0; i < secs * 10 * kfs_slow; i++)); do
        if "$@"; then
            return 0
        fi
        sleep 0.1
    done
    fail "$what (not true after ${secs}s)"
}

# assert_file_eq FILE EXPECTED-FILE WHAT: byte-for-byte equality.
assert_file_eq()
{
    if ! cmp -s "$1" "$2"; then
        echo "--- expected ($2)" >&2
        od -c -N 320 "$2" >&2
        echo "--- got ($1)" >&2
        od -c -N 320 "$1" >&2
        fail "$3: contents differ"
    fi
}

# read_into OUT FILE [SECONDS]: FILE read whole with cat into OUT, within
# SECONDS (60); a reader's error (EIO from a damaged record, a hang) fails
# the test.  Compare OUT (head -n N OUT | cmp ...) rather than piping the
# reader into head: cut short there, it dies of SIGPIPE.
read_into()
{
    local rc=0
    timeout "${3:-60}" cat "$2" >"$1" 2>"$1.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "cat $2: status $rc: $(cat "$1.err")"
    rm -f "$1.err"
}

# assert_reads FILE EXPECTED WHAT: FILE reads back (read_into: the
# reader's status checked) as EXPECTED, trailing newlines aside.
assert_reads()
{
    read_into "$tmp/reads" "$1"
    assert_eq "$(cat "$tmp/reads")" "$2" "$3"
}

# bytes_in FILE: how many bytes reading FILE gives (read_into); in an
# assignment, n=$(bytes_in FILE), whose status set -e checks.
bytes_in()
{
    read_into "$tmp/bytes_in" "$1"
    file_size "$tmp/bytes_in"
}

# assert_bytes FILE N WHAT: reading FILE gives N bytes.
assert_bytes()
{
    local n
    n=$(bytes_in "$1")
    assert_eq "$n" "$2" "$3"
}

# ls_has DIR NAME: ls -a DIR lists NAME; ls failing fails the test (so
# that "! ls_has" cannot pass on an error).
ls_has()
{
    local names
    names=$(ls -a "$1") || fail "ls -a $1 failed"
    grep -q -x -F -- "$2" <<<"$names"
}

# assert_eq GOT EXPECTED WHAT
assert_eq()
{
    if [ "$1" != "$2" ]; then
        fail "$3: got '$1', expected '$2'"
    fi
}

# file_size PATH: st_size.
file_size() { stat -c %s "$1"; }

# flip_byte FILE OFFSET: one byte of FILE changed, with dd.
flip_byte()
{
    local b
    b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
    printf "\\$(printf %03o $((b ^ 0x5a)))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# xattr PATH NAME: the value of user.kinesis.NAME.
xattr()
{
    getfattr --absolute-names --only-values -n "user.kinesis.$2" "$1"
}

# shard_name I: shardId-00000000000I.
shard_name() { printf 'shardId-%012d' "$1"; }

# key_shard KEY NSHARDS: the index of the shard a key lands in: the shard
# whose hash key range holds MD5(KEY) read as a big-endian 128-bit number,
# the ranges being an even split of 0..2^128-1 as CreateStream makes them.
key_shard()
{
    local hex
    hex=$(printf '%s' "$1" | md5sum | cut -c1-32 | tr 'a-f' 'A-F')
    BC_LINE_LENGTH=0 bc <<EOF
h = 0
ibase = 16
h = $hex
ibase = A
q = (2 ^ 128) / $2
i = h / q
if (i > $2 - 1) i = $2 - 1
i
EOF
}


# ---- readers in the background ---------------------------------------------

# Add the pids of readers started in the background to bg_pids: they are
# killed at the end of the test whatever happens, before the unmount.
bg_pids=()
_kfs_kill_bg()
{
    local p
    for p in "${bg_pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    return 0
}

# has_open PID PATH: PID holds PATH open.
has_open()
{
    local f
    for f in /proc/"$1"/fd/*; do
        [ "$(readlink "$f" 2>/dev/null)" = "$2" ] && return 0
    done
    return 1
}

# settle DIR: before an unmount, after readers were killed.  The kernel
# sends an INTERRUPT for the FLUSH of a process killed while it reads, which
# libfuse 3.14 may get after it answered the FLUSH: it then keeps the
# INTERRUPT until the next request comes, and frees it only then (valgrind:
# 128 bytes definitely lost from fuse_session_process_buf at unmount).  A few
# requests that always reach the daemon (getxattr) let it go.
settle()
{
    local i
    sleep "$kfs_slow"
    for ((i = 0; i < 5; i++)); do
        getfattr -n user.kinesis.status "$1" >/dev/null 2>&1 || true
    done
}

# ---- sizes ---------------------------------------------------------------

# size_is FILE N: FILE's st_size is N (for wait_for).
size_is()
{
    [ "$(file_size "$1")" = "$2" ]
}

# assert_size FILE N WHAT: st_size of FILE is N.  On the AWS backend a
# shard's size is what the mount has learned by reading it, which may lag
# by a poll interval (1 s): it has 3 s to get there, and must not pass N.
assert_size()
{
    local got i
    if on_aws; then
        for ((i = 0; i < 30; i++)); do
            got=$(file_size "$1")
            [ "$got" -le "$2" ] || fail "$3: size $got, more than $2"
            [ "$got" = "$2" ] && return 0
            sleep 0.1
        done
        fail "$3: size $got, expected $2 within 3 s"
    fi
    got=$(file_size "$1")
    [ "$got" = "$2" ] || fail "$3: got '$got', expected '$2'"
}

# The AWS backend's helpers (kinesalite, the aws CLI, the proxies).
# shellcheck source=functions-aws.sh
. "$(dirname "${BASH_SOURCE[0]}")/functions-aws.sh"
