#!/usr/bin/env bash
# aws-sigterm.sh - sigterm.sh on the AWS backend, against kinesalite on
# loopback, the fault proxy delaying every PutRecords.
KFS_BACKEND=aws exec bash "$(dirname "$0")/sigterm.sh"
