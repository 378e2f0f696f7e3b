"""Puts the repository's code/ folder on sys.path: the launcher runs in the SageMaker SDK's virtualenv, which has
neither MXNet nor the headlines package, and imports the package's standard-library-only modules (instance_types,
hyperparameters, contract) from the source tree (tests/unit/scripts/test_launch.py runs it with nothing else on the
path); the SDK itself is imported where it is used."""

import os
import sys

CODE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "code")
if CODE not in sys.path:
    sys.path.insert(0, CODE)
