#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: virtualenv, the project (+dev tools with --dev),
# the default model sets pulled and sha256-verified, and (with --dev) the fonts the tests render
# and the headless chromium the UI tests drive.
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

# Debian packages the dev tests need, installed when missing (as root, where apt-get exists).
# apt_need WHAT FOR CHECK PACKAGE...: CHECK is a command that succeeds when WHAT is there.
apt_updated=0
apt_need() {
  local what=$1 for=$2 check=$3
  shift 3
  [[ $DEV == 1 ]] || return 0
  bash -c "$check" >/dev/null 2>&1 && return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    log "$what not found and cannot apt-get install it: $for will fail or skip"
    return 0
  fi
  log "installing $what for $for ($*)"
  [[ $apt_updated == 1 ]] || { apt-get update -qq >/dev/null; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The Redis tests start their own redis-server on a free loopback port.
apt_need redis-server "the cache and job tests" "command -v redis-server" redis-server
apt_need "a CJK font" "the Chinese rendering tests" "fc-list :lang=zh | grep -q ." \
  fonts-wqy-microhei fontconfig
# The searchable-PDF tests read our PDFs back with poppler's pdftotext.
apt_need pdftotext "the searchable-PDF tests" "command -v pdftotext" poppler-utils
# The browser UI tests (tests/ui) drive Debian's headless chromium through Playwright (the dev
# extra); Playwright never downloads a browser here.
apt_need chromium "the browser UI tests" "command -v chromium" chromium
# The training tests and `ocr train synth` render lines with Latin TrueType fonts.
apt_need "Latin fonts" "the training tests" "test -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf" \
  fonts-dejavu-core fonts-liberation
# PaddleX's serving schemas for the POST /ocr protocol test (tests/integration/
# test_paddlex_serving.py): an isolated venv, like the benchmark peers; never the service's deps.
PADDLEX_PIN="paddlex[serving]==3.7.2"
if [[ $DEV == 1 && ! -x .peers/paddlex/bin/python ]]; then
  log "creating .peers/paddlex ($PADDLEX_PIN)"
  "$PY" -m venv .peers/paddlex
  .peers/paddlex/bin/pip install -q "$PADDLEX_PIN"
fi
# Deployment checks: kubectl (kustomize), promtool, yamllint, kubernetes-validate.
if [[ $DEV == 1 ]]; then scripts/setup_deploy_tools.sh; fi
# Container checks: dockerd (Debian docker.io) and debootstrap for the CI base image.
if [[ $DEV == 1 ]]; then scripts/setup_docker_tools.sh; fi

log "ready"
