#!/usr/bin/env bash
# Make a local Debian bookworm + Python 3.11 base image for CI, where no registry can be pulled
# from: debootstrap (minbase) + python3 python3-venv ca-certificates, plus this host's CA
# certificates (the network here intercepts TLS, and pip inside `docker build` must trust it),
# then `docker import`. The Dockerfile takes it as --build-arg BASE_IMAGE=<tag>.
#
# Usage: docker/ci/make_base.sh [CACHE_DIR] [TAG]
#   CACHE_DIR  where the root-filesystem tarball is kept between runs (default: var/docker-base)
#   TAG        image tag (default: ocr-ci-base:bookworm)
# Env: DOCKER_HOST (the daemon to import into), DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Needs root, debootstrap and a docker client. Reruns reuse the tarball, and skip the import
# when the daemon already has the image made from the same inputs.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { echo "make_base: $*" >&2; exit 1; }
log() { echo "make_base: $*" >&2; }

cache_dir=${1:-var/docker-base}
tag=${2:-ocr-ci-base:bookworm}
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=python3,python3-venv,ca-certificates

[[ $(id -u) == 0 ]] || die "must run as root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
command -v docker >/dev/null || die "docker client not found"

# The host's extra CAs: the local ones (the intercepting proxy's) travel into the image.
mapfile -t host_cas < <(find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort)

# Everything that changes the result goes into the key: this script, the suite, the CAs.
key=$( { cat "$0"; echo "$suite $mirror $packages"; cat "${host_cas[@]}" /dev/null; } \
       | sha256sum | cut -c1-16)
mkdir -p "$cache_dir"
tarball="$cache_dir/$suite-python3-$key.tar"

# The image made from these inputs is also tagged with the key: present = nothing to do.
key_tag="${tag%%:*}:$suite-$key"
if docker image inspect "$key_tag" >/dev/null 2>&1; then
  docker tag "$key_tag" "$tag"
  log "$tag is up to date ($key_tag)"
  exit 0
fi

if [[ ! -s $tarball ]]; then
  rootfs=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap $suite (minbase + $packages) into $rootfs"
  start=$SECONDS
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
    >"$cache_dir/debootstrap.log" 2>&1 \
    || { tail -n 40 "$cache_dir/debootstrap.log" >&2; die "debootstrap failed"; }
  log "debootstrap took $((SECONDS - start)) s"

  if [[ ${#host_cas[@]} -gt 0 ]]; then
    cp "${host_cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed"
  fi
  # Smaller image: no package lists, downloaded .debs, docs or man pages.
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
         "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
  # A container gets its own resolv.conf and hostname from the engine.
  : >"$rootfs/etc/resolv.conf"
  chroot "$rootfs" python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' \
    || die "python3 in the new root is unusable"

  tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
  # Older tarballs (other keys) are stale.
  find "$cache_dir" -maxdepth 1 -name "$suite-python3-*.tar" ! -name "$(basename "$tarball")" \
    -delete
fi

log "docker import $tarball as $tag"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' \
  "$tarball" "$key_tag" >/dev/null
docker tag "$key_tag" "$tag"
log "made $tag ($key_tag)"
