#!/usr/bin/env bash
# aws-metrics.sh - metrics.sh on the AWS backend, against kinesalite on
# loopback, with the fault proxy in between (throttling).
KFS_BACKEND=aws exec bash "$(dirname "$0")/metrics.sh"
