"""A pushed-images JSON as scripts/push.py writes it (through scripts/images.py, which defines the file), with made-up
digests, for tests of its readers (launch.py)."""

import hashlib

from tests.support.repo import load_script

images = load_script("images")
DOCKER_V2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def write_pushed_images(path, account="123456789012", region="us-east-1", pushed=True):
    """Every image of scripts/images.py, digest-pinned in that account's ECR registry; returns path as a string.
    pushed=False: the images were there already, which changes nothing for a reader."""
    registry, commit = f"{account}.dkr.ecr.{region}.amazonaws.com", "0" * 40
    records = {}
    for key, image in images.IMAGES.items():
        digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        tags = [f"{commit[:12]}-{image.accelerator}"]
        records[key] = images.pushed_image_record(
            image, image.repository(), registry, digest, tags, image.budget_bytes, DOCKER_V2_MANIFEST, pushed
        )
    images.write_pushed_images(path, account, region, commit, None, records)
    return str(path)
