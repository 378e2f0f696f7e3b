"""A job's input channels as folders of files, whatever the channel's input mode.

File and FastFile channels are folders SageMaker fills (FastFile streams a file's bytes from S3 as they are read,
and the jobs read each file front to back, so it behaves as File). A Pipe channel is a FIFO a pass over the data,
input/data/<channel>_<pass>, each streaming the channel's S3 objects one after another. Both jobs read their data
several times (vocabulary, then epochs), so the first FIFO is copied once, in 1 MB blocks, to
input/data/.pipe-copies/<channel>/<channel>, on the ML storage volume that File mode would have filled: memory
stays bounded, the volume needs the data's size (as in File mode), and the later FIFOs are never opened. The copy
holds the objects back to back: text, CSV without a header after the first object, JSON Lines, fastText lines,
gzip (concatenated members are one gzip stream). RecordIO-wrapped records are refused.
"""

import logging
import os
import shutil
import time

from .. import contract
from ..environment import TrainingEnvironment
from ..errors import JobError
from ..files import publish, staging_folder

logger = logging.getLogger(__name__)

COPY_BLOCK_BYTES = 1 << 20
PIPE_COPIES_DIR = ".pipe-copies"  # hidden: not a channel folder


def channel_folders(env: TrainingEnvironment) -> dict[str, str]:
    """Channel name -> the folder of its files; each Pipe channel's first FIFO is copied to a folder of its own,
    once every channel's mode has been checked."""
    folders = env.channel_dirs
    modes = {name: _input_mode(name, env.input_data_config.get(name, {})) for name in folders}
    for name in (name for name, mode in modes.items() if mode == contract.PIPE_MODE):
        folders[name] = os.path.join(env.input_data_dir, PIPE_COPIES_DIR, name)
        copy_fifo(os.path.join(env.input_data_dir, f"{name}_0"), folders[name], name)
    return folders


def _input_mode(name: str, config: dict[str, str]) -> str:
    """The channel's input mode, or a JobError for one these jobs cannot read."""
    mode = config.get(contract.INPUT_MODE_KEY, contract.FILE_MODES[0])
    if mode not in (*contract.FILE_MODES, contract.PIPE_MODE):
        raise JobError(
            f"Channel {name} has input mode {mode!r}; these jobs read "
            f"{', '.join((*contract.FILE_MODES, contract.PIPE_MODE))}."
        )
    if mode == contract.PIPE_MODE:
        _check_unwrapped(name, config)
    return mode


def _check_unwrapped(name: str, config: dict[str, str]) -> None:
    wrapper = config.get(contract.RECORD_WRAPPER_KEY, contract.NO_RECORD_WRAPPER)
    if wrapper != contract.NO_RECORD_WRAPPER:
        raise JobError(
            f"Channel {name} wraps its records in {wrapper}; these jobs read the objects' own bytes: set "
            f"RecordWrapperType to None (the SDK's record_wrapping=None)."
        )


def copy_fifo(fifo: str, folder: str, name: str) -> int:
    """Copies everything the FIFO gives, until its writer closes it, to folder/name (staged, then published);
    returns the byte count."""
    if not os.path.exists(fifo):
        raise JobError(f"Channel {name} is in Pipe mode, but SageMaker's FIFO {fifo} is not there.")
    started = time.monotonic()
    try:
        os.makedirs(folder, exist_ok=True)
        staging = staging_folder(folder)
        with open(fifo, "rb") as source, open(os.path.join(staging, name), "wb") as target:
            shutil.copyfileobj(source, target, COPY_BLOCK_BYTES)
            copied = target.tell()
        publish(folder)
    except OSError as e:
        raise JobError(f"Copying channel {name} from its FIFO {fifo} to {folder} failed: {e}.") from e
    logger.info("channel %s (Pipe): %d bytes copied to %s in %.1f s", name, copied, folder, time.monotonic() - started)
    return copied
