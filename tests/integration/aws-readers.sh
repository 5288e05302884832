#!/usr/bin/env bash
# aws-readers.sh - readers.sh on the AWS backend, against kinesalite on
# loopback (KFS_BACKEND in functions.sh says what changes).
KFS_BACKEND=aws exec bash "$(dirname "$0")/readers.sh"
