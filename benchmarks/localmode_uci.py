"""Local-mode benchmark with the SageMaker SDK v2: the classifier on the UCI News Aggregator story split with one
host and with two hosts (instance_count=2: MXNet's parameter server across two containers), default
hyperparameters, and the wall time of `make demo`'s script with the images already built. Writes
bench-results/localmode.{json,md}.

    make bench-localmode     (or: .venv/bin/python benchmarks/localmode_uci.py)
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from helpers import UCI_DIR, require_real_data  # noqa: E402


def sdk_python():
    return subprocess.run([str(REPO / "scripts" / "sdk-venv.sh"), "v2"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _timed(command):
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{command[1:3]} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return result.stdout + result.stderr, time.time() - started


def train(python, image, folder, instance_count):
    data = folder / "data"
    for channel, name in (("train", "train.tsv"), ("test", "test.tsv")):
        (data / channel).mkdir(parents=True, exist_ok=True)
        (data / channel / name).write_bytes((UCI_DIR / name).read_bytes())
    output = folder / f"hosts-{instance_count}"
    log, seconds = _timed([python, str(REPO / "scripts" / "launch.py"), "train", "--image", image,
                           "--instance-count", str(instance_count), "--channel", f"train=file://{data / 'train'}",
                           "--channel", f"test=file://{data / 'test'}", "--output", f"file://{output}"])
    with tarfile.open(output / "output.tar.gz") as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("metrics.json"))
        metrics = json.load(archive.extractfile(member))
    epoch_seconds = [float(s) for s in re.findall(r"algo-1-\w+\s*\|.*epoch_seconds=([0-9.]+)", log)]
    return {"hosts": instance_count, "kvstore": metrics["kvstore"], "test_accuracy": metrics["test"]["accuracy"],
            "test_macro_f1": metrics["test"]["macro_f1"], "best_epoch": metrics["best_epoch"],
            "epochs_run": metrics["epochs_run"], "mean_epoch_seconds": sum(epoch_seconds) / len(epoch_seconds),
            "job_wall_seconds": round(seconds, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="headlines-train:cpu")
    parser.add_argument("--out", default=str(REPO / "bench-results"))
    args = parser.parse_args()
    require_real_data()
    python = sdk_python()
    with tempfile.TemporaryDirectory() as temporary:
        folder = pathlib.Path(temporary)
        rows = [train(python, args.image, folder, count) for count in (1, 2)]
        _, demo_seconds = _timed([python, str(REPO / "scripts" / "demo.py"), "--output", str(folder / "demo")])
    results = {"training": rows, "demo_seconds_images_built": round(demo_seconds, 1)}
    out = pathlib.Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "localmode.json").write_text(json.dumps(results, indent=1))
    lines = ["| hosts | kvstore | test accuracy | test macro-F1 | best/run epochs | mean epoch s | job wall s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['hosts']} | {r['kvstore']} | {r['test_accuracy']:.4f} | {r['test_macro_f1']:.4f} | "
              f"{r['best_epoch']}/{r['epochs_run']} | {r['mean_epoch_seconds']:.1f} | {r['job_wall_seconds']} |"
              for r in rows]
    lines.append(f"\n`make demo` (scripts/demo.py), images built: {results['demo_seconds_images_built']} s")
    (out / "localmode.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
