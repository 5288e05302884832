#!/usr/bin/env bash
# install.sh - make install and make uninstall (docs/mounting.md,
# "Installing"):
#   - into a scratch prefix, the helper beside it (make install prefix=P
#     mount_helper_dir=P/sbin): bin/kinesisfs, share/man/man1/kinesisfs.1,
#     sbin/mount.kinesisfs naming P/bin/kinesisfs and the link
#     sbin/mount.fuse.kinesisfs; the installed binary and helper run
#     (--version, helper -fv), man renders the page without a warning;
#   - into a DESTDIR with the configured prefix and helper directory;
#   - make uninstall leaves no file behind in either.
# Needs the build tree (KFS_BUILDDIR) and make.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires man --version
requires groff --version

kfs_setup

# files_under DIR: every file and link under DIR, relative, sorted.
files_under() { (cd "$1" && find . ! -type d | sort); }

# ---- a scratch prefix ------------------------------------------------------
p=$tmp/prefix
kfs_make install prefix="$p" mount_helper_dir="$p/sbin"
files_under "$p" >"$tmp/files"
cat >"$tmp/files.expected" <<LIST
./bin/kinesisfs
./sbin/mount.fuse.kinesisfs
./sbin/mount.kinesisfs
./share/man/man1/kinesisfs.1
LIST
assert_file_eq "$tmp/files" "$tmp/files.expected" "files installed under the prefix"
[ -x "$p/bin/kinesisfs" ] || fail "bin/kinesisfs is not executable"
[ -x "$p/sbin/mount.kinesisfs" ] || fail "sbin/mount.kinesisfs is not executable"
assert_eq "$(readlink "$p/sbin/mount.fuse.kinesisfs")" mount.kinesisfs "the link mount.fuse.kinesisfs"
"$p/bin/kinesisfs" --version >"$tmp/version" || fail "the installed kinesisfs --version failed"
for lib in kinesisfs libfuse libcurl cJSON OpenSSL; do
    grep -q -E "^$lib [0-9]" "$tmp/version" || fail "--version does not show $lib: $(cat "$tmp/version")"
done
grep -q -E "^OpenSSL OpenSSL" "$tmp/version" && fail "--version says OpenSSL twice: $(cat "$tmp/version")"

# The helper runs the installed binary: -f (fake) with -v shows the command.
"$p/sbin/mount.fuse.kinesisfs" /srv/k "$mnt" -fv -o noauto,shards=2 -t fuse.kinesisfs \
    2>"$tmp/helper.out" || fail "mount.fuse.kinesisfs -fv failed: $(cat "$tmp/helper.out")"
assert_reads "$tmp/helper.out" \
    "mount.fuse.kinesisfs: $p/bin/kinesisfs /srv/k $mnt -o noauto,shards=2" "the helper's command"
! is_mounted "$mnt" || fail "the helper mounted with -f (fake)"
# mount(8)'s flags grouped: -r adds ro, -s and -n change nothing.
"$p/sbin/mount.kinesisfs" /srv/k "$mnt" -sfnvr -o shards=2 2>"$tmp/helper.out" ||
    fail "mount.kinesisfs -sfnvr failed: $(cat "$tmp/helper.out")"
assert_reads "$tmp/helper.out" \
    "mount.kinesisfs: $p/bin/kinesisfs /srv/k $mnt -o shards=2,ro" "the helper's command with -sfnvr"
# What it cannot do: one line, status 1.
for bad in "-t ext4" "-N 1" "-o remount,rw" "-x" ""; do
    # shellcheck disable=SC2086
    if "$p/sbin/mount.kinesisfs" /srv/k $bad >"$tmp/helper.out" 2>&1; then
        fail "mount.kinesisfs /srv/k $bad succeeded"
    fi
    assert_eq "$(grep -c . "$tmp/helper.out")" 1 "lines from mount.kinesisfs /srv/k $bad: $(cat "$tmp/helper.out")"
done

# The page: man finds it by section under the prefix and renders it, and
# groff has nothing to say about it.
MANPATH=$p/share/man MANWIDTH=80 man 1 kinesisfs >"$tmp/man.txt" 2>"$tmp/man.err" ||
    fail "man 1 kinesisfs failed: $(cat "$tmp/man.err")"
[ ! -s "$tmp/man.err" ] || fail "man warned: $(cat "$tmp/man.err")"
for section in NAME SYNOPSIS SOURCE OPTIONS LAYOUT WRITING READING ERRORS \
    'MOUNT HELPER' FILES ENVIRONMENT 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
    grep -q -x "$section" "$tmp/man.txt" || fail "the man page has no $section section"
done
groff -man -Tutf8 -ww -z "$p/share/man/man1/kinesisfs.1" 2>"$tmp/groff.err" ||
    fail "groff failed on the page: $(cat "$tmp/groff.err")"
[ ! -s "$tmp/groff.err" ] || fail "groff -ww warned: $(cat "$tmp/groff.err")"
# Every option of --help is in the page.
"$p/bin/kinesisfs" --help | grep -o -E -- '-o [a-z_]+' | sort -u | while read -r _ o; do
    grep -q -E "(^|[^a-z_])$o([^a-z_]|$)" "$tmp/man.txt" || fail "-o $o of --help is not in the man page"
done

kfs_make uninstall prefix="$p" mount_helper_dir="$p/sbin"
files_under "$p" >"$tmp/files"
[ ! -s "$tmp/files" ] || fail "left behind by make uninstall: $(cat "$tmp/files")"

# ---- DESTDIR, the configured directories --------------------------------------
d=$tmp/dest
prefix=$(sed -n 's/^prefix = //p' "$KFS_BUILDDIR/Makefile")
helper_dir=$(sed -n 's/^mount_helper_dir = //p' "$KFS_BUILDDIR/Makefile")
kfs_make install DESTDIR="$d"
[ -x "$d$prefix/bin/kinesisfs" ] || fail "no $prefix/bin/kinesisfs in DESTDIR"
[ -f "$d$prefix/share/man/man1/kinesisfs.1" ] || fail "no man page in DESTDIR"
if [ -n "$helper_dir" ]; then
    [ -x "$d$helper_dir/mount.kinesisfs" ] || fail "no $helper_dir/mount.kinesisfs in DESTDIR"
    [ -L "$d$helper_dir/mount.fuse.kinesisfs" ] || fail "no $helper_dir/mount.fuse.kinesisfs in DESTDIR"
    # The helper names the binary where it will be, not in DESTDIR.
    grep -q -x -F "kinesisfs='$prefix/bin/kinesisfs'" "$d$helper_dir/mount.kinesisfs" ||
        fail "the helper does not name $prefix/bin/kinesisfs: $(grep -n '^kinesisfs=' "$d$helper_dir/mount.kinesisfs")"
fi
kfs_make uninstall DESTDIR="$d"
files_under "$d" >"$tmp/files"
[ ! -s "$tmp/files" ] || fail "left behind by make uninstall DESTDIR: $(cat "$tmp/files")"
