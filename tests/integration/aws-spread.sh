#!/usr/bin/env bash
# aws-spread.sh - spread.sh on the AWS backend, against kinesalite on
# loopback (KFS_BACKEND in functions.sh says what changes).
KFS_BACKEND=aws exec bash "$(dirname "$0")/spread.sh"
