#!/usr/bin/env bash
# torture-long.sh [ROUNDS] - the long form of the crash torture test
# (tests/integration/torture.sh): ROUNDS (default 300) kills of the daemon
# with kill -9 at random moments on one data_dir, everything checked after
# each.  Run from the build directory after make; takes about 4 s a round.
set -e
cd "$(dirname "$0")/.."
KFS_TORTURE_ROUNDS=${1:-300} exec make check TESTS=tests/integration/torture.sh
