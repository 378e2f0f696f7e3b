#!/usr/bin/env python3
"""The project's images, one row per build target of scripts/build-images.sh: the local image it builds, the ECR
repository it is pushed to, its accelerator and CPU architecture (together the tag suffix: cpu, gpu, cpu-arm64),
its Dockerfile and its size budget.

push.py, the size-budget test and the build read this table, so a new image or a new budget is one edit here.
BENCHMARK_IMAGES are built the same way for the benchmarks only: never pushed, no budget.
The pushed-images file (build/images.json: what push.py pushed, digest-pinned) is defined here too, with its writer
(push.py) and reader (scripts/launch.py's modules).
Standard library only: importable anywhere, also by a bare `python3`.

    python3 scripts/images.py            # the table, one image a line (key, local image, repository, ...)
"""

import dataclasses
import json
import os
import pathlib
import sys

PREFIX_VARIABLE = "IMAGE_PREFIX"  # the local image names' prefix, as scripts/build-images.sh reads it
DEFAULT_PREFIX = "headlines"
# The stage whose image the build keeps as a layer cache: `<local image>-build-env` (see scripts/build-images.sh).
CACHE_STAGE = "build-env"
# SageMaker serverless endpoints refuse images over 10 GiB; every budget stays below it.
SERVERLESS_CAP_BYTES = 10 * 1024**3


@dataclasses.dataclass(frozen=True)
class Image:
    key: str  # the build target
    name: str  # image family: local `<prefix>-<name>:<accelerator>`, repository `<prefix>-<name>`
    accelerator: str  # gpu or cpu
    dockerfile: str
    build_args: tuple
    budget_bytes: int | None  # uncompressed, as `docker image inspect` reports .Size; None: a benchmark's image
    # The CPU architecture it is built for, as `docker image inspect` reports .Architecture: push.py refuses an image
    # built for another (one built on Apple Silicon is arm64, and fails with "exec format error" on x86 instances).
    architecture: str = "amd64"

    @property
    def variant(self):
        """The tag suffix: the accelerator, and the architecture when it is not amd64 (cpu, gpu, cpu-arm64)."""
        return self.accelerator if self.architecture == "amd64" else f"{self.accelerator}-{self.architecture}"

    def local(self, prefix=None):
        return f"{prefix or local_prefix()}-{self.name}:{self.variant}"

    def stage(self, stage, prefix=None):
        """The local image of one build stage, e.g. headlines-train:cpu-build-env."""
        return f"{self.local(prefix)}-{stage}"

    def repository(self, prefix=DEFAULT_PREFIX):
        return f"{prefix}-{self.name}"


IMAGES = {
    image.key: image
    for image in (
        # 4.2 GB: the CUDA wheels are ~2.8 GB of it; numba and LLVM (the word-vector CPU engine) ~0.13 GB.
        Image("train-gpu", "train", "gpu", "containers/train/Dockerfile", ("VARIANT=gpu",), 4_200_000_000),
        Image("train-cpu", "train", "cpu", "containers/train/Dockerfile", ("VARIANT=cpu",), 1_200_000_000),
        Image("serve", "serve", "cpu", "containers/serve/Dockerfile", (), 250_000_000),
        # Graviton (ml.c7g, m7g, r7g, ...): the same Dockerfile built for linux/arm64.
        Image("serve-arm64", "serve", "cpu", "containers/serve/Dockerfile", (), 250_000_000, "arm64"),
    )
}
# AWS's MXNet inference toolkit serving our model, the other side of benchmarks/serve_load.py.
BENCHMARK_IMAGES = {
    image.key: image
    for image in (Image("bench-toolkit", "bench-toolkit", "cpu", "benchmarks/toolkit/Dockerfile", (), None),)
}


def local_prefix() -> str:
    """The local image names' prefix: IMAGE_PREFIX, or headlines."""
    return os.environ.get(PREFIX_VARIABLE) or DEFAULT_PREFIX


# --- the pushed-images file -------------------------------------------------------------------------------------
#
# {"schema": 1, "account": "123456789012", "region": "us-east-1", "commit": "<40 hex digits>",
#  "version": "<git tag at HEAD>" or null,
#  "images": {"<key of IMAGES>": {"uri": "<registry>/<repository>@sha256:...", "accelerator": "cpu" or "gpu",
#                                 "architecture": "amd64" or "arm64", "local", "repository", "registry",
#                                 "digest", "tags", "tag_uris", "size_bytes", "media_type", "pushed"}}}
# An image is there only when it was pushed. Readers take an image's digest-pinned "uri", its "accelerator" and
# its "architecture" (buildspec.yml reads the "uri"s with jq); the other fields say what was pushed where.
PUSHED_IMAGES_SCHEMA = 1  # readers refuse any other: a new number for a layout an old reader would misread
TRAINING_IMAGE_KEYS = {"cpu": "train-cpu", "gpu": "train-gpu"}  # the training image of each accelerator
SERVING_IMAGE_KEY = "serve"
SERVING_IMAGE_KEYS = {"amd64": SERVING_IMAGE_KEY, "arm64": "serve-arm64"}  # the serving image of each architecture
# How `make push` pushes each image, for the sentence that asks for one the file lacks.
PUSH_ARGS = {
    "train-cpu": "--images train --train-variant cpu",
    "train-gpu": "--images train --train-variant gpu",
    SERVING_IMAGE_KEY: "--images serve",
    "serve-arm64": "--images serve --serve-architecture arm64",
}


class PushedImagesError(ValueError):
    """A pushed-images file that is missing, malformed or without the image asked for: one sentence saying why."""


def pushed_image_record(
    image: Image,
    repository: str,
    registry: str,
    digest: str | None,
    tags: list[str],
    size_bytes: int,
    media_type: str | None,
    pushed: bool,
) -> dict:
    """One image's record in the pushed-images file; digest and media_type are None in a dry run."""
    return {
        "local": image.local(),
        "repository": repository,
        "registry": registry,
        "accelerator": image.accelerator,
        "architecture": image.architecture,
        "digest": digest,
        "uri": f"{registry}/{repository}@{digest}",
        "tags": tags,
        "tag_uris": [f"{registry}/{repository}:{tag}" for tag in tags],
        "size_bytes": size_bytes,
        "media_type": media_type,
        "pushed": pushed,
    }


def write_pushed_images(
    path: str | os.PathLike,
    account: str,
    region: str,
    commit: str,
    version: str | None,
    records: dict[str, dict],
) -> None:
    """Writes the pushed-images file whole, through a temporary file, so that no reader ever sees half of one."""
    document = {
        "schema": PUSHED_IMAGES_SCHEMA,
        "account": account,
        "region": region,
        "commit": commit,
        "version": version,
        "images": records,
    }
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


def read_pushed_images(path: str | os.PathLike) -> dict:
    """The pushed-images file at `path`, refused unless it is JSON of PUSHED_IMAGES_SCHEMA."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except FileNotFoundError:
        raise PushedImagesError(f"{path} does not exist: push the images first (make push).") from None
    except ValueError:
        raise PushedImagesError(
            f"{path} is not JSON: it should be the pushed-images file that make push writes."
        ) from None
    if not isinstance(document, dict) or document.get("schema") != PUSHED_IMAGES_SCHEMA:
        raise PushedImagesError(
            f"{path} is not a pushed-images file of schema {PUSHED_IMAGES_SCHEMA} (make push writes one)."
        )
    return document


def read_pushed_image(path: str | os.PathLike, key: str) -> dict:
    """The record of the image `key` (a key of IMAGES) in the pushed-images file at `path`."""
    record = read_pushed_images(path).get("images", {}).get(key)
    if not record:
        raise PushedImagesError(f"{path} has no {key} image: push it with make push PUSH_ARGS='{PUSH_ARGS[key]}'.")
    return record


def main(argv=None):
    """Prints the table for shell scripts: key, local image, repository, accelerator, Dockerfile, build args
    (comma-separated, `-` for none), budget in bytes (`-` for none) and CPU architecture, tab-separated. No keys:
    every image of IMAGES; a benchmark's image only when named."""
    known = {**IMAGES, **BENCHMARK_IMAGES}
    keys = (argv if argv is not None else sys.argv[1:]) or list(IMAGES)
    unknown = [key for key in keys if key not in known]
    if unknown:
        print(f"unknown image {', '.join(unknown)} (expected {', '.join(known)})", file=sys.stderr)
        return 2
    for image in map(known.get, keys):
        print(
            "\t".join(
                (
                    image.key,
                    image.local(),
                    image.repository(),
                    image.accelerator,
                    image.dockerfile,
                    ",".join(image.build_args) or "-",
                    "-" if image.budget_bytes is None else str(image.budget_bytes),
                    image.architecture,
                )
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
