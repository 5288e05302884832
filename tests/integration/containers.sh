#!/usr/bin/env bash
# containers.sh - the mount in mount namespaces, as containers use it
# (docs/containers.md).  The test runs in a private mount namespace of its
# own (unshare -m --propagation private), as a container runtime starts
# one: there it mounts, writes lines, reads them back and reads the
# stream's attributes, and the namespace it came from sees nothing of the
# mount.  Then the sharing docs/containers.md recommends: a "host"
# directory made a shared mount (Docker's -v /host/dir:/mnt/kinesis:rshared),
# the daemon started in a namespace of its own mounting there, a consumer
# namespace whose bind of the host directory is rslave, started before the
# mount, sees it and reads the records, and one whose bind is rprivate
# sees an empty directory; the unmount reaches them all.  The second mount
# uses the data_dir of the first: the records survive the "container"
# going away.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires unshare --version
requires nsenter --version
requires getfattr --version

if [ -z "${KFS_NS_OUTER:-}" ]; then
    requires_fuse
    # The namespace of the caller, whose view the test checks; every
    # mount of the test dies with the namespace it runs in.
    export KFS_NS_OUTER=$$
    rc=0
    unshare -m --propagation private bash "$0" "$@" || rc=$?
    exit "$rc"
fi

kfs_setup

own_ns=$(readlink /proc/self/ns/mnt)
outer_ns=$(readlink "/proc/$KFS_NS_OUTER/ns/mnt")
[ "$own_ns" != "$outer_ns" ] || fail "the test did not get a mount namespace of its own"

# seen_in PID DIR: DIR is a kinesisfs mount in PID's mount namespace.
seen_in()
{
    awk -v m="$2" '$2 == m && $3 == "fuse.kinesisfs" { found = 1 } END { exit !found }' \
        "/proc/$1/mounts"
}

# ---- a private namespace: the mount is the container's own ----------------

kfs_mount linger_ms=5
mkdir "$mnt/app"
seq 1 200 | sed 's/^/app line /' >"$tmp/lines"
# A program appending to its log, one line a write.
while IFS= read -r l; do printf '%s\n' "$l"; done <"$tmp/lines" >>"$mnt/app/web-1"
cat "$mnt/app/shardId-000000000000" >"$tmp/got"
assert_file_eq "$tmp/got" "$tmp/lines" "lines read back in the namespace"
assert_eq "$(xattr "$mnt/app" status)" ACTIVE "user.kinesis.status of the stream"
getfattr -d "$mnt/app/shardId-000000000000" >"$tmp/attrs" 2>&1
grep -q -x 'user.kinesis.state="OPEN"' "$tmp/attrs" || fail "shard attributes: $(cat "$tmp/attrs")"

seen_in self "$mnt" || fail "the mount is not in the test's namespace"
! seen_in "$KFS_NS_OUTER" "$mnt" || fail "the mount shows in the parent namespace"
# Through the parent's eyes (its root, its mounts) the mount point is the
# empty directory it was.
seen=$(ls -A "/proc/$KFS_NS_OUTER/root$mnt") || fail "ls of $mnt in the parent namespace failed"
[ -z "$seen" ] || fail "the parent namespace sees files in $mnt: $seen"
kfs_umount

# ---- shared propagation: one mount, seen from other namespaces -----------

host=$tmp/host
mkdir "$host" "$tmp/slave" "$tmp/private"
mount --bind "$host" "$host"
mount --make-shared "$host"

# consumer VIEW PROPAGATION: a namespace holding a bind of the host
# directory at VIEW with that propagation, as a container given
# -v HOST:VIEW:PROPAGATION; sets $consumer_pid.
consumer()
{
    rm -f "$tmp/ready"
    # shellcheck disable=SC2016
    unshare -m --propagation unchanged sh -c \
        'mount --rbind "$1" "$2" && mount --make-"$3" "$2" && : >"$4" && exec sleep 600' \
        sh "$host" "$1" "$2" "$tmp/ready" &
    consumer_pid=$!
    bg_pids+=("$consumer_pid")
    wait_for 10 "the $2 consumer is ready" test -e "$tmp/ready"
}
consumer "$tmp/slave" rslave
slave_pid=$consumer_pid
consumer "$tmp/private" rprivate
private_pid=$consumer_pid

# The daemon in a namespace of its own, mounting on its view of the
# shared host directory: the mount propagates here (kfs_mount waits for it
# in this namespace) and to the rslave consumer.
kfs_launcher=(unshare -m --propagation unchanged)
kfs_mount linger_ms=5 "$host"
[ "$(readlink "/proc/$kfs_pid/ns/mnt")" != "$own_ns" ] ||
    fail "the daemon runs in the test's namespace"
wait_for 5 "the mount propagates to the rslave consumer" seen_in "$slave_pid" "$tmp/slave"
! seen_in "$private_pid" "$tmp/private" || fail "the mount propagated to an rprivate bind"
seen=$(nsenter -t "$private_pid" -m ls -A "$tmp/private") ||
    fail "ls of the rprivate consumer's view failed"
[ -z "$seen" ] || fail "the rprivate consumer sees files in its view: $seen"

# The records of the first mount are there (same data_dir), and a line
# written on the host side reads back from the consumer.
nsenter -t "$slave_pid" -m cat "$tmp/slave/app/shardId-000000000000" >"$tmp/got"
assert_file_eq "$tmp/got" "$tmp/lines" "the first mount's records, read by the consumer"
echo 'from the host' >>"$host/app/web-1"
nsenter -t "$slave_pid" -m tail -n 1 "$tmp/slave/app/shardId-000000000000" >"$tmp/got"
assert_reads "$tmp/got" 'from the host' "a line written on the host, read by the consumer"
assert_eq "$(nsenter -t "$slave_pid" -m getfattr --absolute-names --only-values \
    -n user.kinesis.status "$tmp/slave/app")" ACTIVE "the stream's status, from the consumer"

kfs_umount
! seen_in "$slave_pid" "$tmp/slave" || fail "the unmount did not reach the rslave consumer"
umount "$host"
