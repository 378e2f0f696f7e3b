"""The headline-classifier training job, from channels to artifacts, one function per stage:

_read_data        channels -> rows of train, validation (a channel, or held out of train) and test
_load_pretrained  the embeddings channel's vectors, if there is one
_build_encoder    tokenizer -> vocabulary (train's words and the vectors') -> the encoder (its n-gram inputs as
                  the architecture declares)
_initial_embeddings   the starting rows the vectors give the vocabulary and the n-gram buckets
_fit              the model on this host's devices (and share of train), trained with checkpoints; a second
                  pass (the refit) trains a fresh model on train and the held-out validation rows together, for
                  the epochs the first picked (docs/training.md, "Refit")
_write_reports    the output folder (/opt/ml/output/data): metrics.json and plots
then the leader host writes the model folder (/opt/ml/model, artifacts.save_model), moved into place last.

Every stage reads what the job was given from one `_Run`; `_fit` trains one `_Pass` and hands what it trained on in
one `_Fitted`.
"""

import collections
import dataclasses
import hashlib
import json
import logging
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable
from typing import Any

import mxnet as mx
import numpy as np

from .. import architectures, contract
from ..data.formats import Example, ReadReport, label_names, read_channel
from ..data.splits import shard, split_validation
from ..embeddings.pretrained import InitialEmbedding, PretrainedVectors, build_embedding_matrix, load_pretrained
from ..environment import TrainingEnvironment, check_channels
from ..errors import JobError
from ..files import write_json
from ..hyperparameters import Hyperparameters
from ..models import build_model
from ..runtime.channels import channel_folders
from ..runtime.checkpoints import CheckpointStore
from ..runtime.devices import training_contexts
from ..runtime.distributed import Cluster, KVStoreArgument, kvstore_type, train_as_worker
from ..runtime.host_exchange import HostExchange
from ..runtime.signals import StopSignal
from ..text import PADDING_TOKEN, UNKNOWN_TOKEN, TextEncoder, Tokenizer, build_vocabulary
from . import artifacts
from .cpu import convolutional
from .cpu import steps as compiled_steps
from .cpu.averaging import DIFFERENT_SETUP, AveragedSteps
from .loop import CLASSIFIER_CHECKPOINT_FILES, ClassifierTrainer
from .mxnet_steps import MXNetSteps
from .plots import plot_confusion_matrix, plot_learning_curves
from .recipe import Recipe, choose_recipe
from .steps import EncodedSet, Steps

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDING_DIM = 100
MIN_LABELS = 2  # a classifier needs something to tell apart
METRICS_FILE = "metrics.json"
LEARNING_CURVES_PLOT = "learning_curves.png"
CONFUSION_MATRIX_PLOT = "confusion_matrix.png"
VALIDATION_CHANNEL_SOURCE = "channel"  # metrics.json's validation_source when validation is a channel


def seed_everything(seed: int) -> None:
    """Seed every generator the job draws from: Python's, numpy's and MXNet's."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def _keep_known_labels(
    examples: list[Example], report: ReadReport, known_labels: set[str], max_bad_row_fraction: float
) -> list[Example]:
    """Rows of validation/test whose label train never saw cannot be scored: count them as bad rows."""
    kept = []
    for example in examples:
        if example.label in known_labels:
            kept.append(example)
        else:
            report.reject_kept_row(f"channel {report.channel}", f"label {example.label!r} does not occur in train")
    report.enforce(max_bad_row_fraction)
    if not kept:
        raise JobError(f"Channel '{report.channel}' has no rows with a label that train has.")
    return kept


def _fingerprint(hp: Hyperparameters, encoder: TextEncoder, labels: list[str], train_size: int, steps_name: str) -> str:
    """What a checkpoint must have been trained with to be resumed (the settings, the vocabulary, the labels, the
    number of ids in train and the kind of steps, whose optimizer states differ), or what the hosts of a job must
    share (the same, with the rows of train and no steps)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(hp.as_dict(), sort_keys=True, default=list).encode())
    digest.update(encoder.vocabulary.to_json().encode())
    digest.update(json.dumps(labels).encode())
    digest.update(str(train_size).encode())
    digest.update(steps_name.encode())
    return digest.hexdigest()


@dataclasses.dataclass
class _Data:
    """The job's rows, read and checked: validation and test hold only labels that train has."""

    train: list[Example]
    validation: list[Example]
    test: list[Example] | None  # None without a test channel
    labels: list[str]
    validation_source: str
    reports: dict[str, ReadReport]  # by channel

    @property
    def label_ids(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}


@dataclasses.dataclass(frozen=True)
class _Run:
    """What this host's part of the job was given, read by every stage."""

    env: TrainingEnvironment
    hp: Hyperparameters
    channels: dict[str, str]
    cluster: Cluster
    kvstore: KVStoreArgument
    stop_signal: StopSignal
    started: float


@dataclasses.dataclass(frozen=True)
class _Start:
    """What a model starts from: the encoder (its vocabulary from the rows it trains on) and the rows the pretrained
    vectors give it (None without vectors)."""

    encoder: TextEncoder
    initial: InitialEmbedding | None


@dataclasses.dataclass(frozen=True)
class _Pass:
    """One training pass: its rows, its validation (None for the refit, which picks nothing), its settings and
    where its checkpoints and host exchanges live."""

    train: list[Example]
    validation: list[Example] | None
    hp: Hyperparameters
    recipe: Recipe
    start: _Start
    name: str  # "" for the first pass; a refit's checkpoints and parameter-server keys are apart from it


REFIT = "refit"


@dataclasses.dataclass
class _Fitted:
    """The trained model and what it was trained and is scored on."""

    net: Any
    trainer: ClassifierTrainer
    sets: dict[str, EncodedSet | None]  # train, validation, test (None without a test channel)
    history: list[dict[str, Any]]
    best_epoch: int
    recipe: Recipe


def run(env: TrainingEnvironment, stop_signal: StopSignal, abort: Callable[[str], None]) -> dict[str, Any] | None:
    """Train on this host, or with the other hosts of the job: `abort(reason)` ends this process when another
    host fails (see Cluster). Returns the metrics on the leader host, None on the others."""
    started = time.time()
    hp = Hyperparameters.from_strings(env.hyperparameters)
    logger.info("hyperparameters: %s", json.dumps(hp.as_dict(), default=list))
    _check_job(env, hp, env.channel_dirs)
    channels = channel_folders(env)  # after the checks: a Pipe channel is copied to disk here
    with Cluster(env.hosts, env.current_host, abort) as cluster:
        kvstore = kvstore_type(len(env.hosts), env.num_gpus)
        if not cluster.is_distributed:
            return _train(_Run(env, hp, channels, cluster, kvstore, stop_signal, started))
        return train_as_worker(
            kvstore, lambda store: _train(_Run(env, hp, channels, cluster, store, stop_signal, started))
        )


def _check_job(env: TrainingEnvironment, hp: Hyperparameters, channels: dict[str, str]) -> None:
    check_channels(channels, contract.KNOWN_CHANNELS)
    sharded = [
        name
        for name, config in env.input_data_config.items()
        if config.get(contract.S3_DISTRIBUTION_KEY) == contract.SHARDED_BY_S3_KEY
    ]
    if len(env.hosts) > 1 and sharded:
        raise JobError(
            f"Channel(s) {', '.join(sharded)} use {contract.SHARDED_BY_S3_KEY}: every host must see all "
            f"of the data, because each builds the vocabulary and the validation split from it and "
            f"they must agree. Use FullyReplicated; each host then trains on its own equal share of "
            f"train."
        )
    if len(env.hosts) > 1 and hp.lr_schedule == "linear":
        raise JobError(
            f"lr_schedule={hp.lr_schedule} needs one host: with {len(env.hosts)} hosts the parameter "
            f"servers apply the updates with the learning rate they were given at the start. Use "
            f"lr_schedule=constant or instance_count=1."
        )


def _train(run: _Run) -> dict[str, Any] | None:
    hp, env = run.hp, run.env
    seed_everything(hp.seed)
    data = _read_data(run.channels, hp)
    refit_rows = data.train + data.validation
    with tempfile.TemporaryDirectory() as workdir:  # where a compressed or archived vectors file is unpacked
        pretrained = _load_pretrained(run.channels, hp, workdir)
        recipe = choose_recipe(hp, len(data.validation), pretrained is not None, len(env.hosts))
        no_refit = _why_no_refit(run, data, recipe)
        first = _Pass(data.train, data.validation, hp, recipe, _start(data.train, hp, pretrained), "")
        refit_start = None if no_refit else _start(refit_rows, hp, pretrained)
    fitted = _fit(run, data, first)
    # What the leader reports of the first pass is taken before a refit replaces its model: the picked epoch's
    # validation report (the refit's model trains on those rows) and its test report, which the refit's is weighed
    # against.
    summary = _summary(fitted, scored=run.cluster.is_leader)
    refit: dict[str, Any] = {"skipped": no_refit}
    if refit_start is not None:
        del fitted  # its net and optimizer state, before the refit allocates its own
        fitted, refit = _refit(run, data, first, summary["best_epoch"], refit_rows, refit_start)
    else:
        logger.info("refit: none (%s)", no_refit)
    if not run.cluster.is_leader:
        logger.info("training finished; %s writes the model and reports", run.cluster.leader)
        return None
    initial = (refit_start or first.start).initial
    metrics = _write_reports(run, data, summary, fitted, refit, initial.coverage if initial else None)
    os.makedirs(env.model_dir, exist_ok=True)
    encoder = fitted.trainer.encoder
    artifacts.save_model(env.model_dir, fitted.net, encoder, data.labels, label_names(data.labels), hp.architecture)
    logger.info("model written to %s in %.1f s", env.model_dir, time.time() - run.started)
    return metrics


def _why_no_refit(run: _Run, data: _Data, recipe: Recipe) -> str | None:
    """Why the job keeps the model of the epoch it picked instead of training one on all of train, or None."""
    if not run.hp.refit:
        return "refit=false"
    if data.validation_source == VALIDATION_CHANNEL_SOURCE:
        return "validation is a channel of its own, not rows of train"
    if not recipe.select_on_validation:
        return "no epoch was picked on validation: too few rows to tell epochs apart"
    if run.cluster.is_distributed and not _cpu_steps_apply(run.hp, recipe, training_contexts(run.env.num_gpus)):
        return "MXNet's steps on several hosts keep their optimizer on the parameter servers, which hold one model"
    return None


def _start(rows: list[Example], hp: Hyperparameters, pretrained: PretrainedVectors | None) -> _Start:
    """The encoder of a model trained on rows, and its starting rows from the pretrained vectors."""
    encoder, token_counts = _build_encoder(rows, hp, pretrained)
    return _Start(encoder, _initial_embeddings(pretrained, hp, encoder, token_counts) if pretrained else None)


def _read_data(channels: dict[str, str], hp: Hyperparameters) -> _Data:
    train, train_report = read_channel(
        contract.TRAIN_CHANNEL, channels[contract.TRAIN_CHANNEL], hp.max_bad_row_fraction
    )
    reports = {contract.TRAIN_CHANNEL: train_report}
    if contract.VALIDATION_CHANNEL in channels:
        validation, reports[contract.VALIDATION_CHANNEL] = read_channel(
            contract.VALIDATION_CHANNEL, channels[contract.VALIDATION_CHANNEL], hp.max_bad_row_fraction
        )
        validation_source = VALIDATION_CHANNEL_SOURCE
    else:
        train, validation = split_validation(train, hp.validation_fraction, hp.seed)
        validation_source = (
            "split of train, grouped by story" if train[0].group is not None else "split of train, stratified by label"
        )
        if not validation or not train:
            raise JobError(
                f"The train channel has too few rows ({train_report.rows}) to hold out a validation "
                f"set; add rows or a validation channel."
            )
    logger.info("validation: %d rows (%s); train: %d rows", len(validation), validation_source, len(train))
    test = None
    if contract.TEST_CHANNEL in channels:
        test, reports[contract.TEST_CHANNEL] = read_channel(
            contract.TEST_CHANNEL, channels[contract.TEST_CHANNEL], hp.max_bad_row_fraction
        )
    labels = sorted({example.label for example in train})
    if len(labels) < MIN_LABELS:
        raise JobError(f"Train has {len(labels)} distinct label(s); a classifier needs at least {MIN_LABELS}.")
    known = set(labels)
    validation = _keep_known_labels(
        validation, reports.get(contract.VALIDATION_CHANNEL, train_report), known, hp.max_bad_row_fraction
    )
    if test is not None:
        test = _keep_known_labels(test, reports[contract.TEST_CHANNEL], known, hp.max_bad_row_fraction)
    return _Data(train, validation, test, labels, validation_source, reports)


def _build_encoder(
    train_examples: list[Example], hp: Hyperparameters, pretrained: PretrainedVectors | None
) -> tuple[TextEncoder, collections.Counter[str]]:
    """The encoder, and the training tokens' counts (the pretrained vectors' coverage is measured against them).
    The vocabulary is train's words and the vectors' first pretrained_words words that the tokenizer can produce:
    a headline word that train lacks then still has its pretrained row, as in fastText's supervised training."""
    tokenizer = Tokenizer(lowercase=hp.lowercase)
    train_tokens = [tokenizer(example.text) for example in train_examples]
    pretrained_words = [] if pretrained is None else _tokens_among(pretrained.words, tokenizer, hp.pretrained_words)
    vocabulary = build_vocabulary(train_tokens, hp.min_count, pretrained_words)
    token_counts = collections.Counter(token for tokens in train_tokens for token in tokens)
    logger.info(
        "vocabulary: %d words (min_count=%d) from %d training tokens and %d words of the pretrained vectors",
        len(vocabulary),
        hp.min_count,
        sum(token_counts.values()),
        len(pretrained_words),
    )
    encoder = TextEncoder(
        tokenizer, vocabulary, hp.max_length, **architectures.get(hp.architecture).encoder_options(hp)
    )
    return encoder, token_counts


def _tokens_among(words: list[str], tokenizer: Tokenizer, limit: int) -> list[str]:
    """The first `limit` of `words` that the tokenizer produces as they are (a vector for "New York" or "</s>",
    or an upper-case word when text is lower-cased, would never be looked up)."""
    kept: list[str] = []
    for word in words:
        if len(kept) == limit:
            break
        if tokenizer(word) == [word]:
            kept.append(word)
    return kept


def _load_pretrained(channels: dict[str, str], hp: Hyperparameters, workdir: str) -> PretrainedVectors | None:
    """The embeddings channel's vectors, None without one; their width must be embedding_dim's, if it is set."""
    if contract.EMBEDDINGS_CHANNEL not in channels:
        return None
    pretrained = load_pretrained(channels[contract.EMBEDDINGS_CHANNEL], workdir)
    if hp.embedding_dim is not None and hp.embedding_dim != pretrained.dim:
        raise JobError(
            f"Embeddings file {pretrained.name} has {pretrained.dim}-dimensional vectors but "
            f"hyperparameter embedding_dim is {hp.embedding_dim}; set embedding_dim to "
            f"{pretrained.dim} or auto."
        )
    return pretrained


def _initial_embeddings(
    pretrained: PretrainedVectors, hp: Hyperparameters, encoder: TextEncoder, token_counts: collections.Counter[str]
) -> InitialEmbedding:
    """The starting rows the pretrained vectors give the vocabulary and (sharing a .bin's n-grams) the buckets."""
    initial = build_embedding_matrix(
        encoder.vocabulary,
        token_counts,
        pretrained,
        hp.seed,
        UNKNOWN_TOKEN,
        PADDING_TOKEN,
        encoder.char_ngrams,
        encoder.ngram_buckets,
    )
    coverage = initial.coverage
    logger.info(
        "embedding coverage: %.1f%% of vocabulary words, %.1f%% of training tokens found a "
        "pretrained vector (%d in its vocabulary, %d from subwords, %d without); %d n-gram buckets start from "
        "its subword rows [%s]",
        100 * coverage["type_coverage"],
        100 * coverage["token_coverage"],
        coverage["types_in_pretrained_vocabulary"],
        coverage["types_from_subwords"],
        coverage["types_without_vector"],
        coverage["subword_buckets_initialised"],
        coverage["file"],
    )
    return initial


def _fit(run: _Run, data: _Data, training: _Pass) -> _Fitted:
    """The model of one pass, trained on this host's devices and share of the pass's rows."""
    hp, recipe, encoder, label_ids = training.hp, training.recipe, training.start.encoder, data.label_ids
    contexts = training_contexts(run.env.num_gpus)
    logger.info("devices: %s", ", ".join(str(c) for c in contexts))
    train_set = _encoded(encoder, label_ids, _host_rows(run, training))
    validation_set = _encoded(encoder, label_ids, training.validation) if training.validation is not None else None
    sets = {
        "train": train_set,
        "validation": validation_set,
        "test": _encoded(encoder, label_ids, data.test) if data.test is not None else None,
    }
    net = _initialised_net(run, data, training, contexts)
    steps = _steps(run, net, encoder, contexts, training, data.labels)
    logger.info(
        "training (%s steps): %s at learning rate %g, %s; %s",
        steps.name,
        recipe.optimizer,
        recipe.learning_rate,
        "decayed linearly to 0" if recipe.linear_decay else "constant",
        recipe.reason,
    )
    fingerprint = _fingerprint(hp, encoder, data.labels, len(train_set.ids), steps.name)
    trainer = ClassifierTrainer(
        net,
        steps,
        encoder,
        contexts,
        hp,
        data.labels,
        _checkpoint_store(run, steps, fingerprint, training.name),
        run.stop_signal,
        recipe,
        _worker_batch_size(run),
        mid_epoch_checkpoints=not run.cluster.is_distributed,
        scoring=steps if isinstance(steps, AveragedSteps) else None,
    )
    history, best_epoch = trainer.fit(train_set, validation_set)
    return _Fitted(net, trainer, sets, history, best_epoch, recipe)


def _host_rows(run: _Run, training: _Pass) -> list[Example]:
    """The pass's train rows this host trains on: all of them on one host; on several, its own share, by its place
    among the hosts. Every host has all the rows (and so builds the same vocabulary and validation set), and a
    resumed host takes up the share its checkpoint trained on."""
    if not run.cluster.is_distributed:
        return training.train
    assert not isinstance(run.kvstore, str)  # a job of several hosts trains through a created dist_* kvstore
    hosts = len(run.cluster.hosts)
    rows = shard(training.train, run.env.host_index, hosts, training.hp.seed)
    logger.info(
        "host %d of %d (%s): training on %d of %d train rows",
        run.env.host_index,
        hosts,
        run.kvstore.type,
        len(rows),
        len(training.train),
    )
    return rows


def _encoded(encoder: TextEncoder, label_ids: dict[str, int], examples: list[Example]) -> EncodedSet:
    """Rows as this encoder encodes them, with these label ids."""
    labels = np.array([label_ids[e.label] for e in examples], dtype=np.int64)
    return EncodedSet.encode(encoder, [e.text for e in examples], labels)


def _initialised_net(run: _Run, data: _Data, training: _Pass, contexts: list[mx.Context]) -> Any:
    """The pass's network on the devices, its embedding rows from the pretrained vectors where there are some."""
    hp, encoder, initial = training.hp, training.start.encoder, training.start.initial
    embedding_dim = initial.word_rows.shape[1] if initial is not None else hp.embedding_dim or DEFAULT_EMBEDDING_DIM
    net = build_model(
        hp.architecture,
        encoder.input_size,
        embedding_dim,
        len(data.labels),
        hp,
        sparse_grad=not run.cluster.is_distributed,
    )
    net.initialize(mx.init.Xavier(), ctx=contexts)
    if initial is not None:
        _set_initial_rows(net.embedding.weight, initial, len(encoder.vocabulary), contexts[0])
    net.hybridize(static_alloc=True)
    return net


def _checkpoint_store(run: _Run, steps: Steps, fingerprint: str, pass_name: str) -> CheckpointStore | None:
    """Where this host's checkpoints of a pass go: the checkpoint folder on one host; on several, with averaged CPU
    steps, a folder of its own in it (SageMaker syncs every host's folder to the same S3 location, and each host's
    optimizer state is its own); a refit's in a folder inside that. None with MXNet's steps on several hosts: their
    optimizer state lives on the parameter servers, which MXNet cannot save."""
    if not run.cluster.is_distributed:
        folder = run.env.checkpoint_dir
    elif isinstance(steps, AveragedSteps):
        folder = os.path.join(run.env.checkpoint_dir, run.env.current_host)
    else:
        return None
    return CheckpointStore(os.path.join(folder, pass_name), fingerprint, CLASSIFIER_CHECKPOINT_FILES)


def _worker_batch_size(run: _Run) -> int:
    """The rows of a worker's step: batch_size split over the hosts' workers (rounded up)."""
    workers = 1 if isinstance(run.kvstore, str) else run.kvstore.num_workers
    return -(-run.hp.batch_size // workers)


def _cpu_steps_apply(hp: Hyperparameters, recipe: Recipe, contexts: list[mx.Context]) -> bool:
    """Whether a job trains with the CPU steps (compiled for a fasttext model, numpy's for a cnn)."""
    architecture = architectures.get(hp.architecture)
    return convolutional.supports(architecture.convolutional, recipe.optimizer, contexts) or compiled_steps.supports(
        architecture.hashed_ngrams, recipe.optimizer, contexts
    )


def _steps(
    run: _Run, net: Any, encoder: TextEncoder, contexts: list[mx.Context], training: _Pass, labels: list[str]
) -> Steps:
    """The CPU steps where they apply (on several hosts averaged every epoch, once the hosts agree that they built
    the same setup from data), MXNet's everywhere else."""
    hp, recipe = training.hp, training.recipe
    architecture = architectures.get(hp.architecture)
    steps: compiled_steps.CompiledSteps | convolutional.ConvolutionalSteps
    if not _cpu_steps_apply(hp, recipe, contexts):
        return MXNetSteps(net, encoder, contexts, recipe, hp.weight_decay, run.kvstore, _worker_batch_size(run))
    if architecture.convolutional:
        steps = convolutional.ConvolutionalSteps(net, recipe, hp.weight_decay, encoder.padding_id, encoder.min_length)
    else:
        steps = compiled_steps.CompiledSteps(net, recipe, hp.weight_decay, encoder.padding_id, _worker_batch_size(run))
    if isinstance(run.kvstore, str):
        return steps
    setup = _fingerprint(hp, encoder, labels, len(training.train), "")  # what every host must have built alike
    namespace = f"{training.name}-" if training.name else ""
    return AveragedSteps(steps, HostExchange(run.kvstore, setup, DIFFERENT_SETUP, namespace))


def _set_initial_rows(weight: Any, initial: InitialEmbedding, vocabulary_size: int, context: mx.Context) -> None:
    """The embedding's vocabulary rows, and the buckets' the vectors give, from the pretrained vectors; other
    bucket rows keep their random start."""
    table = weight.data(context).asnumpy()
    table[:vocabulary_size] = initial.word_rows
    table[vocabulary_size + initial.bucket_ids] = initial.bucket_rows
    weight.set_data(mx.nd.array(table))


def _summary(fitted: _Fitted, scored: bool) -> dict[str, Any]:
    """What metrics.json reports of the first pass: its epochs, the one picked and, when `scored` (on the leader),
    the picked model's validation and test reports (None without a test channel)."""
    summary = {
        "best_epoch": fitted.best_epoch,
        "recipe": fitted.recipe.as_dict(),
        "epochs_run": len(fitted.history),
        "history": fitted.history,
        "steps": fitted.trainer.steps.name,
        "bytes_exchanged_per_epoch": fitted.trainer.steps.bytes_exchanged / max(len(fitted.history), 1),
    }
    if scored:
        for name in ("validation", "test"):
            scored_set = fitted.sets[name]
            summary[name] = fitted.trainer.evaluate(scored_set) if scored_set is not None else None
    return summary


def _refit(
    run: _Run, data: _Data, first: _Pass, epochs: int, rows: list[Example], start: _Start
) -> tuple[_Fitted, dict[str, Any]]:
    """The refit: a new model on all of train (`rows`), with the first pass's recipe for the epochs it picked, every
    epoch kept in turn; and what metrics.json reports of it."""
    logger.info("refit: a new model on all %d rows of train for the %d epoch(s) picked", len(rows), epochs)
    recipe = dataclasses.replace(
        first.recipe, select_on_validation=False, reason=f"refit: all {epochs} epoch(s) run and the last is kept"
    )
    fitted = _fit(run, data, _Pass(rows, None, dataclasses.replace(first.hp, epochs=epochs), recipe, start, REFIT))
    return fitted, {"rows": len(rows), "epochs": epochs, "history": fitted.history}


def _write_reports(
    run: _Run,
    data: _Data,
    summary: dict[str, Any],
    final: _Fitted,
    refit: dict[str, Any],
    coverage: dict[str, Any] | None,
) -> dict[str, Any]:
    """metrics.json, the learning curves and the confusion matrix in the output folder; returns the metrics: the
    first pass's epochs and its picked epoch's validation report, the final model's test report (with a refit,
    the refit's model; the first pass's test report is in `refit`)."""
    env, hp, trainer = run.env, run.hp, final.trainer
    test_set = final.sets["test"]
    names = label_names(data.labels)
    test = summary["test"]  # the final model's, unless a refit replaced it
    if "rows" in refit:
        refit = {**refit, "test_before_refit": test}
        test = trainer.evaluate(test_set) if test_set is not None else None
    metrics: dict[str, Any] = {
        "architecture": hp.architecture,
        "hyperparameters": hp.as_dict(),
        "labels": {label: names[label] for label in data.labels},
        "best_epoch": summary["best_epoch"],
        "recipe": summary["recipe"],
        "epochs_run": summary["epochs_run"],
        "validation_source": data.validation_source,
        "validation": summary["validation"],
        "test": test,
        "refit": refit,
        "embedding_coverage": coverage,
        "data": {channel: report.as_dict() for channel, report in data.reports.items()},
        "vocabulary_size": len(trainer.encoder.vocabulary),
        "devices": [str(c) for c in trainer.contexts],
        "hosts": list(env.hosts),
        "kvstore": run.kvstore if isinstance(run.kvstore, str) else run.kvstore.type,
        "history": summary["history"],
        "job_seconds": time.time() - run.started,
        "steps": summary["steps"],
        "bytes_exchanged_per_epoch": summary["bytes_exchanged_per_epoch"],
        # The most memory the job's process has held (Linux counts ru_maxrss in KiB).
        "peak_resident_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    for split, report in (("validation", metrics["validation"]), ("test", metrics["test"])):
        if report:
            logger.info(
                "final %s: accuracy=%.6f macro_f1=%.6f loss=%.6f",
                split,
                report["accuracy"],
                report["macro_f1"],
                report["loss"],
            )
    os.makedirs(env.output_data_dir, exist_ok=True)
    write_json(os.path.join(env.output_data_dir, METRICS_FILE), metrics)
    plot_learning_curves(summary["history"], os.path.join(env.output_data_dir, LEARNING_CURVES_PLOT))
    shown, shown_report = ("test", metrics["test"]) if metrics["test"] else ("validation", metrics["validation"])
    plot_confusion_matrix(shown_report, f"{shown} set", os.path.join(env.output_data_dir, CONFUSION_MATRIX_PLOT))
    return metrics
