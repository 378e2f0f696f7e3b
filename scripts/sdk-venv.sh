#!/usr/bin/env bash
# Usage: scripts/sdk-venv.sh v2|v3 — creates .venvs/sdk-<v> with that SageMaker SDK generation (they cannot share
# one environment) unless it is already there for the current requirements file. Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
generation=${1:?usage: $0 v2|v3}
requirements="scripts/requirements-sdk-${generation}.txt"
[[ -f $requirements ]] || { echo "no $requirements" >&2; exit 2; }
venv=".venvs/sdk-${generation}"
stamp="$venv/.requirements"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || { echo "python3 -m venv failed: apt-get install python3-venv" >&2; exit 1; }
    "$venv/bin/pip" install -q --upgrade pip==24.3.1 >&2
    # No byte-compiling of every module at install (33 s of the v3 SDK's 1 GB): Python compiles what it imports.
    "$venv/bin/pip" install -q --no-compile -r "$requirements" >&2
    cp "$requirements" "$stamp"
fi
echo "$PWD/$venv/bin/python"
