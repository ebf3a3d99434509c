"""Where ``fit``'s steps run: the training-strategy protocol and its local default.

``fit`` runs one loop and asks its strategy at each point where running on one process
and running data-parallel over several differ:

    start(model, run)          the checks of the start (and, over ranks, the agreement
                               on model, settings, weights and seed)
    loader / shard_loader      how training batches are drawn / how evaluation data is read
    average_gradients(n)       between backward and the optimizer step
    sum_counts(*values)        epoch totals (loss, correct, count) over every process
    agree_to_stop(state)       one stopping decision for every process
    finish()                   the check of the end
    abort_on(error)            what an error on this process does to the others
    setup_errors()             how a run's setup errors (options, data) are reported

``Local`` is one process: the loop as written. ``chainrule.distributed.DataParallel`` is
the same loop over the ranks of an MPI launch (``fit(..., distributed=True)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from chainrule.data.dataset import Dataset, as_dataset
from chainrule.data.loader import DataLoader

if TYPE_CHECKING:
    from chainrule.nn.module import Module
    from chainrule.train.fit import FitRun, TrainingState


class Strategy(Protocol):
    """How ``fit`` runs on one process or several (see the module docstring)."""

    @property
    def is_main(self) -> bool:
        """Whether this process shows progress and writes files (rank 0)."""

    @property
    def world_size(self) -> int:
        """How many processes train together."""

    def start(self, model: Module, run: FitRun) -> None:
        """Check the arguments of the ``fit`` call (``run.check()``) before the first step."""

    def loader(self, data: Any, batch_size: int, shuffle: bool, seed: int | None
               ) -> Iterable[Any]:
        """This process's training batches of ``data``, ``batch_size`` the global batch."""

    def shard_loader(self, data: Any, batch_size: int) -> Iterable[Any]:
        """This process's share of evaluation data (e.g. the validation set), in order."""

    def average_gradients(self, local_size: int) -> None:
        """Make every gradient that of the global batch (``local_size``: this shard's)."""

    def sum_counts(self, *values: float) -> list[float]:
        """Each value summed over the processes."""

    def agree_to_stop(self, state: TrainingState) -> None:
        """Make ``state.stop_training`` (and its reason) the same on every process."""

    def finish(self) -> None:
        """The check at the end of training."""

    def abort_on(self, error: BaseException) -> None:
        """React to ``error`` raised on this process, before ``fit`` re-raises it."""

    def setup_errors(self) -> AbstractContextManager[None]:
        """A block of setup (options, data) whose errors every process reports alike."""


def make_loader(data: Any, batch_size: int, shuffle: bool, seed: int | None) -> Any:
    """A DataLoader for (X, y) arrays or a Dataset; a DataLoader or other iterable as is."""
    data = as_dataset(data)
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, Iterable):
        return data
    raise TypeError(f"fit: training data must be (X, y) arrays, a Dataset or a DataLoader; got "
                    f"{type(data).__name__}")


class Local:
    """One process: every hook is the identity, or the plain loader."""

    is_main = True
    world_size = 1

    def start(self, model: Module, run: FitRun) -> None:
        run.check()

    def loader(self, data: Any, batch_size: int, shuffle: bool, seed: int | None) -> Any:
        return make_loader(data, batch_size, shuffle, seed)

    def shard_loader(self, data: Any, batch_size: int) -> Any:
        return make_loader(data, batch_size, False, None)

    def average_gradients(self, local_size: int) -> None:
        pass  # alone, the gradient already is the global batch's

    def sum_counts(self, *values: float) -> list[float]:
        return list(values)

    def agree_to_stop(self, state: TrainingState) -> None:
        pass

    def finish(self) -> None:
        pass

    def abort_on(self, error: BaseException) -> None:
        pass  # nobody waits for this process: fit re-raises

    def setup_errors(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


def resolve_strategy(strategy: Strategy | None, distributed: bool, required: bool = False
                     ) -> Strategy:
    """The strategy of a ``fit`` (or ``run_training``) call: ``strategy`` if given, else
    data-parallel over MPI for the shorthand ``distributed=True`` (``required``: refuse to
    fall back to one process without MPI), else ``Local()``."""
    if strategy is not None:
        if distributed:
            raise ValueError("fit: give strategy or distributed=True, not both")
        return strategy
    if not distributed:
        return Local()
    # The one reference from train up to distributed: the shorthand distributed=True.
    from chainrule.distributed.context import init
    from chainrule.distributed.training import DataParallel

    return DataParallel(init(required=required))
