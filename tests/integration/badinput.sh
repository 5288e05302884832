#!/usr/bin/env bash
# shellcheck disable=SC2119
# badinput.sh - every bad input a user or a program can hand the mount
# (docs/semantics.md, "Bad inputs"): calls kinesisfs does not support,
# truncation, writes at an offset, O_DIRECT, empty writes, NUL bytes,
# names that are not UTF-8 or are too long, views that do not exist,
# attribute values out of range, shard counts out of range.  Each gets its
# exact errno (kfs-probe), at most one log line naming what it concerns,
# and the daemon lives on and exits cleanly.  Records over the limit
# (EFBIG) are efbig.sh's.  On both backends.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

kfs_setup

# alive WHAT: the daemon is still running and the mount answers.
alive()
{
    kill -0 "$kfs_pid" 2>/dev/null || fail "the daemon died after $1"
    stat "$mnt" >/dev/null || fail "the mount does not answer after $1"
}

# ---- shard counts out of range: refused at mount time -------------------
for n in 0 1025 -1 x 1e3; do
    kfs_mount_fails "shards=$n" 1 "^kinesisfs: -o shards=$n: expected a number from 1 to 1024\$"
done

kfs_mount
sname=badin
s=$mnt/$sname
mkdir "$s"
sh0=$s/shardId-000000000000
# Every record of the single shard, in order: what cat gives at the end.
: >"$tmp/sh0.expected"
echo first >>"$sh0"
echo first >>"$tmp/sh0.expected"
log_mark

# ---- calls kinesisfs does not support ------------------------------------
# rename of a shard: EPERM (only key files rotate); errors.sh and
# keyfiles.sh have the rest.
expect_probe EPERM rename "$sh0" "$s/moved"
expect_logged 1 1 "$sname" "rename of a shard"

# link, symlink, mknod: EPERM for a new name.  The name of an existing
# key file: the kernel answers EEXIST without asking the daemon.
: >"$s/somekey"
expect_probe EPERM link "$sh0" "$mnt/newstream"
expect_logged 1 1 "newstream" "link into the root"
expect_probe EPERM link "$sh0" "$s/shardId-000000000005"
expect_logged 1 1 "$sname" "link to a missing shard's name"
expect_probe EEXIST link "$sh0" "$s/somekey"
expect_logged 0 0 "-" "link to a key's name"
expect_probe EPERM link "$sh0" "$s/newkey"
expect_logged 1 1 "$sname" "link to a name never created"
expect_probe EPERM symlink target "$mnt/newlink"
expect_logged 1 1 "newlink" "symlink in the root"
expect_probe EPERM symlink target "$s/shardId-000000000005"
expect_logged 1 1 "$sname" "symlink to a missing shard's name"
expect_probe EEXIST symlink target "$s/somekey"
expect_logged 0 0 "-" "symlink to a key's name"
expect_probe EPERM symlink target "$s/newkey"
expect_logged 1 1 "$sname" "symlink to a name never created"
expect_probe EPERM mknod "$mnt/fifo" fifo
expect_logged 1 1 "fifo" "mknod of a FIFO in the root"
expect_probe EPERM mknod "$s/shardId-000000000005" fifo
expect_logged 1 1 "$sname" "mknod of a FIFO at a missing shard's name"
expect_probe EEXIST mknod "$s/somekey" fifo
expect_logged 0 0 "-" "mknod of a FIFO at a key's name"
expect_probe EPERM mknod "$s/newkey" fifo
expect_logged 1 1 "$sname" "mknod of a FIFO at a name never created"
# A regular file is a create (libfuse turns mknod S_IFREG into one): the
# root holds only streams.
expect_probe EPERM mknod "$mnt/regular" reg
expect_logged 1 1 "regular" "mknod of a regular file in the root"
for name in newstream newlink fifo regular; do
    expect_probe ENOENT stat "$mnt/$name"
done
expect_logged 0 0 "-" "stat of the refused names"
assert_eq "$(ls "$mnt")" "$sname" "ls of the root after refused link, symlink, mknod"
printf '%s\n' shardId-000000000000 somekey >"$tmp/ls.expected"
assert_file_eq <(ls "$s" | LC_ALL=C sort) "$tmp/ls.expected" "ls of the stream after refused calls"
alive "link, symlink, mknod"

# chmod, chown: EPERM on everything but key files (keyfiles.sh).
for f in "$sh0" "$s" "$mnt"; do
    expect_probe EPERM chmod "$f" 600
    expect_logged 1 1 "chmod" "chmod of $f"
    expect_probe EPERM chown "$f" 0 0
    expect_logged 1 1 "chown" "chown of $f"
done
assert_eq "$(stat -c %a "$sh0")" 644 "mode of a shard file after a refused chmod"
alive "chmod, chown"

# ---- truncation: to 0 accepted and ignored, to any other size EPERM --------
expect_probe OK truncate "$sh0" 0
expect_probe OK truncate "$s/somekey" 0
expect_probe OK ftruncate "$sh0" 0
expect_logged 0 0 "-" "truncation to 0"
expect_probe EPERM truncate "$sh0" 3
expect_logged 1 1 "$sname.*shardId-000000000000" "truncate of a shard to 3"
expect_probe EPERM truncate "$sh0" 100
expect_logged 1 1 "$sname.*shardId-000000000000" "truncate of a shard past its end"
expect_probe EPERM truncate "$s/somekey" 5
expect_logged 1 1 "$sname.*somekey" "truncate of a key file to 5"
expect_probe EPERM ftruncate "$sh0" 2
expect_logged 1 1 "$sname.*shardId-000000000000" "ftruncate of a shard to 2"
expect_probe EACCES truncate "$sh0@LATEST" 0
expect_logged 1 1 "$sname" "truncate of a view"
# A name holding a newline is logged on one line, escaped: it cannot
# forge a log line.
: >"$s/"$'a\nkinesisfs: error: forged'
expect_probe EPERM truncate "$s/"$'a\nkinesisfs: error: forged' 5
expect_logged 1 1 'a\\x0akinesisfs: error: forged' "truncate of a key holding a newline"
expect_probe EINVAL mkdir "$mnt/"$'x\nkinesisfs: info: forged'
expect_logged 1 1 'x\\x0akinesisfs: info: forged' "mkdir of a name holding a newline"
# O_TRUNC (the shell's >) is a truncation to 0.
echo second >"$sh0"
echo second >>"$tmp/sh0.expected"
assert_size "$sh0" "$(file_size "$tmp/sh0.expected")" "the shard after truncations"
alive "truncations"

# ---- writes at an offset: appended, the offset ignored -------------------
expect_probe OK pwrite "$sh0" 0 $'at-zero\n'
echo at-zero >>"$tmp/sh0.expected"
expect_probe OK pwrite "$sh0" 1000000 $'far-past-the-end\n'
echo far-past-the-end >>"$tmp/sh0.expected"
expect_probe OK pwrite "$s/offkey" 3 $'key-at-three\n'
echo key-at-three >>"$tmp/sh0.expected"
assert_reads "$s/offkey" key-at-three "key file written with pwrite at 3"
expect_logged 0 0 "-" "pwrite at offsets"

# ---- O_DIRECT: an ordinary writer (kinesisfs does no caching) ------------
expect_probe OK direct-write "$s/dkey" $'direct\n'
echo direct >>"$tmp/sh0.expected"
assert_reads "$s/dkey" direct "key file written with O_DIRECT"
expect_logged 0 0 "-" "an O_DIRECT write"

# ---- fallocate: a plain allocation accepted and ignored, holes refused ---
# glibc's posix_fallocate would write a zero byte per block if fallocate
# were not supported: no byte of it may reach the stream.
fallocate -l 100000 "$s/fkey" || fail "fallocate of a key file refused"
fallocate -x -o 0 -l 100000 "$s/fkey" || fail "posix_fallocate of a key file refused"
fallocate -n -l 4096 "$sh0" || fail "fallocate --keep-size of a shard refused"
expect_logged 0 0 "-" "plain allocations"
if fallocate -p -o 0 -l 4096 "$s/fkey" 2>"$tmp/falloc.err"; then
    fail "punching a hole in a key file succeeded"
fi
grep -q -E "not supported|unsupported" "$tmp/falloc.err" || fail "punch hole: $(cat "$tmp/falloc.err")"
expect_logged 1 1 "$sname.*fkey" "punching a hole"
echo after-fallocate >>"$s/fkey"
echo after-fallocate >>"$tmp/sh0.expected"
assert_reads "$s/fkey" after-fallocate "key file after fallocate"
alive "fallocate"

# ---- zero-length writes: no record ---------------------------------------
expect_probe 'OK 0' write0 "$sh0"
expect_probe 'OK 0' write0 "$s/zkey"
expect_logged 0 0 "-" "zero-length writes"
assert_size "$sh0" "$(file_size "$tmp/sh0.expected")" "the shard after zero-length writes"
assert_bytes "$s/zkey" 0 "key file zkey after a zero-length write"

# ---- NUL bytes in data (record=line): stored and read back exactly --------
# Two lines holding NULs and a tail without a newline (its own record at
# close, read back with a newline added).
printf 'a\0b\n\0\0\nc\0' >>"$s/nulkey"
printf 'a\0b\n\0\0\nc\0\n' >"$tmp/nul.expected"
cat "$tmp/nul.expected" >>"$tmp/sh0.expected"
timeout 30 cat "$s/nulkey" >"$tmp/nul.out"
assert_file_eq "$tmp/nul.out" "$tmp/nul.expected" "key file with NUL bytes (record=line)"
expect_logged 0 0 "-" "NUL bytes"

# ---- names that are not UTF-8 ------------------------------------------
# Stream names: outside [a-zA-Z0-9_.-], EINVAL (errors.sh has more).
for name in $'\xff\xfe' $'caf\xc3' $'\xc0\xae\xc0\xae'; do
    expect_probe EINVAL mkdir "$mnt/$name"
    expect_logged 1 1 "stream name" "mkdir of a stream name that is not UTF-8"
done
# Key names: any bytes name a key file once created.  The local engine
# stores any key (jsonl.sh: U+FFFD in JSON lines); on AWS a partition key
# is a Unicode string, so opening such a key file for writing is EINVAL at
# once (the service would refuse the record only at the flush), and the
# name is not created.
n=0
for key in $'k\xff\xfe' $'k\xc3' $'k\xc0\xaf' $'k\xed\xa0\x80'; do
    expect_probe ENOENT stat "$s/$key"
    if on_aws; then
        expect_probe ENOENT open-write "$s/$key"
        expect_logged 0 0 "-" "open for writing, without O_CREAT, of a name never created"
        if echo x 2>/dev/null >>"$s/$key"; then
            fail "echo >> a key that is not UTF-8 succeeded on AWS"
        fi
        expect_logged 1 1 "UTF-8" "echo >> a key that is not UTF-8"
        expect_probe ENOENT stat "$s/$key"
    else
        echo "bad key $n" >>"$s/$key"
        echo "bad key $n" >>"$tmp/sh0.expected"
        assert_reads "$s/$key" "bad key $n" "key file of a key that is not UTF-8"
        expect_logged 0 0 "-" "a key that is not UTF-8 on the local engine"
    fi
    n=$((n + 1))
done
# UTF-8 keys are keys like any other.
echo 'unicode key' >>"$s/ключ-€-𝄞"
echo 'unicode key' >>"$tmp/sh0.expected"
assert_reads "$s/ключ-€-𝄞" 'unicode key' "key file with a UTF-8 name"
expect_logged 0 0 "-" "a UTF-8 key"
alive "names that are not UTF-8"

# ---- names that look like request syntax: stored exactly as named -------
# A key reaches the service only as a JSON string (cJSON escapes it): a
# quote cannot end it, a backslash cannot escape, control bytes and URL
# syntax mean nothing.  Read back through the JSON lines (on AWS, what the
# service stored) and, on AWS, with the aws CLI from kinesalite.
inj_keys=('k"},"StreamName":"other","PartitionKey":"x' 'back\slash\u0000\"' $'tab\there'
          $'ctl\x01\x1f\x7f' '%2F..%2Fx?a=b&c#d' 'Content-Length: 0')
: >"$tmp/inj.expected"
for i in "${!inj_keys[@]}"; do
    echo "inj $i" >>"$s/${inj_keys[$i]}"
    echo "inj $i" >>"$tmp/sh0.expected"
    printf '%s\t"inj %s\\n"\n' "${inj_keys[$i]}" "$i" >>"$tmp/inj.expected"
done
expect_logged 0 0 "-" "keys that look like request syntax"
for i in "${!inj_keys[@]}"; do
    "$probe" read-for "$s/${inj_keys[$i]}@TRIM_HORIZON.jsonl" $((30000 * kfs_slow)) 1l \
        >"$tmp/inj.$i.jsonl" 2>/dev/null
    assert_eq "$(jq -r .Data "$tmp/inj.$i.jsonl")" "inj $i" "the record of key view $i"
    got=$(jq -j '.PartitionKey' "$tmp/inj.$i.jsonl")
    assert_eq "$got" "${inj_keys[$i]}" "the partition key of record 'inj $i' in its JSON line"
done
if on_aws; then
    aws_read_stream tsv "$sname" "$tmp/inj.cli"
    grep -F 'inj ' "$tmp/inj.cli" >"$tmp/inj.got" || true
    assert_file_eq "$tmp/inj.got" "$tmp/inj.expected" "keys that look like request syntax, read with the aws CLI"
fi
alive "keys that look like request syntax"

# ---- long names: 255 bytes work, 256 are ENAMETOOLONG --------------------
k255=$(printf 'k%.0s' $(seq 255))
k256=${k255}K
echo 'long key' >>"$s/$k255"
echo 'long key' >>"$tmp/sh0.expected"
assert_reads "$s/$k255" 'long key' "key file with a 255-byte name"
expect_logged 0 0 "-" "a 255-byte key"
# The kernel passes FUSE names of up to 1024 bytes (4095 on recent kernels);
# kinesisfs refuses those over 255
# (a kernel that stops them itself logs nothing).
expect_probe ENAMETOOLONG stat "$s/$k256"
expect_logged 0 1 "$sname" "stat of a 256-byte key"
expect_probe ENAMETOOLONG open-write "$s/$k256"
expect_logged 0 1 "$sname" "open of a 256-byte key"
expect_probe ENAMETOOLONG mkdir "$mnt/$k256"
expect_logged 0 1 "kkkk" "mkdir of a 256-byte stream name"
expect_probe ENOENT stat "$mnt/$k255"
expect_logged 0 1 "kkkk" "stat of a 255-byte stream name"
expect_probe EINVAL mkdir "$mnt/$k255"
expect_logged 1 1 "kkkk" "mkdir of a 255-byte stream name"
alive "long names"

# ---- views that do not exist ---------------------------------------------
expect_probe ENOENT open-read "$s/shardId-000000000009@LATEST"
expect_logged -i 1 1 "$sname.*shardId-000000000009" "a view of a missing shard"
expect_probe ENOENT open-read "$s/shardId-000000000009@TRIM_HORIZON.jsonl"
expect_logged -i 1 1 "$sname.*shardId-000000000009" "a JSON view of a missing shard"
for v in shardId-000000000000@NOPE shardId-000000000000@LATEST.json \
         shardId-000000000000@AT_TIMESTAMP=yesterday @LATER \
         shardId-000000000000@AT_SEQUENCE_NUMBER=12x shardId-000000000000@..; do
    expect_probe EINVAL open-read "$s/$v"
    expect_logged -i 1 1 "$sname" "malformed view $v"
done
alive "views"

# ---- extended attributes with bad values ---------------------------------
# Values are whole decimal numbers in range; the first bad one of each
# kind also through setfattr(1).
for v in abc -5 -24 99999999999999999999 1e3 '48 ' '' 0x30 23 8761; do
    expect_probe EINVAL setxattr "$s" user.kinesis.retention_hours "$v"
    expect_logged 1 1 "$sname" "retention_hours='$v'"
done
for v in 0 -1 x 100001 '' 1.5 99999999999999999999; do
    expect_probe EINVAL setxattr "$s" user.kinesis.shard_count "$v"
    expect_logged 1 1 "$sname" "shard_count='$v'"
done
if setfattr -n user.kinesis.shard_count -v 0 "$s" 2>/dev/null; then
    fail "setfattr shard_count=0 succeeded"
fi
expect_logged 1 1 "$sname" "setfattr shard_count=0"
# Other user.kinesis.* names are read-only, or read-only where they are.
for a in user.kinesis.nope user.kinesis.status user.kinesis.arn; do
    expect_probe EPERM setxattr "$s" "$a" 1
    expect_logged 1 1 "$sname" "setxattr $a"
done
expect_probe EPERM setxattr "$sh0" user.kinesis.retention_hours 48
expect_logged 1 1 "$sname" "retention_hours on a shard file"
expect_probe EPERM setxattr "$s/somekey" user.kinesis.shard_count 2
expect_logged 1 1 "$sname" "shard_count on a key file"
# Names outside user.kinesis.: ENOTSUP.
for a in user.other user.kinesisx user.kinesis; do
    expect_probe ENOTSUP setxattr "$s" "$a" 1
    expect_logged 1 1 "$sname" "setxattr $a"
done
# Nothing can be removed; unknown names read as ENODATA, not logged.
expect_probe EPERM removexattr "$s" user.kinesis.retention_hours
expect_logged 1 1 "$sname" "removexattr"
expect_probe ENODATA getxattr "$s" user.kinesis.nope
expect_probe ENODATA getxattr "$s" user.other
expect_logged 0 0 "-" "getxattr of unknown names"
assert_eq "$(xattr "$s" retention_hours)" 24 "retention_hours after refused values"
assert_eq "$(xattr "$s" shard_count)" 1 "shard_count after refused values"
alive "attributes"

# Everything written above, once, in order.
timeout 30 cat "$sh0" >"$tmp/sh0.out"
assert_file_eq "$tmp/sh0.out" "$tmp/sh0.expected" "the shard after every bad input"
kfs_umount

# ---- record=write: NUL bytes, empty writes, offsets ----------------------
kfs_mount record=write
r=$mnt/badraw
mkdir "$r"
rsh=$r/shardId-000000000000
log_mark
printf '\0\0x\n\0y' >"$tmp/raw1"
printf '\n\0' >"$tmp/raw2"
dd if="$tmp/raw1" of="$rsh" bs=1M oflag=append conv=notrunc status=none
dd if="$tmp/raw2" of="$r/rawkey" bs=1M oflag=append conv=notrunc status=none
expect_probe 'OK 0' write0 "$rsh"
expect_probe OK pwrite "$rsh" 0 'P'
cat "$tmp/raw1" "$tmp/raw2" >"$tmp/raw.expected"
printf 'P' >>"$tmp/raw.expected"
assert_size "$rsh" "$(file_size "$tmp/raw.expected")" "the raw shard"
timeout 30 cat "$rsh" >"$tmp/raw.out"
assert_file_eq "$tmp/raw.out" "$tmp/raw.expected" "the raw shard with NUL bytes (record=write)"
timeout 30 cat "$r/rawkey" >"$tmp/rawkey.out"
assert_file_eq "$tmp/rawkey.out" "$tmp/raw2" "key file with NUL bytes (record=write)"
expect_logged 0 0 "-" "record=write"
alive "record=write"
kfs_umount
