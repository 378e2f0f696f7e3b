"""Thin command-line entry points of the images: `train` and `serve`. The logic lives in the package."""

import logging
import sys


def configure_logging() -> None:
    # Line by line to CloudWatch: never sit in a buffer when the container dies.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # absent when a test harness has replaced the stream
            stream.reconfigure(line_buffering=True)
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
