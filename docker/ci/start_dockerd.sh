#!/usr/bin/env bash
# Start a private Docker daemon for CI/tests, beside (never instead of) any system one.
#
# Usage: docker/ci/start_dockerd.sh DATA_DIR [RUN_DIR]
#   DATA_DIR  images and layers (--data-root; keep it between runs for a warm build cache)
#   RUN_DIR   socket, pidfile, --exec-root and the log; default: a new /tmp/ocrd.XXXXXX
#             (short on purpose: unix socket paths are limited to 107 bytes)
#
# No iptables rules, no bridge: containers and builds use the host's network (--network host).
# Prints exactly one line on stdout, `DOCKER_HOST=unix://RUN_DIR/docker.sock`, once `docker info`
# answers; stop it with docker/ci/stop_dockerd.sh RUN_DIR. Needs root and Debian's docker.io.
set -euo pipefail

die() { echo "start_dockerd: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: $0 DATA_DIR [RUN_DIR]"
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
command -v docker >/dev/null || die "docker client not found (apt-get install docker.io)"
[[ $(id -u) == 0 ]] || die "must run as root"

data_dir=$1
mkdir -p "$data_dir"
data_dir=$(cd "$data_dir" && pwd)
alive() { [[ -f $1/dockerd.pid ]] && kill -0 "$(cat "$1/dockerd.pid")" 2>/dev/null; }
# One daemon per data root: a second one would wait forever on the first one's locks.
owner_file="$data_dir/.run-dir"
if [[ -f $owner_file ]] && alive "$(cat "$owner_file")"; then
  die "a dockerd already uses $data_dir: stop it with $(dirname "$0")/stop_dockerd.sh $(cat "$owner_file")"
fi

if [[ $# -ge 2 ]]; then
  run_dir=$2
  mkdir -p "$run_dir"
else
  run_dir=$(mktemp -d /tmp/ocrd.XXXXXX)
fi
run_dir=$(cd "$run_dir" && pwd)
sock="$run_dir/docker.sock"
pidfile="$run_dir/dockerd.pid"
log="$run_dir/dockerd.log"
(( ${#sock} < 100 )) || die "socket path too long: $sock"
alive "$run_dir" && die "a dockerd already runs for $run_dir (pid $(cat "$pidfile"))"
echo "$run_dir" >"$owner_file"

# setsid: its own session, so a Ctrl-C or a test runner's process group signal does not reach it.
setsid dockerd \
  --data-root "$data_dir" \
  --exec-root "$run_dir/exec" \
  --pidfile "$pidfile" \
  --host "unix://$sock" \
  --iptables=false \
  --ip6tables=false \
  --ip-forward=false \
  --ip-masq=false \
  --bridge=none \
  --log-level=warn \
  </dev/null >"$log" 2>&1 &
dockerd_pid=$!
echo "$dockerd_pid" >"$run_dir/launcher.pid"

for _ in $(seq 1 120); do
  if DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1; then
    echo "DOCKER_HOST=unix://$sock"
    exit 0
  fi
  if ! kill -0 "$dockerd_pid" 2>/dev/null; then
    tail -n 30 "$log" >&2 || true
    die "dockerd exited during start (log: $log)"
  fi
  sleep 0.5
done
tail -n 30 "$log" >&2 || true
kill -TERM "$dockerd_pid" 2>/dev/null || true
die "dockerd did not answer within 60 s (log: $log)"
