#!/usr/bin/env bash
# shellcheck disable=SC2119
# jsonl.sh - the JSON lines views (VIEW.jsonl, docs/reading.md): every line
# parses with jq and has exactly SequenceNumber, ApproximateArrivalTimestamp,
# PartitionKey, ShardId, Data and DataEncoding, as strings of the right
# shape; Data gives back the record's exact bytes (binary with NULs and
# invalid UTF-8 as base64, UTF-8 text as itself, control characters and
# quotes escaped); an ApproximateArrivalTimestamp given back to
# @AT_TIMESTAMP= starts at its record; the framing option changes nothing.
# On AWS the lines are checked against `aws kinesis get-records`.  On both
# backends.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires jq --version
requires getfattr --version
requires bc --version
requires base64 --version

kfs_setup

view_ms=$((15000 * kfs_slow))

# read_jsonl NAME PATH LINES: LINES lines of the view PATH (which follows:
# read until they came, and half a second more) into $tmp/NAME.
read_jsonl()
{
    "$probe" read-for "$2" "$view_ms" "$3l" >"$tmp/$1" 2>"$tmp/$1.end"
    grep -q '^end: timeout ' "$tmp/$1.end" ||
        fail "reading ${2#"$mnt"/} did not go on waiting: $(cat "$tmp/$1.end")"
    assert_eq "$(grep -c '' "$tmp/$1")" "$3" "lines of ${2#"$mnt"/}"
}

# decode_all JSONL OUT: the bytes of every record of JSONL, one after
# another, into OUT: base64 decoded with base64 -d, utf8 as jq -j gives it.
decode_all()
{
    local n i
    : >"$2"
    n=$(grep -c '' "$1")
    for ((i = 1; i <= n; i++)); do
        sed -n "${i}p" "$1" >"$tmp/one.json"
        if [ "$(jq -r .DataEncoding "$tmp/one.json")" = base64 ]; then
            jq -r .Data "$tmp/one.json" | base64 -d >>"$2" ||
                fail "line $i of $1: Data is not base64"
        else
            jq -j .Data "$tmp/one.json" >>"$2"
        fi
    done
}

# check_shape JSONL SHARD: each line is an object of the six string fields,
# of ShardId SHARD (unless empty), sequence numbers growing.
check_shape()
{
    local file=$1 shard=$2 prev='' sq
    jq -e -s 'length > 0 and all(type == "object")' "$file" >/dev/null ||
        fail "$file: a line is not a JSON object: $(head -c 300 "$file")"
    jq -c 'keys' "$file" | sort -u >"$tmp/keys"
    echo '["ApproximateArrivalTimestamp","Data","DataEncoding","PartitionKey","SequenceNumber","ShardId"]' \
        >"$tmp/keys.expected"
    assert_file_eq "$tmp/keys" "$tmp/keys.expected" "the fields of the JSON lines"
    assert_eq "$(jq -r '[.[] | type] | unique | join(",")' "$file" | sort -u)" string \
        "the types of the fields"
    if jq -r .SequenceNumber "$file" | grep -v -x -E '[0-9]{1,128}'; then
        fail "a SequenceNumber is not 1 to 128 digits"
    fi
    if jq -r .ApproximateArrivalTimestamp "$file" |
        grep -v -x -E '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'; then
        fail "an ApproximateArrivalTimestamp is not ISO 8601 UTC with milliseconds"
    fi
    if jq -r .DataEncoding "$file" | grep -v -x -E 'utf8|base64'; then
        fail "a DataEncoding is neither utf8 nor base64"
    fi
    if [ -n "$shard" ]; then
        assert_eq "$(jq -r .ShardId "$file" | sort -u)" "$shard" "ShardId of the lines of $shard"
        while read -r sq; do
            if [ -n "$prev" ] && [ "$(echo "$sq > $prev" | BC_LINE_LENGTH=0 bc)" != 1 ]; then
                fail "sequence numbers of $shard do not grow: $prev then $sq"
            fi
            prev=$sq
        done < <(jq -r .SequenceNumber "$file")
    fi
}

# ms ISO: milliseconds since the epoch.
ms() { date -u -d "$1" +%s%3N; }

kfs_mount shards=2,record=write
sname=jstream
s=$mnt/$sname
mkdir "$s"
sh0=$s/shardId-000000000000
sh1=$s/shardId-000000000001
for ka in ka kb kc kd ke kf kg kh; do
    [ "$(key_shard "$ka" 2)" = 0 ] && break
done
[ "$(key_shard "$ka" 2)" = 0 ] || error "no test key in shard 0"

# The records: what each is, its bytes in $tmp/rec.N, where it goes.
head -c 300 /dev/urandom >"$tmp/rec.1"
printf '\0\0\0\377' >>"$tmp/rec.1"                  # binary: NULs, 0xff
printf 'h\303\251llo w\303\266rld \342\234\223 \360\237\230\200\nsecond line\n' >"$tmp/rec.2"
printf 'ab\377\376cd' >"$tmp/rec.3"                  # invalid UTF-8
printf 'q"uo\\te\t\001\037\177 </end>' >"$tmp/rec.4"   # JSON-hostile, valid UTF-8
printf 'x\300\257y\355\240\200z' >"$tmp/rec.5"       # overlong, surrogate: invalid
head -c 100000 /dev/urandom >"$tmp/rec.6"            # a big binary record
printf 'one\n' >"$tmp/rec.7"
printf '\n' >"$tmp/rec.8"                           # a lone newline, kept
printf 'again' >"$tmp/rec.9"
targets=(- shardId-000000000000 "$ka" shardId-000000000000 shardId-000000000000
         "$ka" shardId-000000000000 shardId-000000000001 shardId-000000000000 "$ka")
encodings=(- base64 utf8 base64 utf8 base64 base64 utf8 utf8 utf8)
nrec=9

t_start=$(date +%s%3N)
for ((i = 1; i <= nrec; i++)); do
    # One write(2) of the whole record (record=write): dd with bs = size.
    dd if="$tmp/rec.$i" of="$s/${targets[$i]}" bs="$(file_size "$tmp/rec.$i")" count=1 \
        oflag=append conv=notrunc status=none || fail "writing record $i failed"
    sleep 0.05
done
t_end=$(date +%s%3N)

# ---- shard 0 --------------------------------------------------------------
recs0=()
for ((i = 1; i <= nrec; i++)); do
    case ${targets[$i]} in
    shardId-000000000001) ;;
    *) recs0+=("$i") ;;
    esac
done
read_jsonl j0 "$sh0@TRIM_HORIZON.jsonl" "${#recs0[@]}"
check_shape "$tmp/j0" shardId-000000000000

# Data, DataEncoding and PartitionKey of each, in order.
n=0
for i in "${recs0[@]}"; do
    n=$((n + 1))
    sed -n "${n}p" "$tmp/j0" >"$tmp/line.$i"
    assert_eq "$(jq -r .DataEncoding "$tmp/line.$i")" "${encodings[$i]}" "DataEncoding of record $i"
    assert_eq "$(jq -r .PartitionKey "$tmp/line.$i")" "${targets[$i]}" "PartitionKey of record $i"
    if [ "${encodings[$i]}" = base64 ]; then
        jq -r .Data "$tmp/line.$i" | base64 -d >"$tmp/got.$i" || fail "record $i: Data is not base64"
    else
        jq -j .Data "$tmp/line.$i" >"$tmp/got.$i"
    fi
    assert_file_eq "$tmp/got.$i" "$tmp/rec.$i" "the bytes of record $i from its JSON line"
    at=$(ms "$(jq -r .ApproximateArrivalTimestamp "$tmp/line.$i")")
    if [ "$at" -lt "$((t_start - 1000))" ] || [ "$at" -gt "$((t_end + 1000))" ]; then
        fail "ApproximateArrivalTimestamp of record $i is $at ms, not within the writes ($t_start..$t_end)"
    fi
done
# The docs' one-liner, on the text records.
jq -j 'select(.DataEncoding == "utf8") | .Data' "$tmp/j0" >"$tmp/text.got"
for i in "${recs0[@]}"; do
    [ "${encodings[$i]}" = utf8 ] && cat "$tmp/rec.$i"
done >"$tmp/text.expected"
assert_file_eq "$tmp/text.got" "$tmp/text.expected" "jq -j .Data of the utf8 records"
jq -r 'select(.DataEncoding == "utf8") | .Data' "$tmp/j0" >/dev/null
# Every byte of the shard, record after record, is what the shard file
# reads with record=write.
decode_all "$tmp/j0" "$tmp/j0.bytes"
timeout 30 cat "$sh0" >"$tmp/sh0.bytes"
assert_file_eq "$tmp/j0.bytes" "$tmp/sh0.bytes" "the records of the JSON lines, decoded, and cat of the shard"
for i in "${recs0[@]}"; do cat "$tmp/rec.$i"; done >"$tmp/sh0.expected"
assert_file_eq "$tmp/sh0.bytes" "$tmp/sh0.expected" "cat of shard 0 (record=write)"

# ---- the arrival time given back to AT_TIMESTAMP ---------------------------
for i in "${recs0[@]}"; do
    ts=$(jq -r .ApproximateArrivalTimestamp "$tmp/line.$i")
    sq=$(jq -r .SequenceNumber "$tmp/line.$i")
    read_jsonl at "$sh0@AT_TIMESTAMP=$ts.jsonl" "$(grep -c '' <(sed -n "/\"SequenceNumber\":\"$sq\"/,\$p" "$tmp/j0"))"
    assert_eq "$(head -n 1 "$tmp/at" | jq -r .SequenceNumber)" "$sq" \
        "the first record of shard 0 at AT_TIMESTAMP=$ts (record $i's arrival)"
done
# The key view: its second record.
ka_lines=$(jq -c --arg k "$ka" 'select(.PartitionKey == $k)' "$tmp/j0")
ts=$(printf '%s\n' "$ka_lines" | sed -n 2p | jq -r .ApproximateArrivalTimestamp)
sq=$(printf '%s\n' "$ka_lines" | sed -n 2p | jq -r .SequenceNumber)
read_jsonl kat "$s/$ka@AT_TIMESTAMP=$ts.jsonl" "$(($(printf '%s\n' "$ka_lines" | grep -c '') - 1))"
assert_eq "$(head -n 1 "$tmp/kat" | jq -r .SequenceNumber)" "$sq" \
    "the first record of key $ka at AT_TIMESTAMP=$ts"

# ---- key and stream views --------------------------------------------------
read_jsonl jk "$s/$ka@TRIM_HORIZON.jsonl" "$(printf '%s\n' "$ka_lines" | grep -c '')"
check_shape "$tmp/jk" shardId-000000000000
assert_eq "$(jq -r .PartitionKey "$tmp/jk" | sort -u)" "$ka" "PartitionKey of the key view"
printf '%s\n' "$ka_lines" >"$tmp/jk.expected"
assert_file_eq "$tmp/jk" "$tmp/jk.expected" "the key view's lines and the shard view's lines of $ka"

read_jsonl j1 "$sh1@TRIM_HORIZON.jsonl" 1
check_shape "$tmp/j1" shardId-000000000001
read_jsonl js "$s/@TRIM_HORIZON.jsonl" "$nrec"
check_shape "$tmp/js" ''
sort "$tmp/js" >"$tmp/js.sorted"
sort "$tmp/j0" "$tmp/j1" >"$tmp/j01.sorted"
assert_file_eq "$tmp/js.sorted" "$tmp/j01.sorted" "the stream view's lines and the shard views' (sorted)"
grep -F '"ShardId":"shardId-000000000000"' "$tmp/js" >"$tmp/js0" || true
assert_file_eq "$tmp/js0" "$tmp/j0" "the stream view's lines of shard 0, in order"

# ---- partition keys ------------------------------------------------------------
# FILE-NAME<TAB>PartitionKey in the JSON
printf 'cl\303\251\tcl\303\251\n' >"$tmp/pkeys"
if ! on_aws; then
    # Not valid UTF-8: the JSON has U+FFFD for the bad byte.  (On AWS a
    # partition key travels in JSON and is UTF-8 by construction.)
    printf 'k\377z\tk\357\277\275z\n' >>"$tmp/pkeys"
fi
nkeys=0
while IFS=$'\t' read -r name key; do
    printf 'to key %s' "$nkeys" >>"$s/$name"
    read_jsonl jkey "$s/$name@TRIM_HORIZON.jsonl" 1
    check_shape "$tmp/jkey" ''
    assert_eq "$(jq -r .PartitionKey "$tmp/jkey")" "$key" "PartitionKey of the record put to key file '$name'"
    assert_eq "$(jq -j .Data "$tmp/jkey")" "to key $nkeys" "Data of the record put to key file '$name'"
    nkeys=$((nkeys + 1))
done <"$tmp/pkeys"
read_jsonl jall "$s/@TRIM_HORIZON.jsonl" "$((nrec + nkeys))"
check_shape "$tmp/jall" ''

# ---- AWS: the same records as get-records gives them --------------------------
if on_aws; then
    # A binary record put with the CLI.
    head -c 500 /dev/urandom >"$tmp/cli.bin"
    printf '\0\377' >>"$tmp/cli.bin"
    awsk put-record --stream-name "$sname" --partition-key cli-bin \
        --explicit-hash-key 0 --data "fileb://$tmp/cli.bin" >/dev/null
    read_jsonl j0b "$sh0@TRIM_HORIZON.jsonl" "$((${#recs0[@]} + 1))"
    tail -n 1 "$tmp/j0b" >"$tmp/cli.line"
    assert_eq "$(jq -r '.PartitionKey + " " + .DataEncoding' "$tmp/cli.line")" "cli-bin base64" \
        "the record put with the CLI"
    jq -r .Data "$tmp/cli.line" | base64 -d >"$tmp/cli.got"
    assert_file_eq "$tmp/cli.got" "$tmp/cli.bin" "the bytes of a binary record put with the CLI"
    for i in 0 1; do
        it=$(awsk get-shard-iterator --stream-name "$sname" --shard-id "$(shard_name $i)" \
            --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text)
        awsk get-records --shard-iterator "$it" --output json >"$tmp/cli.$i.json"
        jq -r '.Records[] | [.SequenceNumber, .PartitionKey, .Data, .ApproximateArrivalTimestamp] | @tsv' \
            "$tmp/cli.$i.json" >"$tmp/cli.$i.tsv"
        read_jsonl "jc$i" "$s/$(shard_name $i)@TRIM_HORIZON.jsonl" "$(grep -c '' "$tmp/cli.$i.tsv")"
        f=$tmp/jc$i
        jq -r '[.SequenceNumber, .PartitionKey,
                (if .DataEncoding == "base64" then .Data else (.Data | @base64) end),
                .ApproximateArrivalTimestamp] | @tsv' "$f" >"$tmp/view.$i.tsv"
        # Times: the CLI prints ISO 8601 with microseconds and +00:00.
        while IFS=$'\t' read -r sq k d t; do
            printf '%s\t%s\t%s\t%s\n' "$sq" "$k" "$d" "$(ms "$t")"
        done <"$tmp/cli.$i.tsv" >"$tmp/cli.$i.ms"
        while IFS=$'\t' read -r sq k d t; do
            printf '%s\t%s\t%s\t%s\n' "$sq" "$k" "$d" "$(ms "$t")"
        done <"$tmp/view.$i.tsv" >"$tmp/view.$i.ms"
        assert_file_eq "$tmp/view.$i.ms" "$tmp/cli.$i.ms" \
            "shard $i: sequence number, key, data and arrival ms in the JSON lines and from get-records"
    done
    cp "$tmp/j0b" "$tmp/j0"
fi

settle "$s"
kfs_umount

# ---- the framing option does not change JSON lines --------------------------
kfs_mount
read_jsonl j0line "$sh0@TRIM_HORIZON.jsonl" "$(grep -c '' "$tmp/j0")"
assert_file_eq "$tmp/j0line" "$tmp/j0" "shard 0's JSON lines with record=line and record=write"
settle "$s"
kfs_umount
