"""The repository's root, and its scripts (not a package) imported by file name."""

import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def load_script(name):
    """A module of scripts/ (they are not a package), imported by file name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # scripts import each other by name (demo -> launch, make_demo_data)
    spec.loader.exec_module(module)
    return module
