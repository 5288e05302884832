#!/usr/bin/env bash
# shellcheck disable=SC2119
# efbig.sh - a record over the limit (data + partition key) fails its write
# with EFBIG and nothing of it is stored; records up to the limit are
# stored, and so are the lines after a refused one.  On both backends; on
# AWS sizes are learned by reading (assert_size), and the part raising
# max_record_size above 1 MiB is for the local engine only: kinesalite
# refuses records over 1 MiB (the service takes up to 10 MiB).
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

kfs_setup
cat_to() { read_into "$tmp/$1" "$2"; }

# line N CHAR: N copies of CHAR and a newline, into the expected file.
expect_line() { head -c "$1" /dev/zero | tr '\0' "$2" >>"$tmp/expected"; echo >>"$tmp/expected"; }

limit=1048576
# A line written in pieces stays one line however slow the daemon
# (valgrind): no timer cuts it (SPEC 3).
kfs_mount linger_ms=10000
s=$mnt/big
mkdir "$s"
sh0=$s/shardId-000000000000
k=$s/k   # key "k": one byte of the limit

echo first >>"$k"
echo first >"$tmp/expected"
size0=6

# A 2 MiB line arrives in several FUSE writes; one of them fails.
log_mark
expect_probe EFBIG write "$k" 2097152
expect_logged 1 1 'big' "a 2 MiB line"
assert_size "$sh0" "$size0" "shard size after a refused 2 MiB line"
cat_to shard "$sh0"
assert_file_eq "$tmp/shard" "$tmp/expected" "the shard after a refused 2 MiB line"

# Exactly the limit: data (with its newline) + key = 1048576.
expect_probe OK write "$k" $((limit - 2))
expect_line $((limit - 2)) a
# Just under.
expect_probe OK write "$k" $((limit - 3))
expect_line $((limit - 3)) a
assert_size "$sh0" "$(file_size "$tmp/expected")" "shard size after the limit tests"

# Through one handle: the refused line, then a line that is stored.
expect_probe 'EFBIG OK close:OK' writes "$k" 2097152 10
expect_logged 1 1 'big' "a 2 MiB line followed by a short one"
expect_line 10 b

# cat(1) of a 2 MiB line reports the error (and stops: the line after it
# in the file is not written); nothing of the line is stored.
{ head -c 2097152 /dev/zero | tr '\0' x; echo; echo after-the-big-one; } >"$tmp/line2m"
if cat "$tmp/line2m" >>"$k" 2>"$tmp/cat.err"; then
    fail "cat of a 2 MiB line succeeded"
fi
grep -q 'File too large' "$tmp/cat.err" || fail "cat did not report EFBIG: $(cat "$tmp/cat.err")"
expect_logged 1 1 'big' "cat of a 2 MiB line"
echo after-the-big-one >>"$k"
echo after-the-big-one >>"$tmp/expected"

# A shard file's partition key is its shard id (20 bytes).
expect_probe OK write "$sh0" $((limit - 21))
expect_line $((limit - 21)) a
expect_probe EFBIG write "$sh0" $((limit - 20))
expect_logged 1 1 'big' "a record to a shard file one byte over the limit"

cat_to shard "$sh0"
assert_file_eq "$tmp/shard" "$tmp/expected" "the shard after all the writes"
cat_to key "$k"
head -n -1 "$tmp/expected" >"$tmp/key.expected"
assert_file_eq "$tmp/key" "$tmp/key.expected" "key file k after all the writes"
kfs_umount

# ---- -o max_record_size ------------------------------------------------
kfs_mount max_record_size=1000,linger_ms=10000
t=$mnt/small
mkdir "$t"
expect_probe OK write "$t/k" 998
expect_probe EFBIG write "$t/k" 999
expect_logged 1 1 'small' "a record over max_record_size=1000"
assert_size "$t/shardId-000000000000" 999 "shard size with max_record_size=1000"
assert_bytes "$t/shardId-000000000000" 999 "bytes in the shard with max_record_size=1000"
kfs_umount

# kinesalite refuses records over 1 MiB: local engine only.
if ! on_aws; then
    kfs_mount max_record_size=4194304,linger_ms=10000
    expect_probe OK write "$t/k" 2097152
    assert_eq "$(file_size "$t/shardId-000000000000")" $((999 + 2097153)) \
        "shard size after a 2 MiB line with max_record_size=4194304"
    cat_to small "$t/k"
    { head -c 998 /dev/zero | tr '\0' a; echo; head -c 2097152 /dev/zero | tr '\0' a; echo; } >"$tmp/small.expected"
    assert_file_eq "$tmp/small" "$tmp/small.expected" "a 2 MiB record read back"
    kfs_umount
fi

# ---- one byte over, in one write(2) ---------------------------------------
# The kernel hands this write over in two pieces (the buffer is not page
# aligned): the first is taken, the second holds the newline and takes
# the line over the limit.  The write(2) returns short, a program writes
# the rest, and that must fail too: nothing of the line may be stored.
kfs_mount linger_ms=10000
size1=$(bytes_in "$sh0")
log_mark
expect_probe EFBIG write "$k" $((limit - 1))
expect_logged 1 1 'big' "a record one byte over the limit"
assert_size "$sh0" "$size1" "shard size after a record one byte over the limit"
assert_bytes "$sh0" "$size1" "bytes in the shard after a record one byte over the limit"
kfs_umount
