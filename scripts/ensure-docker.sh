#!/usr/bin/env bash
# Makes sure a Docker engine answers: on a fresh Debian machine (CI) it installs Debian's docker.io,
# docker-compose and debootstrap and starts dockerd in the background. Needs root when it has to install.
#   --with-registry  also Debian's docker-registry, the ECR stand-in of the aws test tier
set -euo pipefail

install() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
if [ "${1:-}" = --with-registry ] && ! command -v docker-registry >/dev/null; then
    echo "installing docker-registry from Debian"
    install docker-registry
fi

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
