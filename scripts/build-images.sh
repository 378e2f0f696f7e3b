#!/usr/bin/env bash
# Builds the project's images from the repository root.
#
#   scripts/build-images.sh train-cpu|train-gpu|serve|serve-arm64 ...     (the keys of scripts/images.py)
#
# Each image is built for the CPU architecture its row names (docker build --platform linux/ARCH). One for another
# architecture than the Docker engine's (serve-arm64 on an x86 machine) runs its RUN steps under qemu: scripts/
# ensure-docker.sh --with-arm64 sets that up, and the build stops early with that advice when it is missing.
#   scripts/build-images.sh bench-toolkit                      (benchmarks/serve_load.py's other side, never pushed)
#
# Environment:
#   BASE_IMAGE        base for every stage (default: debian:bookworm-slim pinned by the Dockerfiles' digest when it
#                     is present or can be pulled, else a debootstrapped equivalent from scripts/bootstrap-base-image.sh,
#                     built from the host's Debian mirror: no digest pins that one, so its image ID is the record).
#                     BASE_IMAGE is the base of the images of the engine's own architecture.
#   BASE_IMAGE_ARM64  base of the arm64 images when the engine is not arm64 (default: a debootstrapped arm64 base,
#                     headlines-base:bookworm-arm64, from scripts/bootstrap-base-image.sh). Not the pinned public base:
#                     Docker's image store keeps one platform under a reference, and pulling the pinned index for
#                     another platform would replace the engine's own image under the same name.
#                     The base used is printed (`base image: REF (DIGEST or image ID)`) and labelled on every image
#                     built (org.opencontainers.image.base.name and .base.digest).
#   IMAGE_PREFIX      image name prefix (default: headlines)
#   CACHE_REGISTRY    a registry holding the images push.py --cache pushed (e.g. the account's ECR registry): the
#                     build reuses their layers, so a code change does not reinstall the wheels even on a build host
#                     whose own build cache is empty (CodeBuild). Each image is then built twice, its `build-env`
#                     stage (tagged <image>-build-env) and the image, both with inline cache metadata, from
#                     <CACHE_REGISTRY>/<REPOSITORY_PREFIX>-<name>:cache-<key>[-build-env]. The Docker CLI is logged
#                     in there for this run only (ECR password from push.py --login-password, in a temporary
#                     DOCKER_CONFIG that is removed on exit). Off unless set: BuildKit trusts a cache image's
#                     metadata, so whoever can push those mutable cache-* tags decides what the hash-locked pip
#                     layers hold (docs/delivery.md, "Layer reuse"); buildspec.yml leaves it empty by default.
#   REPOSITORY_PREFIX the repositories' prefix, as push.py --repository-prefix (default: headlines)
#   CA bundle         the first of PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE that names a file is passed to the
#                     build as the BuildKit secret "ca" (trusted by pip in the builder stage, never stored in a layer)
#   BUILD_NO_CACHE    1: every layer is built again (docker build --no-cache), e.g. for the Debian and pip updates
#                     of a cached layer; the container tests build with it to see a CA of theirs used and not kept
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${IMAGE_PREFIX:-headlines}
repository_prefix=${REPOSITORY_PREFIX:-headlines}
# BuildKit (needed for build secrets) without the buildx plugin: Debian's docker client 20.10 has it built in.
# (DOCKER_CLI: another client, e.g. the unit tests' recorder.)
docker_cli=${DOCKER_CLI:-docker}
if [ -z "${DOCKER_CLI:-}" ] && [ -x /usr/bin/docker ]; then docker_cli=/usr/bin/docker; fi
export DOCKER_BUILDKIT=1
# The stage whose filesystem the project's code is built on: it holds the installed wheels (scripts/images.py).
cache_stage=build-env

# The Dockerfiles' default, digest-pinned (their comment says how to update it; a unit test holds them equal).
pinned_base=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

engine_architecture=$("$docker_cli" version -f '{{.Server.Arch}}')

choose_base_image() {  # choose_base_image ARCHITECTURE
    if [ "$1" != "$engine_architecture" ]; then
        local given="BASE_IMAGE_${1^^}"
        if [ -n "${!given:-}" ]; then echo "${!given}"; return; fi
        DOCKER_CLI=$docker_cli scripts/bootstrap-base-image.sh "headlines-base:bookworm-$1" "$1" >&2
        echo "headlines-base:bookworm-$1"
        return
    fi
    if [ -n "${BASE_IMAGE:-}" ]; then echo "$BASE_IMAGE"; return; fi
    local public=$pinned_base
    if "$docker_cli" image inspect "$public" >/dev/null 2>&1 || "$docker_cli" pull -q "$public" >/dev/null 2>&1; then
        echo "$public"
    else
        echo "cannot pull $public: building an equivalent base with debootstrap" >&2
        DOCKER_CLI=$docker_cli scripts/bootstrap-base-image.sh headlines-base:bookworm >&2
        echo headlines-base:bookworm
    fi
}

# The base's record: its digest when it is named by one, else its image ID (a debootstrapped base, or a BASE_IMAGE
# given by tag).
base_digest() {
    case $1 in
        *@sha256:*) echo "${1##*@}" ;;
        *) "$docker_cli" image inspect -f '{{.Id}}' "$1" ;;
    esac
}

no_cache=()
if [ "${BUILD_NO_CACHE:-}" = 1 ]; then no_cache=(--no-cache); fi

ca_secret=()
for candidate in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}"; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then ca_secret=(--secret "id=ca,src=$candidate"); break; fi
done

# BuildKit pulls the cache with the CLI's credentials; they live in a folder of this run's own.
login_to_cache_registry() {
    if [ ! -x .venv/bin/python ]; then
        echo "CACHE_REGISTRY: the ECR login runs scripts/push.py in the project's virtualenv; run make venv" >&2
        exit 1
    fi
    DOCKER_CONFIG=$(mktemp -d)
    export DOCKER_CONFIG
    trap 'rm -rf "$DOCKER_CONFIG"' EXIT
    .venv/bin/python scripts/push.py --login-password |
        "$docker_cli" login --username AWS --password-stdin "$CACHE_REGISTRY" >/dev/null
}

# The base of one architecture: chosen, checked to run here, and printed (as `base image: REF (DIGEST or ID)`).
use_base_image() {  # use_base_image ARCHITECTURE: sets base and base_id
    base=$(choose_base_image "$1")
    base_id=$(base_digest "$base") || { echo "base image $base: no image ID (neither built nor pulled)" >&2; exit 1; }
    if [ "$1" != "$engine_architecture" ] &&
        ! "$docker_cli" run --rm --platform "linux/$1" "$base" true >/dev/null 2>&1; then
        echo "this machine cannot run linux/$1 programs, which the build of a $1 image runs:" \
            "scripts/ensure-docker.sh --with-$1 sets up emulation (as root)" >&2
        exit 1
    fi
    echo "base image: $base ($base_id)"
}

[ $# -gt 0 ] || set -- train-cpu
table=$(python3 scripts/images.py "$@")  # exits 2 on an unknown key
if [ -n "${CACHE_REGISTRY:-}" ]; then login_to_cache_registry; fi

# A rebuild moves the tag to the new image and leaves the old one untagged, 0.2-4 GB each: removed here unless a
# container or another tag still holds it, so that repeated builds (CI on a kept machine) do not fill the disk.
remove_replaced_image() {  # remove_replaced_image IMAGE PREVIOUS_ID
    local image=$1 previous=$2
    if [ -z "$previous" ] || [ "$previous" = "$("$docker_cli" image inspect -f '{{.Id}}' "$image")" ]; then return; fi
    if [ "$("$docker_cli" image inspect -f '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ] &&
        "$docker_cli" image rm "$previous" >/dev/null 2>&1; then
        echo "removed the image $image replaced (${previous#sha256:})"
    fi
}

build() {  # build IMAGE DOCKERFILE [DOCKER BUILD ARGUMENT...]
    local image=$1 dockerfile=$2 start size previous
    shift 2
    echo "building $image on $base"
    previous=$("$docker_cli" image inspect -f '{{.Id}}' "$image" 2>/dev/null) || previous=
    start=$(date +%s)
    "$docker_cli" build --progress=plain --platform "linux/$architecture" -f "$dockerfile" --build-arg "BASE_IMAGE=$base" "$@" "${ca_secret[@]}" "${no_cache[@]}" \
        --label "org.opencontainers.image.base.name=$base" --label "org.opencontainers.image.base.digest=$base_id" \
        -t "$image" .
    size=$("$docker_cli" image inspect -f '{{.Size}}' "$image")
    echo "built $image in $(( $(date +%s) - start )) s, $(( size / 1000000 )) MB uncompressed"
    remove_replaced_image "$image" "$previous"
}

while IFS=$'\t' read -r -u 3 key image _ _ dockerfile build_args _ architecture; do
    use_base_image "$architecture"
    arguments=()
    if [ "$build_args" != - ]; then
        IFS=, read -r -a pairs <<<"$build_args"
        for pair in "${pairs[@]}"; do arguments+=(--build-arg "$pair"); done
    fi
    if [ -n "${CACHE_REGISTRY:-}" ]; then
        name=${image#"$prefix"-}  # <prefix>-<name>:<accelerator>, as scripts/images.py names local images
        cache="$CACHE_REGISTRY/$repository_prefix-${name%%:*}:cache-$key"
        arguments+=(--build-arg BUILDKIT_INLINE_CACHE=1 --cache-from "$cache" --cache-from "$cache-$cache_stage")
        build "$image-$cache_stage" "$dockerfile" --target "$cache_stage" "${arguments[@]}"
    fi
    build "$image" "$dockerfile" "${arguments[@]}"
done 3<<<"$table"
