#!/usr/bin/env bash
# docker.sh - podman.sh with Docker: Debian's docker.io, a dockerd of the
# test's own (its data kept in the cache beside podman's), the same image
# and the same recipes of docs/containers.md, and what Docker does
# differently (it refuses rshared on a directory that is not a shared
# mount).  The bridge network case is podman.sh's alone.
export KFS_RUNTIME=docker
exec bash "$(dirname "$0")/podman.sh"
