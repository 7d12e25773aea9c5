#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: virtualenv, the project (+dev tools with --dev),
# the default model sets pulled and sha256-verified, and (with --dev) the fonts the tests render.
# Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1
PY=${PYTHON:-python3}
VENV=.venv

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { log "Python >= 3.11 is required (found $("$PY" --version 2>&1))"; exit 1; }

if [[ ! -x $VENV/bin/python ]]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi

# Reinstall only when pyproject.toml changed, or dev tools are asked for and missing.
# The dev set-up includes the optional engines (Paddle, torch CPU) and converters: their parity
# tests run in CI and never skip.
extras=$([[ $DEV == 1 ]] && echo "[dev,paddle,torch,convert,openvino,train]" || echo "")
base="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ -f $base-dev || ( $DEV == 0 && -f $base ) ]]; then
  :  # up to date (a dev install also serves a plain run)
else
  log "installing ocr-service$extras into $VENV"
  $VENV/bin/python -m pip install --quiet --upgrade pip
  $VENV/bin/python -m pip install --quiet -e ".$extras"
  rm -f "$VENV"/.installed-*
  touch "$base$([[ $DEV == 1 ]] && echo -dev)"
fi

# Models: every catalogue set, verified (a no-op when already present and intact).
$VENV/bin/ocr models pull --all

# The Redis tests start their own redis-server on a free loopback port.
if [[ $DEV == 1 ]] && ! command -v redis-server >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing redis-server for the cache tests"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    log "redis-server not found and cannot apt-get install it: the Redis tests will fail"
  fi
fi

if [[ $DEV == 1 ]] && ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing a CJK font for the rendering tests (fonts-wqy-microhei)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei fontconfig >/dev/null
  else
    log "no CJK font found and cannot apt-get install one: Chinese rendering tests will skip"
  fi
fi
# The training tests and `ocr train synth` render lines with Latin TrueType fonts.
if [[ $DEV == 1 ]] && ! ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing Latin fonts for the training tests (fonts-dejavu-core, fonts-liberation)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core fonts-liberation >/dev/null
  else
    log "no DejaVu font and cannot apt-get install one: the training tests will fail"
  fi
fi
# Deployment checks: kubectl (kustomize), promtool, yamllint, kubernetes-validate.
if [[ $DEV == 1 ]]; then scripts/setup_deploy_tools.sh; fi
# Container checks: dockerd (Debian docker.io) and debootstrap for the CI base image.
if [[ $DEV == 1 ]]; then scripts/setup_docker_tools.sh; fi

log "ready"
