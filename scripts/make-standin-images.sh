#!/usr/bin/env bash
# Build local stand-ins for the public base images the Dockerfiles and Compose name, for machines
# that cannot pull images (CI). Real users pull the real images; the Dockerfiles do not change.
#
#   python:3.11-slim      Debian bookworm minbase + python3 (3.11), venv, pip, ca-certificates
#   prom/prometheus:TAG   the same root + Debian's prometheus package, entrypoint as upstream
#
# This machine's TLS egress is re-signed by a local CA: it goes into the stand-in only (with
# PIP_CERT pointing at the system bundle), never into the project's Dockerfiles.
# Existing tags are kept unless FORCE=1. Prints the time each step took.
set -euo pipefail

PYTHON_TAG=${PYTHON_TAG:-python:3.11-slim}
# Keep in step with docker-compose.yml (tests/docker checks that they agree).
PROMETHEUS_TAG=${PROMETHEUS_TAG:-prom/prometheus:v2.53.0}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

has_image() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
step() { printf '[stand-in] %-48s' "$1"; STEP_START=$(date +%s); }
done_step() { echo "$(( $(date +%s) - STEP_START )) s"; }

if has_image "$PYTHON_TAG" && has_image "$PROMETHEUS_TAG"; then
    echo "[stand-in] $PYTHON_TAG and $PROMETHEUS_TAG already present"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "stand-in: debootstrap missing (scripts/docker-install.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/standin.XXXXXX)
rootfs=$work/rootfs
cleanup() {
    # debootstrap mounts proc/sys inside the root; unmount before removing it.
    for m in proc sys dev/pts dev; do umount -lf "$rootfs/$m" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

in_root() { chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

step "debootstrap $SUITE (minbase)"
debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
done_step

step "python3, venv, pip, ca-certificates"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
in_root apt-get update -qq >/dev/null
in_root apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-pip python-is-python3 ca-certificates >"$work/apt.log" 2>&1 \
    || { tail -n 20 "$work/apt.log" >&2; exit 1; }
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    in_root update-ca-certificates >/dev/null 2>&1
fi
done_step

import_root() {  # tag, then --change lines
    local tag=$1; shift
    in_root apt-get clean
    rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/tmp/"*
    : >"$rootfs/etc/resolv.conf"
    tar --numeric-owner -C "$rootfs" --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* -c . \
        | docker import "$@" - "$tag" >/dev/null
}

certs=/etc/ssl/certs/ca-certificates.crt
if ! has_image "$PYTHON_TAG"; then
    step "import $PYTHON_TAG"
    import_root "$PYTHON_TAG" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "ENV PIP_CERT=$certs SSL_CERT_FILE=$certs REQUESTS_CA_BUNDLE=$certs" \
        --change 'CMD ["python3"]'
    done_step
fi

if ! has_image "$PROMETHEUS_TAG"; then
    step "prometheus (Debian) as $PROMETHEUS_TAG"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    in_root apt-get update -qq >/dev/null
    in_root apt-get install -y -qq --no-install-recommends prometheus >"$work/apt-prom.log" 2>&1 \
        || { tail -n 20 "$work/apt-prom.log" >&2; exit 1; }
    mkdir -p "$rootfs/prometheus" "$rootfs/etc/prometheus"
    chown 65534:65534 "$rootfs/prometheus"
    # Upstream's image: binary as entrypoint, config in /etc/prometheus, data in /prometheus.
    import_root "$PROMETHEUS_TAG" \
        --change 'USER 65534' \
        --change 'WORKDIR /prometheus' \
        --change 'EXPOSE 9090' \
        --change 'ENTRYPOINT ["/usr/bin/prometheus"]' \
        --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]'
    done_step
fi
