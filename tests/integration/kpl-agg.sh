#!/usr/bin/env bash
# kpl-agg.sh - kinesisfs's KPL aggregated records (backend/kpl/agg.c)
# against an aggregator written by others: the npm aws-kinesis-agg 4.2.8
# (tests/aws/agg-tool.js), both ways.  600 user records over 25 partition
# keys, some with explicit hash keys, data with newlines, tabs, quotes and
# UTF-8, 40 of 20-45 KB (1.3 MB in all), so that kinesisfs's aggregated
# records split at the KPL's 51,200 bytes and aws-kinesis-agg's at 1 MB:
#   - what aws-kinesis-agg packs, kfs-agg decodes to every user record, in
#     order, with its key and explicit hash key;
#   - what kfs-agg packs, aws-kinesis-agg decodes (checksums checked) to
#     every user record, in order, with its key and explicit hash key, and
#     no aggregated record passes 51,200 bytes;
#   - one of them with a byte of its digest changed is plain data.
# aws-kinesis-agg's de-aggregator gives every user record the explicit hash
# key of index 0 when the record has none (its protobuf library fills the
# missing index with 0): its hash keys are compared only where set.
. "$(dirname "$0")/functions.sh"
requires node --version
agg_tool=$KFS_SRCDIR/tests/aws/agg-tool.js
kfs_agg=$KFS_TOOLS/kfs-agg
[ -f "$KFS_AWS_NODE_MODULES/aws-kinesis-agg/package.json" ] ||
    error "aws-kinesis-agg is not installed in $KFS_AWS_NODE_MODULES (./quickstart test, or npm ci --prefix tests/aws)"
[ -x "$kfs_agg" ] || error "$kfs_agg is missing (make check builds it)"
export NODE_PATH=$KFS_AWS_NODE_MODULES
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kfs-$testname.XXXXXX")
cleanup_fn rm -rf "$tmp"

# The user records: "KEY<TAB>EHK or -<TAB>DATA as a JSON string".
awk 'BEGIN {
    srand(7)
    for (i = 1; i <= 600; i++) {
        key = "key-" int(rand() * 25)
        ehk = (i % 9 == 0) ? int(rand() * 1e9) "000000000000000000000000000" : "-"
        if (i % 15 == 0) {
            n = 20000 + int(rand() * 25000)
            d = i ":"
            while (length(d) < n) d = d d
            d = substr(d, 1, n)
        } else {
            d = "line " i ": \\t tab, \\\"quotes\\\", caf\303\251 \342\202\254"
            if (i % 3 == 0) d = d "\\n"
        }
        printf "%s\t%s\t\"%s\"\n", key, ehk, d
    }
}' >"$tmp/in.tsv"

# expected FILES... : the user records of the input, numbered within the
# aggregated records as the files split them (each file's count from
# the decoder's output), key and hash key as written.
strip_ehk_unset() { # drops the EHK column where the input has none
    awk -F '\t' -v OFS='\t' 'NR == FNR { e[FNR] = $2; next } { if (e[FNR] == "-") $3 = "-"; print }' \
        "$tmp/in.tsv" -
}

# ---- aws-kinesis-agg packs, kinesisfs decodes ------------------------------
node "$agg_tool" encode "$tmp/in.tsv" "$tmp/npm" >"$tmp/npm.list" ||
    fail "aws-kinesis-agg could not pack the records"
mapfile -t files < <(cut -f1 "$tmp/npm.list")
[ "${#files[@]}" -ge 2 ] || fail "aws-kinesis-agg made ${#files[@]} aggregated records, expected several"
for f in "${files[@]}"; do
    "$kfs_agg" decode "$f" || fail "kfs-agg could not decode $f: $(head -c 200 "$f" | od -c | head -3)"
done >"$tmp/kfs.decoded"
cut -f2- "$tmp/kfs.decoded" >"$tmp/kfs.records"
assert_file_eq "$tmp/kfs.records" "$tmp/in.tsv" "aws-kinesis-agg's records decoded by kinesisfs"
# Sub-sequence numbers restart at 0 in each aggregated record.
[ "$(grep -c '^0	' "$tmp/kfs.decoded")" -eq "${#files[@]}" ] ||
    fail "sub-sequence numbers do not start at 0 in each aggregated record"
msg "aws-kinesis-agg -> kinesisfs: 600 user records in ${#files[@]} aggregated records"

# ---- kinesisfs packs, aws-kinesis-agg decodes --------------------------------
"$kfs_agg" encode "$tmp/in.tsv" "$tmp/kfs" >"$tmp/kfs.list" ||
    fail "kfs-agg could not pack the records"
mapfile -t files < <(cut -f1 "$tmp/kfs.list")
[ "${#files[@]}" -ge 3 ] || fail "kfs-agg made ${#files[@]} aggregated records, expected several"
for f in "${files[@]}"; do
    size=$(stat -c %s "$f")
    [ "$size" -le 51200 ] || fail "$f is $size bytes, over the KPL's 51200"
done
node "$agg_tool" decode "${files[@]}" >"$tmp/npm.decoded" ||
    fail "aws-kinesis-agg could not decode kinesisfs's aggregated records"
strip_ehk_unset <"$tmp/npm.decoded" | cut -f2- >"$tmp/npm.records"
assert_file_eq "$tmp/npm.records" "$tmp/in.tsv" "kinesisfs's records decoded by aws-kinesis-agg"
msg "kinesisfs -> aws-kinesis-agg: 600 user records in ${#files[@]} aggregated records"

# ---- a digest changed: plain data --------------------------------------------
f=${files[0]}
cp "$f" "$tmp/bad"
size=$(stat -c %s "$tmp/bad")
printf '\xff' | dd of="$tmp/bad" bs=1 seek=$((size - 1)) conv=notrunc status=none
rc=0
"$kfs_agg" decode "$tmp/bad" >"$tmp/bad.out" || rc=$?
assert_eq "$rc" 3 "kfs-agg's status on a bad digest"
assert_eq "$(cat "$tmp/bad.out")" "$(printf 'plain\tMD5 mismatch')" "a bad digest"
