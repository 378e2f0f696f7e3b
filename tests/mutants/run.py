"""`make test-mutants`: each mutant of catalogue.py applied to its own copy of the repository (the working tree's
files less those git ignores), its tests run there, and a table of which tests killed which mutant. The tests
first run on an unmutated copy: a test that fails there proves nothing. A mutant is killed when its tests fail on
an assertion; a crash does not count. Exit status 1 unless every mutant is killed.

    .venv/bin/python -m tests.mutants.run [--only NAME]
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from tests.mutants.catalogue import MUTANTS, Mutant
from tests.support.repo import REPO

PYTEST_FAILED = 1  # pytest's exit status when tests ran and some failed; others mean it could not run them
# How a failed check starts on pytest's `E ` lines: a failing assert, pytest.fail or a pytest.raises not raised.
# Anything else (a NameError, an ImportError) is the mutant breaking the test, not the test catching the mutant.
ASSERTION_STARTS = ("assert", "AssertionError", "Failed:")
TEST_SECONDS = 900


def working_copy(destination: pathlib.Path) -> pathlib.Path:
    """The working tree's files that git tracks or would (not the ignored ones: .venv, build outputs), under
    destination."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, target = REPO / name, destination / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def mutate(copy: pathlib.Path, mutant: Mutant) -> None:
    """Applies the mutant's replacement; refuses one whose text is not in the file exactly once."""
    path = copy / mutant.path
    text = path.read_text(encoding="utf-8")
    if text.count(mutant.original) != 1:
        raise SystemExit(
            f"mutant {mutant.name!r}: its original text occurs {text.count(mutant.original)} times in {mutant.path} "
            f"(expected once): update tests/mutants/catalogue.py"
        )
    path.write_text(text.replace(mutant.original, mutant.mutated), encoding="utf-8")


def run_tests(copy: pathlib.Path, tests: tuple[str, ...]) -> tuple[int, float, str]:
    """pytest on the copy, its package imported from the copy: (exit status, seconds, its output)."""
    environment = {**os.environ, "PYTHONPATH": f"{copy / 'code'}{os.pathsep}{copy}"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TEST_SECONDS,
    )
    return result.returncode, time.monotonic() - started, result.stdout + result.stderr


def first_error(output: str) -> str:
    """The first `E ` line of pytest's report: why the tests failed."""
    line = next((line for line in output.splitlines() if line.startswith("E ")), "no error line")
    return line[1:].strip()[:120].replace("|", "/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run the mutant of this name (repeatable)")
    args = parser.parse_args()
    mutants = [mutant for mutant in MUTANTS if not args.only or mutant.name in args.only]
    rows, survivors = [], 0
    with tempfile.TemporaryDirectory(prefix="headlines-mutants-") as folder:
        clean = working_copy(pathlib.Path(folder) / "clean")
        every_test = tuple(dict.fromkeys(test for mutant in mutants for test in mutant.tests))
        status, seconds, output = run_tests(clean, every_test)
        if status != 0:
            raise SystemExit(f"the mutants' tests fail on the unmutated product:\n{output[-3000:]}")
        print(f"the mutants' tests pass on the unmutated product ({seconds:.0f} s)", flush=True)
        for number, mutant in enumerate(mutants):
            mutated = working_copy(pathlib.Path(folder) / f"{number}-mutant")
            mutate(mutated, mutant)
            status, seconds, output = run_tests(mutated, mutant.tests)
            killed = status == PYTEST_FAILED and first_error(output).startswith(ASSERTION_STARTS)
            survivors += not killed
            outcome = f"killed: {first_error(output)}" if killed else f"SURVIVED (pytest exit status {status})"
            tests = " ".join(mutant.tests)
            rows.append(f"| {mutant.name} | {mutant.finding} | {tests} | {outcome} ({seconds:.0f} s) |")
            print(rows[-1] if killed else f"{rows[-1]}\n{output[-3000:]}", flush=True)
    print("\n| mutant | finding | tests | result |\n|---|---|---|---|\n" + "\n".join(rows))
    print(f"\n{len(mutants) - survivors} of {len(mutants)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
