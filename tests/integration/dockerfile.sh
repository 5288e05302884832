#!/usr/bin/env bash
# dockerfile.sh - the Dockerfile, without a Docker engine
# (docs/containers.md): the build stage's commands are run for real, in a
# copy of the source tree made through .dockerignore, and their result
# runs; every package either stage names exists in Debian 12; each
# pkg-config module configure.ac asks for comes from a package of the
# build stage; every shared library the built kinesisfs needs (ldd) comes
# from a package the runtime stage installs, or from one of their
# dependencies or Debian's essential set, which debian:12-slim holds.
# Then the image's ENTRYPOINT, run as it is written, mounts on
# $KINESISFS_MOUNT in the foreground and exits 0 on SIGTERM.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

# Checking a Dockerfile against Debian takes Debian's tools: elsewhere the
# test has nothing to check against.
for t in apt-cache dpkg-query ldd; do
    if ! command -v "$t" >/dev/null; then
        echo "$testname: SKIP: $t is missing (not a Debian system)"
        exit 77
    fi
done
requires jq --version
requires autoreconf --version
requires make --version

dockerfile=$KFS_SRCDIR/Dockerfile
[ -f "$dockerfile" ] || fail "$dockerfile is missing"
[ -f "$KFS_SRCDIR/.dockerignore" ] || fail "$KFS_SRCDIR/.dockerignore is missing"

kfs_setup

# ---- parse: one instruction a line, continuations joined ------------------

# "STAGE<TAB>INSTRUCTION<TAB>ARGUMENTS" lines; STAGE counts FROMs from 1.
awk 'BEGIN { OFS = "\t" }
     /^[[:space:]]*#/ && cont == "" { next }
     {
         line = cont $0
         if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, " ", line); cont = line; next }
         cont = ""
         if (line ~ /^[[:space:]]*$/) next
         sub(/^[[:space:]]+/, "", line)
         split(line, w, /[[:space:]]+/)
         ins = toupper(w[1])
         if (ins == "FROM") stage++
         args = substr(line, length(w[1]) + 1)
         sub(/^[[:space:]]+/, "", args)
         gsub(/[[:space:]]+/, " ", args)
         print stage, ins, args
     }' "$dockerfile" >"$tmp/instructions"

# instr STAGE INSTRUCTION: the arguments of each such instruction.
instr() { awk -F '\t' -v s="$1" -v i="$2" '$1 == s && $2 == i { print $3 }' "$tmp/instructions"; }

nstages=$(awk -F '\t' '$2 == "FROM"' "$tmp/instructions" | wc -l)
assert_eq "$nstages" 2 "FROM instructions (a build stage and a runtime stage)"
assert_eq "$(instr 1 FROM)" "debian:12 AS build" "the build stage's FROM"
assert_eq "$(instr 2 FROM)" "debian:12-slim" "the runtime stage's FROM"

# apt_packages STAGE: the packages its apt-get install names.
apt_packages()
{
    instr "$1" RUN | tr ' ' '\n' |
        awk '/^(&&|;|\|\|)$/ { on = 0 } on && !/^-/ { print } $0 == "install" { on = 1 }' |
        sort -u
}
apt_packages 1 >"$tmp/build.pkgs"
apt_packages 2 >"$tmp/runtime.pkgs"
[ -s "$tmp/build.pkgs" ] || fail "the build stage installs no packages"
[ -s "$tmp/runtime.pkgs" ] || fail "the runtime stage installs no packages"
msg "build stage: $(tr '\n' ' ' <"$tmp/build.pkgs")"
msg "runtime stage: $(tr '\n' ' ' <"$tmp/runtime.pkgs")"

# ---- every package exists in Debian 12 ----------------------------------

while read -r p; do
    apt-cache show --no-all-versions "$p" >"$tmp/show" 2>&1 ||
        fail "package '$p' of the Dockerfile is unknown to apt-cache (apt-get update?): $(head -n 3 "$tmp/show")"
done < <(cat "$tmp/build.pkgs" "$tmp/runtime.pkgs")

# What quickstart installs to build is what the build stage installs (bar
# what the mount and the README's commands use: fuse3, attr, jq, man-db,
# and ca-certificates, which the runtime stage has for the AWS backend).
sed -n '/^pkgs="/,/"$/p' "$KFS_SRCDIR/quickstart" | tr -d '"' | sed 's/^pkgs=//' |
    tr -s ' \t' '\n' | grep -v -x -E '|fuse3|attr|jq|man-db|ca-certificates' |
    sort -u >"$tmp/quickstart.pkgs"
grep -q -x ca-certificates "$tmp/runtime.pkgs" ||
    fail "the runtime stage lacks ca-certificates: the AWS backend could not check certificates"
grep -q -x attr "$tmp/runtime.pkgs" ||
    fail "the runtime stage lacks attr: getfattr and setfattr of the README would not run in the image"
[ -s "$tmp/quickstart.pkgs" ] || fail "no package list found in quickstart"
missing=$(comm -23 "$tmp/quickstart.pkgs" "$tmp/build.pkgs")
[ -z "$missing" ] || fail "quickstart builds with packages the build stage lacks: $missing"

# owner FILE: the package that holds FILE (the /lib and /usr/lib spellings
# of a merged /usr both tried).
owner()
{
    local f=$1 alt
    case $f in
    /usr/lib/*) alt=${f#/usr} ;;
    /lib/*) alt=/usr$f ;;
    *) alt=$f ;;
    esac
    # Nothing when none holds it (the caller says so); sed reads all that
    # dpkg-query prints, which head would cut short (SIGPIPE).
    { dpkg-query -S "$f" 2>/dev/null || dpkg-query -S "$alt" 2>/dev/null ||
        dpkg-query -S "$(readlink -f "$f")" 2>/dev/null || true; } | sed -n '1s/[:,].*//p'
}

# Each pkg-config module of configure.ac, from a build stage package.
modules=$(sed -n 's/^PKG_CHECK_MODULES(\[[A-Z_]*\], *\[\([^]]*\)\].*/\1/p' "$KFS_SRCDIR/configure.ac" |
    tr ' ' '\n' | grep -E '^[a-z]' | sort -u)
[ -n "$modules" ] || fail "no PKG_CHECK_MODULES found in configure.ac"
for m in $modules; do
    pc=$(pkg-config --variable=pcfiledir "$m")/$m.pc
    p=$(owner "$pc")
    [ -n "$p" ] || error "no package holds $pc (pkg-config module $m)"
    grep -q -x -F "$p" "$tmp/build.pkgs" ||
        fail "configure.ac needs pkg-config module $m, from package $p, which the build stage does not install"
done

# ---- the build stage's commands, in a copy made through .dockerignore ----

# A .dockerignore pattern as an ERE on paths relative to the context: a
# pattern matches a path or any directory above it; the last pattern that
# matches a path decides.
# shellcheck disable=SC2016
pattern_ere()
{
    printf '%s' "$1" | sed -e 's/[.+^$(){}|]/\\&/g' -e 's/\*\*\//\x01/g' \
        -e 's/\*\*/\x02/g' -e 's/\*/[^\/]*/g' -e 's/?/[^\/]/g' \
        -e 's/\x01/(.*\/)?/g' -e 's/\x02/.*/g' | sed -e 's/^/^/' -e 's/$/(\/.*)?$/'
}
(cd "$KFS_SRCDIR" && find . -path ./.git -prune -o \( -type f -o -type l \) -print | sed 's|^\./||' | sort) >"$tmp/all"
cp "$tmp/all" "$tmp/context"
while IFS= read -r pat; do
    case $pat in '' | '#'*) continue ;; esac
    if [ "${pat#!}" != "$pat" ]; then
        grep -E "$(pattern_ere "${pat#!}")" "$tmp/all" >"$tmp/matched" || true
        sort -u "$tmp/context" "$tmp/matched" -o "$tmp/context"
    else
        grep -v -E "$(pattern_ere "$pat")" "$tmp/context" >"$tmp/kept" || true
        mv "$tmp/kept" "$tmp/context"
    fi
done <"$KFS_SRCDIR/.dockerignore"
mkdir "$tmp/src"
(cd "$KFS_SRCDIR" && tr '\n' '\0' <"$tmp/context" | xargs -0 -r cp -P --parents -t "$tmp/src")
# The source tree may be read-only (make distcheck); the image's is not.
chmod -R u+w "$tmp/src"
msg "build context: $(wc -l <"$tmp/context") files of $(wc -l <"$tmp/all")"

# Nothing a build of the host left may enter it, and every source does.
leftover=$(grep -E '(^|/)(Makefile|config\.status|config\.h|configure|aclocal\.m4)$|\.(o|a)$|(^|/)\.deps/' "$tmp/context" || true)
[ -z "$leftover" ] || fail ".dockerignore lets build products into the context: $leftover"
for f in configure.ac Makefile.am fs/main.c backend/backend.c Dockerfile; do
    [ -f "$tmp/src/$f" ] || fail ".dockerignore keeps $f out of the context"
done

# The RUNs after the packages, as the shell of the image runs them, with
# the stage's ARGs (OUT) pointed into $tmp and the make of the test suite
# out of their way.
workdir=$(instr 1 WORKDIR)
assert_eq "$workdir" /src "the build stage's WORKDIR"
out_default=$(instr 1 ARG | sed -n 's/^OUT=//p')
[ -n "$out_default" ] || fail "the build stage has no ARG OUT=..."
instr 1 RUN | grep -v 'apt-get' >"$tmp/build.cmds"
[ -s "$tmp/build.cmds" ] || fail "the build stage runs no build command"
while IFS= read -r cmd; do
    msg "RUN $cmd"
    (cd "$tmp/src" &&
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u CPPFLAGS -u LDFLAGS -u CC \
            OUT="$tmp/out" /bin/sh -c "$cmd") >"$tmp/build.out" 2>&1 ||
        { tail -n 40 "$tmp/build.out" >&2; fail "the build stage's command failed: $cmd"; }
done <"$tmp/build.cmds"

# What the runtime stage copies from the build stage was made there.
bin=
while read -r from src dst; do
    [ "$from" = --from=build ] || continue
    case $src in "$out_default"/*) ;; *) fail "COPY --from=build of $src: not under $out_default" ;; esac
    built=$tmp/out${src#"$out_default"}
    [ -e "$built" ] || fail "COPY --from=build $src: the build stage made no such file"
    [ "$dst" = /usr/local/bin/kinesisfs ] && bin=$built
done < <(instr 2 COPY)
[ -n "$bin" ] || fail "the runtime stage copies no /usr/local/bin/kinesisfs from the build stage"
"$bin" --version >"$tmp/version" 2>&1 || fail "the built kinesisfs --version failed: $(cat "$tmp/version")"

# ---- every library it needs comes with the runtime stage ------------------

# The packages there: those named, the Essential set of Debian (what
# debian:12-slim is made of), and all their dependencies.
dpkg-query -W -f '${Essential} ${Package}\n' | awk '$1 == "yes" { print $2 }' >"$tmp/essential"
# shellcheck disable=SC2046
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances \
    $(cat "$tmp/runtime.pkgs" "$tmp/essential") 2>/dev/null |
    grep -v -E '^[[:space:]]|^<' | sed 's/:.*//' | sort -u >"$tmp/image.pkgs"
grep -q -x libc6 "$tmp/image.pkgs" || error "apt-cache depends gave no closure: $(head -c 300 "$tmp/image.pkgs")"

ldd "$bin" >"$tmp/ldd" || fail "ldd $bin failed"
if grep -q 'not found' "$tmp/ldd"; then
    fail "libraries of the built kinesisfs not found: $(grep 'not found' "$tmp/ldd")"
fi
n=0
while read -r lib path; do
    p=$(owner "$path")
    [ -n "$p" ] || fail "$lib ($path): no Debian package holds it"
    grep -q -x -F "$p" "$tmp/image.pkgs" ||
        fail "kinesisfs needs $lib from package $p, which the runtime stage does not install"
    n=$((n + 1))
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' "$tmp/ldd")
[ "$n" -ge 4 ] || fail "ldd listed only $n libraries: $(cat "$tmp/ldd")"
grep -q -x fuse3 "$tmp/runtime.pkgs" || fail "the runtime stage lacks fuse3 (fusermount3, for the unmount)"
grep -q -x ca-certificates "$tmp/runtime.pkgs" || fail "the runtime stage lacks ca-certificates (TLS to AWS)"
msg "$n libraries, all from the runtime stage's packages"

# ---- the ENTRYPOINT, as the image runs it --------------------------------

entry=$(instr 2 ENTRYPOINT)
mapfile -t argv < <(printf '%s' "$entry" | jq -r '.[]') ||
    fail "ENTRYPOINT is not a JSON array: $entry"
mapfile -t cmdargs < <(instr 2 CMD | jq -r '.[]') || fail "CMD is not a JSON array"
mount_env=$(instr 2 ENV | sed -n 's/^KINESISFS_MOUNT=//p')
data_env=$(instr 2 ENV | sed -n 's/^KINESISFS_DATA_DIR=//p')
assert_eq "$mount_env" /mnt/kinesis "ENV KINESISFS_MOUNT"
assert_eq "$data_env" /var/lib/kinesisfs "ENV KINESISFS_DATA_DIR"

# Mounts $tmp/ep/mnt (made by the entrypoint) with the data in $tmp/ep/data,
# and puts a record through it.
ep=$tmp/ep
mkdir "$ep"
KINESISFS_MOUNT=$ep/mnt KINESISFS_DATA_DIR=$ep/data PATH=$(dirname "$bin"):$PATH \
    "${argv[@]}" "${cmdargs[@]}" -o linger_ms=5 </dev/null >"$ep/out" 2>"$ep/log" &
ep_pid=$!
echo "$ep_pid" >"$tmp/daemon.ep.pid"
wait_for 20 "the entrypoint mounts $ep/mnt" is_mounted "$ep/mnt"
mkdir "$ep/mnt/s"
echo 'from the image' >>"$ep/mnt/s/k"
assert_reads "$ep/mnt/s/shardId-000000000000" 'from the image' "a record through the entrypoint's mount"
[ -f "$ep/data/streams/s/stream.meta" ] || fail "the entrypoint's mount did not use KINESISFS_DATA_DIR"
kill -TERM "$ep_pid"
rc=0
wait "$ep_pid" || rc=$?
rm -f "$tmp/daemon.ep.pid"
assert_eq "$rc" 0 "exit status of the entrypoint after SIGTERM"
! is_mounted "$ep/mnt" || fail "$ep/mnt is still mounted after SIGTERM"
bad=$(grep -v -E '^kinesisfs: (info|debug): ' "$ep/log" || true)
[ -z "$bad" ] || fail "the entrypoint's daemon logged: $bad"
