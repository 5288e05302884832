#!/usr/bin/env bash
# recipes.sh - the recipes of docs/guide.md, run as they are written there
# (each block after a "<!-- recipe: NAME -->" line; functions-logs.sh),
# with /mnt/kinesis pointed at the test's mount and /var/log into the
# test's directory, and what each is said to do checked: a legacy
# program's log through a symbolic link (logrotate skips the link), a
# program opening it with O_TRUNC, shipping an ordinary log file with
# tail -F across a rotation, live monitoring with @LATEST and grep, tail -f
# of a shard file, jq on the JSON lines views, resharding with setfattr.
# On both backends, but resharding is the local engine's (kinesalite has
# no UpdateShardCount).  The recipes for programs that write logs (nginx,
# rsyslog, Python logging, logrotate) are run by the tests of those
# programs (nginx.sh, rsyslog.sh, pylogging.sh, logrotate.sh); this test
# checks that every recipe of the guide is run by some test.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires jq --version
requires getfattr --version
requires setfattr --version
requires logrotate --version
requires setsid --version
requires pgrep --version

kfs_setup
# shellcheck source=functions-logs.sh
. "$testdir/functions-logs.sh"
kfs_mount linger_ms=5
logs=$mnt/logs

# Every recipe of the guide is run by a test.
grep '^<!-- recipe: .* -->$' "$guide" | sed -e 's/^<!-- recipe: //' -e 's/ -->$//' >"$tmp/recipes"
[ -s "$tmp/recipes" ] || fail "no recipe found in $guide"
while read -r name; do
    grep -q -E "(run|start)_recipe $name\b" "$testdir"/*.sh ||
        fail "recipe $name of docs/guide.md is run by no test"
done <"$tmp/recipes"

# group_has_open GROUP PATH: a process of the group holds PATH open.
group_has_open()
{
    local p
    for p in $(pgrep -g "$1" || true); do
        has_open "$p" "$2" && return 0
    done
    return 1
}

# lines_are FILE N: FILE has N lines.
lines_are() { [ "$(wc -l <"$1")" -eq "$2" ]; }

# ---- a legacy program's log through a symbolic link ---------------------

run_recipe legacy-link
assert_eq "$(readlink "$varlog/myapp/app.log")" "$logs/myapp" "the link of legacy-link"
run_recipe legacy-write
printf 'GET /item/%s 200\n' 1 2 3 >"$tmp/want"
assert_file_eq "$tmp/out.legacy-write" "$tmp/want" "legacy-write's cat"
# A program that opens with O_TRUNC: the key file shows what came after,
# the stream keeps every record.
run_recipe legacy-truncate
printf 'GET /item/%s 200\n' 4 1 2 3 4 >"$tmp/want"
assert_file_eq "$tmp/out.legacy-truncate" "$tmp/want" "legacy-truncate's cat of the key file, then of the shard"

# logrotate skips the link.
cat >"$tmp/lr-link.conf" <<EOF
$varlog/myapp/app.log {
    rotate 3
    copytruncate
}
EOF
logrotate -v -f -s "$tmp/lr.state" "$tmp/lr-link.conf" >"$tmp/lr.out" 2>&1 || true
grep -q 'is symbolic link.*skipping' "$tmp/lr.out" || fail "logrotate did not skip the link: $(cat "$tmp/lr.out")"
cat "$logs/myapp" >"$tmp/got"
printf 'GET /item/%s 200\n' 4 >"$tmp/want"
assert_file_eq "$tmp/got" "$tmp/want" "the key file after logrotate skipped the link"

# ---- an ordinary log file shipped with tail -F, across a rotation --------

mkdir "$varlog/other"
: >"$varlog/other/app.log"
start_recipe ship-tail
ship=$group
wait_for 10 "tail -F has the log open" group_has_open "$ship" "$varlog/other/app.log"
for i in 1 2 3 4 5; do echo "other $i" >>"$varlog/other/app.log"; done
wait_for 10 "the first lines are shipped" lines_are "$logs/other" 5
cat >"$tmp/lr-other.conf" <<EOF
$varlog/other/app.log {
    rotate 1
    create
}
EOF
logrotate -f -s "$tmp/lr.state3" "$tmp/lr-other.conf" || fail "logrotate of the ordinary log failed"
[ -f "$varlog/other/app.log.1" ] || fail "logrotate did not rotate $varlog/other/app.log"
for i in 6 7 8 9 10; do echo "other $i" >>"$varlog/other/app.log"; done
wait_for 15 "the lines after the rotation are shipped" lines_are "$logs/other" 10
printf 'other %s\n' $(seq 1 10) >"$tmp/want"
cat "$logs/other" >"$tmp/got"
assert_file_eq "$tmp/got" "$tmp/want" "the shipped lines"
stop_group "$ship"

# ---- live monitoring -----------------------------------------------------

start_recipe monitor
mon=$group
wait_for 10 "the monitor has the view open" group_has_open "$mon" "$logs/shardId-000000000000@LATEST"
printf '%s\n' 'ok 1' 'ERROR disk full' 'ok 2' 'ERROR retry' >>"$logs/mon"
wait_for 10 "the monitor prints the two ERROR lines" lines_are "$tmp/out.monitor" 2
printf '%s\n' 'ERROR disk full' 'ERROR retry' >"$tmp/want"
assert_file_eq "$tmp/out.monitor" "$tmp/want" "the monitor's output"
stop_group "$mon"

start_recipe tail-f
tf=$group
wait_for 10 "tail -f prints the last 2 lines" lines_are "$tmp/out.tail-f" 2
echo 'followed' >>"$logs/tailf"
wait_for 10 "tail -f prints the new line" lines_are "$tmp/out.tail-f" 3
printf '%s\n' 'ok 2' 'ERROR retry' 'followed' >"$tmp/want"
assert_file_eq "$tmp/out.tail-f" "$tmp/want" "tail -f's output"
stop_group "$tf"

# ---- jq ---------------------------------------------------------------------

run_recipe jq-count
printf '%7d %s\n' 4 mon 4 myapp 10 other 1 tailf >"$tmp/want"
assert_file_eq "$tmp/out.jq-count" "$tmp/want" "jq-count's counts"

start_recipe jq-live
jl=$group
wait_for 10 "jq-live has the view open" group_has_open "$jl" "$logs/@LATEST.jsonl"
printf '%s\n' 'fine' 'ERROR in jq' >>"$logs/jqkey"
wait_for 10 "jq-live prints the ERROR line" lines_are "$tmp/out.jq-live" 1
grep -q -x -E '20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z jqkey ERROR in jq' "$tmp/out.jq-live" ||
    fail "jq-live printed: $(cat "$tmp/out.jq-live")"
stop_group "$jl"

# ---- resharding (local engine) ---------------------------------------------

if ! on_aws; then
    run_recipe reshard
    printf '%s\n' shardId-000000000000 shardId-000000000001 shardId-000000000002 >"$tmp/want"
    grep '^shardId' "$tmp/out.reshard" >"$tmp/got"
    assert_file_eq "$tmp/got" "$tmp/want" "ls after the reshard"
    grep -q -x 'user.kinesis.state="CLOSED"' "$tmp/out.reshard" || fail "reshard: $(cat "$tmp/out.reshard")"
    grep -q -x 'user.kinesis.parent_shard_id="shardId-000000000000"' "$tmp/out.reshard" ||
        fail "reshard: $(cat "$tmp/out.reshard")"
    assert_eq "$(xattr "$logs/shardId-000000000002" parent_shard_id)" shardId-000000000000 \
        "the second child's parent"
    # The closed shard ends, its @LATEST view at once; new records go to
    # the children, and the key file reads across the change in order.
    timeout 10 cat "$logs/shardId-000000000000" >/dev/null || fail "cat of the closed shard did not end"
    timeout 10 cat "$logs/shardId-000000000000@LATEST" >"$tmp/got" ||
        fail "the closed shard's @LATEST view did not end"
    [ ! -s "$tmp/got" ] || fail "the closed shard's @LATEST view gave: $(cat "$tmp/got")"
    size0=$(file_size "$logs/shardId-000000000000")
    echo 'GET /item/5 200' >>"$varlog/myapp/app.log"
    assert_eq "$(file_size "$logs/shardId-000000000000")" "$size0" "the closed shard's size after a write"
    printf 'GET /item/%s 200\n' 4 5 >"$tmp/want"
    cat "$logs/myapp" >"$tmp/got"
    assert_file_eq "$tmp/got" "$tmp/want" "the key file across the reshard"
    read_into "$tmp/child1" "$logs/shardId-000000000001"
    read_into "$tmp/child2" "$logs/shardId-000000000002"
    assert_eq "$(cat "$tmp/child1" "$tmp/child2" | grep -c -x 'GET /item/5 200')" 1 \
        "the new record in one of the children"
fi

settle "$logs"
kfs_umount
