#!/usr/bin/env bash
# Install what the container tier needs from Debian packages: the daemon, Compose v1, debootstrap
# (for stand-in base images) and a local registry (for push tests). Skips what is present.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-registry >/dev/null || need+=(docker-registry)
if [ ${#need[@]} -eq 0 ]; then
    echo "docker-install: everything present"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "docker-install: needs root to install ${need[*]}" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
echo "docker-install: installed ${need[*]}"
