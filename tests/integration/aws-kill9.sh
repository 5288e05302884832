#!/usr/bin/env bash
# aws-kill9.sh - kill9.sh on the AWS backend, against kinesalite on loopback
# (KFS_BACKEND in functions.sh says what changes).
KFS_BACKEND=aws exec bash "$(dirname "$0")/kill9.sh"
