#!/usr/bin/env bash
# Recompiles every lock file from its .in file, with hashes, for the images' platform (Debian bookworm's
# Python 3.11 on x86-64). Run after editing a .in file; needs uv (`pip install uv`).
set -euo pipefail
cd "$(dirname "$0")/.."

lock() {  # lock SOURCE.in TARGET.lock
    uv pip compile --quiet --generate-hashes --no-header --python-version 3.11 \
        --python-platform x86_64-manylinux_2_28 "$1" -o "$2"
}
lock containers/requirements-build.in containers/requirements-build.lock
lock containers/train/requirements-cpu.in containers/train/requirements-cpu.lock
lock containers/train/requirements-gpu.in containers/train/requirements-gpu.lock
lock containers/serve/requirements.in containers/serve/requirements.lock
lock tests/requirements-dev.in tests/requirements-dev.lock
lock benchmarks/toolkit/requirements.in benchmarks/toolkit/requirements.lock
