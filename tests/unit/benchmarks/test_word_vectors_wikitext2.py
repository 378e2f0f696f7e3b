"""The word-vector benchmark's order of runs and what it keeps on disk between them."""

import types

from benchmarks import word_vectors_wikitext2 as bench

RUN_FIGURES = {
    "ours_words_per_second": 2.0,
    "fasttext_words_per_second": 1.0,
    "ours_rho": 0.5,
    "fasttext_rho": 0.5,
    "epoch_tokens": 10,
    "threads": 2,
    "total_pairs": 3,
}


def test_one_modes_models_are_on_disk_at_a_time_and_none_after(tmp_path, monkeypatch):
    """At each classifier job only the current mode's first repeat's models are on disk, and nothing is left after
    the last: every mode's and repeat's vectors stayed until the last classifier job (the quick benchmark peaked 4.3
    GB above its start)."""
    monkeypatch.setattr(bench, "REPEATS", 2)
    models_at_each_job = []

    def one_pair_of_runs(corpus, folder, name, ours_settings, fasttext_settings):
        (folder / "ours" / "model").mkdir(parents=True)
        (folder / "ours" / "model" / "vectors.bin").write_bytes(b"vectors")
        (folder / "fasttext.bin").write_bytes(b"vectors")
        return dict(RUN_FIGURES), {"ours": folder / "ours" / "model", "fasttext": folder / "fasttext.bin"}

    def run_job(image, base, architecture, train_file, init, vectors, **channels):
        assert vectors.exists()
        models_at_each_job.append(sorted(str(p.parent.relative_to(tmp_path)) for p in tmp_path.rglob("*.bin")))
        return {"architecture": architecture, "init": init}

    monkeypatch.setattr(bench, "one_pair_of_runs", one_pair_of_runs)
    monkeypatch.setattr(bench, "run_job", run_job)
    data = types.SimpleNamespace(train=tmp_path / "train.tsv", test=tmp_path / "test.tsv")
    speed, quality = bench.mode_runs("headlines-train:cpu", data, tmp_path / "corpus.txt", tmp_path)

    jobs_per_mode = [len(bench.CLASSIFIER_ARCHITECTURES[: None if n == 0 else 1]) * 2 for n in range(len(bench.MODES))]
    expected = [
        [f"mode-{number}/repeat-0", f"mode-{number}/repeat-0/ours/model"]
        for number, jobs in enumerate(jobs_per_mode)
        for _ in range(jobs)
    ]
    assert models_at_each_job == expected
    assert not list(tmp_path.rglob("*.bin"))
    assert [row["mode"] for row in speed] == [name for name, _, _ in bench.MODES]
    assert all(row["repeats"] == 2 and row["ratio"] == 2.0 for row in speed)
    assert [row["mode"] for row in quality] == [
        name for (name, _, _), jobs in zip(bench.MODES, jobs_per_mode) for _ in range(jobs)
    ]
