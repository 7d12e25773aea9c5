#!/usr/bin/env bash
# Stop a daemon started by docker/ci/start_dockerd.sh: remove its containers, SIGTERM dockerd
# (it stops its own containerd), wait, SIGKILL if it hangs, unmount what it left mounted under
# RUN_DIR, then remove RUN_DIR. The data root (images, build cache) is kept.
#
# Usage: docker/ci/stop_dockerd.sh RUN_DIR
set -uo pipefail

run_dir=${1:?usage: $0 RUN_DIR}
[[ -d $run_dir ]] || exit 0
sock="$run_dir/docker.sock"

if [[ -S $sock ]]; then
  ids=$(DOCKER_HOST="unix://$sock" timeout 20 docker ps -aq 2>/dev/null || true)
  if [[ -n $ids ]]; then
    # shellcheck disable=SC2086  # one id per word
    DOCKER_HOST="unix://$sock" timeout 60 docker rm -f $ids >/dev/null 2>&1 || true
  fi
fi

pid=""
for f in "$run_dir/dockerd.pid" "$run_dir/launcher.pid"; do
  if [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null; then
    pid=$(cat "$f")
    break
  fi
done
if [[ -n $pid ]]; then
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stop_dockerd: dockerd $pid ignored SIGTERM for 30 s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi

# Anything still mounted under the exec root (netns files, shm) would make rm fail.
if command -v findmnt >/dev/null; then
  findmnt -rn -o TARGET | grep -F "$run_dir/" | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
fi
rm -rf "$run_dir"
exit 0
