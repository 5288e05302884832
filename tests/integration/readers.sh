#!/usr/bin/env bash
# readers.sh - named readers (docs/reading.md, "Named readers"), on both
# backends:
#   - 100 cron-style batch runs (cat S/@BATCH=cron > batch.N) against a
#     steady writer to two keys over two shards: their union is every
#     record exactly once, each key's in order;
#   - the kill matrix: a reader that commits (fsync) and reads on is
#     killed with SIGKILL, the daemon is killed, or both: the next run
#     starts right after the last commit (nothing skipped; only what was
#     read after it comes again); a reader that fails (exit 1) or is
#     killed does not commit at its close;
#   - a commit within a KPL aggregated record resumes at its next user
#     record;
#   - a reshard between two runs: the second run gets exactly the records
#     put since, the parent's before its children's;
#   - two names read independently; one open of a name at a time (EBUSY);
#     names listed, inspected (positions, lag), reset and removed; lag in
#     @metrics; bad names are EINVAL.
#   - AWS: a following reader outlasts iterators that expire.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires getfattr --version
requires setfattr --version
requires python3 --version

kfs_setup
if on_aws; then
    fault_proxy_start
fi
s=$mnt/orders
kfs_mount shards=2${KFS_DBG:+,debug}
mkdir "$s"

# ---- 100 batch runs against a steady writer ------------------------------
(
    i=0
    while [ ! -e "$tmp/stop" ]; do
        i=$((i + 1))
        echo "a $i" >>"$s/ka"
        echo "b $i" >>"$s/kb"
        sleep 0.01
    done
    echo "$i" >"$tmp/written"
) &
writer_pid=$!
for n in $(seq 1 100); do
    cat "$s/@BATCH=cron" >"$tmp/batch.$n" || fail "batch run $n failed"
    sleep 0.02
done
touch "$tmp/stop"
wait "$writer_pid"
w=$(cat "$tmp/written")
settle "$s/ka"
cat "$s/@BATCH=cron" >"$tmp/batch.last"
for n in $(seq 1 100) last; do cat "$tmp/batch.$n"; done >"$tmp/union"
for k in a b; do
    seq -f "$k %g" 1 "$w" >"$tmp/want.$k"
    grep "^$k " "$tmp/union" | sort -k2n >"$tmp/got.$k"
    assert_file_eq "$tmp/got.$k" "$tmp/want.$k" "100 batch runs, key $k: every record once"
    grep "^$k " "$tmp/union" | cmp -s - "$tmp/got.$k" ||
        fail "100 batch runs, key $k: not in the order written"
done
nonempty=$(find "$tmp" -maxdepth 1 -name 'batch.*' -size +0 | wc -l)
msg "100 batch runs against a steady writer: $w records of each key, each once ($nonempty runs got records)"

# ---- the kill matrix -----------------------------------------------------
# consume NAME READ COMMIT MORE END: reads the view S/@READER=NAME line by
# line (os.read, no buffering of its own), fsyncs after READ lines
# (COMMIT=1), reads MORE lines, then ends as END says: exit0, exit1 or
# kill (SIGKILL of itself).  Prints the lines it got; the last record
# handed over before the fsync is in $tmp/committed.
consume()
{
    python3 - "$s/@READER=$1" "$2" "$3" "$4" "$5" "$tmp/committed" <<'EOF'
import os, signal, sys
path, nread, commit, more, end, mark = sys.argv[1:7]
fd = os.open(path, os.O_RDONLY)
buf = b""
lines = []
def take(n):
    global buf
    while len(lines) < n:
        chunk = os.read(fd, 64)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append(line.decode())
take(int(nread))
if commit == "1":
    os.fsync(fd)
    with open(mark, "w") as f:
        f.write(lines[-1] if lines else "")
take(int(nread) + int(more))
sys.stdout.write("".join(l + "\n" for l in lines))
sys.stdout.flush()
if end == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if end == "exit1":
    os._exit(1)
os.close(fd)
EOF
}

seq -f 'm %g' 1 400 >"$tmp/m"
cat "$tmp/m" >>"$s/km"
settle "$s/km"
setfattr -n user.kinesis.reader.kill -v LATEST "$s"
seq -f 'n %g' 1 300 >>"$s/km"
settle "$s/km"
# Reads from the name's position; the next line must follow `after`.
expect_next()
{
    local what=$1 after=$2 first
    first=$(cat "$s/@BATCH=kill" | head -n 1)
    assert_eq "$first" "n $((${after#n } + 1))" "$what: the first record of the next run"
}
consume kill 10 1 20 kill >/dev/null 2>&1 || true
expect_next "reader killed after a commit" "$(cat "$tmp/committed")"
msg "kill -9 of the reader: it starts after the last commit ($(cat "$tmp/committed"))"
setfattr -n user.kinesis.reader.kill -v LATEST "$s"
seq -f 'n %g' 1 300 >>"$s/km"
settle "$s/km"
consume kill 15 1 20 exit1 >/dev/null || true
expect_next "reader failing after a commit" "$(cat "$tmp/committed")"

# The daemon killed while the reader is open, after its commit.
setfattr -n user.kinesis.reader.kill -v LATEST "$s"
seq -f 'n %g' 1 300 >>"$s/km"
settle "$s/km"
python3 - "$s/@READER=kill" "$tmp/committed" "$tmp/ready" <<'EOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
got = b""
while got.count(b"\n") < 25:
    got += os.read(fd, 64)
lines = got.split(b"\n")[:-1]
os.fsync(fd)
open(sys.argv[2], "w").write(lines[-1].decode())
while got.count(b"\n") < 60:
    got += os.read(fd, 64)
open(sys.argv[3], "w").close()
time.sleep(60)
EOF
py=$!
wait_for 10 "the reader read on after its commit" test -e "$tmp/ready"
kfs_kill9
kill -KILL "$py" 2>/dev/null || true
wait "$py" 2>/dev/null || true
kfs_mount shards=2${KFS_DBG:+,debug}
expect_next "daemon killed after the reader's commit" "$(cat "$tmp/committed")"
msg "kill -9 of the daemon (and of the reader): it starts after the last commit ($(cat "$tmp/committed"))"

# ---- kills at any moment ------------------------------------------------
# A follower reads at random sizes and commits (fsync) at random, logging
# each whole line it got ("R N") and each commit ("C": the lines logged
# before it are committed); it is killed with SIGKILL after a random
# time, or the daemon is.  Each run must start after the last line known
# committed, and no later than after the last line received: nothing
# skipped, nothing read again but what came after the last commit.
kfs_seed
setfattr -n user.kinesis.reader.rand -v LATEST "$s"
seq -f 'r %g' 1 2000 >>"$s/kx"
settle "$s/kx"
cat >"$tmp/rand.py" <<'PY'
import os, random, sys
path, log, seed = sys.argv[1:4]
random.seed(int(seed))
fd = os.open(path, os.O_RDONLY)
out = open(log, "a", buffering=1)
out.write("O\n")
buf = b""
while True:
    buf += os.read(fd, random.randint(1, 200))
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        out.write("R %s\n" % line.decode().split()[1])
    if random.random() < 0.3:
        os.fsync(fd)
        out.write("C\n")
PY
cat >"$tmp/rand-check.py" <<'PY'
import sys
# The log of every run: each run's first line is after the last line
# committed before it, and at most one after the last line received.
runs, cur = [], None
for line in open(sys.argv[1]):
    w = line.split()
    if w[0] == "O":
        cur = {"first": None, "last": None, "committed": None, "lines": []}
        runs.append(cur)
    elif w[0] == "R":
        n = int(w[1])
        cur["lines"].append(n)
        if cur["first"] is None:
            cur["first"] = n
        cur["last"] = n
    elif w[0] == "C" and cur["last"] is not None:
        cur["committed"] = cur["last"]
known, received, got = 0, 0, set()
for i, r in enumerate(runs):
    if r["first"] is not None:
        if not (known + 1 <= r["first"] <= received + 1):
            sys.exit("run %d started at %d: the last commit known was %d, "
                     "the last line received %d" % (i + 1, r["first"], known,
                                                    received))
        received = r["last"]
    if r["committed"] is not None:
        known = max(known, r["committed"])
    got.update(r["lines"])
print(len(runs), known, received, len(got))
PY
: >"$tmp/rand.log"
daemon_kills=0
for it in $(seq 1 16); do
    rand 400
    delay=$((rand + 30))
    python3 "$tmp/rand.py" "$s/@READER=rand" "$tmp/rand.log" "$it" 2>/dev/null &
    py=$!
    sleep "$(printf '0.%03d' "$delay")"
    rand 5
    if [ "$rand" = 0 ] && [ "$daemon_kills" -lt 3 ]; then
        daemon_kills=$((daemon_kills + 1))
        kfs_kill9
        kill -KILL "$py" 2>/dev/null || true
        wait "$py" 2>/dev/null || true
        kfs_mount shards=2${KFS_DBG:+,debug}
    else
        kill -KILL "$py" 2>/dev/null || true
        wait "$py" 2>/dev/null || true
    fi
    python3 "$tmp/rand-check.py" "$tmp/rand.log" >/dev/null ||
        fail "kills at random moments: see above (seed $KFS_SEED)"
done
# What is left, to the end: with it, every line was read.
echo O >>"$tmp/rand.log"
cat "$s/@BATCH=rand" | sed 's/^r /R /' >>"$tmp/rand.log"
read -r runs known received distinct < <(python3 "$tmp/rand-check.py" "$tmp/rand.log")
assert_eq "$distinct" 2000 "lines read over $runs runs killed at random moments"
msg "16 runs killed at random moments ($daemon_kills with the daemon): each started after its last commit, no line skipped"

# ---- a commit within an aggregated record --------------------------------
setfattr -n user.kinesis.aggregate -v 1 "$s"
setfattr -n user.kinesis.reader.agg -v LATEST "$s"
seq -f 'g%04g' 1 50 >>"$s/kg"
settle "$s/kg"
setfattr -n user.kinesis.aggregate -v 0 "$s"
python3 - "$s/@READER=agg" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
got = os.read(fd, 6) + os.read(fd, 6) + os.read(fd, 6)
assert got == b"g0001\ng0002\ng0003\n", got
os.fsync(fd)
os.close(fd)
EOF
cat "$s/@BATCH=agg.jsonl" >"$tmp/agg.jsonl"
first=$(head -n 1 "$tmp/agg.jsonl")
case $first in
*'"SubSequenceNumber":3'*'"Data":"g0004\n"'* | *'"Data":"g0004\n"'*'"SubSequenceNumber":3'*) ;;
*) fail "a commit within an aggregated record: the next run starts with $first" ;;
esac
assert_eq "$(grep -c '' "$tmp/agg.jsonl")" 47 "records after a commit within an aggregated record"
msg "a commit at user record 3 of an aggregated record: the next run starts at SubSequenceNumber 3"

# ---- a reshard between two runs ------------------------------------------
cat "$s/@BATCH=rs" >/dev/null
seq -f 'p %g' 1 200 >>"$s/kr"
settle "$s/kr"
if on_aws; then
    # kinesalite has no UpdateShardCount: shard 0 is split in two.
    awsk split-shard --stream-name orders --shard-to-split shardId-000000000000 \
        --new-starting-hash-key 85070591730234615865843651857942052864
    open=3
else
    setfattr -n user.kinesis.shard_count -v 4 "$s"
    open=4
fi
wait_for 30 "$open open shards" sh -c "[ \"\$(getfattr --absolute-names -n user.kinesis.open_shard_count --only-values '$s')\" = $open ]"
seq -f 'c %g' 1 200 >>"$s/kr"
settle "$s/kr"
cat "$s/@BATCH=rs" >"$tmp/rs"
grep -v '^[pc] ' "$tmp/rs" | grep -q . && fail "the run after the reshard read records of before it"
seq -f 'p %g' 1 200 >"$tmp/want.rs"
seq -f 'c %g' 1 200 >>"$tmp/want.rs"
assert_file_eq "$tmp/rs" "$tmp/want.rs" "records put around a reshard, parents first"
assert_eq "$(cat "$s/@BATCH=rs" | wc -l)" 0 "a run with nothing new"
msg "a reshard (2 -> $open open shards) between two runs: the records since, parents first"

# ---- names: two, one at a time, inspected, reset, removed ----------------
cat "$s/@BATCH=one" >"$tmp/one"
cat "$s/@BATCH=two" >"$tmp/two"
assert_file_eq "$tmp/one" "$tmp/two" "two names read the same records independently"
cat "$s/@READER=one" >/dev/null &
follower=$!
wait_for 10 "the follower at the tip, no lag" sh -c "getfattr --absolute-names -n user.kinesis.reader.one --only-values '$s' | grep '\"open\":true' | grep -q '\"lag_records\":0,\"lag_bytes\":0,\"lag_millis\":0'"
expect_probe EBUSY open-read "$s/@BATCH=one"
expect_log "reader one is open already"
kill -TERM "$follower"
wait "$follower" 2>/dev/null || true
names=$(getfattr --absolute-names -n user.kinesis.readers --only-values "$s" | sort | tr '\n' ' ')
assert_eq "$names" "agg cron kill one rand rs two " "the names listed"
echo "late" >>"$s/ka"
settle "$s/ka"
report=$(getfattr --absolute-names -n user.kinesis.reader.one --only-values "$s")
case $report in
*'"lag_records":1,'*) ;;
*) on_aws || fail "the lag of reader one after one more record: $report" ;;
esac
grep -q '^kinesisfs_reader_open{stream="orders",reader="one"} 0$' "$mnt/@metrics" ||
    fail "@metrics does not list reader one"
on_aws || grep -q '^kinesisfs_reader_lag_millis{stream="orders",reader="one"}' "$mnt/@metrics" ||
    fail "@metrics has no lag of reader one"
on_aws || grep -q '^kinesisfs_reader_lag_records{stream="orders",reader="one"} 1$' "$mnt/@metrics" ||
    fail "@metrics: reader one's lag in records"
setfattr -n user.kinesis.reader.one -v TRIM_HORIZON "$s"
assert_eq "$(cat "$s/@BATCH=one" | wc -l)" "$(($(wc -l <"$tmp/two") + 1))" "a reset name reads from TRIM_HORIZON again"
setfattr -x user.kinesis.reader.two "$s"
getfattr --absolute-names -n user.kinesis.readers --only-values "$s" | grep -qx two &&
    fail "a removed name is still listed"
# A key's and a shard's names.
cat "$s/ka@BATCH=kview" >"$tmp/kv1"
grep -v '^a \|^late$' "$tmp/kv1" | grep -q . && fail "a key's named view read another key's records"
echo "a more" >>"$s/ka"
settle "$s/ka"
assert_eq "$(cat "$s/ka@BATCH=kview")" "a more" "a key's named view, run again"
expect_probe EINVAL open-read "$s/kb@BATCH=kview"
expect_log "reader kview reads key ka: one name reads one thing"
s0=$(shard_name 0)
cat "$s/$s0" >"$tmp/s0"
cat "$s/$s0@BATCH=sview" >"$tmp/s0v"
assert_file_eq "$tmp/s0v" "$tmp/s0" "a shard's named view, first run"
assert_eq "$(cat "$s/$s0@BATCH=sview" | wc -l)" 0 "a closed shard's named view, run again"
expect_probe EINVAL open-read "$s/@READER=a b"
expect_probe EINVAL open-read "$s/@READER=.hidden"
expect_probe EINVAL open-read "$s/@BATCH="
expect_log "not a view: POSITION is"
expect_probe EINVAL setxattr "$s" user.kinesis.reader.x yesterday
expect_log "the value is a position"
msg "names: independent, one open at a time (EBUSY), listed, lag shown, reset, removed"

# ---- AWS: iterators that expire under a follower --------------------------
if on_aws; then
    setfattr -n user.kinesis.reader.exp -v LATEST "$s"
    cat "$s/@READER=exp" >"$tmp/exp" &
    follower=$!
    sleep 1
    fault_mode "expired rate=0.5"
    wait_for 5 "the fault proxy expires iterators" _fault_mode_is "expired rate=0.5"
    seq -f 'e %g' 1 100 >>"$s/ke"
    settle "$s/ke"
    wait_for 20 "the follower read 100 records" sh -c "[ \$(grep -c '^e ' '$tmp/exp') -ge 100 ]"
    fault_mode none
    kill -TERM "$follower"
    wait "$follower" 2>/dev/null || true
    seq -f 'e %g' 1 100 >"$tmp/want.exp"
    assert_file_eq "$tmp/exp" "$tmp/want.exp" "a follower whose iterators expire"
    expired=$(stat_of faults.expired)
    [ "$expired" -gt 0 ] || fail "no iterator expired under the follower"
    msg "a follower through expired iterators: every record once ($expired expired)"
fi
kfs_umount
