#!/usr/bin/env python3
"""The project's images, one row per build target of scripts/build-images.sh: the local image it builds, the ECR
repository it is pushed to, its accelerator (also the tag suffix), its Dockerfile and its size budget.

push.py, the size-budget test and the build read this table, so a new image or a new budget is one edit here.
BENCHMARK_IMAGES are built the same way for the benchmarks only: never pushed, no budget.
Standard library only: importable anywhere, also by a bare `python3`.

    python3 scripts/images.py            # the table, one image a line (key, local image, repository, ...)
"""

import dataclasses
import os
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

    def local(self, prefix=None):
        return f"{prefix or local_prefix()}-{self.name}:{self.accelerator}"

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
    )
}
# AWS's MXNet inference toolkit serving our model, the other side of benchmarks/serve_load.py.
BENCHMARK_IMAGES = {
    image.key: image
    for image in (Image("bench-toolkit", "bench-toolkit", "cpu", "benchmarks/toolkit/Dockerfile", (), None),)
}


def local_prefix():
    return os.environ.get(PREFIX_VARIABLE) or DEFAULT_PREFIX


def main(argv=None):
    """Prints the table for shell scripts: key, local image, repository, accelerator, Dockerfile, build args
    (comma-separated, `-` for none) and budget in bytes (`-` for none), tab-separated. No keys: every image of
    IMAGES; a benchmark's image only when named."""
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
                )
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
