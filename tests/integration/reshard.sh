#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012,SC2010
# reshard.sh - reading across resharding (docs/reading.md, "Stream views
# and resharding"; SPEC 4): a stream of 1 shard goes to 2, then 3 (local:
# setfattr user.kinesis.shard_count; AWS: kinesalite has no
# UpdateShardCount, so setfattr gives ENOTSUP and the aws CLI splits shard 0,
# splits a child, then merges two adjacent open shards), with keyed
# numbered lines written before and after each change.  Then: parents are
# CLOSED with an ending sequence number and their children name them;
# every shard file holds exactly the lines whose key hashes into its range
# and that were written while it was open; a closed shard's view reads to
# its end and gives EOF; the stream view (text and JSON lines) has every
# record once, each ancestor's records before its descendants', each key's
# in order; a stream view opened before a change picks up the new shards;
# key views keep each key's order across the changes.  On both backends.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires jq --version
requires bc --version
requires getfattr --version
requires setfattr --version

kfs_setup

view_ms=$((20000 * kfs_slow))
top=340282366920938463463374607431768211455    # 2^128 - 1

# key_hash KEY: MD5(KEY) as a decimal 128-bit number.
key_hash()
{
    local hex
    hex=$(printf '%s' "$1" | md5sum | cut -c1-32 | tr 'a-f' 'A-F')
    echo "ibase=16; $hex" | BC_LINE_LENGTH=0 bc
}


# shard_table OUT: "SHARD STATE START END PARENT ADJACENT SEQEND" lines
# ("-" for what a shard has not), from the xattrs.
shard_table()
{
    local sh
    # ls into a file: its failure fails the test, also in a predicate.
    ls "$s" >"$1.ls" || fail "ls $s failed"
    for sh in $(grep -x -E 'shardId-[0-9]{12}' "$1.ls"); do
        printf '%s %s %s %s %s %s %s\n' "$sh" "$(xattr "$s/$sh" state)" \
            "$(xattr "$s/$sh" hash_key_start)" "$(xattr "$s/$sh" hash_key_end)" \
            "$(xattr "$s/$sh" parent_shard_id 2>/dev/null || echo -)" \
            "$(xattr "$s/$sh" adjacent_parent_shard_id 2>/dev/null || echo -)" \
            "$(xattr "$s/$sh" sequence_number_end 2>/dev/null || echo -)"
    done >"$1"
}

# open_shards P: snapshot of the open shards ("SHARD START END") before
# phase P is written, into $tmp/open.P.
open_shards()
{
    shard_table "$tmp/table.$1"
    awk '$2 == "OPEN" { print $1, $3, $4 }' "$tmp/table.$1" >"$tmp/open.$1"
    [ -s "$tmp/open.$1" ] || fail "no open shard before phase $1: $(cat "$tmp/table.$1")"
}

# home KEY P: the open shard of phase P whose hash key range holds KEY.
home()
{
    local h sh st en
    h=$(cat "$tmp/hash.$1")
    while read -r sh st en; do
        if [ "$(echo "$h >= $st && $h <= $en" | BC_LINE_LENGTH=0 bc)" = 1 ]; then
            echo "$sh"
            return 0
        fi
    done <"$tmp/open.$2"
    fail "no open shard of phase $2 holds key $1 (hash $h): $(cat "$tmp/open.$2")"
}

nkeys=24
keys=()
for ((i = 0; i < nkeys; i++)); do
    keys+=("k$i")
done
phases=0

# write_phase P: two numbered lines per key, one open each: "kI 2P-1",
# "kI 2P".  Records where each line must land in $tmp/expect.SHARD (in
# order) and all lines in $tmp/written.
write_phase()
{
    local p=$1 k sh
    open_shards "$p"
    for k in "${keys[@]}"; do
        sh=$(home "$k" "$p")
        printf '%s %d\n%s %d\n' "$k" $((2 * p - 1)) "$k" $((2 * p)) >"$tmp/lines"
        cat "$tmp/lines" >>"$s/$k"
        cat "$tmp/lines" >>"$tmp/expect.$sh"
        cat "$tmp/lines" >>"$tmp/written"
        printf '%s\t%s %d\n%s\t%s %d\n' "$sh" "$k" $((2 * p - 1)) "$sh" "$k" $((2 * p)) \
            >>"$tmp/written.pairs"
    done
    phases=$p
}

# ---- AWS: waiting for a change ---------------------------------------------
stream_status() { awsk describe-stream-summary --stream-name "$sname" \
    --query StreamDescriptionSummary.StreamStatus --output text; }
is_active() { [ "$(stream_status)" = ACTIVE ]; }
listed() { ls_has "$s" "$1"; }
state_is() { [ "$(xattr "$s/$1" state 2>/dev/null)" = "$2" ]; }
# changed CLOSED-SHARD NEW-SHARD...: the change is done, and the mount
# shows it (its listing is cached for 2 s).
changed()
{
    local sh
    wait_for 20 "$sname is ACTIVE again" is_active
    for sh in "$@"; do
        if [ "${sh#+}" != "$sh" ]; then
            wait_for 10 "the mount lists ${sh#+}" listed "${sh#+}"
        else
            wait_for 10 "the mount shows $sh CLOSED" state_is "$sh" CLOSED
        fi
    done
}
# merged_listed A B: the mount lists a shard of parents A and B.
merged_listed()
{
    shard_table "$tmp/table.merge"
    [ "$(awk -v a="$1" -v b="$2" '$5 == a && $6 == b' "$tmp/table.merge" | wc -l)" = 1 ]
}
# open_shards_are N WHAT: the stream's open_shard_count is N.  The stream's
# description is cached for 2 s, so a change made by another client (the
# aws CLI on kinesalite) shows within that: 5 s are given.
open_shard_count_is() { [ "$(xattr "$s" open_shard_count)" = "$1" ]; }
open_shards_are()
{
    wait_for 5 "$2: open_shard_count $1 (now $(xattr "$s" open_shard_count))" \
        open_shard_count_is "$1"
}

# middle SHARD: the hash key halfway through SHARD's range.
middle()
{
    echo "($(xattr "$s/$1" hash_key_start) + $(xattr "$s/$1" hash_key_end) + 1) / 2" |
        BC_LINE_LENGTH=0 bc
}

# ---- the stream, written across the changes -----------------------------------
kfs_mount shards=1
sname=rstream
s=$mnt/$sname
mkdir "$s"
for k in "${keys[@]}"; do
    key_hash "$k" >"$tmp/hash.$k"
done
: >"$tmp/written"
: >"$tmp/written.pairs"

write_phase 1
if on_aws; then
    log_mark
    expect_probe 'ENOTSUP|EOPNOTSUPP' setxattr "$s" user.kinesis.shard_count 2
    expect_logged 1 1 "$sname" "setxattr shard_count on kinesalite"
    if setfattr -n user.kinesis.shard_count -v 2 "$s" 2>"$tmp/setfattr.err"; then
        fail "setfattr shard_count succeeded on kinesalite, which has no UpdateShardCount"
    fi
    grep -q 'Operation not supported' "$tmp/setfattr.err" ||
        fail "setfattr shard_count on kinesalite: $(cat "$tmp/setfattr.err"), expected 'Operation not supported'"
    expect_logged 1 1 "$sname" "setfattr shard_count on kinesalite"
    assert_eq "$(xattr "$s" open_shard_count)" 1 "open_shard_count after a refused change"

    awsk split-shard --stream-name "$sname" --shard-to-split shardId-000000000000 \
        --new-starting-hash-key "$(middle shardId-000000000000)"
    changed shardId-000000000000 +shardId-000000000001 +shardId-000000000002
else
    setfattr -n user.kinesis.shard_count -v 2 "$s"
fi
open_shards_are 2 "open_shard_count after the first change"
assert_eq "$(xattr "$s/shardId-000000000000" state)" CLOSED "state of shard 0 after the first change"
write_phase 2

# A stream view opened now sees what comes next, in shards that do not
# exist yet.
"$probe" read-for "$s/@LATEST" "$((120000 * kfs_slow))" >"$tmp/live" 2>"$tmp/live.end" &
live=$!
bg_pids+=("$live")
sleep 1

if on_aws; then
    # Split the child holding the low half, then merge the upper of its
    # children with the next open shard.
    low=$(awk '$2 == "OPEN" && $3 == "0" { print $1 }' "$tmp/table.2")
    awsk split-shard --stream-name "$sname" --shard-to-split "$low" \
        --new-starting-hash-key "$(middle "$low")"
    changed "$low"
    shard_table "$tmp/table.split2"
    mapfile -t open_now < <(awk '$2 == "OPEN" { print $3, $1 }' "$tmp/table.split2" | sort -n | cut -d' ' -f2)
    [ ${#open_now[@]} = 3 ] || fail "3 open shards expected after two splits: $(cat "$tmp/table.split2")"
    for sh in "${open_now[@]}"; do
        wait_for 10 "the mount lists $sh" listed "$sh"
    done
    open_shards_are 3 "open_shard_count after the second split"
    write_phase 3
    awsk merge-shards --stream-name "$sname" --shard-to-merge "${open_now[1]}" \
        --adjacent-shard-to-merge "${open_now[2]}"
    changed "${open_now[1]}" "${open_now[2]}"
    wait_for 10 "a shard merged from ${open_now[1]} and ${open_now[2]} is listed" \
        merged_listed "${open_now[1]}" "${open_now[2]}"
    open_shards_are 2 "open_shard_count after the merge"
    write_phase 4
    open_final=2
else
    setfattr -n user.kinesis.shard_count -v 3 "$s"
    open_shards_are 3 "open_shard_count after the second change"
    write_phase 3
    open_final=3
fi
nlines=$(grep -c '' "$tmp/written")
assert_eq "$nlines" $((nkeys * 2 * phases)) "lines written"

# ---- the shards' metadata ------------------------------------------------------
shard_table "$tmp/table"
cat "$tmp/table" >&2
assert_eq "$(awk '$2 == "OPEN"' "$tmp/table" | wc -l)" "$open_final" "open shards in the end"
while read -r sh state st en parent adj seqend; do
    case $state in
    OPEN)
        assert_eq "$seqend" - "sequence_number_end of the open $sh" ;;
    CLOSED)
        grep -q -x -E '[0-9]{1,128}' <<<"$seqend" ||
            fail "sequence_number_end of the closed $sh: '$seqend'"
        seqstart=$(xattr "$s/$sh" sequence_number_start)
        [ "$(echo "$seqend >= $seqstart" | BC_LINE_LENGTH=0 bc)" = 1 ] ||
            fail "$sh ends ($seqend) before it starts ($seqstart)"
        ;;
    *) fail "state of $sh: '$state'" ;;
    esac
    for p in "$parent" "$adj"; do
        [ "$p" = - ] && continue
        grep -q "^$p " "$tmp/table" || fail "$sh names a parent $p that is not listed"
        assert_eq "$(awk -v p="$p" '$1 == p { print $2 }' "$tmp/table")" CLOSED "state of $p, parent of $sh"
    done
    # A child's range lies within its parents'.
    if [ "$parent" != - ]; then
        pst=$(awk -v p="$parent" -v q="$adj" '$1 == p || $1 == q { print $3 }' "$tmp/table" |
            sort -n | sed -n 1p)
        pen=$(awk -v p="$parent" -v q="$adj" '$1 == p || $1 == q { print $4 }' "$tmp/table" |
            sort -n | tail -n 1)
        [ "$(echo "$st >= $pst && $en <= $pen" | BC_LINE_LENGTH=0 bc)" = 1 ] ||
            fail "$sh ($st..$en) is not within its parents' range ($pst..$pen)"
    fi
done < <(cat "$tmp/table")
# Every shard but shard 0 has a parent; shard 0's children name it.
assert_eq "$(awk '$5 == "-"' "$tmp/table" | cut -d' ' -f1)" shardId-000000000000 "shards without a parent"
[ "$(awk '$5 == "shardId-000000000000"' "$tmp/table" | wc -l)" = 2 ] ||
    fail "shard 0 does not have two children: $(cat "$tmp/table")"
# The open shards cover the hash key space, without a gap or an overlap.
next=0
while read -r st en; do
    assert_eq "$st" "$next" "start of the open shard after hash key $next"
    next=$(echo "$en + 1" | BC_LINE_LENGTH=0 bc)
done < <(awk '$2 == "OPEN" { print $3, $4 }' "$tmp/table" | sort -n)
assert_eq "$next" "$(echo "$top + 1" | BC_LINE_LENGTH=0 bc)" "end of the open shards' ranges"

# ---- each shard file holds what landed in it; closed ones end --------------------
for sh in $(shards); do
    [ -f "$tmp/expect.$sh" ] || : >"$tmp/expect.$sh"
    timeout 30 cat "$s/$sh" >"$tmp/cat.$sh" || fail "cat of $sh did not end"
    assert_file_eq "$tmp/cat.$sh" "$tmp/expect.$sh" \
        "cat of $sh: the lines written while it was open whose key it holds"
    state=$(awk -v p="$sh" '$1 == p { print $2 }' "$tmp/table")
    if [ "$state" = CLOSED ]; then
        "$probe" read-for "$s/$sh@TRIM_HORIZON" "$view_ms" >"$tmp/view.$sh" 2>"$tmp/view.$sh.end"
        grep -q '^end: eof ' "$tmp/view.$sh.end" ||
            fail "the view of the closed $sh did not end with EOF: $(cat "$tmp/view.$sh.end")"
    else
        "$probe" read-for "$s/$sh@TRIM_HORIZON" "$view_ms" "$(file_size "$tmp/expect.$sh")" \
            >"$tmp/view.$sh" 2>"$tmp/view.$sh.end"
        grep -q '^end: timeout ' "$tmp/view.$sh.end" ||
            fail "the view of the open $sh did not go on waiting: $(cat "$tmp/view.$sh.end")"
    fi
    assert_file_eq "$tmp/view.$sh" "$tmp/expect.$sh" "$sh@TRIM_HORIZON"
done

# ---- the stream view: every record once, ancestors first -------------------------
# ancestors: "SHARD ANCESTOR" for every ancestor, parents' parents too.
: >"$tmp/ancestors"
for sh in $(shards); do
    todo=("$sh")
    while [ ${#todo[@]} -gt 0 ]; do
        cur=${todo[0]}
        todo=("${todo[@]:1}")
        while read -r p; do
            [ "$p" = - ] && continue
            echo "$sh $p" >>"$tmp/ancestors"
            todo+=("$p")
        done < <(awk -v c="$cur" '$1 == c { print $5; print $6 }' "$tmp/table")
    done
done
sort -u -o "$tmp/ancestors" "$tmp/ancestors"

# check_order FILE WHAT: FILE holds "SHARD<TAB>LINE" in the order read:
# every written line once, in the shard it landed in, every ancestor's
# records before its descendant's, each key's lines in order.
check_order()
{
    local file=$1 what=$2
    sort "$file" >"$tmp/order.sorted"
    sort "$tmp/written.pairs" >"$tmp/pairs.sorted"
    assert_file_eq "$tmp/order.sorted" "$tmp/pairs.sorted" "$what: (shard, record) pairs, sorted"
    awk -F '\t' 'NR == FNR { anc[NR] = $0; n = NR; next }
        { if (!($1 in first)) first[$1] = FNR; last[$1] = FNR }
        END {
            for (i = 1; i <= n; i++) {
                split(anc[i], a, " ")
                if ((a[1] in first) && (a[2] in last) && last[a[2]] > first[a[1]]) {
                    printf "%s: record %d of ancestor %s after record %d of %s\n",
                        FILENAME, last[a[2]], a[2], first[a[1]], a[1]
                    bad = 1
                }
            }
            exit bad
        }' "$tmp/ancestors" "$file" >&2 ||
        fail "$what: a record of an ancestor comes after a record of its descendant"
    cut -f2 "$file" | awk '{ if ($2 != last[$1] + 1) { print "key " $1 ": " $2 " after " last[$1] + 0; bad = 1 } last[$1] = $2 }
        END { exit bad }' >&2 || fail "$what: a key's lines are out of order"
}

"$probe" read-for "$s/@TRIM_HORIZON.jsonl" "$view_ms" "${nlines}l" >"$tmp/all.jsonl" 2>"$tmp/all.jsonl.end"
grep -q '^end: timeout ' "$tmp/all.jsonl.end" ||
    fail "the stream view in JSON lines did not go on waiting: $(cat "$tmp/all.jsonl.end")"
jq -r '[.ShardId, (.Data | rtrimstr("\n"))] | @tsv' "$tmp/all.jsonl" >"$tmp/all.pairs" ||
    fail "the stream view's JSON lines do not parse"
check_order "$tmp/all.pairs" "@TRIM_HORIZON.jsonl"

# The text view: every line once, each key in order.
"$probe" read-for "$s/@TRIM_HORIZON" "$view_ms" "${nlines}l" >"$tmp/all.text" 2>"$tmp/all.text.end"
grep -q '^end: timeout ' "$tmp/all.text.end" ||
    fail "the stream view did not go on waiting: $(cat "$tmp/all.text.end")"
assert_eq "$(grep -c '' "$tmp/all.text")" "$nlines" "lines of @TRIM_HORIZON"
assert_eq "$(sort "$tmp/all.text" | uniq -d | sed -n 1,3p)" "" "lines read twice in @TRIM_HORIZON"
sort "$tmp/all.text" >"$tmp/all.text.sorted"
sort "$tmp/written" >"$tmp/written.sorted"
assert_file_eq "$tmp/all.text.sorted" "$tmp/written.sorted" "the lines of @TRIM_HORIZON, sorted"
awk '{ if ($2 != last[$1] + 1) { print "key " $1 ": " $2 " after " last[$1] + 0; bad = 1 } last[$1] = $2 }
    END { exit bad }' "$tmp/all.text" >&2 || fail "@TRIM_HORIZON: a key's lines are out of order"

# The view opened at LATEST before the second change: what came after.
for ((i = 0; i < 100 * kfs_slow; i++)); do
    [ "$(grep -c '' "$tmp/live")" -ge "$(grep -c -v -E ' [1234]$' "$tmp/written")" ] && break
    sleep 0.1
done
sleep 1
kill "$live" 2>/dev/null || fail "the stream view at LATEST ended: $(cat "$tmp/live.end")"
wait "$live" || true
grep -v -E ' [1234]$' "$tmp/written" | sort >"$tmp/live.expected"
sort "$tmp/live" >"$tmp/live.sorted"
assert_file_eq "$tmp/live.sorted" "$tmp/live.expected" \
    "the stream view opened at LATEST before the second change (sorted)"
awk '{ if (($1 in last) && $2 != last[$1] + 1) { print "key " $1 ": " $2 " after " last[$1]; bad = 1 } last[$1] = $2 }
    END { exit bad }' "$tmp/live" >&2 || fail "@LATEST across a change: a key's lines are out of order"

# ---- keys across the changes ---------------------------------------------------
for k in k0 k7 k13 k22; do
    grep "^$k " "$tmp/written" >"$tmp/key.expected"
    timeout 30 cat "$s/$k" >"$tmp/key.file" || fail "cat of key file $k did not end"
    assert_file_eq "$tmp/key.file" "$tmp/key.expected" "key file $k across the changes"
    "$probe" read-for "$s/$k@TRIM_HORIZON" "$view_ms" "$(file_size "$tmp/key.expected")" \
        >"$tmp/key.view" 2>"$tmp/key.view.end"
    assert_file_eq "$tmp/key.view" "$tmp/key.expected" "key view $k@TRIM_HORIZON across the changes"
done

settle "$s"
kfs_umount
