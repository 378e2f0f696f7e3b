"""Reference word vectors from Facebook's fasttext package, and fastText's .vec text format written from them."""

import json
import subprocess
import sys


def write_vec(model, path, digits=6):
    """A fastText model's vectors as fastText writes a .vec: an `N dim` header, then `word v1 .. vd ` lines
    (with fastText's trailing space)."""
    words = model.get_words()
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {model.get_dimension()}\n")
        for word in words:
            f.write(word + " " + " ".join(f"{v:.{digits}f}" for v in model.get_word_vector(word)) + " \n")
    return path


# Small subword vectors from Facebook's fasttext package, quick to train, for tests that need a real fastText .bin.
SMALL_REFERENCE_VECTORS = dict(
    model="skipgram", dim=16, epoch=1, minCount=3, minn=3, maxn=5, lr=0.025, thread=1, verbose=0
)


def train_reference_vectors(corpus, model_path, attempts=5, supervised=False, **settings):
    """Subword vectors from Facebook's fasttext package (a classifier's, with `supervised`), saved to model_path and
    loaded back.

    The wheel's training is not deterministic and now and then ends in NaN; in long test sessions it did so
    five times in a row in one process while a fresh process succeeded, so every attempt runs in its own
    process."""
    import fasttext

    script = (
        "import json, sys, fasttext; "
        "train = fasttext.train_supervised if sys.argv[4] == 'True' else fasttext.train_unsupervised; "
        "train(sys.argv[1], **json.loads(sys.argv[3])).save_model(sys.argv[2])"
    )
    errors = []
    for _ in range(attempts):
        result = subprocess.run(
            [sys.executable, "-c", script, str(corpus), str(model_path), json.dumps(settings), str(supervised)],
            capture_output=True,
            text=True,
        )
        if result.returncode == 0:
            return fasttext.load_model(str(model_path))
        errors.append(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no message")
        if "NaN" not in errors[-1]:
            break
    raise RuntimeError(f"fasttext training failed: {errors}")
