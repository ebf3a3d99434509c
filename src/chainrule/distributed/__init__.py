"""Data-parallel training over MPI: p processes, one model copy each, one global batch.

Each process (rank) holds the whole model, takes its shard of every global
mini-batch, backpropagates, and the ranks average their gradients with one
Allreduce before the identical optimizer step, so after a step every rank holds
the weights one process would have after the same global batch.

    mpiexec -n 4 chainrule train --distributed --batch-size 128
    mpiexec -n 4 python -m mpi4py train.py   # with fit(..., distributed=True) inside

Without an MPI launcher everything runs as rank 0 of 1. mpi4py is loaded by
``init()`` only, never by ``import chainrule``. See docs/distributed.md.
"""

from __future__ import annotations

from typing import Any

from chainrule.distributed.collectives import (
    DistributedError,
    GradientAllreduce,
    ModelMismatchError,
    SettingsMismatchError,
    allreduce_gradients,
    broadcast_parameters,
    check_in_sync,
    check_same_data,
    check_same_model,
    check_same_settings,
    data_fingerprint,
    parameters_digest,
    raised_on_every_rank,
    trainable_parameters,
)
from chainrule.distributed.context import (
    Context,
    DistributedUnavailable,
    find_mpiexec,
    init,
    is_main,
    rank,
    world_size,
)
from chainrule.distributed.sampler import DistributedSampler
from chainrule.distributed.training import DataParallel, abort_on_error


def fit(*args: Any, **kwargs: Any) -> Any:
    """``chainrule.train.fit(..., distributed=True)``: the same arguments, with
    ``batch_size`` the global batch size, summed over ranks."""
    from chainrule.train.fit import fit as _fit

    return _fit(*args, distributed=True, **kwargs)


__all__ = [
    "Context", "DataParallel", "DistributedError", "DistributedSampler", "DistributedUnavailable",
    "GradientAllreduce", "ModelMismatchError", "SettingsMismatchError", "abort_on_error",
    "allreduce_gradients", "broadcast_parameters", "check_in_sync", "check_same_data",
    "check_same_model", "check_same_settings", "data_fingerprint", "find_mpiexec", "fit", "init",
    "is_main", "parameters_digest", "raised_on_every_rank", "rank", "trainable_parameters",
    "world_size",
]
