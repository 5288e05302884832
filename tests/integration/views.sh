#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2012
# views.sh - the views of docs/reading.md: SHARD@POSITION, @POSITION and
# KEY@POSITION at every position type, against the real sequence numbers
# (from the .jsonl view, and on AWS from `aws kinesis put-record` too) and
# arrival times (a time between two groups of records put 1.2 s apart, in
# each form a time may take); EINVAL for malformed positions and for
# sequence numbers a shard does not hold; a key named user@example.com
# (ENOENT until created, as every key file); views not listed (ls shows
# the shards and the key files created), read-only, of size 0; head(1) on a view ends cleanly
# (lseek succeeds) and a view read again from offset 0 gives the same
# bytes.  On both backends.
#
# Views follow (a read at the tip waits), so they are read with
# `kfs-probe read-for`, which stops after a while, or once what is
# expected came plus half a second (to catch what should not come).
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires jq --version
requires getfattr --version
requires bc --version

kfs_setup

# How long a view is read when nothing is expected, and at most otherwise.
quiet_ms=$((1000 * kfs_slow))
if on_aws; then
    quiet_ms=$((2000 * kfs_slow))
fi
view_ms=$((15000 * kfs_slow))

# read_view NAME PATH [EXPECT]: what the view PATH gives, into $tmp/NAME;
# how the reading ended ("end: eof|error|timeout BYTES", and the failing
# call's errno before) into $tmp/NAME.end.  EXPECT: bytes, or lines ("3l").
read_view()
{
    local name=$1 path=$2 expect=${3:-}
    if [ -n "$expect" ]; then
        "$probe" read-for "$path" "$view_ms" "$expect" >"$tmp/$name" 2>"$tmp/$name.end"
    else
        "$probe" read-for "$path" "$quiet_ms" >"$tmp/$name" 2>"$tmp/$name.end"
    fi
}

# view_is PATH WHAT LINE...: the view gives exactly these lines (none: it
# gives nothing), and is still waiting at the end (a view of an open shard
# never ends).
view_is()
{
    local path=$1 what=$2
    shift 2
    if [ $# -gt 0 ]; then
        printf '%s\n' "$@" >"$tmp/view.expected"
    else
        : >"$tmp/view.expected"
    fi
    if [ -s "$tmp/view.expected" ]; then
        read_view view "$path" "$(file_size "$tmp/view.expected")"
    else
        read_view view "$path"
    fi
    grep -q '^end: timeout ' "$tmp/view.end" ||
        fail "$what: reading ${path#"$mnt"/} did not go on waiting: $(cat "$tmp/view.end")"
    assert_file_eq "$tmp/view" "$tmp/view.expected" "$what (${path#"$mnt"/})"
}

# view_set_is PATH WHAT LINE...: as view_is, in any order (a stream view
# interleaves its shards).
view_set_is()
{
    local path=$1 what=$2
    shift 2
    printf '%s\n' "$@" | sort >"$tmp/view.expected"
    read_view view "$path" "$(file_size "$tmp/view.expected")"
    grep -q '^end: timeout ' "$tmp/view.end" ||
        fail "$what: reading ${path#"$mnt"/} did not go on waiting: $(cat "$tmp/view.end")"
    sort "$tmp/view" >"$tmp/view.sorted"
    assert_file_eq "$tmp/view.sorted" "$tmp/view.expected" "$what (${path#"$mnt"/}, sorted)"
}

# in_order FILE LINE...: the LINEs appear in FILE in this order.
in_order()
{
    local file=$1
    shift
    grep -x -F -f <(printf '%s\n' "$@") "$file" >"$tmp/order.got" || true
    printf '%s\n' "$@" >"$tmp/order.expected"
    assert_file_eq "$tmp/order.got" "$tmp/order.expected" "order of $* in the view"
}

# view_errno PATH ERRNO WHAT: opening or first reading the view fails with
# ERRNO (a position the service refuses may show at the open or at the
# first read).
view_errno()
{
    read_view err "$1" 1
    grep -q -w "$2" "$tmp/err.end" ||
        fail "$3: reading ${1#"$mnt"/} gave $(tr '\n' ' ' <"$tmp/err.end")and '$(head -c 200 "$tmp/err")', expected $2"
    [ ! -s "$tmp/err" ] || fail "$3: reading ${1#"$mnt"/} gave data: $(head -c 200 "$tmp/err")"
}

# now_s: the time, epoch seconds with nanoseconds.
now_s() { date +%s.%N; }

kfs_mount shards=2
sname=vstream
s=$mnt/$sname
mkdir "$s"
sh0=$s/shardId-000000000000
sh1=$s/shardId-000000000001

# Two keys of shard 0 (MD5 below 2^127).
keys0=()
for k in ka kb kc kd ke kf kg kh ki kj kk kl km kn ko kp; do
    if [ "$(key_shard "$k" 2)" = 0 ]; then
        keys0+=("$k")
    fi
done
[ ${#keys0[@]} -ge 2 ] || error "not two test keys in shard 0"
ka=${keys0[0]}
kb=${keys0[1]}

# put TARGET DATA: a record of DATA (as is, newline or not) put to the
# shard file or key file TARGET: through the mount on the local engine,
# with `aws kinesis put-record` on AWS (its sequence number kept in
# $tmp/cli.seq, "DATA<TAB>SEQ", to check the views' against).
put()
{
    local target=$1 data=$2 sq
    local -a hk=()
    if on_aws; then
        case $target in
        shardId-*) hk=(--explicit-hash-key "$(xattr "$s/$target" hash_key_start)") ;;
        esac
        sq=$(awsk put-record --stream-name "$sname" --partition-key "$target" \
            "${hk[@]}" --data "$data" --query SequenceNumber --output text) ||
            fail "aws kinesis put-record $target failed"
        printf '%s\t%s\n' "${data%$'\n'}" "$sq" >>"$tmp/cli.seq"
    else
        printf '%s' "$data" >>"$s/$target"
        # Distinct arrival times, at millisecond resolution.
        sleep 0.05
    fi
}

# ---- the records -----------------------------------------------------------
# Group A, then 1.2 s later group B; "a2" has no newline (read with one).
#   shard 0: a1 ka1 kb1 a2 | a3 ka2 kb2 a4 ka3
#   shard 1: b1            | b2 b3
put shardId-000000000000 $'a1\n'
put shardId-000000000001 $'b1\n'
put "$ka" $'ka1\n'
put "$kb" $'kb1\n'
put shardId-000000000000 'a2'
t_a_end=$(now_s)
sleep 0.6
t_mid=$(now_s)
sleep 0.6
t_b_start=$(now_s)
put shardId-000000000000 $'a3\n'
put shardId-000000000001 $'b2\n'
put "$ka" $'ka2\n'
put "$kb" $'kb2\n'
put shardId-000000000000 $'a4\n'
put shardId-000000000001 $'b3\n'
put "$ka" $'ka3\n'
msg "group A ended at $t_a_end, B began at $t_b_start, the time between: $t_mid"

all0=(a1 ka1 kb1 a2 a3 ka2 kb2 a4 ka3)
b0=(a3 ka2 kb2 a4 ka3)
all1=(b1 b2 b3)

# ---- sequence numbers, from the JSON lines --------------------------------
: >"$tmp/seq"
for i in 0 1; do
    lines=3l
    [ "$i" = 1 ] || lines=9l
    read_view jsonl$i "$s/$(shard_name $i)@TRIM_HORIZON.jsonl" "$lines"
    jq -r '[(.Data | rtrimstr("\n")), .SequenceNumber] | @tsv' "$tmp/jsonl$i" >>"$tmp/seq" ||
        fail "the JSON lines of shard $i do not parse: $(head -c 500 "$tmp/jsonl$i")"
done
assert_eq "$(cut -f1 "$tmp/seq" | tr '\n' ' ')" "${all0[*]} ${all1[*]} " \
    "the records of both shards in their JSON lines"
if on_aws; then
    sort "$tmp/seq" >"$tmp/seq.sorted"
    sort "$tmp/cli.seq" >"$tmp/cli.seq.sorted"
    assert_file_eq "$tmp/seq.sorted" "$tmp/cli.seq.sorted" \
        "sequence numbers in the JSON lines and from put-record"
fi
# seq DATA: the sequence number of the record DATA.
seq_of() { awk -F '\t' -v d="$1" '$1 == d { print $2 }' "$tmp/seq"; }
for r in "${all0[@]}" "${all1[@]}"; do
    seq_of "$r" | grep -q -x -E '[0-9]{1,128}' ||
        fail "sequence number of $r: '$(seq_of "$r")'"
done

# ---- shard views ------------------------------------------------------------
view_is "$sh0@TRIM_HORIZON" "shard 0 from TRIM_HORIZON" "${all0[@]}"
view_is "$sh1@TRIM_HORIZON" "shard 1 from TRIM_HORIZON" "${all1[@]}"
view_is "$sh0@LATEST" "shard 0 from LATEST"
view_is "$sh0@AT_SEQUENCE_NUMBER=$(seq_of a1)" "shard 0 at its first record" "${all0[@]}"
view_is "$sh0@AT_SEQUENCE_NUMBER=$(seq_of a3)" "shard 0 at a3" "${b0[@]}"
view_is "$sh0@AFTER_SEQUENCE_NUMBER=$(seq_of a3)" "shard 0 after a3" ka2 kb2 a4 ka3
view_is "$sh0@AT_SEQUENCE_NUMBER=$(seq_of a2)" "shard 0 at a2 (no newline)" a2 "${b0[@]}"
view_is "$sh0@AFTER_SEQUENCE_NUMBER=$(seq_of ka3)" "shard 0 after its last record"
view_is "$sh1@AFTER_SEQUENCE_NUMBER=$(seq_of b1)" "shard 1 after b1" b2 b3

# AT_TIMESTAMP: the time between the groups, in every form.
frac=${t_mid#*.}
sec=${t_mid%.*}
iso() { TZ=$1 date -d "@$2" +"$3"; }
# Whole seconds: the next second after group A is before group B (1.2 s).
whole=$((${t_a_end%.*} + 1))
forms=(
    "$(iso UTC "$t_mid" %Y-%m-%dT%H:%M:%S.%3NZ)"
    "$(iso UTC "$t_mid" %Y-%m-%dT%H:%M:%S.%6NZ)"
    "$(iso UTC-2 "$t_mid" %Y-%m-%dT%H:%M:%S.%3N%:z)"
    "$(iso UTC-2 "$t_mid" %Y-%m-%dT%H:%M:%S.%6N%z)"
    "$(iso UTC+5 "$t_mid" %Y-%m-%dT%H:%M:%S.%1N-05)"
    "$(iso UTC "$t_mid" %Y-%m-%dT%H:%M:%S.%3N)"
    "$(iso UTC "$whole" %Y-%m-%dT%H:%M:%SZ)"
    "$(iso UTC-5:30 "$whole" %Y-%m-%dT%H:%M:%S+05:30)"
    "$(iso UTC "$whole" %Y-%m-%dT%H:%M:%S)"
    "$sec.${frac:0:3}"
    "$sec.${frac:0:6}"
    "$whole"
)
for t in "${forms[@]}"; do
    view_is "$sh0@AT_TIMESTAMP=$t" "shard 0 at time $t" "${b0[@]}"
done
view_is "$sh1@AT_TIMESTAMP=${forms[0]}" "shard 1 at time ${forms[0]}" b2 b3
view_is "$sh0@AT_TIMESTAMP=2001-09-09T01:46:40Z" "shard 0 at a time before all" "${all0[@]}"
view_is "$sh0@AT_TIMESTAMP=1000000000" "shard 0 at an epoch before all" "${all0[@]}"

# Framing: with record=line a record without newline reads with one; the
# views read the same bytes as the shard file.
timeout 30 cat "$sh0" >"$tmp/sh0.file"
printf '%s\n' "${all0[@]}" >"$tmp/sh0.expected"
assert_file_eq "$tmp/sh0.file" "$tmp/sh0.expected" "cat of shard 0"

# ---- key views --------------------------------------------------------------
view_is "$s/$ka@TRIM_HORIZON" "key $ka from TRIM_HORIZON" ka1 ka2 ka3
view_is "$s/$ka@LATEST" "key $ka from LATEST"
view_is "$s/$ka@AT_SEQUENCE_NUMBER=$(seq_of ka2)" "key $ka at ka2" ka2 ka3
view_is "$s/$ka@AFTER_SEQUENCE_NUMBER=$(seq_of ka2)" "key $ka after ka2" ka3
view_is "$s/$ka@AT_TIMESTAMP=${forms[0]}" "key $ka at the time between" ka2 ka3
view_is "$s/$kb@AT_TIMESTAMP=${forms[9]}" "key $kb at the time between" kb2
# N may be any record of the stream: its shard is read from N, the others
# from N's arrival.  a3 is of shard 0, b2 of shard 1, arrived after a3.
view_is "$s/$ka@AT_SEQUENCE_NUMBER=$(seq_of a3)" "key $ka at a3 (another key's record)" ka2 ka3
view_is "$s/$ka@AT_SEQUENCE_NUMBER=$(seq_of b2)" "key $ka at b2 (a record of another shard)" ka2 ka3

# ---- stream views -----------------------------------------------------------
view_set_is "$s/@TRIM_HORIZON" "the stream from TRIM_HORIZON" "${all0[@]}" "${all1[@]}"
in_order "$tmp/view" "${all0[@]}"
in_order "$tmp/view" "${all1[@]}"
view_is "$s/@LATEST" "the stream from LATEST"
view_set_is "$s/@AT_SEQUENCE_NUMBER=$(seq_of a3)" "the stream at a3" "${b0[@]}" b2 b3
in_order "$tmp/view" "${b0[@]}"
view_set_is "$s/@AFTER_SEQUENCE_NUMBER=$(seq_of a3)" "the stream after a3" ka2 kb2 a4 ka3 b2 b3
# a3 arrived before b2: reading shard 0 from b2's arrival skips it.
view_set_is "$s/@AT_SEQUENCE_NUMBER=$(seq_of b2)" "the stream at b2" ka2 kb2 a4 ka3 b2 b3
view_set_is "$s/@AT_TIMESTAMP=${forms[2]}" "the stream at the time between" "${b0[@]}" b2 b3
view_set_is "$s/@AT_TIMESTAMP=$whole" "the stream at the whole second between" "${b0[@]}" b2 b3

# ---- sequence numbers that are not there: EINVAL ---------------------------
# One error line each (on AWS the service's answer may be logged at info
# besides).
log_mark
view_errno "$sh1@AT_SEQUENCE_NUMBER=$(seq_of a3)" EINVAL "shard 1 at a record of shard 0"
expect_logged 1 1 "$sname" "shard 1 at a record of shard 0"
view_errno "$sh1@AFTER_SEQUENCE_NUMBER=$(seq_of a1)" EINVAL "shard 1 after a record of shard 0"
expect_logged 1 1 "$sname" "shard 1 after a record of shard 0"
if ! on_aws; then
    # kinesalite answers 500 to such a number used on shard 1 (it reads it
    # as an old-style number of shard 1), the service and the engine
    # InvalidArgumentException.
    view_errno "$sh0@AT_SEQUENCE_NUMBER=1" EINVAL "shard 0 at sequence number 1"
    expect_logged 1 1 "$sname" "shard 0 at sequence number 1"
fi
# A record of another stream, made later (another shard creation time).
mkdir "$mnt/wstream"
echo w1 >>"$mnt/wstream/shardId-000000000000"
read_view wjson "$mnt/wstream/shardId-000000000000@TRIM_HORIZON.jsonl" 1l
wseq=$(jq -r .SequenceNumber "$tmp/wjson")
log_mark
view_errno "$sh0@AT_SEQUENCE_NUMBER=$wseq" EINVAL "shard 0 at a record of another stream"
expect_logged 1 1 "$sname" "shard 0 at a record of another stream"
view_errno "$s/@AT_SEQUENCE_NUMBER=$wseq" EINVAL "the stream at a record of another stream"
expect_logged 1 1 "$sname" "the stream at a record of another stream"
view_errno "$s/$ka@AT_SEQUENCE_NUMBER=$wseq" EINVAL "a key at a record of another stream"
expect_logged 1 1 "$sname" "a key at a record of another stream"

# ---- malformed names: EINVAL, one log line ---------------------------------
long=$(printf '1%.0s' $(seq 129))
log_mark
while read -r name; do
    expect_probe EINVAL open-read "$s/$name"
    expect_logged -i 1 1 "$sname" "open of '$name'"
done <<NAMES
shardId-000000000000@latest
shardId-000000000000@Latest
shardId-000000000000@AT_TIMESTAMP=yesterday
shardId-000000000000@AT_TIMESTAMP=
shardId-000000000000@AT_TIMESTAMP=2025-13-01T00:00:00Z
shardId-000000000000@AT_TIMESTAMP=2025-01-01T25:00:00Z
shardId-000000000000@AT_TIMESTAMP=2025-01-01T00:00:00+25:00
shardId-000000000000@AT_TIMESTAMP=2025-01-01
shardId-000000000000@AT_TIMESTAMP=12ab
shardId-000000000000@AT_SEQUENCE_NUMBER=
shardId-000000000000@AT_SEQUENCE_NUMBER=12x
shardId-000000000000@AT_SEQUENCE_NUMBER=-5
shardId-000000000000@AT_SEQUENCE_NUMBER=$long
shardId-000000000000@AFTER_SEQUENCE_NUMBER=
shardId-000000000000@LATEST.json
shardId-000000000000@LATEST.jsonl.jsonl
shardId-000000000000@TRIM_HORIZON=1
shardId-000000000000@FOO
shardId-000000000000@
@BAD
@latest
@
@AT_TIMESTAMP=yesterday
@AT_SEQUENCE_NUMBER=
@LATEST.json
$ka@AT_TIMESTAMP=noon
$ka@AT_SEQUENCE_NUMBER=12x
$ka@AT_SEQUENCE_NUMBER=
user@AT_TIMESTAMP=noon
user@example.com@AT_TIMESTAMP=noon
NAMES

# ---- a key with '@' is a key -----------------------------------------------
# Like any key file it exists once created (>>), not before: ENOENT.
mail=user@example.com
expect_probe ENOENT stat "$s/$mail"
expect_probe ENOENT open-read "$s/$mail"
echo mail1 >>"$s/$mail"
[ -f "$s/$mail" ] || fail "$mail does not stat as a key file once created"
echo mail2 >>"$s/$mail"
assert_reads "$s/$mail" "mail1
mail2" "the key file $mail"
view_is "$s/$mail@TRIM_HORIZON" "key $mail from TRIM_HORIZON" mail1 mail2
view_is "$s/$mail@LATEST" "key $mail from LATEST"
# Not a keyword after the last '@': the name of a key file (not EINVAL as
# a malformed position), absent until created, then a key file with
# nothing in it.
expect_probe ENOENT stat "$s/$ka@latest"
expect_probe OK creat "$s/$ka@latest"
[ -f "$s/$ka@latest" ] || fail "$ka@latest does not stat as a key file once created"
assert_eq "$(file_size "$s/$ka@latest")" 0 "size of the new key file $ka@latest"
assert_reads "$s/$ka@latest" "" "the key file $ka@latest"
if on_aws; then
    awsk get-records --output json --shard-iterator "$(awsk get-shard-iterator \
        --stream-name "$sname" --shard-id "shardId-00000000000$(key_shard "$mail" 2)" \
        --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text)" >"$tmp/mail.json"
    assert_eq "$(jq -r '.Records[].PartitionKey' "$tmp/mail.json" | grep -c -x -F "$mail")" 2 \
        "records put with partition key $mail"
fi

# ---- views: not listed, read-only, size 0 ----------------------------------
# The directory lists the shards, then the key files created through the
# mount (on the local engine $ka and $kb too, made by put's >>), sorted
# (ls -U: in the directory's own order); no view, although every kind was
# read above.
ls -a -U "$s" >"$tmp/ls"
{
    printf '%s\n' . .. shardId-000000000000 shardId-000000000001
    {
        printf '%s\n' "$mail" "$ka@latest"
        on_aws || printf '%s\n' "$ka" "$kb"
    } | LC_ALL=C sort
} >"$tmp/ls.expected"
assert_file_eq "$tmp/ls" "$tmp/ls.expected" "ls -a of the stream after reading views"
timeout 30 cat "$sh0" "$sh1" >"$tmp/before-writes"
log_mark
for v in "shardId-000000000000@LATEST" "shardId-000000000001@TRIM_HORIZON" \
         "shardId-000000000000@AT_SEQUENCE_NUMBER=$(seq_of a1)" "@LATEST" \
         "@TRIM_HORIZON.jsonl" "$ka@LATEST" "$mail@LATEST" \
         "shardId-000000000000@AT_TIMESTAMP=${forms[0]}.jsonl"; do
    t0=$(date +%s)
    [ -f "$s/$v" ] || fail "the view $v does not stat as a regular file"
    assert_eq "$(file_size "$s/$v")" 0 "size of the view $v"
    mt=$(stat -c %Y "$s/$v")
    t1=$(date +%s)
    if [ "$mt" -lt "$((t0 - 1))" ] || [ "$mt" -gt "$((t1 + 1))" ]; then
        fail "mtime of the view $v is $mt, not the time of the stat ($t0..$t1)"
    fi
    expect_probe EACCES open-write "$s/$v"
    expect_logged -i 0 1 "$sname" "open of the view $v for writing"
    expect_probe EACCES creat "$s/$v"
    expect_logged -i 0 1 "$sname" "creat of the view $v"
    expect_probe EACCES write "$s/$v" 3
    expect_logged -i 0 1 "$sname" "write to the view $v"
done
expect_logged 0 0 "-" "stat of views"
# Nothing reached the stream.
timeout 30 cat "$sh0" "$sh1" >"$tmp/after-writes"
assert_file_eq "$tmp/after-writes" "$tmp/before-writes" "the shards after the refused writes to views"

# ---- head(1) on a view: it puts the offset back, and ends cleanly ------------
# head reads a buffer, prints its lines, then lseeks back over what it read
# past them; on a regular file that cannot seek it fails (status 1).
head -n 2 "$sh0" >"$tmp/head.expected"
timeout 30 head -n 2 "$s/shardId-000000000000@TRIM_HORIZON" >"$tmp/head" 2>"$tmp/head.err" ||
    fail "head -n 2 of a shard view: status $?: $(cat "$tmp/head.err")"
assert_file_eq "$tmp/head" "$tmp/head.expected" "head -n 2 of a shard view"
[ ! -s "$tmp/head.err" ] || fail "head -n 2 of a shard view said: $(cat "$tmp/head.err")"
timeout 30 head -n 1 "$s/@TRIM_HORIZON.jsonl" >"$tmp/head.jsonl" 2>"$tmp/head.err" ||
    fail "head -n 1 of a .jsonl view: status $?: $(cat "$tmp/head.err")"
[ "$(jq -r .ShardId "$tmp/head.jsonl")" = shardId-000000000000 ] ||
    fail "head -n 1 of @TRIM_HORIZON.jsonl: $(cat "$tmp/head.jsonl")"
# Read again from offset 0 after a seek back: the same bytes (a view read
# behind where it is starts again from its position).
"$probe" reread "$s/shardId-000000000000@TRIM_HORIZON" 16 >"$tmp/at0" ||
    fail "reread of a shard view: $(cat "$tmp/at0")"
head -c 16 "$sh0" >"$tmp/at0.expected"
assert_file_eq "$tmp/at0" "$tmp/at0.expected" "a shard view read again from offset 0"

# ---- views of what does not exist: ENOENT ------------------------------------
expect_probe ENOENT open-read "$s/shardId-000000000002@LATEST"
expect_logged -i 0 1 "shardId-000000000002" "a view of a missing shard"
expect_probe ENOENT open-read "$mnt/nostream/@LATEST"
expect_logged -i 0 1 "nostream" "a view of a missing stream"
expect_probe ENOENT open-read "$mnt/nostream/shardId-000000000000@TRIM_HORIZON"
expect_logged -i 0 1 "nostream" "a shard view of a missing stream"

# ---- AWS: a key's records in another shard (an explicit hash key) ------------
# Key views read every shard, as key files do: a writer may put a key's
# records anywhere with an explicit hash key.  (Through the mount a key's
# records always go where MD5 puts them.)
if on_aws; then
    # $ka's records were put with the aws CLI: its key file does not exist
    # until created, and then starts empty (its window starts at the tip).
    expect_probe ENOENT stat "$s/$ka"
    touch "$s/$ka"
    assert_reads "$s/$ka" "" "key file $ka just created"
    sq=$(awsk put-record --stream-name "$sname" --partition-key "$ka" \
        --explicit-hash-key "$(xattr "$sh1" hash_key_start)" --data $'ka-elsewhere\n' \
        --query SequenceNumber --output text)
    # kinesalite never answers GetShardIterator AT_TIMESTAMP when the shard
    # has no record at or after the time (the service gives the tip): give
    # shard 0 one, for the view at ka-elsewhere below.
    put shardId-000000000000 $'a5\n'
    assert_reads "$s/$ka" "ka-elsewhere" "key file $ka with a record put to shard 1"
    view_set_is "$s/$ka@TRIM_HORIZON" "key $ka with a record put to shard 1" ka1 ka2 ka3 ka-elsewhere
    view_is "$s/$ka@AT_SEQUENCE_NUMBER=$sq" "key $ka at its record in shard 1" ka-elsewhere
fi

settle "$s"
kfs_umount
