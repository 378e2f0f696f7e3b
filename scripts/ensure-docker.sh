#!/usr/bin/env bash
# Makes sure a Docker engine answers: on a fresh Debian machine (CI) it installs Debian's docker.io,
# docker-compose and debootstrap and starts dockerd in the background. Needs root when it has to install.
set -euo pipefail

if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v docker-compose >/dev/null; then
    echo "installing Docker Engine (docker.io), docker-compose and debootstrap from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
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
