"""A pushed-images JSON as scripts/push.py writes it, with made-up digests, for tests of its readers (launch.py)."""

import hashlib
import json

from helpers import load_script

images = load_script("images")


def write_pushed_images(path, account="123456789012", region="us-east-1", pushed=True):
    """Every image of scripts/images.py, digest-pinned in that account's ECR registry; returns path as a string.
    pushed=False: the images were there already, which changes nothing for a reader."""
    registry = f"{account}.dkr.ecr.{region}.amazonaws.com"
    records = {}
    for key, image in images.IMAGES.items():
        digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        records[key] = {
            "local": image.local(),
            "repository": image.repository(),
            "registry": registry,
            "accelerator": image.accelerator,
            "digest": digest,
            "uri": f"{registry}/{image.repository()}@{digest}",
            "pushed": pushed,
        }
    path.write_text(
        json.dumps(
            {"schema": 1, "account": account, "region": region, "commit": "0" * 40, "version": None, "images": records}
        )
    )
    return str(path)
