#!/usr/bin/env bash
# The whole suite: lint, types, unit, integration (real models) and the accuracy gate
# (which needs ../shared/datasets and skips without it). Run via `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
$V/ruff check . || exit 1
$V/ruff format --check . || exit 1
$V/mypy || exit 1
$V/pytest "$@"
rc=$?
# pytest exits 5 when it collected no tests: that is a broken suite, not a pass.
[[ $rc == 5 ]] && { echo "pytest collected no tests" >&2; exit 1; }
exit $rc
