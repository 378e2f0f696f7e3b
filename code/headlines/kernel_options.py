"""How both jobs' CPU kernels are compiled (numba.njit's options), in one place."""

from typing import Any

# Without the GIL, so that threads run kernels side by side; cached in the package's __pycache__, which the training
# image fills at build time. fastmath for vectorised dot products (reassociation), but not "no NaNs": a NaN from
# diverged weights must stay one, not become a table index or a loss that looks finite.
JIT_OPTIONS: dict[str, Any] = {
    "nogil": True,
    "fastmath": {"nsz", "arcp", "contract", "afn", "reassoc"},
    "cache": True,
    "error_model": "numpy",
    "boundscheck": False,
}
