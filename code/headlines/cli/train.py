"""`train`: the training image's command (`docker run IMAGE train`, or no command at all for SDK v3)."""

import os

# Read by MXNet once, when it loads, so before anything imports it: two CPU engine threads let independent
# operators run side by side. The word-vector MXNet path's many small sparse operators gained ~1.4x from it on CPU;
# the classifier's results are unchanged (its resume-equals-uninterrupted test).
os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", "2")

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import NoReturn  # noqa: E402

from .. import contract  # noqa: E402
from ..environment import TrainingEnvironment, configured_host_count  # noqa: E402
from ..errors import JobError, TrainingInterrupted  # noqa: E402
from ..gpu_check import check_gpus  # noqa: E402
from ..hyperparameters import SUPERVISED, Hyperparameters, WordVectorHyperparameters, job_mode  # noqa: E402
from ..model_folder import discard_model  # noqa: E402
from ..runtime.checkpoints import wait_for_checkpoint  # noqa: E402
from ..runtime.signals import StopSignal  # noqa: E402
from . import configure_logging  # noqa: E402

EXIT_FAILED = 1
EXIT_INTERRUPTED = 128 + 15  # the shell's convention for "ended by SIGTERM"


def write_failure(path: str, reason: str) -> None:
    """SageMaker shows the first 1024 characters of this file as the job's FailureReason."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(reason[: contract.FAILURE_REASON_MAX_CHARS])


def _parser() -> argparse.ArgumentParser:
    rows = "\n".join(
        f"{schema.mode_names}:\n"
        + "\n".join(
            f"  {name:<24} default {default!s:<10} {expects}; {help}"
            for name, default, expects, help in schema.describe()
        )
        for schema in (Hyperparameters, WordVectorHyperparameters)
    )
    parser = argparse.ArgumentParser(
        prog="train",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the headline classifier (mode supervised) or word vectors "
        "(modes skipgram, cbow, batch_skipgram) on the SageMaker training "
        "contract (/opt/ml or $SAGEMAKER_BASE_DIR).",
        epilog="hyperparameters (hyperparameters.json):\n" + rows,
    )
    parser.add_argument("command", nargs="?", choices=["train"], help="what SageMaker passes; optional")
    return parser


# How long a host ended by another's stop waits for its checkpoint: SageMaker's SIGKILL comes 120 s after SIGTERM.
CHECKPOINT_WAIT_SECONDS = 60


# Held to write the failure file and to end the process: a host ended by another's stop (abort(), on a background
# thread) and its main thread failing as that host leaves both record a reason, and a process that ended while the
# other thread had just emptied the file to write it left an empty reason. The reason written last is the one the
# exit code goes with.
ENDING = threading.RLock()


def record_failure(reason: str) -> None:
    logging.getLogger("headlines.train").error(reason)
    # Paths straight from the base directory: the failure may be that the environment cannot be read.
    base_dir = os.environ.get(contract.BASE_DIR_ENV, contract.DEFAULT_BASE_DIR)
    with ENDING:
        discard_model(os.path.join(base_dir, contract.MODEL_DIR))
        write_failure(os.path.join(base_dir, contract.FAILURE_FILE), reason)


def abort(reason: str) -> NoReturn:
    """Called from a background thread when another host of the job has failed or stopped. The main thread may be
    blocked inside MXNet waiting for that host, where no exception reaches it: let it finish a checkpoint it is
    writing, record the reason and end the process."""
    wait_for_checkpoint(CHECKPOINT_WAIT_SECONDS)
    with ENDING:
        record_failure(reason)
        os._exit(EXIT_FAILED)


def load_mxnet() -> None:
    """Import MXNet here, where a library that does not load (MXNet's, CUDA's) becomes one sentence in the failure
    file: nothing this module imports at its top needs MXNet."""
    try:
        importlib.import_module("mxnet")
    except (ImportError, OSError) as e:
        raise JobError(
            f"The training image is broken: MXNet does not load ({type(e).__name__}: {e}); rebuild the "
            f"image with scripts/build-images.sh."
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    _parser().parse_args(argv)
    configure_logging()
    stop_signal = StopSignal().install()
    try:
        check_gpus(logging.getLogger("headlines.train"))
        if configured_host_count() > 1:
            # Read by OpenMP when MXNet loads it. The hosts' containers may share one machine's cores (SageMaker
            # local mode), where threads that spin while they wait starve the other host's: its compiled steps
            # ran 3-20x slower. Waiting passively cost one host nothing measurable (docs/performance.md).
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        load_mxnet()
        env = TrainingEnvironment.from_base_dir()
        run: Callable[[TrainingEnvironment, StopSignal, Callable[[str], None]], object]  # either job's run()
        if job_mode(env.hyperparameters) == SUPERVISED:
            from ..classifier.job import run
        else:
            from ..word_vectors.job import run
        run(env, stop_signal, abort)
        return 0
    except TrainingInterrupted as e:
        reason, code = str(e), EXIT_INTERRUPTED
    except JobError as e:
        reason, code = f"{e}", EXIT_FAILED
    except Exception as e:  # noqa: BLE001 - anything else is our bug: say so, with the trace for the logs
        reason = f"Training failed with an internal error: {type(e).__name__}: {e}\n{traceback.format_exc()}"
        code = EXIT_FAILED
    record_failure(reason)
    return code


def exit_main() -> NoReturn:
    """The `train` command: main(), then the process ends without the interpreter's teardown. After a failure on
    one host of a distributed job, MXNet's parameter-server threads are still running, and C++ static
    destructors abort the process on them (SIGABRT instead of the exit code). Everything the job writes is
    closed by then; only the log streams need flushing."""
    code = main()
    with ENDING:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    exit_main()
