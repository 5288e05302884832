#!/usr/bin/env bash
# keyfiles-memory.sh - lookups of names that do not exist cost no memory
# that stays (SPEC 3): 1,000,000 stat(2)s of distinct missing names in a
# stream (kfs-probe stat-many, two at a time), each ENOENT, then 10,000 key
# files created and left empty (kfs-probe create-many), each created; the
# daemon's VmRSS (/proc/PID/status) stays under 64 MiB, and the test prints
# it.  Before contract version 2 every name existed, and each lookup left a
# node in libfuse's table: sed -i's 238,328 lookups took the daemon from 25
# to 69 MB.  Local engine (KFS_MEMORY_LOOKUPS=N changes the count).
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
kfs_setup
: "${KFS_MEMORY_LOOKUPS:=1000000}"
limit_kib=$((64 * 1024))

kfs_mount
s=$mnt/mem
mkdir "$s"
echo "a record" >>"$s/present"

# rss: the daemon's VmRSS in KiB.
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$kfs_pid/status"; }

before=$(rss)
half=$((KFS_MEMORY_LOOKUPS / 2))
"$probe" stat-many "$s" a- "$half" >"$tmp/stat.a" &
a=$!
"$probe" stat-many "$s" b- "$((KFS_MEMORY_LOOKUPS - half))" >"$tmp/stat.b" &
b=$!
wait "$a" || fail "kfs-probe stat-many failed"
wait "$b" || fail "kfs-probe stat-many failed"
after_lookups=$(rss)
msg "VmRSS: $((before / 1024)) MiB at the start, $((after_lookups / 1024)) MiB after $KFS_MEMORY_LOOKUPS lookups of missing names"
assert_eq "$(cat "$tmp/stat.a")" "ENOENT $half" "stat of $half missing names (a-N)"
assert_eq "$(cat "$tmp/stat.b")" "ENOENT $((KFS_MEMORY_LOOKUPS - half))" "stat of the other missing names (b-N)"

"$probe" create-many "$s" empty- 10000 >"$tmp/create" || fail "kfs-probe create-many failed"
assert_eq "$(cat "$tmp/create")" "OK 10000" "10,000 key files created"
after_create=$(rss)
expect_probe OK stat "$s/empty-9999"
assert_eq "$(file_size "$s/empty-9999")" 0 "the size of a key file created empty"
ls "$s" >"$tmp/names" || fail "ls $s failed"
assert_eq "$(grep -c '^empty-' "$tmp/names" || true)" 10000 "key files listed"

msg "VmRSS: $((after_create / 1024)) MiB after 10,000 empty key files (limit $((limit_kib / 1024)) MiB)"
if [ "$KFS_VALGRIND" != 1 ] && [ "$KFS_TSAN" != 1 ] && [ "${KFS_ASAN:-}" != 1 ]; then
    [ "$after_lookups" -lt "$limit_kib" ] ||
        fail "VmRSS $after_lookups KiB after the lookups, over $limit_kib"
    [ "$after_create" -lt "$limit_kib" ] ||
        fail "VmRSS $after_create KiB after the key files, over $limit_kib"
fi

kfs_umount
