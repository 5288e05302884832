#!/usr/bin/env bash
# aws-keyfiles.sh - keyfiles.sh on the AWS backend, against kinesalite on
# loopback (names last as long as the mount there: the remount part is the
# local engine's).
KFS_BACKEND=aws exec bash "$(dirname "$0")/keyfiles.sh"
