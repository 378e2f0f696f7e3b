"""The classifier job (in-process, on a fake /opt/ml) given a train channel with a row it cannot use or a file it
cannot read: the row is counted and the job trains, or the job fails in one sentence before it trains."""

import os

from headlines.cli.train import main
from headlines.model_folder import MODEL_FILES
from tests.support.data import data_set
from tests.support.fake_sagemaker import SMALL_MODEL

ROWS = data_set().train_rows(600)


def test_a_lone_surrogate_label_is_a_bad_row_and_the_job_trains(sagemaker):
    """The label used to reach the model files, whose writing failed after every epoch had run."""
    rows = [r'{"headline": "Stocks slide", "label": "\ud800"}', r'{"headline": "x \udfff", "label": "b"}']
    sagemaker.add_channel("train", {"part-0.tsv": ROWS, "part-1.jsonl": rows})
    sagemaker.write_config(dict(SMALL_MODEL, epochs=1, max_bad_row_fraction=0.01))
    assert main([]) == 0, sagemaker.failure_file.read_text()
    train = sagemaker.metrics()["data"]["train"]
    assert train["rows"] == 600 and train["bad_rows"] == 2
    assert "part-1.jsonl:1: the label holds '\\ud800'" in train["bad_row_examples"][0]
    assert sorted(os.listdir(sagemaker.model_dir)) == sorted(MODEL_FILES)


def test_a_corrupt_gzip_file_fails_the_job_in_one_sentence_before_training(sagemaker):
    folder = sagemaker.add_channel("train", {"part-0.tsv": ROWS[:300], "part-1.tsv.gz": ROWS[300:]})
    packed = (folder / "part-1.tsv.gz").read_bytes()
    # 0xff after the 10-byte gzip header: a deflate block of the reserved type 3 (zlib.error: invalid block type).
    (folder / "part-1.tsv.gz").write_bytes(packed[:10] + b"\xff" + packed[11:])
    sagemaker.write_config(dict(SMALL_MODEL, epochs=1))
    assert main([]) == 1
    reason = sagemaker.failure_file.read_text()
    assert reason.startswith("Cannot read ") and "part-1.tsv.gz: it is a damaged or truncated gzip file (" in reason
    assert reason.endswith(").") and "\n" not in reason, reason
    assert not (sagemaker.output_data_dir / "metrics.json").exists()
    assert not sagemaker.checkpoint_dir.exists() or not os.listdir(sagemaker.checkpoint_dir)
    assert not any((sagemaker.model_dir / name).exists() for name in MODEL_FILES)
