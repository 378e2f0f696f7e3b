"""Training checkpoints in /opt/ml/checkpoints (synced to S3 and restored for a new attempt by SageMaker).

A checkpoint is a generation of files (current parameters, optimizer states, best parameters) plus
``state.json``, written last with an atomic rename: a job killed while writing leaves the previous
checkpoint intact. A checkpoint only resumes the job that wrote it (same data and hyperparameters).
"""

import glob
import json
import logging
import os

from ..errors import JobError

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
FORMAT_VERSION = 1


class CheckpointStore:
    def __init__(self, folder, fingerprint):
        self.folder = folder
        self.fingerprint = fingerprint

    def load(self):
        """The saved state (with absolute file paths) or None when the folder holds no checkpoint."""
        path = os.path.join(self.folder, STATE_FILE)
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError) as e:
            raise JobError(f"The checkpoint {path} cannot be read ({e}); remove it to start afresh.") from e
        if state.get("fingerprint") != self.fingerprint:
            raise JobError(
                f"The checkpoint in {self.folder} was written by a job with other data or "
                f"hyperparameters; remove it, or give this job its own checkpoint location."
            )
        for key in ("params_file", "trainer_file", "best_params_file"):
            state[key] = os.path.join(self.folder, state[key])
        logger.info(
            "resuming from the checkpoint in %s (epoch %d, batch %d)", self.folder, state["epoch"], state["next_batch"]
        )
        return state

    def save(self, net, trainer, best_params_writer, state):
        """Write a new generation; best_params_writer(path) writes the best parameters so far."""
        os.makedirs(self.folder, exist_ok=True)
        generation = self._next_generation()
        files = {
            "params_file": f"params-{generation}.params",
            "trainer_file": f"trainer-{generation}.states",
            "best_params_file": f"best-{generation}.params",
        }
        net.save_parameters(os.path.join(self.folder, files["params_file"]))
        trainer.save_states(os.path.join(self.folder, files["trainer_file"]))
        best_params_writer(os.path.join(self.folder, files["best_params_file"]))
        state = dict(state, fingerprint=self.fingerprint, generation=generation, format_version=FORMAT_VERSION, **files)
        temporary = os.path.join(self.folder, STATE_FILE + ".tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, os.path.join(self.folder, STATE_FILE))
        self._remove_other_generations(generation)
        return os.path.join(self.folder, STATE_FILE)

    def _generations(self):
        found = set()
        for path in glob.glob(os.path.join(self.folder, "params-*.params")):
            suffix = os.path.basename(path)[len("params-") : -len(".params")]
            if suffix.isdigit():
                found.add(int(suffix))
        return found

    def _next_generation(self):
        return max(self._generations(), default=0) + 1

    def _remove_other_generations(self, keep):
        for generation in self._generations() - {keep}:
            for pattern in ("params-{}.params", "trainer-{}.states", "best-{}.params"):
                path = os.path.join(self.folder, pattern.format(generation))
                if os.path.exists(path):
                    os.remove(path)
