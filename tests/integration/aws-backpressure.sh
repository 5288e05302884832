#!/usr/bin/env bash
# aws-backpressure.sh - backpressure.sh on the AWS backend, against
# kinesalite on loopback, the fault proxy holding every PutRecords a second.
KFS_BACKEND=aws exec bash "$(dirname "$0")/backpressure.sh"
