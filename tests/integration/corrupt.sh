#!/usr/bin/env bash
# corrupt.sh - damage made on purpose to data_dir while the daemon is
# stopped, with ordinary tools (truncate, dd, printf), then a mount: each
# damage is repaired (a torn or altered tail cut back to the last valid
# record, logged) or reported (one log line; EIO to a reader that reaches
# the lost record; a damaged metadata file leaves its stream unserved),
# never served as records.  Records before the damage read back exactly,
# writes work after it and sequence numbers go on growing.  Local engine
# only (docs/local-engine.md, "Crash recovery").  The logs are in segment
# format 1 (log_format=1), whose records this test finds by their sizes,
# as data_dirs made by kinesisfs 0.1.0 hold them; corrupt-frames.sh does
# the same for format 2.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
on_aws && error "corrupt.sh damages the local engine's files"
requires jq --version
requires truncate --version
requires dd --version

kfs_setup
view_ms=$((15000 * kfs_slow))

# Every line is 500 bytes with its newline, so each record is 527 bytes in
# the .log (8 of frame, 18 of header, key "k", the line) after its 16-byte
# header: record i starts at rec_off i.  300 records (158 KiB) put the
# first ones out of the last 64 KiB, which opening does not check again.
nrec=300
rec_len=527
rec_off() { echo $((16 + $1 * rec_len)); }
cases="trunc fliplast fliptail flipmid zeros streammeta shardmeta"

make_lines()
{
    awk -v s="$1" -v n="$nrec" 'BEGIN { for (i = 0; i < n; i++) {
        l = sprintf("%s %03d ", s, i); while (length(l) < 499) l = l "x"; print l } }'
}

# seqs STREAM OUT: "SEQUENCENUMBER LINE" of each record, from the .jsonl
# view of shard 0 (it follows: read until N lines came).
seqs()
{
    local n=$3
    "$probe" read-for "$mnt/$1/$(shard_name 0)@TRIM_HORIZON.jsonl" "$view_ms" "${n}l" \
        >"$tmp/$2.jsonl" 2>/dev/null
    jq -r '"\(.SequenceNumber) \(.Data | rtrimstr("\n"))"' "$tmp/$2.jsonl" >"$tmp/$2"
    assert_eq "$(grep -c '' "$tmp/$2")" "$n" "records of $1 in its .jsonl view"
}

# cat's writes end mid-line: the half line waits for its newline, never
# for a timer (SPEC 3), however slow the daemon (valgrind).
kfs_mount shards=1,linger_ms=10000,log_format=1
for c in $cases; do
    mkdir "$mnt/$c"
    make_lines "$c" >"$tmp/lines.$c"
    cat "$tmp/lines.$c" >>"$mnt/$c/k"
    seqs "$c" "seqs.$c" "$nrec"
done
kfs_umount

# ---- the damage ----------------------------------------------------------
seg() { echo "$data/streams/$1/$(shard_name 0)/0000000000000000.log"; }
size=$(file_size "$(seg trunc)")
assert_eq "$size" "$(rec_off "$nrec")" "the size of a segment of $nrec records"
# Cut in the middle of the last record.
truncate -s $((size - 100)) "$(seg trunc)"
# A byte of the last record's data.
flip_byte "$(seg fliplast)" $(($(rec_off 299) + 300))
# A byte of record 290: synced, in the last 64 KiB that opening checks.
flip_byte "$(seg fliptail)" $(($(rec_off 290) + 300))
# A byte of record 100, long before the checked tail.
flip_byte "$(seg flipmid)" $(($(rec_off 100) + 300))
# 4 KiB of zeros over records 60 to 68.
dd if=/dev/zero of="$(seg zeros)" bs=1024 seek=32 count=4 conv=notrunc 2>/dev/null
zero_first=$(((32 * 1024 - 16) / rec_len))
# Metadata cut short: stream.meta by its last newline (was the last value
# whole?), shard.meta in the middle of its last value.
f=$data/streams/streammeta/stream.meta
truncate -s $(($(file_size "$f") - 1)) "$f"
f=$data/streams/shardmeta/$(shard_name 0)/shard.meta
truncate -s $(($(file_size "$f") - 2)) "$f"

# ---- what the mount makes of it ------------------------------------------
kfs_mount shards=1,log_format=1
# At start-up, one line each: the tails cut, the record kept out, the
# metadata.
expect_logged 5 5 'trunc|fliplast|fliptail|streammeta|shardmeta' "start-up after the damage"
grep -q -E 'streams/fliptail/.*0000000000000000\.log: record 290 at offset '"$(rec_off 290)"' is corrupt' \
    "$tmp/expected.lines" || fail "fliptail: no log line for record 290"
for c in trunc fliplast; do
    grep -q -E "streams/$c/.*0000000000000000\\.log: torn or corrupt tail cut at offset $(rec_off 299) " \
        "$tmp/expected.lines" || fail "$c: no log line for the tail cut at record 299"
done
grep -q -E 'streams/streammeta/stream\.meta: cut short or altered' "$tmp/expected.lines" ||
    fail "no log line for stream.meta"
grep -q -E 'streams/shardmeta/shardId-000000000000/shard\.meta: cut short or altered' \
    "$tmp/expected.lines" || fail "no log line for shard.meta"

# A tail cut: the records before it, exactly; then writes, numbered after.
# check_after_write STREAM SURVIVORS: a line appended now is read back
# last, with a sequence number past every earlier one.
check_after_write()
{
    local c=$1 n=$2
    echo "$c after the damage" >>"$mnt/$c/k"
    seqs "$c" "after.$c" $((n + 1))
    head -n "$n" "$tmp/after.$c" | cmp -s - <(head -n "$n" "$tmp/seqs.$c") ||
        fail "$c: the records before the damage changed, or their numbers"
    assert_eq "$(tail -n 1 "$tmp/after.$c" | cut -d' ' -f2-)" "$c after the damage" "$c: the last line"
    # 56 digits each: compared as strings.
    [[ "$(tail -n 1 "$tmp/after.$c" | cut -d' ' -f1)" > "$(sed -n "${n}p" "$tmp/after.$c" | cut -d' ' -f1)" ]] ||
        fail "$c: the sequence number after the damage is not past the earlier ones"
}
for c in trunc fliplast; do
    read_into "$tmp/got.$c" "$mnt/$c/$(shard_name 0)"
    head -n 299 "$tmp/lines.$c" | cmp -s - "$tmp/got.$c" ||
        fail "$c: not exactly the 299 records before the damage"
    check_after_write "$c" 299
done

# Synced records in the checked tail: only the altered one is lost; those
# after it stay.  A reader gets EIO there, after the records before it.
# read_to_eio STREAM FIRST_BAD: cat fails with EIO after the lines before
# FIRST_BAD, and logs it once.
read_to_eio()
{
    local c=$1 bad=$2 rc=0
    log_mark
    timeout 60 cat "$mnt/$c/$(shard_name 0)" >"$tmp/got.$c" 2>"$tmp/err.$c" || rc=$?
    [ "$rc" -ne 0 ] || fail "$c: cat read past the damaged record"
    grep -q 'Input/output error' "$tmp/err.$c" || fail "$c: cat failed, but not with EIO: $(cat "$tmp/err.$c")"
    head -n "$bad" "$tmp/lines.$c" | cmp -s - "$tmp/got.$c" ||
        fail "$c: not exactly the $bad records before the damage"
    # The record, once, and the failed read.
    expect_logged 2 2 "$c/.*fails its checksum|read $c/.*Input/output error" "$c: the damaged record"
}
read_to_eio fliptail 290
read_to_eio flipmid 100
read_to_eio zeros "$zero_first"

# The records after the damage are still there: read from the next
# record's sequence number on.
for c in fliptail:291 flipmid:101 zeros:$((zero_first + 9)); do
    i=${c#*:}
    c=${c%:*}
    sq=$(sed -n "$((i + 1))p" "$tmp/seqs.$c" | cut -d' ' -f1)
    "$probe" read-for "$mnt/$c/$(shard_name 0)@AT_SEQUENCE_NUMBER=$sq" "$view_ms" "$((nrec - i))l" \
        >"$tmp/rest.$c" 2>/dev/null
    tail -n "$((nrec - i))" "$tmp/lines.$c" | cmp -s - "$tmp/rest.$c" ||
        fail "$c: the records after the damage, from record $i on, are not all there"
    echo "$c after the damage" >>"$mnt/$c/k"
    "$probe" read-for "$mnt/$c/$(shard_name 0)@AFTER_SEQUENCE_NUMBER=$(tail -n 1 "$tmp/seqs.$c" | cut -d' ' -f1).jsonl" \
        "$view_ms" 1l >"$tmp/new.$c" 2>/dev/null
    assert_eq "$(jq -r .Data "$tmp/new.$c")" "$c after the damage" "$c: a line written after the damage"
    [[ "$(jq -r .SequenceNumber "$tmp/new.$c")" > "$(tail -n 1 "$tmp/seqs.$c" | cut -d' ' -f1)" ]] ||
        fail "$c: the sequence number after the damage is not past the earlier ones"
done

# Damaged metadata: the stream is not served (nor taken for a new one),
# and its files are left as they are.
for c in streammeta shardmeta; do
    expect_probe ENOENT stat "$mnt/$c"
    ! ls_has "$mnt" "$c" || fail "$c is listed"
    log_mark
    expect_probe EEXIST mkdir "$mnt/$c"
    expect_logged 1 1 "$c" "mkdir $c"
    [ "$(file_size "$(seg "$c")")" = "$(rec_off "$nrec")" ] || fail "$c: its log was changed"
done
kfs_umount

# A second start repairs nothing more: the cuts are done, the reports
# are the same.
kfs_mount shards=1,log_format=1
expect_logged 3 3 'fliptail|streammeta|shardmeta' "the second start-up"
for c in trunc fliplast; do
    read_into "$tmp/got.$c" "$mnt/$c/$(shard_name 0)"
    [ "$(tail -n 1 "$tmp/got.$c")" = "$c after the damage" ] ||
        fail "$c: the line written after the damage is gone after a remount"
done
kfs_umount
