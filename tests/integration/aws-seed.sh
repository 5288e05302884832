#!/usr/bin/env bash
# aws-seed.sh - seed.sh on the AWS backend, against kinesalite on loopback
# (KFS_BACKEND in functions.sh says what changes).
KFS_BACKEND=aws exec bash "$(dirname "$0")/seed.sh"
