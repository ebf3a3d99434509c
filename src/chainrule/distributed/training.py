"""What ``fit(..., distributed=True)`` adds to the training loop, in one object.

At the start: join the run, check every rank built the same model, copy rank 0's
weights everywhere, agree on a shuffling seed. Each step: average the gradients
(exactly, weighted by shard size) between backward and the optimizer step. Each
epoch: sum the loss and accuracy counts over ranks so every rank logs the global
numbers, and let rank 0 decide whether to stop. At the end: prove all ranks hold
the same weights. On an error in one rank: name the rank and abort them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.creation import default_generator, manual_seed
from chainrule.distributed.collectives import (
    GradientAllreduce,
    _parameters,
    broadcast_parameters,
    check_in_sync,
    check_same_model,
)
from chainrule.distributed.context import init
from chainrule.distributed.sampler import DistributedSampler


class _EpochLoader:
    """A DataLoader over a ``DistributedSampler`` that moves to the next epoch (a new
    shared order) each time it is iterated, as ``fit`` iterates once per epoch."""

    def __init__(self, loader: Any, sampler: DistributedSampler) -> None:
        self.loader, self.sampler, self.dataset = loader, sampler, loader.dataset
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        return iter(self.loader)


class DataParallel:
    """The distributed side of one ``fit`` call (see the module docstring)."""

    def __init__(self, model: Any, seed: int | None) -> None:
        self.context = context = init()
        self.model = model
        check_same_model(model, context)
        broadcast_parameters(model, context)
        # Every rank must shuffle alike: take rank 0's seed (or a draw of rank 0's generator).
        self.seed = int(context.bcast(
            seed if seed is not None else int(default_generator().integers(2**31))))
        if context.world_size > 1:
            # Ranks usually seed alike (the same script), so their dropout masks would repeat
            # shard for shard; give each rank its own stream, derived from the shared seed.
            manual_seed(int(np.random.SeedSequence([self.seed, context.rank])
                            .generate_state(1)[0]))
        self._reduce = GradientAllreduce(_parameters(model), context)

    @property
    def is_main(self) -> bool:
        return self.context.is_main

    def loader(self, data: Any, batch_size: int, shuffle: bool) -> _EpochLoader:
        """This rank's batches of ``data`` ((X, y) arrays or a Dataset); ``batch_size`` is
        the global batch size B."""
        from chainrule.data import DataLoader, Dataset, TensorDataset

        if isinstance(data, tuple | list) and len(data) == 2:
            data = TensorDataset(*data)
        if not isinstance(data, Dataset):
            raise TypeError(f"fit(distributed=True): the training data must be (X, y) arrays "
                            f"or a Dataset, which every rank shards the same way; got "
                            f"{type(data).__name__}")
        sampler = DistributedSampler(len(data), batch_size, self.context.rank,
                                     self.context.world_size, shuffle=shuffle, seed=self.seed)
        return _EpochLoader(DataLoader(data, batch_sampler=sampler), sampler)

    def average_gradients(self, local_size: int) -> None:
        self._reduce(local_size)

    def sum_counts(self, *values: float) -> list[float]:
        """Each value summed over ranks (epoch totals of loss, correct, count)."""
        local = np.asarray(values, np.float64)
        total = np.empty_like(local)
        self.context.allreduce_sum(local, total)
        return total.tolist()

    def agree_to_stop(self, state: Any) -> None:
        """Rank 0's stopping decision is everyone's: ranks that stopped at different epochs
        would wait forever for each other's gradients."""
        stop, reason = self.context.bcast((state.stop_training, state.history.stopped_reason))
        state.stop_training, state.history.stopped_reason = stop, reason

    def finish(self) -> None:
        check_in_sync(self.model, self.context)

    def abort_on(self, error: BaseException) -> None:
        """With several ranks, print "rank N: <error>" and end the whole run (the others
        are blocked in a collective this rank will not reach); alone, do nothing, so the
        caller re-raises as usual."""
        abort_with(self.context, error)


def abort_with(context: Any, error: BaseException) -> None:
    """End every rank of a multi-rank run because ``error`` happened on this one."""
    if context.world_size == 1:
        return
    context.abort(f"chainrule: error: rank {context.rank}: {type(error).__name__}: {error}")


@contextlib.contextmanager
def abort_on_error() -> Iterator[None]:
    """Run a block such that an exception on any rank aborts the whole run with
    "rank N: <error>" on stderr (a single process just re-raises)."""
    try:
        yield
    except Exception as e:
        abort_with(init(), e)
        raise
