#!/usr/bin/env bash
# podman.sh - the image, built and run by a real container runtime, as
# docs/containers.md shows it (podman from Debian, with runc).
#
# No registry is reachable: the base images debian:12 and debian:12-slim
# are made with debootstrap --variant=minbase and podman import, in a
# podman store of the tests' own (not the machine's), kept between runs in
# $KFS_CONTAINER_CACHE (default /var/cache/kinesisfs-tests).  Then:
#
#   - podman build of the Dockerfile; the image's size is printed;
#   - the seed scenario inside the container (mkdir, getfattr, echo >>,
#     cat), the daemon running as the image's user, not root;
#   - the mount shared through a shared host directory bound rshared:
#     the host and an rslave consumer started before it see it, and its
#     end; a consumer with the default propagation started before sees
#     the empty directory, one started after sees the mount but not its
#     end; rshared on a directory that is not shared propagates nothing;
#   - podman stop with a writer in another container: every line the
#     writer wrote is stored once, in order, and the stop ends well
#     within the bound; on the AWS backend too (kinesalite on loopback,
#     --network host), and with the endpoint hung (the writer's close
#     gets EIO, exit status 2, within stop_timeout and a few seconds);
#   - podman kill, then podman run again on the same host directory:
#     kinesisfs clears its dead mount itself; the mount point bound
#     directly, podman itself refuses it (what the docs tell the host);
#   - a second container on the data volume is refused, naming the pid
#     and the namespace of the first;
#   - with Docker, the Compose file of docs/containers.md, with Debian's
#     docker-compose: up, the app's lines in the stream, stop, down;
#   - with podman, a bridge network with a loopback endpoint fails at
#     mount, naming the endpoint and the reason.
. "$(dirname "$0")/functions.sh"

# The runtime: podman, or docker (docker.sh).
runtime=${KFS_RUNTIME:-podman}
testname=$runtime
for t in "$runtime" debootstrap runc; do
    [ "$t" = docker ] && t=dockerd
    if ! command -v "$t" >/dev/null; then
        echo "$testname: SKIP: $t is missing (./quickstart test installs it)"
        exit 77
    fi
done
requires jq --version
requires node --version
[ -f "$KFS_AWS_NODE_MODULES/kinesalite/package.json" ] ||
    error "kinesalite is not installed in $KFS_AWS_NODE_MODULES (./quickstart test, or npm ci --prefix tests/aws)"

kfs_setup

cache=${KFS_CONTAINER_CACHE:-/var/cache/kinesisfs-tests}
mkdir -p "$cache/$runtime"
label=kfs-test=$$
image=localhost/kinesisfs-test:$$

if [ "$runtime" = podman ]; then
    runroot=/run/kinesisfs-tests-podman
    mkdir -p "$runroot" 2>/dev/null || runroot=$cache/podman/run
    # Limits within the hard ones this process has: podman's defaults (1M
    # open files, 4M processes) need CAP_SYS_RESOURCE, which a container or
    # a sandbox running the tests may lack.
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
    # runc, as Debian's docker.io uses: crun, podman's first choice, does
    # not run on hosts with cgroups v1 and v2 mounted together (hybrid).
    printf '%s\n' '[containers]' \
        "default_ulimits = [\"nofile=$((nofile / 2)):$((nofile / 2))\", \"nproc=4096:4096\"]" \
        '[engine]' 'runtime = "runc"' >"$tmp/containers.conf"
    export CONTAINERS_CONF=$tmp/containers.conf
    # A store of the tests' own, not the machine's.
    pod()
    {
        podman --root "$cache/podman/storage" --runroot "$runroot" \
            --cgroup-manager cgroupfs --events-backend file "$@"
    }
    image_exists() { pod image exists "$1"; }
else
    # A Docker engine of the tests' own (its data in the cache, its socket
    # and state under /run), beside any the machine runs: no bridge of its
    # own, no iptables rules (the bridge case is podman's part).
    # One dockerd on the cache's data at a time: a second test run waits.
    mkdir -p "$cache/docker"
    exec 8>"$cache/docker/run.lock"
    flock -w 600 8 || fail "another test run holds $cache/docker for 10 minutes"
    sock=/run/kinesisfs-tests-docker.$$.sock
    dockerd --data-root "$cache/docker/data" --exec-root "/run/kinesisfs-tests-docker.$$" \
        --pidfile "/run/kinesisfs-tests-docker.$$.pid" -H "unix://$sock" \
        --bridge none --iptables=false --ip6tables=false \
        </dev/null >"$tmp/dockerd.log" 2>&1 &
    dockerd_pid=$!
    cleanup_fn _dockerd_stop
    # Debian's docker client, where another one comes first in PATH.
    dockercli=/usr/bin/docker
    [ -x "$dockercli" ] || dockercli=$(command -v docker)
    pod() { "$dockercli" -H "unix://$sock" "$@"; }
    image_exists() { pod image inspect "$1" >/dev/null 2>&1; }
    dockerd_up()
    {
        pod version >/dev/null 2>&1 && return 0
        kill -0 "$dockerd_pid" 2>/dev/null ||
            fail "dockerd ended: $(tail -n 20 "$tmp/dockerd.log")"
        return 1
    }
    wait_for 60 "dockerd answers on $sock" dockerd_up
fi
_dockerd_stop()
{
    kill -TERM "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    rm -rf "/run/kinesisfs-tests-docker.$$" "$sock" "/run/kinesisfs-tests-docker.$$.pid"
    return 0
}

# Containers, volumes and the image go with the test; the base images stay.
_runtime_cleanup()
{
    local ids
    ids=$(pod ps -a -q --filter "label=$label" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || pod rm -f $ids >/dev/null 2>&1
    ids=$(pod volume ls -q --filter "label=$label" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || pod volume rm -f $ids >/dev/null 2>&1
    pod rmi -f "$image" >/dev/null 2>&1
    pod image prune -f >/dev/null 2>&1
    return 0
}
cleanup_fn _runtime_cleanup

# ---- the base images: debootstrap --variant=minbase, then import -----------

# The Debian mirror apt uses here.
mirror=
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [ -f "$f" ] && [ -z "$mirror" ] || continue
    mirror=$(sed -n -E 's/^URIs: *([^ ]+).*/\1/p; s/^deb +(\[[^]]*\] +)?([^ ]+) +bookworm .*/\2/p' "$f" |
        grep -v security | head -n 1 || true)
done
: "${mirror:=http://deb.debian.org/debian}"

# make_base: $cache/debian-12.tar and debian-12-slim.tar, as Debian makes
# its images (debuerreotype): minbase, without package caches and lists,
# apt told to keep none; -slim also without documentation, manual pages
# and translations, and dpkg told to leave them out.
make_base()
{
    local root=$tmp/base t0
    t0=$(date +%s)
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
        tail -n 20 "$tmp/debootstrap.log" >&2
        fail "debootstrap --variant=minbase bookworm from $mirror failed"
    }
    printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' >"$root/etc/apt/apt.conf.d/docker-clean"
    printf '%s\n' 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    tar -C "$root" --exclude='./var/cache/apt/archives/*.deb' \
        --exclude='./var/lib/apt/lists/*' -cf "$cache/debian-12.tar.new" . ||
        fail "cannot write $cache/debian-12.tar"
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/locale/*' >"$root/etc/dpkg/dpkg.cfg.d/docker"
    find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    tar -C "$root" --exclude='./var/cache/apt/archives/*.deb' \
        --exclude='./var/lib/apt/lists/*' --exclude='./usr/share/man/*' \
        --exclude='./usr/share/info/*' --exclude='./usr/share/locale/*' \
        -cf "$cache/debian-12-slim.tar.new" . || fail "cannot write $cache/debian-12-slim.tar"
    mv "$cache/debian-12.tar.new" "$cache/debian-12.tar"
    mv "$cache/debian-12-slim.tar.new" "$cache/debian-12-slim.tar"
    rm -rf "$root"
    msg "base images made in $(($(date +%s) - t0)) s (kept in $cache)"
}
(
    flock 9
    [ -s "$cache/debian-12.tar" ] && [ -s "$cache/debian-12-slim.tar" ] || make_base
    for tag in 12 12-slim; do
        image_exists "docker.io/library/debian:$tag" ||
            pod import "$cache/debian-$tag.tar" "docker.io/library/debian:$tag" >/dev/null ||
            fail "$runtime import of debian:$tag failed"
    done
) 9>"$cache/base.lock" || exit $?

# ---- the image ------------------------------------------------------------

t0=$(date +%s)
pod build --network host -t "$image" "$KFS_SRCDIR" >"$tmp/build.log" 2>&1 || {
    tail -n 30 "$tmp/build.log" >&2
    fail "$runtime build failed"
}
size=$(pod image inspect --format '{{.Size}}' "$image")
base_size=$(pod image inspect --format '{{.Size}}' docker.io/library/debian:12-slim)
msg "$runtime build: $(($(date +%s) - t0)) s; the image $((size / 1000000)) MB, of which debian:12-slim $((base_size / 1000000)) MB"
[ $(((size - base_size) / 1000000)) -le 60 ] ||
    fail "the image adds $(((size - base_size) / 1000000)) MB to debian:12-slim (docs/containers.md says about 30)"

# A host directory made shared, as docs/containers.md has the host do.
share=$tmp/share
mkdir -p "$share"
mount --bind "$share" "$share" && mount --make-shared "$share" ||
    fail "cannot make $share a shared mount"
cleanup_fn umount -l "$share"
streams=$share/streams

# Containers without a --network of their own: podman's default bridge;
# this test's dockerd has none.
net=()
[ "$runtime" = podman ] || net=(--network none)
has_net() { case " $* " in *" --network "*) return 0 ;; esac; return 1; }

# kfs_run NAME [RUN-OPTIONS...] -- [KINESISFS-OPTIONS...]: the
# recipe of docs/containers.md, detached, on the volume $vol and the
# shared directory $share.
vol=kfs-data-$$
pod volume create --label "$label" "$vol" >/dev/null
kfs_run()
{
    local name=$1 opts=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    has_net "${opts[@]}" || opts+=("${net[@]}")
    pod run -d --name "$name" --label "$label" \
        --device /dev/fuse --cap-add SYS_ADMIN \
        --security-opt apparmor=unconfined --stop-timeout 40 \
        -v "$vol:/var/lib/kinesisfs" \
        -v "$share:/srv/kinesisfs:rshared" \
        -e KINESISFS_MOUNT=/srv/kinesisfs/streams \
        "${opts[@]}" "$image" "$@" >/dev/null ||
        fail "$runtime run $name failed"
}
# consumer NAME PROPAGATION [RUN-OPTIONS...] -- CMD...: another
# container with the shared directory.
consumer()
{
    local name=$1 prop=$2 opts=()
    shift 2
    while [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    shift
    has_net "${opts[@]}" || opts+=("${net[@]}")
    pod run -d --name "$name" --label "$label" \
        -v "$share:/srv/kinesisfs${prop:+:$prop}" "${opts[@]}" \
        docker.io/library/debian:12-slim "$@" >/dev/null ||
        fail "$runtime run $name failed"
}
mounted_in() { pod exec "$1" grep -q " $2 fuse.kinesisfs " /proc/mounts; }
state_of() { pod inspect --format '{{.State.Status}}' "$1"; }
exited() { [ "$(state_of "$1")" = exited ]; }
status_of() { pod inspect --format '{{.State.ExitCode}}' "$1"; }
# check_logs NAME [ERE...]: the container's kinesisfs logged nothing but
# info and debug lines, and lines matching one of the EREs.
check_logs()
{
    local name=$1 bad
    shift
    pod logs "$name" >"$tmp/$name.log" 2>&1
    bad=$(grep -v -E '^kinesisfs: (info|debug): ' "$tmp/$name.log" |
        { if [ $# -gt 0 ]; then grep -v -E "$(IFS='|'; echo "$*")"; else cat; fi; } || true)
    [ -z "$bad" ] || fail "$name logged: $bad"
}
# rt_stop NAME SECONDS: podman stop, timed; $stop_ms.
rt_stop()
{
    local t0
    t0=$(date +%s%N)
    pod stop -t "$2" "$1" >/dev/null || fail "$runtime stop $1 failed"
    stop_ms=$((($(date +%s%N) - t0) / 1000000))
}

# ---- the seed scenario in the container, as a user other than root ---------

mkdir "$streams"
consumer before-slave rslave -- sleep 600
consumer before-private '' -- sleep 600
kfs_run kfs
wait_for 30 "the host sees the container's mount on $streams" is_mounted "$streams"
uid=$(pod exec kfs stat -c %u /proc/1)
[ "$uid" != 0 ] || fail "kinesisfs runs as root in the image"
# seed_in NAME WHAT: the README's seed scenario, and its jq example, run in
# container NAME.
printf '%s\n' '# file: seed' 'user.kinesis.status="ACTIVE"' '' '{"Data":"1"}' 111 >"$tmp/seed.expected"
seed_in()
{
    pod exec "$1" sh -c '
        set -e
        cd /srv/kinesisfs/streams
        mkdir seed
        getfattr -n user.kinesis.status seed
        echo "{\"Data\":\"1\"}" >> seed/111
        cat seed/shardId-000000000000
        head -n 1 seed/@TRIM_HORIZON.jsonl | jq -r .PartitionKey
    ' >"$tmp/$1.seed" 2>&1 || fail "the seed scenario $2 failed: $(cat "$tmp/$1.seed")"
    assert_file_eq "$tmp/$1.seed" "$tmp/seed.expected" "the seed scenario $2"
}
seed_in kfs "in the container"
msg "seed scenario in the container: kinesisfs runs as uid $uid"

# ---- sharing: the host, consumers, propagation ------------------------------

assert_reads "$streams/seed/111" '{"Data":"1"}' "the key file read on the host"
pod exec before-slave cat /srv/kinesisfs/streams/seed/111 >"$tmp/slave.out" ||
    fail "an rslave consumer started before the mount cannot read it"
assert_reads "$tmp/slave.out" '{"Data":"1"}' "the key file read by an rslave consumer"
[ -z "$(pod exec before-private ls -A /srv/kinesisfs/streams)" ] ||
    fail "a consumer with the default propagation started before the mount sees it"
consumer after-private '' -- sleep 600
pod exec after-private cat /srv/kinesisfs/streams/seed/111 >"$tmp/after.out" ||
    fail "a consumer with the default propagation started after the mount cannot read it"
assert_reads "$tmp/after.out" '{"Data":"1"}' "the key file read by a consumer started after the mount"

# rshared on a directory that is not a shared mount: podman accepts it and
# nothing propagates; Docker refuses it.
mkdir -p "$tmp/private/streams"
if [ "$runtime" = podman ]; then
    pod run -d --name kfs-private --label "$label" --device /dev/fuse --cap-add SYS_ADMIN \
        -v "$tmp/private:/srv/kinesisfs:rshared" -e KINESISFS_MOUNT=/srv/kinesisfs/streams \
        "$image" >/dev/null || fail "podman refused rshared on a directory that is not shared"
    wait_for 30 "kinesisfs mounts in the container with rshared on a private directory" \
        mounted_in kfs-private /srv/kinesisfs/streams
    ! is_mounted "$tmp/private/streams" ||
        fail "rshared on a directory that is not shared propagated the mount"
    rt_stop kfs-private 40
else
    pod run --rm --label "$label" "${net[@]}" --device /dev/fuse --cap-add SYS_ADMIN \
        -v "$tmp/private:/srv/kinesisfs:rshared" "$image" >"$tmp/private.log" 2>&1 &&
        fail "docker accepted rshared on a directory that is not shared"
    grep -q -E "path $tmp/private is mounted on /[^ ]* but it is not a shared mount" "$tmp/private.log" ||
        fail "docker's refusal of rshared on a directory that is not shared: $(cat "$tmp/private.log")"
fi

# ---- podman stop with a writer: local engine --------------------------------

pod exec kfs mkdir /srv/kinesisfs/streams/stop
consumer writer rslave -v "$writer:/usr/local/bin/kfs-writer:ro" -- \
    kfs-writer --for 60 /srv/kinesisfs/streams/stop/k W 100000000 50
acked() { pod logs writer 2>/dev/null | grep -q '^ack '; }
wait_for 30 "the writer container's first acknowledgement" acked
sleep 1
rt_stop kfs 40
assert_eq "$(status_of kfs)" 0 "exit status of kinesisfs after $runtime stop with a writer"
[ "$stop_ms" -lt 10000 ] || fail "$runtime stop took $stop_ms ms with a writer on the local engine"
msg "local engine: $runtime stop with a writer took $stop_ms ms"
check_logs kfs
wait_for 10 "the rslave consumer sees the unmount" eval '! mounted_in before-slave /srv/kinesisfs/streams'
# The consumer started after the mount kept a copy of it, which the end
# does not reach: it is dead now (docs/containers.md).
pod exec after-private ls /srv/kinesisfs/streams >/dev/null 2>"$tmp/after.err" &&
    fail "a consumer with the default propagation still reads the mount after kinesisfs stopped"
grep -q 'Transport endpoint is not connected' "$tmp/after.err" ||
    fail "the copy of the mount in a consumer with the default propagation: $(cat "$tmp/after.err")"
wait_for 10 "the writer container ends" exited writer
last=$(pod logs writer 2>/dev/null | awk '$1 == "ack" { n = $4 } END { print n + 0 }')

# The same volume in a new container: every line the writer wrote, once.
pod rm kfs >/dev/null
kfs_run kfs
wait_for 30 "the host sees the new container's mount" is_mounted "$streams"
cp "$streams/stop/k" "$tmp/stop.got"
n=$(wc -l <"$tmp/stop.got")
"$writer" --print W 1 "$n" >"$tmp/stop.expected"
assert_file_eq "$tmp/stop.got" "$tmp/stop.expected" "the writer's lines after $runtime stop (each once, in order)"
[ "$n" -ge "$last" ] || fail "$last lines were acknowledged, $n are stored"
msg "local engine: $n lines stored, $last acknowledged by fsync before the stop"

# ---- the data volume takes one container at a time ---------------------------

pod run --name kfs-second --label "$label" "${net[@]}" --device /dev/fuse --cap-add SYS_ADMIN \
    -v "$vol:/var/lib/kinesisfs" "$image" >"$tmp/second.log" 2>&1 &&
    fail "a second container on the data volume mounted"
grep -q -E "^kinesisfs: error: data_dir /var/lib/kinesisfs is in use by pid 1 of another pid namespace \(pid:\[[0-9]+\], host name [0-9a-f]{12}\)" "$tmp/second.log" ||
    fail "the refusal of a second container does not say whose the pid is: $(cat "$tmp/second.log")"

# ---- podman kill, then run again -----------------------------------------------

pod kill kfs >/dev/null
wait_for 10 "kinesisfs is killed" exited kfs
expect_probe ENOTCONN stat "$streams"
# The mount point itself bound: the runtime checks it, and fails on the
# dead mount before anything of the image runs.
pod run --rm --label "$label" "${net[@]}" -v "$streams:/mnt/kinesis:rshared" "$image" >"$tmp/direct.log" 2>&1 &&
    fail "$runtime started a container on the dead mount point"
if [ "$runtime" = podman ]; then
    refusal='statfs .*: transport endpoint is not connected'
else
    refusal="error while creating mount source path '$streams': mkdir $streams: file exists"
fi
grep -q -E "$refusal" "$tmp/direct.log" ||
    fail "$runtime on the dead mount point: $(cat "$tmp/direct.log")"
# Its parent bound, as docs/containers.md has it: the new kinesisfs clears
# the dead mount, and the host sees the new one.
pod rm kfs >/dev/null
kfs_run kfs
wait_for 30 "the host sees the mount of the container started after the kill" is_mounted "$streams"
wait_for 10 "the new mount answers" test -d "$streams/stop"
check_logs kfs '^kinesisfs: warning: /srv/kinesisfs/streams: a kinesisfs that ended without unmounting \(killed\) left its mount there: unmounting it$'
cmp -s <(head -n "$last" "$streams/stop/k") <(head -n "$last" "$tmp/stop.expected") ||
    fail "the acknowledged lines are not all there after the kill"
rt_stop kfs 40
assert_eq "$(status_of kfs)" 0 "exit status of kinesisfs after the restart and $runtime stop"
msg "restart after $runtime kill: the dead mount cleared by kinesisfs"

# ---- the AWS backend, kinesalite on loopback ------------------------------------

_kfs_aws_env
kinesalite_start
aws_run()
{
    local name=$1
    shift
    pod rm -f "$name" >/dev/null 2>&1
    kfs_run "$name" --network host -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
        -e AWS_EC2_METADATA_DISABLED=true "$@"
}
aws_run kfsa -- -o "backend=aws,region=$kfs_region,endpoint=$kinesalite_url"
wait_for 30 "the host sees the AWS container's mount" is_mounted "$streams"
seed_in kfsa "on AWS in the container"
aws_read_stream tsv seed "$tmp/aws-seed.cli"
assert_eq "$(cat "$tmp/aws-seed.cli")" "$(printf '111\t"{\\"Data\\":\\"1\\"}\\n"')" "the seed record read with the aws CLI"

pod exec kfsa mkdir /srv/kinesisfs/streams/stop
pod rm -f writer >/dev/null
consumer writer rslave -v "$writer:/usr/local/bin/kfs-writer:ro" -- \
    kfs-writer --for 60 /srv/kinesisfs/streams/stop/k W 100000000 50
wait_for 30 "the writer container's first acknowledgement on AWS" acked
sleep 1
rt_stop kfsa 40
assert_eq "$(status_of kfsa)" 0 "exit status of kinesisfs on AWS after $runtime stop with a writer"
[ "$stop_ms" -lt 30000 ] || fail "$runtime stop took $stop_ms ms with a writer on AWS"
msg "AWS: $runtime stop with a writer took $stop_ms ms"
check_logs kfsa
wait_for 10 "the writer container ends" exited writer
last=$(pod logs writer 2>/dev/null | awk '$1 == "ack" { n = $4 } END { print n + 0 }')
aws_read_stream raw stop "$tmp/aws-stop.got"
n=$(wc -l <"$tmp/aws-stop.got")
"$writer" --print W 1 "$n" >"$tmp/aws-stop.expected"
assert_file_eq "$tmp/aws-stop.got" "$tmp/aws-stop.expected" "the writer's lines on AWS after $runtime stop (each once, in order)"
[ "$n" -ge "$last" ] || fail "AWS: $last lines were acknowledged, $n are stored"
msg "AWS: $n lines stored, $last acknowledged by fsync before the stop"

# The endpoint hung under a writer waiting in close: the stop ends within
# stop_timeout and a few seconds, the writer's close gets EIO, status 2.
bound=3
aws_run kfsa -- -o "backend=aws,region=$kfs_region,endpoint=$kinesalite_url,stop_timeout=$bound"
wait_for 30 "the host sees the AWS container's mount" is_mounted "$streams"
echo first >>"$streams/stop/hung"
kl=$(cat "$tmp/helper.kinesalite.pid")
kill -STOP "$kl"
cleanup_fn kill -CONT "$kl"
pod rm -f writer >/dev/null
consumer writer rslave -v "$writer:/usr/local/bin/kfs-writer:ro" -- \
    kfs-writer /srv/kinesisfs/streams/stop/hung W1 5 0
sleep 2
[ "$(state_of writer)" = running ] || fail "the writer ended with the endpoint paused: $(pod logs writer 2>&1)"
rt_stop kfsa 20
kill -CONT "$kl"
assert_eq "$(status_of kfsa)" 2 "exit status of kinesisfs stopped with the endpoint hung"
[ "$stop_ms" -lt $(((bound + 4) * 1000)) ] ||
    fail "$runtime stop took $stop_ms ms with the endpoint hung (stop_timeout=$bound)"
msg "AWS, endpoint hung: $runtime stop took $stop_ms ms (stop_timeout=$bound)"
check_logs kfsa 'error: stream stop(, key hung)?: [0-9]+ record\(s\)( in flight)? not delivered' \
    "stopping: the $bound s to deliver are spent" 'exiting with status 2'
wait_for 10 "the writer container ends" exited writer
pod logs writer 2>&1 | grep -q -x 'kfs-writer: W1: close /srv/kinesisfs/streams/stop/hung: Input/output error' ||
    fail "the writer's close did not give EIO: $(pod logs writer 2>&1)"

# ---- Docker Compose: the file of docs/containers.md ---------------------------------

if [ "$runtime" = docker ]; then
    requires docker-compose --version
    # The file as written, the host's /srv/kinesisfs moved to $share and
    # the build context to the source tree.
    mkdir "$tmp/compose"
    awk '$0 == "<!-- recipe: compose -->" { want = 1; next }
         want && /^```/ { if (inside) exit; inside = 1; next }
         inside { print }' "$KFS_SRCDIR/docs/containers.md" |
        sed -e "s|source: /srv/kinesisfs|source: $share|" \
            -e "s|build: \.|build: $KFS_SRCDIR|" >"$tmp/compose/docker-compose.yml"
    grep -q "source: $share" "$tmp/compose/docker-compose.yml" ||
        fail "no Compose file found in docs/containers.md"
    compose() { DOCKER_HOST=unix://$sock docker-compose -p "kfs$$" -f "$tmp/compose/docker-compose.yml" "$@"; }
    _compose_down() { compose down -v --rmi local -t 1 >/dev/null 2>&1; return 0; }
    cleanup_fn _compose_down
    compose up -d --build >"$tmp/compose.log" 2>&1 ||
        fail "docker-compose up failed: $(tail -n 20 "$tmp/compose.log")"
    wait_for 60 "the host sees the Compose service's mount" is_mounted "$streams"
    mkdir -p "$streams/demo"
    app_lines() { [ "$(cat "$streams/demo/app" 2>/dev/null | wc -l)" -ge 2 ]; }
    wait_for 30 "the Compose app's lines in the stream" app_lines
    t0=$(date +%s%N)
    compose stop >>"$tmp/compose.log" 2>&1 || fail "docker-compose stop failed"
    stop_ms=$((($(date +%s%N) - t0) / 1000000))
    ! is_mounted "$streams" || fail "the mount is still there after docker-compose stop"
    [ "$(pod inspect --format '{{.State.ExitCode}}' "$(compose ps -q kinesisfs)")" = 0 ] ||
        fail "kinesisfs of the Compose file did not exit 0"
    msg "Compose: up, the app's lines in the stream, stop in $stop_ms ms"
    compose down -v --rmi local >>"$tmp/compose.log" 2>&1 || fail "docker-compose down failed"
fi

# ---- a bridge network and the host's loopback: refused at mount ------------------

[ "$runtime" = podman ] || exit 0

pod run --name kfs-bridge --label "$label" --device /dev/fuse --cap-add SYS_ADMIN \
    -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_EC2_METADATA_DISABLED=true \
    "$image" -o "backend=aws,region=$kfs_region,endpoint=$kinesalite_url" \
    >"$tmp/bridge.log" 2>&1 && fail "kinesisfs mounted on a bridge network with a loopback endpoint"
grep -q -E "^kinesisfs: error: cannot use Kinesis at $kinesalite_url/ \(region $kfs_region\): ListStreams: .*(connect|refused)" "$tmp/bridge.log" ||
    fail "the refusal on a bridge network does not name the endpoint and the reason: $(cat "$tmp/bridge.log")"
msg "bridge network with a loopback endpoint: $(grep -m 1 'cannot use Kinesis' "$tmp/bridge.log")"
