#!/usr/bin/env bash
# Makes sure a Docker engine answers: on a fresh Debian machine (CI) it installs Debian's docker.io,
# docker-compose and debootstrap and starts dockerd in the background. Needs root when it has to install.
#   --with-registry  also Debian's docker-registry, the ECR stand-in of the aws test tier
#   --with-arm64     also runs arm64 (Graviton) binaries under emulation: Debian's qemu-user-static and
#                    binfmt-support, with qemu-aarch64 registered in binfmt_misc with the F flag (the interpreter is
#                    opened once, so that it works inside chroots and containers too)
set -euo pipefail

install() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }

ensure_arm64_emulation() {
    local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
    if [ "$(uname -m)" = aarch64 ]; then return 0; fi  # an arm64 machine runs arm64 programs itself
    if [ -f "$entry" ] && grep -q '^enabled' "$entry" && grep -q '^flags: .*F' "$entry"; then return 0; fi
    if ! command -v update-binfmts >/dev/null || [ ! -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]; then
        echo "installing qemu-user-static and binfmt-support from Debian"
        install qemu-user-static binfmt-support
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; fi
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    if [ ! -f "$entry" ] || ! grep -q '^flags: .*F' "$entry"; then
        echo "qemu-aarch64 is not registered in binfmt_misc with the F flag; arm64 builds cannot run" >&2
        exit 1
    fi
    echo "arm64 emulation: $(head -2 "$entry" | tr '\n' ' ')"
}

for option in "$@"; do
    case $option in
        --with-registry) if ! command -v docker-registry >/dev/null; then
                             echo "installing docker-registry from Debian"
                             install docker-registry
                         fi ;;
        --with-arm64) ensure_arm64_emulation ;;
        *) echo "unknown option $option (expected --with-registry or --with-arm64)" >&2; exit 2 ;;
    esac
done

if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v docker-compose >/dev/null; then
    echo "installing Docker Engine (docker.io), docker-compose and debootstrap from Debian"
    install docker.io docker-compose debootstrap
fi
echo "starting dockerd (log: /var/log/dockerd.log)"
setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then echo "Docker engine is up"; exit 0; fi
    sleep 1
done
echo "dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
tail -20 /var/log/dockerd.log >&2 || true
exit 1
