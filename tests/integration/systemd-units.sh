#!/usr/bin/env bash
# systemd-units.sh - the example units of docs/systemd/ pass
# `systemd-analyze verify` with nothing to say: the service runs the
# built binary (its ExecStart pointed at it; verify checks it is there),
# the mount and automount units' names match their Where=, and the man
# page they name is found (MANPATH pointed at docs/).  Needs
# systemd-analyze (Debian's systemd, which ./quickstart test installs); it
# runs without systemd as init (a container, a chroot), so a missing or
# failing one is an error, not a skip.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

command -v systemd-analyze >/dev/null 2>&1 ||
    error "systemd-analyze is missing: apt-get install systemd (./quickstart test installs it)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kfs-$testname.XXXXXX")
cleanup_fn rm -rf "$tmp"
# Can it run here at all?  A unit known good.
printf '[Service]\nExecStart=/bin/true\n' >"$tmp/probe.service"
if ! systemd-analyze verify --man=no "$tmp/probe.service" >"$tmp/probe.out" 2>&1; then
    error "systemd-analyze verify fails on a good unit: $(head -n 3 "$tmp/probe.out")"
fi

units=$KFS_SRCDIR/docs/systemd
mkdir -p "$tmp/units" "$tmp/man/man1"
cp "$KFS_SRCDIR/docs/kinesisfs.1" "$tmp/man/man1/"
n=0
for f in "$units"/*.service "$units"/*.mount "$units"/*.automount; do
    [ -f "$f" ] || continue
    sed "s|/usr/local/bin/kinesisfs|$KFS_BIN|g" "$f" >"$tmp/units/${f##*/}"
    n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "expected a service, a mount and an automount unit in docs/systemd, found $n"
grep -q -F "$KFS_BIN" "$tmp/units/"*.service || fail "no service runs /usr/local/bin/kinesisfs"
for f in "$tmp/units"/*; do
    if ! MANPATH=$tmp/man systemd-analyze verify "$f" >"$tmp/verify.out" 2>&1; then
        fail "systemd-analyze verify ${f##*/}: $(cat "$tmp/verify.out")"
    fi
    [ ! -s "$tmp/verify.out" ] || fail "systemd-analyze verify ${f##*/} warned: $(cat "$tmp/verify.out")"
done

# Not vacuous: a service whose binary is missing is refused.
sed -e "s|$KFS_BIN|$tmp/nonexistent|" "$tmp/units/kinesisfs@.service" >"$tmp/bad@.service"
if MANPATH=$tmp/man systemd-analyze verify "$tmp/bad@.service" >"$tmp/verify.out" 2>&1; then
    fail "systemd-analyze verify passed a service whose binary is missing"
fi
