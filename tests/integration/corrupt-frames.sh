#!/usr/bin/env bash
# corrupt-frames.sh - corrupt.sh for segment format 2 (the default): a
# shard log of frames, each the lines of one write, damaged with
# ordinary tools while the daemon is stopped.  A torn last frame is cut
# whole at the next mount (logged); a frame altered while frames after
# it are whole is reported (one log line at each start, EIO to a reader
# that reaches it) and the frames after it stay readable from their own
# positions.  Records before the damage read back exactly, and writes go
# on after it.  Local engine only (docs/local-engine.md).
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
on_aws && error "corrupt-frames.sh damages the local engine's files"
requires jq --version
requires truncate --version
requires dd --version
requires od --version

kfs_setup
view_ms=$((15000 * kfs_slow))

# Three writes of 100 lines of 500 bytes (50,000 bytes, one write(2)
# each): three frames, whose offsets the .idx gives.
nrec=100
make_lines()
{
    awk -v s="$1" -v n="$nrec" 'BEGIN { for (i = 0; i < n; i++) {
        l = sprintf("%s %03d ", s, i); while (length(l) < 499) l = l "x"; print l } }'
}
seg() { echo "$data/streams/$1/$(shard_name 0)/0000000000000000.$2"; }
# frame_off STREAM K: where frame K starts in the .log (the first u64 of
# index entry K: 56-byte entries after a 64-byte header).
frame_off() { od -An -tu8 -j $((64 + $2 * 56)) -N 8 "$(seg "$1" idx)" | tr -d ' '; }

kfs_mount shards=1,linger_ms=10000
for c in trunc flip; do
    mkdir "$mnt/$c"
    for part in 0 1 2; do
        make_lines "$c$part" >"$tmp/lines.$c.$part"
        cat "$tmp/lines.$c.$part" >>"$mnt/$c/k"
    done
    cat "$tmp/lines.$c".{0,1,2} >"$tmp/lines.$c"
done
# The sequence number of the first record of the third frame.
"$probe" read-for "$mnt/flip/$(shard_name 0)@TRIM_HORIZON.jsonl" "$view_ms" "$((3 * nrec))l" \
    >"$tmp/flip.jsonl" 2>/dev/null
assert_eq "$(grep -c '' "$tmp/flip.jsonl")" "$((3 * nrec))" "records of flip in its .jsonl view"
seq3=$(sed -n "$((2 * nrec + 1))p" "$tmp/flip.jsonl" | jq -r .SequenceNumber)
kfs_umount

for c in trunc flip; do
    [ "$(head -c 8 "$(seg "$c" log)")" = KFSLOG2 ] || fail "$c: not a format 2 segment"
    assert_eq "$(file_size "$(seg "$c" idx)")" $((64 + 3 * 56)) "$c: one index entry per write"
done
# Cut in the middle of the third frame; a byte of the second frame's
# data (past its 36-byte header, its key "k" and its table of 100
# lengths).
off2=$(frame_off trunc 2)
truncate -s $((off2 + 1000)) "$(seg trunc log)"
off1=$(frame_off flip 1)
flip_byte "$(seg flip log)" $((off1 + 36 + 1 + 400 + 2000))

kfs_mount shards=1
expect_logged 2 2 'trunc|flip' "start-up after the damage"
grep -q -E "streams/trunc/.*0000000000000000\\.log: torn or corrupt tail cut at offset $off2 " \
    "$tmp/expected.lines" || fail "trunc: no log line for the frame cut"
grep -q -E "streams/flip/.*0000000000000000\\.log: records $nrec to $((2 * nrec - 1)) at offset $off1 are corrupt" \
    "$tmp/expected.lines" || fail "flip: no log line for the damaged frame"

# The torn frame is gone whole, the two before it are there exactly, and
# writes go on.
read_into "$tmp/got.trunc" "$mnt/trunc/$(shard_name 0)"
head -n $((2 * nrec)) "$tmp/lines.trunc" | cmp -s - "$tmp/got.trunc" ||
    fail "trunc: not exactly the two frames before the cut"
echo "trunc after the damage" >>"$mnt/trunc/k"
read_into "$tmp/got.trunc" "$mnt/trunc/$(shard_name 0)"
assert_eq "$(grep -c '' "$tmp/got.trunc")" $((2 * nrec + 1)) "trunc: lines after a write"
assert_eq "$(tail -n 1 "$tmp/got.trunc")" "trunc after the damage" "trunc: the last line"

# The damaged frame: cat gets EIO after the first frame's lines.
log_mark
rc=0
timeout 60 cat "$mnt/flip/$(shard_name 0)" >"$tmp/got.flip" 2>"$tmp/err.flip" || rc=$?
[ "$rc" -ne 0 ] || fail "flip: cat read past the damaged frame"
grep -q 'Input/output error' "$tmp/err.flip" || fail "flip: cat failed, but not with EIO: $(cat "$tmp/err.flip")"
cmp -s "$tmp/lines.flip.0" "$tmp/got.flip" || fail "flip: not exactly the first frame's lines"
expect_logged 2 2 "flip/.*fails its checksum|read flip/.*Input/output error" "flip: the damaged frame"
# The third frame, from its own sequence number.
"$probe" read-for "$mnt/flip/$(shard_name 0)@AT_SEQUENCE_NUMBER=$seq3" "$view_ms" "${nrec}l" \
    >"$tmp/rest.flip" 2>/dev/null
cmp -s "$tmp/lines.flip.2" "$tmp/rest.flip" || fail "flip: the frame after the damage is not all there"
kfs_umount

# A second start cuts nothing more and reports the damaged frame again.
kfs_mount shards=1
expect_logged 1 1 'flip' "the second start-up"
read_into "$tmp/got.trunc" "$mnt/trunc/$(shard_name 0)"
[ "$(tail -n 1 "$tmp/got.trunc")" = "trunc after the damage" ] ||
    fail "trunc: the line written after the damage is gone after a remount"
kfs_umount
