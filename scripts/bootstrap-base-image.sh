#!/usr/bin/env bash
# Builds a Debian bookworm base image from Debian packages with debootstrap, for machines that cannot pull
# debian:bookworm-slim (no registry reachable). The mirror is read from the host's own apt sources, so no
# host name lives in this repository.
#
#   scripts/bootstrap-base-image.sh [TAG]     (default TAG: headlines-base:bookworm)
set -euo pipefail

tag=${1:-headlines-base:bookworm}
suite=bookworm

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag already exists"
    exit 0
fi

apt_mirror() {
    local uri
    # deb822 sources (bookworm default), then the one-line format.
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit} $1 == "deb" && $2 ~ /^\[/ {print $3; exit}' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    fi
    [ -n "$uri" ] || { echo "no Debian mirror found in the host's apt sources" >&2; return 1; }
    echo "$uri"
}

command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
mirror=$(apt_mirror)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrapping $suite from $mirror into $rootfs"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >/dev/null
# Same trimming as the official slim image: no apt caches or lists in the base layer.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "built base image $tag"
