#!/usr/bin/env bash
# Builds the project's images from the repository root.
#
#   scripts/build-images.sh train-cpu|train-gpu|serve ...
#
# Environment:
#   BASE_IMAGE   base for every stage (default: debian:bookworm-slim when it is present or can be pulled,
#                else a debootstrapped equivalent from scripts/bootstrap-base-image.sh)
#   IMAGE_PREFIX image name prefix (default: headlines)
#   CA bundle    the first of PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE that names a file is passed to the
#                build as the BuildKit secret "ca" (trusted by pip in the builder stage, never stored in a layer)
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${IMAGE_PREFIX:-headlines}
# BuildKit (needed for build secrets) without the buildx plugin: Debian's docker client 20.10 has it built in.
docker_cli=docker
if [ -x /usr/bin/docker ]; then docker_cli=/usr/bin/docker; fi
export DOCKER_BUILDKIT=1

choose_base_image() {
    if [ -n "${BASE_IMAGE:-}" ]; then echo "$BASE_IMAGE"; return; fi
    local public=debian:bookworm-slim
    if "$docker_cli" image inspect "$public" >/dev/null 2>&1 || "$docker_cli" pull -q "$public" >/dev/null 2>&1; then
        echo "$public"
    else
        echo "cannot pull $public: building an equivalent base with debootstrap" >&2
        scripts/bootstrap-base-image.sh headlines-base:bookworm >&2
        echo headlines-base:bookworm
    fi
}

ca_secret=()
for candidate in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}"; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then ca_secret=(--secret "id=ca,src=$candidate"); break; fi
done

base=$(choose_base_image)
[ $# -gt 0 ] || set -- train-cpu
build() {  # build IMAGE DOCKERFILE [BUILD_ARG...]
    local image=$1 dockerfile=$2 start size
    shift 2
    echo "building $image on $base"
    start=$(date +%s)
    "$docker_cli" build --progress=plain -f "$dockerfile" --build-arg "BASE_IMAGE=$base" "$@" "${ca_secret[@]}" \
        -t "$image" .
    size=$("$docker_cli" image inspect -f '{{.Size}}' "$image")
    echo "built $image in $(( $(date +%s) - start )) s, $(( size / 1000000 )) MB uncompressed"
}

for target in "$@"; do
    case "$target" in
        train-cpu|train-gpu)
            variant=${target#train-}
            build "$prefix-train:$variant" containers/train/Dockerfile --build-arg "VARIANT=$variant" ;;
        serve) build "$prefix-serve:cpu" containers/serve/Dockerfile ;;
        *) echo "unknown image '$target' (expected train-cpu, train-gpu or serve)" >&2; exit 2 ;;
    esac
done
