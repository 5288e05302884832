#!/usr/bin/env bash
# shellcheck disable=SC2119
# concurrent.sh - ten writers at once, 1,000 lines each, over eight keys
# spread on four shards (two or three writers per key, each writer on
# three keys): every line comes back exactly once and whole, in its key
# and in the shard MD5 puts the key in, each writer's lines in order.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires bc --version

kfs_setup
cat_to() { read_into "$tmp/$1" "$2"; }

nwriters=10
nlines=1000
# The writers send each line in two write calls: a half line is never
# sent on its own (SPEC 3).
kfs_mount shards=4,linger_ms=2000
s=$mnt/cc
mkdir "$s"

# Eight keys, two per shard.
keys=()
declare -A per_shard=()
for ((n = 0; ${#keys[@]} < 8 && n < 200; n++)); do
    i=$(key_shard "key-$n" 4)
    if [ "${per_shard[$i]:-0}" -lt 2 ]; then
        per_shard[$i]=$((${per_shard[$i]:-0} + 1))
        keys+=("key-$n")
    fi
done
[ ${#keys[@]} -eq 8 ] || error "could not find two keys for each shard"

mkdir "$tmp/exp"
pids=()
for ((w = 0; w < nwriters; w++)); do
    a=${keys[$((w % 8))]}
    b=${keys[$(((w + 3) % 8))]}
    c=${keys[$(((w + 5) % 8))]}
    # Line n goes to key number (n-1) % 3 of the writer's three.
    "$writer" --print "w$w" 1 "$nlines" |
        awk -v d="$tmp/exp" -v a="$a" -v b="$b" -v c="$c" \
            '{ k = ($2 - 1) % 3; print >> (d "/" (k == 0 ? a : k == 1 ? b : c)) }'
    "$writer" "$s/$a,$s/$b,$s/$c" "w$w" "$nlines" 100 $((w % 2 + 1)) \
        >"$tmp/acks.$w" 2>"$tmp/err.$w" &
    pids+=($!)
done
for ((w = 0; w < nwriters; w++)); do
    wait "${pids[$w]}" || fail "writer w$w failed: $(cat "$tmp/err.$w")"
    assert_eq "$(tail -n 1 "$tmp/acks.$w")" "ack w$w $((nlines - 100 + 1)) $nlines" \
        "last acknowledgement of writer w$w"
done

# Every line exactly once across the four shards.
: >"$tmp/all"
for i in 0 1 2 3; do
    cat_to "shard.$i" "$s/$(shard_name $i)"
    cat "$tmp/shard.$i" >>"$tmp/all"
done
sort "$tmp/all" >"$tmp/all.sorted"
cat "$tmp"/exp/* | sort >"$tmp/all.expected"
if ! cmp -s "$tmp/all.sorted" "$tmp/all.expected"; then
    echo "lines read but not written (or twice):" >&2
    comm -23 "$tmp/all.sorted" "$tmp/all.expected" | sed -n 1,5p >&2
    echo "lines written but not read:" >&2
    comm -13 "$tmp/all.sorted" "$tmp/all.expected" | sed -n 1,5p >&2
    fail "the four shards do not hold each written line exactly once"
fi
assert_eq "$(wc -l <"$tmp/all")" $((nwriters * nlines)) "number of lines in the shards"

# Each key: its own lines, in the shard MD5 chooses, each writer in order.
for k in "${keys[@]}"; do
    cat_to "key.$k" "$s/$k"
    sort "$tmp/key.$k" >"$tmp/key.sorted"
    sort "$tmp/exp/$k" >"$tmp/key.expected"
    assert_file_eq "$tmp/key.sorted" "$tmp/key.expected" "the lines of key $k"
    awk '{ if (($1 in last) && $2 + 0 <= last[$1]) { print "out of order: " $0; exit 1 }
           last[$1] = $2 + 0 }' "$tmp/key.$k" ||
        fail "a writer's lines are out of order in key $k"
    i=$(key_shard "$k" 4)
    sort "$tmp/shard.$i" | comm -13 - "$tmp/key.expected" >"$tmp/missing"
    [ ! -s "$tmp/missing" ] || fail "lines of key $k are not in shard $i, where MD5 puts it"
done

kfs_umount
