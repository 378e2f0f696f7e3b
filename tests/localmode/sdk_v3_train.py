"""Runs in the SDK v3 virtualenv (tests/localmode/test_sdk_v3.py starts it): one training job with
ModelTrainer(training_mode=Mode.LOCAL_CONTAINER) and the training image, which SDK v3 starts with no command.

    python sdk_v3_train.py IMAGE INSTANCE_COUNT ROOT RESULT_JSON CHANNEL=DIR... [--hp NAME=VALUE ...]

SDK v3 takes local folders (not file:// URIs), writes everything under ROOT (local_container_root; its
output_data_config is not used in local mode) and leaves model.tar.gz in ROOT/compressed_artifacts. Telemetry is
off through the SDK defaults file that SAGEMAKER_USER_CONFIG_OVERRIDE names (v3 has no switch besides it).
"""

import argparse
import json
import os
import subprocess
import time

from sagemaker.train.configs import Compute, InputData
from sagemaker.train.model_trainer import Mode, ModelTrainer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("image")
    parser.add_argument("instance_count", type=int)
    parser.add_argument("root")
    parser.add_argument("result")
    parser.add_argument("channels", nargs="+", metavar="CHANNEL=DIR")
    parser.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    assert os.environ.get("SAGEMAKER_USER_CONFIG_OVERRIDE"), "telemetry must be switched off"
    channels = dict(pair.split("=", 1) for pair in args.channels)
    trainer = ModelTrainer(
        training_mode=Mode.LOCAL_CONTAINER,
        training_image=args.image,
        base_job_name="headlines-v3",
        compute=Compute(instance_type="local_cpu", instance_count=args.instance_count),
        hyperparameters=dict(pair.split("=", 1) for pair in args.hp),
        input_data_config=[InputData(channel_name=name, data_source=path) for name, path in channels.items()],
        local_container_root=args.root,
    )
    started = time.time()
    try:
        trainer.train(wait=True)
    finally:
        # The SDK leaves the stopped job containers behind; `rm -s` removes this project's only (`down` would
        # also try to remove the shared sagemaker-local network).
        compose_file = os.path.join(args.root, "docker-compose.yaml")
        if os.path.exists(compose_file):
            subprocess.run(["docker-compose", "-f", compose_file, "rm", "-f", "-s"], capture_output=True, check=False)
    with open(args.result, "w", encoding="utf-8") as f:
        json.dump(
            {
                "seconds": round(time.time() - started, 1),
                "model_data": os.path.join(args.root, "compressed_artifacts", "model.tar.gz"),
                "output_data": os.path.join(args.root, "compressed_artifacts", "output.tar.gz"),
            },
            f,
        )


if __name__ == "__main__":
    main()
