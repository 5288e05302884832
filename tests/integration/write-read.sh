#!/usr/bin/env bash
# shellcheck disable=SC2119
# write-read.sh - what is written comes back: line framing and its tail,
# a line never cut by a timer, write framing, writes to a shard file, keys and their routing,
# O_TRUNC (a key file's window starts at the tip, a shard file keeps
# everything), reads at offsets, two writers on one key.  On both backends (on
# AWS a shard's size is learned by reading: see assert_size).
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires bc --version

kfs_setup

# cat_to NAME PATH: reads PATH (it must end) into $tmp/NAME.
cat_to() { read_into "$tmp/$1" "$2"; }
# content_is FILE TEXT: FILE reads back as TEXT (for wait_for; a failed
# read is a no).
content_is()
{
    local got
    got=$(timeout 30 cat "$1") || return 1
    [ "$got" = "$2" ]
}

# linger_ms=1000: the partial line test waits past it.
kfs_mount shards=4,linger_ms=1000

# ---- record=line: lines, and a tail without newline -----------------------
s=$mnt/wr
mkdir "$s"
sh0=$s/shardId-000000000000
printf 'l1\nl2\nl3\ntail-no-newline' >>"$sh0"
printf 'l1\nl2\nl3\ntail-no-newline\n' >"$tmp/line.expected"
cat_to line "$sh0"
assert_file_eq "$tmp/line" "$tmp/line.expected" "record=line read of lines and a tail"
assert_size "$sh0" "$(file_size "$tmp/line.expected")" "size of shard 0"

# A partial line waits for its newline, fsync or close, however long that
# takes (SPEC 3): linger_ms batches complete records only, and the close of
# a child that inherited the file (sleep, cat) is not its writer's close.
# A line written in two pieces 1.5 s apart, past linger_ms, is one record
# (two records would read back as two lines), and a tail left in an open
# file is not stored while its writer keeps it open, only at its close.
sh1=$s/shardId-000000000001
mkfifo "$tmp/go1" "$tmp/go2"
(
    printf 'step 1: working... '
    sleep 0.1 # a child that inherits the file and closes it at its exit
    read -r _ <"$tmp/go1"
    printf 'done\n'
    printf 'left open'
    read -r _ <"$tmp/go2"
) >>"$sh1" &
piecewise=$!
sleep 1.5
assert_bytes "$sh1" 0 "a partial line left open past linger_ms"
echo go >"$tmp/go1"
wait_for 5 "the line completed after 1.5 s is stored" \
    content_is "$sh1" 'step 1: working... done'
sleep 1.5
assert_reads "$sh1" 'step 1: working... done' "a tail left open past linger_ms is not stored"
echo go >"$tmp/go2"
wait "$piecewise" || fail "the writer of a line in pieces failed"
cat_to linger "$sh1"
printf 'step 1: working... done\nleft open\n' >"$tmp/linger.expected"
assert_file_eq "$tmp/linger" "$tmp/linger.expected" "a line in two pieces, then a tail sent at close"

# A file written by cat(1) in big chunks, lines straddling the chunks,
# comes back byte for byte.
seq 1 16000 | awk '{ printf "%s %*s\n", $1, $1 % 37, "" }' | tr ' ' '.' >"$tmp/big"
cat "$tmp/big" >>"$s/bigkey"
cat_to big.key "$s/bigkey"
assert_file_eq "$tmp/big.key" "$tmp/big" "a 370 KB file written with cat, read by key"

# ---- writes to a shard file land in that shard -----------------------------
r=$mnt/route
mkdir "$r"
printf 'to two 1\nto two 2\n' >>"$r/shardId-000000000002"
echo 'to two 3' >>"$r/shardId-000000000002"
printf 'to two 1\nto two 2\nto two 3\n' >"$tmp/two.expected"
cat_to two "$r/shardId-000000000002"
assert_file_eq "$tmp/two" "$tmp/two.expected" "shard 2 after writes to its file"
for i in 0 1 3; do
    assert_size "$r/$(shard_name $i)" 0 "size of shard $i"
    cat_to other "$r/$(shard_name $i)"
    [ ! -s "$tmp/other" ] || fail "shard $i got records written to shard 2"
done

# ---- a key's records land in the shard MD5(key) falls in ------------------
for key in alpha beta gamma delta; do
    i=$(key_shard "$key" 4)
    before=$(bytes_in "$r/$(shard_name "$i")")
    echo "key $key" >>"$r/$key"
    grep -q -x "key $key" "$r/$(shard_name "$i")" ||
        fail "key $key did not land in shard $i, where MD5 puts it"
    assert_size "$r/$(shard_name "$i")" "$((before + ${#key} + 5))" \
        "size of shard $i after a line to key $key"
    for j in 0 1 2 3; do
        [ "$j" = "$i" ] && continue
        if grep -q -x "key $key" "$r/$(shard_name "$j")"; then
            fail "key $key found in shard $j, MD5 puts it in shard $i"
        fi
    done
done

# ---- key files: their own records, in order -------------------------------
# Not "keys": kinesalite keeps its streams in an Array used as a map, and
# dies on a stream named after an Array method (keys, map, values, ...).
k=$mnt/keyed
mkdir "$k"
# Two keys in one shard, so that reading a key has something to skip.
ka=ka
kb=
for c in kb0 kb1 kb2 kb3 kb4 kb5 kb6 kb7 kb8 kb9 kb10 kb11 kb12 kb13 kb14 kb15; do
    if [ "$(key_shard "$c" 4)" = "$(key_shard "$ka" 4)" ]; then
        kb=$c
        break
    fi
done
[ -n "$kb" ] || error "no test key shares a shard with $ka"
for i in $(seq 1 30); do
    echo "$ka $i" >>"$k/$ka"
    echo "$kb $i" >>"$k/$kb"
done
seq 1 30 | sed "s/^/$ka /" >"$tmp/ka.expected"
seq 1 30 | sed "s/^/$kb /" >"$tmp/kb.expected"
cat_to ka "$k/$ka"
assert_file_eq "$tmp/ka" "$tmp/ka.expected" "key file $ka"
cat_to kb "$k/$kb"
assert_file_eq "$tmp/kb" "$tmp/kb.expected" "key file $kb"
for i in $(seq 1 30); do
    echo "$ka $i"
    echo "$kb $i"
done >"$tmp/kab.expected"
cat_to kab "$k/$(shard_name "$(key_shard "$ka" 4)")"
assert_file_eq "$tmp/kab" "$tmp/kab.expected" "the shard holding $ka and $kb"
expect_probe ENOENT open-read "$k/never-written"
expect_probe ENOENT stat "$k/never-written"

# ---- O_TRUNC: a key file's window starts at the tip; a shard's is kept ----
echo one >"$k/kt"
echo two >"$k/kt"
printf 'two\n' >"$tmp/kt.expected"
cat_to kt "$k/kt"
assert_file_eq "$tmp/kt" "$tmp/kt.expected" "key file after two '>' redirections"
timeout 10 head -n 2 "$k/kt@TRIM_HORIZON" >"$tmp/kt.all" || fail "kt@TRIM_HORIZON"
printf 'one\ntwo\n' >"$tmp/kt.all.expected"
assert_file_eq "$tmp/kt.all" "$tmp/kt.all.expected" "key kt keeps both records in the stream"
before=$(bytes_in "$sh0")
echo more >"$sh0"
assert_size "$sh0" "$((before + 5))" "shard size after '>' on the shard file"
assert_bytes "$sh0" "$((before + 5))" "bytes in the shard after '>' on the shard file"
expect_probe OK creat "$k/kt"
cat_to kt "$k/kt"
[ ! -s "$tmp/kt" ] || fail "key file after open(O_CREAT|O_TRUNC) is not empty"
echo three >>"$k/kt"
assert_reads "$k/kt" three "key file written after open(O_CREAT|O_TRUNC)"

# ---- reads at any offset -----------------------------------------------
p=$mnt/pread
mkdir "$p"
ps0=$p/shardId-000000000000
cat "$tmp/big" >>"$ps0"
size=$(file_size "$tmp/big")
assert_size "$ps0" "$size" "size of a shard holding the 370 KB file"
# Whole, in pages of records read ahead (docs/local-engine.md, Reading).
cat_to big.shard "$ps0"
assert_file_eq "$tmp/big.shard" "$tmp/big" "a shard of 16000 records read with cat"
for range in 0:1 1:10 37:100 4095:2 4096:1 65535:7 131071:3 131072:64 \
             200000:33 $((size - 3)):3 $((size - 1)):5 "$size":4 $((size + 100)):2; do
    off=${range%:*}
    len=${range#*:}
    dd if="$ps0" bs=1 skip="$off" count="$len" status=none >"$tmp/got" ||
        fail "dd at offset $off failed"
    dd if="$tmp/big" bs=1 skip="$off" count="$len" status=none >"$tmp/want"
    assert_file_eq "$tmp/got" "$tmp/want" "dd bs=1 skip=$off count=$len"
done
dd if="$ps0" bs=4096 skip=13 count=5 status=none >"$tmp/got"
dd if="$tmp/big" bs=4096 skip=13 count=5 status=none >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "dd bs=4096 skip=13 count=5"
tail -c 1000 "$ps0" >"$tmp/got"
tail -c 1000 "$tmp/big" >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "tail -c 1000"

# ---- two handles on one key never interleave inside a line -----------------
c=$mnt/conc
mkdir "$c"
"$writer" "$c/shared" A 2000 0 3 >"$tmp/A.out" &
wa=$!
"$writer" "$c/shared" B 2000 0 3 >"$tmp/B.out" &
wb=$!
wait "$wa" || fail "writer A failed"
wait "$wb" || fail "writer B failed"
cat_to shared "$c/shared"
{ "$writer" --print A 1 2000; "$writer" --print B 1 2000; } | sort >"$tmp/shared.expected"
sort "$tmp/shared" >"$tmp/shared.sorted"
assert_file_eq "$tmp/shared.sorted" "$tmp/shared.expected" \
    "lines of two concurrent writers on one key (each line in 3 write calls)"
awk '{ if ($2 != ++n[$1]) { print "out of order: " $0; exit 1 } }' "$tmp/shared" ||
    fail "a writer's lines are out of order in the key file"

kfs_umount

# ---- record=write: one record per write(2), raw bytes on read -------------
kfs_mount shards=1,record=write
w=$mnt/raw
mkdir "$w"
expect_probe OK writestr "$w/shardId-000000000000" abc
expect_probe OK writestr "$w/shardId-000000000000" $'de\nf'
expect_probe OK writestr "$w/k" g
printf 'abcde\nfg' >"$tmp/raw.expected"
cat_to raw "$w/shardId-000000000000"
assert_file_eq "$tmp/raw" "$tmp/raw.expected" "record=write read of three writes"
assert_size "$w/shardId-000000000000" 8 "record=write size"
dd if="$w/shardId-000000000000" bs=1 skip=4 count=3 status=none >"$tmp/got"
printf 'e\nf' >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "record=write dd bs=1 skip=4 count=3"
# The records written with record=line read back raw: no added newline.
printf 'l1\nl2\nl3\ntail-no-newline' >"$tmp/line.raw.expected"
cat_to line.raw "$sh0"
head -c "$(file_size "$tmp/line.raw.expected")" "$tmp/line.raw" >"$tmp/line.raw.head"
assert_file_eq "$tmp/line.raw.head" "$tmp/line.raw.expected" \
    "record=write read of records written with record=line"
kfs_umount

# Read with record=line, each record lacking a newline gets one: that
# shows where the records of the record=write mount begin and end.
kfs_mount
printf 'abc\nde\nf\ng\n' >"$tmp/raw.lines.expected"
cat_to raw.lines "$w/shardId-000000000000"
assert_file_eq "$tmp/raw.lines" "$tmp/raw.lines.expected" \
    "record=line read of the record=write records (one per write)"
kfs_umount
