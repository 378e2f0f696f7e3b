"""Image sizes: the training images (CPU, GPU) and the serving image, uncompressed as `docker image inspect`
reports them, with the largest layers, against the base image they are all built on (the anchor: what the
project adds is the difference). Writes bench-results/images.json.

    make bench-images      (the images as built on this machine; QUICK=1 as well, for the harness)
"""

import argparse
import json

from benchmarks.harness import write_result
from tests.support.containers import docker

IMAGES = ("headlines-train:cpu", "headlines-train:gpu", "headlines-serve:cpu")
LARGEST_LAYERS = 3


def size(image):
    return int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout)


def largest_layers(image):
    """The biggest layers and the Dockerfile step that made each, from `docker history`."""
    lines = docker("history", "--no-trunc", "--human=false", "--format", "{{json .}}", image).stdout.splitlines()
    layers = [json.loads(line) for line in lines]
    layers.sort(key=lambda layer: -int(layer["Size"]))
    return [
        {"bytes": int(layer["Size"]), "step": " ".join(layer["CreatedBy"].split())[:160]}
        for layer in layers[:LARGEST_LAYERS]
    ]


def base_image():
    """The base image the build used: headlines-base:bookworm where debootstrap made it, else the public one."""
    for candidate in ("headlines-base:bookworm", "debian:bookworm-slim"):
        if docker("image", "inspect", candidate, check=False).returncode == 0:
            return candidate
    raise SystemExit("No base image on this machine: build the images first (make images images-gpu).")


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    missing = [image for image in IMAGES if docker("image", "inspect", image, check=False).returncode != 0]
    if missing:
        raise SystemExit(f"Missing images: {', '.join(missing)}: build them first (make images images-gpu).")
    base = base_image()
    rows = [{"image": image, "bytes": size(image), "largest_layers": largest_layers(image)} for image in IMAGES]
    write_result(
        "images",
        "bench-images",
        f"the base image every stage starts from ({base})",
        images=[*IMAGES, base],
        base={"image": base, "bytes": size(base)},
        sizes=rows,
    )


if __name__ == "__main__":
    main()
