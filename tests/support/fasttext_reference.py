"""Reference word vectors from Facebook's fasttext package, and fastText's .vec text format written from them."""

import json
import os
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


# fastText's trainer writes the input matrix's random start in ten blocks, one a thread, and the wheel (built from
# fastText's main branch) no longer zeroes that matrix's storage first: with fewer than ten threads, or rows x dim
# not a multiple of ten, part of the matrix keeps whatever the heap held, and now and then that was NaN (a third
# of the runs of one test's settings on this machine). So reference runs use ten threads and a dim divisible by ten.
INIT_BLOCKS = 10
# glibc fills memory malloc hands out with this byte's complement (-1.7e38 as a float): a run that reads memory it
# never wrote ends in NaN every time instead of now and then.
UNWRITTEN_MEMORY = {"MALLOC_PERTURB_": "1"}

# Small subword vectors from Facebook's fasttext package, quick to train, for tests that need a real fastText .bin.
SMALL_REFERENCE_VECTORS = dict(model="skipgram", dim=20, epoch=1, minCount=3, minn=3, maxn=5, lr=0.025, verbose=0)


def train_reference_vectors(corpus, model_path, supervised=False, **settings):
    """Subword vectors from Facebook's fasttext package (a classifier's, with `supervised`), trained in a process of
    their own with every value of the input matrix written, saved to model_path and loaded back."""
    import fasttext

    if settings.get("dim", 100) % INIT_BLOCKS or "thread" in settings:
        raise ValueError(f"a reference run takes no thread count and a dim divisible by {INIT_BLOCKS}: {settings}")
    script = (
        "import json, sys, fasttext; "
        "train = fasttext.train_supervised if sys.argv[4] == 'True' else fasttext.train_unsupervised; "
        "train(sys.argv[1], **json.loads(sys.argv[3])).save_model(sys.argv[2])"
    )
    settings = {**settings, "thread": INIT_BLOCKS}
    result = subprocess.run(
        [sys.executable, "-c", script, str(corpus), str(model_path), json.dumps(settings), str(supervised)],
        capture_output=True,
        text=True,
        env={**os.environ, **UNWRITTEN_MEMORY},
    )
    if result.returncode != 0:
        raise RuntimeError(f"fasttext training failed: {result.stderr.strip()[-2000:]}")
    return fasttext.load_model(str(model_path))
