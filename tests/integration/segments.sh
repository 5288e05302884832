#!/bin/bash
# segments.sh - the local engine's segments and retention, through the mount.
#
# With -o segment_bytes=65536 a shard's log rotates every 64 KiB: 12000
# lines (about 600 KB) make about ten segments.  Everything reads back
# across the boundaries: the shard file, the key file, views at the
# sequence numbers of the first record of each segment and of the last
# one before it, and again after a remount.
#
# Retention (docs/local-engine.md, "Retention"): the daemon runs under
# libfaketime with its clock in a file the test rewrites, so that time
# jumps while it runs.  The 12000 lines are written at +0 h, 3000 more at
# +13 h, then the clock goes to +25 h: the first ones are past the 24 hours
# of retention.  A plain cat then starts at the first retained record, the
# shard's size is the retained bytes, the segments that held only expired
# records are gone from data_dir (the one written to stays), and a view
# that was reading when they expired goes on without an error at the first
# retained record, after at most the page it had already fetched.  The
# trim holds after a remount.  Out-of-range segment_bytes fail the mount.
. "$(dirname "$0")/functions.sh"

[ "$KFS_BACKEND" = local ] || error "segments.sh is about the local engine"
requires jq --version
faketime_lib=
for f in /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1; do
    [ -f "$f" ] && faketime_lib=$f && break
done
[ -n "$faketime_lib" ] || error "libfaketime is missing (Debian's faketime; ./quickstart test installs it)"

kfs_setup

# The daemon's clock: the offset in $tmp/clock, read at every call.
echo +0 >"$tmp/clock"
kfs_launcher=(env "LD_PRELOAD=$faketime_lib" "FAKETIME_TIMESTAMP_FILE=$tmp/clock"
    FAKETIME_NO_CACHE=1)
# AddressSanitizer wants its runtime first among the libraries: libfaketime
# preloaded before it is harmless (it only wraps the clock calls).
if [ "${KFS_ASAN:-}" = 1 ]; then
    kfs_launcher+=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
fi
clock_to() { echo "$1" >"$tmp/clock"; }

# Bad sizes are refused with a line saying the range, and no mount.
for bad in 65535 1073741825 64k -1; do
    if "$KFS_BIN" -f -o "data_dir=$data,segment_bytes=$bad" "$mnt" \
        </dev/null >/dev/null 2>"$tmp/bad.err"; then
        fail "segment_bytes=$bad was taken"
    fi
    grep -q -F "segment_bytes=$bad: expected a number from 65536 to 1073741824" "$tmp/bad.err" ||
        fail "segment_bytes=$bad: $(cat "$tmp/bad.err")"
    ! is_mounted "$mnt" || fail "segment_bytes=$bad mounted"
done

opts=segment_bytes=65536
kfs_mount "$opts"
s=$mnt/s
mkdir "$s"
touch "$s/k"
shard=$s/$(shard_name 0)
sdir=$data/streams/s/$(shard_name 0)

na=12000
nb=3000
"$writer" "$s/k" A "$na" 1000 >/dev/null
"$writer" --print A 1 "$na" >"$tmp/a.expected"
cp "$tmp/a.expected" "$tmp/all.expected"
size_a=$(wc -c <"$tmp/a.expected")

# segments: the segments of the shard, by their first counter (hex).
segments() { find "$sdir" -name '*.log' -printf '%f\n' | sed 's/\.log$//' | sort; }
segments >"$tmp/segs.a"
nseg=$(wc -l <"$tmp/segs.a")
[ "$nseg" -ge 8 ] || fail "$size_a bytes in 64 KiB segments made $nseg segments"
while read -r seg; do
    sz=$(stat -c %s "$sdir/$seg.log")
    # A segment is cut before the append that would pass the size (a
    # few KiB of lines at a time from the writer).
    [ "$sz" -le 65536 ] || fail "segment $seg holds $sz bytes, more than 65536"
done < <(head -n -1 "$tmp/segs.a")

# check_all WHAT: the shard file, the key file and a view at the sequence
# numbers around each segment boundary read the right lines.
check_all()
{
    local what=$1 seg c seq want
    cat "$shard" >"$tmp/shard.got"
    assert_file_eq "$tmp/shard.got" "$tmp/all.expected" "$what: cat of the shard"
    assert_size "$shard" "$(wc -c <"$tmp/all.expected")" "$what: size of the shard"
    cat "$s/k" >"$tmp/key.got"
    assert_file_eq "$tmp/key.got" "$tmp/all.expected" "$what: cat of the key file"
    head -n "$na" "$shard@TRIM_HORIZON.jsonl" | jq -r .SequenceNumber >"$tmp/seqs"
    [ "$(wc -l <"$tmp/seqs")" = "$na" ] || fail "$what: $(wc -l <"$tmp/seqs") sequence numbers"
    while read -r seg; do
        c=$((16#$seg))
        [ "$c" -gt 0 ] || continue
        # The last record of the segment before, and the first of this one.
        for n in "$c" $((c + 1)); do
            seq=$(sed -n "${n}p" "$tmp/seqs")
            head -n 3 "$shard@AT_SEQUENCE_NUMBER=$seq" >"$tmp/view.got"
            sed -n "$n,$((n + 2))p" "$tmp/all.expected" >"$tmp/view.expected"
            assert_file_eq "$tmp/view.got" "$tmp/view.expected" \
                "$what: 3 lines at record $n (segment $seg starts at $((c + 1)))"
        done
    done <"$tmp/segs.a"
    # Across every boundary at once, from the second record.
    seq=$(sed -n 2p "$tmp/seqs")
    head -n $((na - 1)) "$shard@AFTER_SEQUENCE_NUMBER=$(head -n 1 "$tmp/seqs")" >"$tmp/view.got"
    head -n "$na" "$tmp/all.expected" | tail -n +2 >"$tmp/view.expected"
    assert_file_eq "$tmp/view.got" "$tmp/view.expected" "$what: a view across every segment"
}

msg "$na lines, $size_a bytes, in $nseg segments"
check_all "written in $nseg segments"
kfs_umount
kfs_mount "$opts"
check_all "after a remount"
segments >"$tmp/segs.remount"
assert_file_eq "$tmp/segs.remount" "$tmp/segs.a" "the segments after a remount"

# A view reads a first block, then records expire under it.
exec 3<"$shard@TRIM_HORIZON"
dd bs=4096 count=1 <&3 >"$tmp/view.first" 2>/dev/null
[ "$(wc -c <"$tmp/view.first")" = 4096 ] || fail "the view's first read gave $(wc -c <"$tmp/view.first") bytes"
tail_size_a=$(stat -c %s "$sdir/$(tail -n 1 "$tmp/segs.a").log")

clock_to +13h
sleep 1
"$writer" "$s/k" B "$nb" 1000 >/dev/null
"$writer" --print B 1 "$nb" >"$tmp/b.expected"
size_b=$(wc -c <"$tmp/b.expected")
cat "$tmp/a.expected" "$tmp/b.expected" >"$tmp/ab.expected"
cat "$shard" >"$tmp/shard.got"
assert_file_eq "$tmp/shard.got" "$tmp/ab.expected" "at +13 h nothing expired"
segments >"$tmp/segs.ab"
du_before=$(du -s -B1 --apparent-size "$sdir" | cut -f1)

clock_to +25h
# Segments holding only records past retention go at the next pass; the
# one A ended in stays if B's first records went into it.
a_tail=$(tail -n 1 "$tmp/segs.a")
if [ "$(stat -c %s "$sdir/$a_tail.log")" -gt "$tail_size_a" ]; then
    head -n -1 "$tmp/segs.a" >"$tmp/segs.gone"
else
    cp "$tmp/segs.a" "$tmp/segs.gone"
fi
comm -23 "$tmp/segs.ab" "$tmp/segs.gone" >"$tmp/segs.kept"
segs_are() { segments | cmp -s - "$1"; }
wait_for 10 "the segments of expired records are removed ($(segments | wc -l) left, $(wc -l <"$tmp/segs.kept") expected)" \
    segs_are "$tmp/segs.kept"
[ ! -e "$sdir/$(head -n 1 "$tmp/segs.a").idx" ] || fail "an expired segment's .idx is left"
du_after=$(du -s -B1 --apparent-size "$sdir" | cut -f1)
[ "$du_after" -lt "$du_before" ] || fail "data_dir holds $du_after bytes after expiry, $du_before before"

cp "$tmp/b.expected" "$tmp/all.expected"
cat "$shard" >"$tmp/shard.got"
assert_file_eq "$tmp/shard.got" "$tmp/b.expected" "cat of the shard after expiry"
assert_size "$shard" "$size_b" "size of the shard after expiry"
cat "$s/k" >"$tmp/key.got"
assert_file_eq "$tmp/key.got" "$tmp/b.expected" "cat of the key file after expiry"
head -n 1 "$shard@TRIM_HORIZON" >"$tmp/view.got"
head -n 1 "$tmp/b.expected" >"$tmp/view.expected"
assert_file_eq "$tmp/view.got" "$tmp/view.expected" "@TRIM_HORIZON after expiry"

# The view goes on: the rest of the page it had fetched (at most one
# get_records call: 10000 records), then the first retained record on.
cat <&3 >"$tmp/view.rest" &
bg_pids+=($!)
view_pid=$!
exec 3<&-
last_b=$(tail -n 1 "$tmp/b.expected")
view_done() { [ "$(tail -n 1 "$tmp/view.rest")" = "$last_b" ]; }
wait_for 10 "the view reads on to the last record" view_done
kill "$view_pid"
wait "$view_pid" 2>/dev/null || true
cat "$tmp/view.first" "$tmp/view.rest" >"$tmp/view.got"
j=$(grep -c '^A ' "$tmp/view.got" || true)
[ "$j" -le 10000 ] || fail "the view served $j expired records, more than one page"
{ head -n "$j" "$tmp/a.expected"; cat "$tmp/b.expected"; } >"$tmp/view.expected"
assert_file_eq "$tmp/view.got" "$tmp/view.expected" \
    "the view across the expiry ($j records of A, then B)"
msg "expiry: $(wc -l <"$tmp/segs.kept") of $(wc -l <"$tmp/segs.ab") segments kept, $du_before -> $du_after bytes; the view gave $j expired records, then the $nb retained"
settle "$s"

kfs_umount
kfs_mount "$opts"
cat "$shard" >"$tmp/shard.got"
assert_file_eq "$tmp/shard.got" "$tmp/b.expected" "cat of the shard after expiry and a remount"
assert_size "$shard" "$size_b" "size of the shard after expiry and a remount"
segs_are "$tmp/segs.kept" || fail "the segments changed at the remount"
kfs_umount
