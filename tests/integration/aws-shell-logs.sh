#!/usr/bin/env bash
# aws-shell-logs.sh - shell-logs.sh on the AWS backend, against kinesalite on loopback
# (KFS_BACKEND in functions.sh says what changes).
KFS_BACKEND=aws exec bash "$(dirname "$0")/shell-logs.sh"
