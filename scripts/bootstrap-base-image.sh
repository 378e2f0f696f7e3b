#!/usr/bin/env bash
# Builds a Debian bookworm base image from Debian packages with debootstrap, for machines that cannot pull
# debian:bookworm-slim (no registry reachable). The mirror is read from the host's own apt sources, so no
# host name lives in this repository. No digest pins what it builds (the packages are the mirror's of the day):
# its image ID is the record, which it prints, and which scripts/build-images.sh prints and labels on every image.
#
#   scripts/bootstrap-base-image.sh [TAG [ARCH]]   (default TAG: headlines-base:bookworm; ARCH: the host's, as
#                                                   Docker names it: amd64 or arm64)
#
# Another architecture than the host's (arm64 on an x86 machine) is debootstrapped in two stages: the packages are
# unpacked here, then configured inside the new root under qemu (scripts/ensure-docker.sh --with-arm64 registers
# it). `docker import` cannot mark an image as another architecture, so the root goes in through a one-line
# Dockerfile built for linux/ARCH instead.
set -euo pipefail

tag=${1:-headlines-base:bookworm}
suite=bookworm
docker=${DOCKER_CLI:-docker}
host_arch=$(dpkg --print-architecture)
arch=${2:-$host_arch}

if "$docker" image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag already exists: $("$docker" image inspect -f '{{.Id}}' "$tag")"
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

echo "debootstrapping $suite ($arch) from $mirror into $rootfs"
if [ "$arch" = "$host_arch" ]; then
    debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >/dev/null
else
    debootstrap --arch "$arch" --foreign --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >/dev/null
    chroot "$rootfs" /debootstrap/debootstrap --second-stage >/dev/null || {
        echo "configuring the $arch root under emulation failed: scripts/ensure-docker.sh --with-$arch sets it up" >&2
        exit 1
    }
fi
# Trim as the official slim image does: no downloaded packages, apt lists, docs, man pages or translations,
# now or in what later layers install.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
# And, like Docker's official Debian images, apt removes downloaded packages after every install.
cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/* "$rootfs"/usr/share/locale/*
if [ "$arch" = "$host_arch" ]; then
    tar -C "$rootfs" -c . | "$docker" import --change 'CMD ["bash"]' - "$tag" >/dev/null
else
    context=$(mktemp -d)
    trap 'rm -rf "$rootfs" "$context"' EXIT
    tar -C "$rootfs" -cf "$context/rootfs.tar" .
    printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' > "$context/Dockerfile"
    DOCKER_BUILDKIT=1 "$docker" build -q --platform "linux/$arch" -t "$tag" "$context" >/dev/null
fi
echo "built base image $tag from $mirror: $("$docker" image inspect -f '{{.Id}}' "$tag")"
