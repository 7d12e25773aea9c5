#!/usr/bin/env bash
# Tools for the Docker image test (tests/deploy/test_docker.py): Debian's docker.io (dockerd,
# containerd, runc; the test starts its own private daemon) and debootstrap (the local base
# image, since no registry can be pulled from). Idempotent: installs only what is missing, and
# only as root with apt-get; otherwise it says what is missing and leaves it (the test then
# skips locally, and fails under CI). Called by scripts/setup.sh --dev.
set -euo pipefail

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[[ ${#missing[@]} == 0 ]] && exit 0

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  log "installing ${missing[*]} for the Docker image test"
  apt-get update -qq >/dev/null
  # policy-rc.d may refuse to start the system daemon: fine, the test starts its own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    >/dev/null
else
  log "${missing[*]} not found and cannot apt-get install: the Docker image test will skip"
fi
