#!/bin/bash
# keyfiles.sh - key files as log files (SPEC 3, docs/semantics.md "Key
# files"), every rule through the mount with ordinary tools and syscalls:
#
# - a name exists once created: ENOENT before (stat, cat, O_CREAT|O_EXCL
#   works, mktemp's first try succeeds), listed by ls after the shards;
# - a window: a new name starts empty even when its key has records;
#   size = what cat prints (both framings), mtime = the newest record;
# - truncation moves the start: echo a > k; echo b > k; cat k is b;
# - rename is rotation: the new name holds the old window, read-only; the
#   old name is gone, and once created again shows what old handles wrote
#   after the rename; a reader opened before keeps its window; renames
#   onto records, across streams, of shards are refused; NOREPLACE and
#   EXCHANGE;
# - unlink drops rotated and empty names, never records;
# - chmod/chown as root, refused bits;
# - the stream keeps every record once (the shard file), whatever names did;
# - local engine: names, windows, owners survive a remount and kill -9, and
#   a remount in the other framing gives the sizes of that framing.
. "$(dirname "$0")/functions.sh"

# refused WANT ERE OP ARGS...: kfs-probe OP ARGS gives WANT, and the
# daemon logs one line about it (matching ERE).
refused()
{
    local want=$1 re=$2
    shift 2
    log_mark
    expect_probe "$want" "$@"
    expect_logged 1 1 "$re" "$*"
}

kfs_setup
kfs_mount
s=$mnt/kf
mkdir "$s"
sh0=$s/$(shard_name 0)

# ---- names exist once created ----------------------------------------
expect_probe ENOENT stat "$s/app.log"
expect_probe ENOENT open-read "$s/app.log"
assert_eq "$(ls "$s")" "$(shard_name 0)" "ls of a new stream"
expect_probe OK excl "$s/app.log"
expect_probe EEXIST excl "$s/app.log"
assert_eq "$(file_size "$s/app.log")" 0 "size of a new key file"
tmpname=$(timeout 1 mktemp "$s/x.XXXXXX") || fail "mktemp in a stream"
[ -f "$tmpname" ] || fail "mktemp's file is not there"
rm "$tmpname" || fail "rm of an empty key file"
expect_probe ENOENT stat "$tmpname"
# Records of a key without a name (written through a handle whose empty
# name was removed) are not in a name made later: it starts at the tip.
exec 5>>"$s/z"
rm "$s/z" || fail "rm of an empty key file with a writer"
echo "no name" >&5
exec 5>&-
expect_probe ENOENT stat "$s/z"
touch "$s/z"
assert_size "$s/z" 0 "a new name of a key that has records"
timeout 5 head -n 1 "$s/z@TRIM_HORIZON" >"$tmp/z" || fail "z@TRIM_HORIZON"
assert_eq "$(cat "$tmp/z")" "no name" "the key's record, through its view"
# A key file holding records cannot be removed.
printf 'kept\n' >>"$s/pre"
log_mark
rm "$s/pre" 2>/dev/null && fail "rm of a key file holding records succeeded"
expect_logged 1 1 "pre" "rm of a key file that holds records"
refused EPERM pre unlink "$s/pre"

# ---- windows: sizes, times, truncation --------------------------------
echo a >"$s/k"
echo b >"$s/k"
assert_reads "$s/k" b "echo a > k; echo b > k; cat k"
echo c >>"$s/k"
assert_reads "$s/k" "b
c" "append after a truncation"
assert_size "$s/k" 4 "size of the window"
now=$(date +%s)
mt=$(stat -c %Y "$s/k")
[ $((now - mt)) -le 2 ] && [ $((mt - now)) -le 1 ] ||
    fail "mtime of k is $mt, now is $now"
truncate -s 0 "$s/k"
assert_size "$s/k" 0 "size after truncate -s 0"
assert_bytes "$s/k" 0 "cat after truncate -s 0"
refused EPERM "kf/k" truncate "$s/k" 5
printf 'no newline' >>"$s/k"
assert_size "$s/k" 11 "a record without a newline (line framing adds it)"
# Every record of key k is still in the stream, once: the key's view.
timeout 5 head -n 4 "$s/k@TRIM_HORIZON" >"$tmp/k.all" || fail "k@TRIM_HORIZON"
printf 'a\nb\nc\nno newline\n' >"$tmp/k.expected"
assert_file_eq "$tmp/k.all" "$tmp/k.expected" "key k's records in the stream"

# ---- rename is rotation -------------------------------------------------
for i in 1 2 3; do echo "first $i" >>"$s/app.log"; done
exec 3>>"$s/app.log"          # a writer opened before the rotation
exec 4<"$s/app.log"           # a reader opened before it
mv "$s/app.log" "$s/app.log.1" || fail "mv app.log app.log.1"
expect_probe ENOENT stat "$s/app.log"
assert_reads "$s/app.log.1" "first 1
first 2
first 3" "the rotated name's window"
mode=$(stat -c %A "$s/app.log.1")
[[ $mode != *w* ]] || fail "a rotated name shows w bits: $mode"
refused EACCES app.log.1 open-write "$s/app.log.1"
refused EACCES app.log.1 truncate "$s/app.log.1" 0
echo "after rename, old handle" >&3
exec 3>&-
# The reader opened before the rotation reads its window on to the tip of
# key app.log: it was opened on a live name.
timeout 5 cat <&4 >"$tmp/r4" || fail "read through the handle opened before the rename"
exec 4<&-
grep -q -x "first 3" "$tmp/r4" || fail "the old reader lost its window"
assert_reads "$s/app.log.1" "first 1
first 2
first 3" "the rotated window after a write through an old handle"
echo "new 1" >>"$s/app.log"
assert_reads "$s/app.log" "after rename, old handle
new 1" "the live name after re-creation: written since the rename"
ls "$s" | LC_ALL=C sort >"$tmp/ls"
printf '%s\n' app.log app.log.1 k pre "$(shard_name 0)" z >"$tmp/ls.expected"
assert_file_eq "$tmp/ls" "$tmp/ls.expected" "ls after rotation"
# A second rotation moves the first along, as logrotate does.
mv "$s/app.log.1" "$s/app.log.2" || fail "mv app.log.1 app.log.2"
mv "$s/app.log" "$s/app.log.1" || fail "second rotation"
assert_reads "$s/app.log.2" "first 1
first 2
first 3" "the oldest window, moved"
assert_reads "$s/app.log.1" "after rename, old handle
new 1" "the second window"
# Refusals: onto records, across streams, shards; NOREPLACE, EXCHANGE.
refused EPERM app.log.1 rename "$s/app.log.1" "$s/k"
expect_probe EEXIST rename2 "$s/app.log.2" "$s/app.log.1" noreplace
refused EINVAL app.log.2 rename2 "$s/app.log.2" "$s/app.log.1" exchange
mkdir "$mnt/other"
refused EXDEV "kf/k" rename "$s/k" "$mnt/other/k"
refused EPERM "$(shard_name 0)" rename "$sh0" "$s/x"
refused EPERM "kf/k" rename "$s/k" "$sh0"
# Onto a rotated name: replaced (the name only).
mv "$s/app.log.1" "$s/app.log.2" || fail "mv onto a rotated name"
assert_reads "$s/app.log.2" "after rename, old handle
new 1" "a rotated name replaced by a rename"
rm "$s/app.log.2" || fail "rm of a rotated name"
expect_probe ENOENT stat "$s/app.log.2"

# ---- owner and mode ------------------------------------------------------
echo x >>"$s/owned"
chmod 600 "$s/owned" || fail "chmod of a key file"
assert_eq "$(stat -c %a "$s/owned")" 600 "mode after chmod"
chown 65534:65534 "$s/owned" || fail "chown of a key file by root"
assert_eq "$(stat -c %u:%g "$s/owned")" 65534:65534 "owner after chown"
refused EPERM owned chmod "$s/owned" 4755
refused EPERM "$(shard_name 0)" chmod "$sh0" 600

# ---- the stream holds every record once ----------------------------------
read_into "$tmp/shard" "$sh0"
sort "$tmp/shard" >"$tmp/shard.sorted"
assert_once "$tmp/shard.sorted" "records in the shard"
for line in a b c "first 1" "first 3" "after rename, old handle" "new 1" \
    "no name" kept x; do
    grep -q -x -F "$line" "$tmp/shard" || fail "the shard lost '$line'"
done

# ---- local engine: names survive remount and kill -9 --------------------
if [ "$KFS_BACKEND" = local ]; then
    snapshot() {
        (cd "$s" && for f in $(ls | grep -v '^shardId-'); do
            printf '%s %s %s %s %s\n' "$f" "$(stat -c '%s %a %u' "$f")" \
                "$(stat -c %Y "$f")" "$(cat "$f" | md5sum | cut -c1-8)"
        done)
    }
    snapshot >"$tmp/before"
    kfs_umount
    kfs_mount
    snapshot >"$tmp/after"
    assert_file_eq "$tmp/after" "$tmp/before" "names after a remount"
    echo "before kill" >>"$s/k"
    mv "$s/k" "$s/k.1"
    snapshot >"$tmp/before9"
    kfs_kill9
    kfs_mount
    snapshot >"$tmp/after9"
    assert_file_eq "$tmp/after9" "$tmp/before9" "names after kill -9"
    kfs_umount
    # The other framing: sizes are what cat prints there.
    kfs_mount record=write
    assert_eq "$(file_size "$s/k.1")" "$(bytes_in "$s/k.1")" "size with record=write"
    assert_eq "$(file_size "$s/pre")" "$(bytes_in "$s/pre")" "size of pre with record=write"
fi
kfs_umount
