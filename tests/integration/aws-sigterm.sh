#!/usr/bin/env bash
# aws-sigterm.sh - sigterm.sh on the AWS backend, against kinesalite on
# loopback, the fault proxy delaying every PutRecords; then SIGTERM, and
# a lazy unmount (umount -l), with the endpoint hung.
#
# The hung endpoint: kinesalite paused with SIGSTOP (connections are
# accepted by the kernel and never answered), a writer waiting in close
# for its records, -o stop_timeout=3.  SIGTERM must end the daemon within
# the bound and a few seconds, whatever the request in flight does (its
# own timeout is 60 s): the writer's close gives EIO, the log names the
# stream and the count of records not delivered, the mount is gone and
# the exit status is 2 (docs/semantics.md, "At unmount or SIGTERM").  The
# same after umount -l, which the kernel does not tell the daemon of while
# the writer's file is in use: the daemon sees its mount leave the mount
# table.
export KFS_BACKEND=aws
bash "$(dirname "$0")/sigterm.sh" || exit $?

. "$(dirname "$0")/functions.sh"
kfs_setup

bound=3
kl=$(cat "$tmp/helper.kinesalite.pid")
cleanup_fn kill -CONT "$kl"

# hung HOW: the stop with the endpoint hung and a writer waiting in close;
# HOW is sigterm, or umount-l (a lazy unmount: the kernel tells the daemon
# nothing while the writer's file is in use, so the daemon watches the
# mount table).
hung()
{
    local how=$1 s w
    kfs_mount "stop_timeout=$bound"
    s=$mnt/hung
    mkdir -p "$s"
    echo first >>"$s/k"   # the stream answers before the pause
    kill -STOP "$kl"
    "$writer" "$s/k" W1 5 0 >"$tmp/out.W1" 2>"$tmp/err.W1" &
    w=$!
    bg_pids+=($w)
    # Its close waits for the paused endpoint (the file is gone from its
    # fd table by then: it is the process that is looked at).
    sleep 2
    kill -0 "$w" 2>/dev/null || fail "$how: the writer ended with the endpoint paused: $(cat "$tmp/out.W1" "$tmp/err.W1")"
    ! grep -q '^close ' "$tmp/out.W1" || fail "$how: the writer's close returned with the endpoint paused"

    expect_log 'stream hung: [0-9]+ record\(s\) in flight not delivered before the stop deadline'
    expect_log 'stream hung, key k: [0-9]+ record\(s\) not delivered before unmount'
    expect_log "stopping: the $bound s to deliver are spent"
    expect_log 'exiting with status 2: [0-9]+ record\(s\) were not delivered'
    if [ "$how" = sigterm ]; then
        kfs_sigterm $((bound + 4)) 2
    else
        umount -l "$mnt" || fail "umount -l $mnt failed"
        kfs_wait_exit $((bound + 4)) "umount -l" 2
        grep -q "info: $mnt was unmounted lazily while files were in use" "$kfs_log" ||
            fail "umount-l: the log does not say why the daemon stops"
    fi
    msg "$how: with the endpoint hung the daemon exited $kfs_stop_ms ms after it (bound ${bound} s)"
    kill -CONT "$kl"

    wait "$w" || true
    grep -q -x "kfs-writer: W1: close $s/k: Input/output error" "$tmp/err.W1" ||
        fail "$how: the writer's close did not give EIO: $(cat "$tmp/out.W1" "$tmp/err.W1")"
    grep -q -E "error: stream hung(, key k)?: [0-9]+ record\(s\)( in flight)? not delivered" "$kfs_log" ||
        fail "$how: the log does not say what was lost"
    grep -q -E 'warn.*exiting with status 2' "$kfs_log" ||
        fail "$how: the log does not give the exit status"
}

hung sigterm
hung umount-l
