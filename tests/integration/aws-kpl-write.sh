#!/usr/bin/env bash
# aws-kpl-write.sh - kpl-write.sh on the AWS backend, against kinesalite on
# loopback (KFS_BACKEND in functions.sh says what changes).
KFS_BACKEND=aws exec bash "$(dirname "$0")/kpl-write.sh"
