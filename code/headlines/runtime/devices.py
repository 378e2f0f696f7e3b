"""Where MXNet computes: every GPU of the instance, or the CPU when there is none."""

import mxnet as mx


def training_contexts(num_gpus: int) -> list[mx.Context]:
    """One code path either way: a list of contexts, the first holding whatever is kept in one place."""
    return [mx.gpu(i) for i in range(num_gpus)] if num_gpus > 0 else [mx.cpu()]
