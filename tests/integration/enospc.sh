#!/usr/bin/env bash
# enospc.sh - a full disk under data_dir (a 2 MiB tmpfs): writers get
# ENOSPC from fsync or close (SPEC 3: they return the error of a record
# not stored), never a silent loss; every line acknowledged before is
# readable; the daemon goes on serving reads, ls and getfattr; and once
# there is room again (the tmpfs grown to 8 MiB) writes succeed, with
# sequence numbers past the earlier ones.  Local engine only.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
on_aws && error "enospc.sh fills the local engine's disk"
requires getfattr --version
requires jq --version

kfs_setup
small=$tmp/small
mkdir "$small"
mount -t tmpfs -o size=2m,mode=0700 tmpfs "$small" || error "cannot mount a tmpfs on $small"
# Lazily if a daemon still holds files there (a failed test).
umount_small() { umount "$small" 2>/dev/null || umount -l "$small" 2>/dev/null; }
cleanup_fn umount_small
data=$small/data

kfs_mount shards=1
s=$mnt/full
mkdir "$s"
sh0=$s/$(shard_name 0)
# Each batch of records refused, logged with its key.
expect_log '^kinesisfs: error: stream full, key k[ABD]: [0-9]+ record\(s\) not stored: storing in shardId-000000000000 failed: No space left on device \(No space left on device\)$'

# Two writers fill the disk, fsync every 20 lines; each must stop with
# ENOSPC from write, fsync or close.
for w in A B; do
    "$writer" "$s/k$w" "$w" 1000000 20 >"$tmp/acks.$w" 2>"$tmp/err.$w" &
    pids+=($!)
done
for p in "${pids[@]}"; do
    if wait "$p"; then
        fail "a writer of 1,000,000 lines (about 60 MB) on a 2 MiB disk succeeded"
    fi
done
for w in A B; do
    grep -q 'No space left on device' "$tmp/err.$w" ||
        fail "writer $w did not stop with ENOSPC: $(cat "$tmp/err.$w")"
    msg "writer $w: $(cat "$tmp/err.$w"); last: $(tail -n 1 "$tmp/acks.$w")"
done

# Every acknowledged line is there, once; nothing that was not written.
read_into "$tmp/got" "$sh0"
: >"$tmp/acked"
for w in A B; do
    while read -r word id first last; do
        "$writer" --print "$id" "$first" "$last" >>"$tmp/acked"
    done <"$tmp/acks.$w"
    max=$(awk -v w="$w" '$1 == w { if ($2 + 0 > m) m = $2 + 0 } END { print m + 0 }' "$tmp/got")
    "$writer" --print "$w" 1 "$max" >>"$tmp/written"
done
[ -s "$tmp/acked" ] || fail "no fsync was acknowledged before the disk was full"
sort "$tmp/got" >"$tmp/got.sorted"
assert_once "$tmp/got.sorted" "lines are there"
[ -z "$(comm -13 "$tmp/got.sorted" <(sort "$tmp/acked"))" ] || fail "acknowledged lines are missing"
[ -z "$(comm -23 "$tmp/got.sorted" <(sort "$tmp/written"))" ] || fail "lines there that were never written"
msg "$(grep -c '' "$tmp/got") lines stored, $(grep -c '' "$tmp/acked") acknowledged"

# Still serving, the disk full: ls, getfattr, reads of views, key files.
ls_has "$s" "$(shard_name 0)" || fail "ls of the stream on a full disk"
assert_eq "$(xattr "$s" status)" ACTIVE "status on a full disk"
assert_size "$sh0" "$(file_size "$tmp/got")" "shard size on a full disk"
read_into "$tmp/kA" "$s/kA"
awk '$1 == "A"' "$tmp/got" >"$tmp/kA.expected"
cmp -s "$tmp/kA" "$tmp/kA.expected" || fail "key file kA on a full disk"
# Its size too (the engine's totals, even where a key posting could not
# be written: key reads then scan, docs/local-engine.md).
assert_size "$s/kA" "$(file_size "$tmp/kA.expected")" "key file kA's size on a full disk"
# And writes still fail with ENOSPC (a failed append is cut back, so a
# few lines may fit in what it gave back).
"$writer" "$s/kD" D 100000 500 >/dev/null 2>"$tmp/err.D" &&
    fail "a writer on the full disk succeeded"
grep -q 'No space left on device' "$tmp/err.D" ||
    fail "a writer on the full disk did not stop with ENOSPC: $(cat "$tmp/err.D")"

# Room again: writes succeed, numbered after the others.
n=$(grep -c '' "$tmp/got")
"$probe" read-for "$sh0@TRIM_HORIZON.jsonl" $((15000 * kfs_slow)) "${n}l" >"$tmp/before.jsonl" 2>/dev/null
last_seq=$(tail -n 1 "$tmp/before.jsonl" | jq -r .SequenceNumber)
mount -o remount,size=8m "$small" || error "cannot grow the tmpfs"
echo "after the room was made" >>"$s/kA" || fail "a write after room was made failed"
"$writer" "$s/kC" C 2000 100 >"$tmp/acks.C" 2>"$tmp/err.C" || fail "a writer after room was made failed: $(cat "$tmp/err.C")"
"$probe" read-for "$sh0@AFTER_SEQUENCE_NUMBER=$last_seq.jsonl" $((15000 * kfs_slow)) 2001l >"$tmp/after.jsonl" 2>/dev/null
assert_eq "$(head -n 1 "$tmp/after.jsonl" | jq -r .Data)" "after the room was made" "the first record once there was room"
assert_eq "$(grep -c '' "$tmp/after.jsonl")" 2001 "records written once there was room"
jq -r .SequenceNumber "$tmp/before.jsonl" "$tmp/after.jsonl" >"$tmp/seqs"
sort -c "$tmp/seqs" || fail "sequence numbers did not grow across the full disk"
[ -z "$(uniq -d "$tmp/seqs")" ] || fail "a sequence number was given twice"
# Read whole, then cut: a cat stopped by EIO after line $n fails here.
read_into "$tmp/now" "$sh0"
head -n "$n" "$tmp/now" | cmp -s - "$tmp/got" ||
    fail "the records from before the full disk changed"
kfs_umount

# And after a remount.
kfs_mount shards=1
# (before.jsonl also holds what writer D got in before the disk was full
# again.)
read_into "$tmp/now" "$sh0"
assert_eq "$(grep -c '' "$tmp/now")" $(($(grep -c '' "$tmp/before.jsonl") + 2001)) \
    "records after a remount"
kfs_umount
