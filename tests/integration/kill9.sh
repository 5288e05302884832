#!/usr/bin/env bash
# kill9.sh - torture.sh in three rounds, on the backend KFS_BACKEND says:
# kill -9 of the daemon while writers write; after a remount every line
# whose fsync (or close) succeeded is there exactly once, everything there
# is a whole line that was written, and sequence numbers only grow.  On
# AWS (aws-kill9.sh) the same holds of what kinesalite stored (no torn
# tail to recover there: the lines are whole records or nothing).
KFS_TORTURE_ROUNDS=${KFS_TORTURE_ROUNDS:-3} exec bash "$(dirname "$0")/torture.sh"
