"""`serve`: the serving image's command (`docker run IMAGE serve`, or no command at all)."""

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ..environment import ServingEnvironment, container_cpus
from ..errors import JobError
from . import configure_logging

EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="serve",
        description="Serve the model in /opt/ml/model (or $SAGEMAKER_BASE_DIR/model) on the SageMaker "
        "hosting and batch-transform contract: GET /ping, POST /invocations, "
        "GET /execution-parameters.",
    )
    parser.add_argument("command", nargs="?", choices=["serve"], help="what SageMaker passes; optional")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _parser().parse_args(argv)
    configure_logging()
    try:
        settings = ServingEnvironment.from_environ()
    except JobError as e:
        logging.getLogger("headlines.serve").error("cannot start: %s", e)
        return EXIT_FAILED
    # Workers share the container's CPUs (its quota, not the host's cores): each gets its share of numpy's BLAS
    # threads unless the user says otherwise. Set before numpy (OpenBLAS) is loaded, which reads it once.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max(1, container_cpus() // settings.workers)))
    from ..serving.server import serve

    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
