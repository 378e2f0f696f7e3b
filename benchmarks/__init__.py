"""The benchmarks (not tests), run as modules from the repository root: `python -m benchmarks.train_uci`."""
