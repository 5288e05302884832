#!/usr/bin/env bash
# spread.sh - one file over many shards (user.kinesis.spread, -o spread;
# docs/aggregation.md, "One file over many shards"), on both backends:
#   - 4,000 lines written to one key file of a 4-shard stream with the
#     stream spreading land in every shard (each at least a tenth), every
#     line once; the key file reads all of them, each shard's in the
#     order written (the order the docs promise, no more);
#   - the same with aggregation on too, from writes of a line each;
#   - spread set back to 0: the next lines all go to the shard the key
#     hashes to; anything but 0 and 1 is EINVAL.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires setfattr --version
requires bc --version

kfs_setup
s=$mnt/wide
n=4000

kfs_mount shards=4
mkdir "$s"
assert_eq "$(getfattr --absolute-names -n user.kinesis.spread --only-values "$s")" 0 \
    "user.kinesis.spread of a new stream"
setfattr -n user.kinesis.spread -v 1 "$s"

# check TAG: the lines "TAG <i>" of app.log: every one once in the key
# file and over the shard files, at least a tenth in each shard, each
# shard's in the order written.
check()
{
    local tag=$1 sh got
    grep "^$tag " "$tmp/want" >"$tmp/want.$tag"
    read_into "$tmp/key" "$s/app.log"
    grep "^$tag " "$tmp/key" | sort >"$tmp/key.$tag" || true
    sort "$tmp/want.$tag" >"$tmp/want.$tag.sorted"
    assert_file_eq "$tmp/key.$tag" "$tmp/want.$tag.sorted" "$tag: the key file's lines"
    : >"$tmp/shards.$tag"
    for sh in 0 1 2 3; do
        read_into "$tmp/shard" "$s/$(shard_name "$sh")"
        grep "^$tag " "$tmp/shard" >"$tmp/shard.$tag" || true
        got=$(grep -c '' "$tmp/shard.$tag" || true)
        [ "$got" -ge $((n / 10)) ] || fail "$tag: shard $sh holds $got of $n lines"
        sort -n -k2 "$tmp/shard.$tag" | cmp -s - "$tmp/shard.$tag" ||
            fail "$tag: shard $sh's lines are not in the order written"
        cat "$tmp/shard.$tag" >>"$tmp/shards.$tag"
        printf '%s ' "$got" >>"$tmp/counts.$tag"
    done
    sort "$tmp/shards.$tag" >"$tmp/shards.$tag.sorted"
    assert_file_eq "$tmp/shards.$tag.sorted" "$tmp/want.$tag.sorted" "$tag: the shards' lines"
    msg "$tag: $n lines over 4 shards ($(cat "$tmp/counts.$tag")), each shard in order"
}

: >"$tmp/want"
seq -f 'plain %g' 1 "$n" >>"$tmp/want"
seq -f 'plain %g' 1 "$n" >>"$s/app.log"
check plain

# Aggregated records are what spreads: lines of 200 bytes make some 16
# of them.
setfattr -n user.kinesis.aggregate -v 1 "$s"
pad=$(printf '%0190d' 0)
seq -f "agg %g $pad" 1 "$n" >>"$tmp/want"
{ for ((i = 1; i <= n; i++)); do echo "agg $i $pad"; done; } >>"$s/app.log"
check agg

setfattr -n user.kinesis.spread -v 0 "$s"
setfattr -n user.kinesis.aggregate -v 0 "$s"
seq -f 'one %g' 1 100 >>"$s/app.log"
home=$(key_shard app.log 4)
for sh in 0 1 2 3; do
    read_into "$tmp/shard" "$s/$(shard_name "$sh")"
    got=$(grep -c '^one ' "$tmp/shard" || true)
    if [ "$sh" = "$home" ]; then
        assert_eq "$got" 100 "lines after spread=0 in the key's shard $sh"
    else
        assert_eq "$got" 0 "lines after spread=0 in shard $sh"
    fi
done
rc=0
setfattr -n user.kinesis.spread -v yes "$s" 2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "user.kinesis.spread=yes was taken"
expect_log 'set spread wide: .*spread takes 1 \(on\) or 0 \(off\)'
msg "spread=0: 100 lines in the key's shard $home; spread=yes refused"
kfs_umount
msg "OK"
