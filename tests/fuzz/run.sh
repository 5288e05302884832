#!/bin/bash
# run.sh - builds the libFuzzer harnesses of tests/fuzz and runs them: each
# replays every input of regressions/NAME/ and corpus/NAME/ once, then
# fuzzes for FUZZ_SECONDS (default 5) on a copy of its corpus.
#
#   tests/fuzz/run.sh                   all five, 5 s each (what make check runs)
#   tests/fuzz/run.sh seglog wire       only those
#   FUZZ_SECONDS=600 tests/fuzz/run.sh  the long run
#   FUZZ_SECONDS=0 tests/fuzz/run.sh    replay only
#
# Harnesses: seglog, wire, path, profile, agg (docs/fuzzing.md).  Built with
# clang straight from the sources (ASan, UBSan, libFuzzer) into
# BUILDDIR/tests/fuzz/build; nothing is written to the source tree.  Exit 0
# when nothing crashed, leaked or hung; 1 otherwise, after copying each
# failing input to BUILDDIR/tests/fuzz/build/crashes/NAME/ and printing its
# path; 99 when the tools are missing or a harness does not build.
#
# Environment: KFS_SRCDIR, KFS_BUILDDIR (the top of the source and build
# trees; make check sets both, else the source tree of this script and the
# current directory when it has config.h), FUZZ_SECONDS, FUZZ_CC (clang),
# FUZZ_TMPDIR (scratch files of the harnesses: /dev/shm when writable, as
# the local engine's recovery fsyncs), FUZZ_ARGS (more libFuzzer options),
# KFS_FUZZ_VERBOSE=1 (the project's log messages, when reproducing).
set -u

me=run.sh
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${KFS_SRCDIR:-$(cd "$here/../.." && pwd)}
fuzzdir=$srcdir/tests/fuzz
seconds=${FUZZ_SECONDS:-5}
cc=${FUZZ_CC:-clang}
all_names="seglog wire path profile agg"

if [ -n "${KFS_BUILDDIR:-}" ]; then
	builddir=$KFS_BUILDDIR
elif [ -f "$PWD/config.h" ]; then
	builddir=$PWD
else
	builddir=$srcdir
fi
if [ ! -f "$builddir/config.h" ]; then
	echo "$me: no config.h in $builddir: run ./configure first (or set KFS_BUILDDIR)" >&2
	exit 99
fi
case $seconds in
'' | *[!0-9]*)
	echo "$me: FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2
	exit 99
	;;
esac

# The project's sources each harness needs (besides its own file); @FILE
# is made by the build (in the build tree).
sources_of() {
	case $1 in
	seglog) echo backend/local/seglog.c backend/local/fileio.c backend/local/crc32c.c \
		backend/backend.c backend/kpl/agg.c backend/kpl/expand.c \
		@backend/kpl/kpl.pb-c.c lib/log.c lib/util.c ;;
	wire) echo backend/aws/wire.c backend/aws/errors.c backend/backend.c \
		backend/aws/eventstream.c lib/log.c lib/util.c ;;
	path) echo fs/path.c backend/backend.c lib/util.c ;;
	# kfs_creds_parse_time lives in creds.c, which links every source.
	profile) echo backend/aws/profile.c backend/aws/creds.c \
		backend/aws/creds_http.c backend/aws/creds_env.c \
		backend/aws/creds_profile.c backend/aws/creds_process.c \
		backend/aws/creds_web_identity.c backend/aws/creds_container.c \
		backend/aws/creds_imds.c backend/aws/creds_assume.c \
		backend/aws/creds_sso.c backend/aws/sts.c backend/aws/http.c \
		backend/aws/http_curl.c lib/cancel.c lib/clock.c lib/log.c lib/util.c ;;
	agg) echo backend/kpl/agg.c backend/kpl/expand.c @backend/kpl/kpl.pb-c.c \
		backend/backend.c lib/log.c lib/util.c ;;
	esac
}
pkgs_of() {
	case $1 in
	path) echo "" ;;
	seglog) echo "libprotobuf-c libcrypto" ;;
	wire) echo "libcjson libcrypto zlib" ;;
	profile) echo "libcjson libcrypto libcurl" ;;
	agg) echo "libprotobuf-c libcrypto" ;;
	esac
}
# More libFuzzer options: a segment archive needs room for a few records.
options_of() {
	case $1 in
	seglog) echo "-max_len=16384" ;;
	*) echo "" ;;
	esac
}

names=
for a in "$@"; do
	a=${a#fuzz_}
	case " $all_names " in
	*" $a "*) names="$names $a" ;;
	*)
		echo "$me: no harness '$a' (there are: $all_names)" >&2
		exit 99
		;;
	esac
done
[ -n "$names" ] || names=$all_names

# ---- the tools: a missing one is an error, never a skip ----------------
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "$me: $cc not found: install clang and the libFuzzer runtime" \
		"('apt-get install clang libclang-rt-14-dev' on Debian 12)" >&2
	exit 99
fi
if ! command -v pkg-config >/dev/null 2>&1; then
	echo "$me: pkg-config not found ('apt-get install pkg-config')" >&2
	exit 99
fi
for n in $names; do
	for p in $(pkgs_of "$n"); do
		if ! pkg-config --exists "$p"; then
			echo "$me: pkg-config knows no $p (libcjson: 'apt-get install" \
				"libcjson-dev'; libcrypto: libssl-dev; libcurl:" \
				"libcurl4-openssl-dev; libprotobuf-c: libprotobuf-c-dev; zlib:" \
				"zlib1g-dev)" >&2
			exit 99
		fi
	done
done

out=$builddir/tests/fuzz/build
mkdir -p "$out" || exit 99
work=$(mktemp -d "${TMPDIR:-/tmp}/kfs-fuzz.XXXXXX") || exit 99
scratch=
trap 'rm -rf "$work" ${scratch:+"$scratch"}' EXIT
if [ -n "${FUZZ_TMPDIR:-}" ]; then
	scratch=$(mktemp -d "$FUZZ_TMPDIR/kfs-fuzz.XXXXXX") || exit 99
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
	scratch=$(mktemp -d /dev/shm/kfs-fuzz.XXXXXX 2>/dev/null) || scratch=
fi
if [ -z "$scratch" ]; then
	scratch=$work/scratch
	mkdir "$scratch" || exit 99
fi

# libFuzzer's runtime: a program built with -fsanitize=fuzzer must link.
# shellcheck disable=SC2054 # the commas belong to -fsanitize=
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -std=gnu11 -pthread)
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$work/probe.c"
if ! "$cc" "${cflags[@]}" "$work/probe.c" -o "$work/probe" >"$work/probe.log" 2>&1; then
	echo "$me: $cc cannot build a libFuzzer program with ASan and UBSan:" >&2
	sed 's/^/  /' "$work/probe.log" >&2
	echo "$me: install the runtime: 'apt-get install libclang-rt-14-dev'" \
		"(Debian 12; libclang-rt-N-dev for clang N)" >&2
	exit 99
fi

# ---- build (in parallel; again only when a source changed) -------------
# Stale when any project source or header, the harness, config.h or this
# script is newer than the binary.
stale() {
	local bin=$1
	[ -x "$bin" ] || return 0
	[ -n "$(find "$srcdir/lib" "$srcdir/backend" "$srcdir/fs" "$fuzzdir" \
		"$builddir/config.h" -maxdepth 3 \( -name '*.[ch]' -o -name run.sh \) \
		-newer "$bin" -print 2>/dev/null | head -n 1)" ]
}

build() {
	local n=$1 srcs=() s
	for s in $(sources_of "$n"); do
		case $s in
		@*) srcs+=("$builddir/${s#@}") ;;
		*) srcs+=("$srcdir/$s") ;;
		esac
	done
	local pkgs libs=
	pkgs=$(pkgs_of "$n")
	if [ -n "$pkgs" ]; then
		# shellcheck disable=SC2086
		libs=$(pkg-config --cflags --libs $pkgs) || return 1
	fi
	# shellcheck disable=SC2086
	"$cc" "${cflags[@]}" -I"$builddir" -I"$srcdir" -include config.h \
		"$fuzzdir/fuzz_$n.c" "${srcs[@]}" $libs \
		-o "$out/fuzz_$n.tmp" && mv -f "$out/fuzz_$n.tmp" "$out/fuzz_$n"
}

pids=
for n in $names; do
	if stale "$out/fuzz_$n"; then
		build "$n" >"$work/build-$n.log" 2>&1 &
		pids="$pids $n:$!"
	fi
done
failed_build=0
for np in $pids; do
	if ! wait "${np#*:}"; then
		echo "$me: fuzz_${np%%:*} does not build:" >&2
		cat "$work/build-${np%%:*}.log" >&2
		failed_build=1
	fi
done
[ "$failed_build" = 0 ] || exit 99

# ---- run ---------------------------------------------------------------
libfuzzer_opts=(-rss_limit_mb=2048 -timeout=10 -detect_leaks=1)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
failures=
# The first line saying what went wrong: a harness's own check, UBSan,
# ASan/LSan, libFuzzer (deadly signal, timeout, out-of-memory).
what_failed='^fuzz_[a-z]*: .*\|runtime error: .*\|ERROR: [A-Za-z]*Sanitizer: [a-z-]*\|ERROR: libFuzzer: [a-z-]*'

# Keeps the failing input and says where: copy into the build dir.
keep_crash() {
	local n=$1 input=$2 kind=$3 dest
	mkdir -p "$out/crashes/$n"
	dest=$out/crashes/$n/$(basename "$input")
	cp -f "$input" "$dest" 2>/dev/null || dest=$input
	failures="$failures
  fuzz_$n: $kind: $dest (log: $out/fuzz_$n.log)"
	status=1
}

for n in $names; do
	bin=$out/fuzz_$n
	log=$out/fuzz_$n.log
	: >"$log"

	# 1. Every stored input once: regressions first, then the corpus.
	art=$work/artifacts-$n
	mkdir -p "$art"
	inputs=()
	for d in "$fuzzdir/regressions/$n" "$fuzzdir/corpus/$n"; do
		[ -d "$d" ] || continue
		for f in "$d"/*; do
			case ${f##*/} in README* | '*') continue ;; esac
			[ -f "$f" ] && inputs+=("$f")
		done
	done
	replayed=${#inputs[@]}
	if [ "$replayed" -gt 0 ]; then
		echo "== replay of $replayed inputs" >>"$log"
		if ! TMPDIR=$scratch "$bin" "${libfuzzer_opts[@]}" -artifact_prefix="$art/" \
			"${inputs[@]}" >>"$log" 2>&1; then
			bad=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
			kind=$(grep -o -m 1 "$what_failed" "$log")
			echo "fuzz_$n: FAIL on replay of $bad: ${kind:-?}"
			keep_crash "$n" "${bad:-unknown}" "replay: ${kind:-?}"
			continue
		fi
	fi

	# 2. Fuzzing, on a copy of the corpus (new inputs stay out of the tree).
	if [ "$seconds" -eq 0 ]; then
		echo "fuzz_$n: ok, $replayed inputs replayed (no fuzzing: FUZZ_SECONDS=0)"
		continue
	fi
	corpus=$work/corpus-$n
	mkdir -p "$corpus"
	[ "$replayed" -gt 0 ] && cp -f "${inputs[@]}" "$corpus/"
	echo "== fuzzing for $seconds s" >>"$log"
	from=$(($(wc -l <"$log") + 1))
	# shellcheck disable=SC2046,SC2086
	TMPDIR=$scratch "$bin" "${libfuzzer_opts[@]}" $(options_of "$n") ${FUZZ_ARGS:-} \
		-max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$art/" "$corpus" >>"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz_$n: ok, $replayed inputs replayed, ${runs:-?} runs in $seconds s" \
			"(${rate:-?}/s), ${cov:-no coverage line}"
	else
		crash=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
		[ -n "$crash" ] || crash=$(find "$art" -type f | head -n 1)
		kind=$(tail -n +"$from" "$log" | grep -o -m 1 "$what_failed")
		echo "fuzz_$n: FAIL after ${runs:-?} runs: ${kind:-exit $rc}"
		keep_crash "$n" "${crash:-unknown}" "${kind:-exit $rc}"
	fi
done

if [ "$status" -ne 0 ]; then
	echo "$me: failing inputs (replay one with: $out/fuzz_NAME FILE; add it to" \
		"tests/fuzz/regressions/NAME/ once fixed):$failures"
fi
exit "$status"
