"""The word-vector job (mode skipgram, cbow or batch_skipgram): BlazingText's word2vec step in the
training image.

    train channel -> Corpus (streamed) -> word counts -> Dictionary -> EncodedCorpus (token ids, a scratch file)
                  -> CPU: CpuEngine (compiled kernels, all cores; several hosts through the parameter servers)
                     GPU: ExampleBuilder steps -> WordVectorModel (MXNet, every GPU)
                  -> /opt/ml/model: vectors.txt, vectors.bin, eval.json (with an evaluation channel)
                  -> /opt/ml/output/data: metrics.json, word-map.png (the most frequent words, PCA to 2-D)

The model folder is what the classifier's `embeddings` channel reads, unchanged. Jobs of one host, CPU or GPU,
checkpoint to /opt/ml/checkpoints every `checkpoint_seconds` and on SIGTERM, and resume from there; jobs of several
(CPU) hosts do not checkpoint: each host's clock would pick another round to write at.
"""

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .. import contract
from ..embeddings.fasttext_format import write_fasttext_binary, write_text_vectors
from ..environment import TrainingEnvironment, check_channels
from ..errors import JobError
from ..files import publish, staging_folder, write_json
from ..hyperparameters import WordVectorHyperparameters
from ..model_folder import EVALUATION_FILE, VECTORS_BINARY_FILE, VECTORS_TEXT_FILE
from ..runtime.channels import channel_folders
from ..runtime.distributed import Abort, Cluster, KVStore, train_as_worker
from ..runtime.signals import StopSignal
from .corpus import Corpus, WordCounts
from .cpu.training import train_on_cpus
from .dictionary import Dictionary
from .evaluation import PairFileScores, VectorsLookup, evaluate_similarity
from .inputs import TrainingInputs
from .word_map import WORD_MAP_FILE, plot_word_map, words_to_map

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
# Distinct tokens kept while counting before the rarest are dropped (fastText prunes at 0.75 x 30M).
MAX_VOCABULARY_TYPES = 10_000_000
DISTRIBUTED_KVSTORE = "dist_sync"  # CPU hosts: the engine's weights are numpy arrays on each host
# Settings that do not change what a job learns: a job resumed with other values continues the same training.
NOT_IN_FINGERPRINT = ("checkpoint_seconds",)


class TrainedVectors(Protocol):
    """What the job reads of a trained engine, CPU (CpuEngine) or GPU (WordVectorModel)."""

    def all_finite(self) -> bool: ...

    def word_vectors(self, dictionary: Dictionary, words: Sequence[str]) -> npt.NDArray[np.float32]: ...

    def input_rows(self, start: int, stop: int) -> npt.NDArray[np.float32]: ...

    def output_rows(self, start: int, stop: int) -> npt.NDArray[np.float32]: ...


def _check_hosts(env: TrainingEnvironment, hp: WordVectorHyperparameters) -> None:
    if len(env.hosts) == 1:
        return
    if env.num_gpus:
        raise JobError(
            f"mode={hp.mode} on GPU instances trains on one host (every GPU of it); this job has "
            f"{len(env.hosts)}. Use instance_count=1, or CPU instances for several hosts."
        )
    if hp.subwords:
        raise JobError(
            "subwords=true trains on one host: every word carries its n-gram rows, so each host would read "
            "and write tens of thousands of rows every round, which takes longer than the round's training. Use "
            "instance_count=1, or subwords=false."
        )


def run(env: TrainingEnvironment, stop_signal: StopSignal, abort: Abort) -> dict[str, Any]:
    """Train on this host, or with the other CPU hosts of the job: `abort(reason)` ends this process when another
    host fails (see Cluster)."""
    started = time.time()
    hp = WordVectorHyperparameters.from_strings(env.hyperparameters)
    logger.info("hyperparameters: %s", json.dumps(hp.as_dict()))
    check_channels(env.channel_dirs, contract.WORD_VECTOR_CHANNELS)
    _check_hosts(env, hp)
    channels = channel_folders(env)  # after the checks: a Pipe channel is copied to disk here
    with Cluster(env.hosts, env.current_host, abort) as cluster:
        if not cluster.is_distributed:
            return _run(env, hp, channels, cluster, None, stop_signal, started)
        return train_as_worker(
            DISTRIBUTED_KVSTORE, lambda kvstore: _run(env, hp, channels, cluster, kvstore, stop_signal, started)
        )


def _read_corpus(
    channels: Mapping[str, str], hp: WordVectorHyperparameters, started: float
) -> tuple[Corpus, WordCounts, Dictionary]:
    corpus = Corpus.from_channel(contract.TRAIN_CHANNEL, channels[contract.TRAIN_CHANNEL])
    word_counts = corpus.count_words(MAX_VOCABULARY_TYPES)
    dictionary = Dictionary.from_counts(word_counts, hp.min_count, hp.char_ngrams, hp.buckets)
    logger.info(
        "corpus: %d file(s), %d tokens, %d distinct; vocabulary: %d words with min_count=%d "
        "(%d tokens an epoch); %d n-gram buckets; counted in %.1f s",
        len(corpus.files),
        word_counts.tokens,
        len(word_counts.counts),
        len(dictionary),
        hp.min_count,
        dictionary.kept_tokens,
        dictionary.buckets,
        time.time() - started,
    )
    return corpus, word_counts, dictionary


def _fingerprint(hp: WordVectorHyperparameters, dictionary: Dictionary, hosts: list[str]) -> str:
    """What a checkpoint (and every host of a job) must agree on: the settings, the vocabulary and its counts."""
    settings = {k: v for k, v in hp.as_dict().items() if k not in NOT_IN_FINGERPRINT}
    digest = hashlib.sha256(json.dumps([settings, hosts], sort_keys=True).encode())
    digest.update("\n".join(dictionary.words).encode("utf-8"))
    digest.update(dictionary.counts.tobytes())
    return digest.hexdigest()


def _run(
    env: TrainingEnvironment,
    hp: WordVectorHyperparameters,
    channels: Mapping[str, str],
    cluster: Cluster,
    kvstore: KVStore | None,
    stop_signal: StopSignal,
    started: float,
) -> dict[str, Any]:
    """`kvstore`: the created dist_sync kvstore of a job of several hosts, None on one host."""
    corpus, word_counts, dictionary = _read_corpus(channels, hp, started)
    model: TrainedVectors
    training: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="word-vectors-") as scratch:
        encoded = corpus.encode(dictionary.token_to_id, os.path.join(scratch, "tokens.i32"))
        fingerprint = _fingerprint(hp, dictionary, list(env.hosts))
        logger.info(
            "corpus encoded: %d tokens in %d lines, %.1f s", encoded.tokens, encoded.lines, time.time() - started
        )
        inputs = TrainingInputs(env, hp, dictionary, encoded, fingerprint, stop_signal)
        if env.num_gpus:
            from .gpu.training import train_on_gpus  # imports MXNet, which CPU jobs of one host do without

            model, training = train_on_gpus(inputs)
        else:
            model, training = train_on_cpus(inputs, kvstore)
    if not model.all_finite():
        raise JobError(
            f"Training diverged: the vectors overflowed (infinite or NaN values). Lower learning_rate (now "
            f"{hp.learning_rate})."
        )
    evaluation: dict[str, PairFileScores] | None = None
    if hp.evaluation and contract.EVALUATION_CHANNEL in channels:
        evaluation = evaluate_similarity(channels[contract.EVALUATION_CHANNEL], _vectors_lookup(model, dictionary))
    elif hp.evaluation:
        logger.info("evaluation: no '%s' channel, so no eval.json", contract.EVALUATION_CHANNEL)
    metrics: dict[str, Any] = {
        "mode": hp.mode,
        "hyperparameters": hp.as_dict(),
        "corpus_tokens": word_counts.tokens,
        "epoch_tokens": dictionary.kept_tokens,
        "vocabulary_size": len(dictionary),
        **training,
        "evaluation": evaluation,
    }
    if cluster.is_leader:
        os.makedirs(env.model_dir, exist_ok=True)
        _write_outputs(env.model_dir, dictionary, model, hp, evaluation)
        os.makedirs(env.output_data_dir, exist_ok=True)
        metrics["word_map"] = _write_word_map(env.output_data_dir, dictionary, model, hp)
        metrics["job_seconds"] = time.time() - started
        write_json(os.path.join(env.output_data_dir, METRICS_FILE), metrics)
        logger.info("vectors written to %s in %.1f s", env.model_dir, time.time() - started)
    else:
        logger.info("training done; %s writes the vectors", cluster.leader)
    return metrics


def _vectors_lookup(model: TrainedVectors, dictionary: Dictionary) -> VectorsLookup:
    """For evaluation: a word's vector from the vocabulary or its n-grams, else its lower-cased form's."""

    def vectors_of(words: Sequence[str]) -> tuple[np.ndarray, npt.NDArray[np.bool_]]:
        known = dictionary.token_to_id
        candidates = [w.lower() if w not in known and w.lower() in known else w for w in words]
        vectors = model.word_vectors(dictionary, candidates)
        return vectors, np.array([len(dictionary.rows_of(w)) > 0 for w in candidates])

    return vectors_of


def _write_outputs(
    model_dir: str,
    dictionary: Dictionary,
    model: TrainedVectors,
    hp: WordVectorHyperparameters,
    evaluation: Mapping[str, PairFileScores] | None,
) -> None:
    """Written to a staging folder, then moved into place: a failed job never leaves vectors that look done."""
    staging = staging_folder(model_dir)
    write_text_vectors(
        os.path.join(staging, VECTORS_TEXT_FILE), dictionary.words, model.word_vectors(dictionary, dictionary.words)
    )
    write_fasttext_binary(
        os.path.join(staging, VECTORS_BINARY_FILE),
        dictionary,
        hp,
        model.input_rows,
        model.output_rows,
    )
    if evaluation is not None:
        write_json(os.path.join(staging, EVALUATION_FILE), evaluation)
    publish(model_dir)


def _write_word_map(
    output_data_dir: str, dictionary: Dictionary, model: TrainedVectors, hp: WordVectorHyperparameters
) -> str | None:
    """The workshop's picture of its vectors; None when the vocabulary has no word to show."""
    words = words_to_map(dictionary.words)
    if not words:
        logger.info("word map: no word with a letter in the vocabulary, so no %s", WORD_MAP_FILE)
        return None
    title = f"The {len(words)} most frequent words, mode={hp.mode}, {hp.vector_dim} dimensions, PCA"
    plot_word_map(words, model.word_vectors(dictionary, words), os.path.join(output_data_dir, WORD_MAP_FILE), title)
    return WORD_MAP_FILE
