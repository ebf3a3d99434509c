"""What ``fit(..., distributed=True)`` adds to the training loop, in one object: the
data-parallel training strategy (``chainrule.train.strategy.Strategy``).

At the start: join the run, check every rank built the same model and was given the
same data (size, then contents) and loop settings, copy rank 0's weights everywhere,
agree on a shuffling seed. Each step: average the gradients (exactly, weighted by
shard size) between backward and the optimizer step. Each
epoch: sum the loss and accuracy counts over ranks so every rank logs the global
numbers, and let rank 0 decide whether to stop. At the end: prove all ranks hold
the same weights. On an error in one rank: name the rank and abort them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.creation import default_generator, manual_seed
from chainrule.distributed.collectives import (
    GradientAllreduce,
    broadcast_parameters,
    check_in_sync,
    check_same_data,
    check_same_model,
    check_same_settings,
    data_fingerprint,
    is_raised_on_every_rank,
    raised_on_every_rank,
    trainable_parameters,
)
from chainrule.distributed.context import Context, init
from chainrule.distributed.sampler import DistributedSampler

if TYPE_CHECKING:
    from chainrule.train.fit import FitRun, TrainingState

# the errors of a run's setup (options, data) that every rank reports alike, and the exit
# status the ranks other than 0 then end with: the one ``chainrule`` gives bad input
SETUP_ERRORS = (ValueError, TypeError, KeyError, OSError)
SETUP_EXIT_CODE = 2


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
    """The data-parallel strategy of ``fit`` (see the module docstring).

    Building it only joins the run; ``start`` runs the checks and collectives of the
    start, so that ``fit`` can call it inside the guard that aborts every rank when one
    raises.
    """

    def __init__(self, context: Context | None = None) -> None:
        self.context = context or init()
        self.model: Any = None
        self.seed = 0
        self._reduce: GradientAllreduce | None = None

    def start(self, model: Any, run: FitRun) -> None:
        """Check that every rank built the same model and was given the same data sizes
        and settings (see ``fit_settings``), copy rank 0's weights everywhere, agree on
        the seed; then check the arguments (``run.check()``), which every rank then
        refuses alike."""
        context = self.context
        self.model = model
        check_same_model(model, context)
        check_same_settings(fit_settings(run.train_data, run.val_data, run.loss_fn,
                                         run.optimizer, run.scheduler, **run.loop_settings()),
                            context)
        check_same_data({"sha256(train_data)": data_fingerprint(run.train_data),
                         "sha256(val_data)": data_fingerprint(run.val_data)}, context)
        broadcast_parameters(model, context)
        # Every rank must shuffle alike: take rank 0's seed (or a draw of rank 0's generator).
        seed = run.seed
        self.seed = int(context.bcast(
            seed if seed is not None else int(default_generator().integers(2**31))))
        if context.world_size > 1:
            # Ranks usually seed alike (the same script), so their dropout masks would repeat
            # shard for shard; give each rank its own stream, derived from the shared seed.
            manual_seed(int(np.random.SeedSequence([self.seed, context.rank])
                            .generate_state(1)[0]))
        self._reduce = GradientAllreduce(trainable_parameters(model), context)
        try:
            run.check()
            if run.batch_size < self.world_size:
                raise ValueError(f"fit(distributed=True): the global batch size "
                                 f"{run.batch_size} is smaller than the number of ranks "
                                 f"{self.world_size}; every rank needs at least one example "
                                 f"per step")
        except ValueError as e:  # the ranks compared these settings: every rank raises this
            raise raised_on_every_rank(e) from None

    @property
    def world_size(self) -> int:
        return self.context.world_size

    @property
    def is_main(self) -> bool:
        return self.context.is_main

    def loader(self, data: Any, batch_size: int, shuffle: bool, seed: int | None = None
               ) -> _EpochLoader:
        """This rank's batches of ``data`` ((X, y) arrays or a Dataset); ``batch_size`` is
        the global batch size B. The order comes from the seed agreed at ``start`` (rank
        0's ``seed``)."""
        from chainrule.data import DataLoader, Dataset, as_dataset

        data = as_dataset(data)
        if not isinstance(data, Dataset):  # the ranks agreed on the type (fit_settings)
            raise raised_on_every_rank(TypeError(
                f"fit(distributed=True): the training data must be (X, y) arrays or a "
                f"Dataset, which every rank shards the same way; got {type(data).__name__}"))
        sampler = DistributedSampler(len(data), batch_size, self.context.rank,
                                     self.context.world_size, shuffle=shuffle, seed=self.seed)
        return _EpochLoader(DataLoader(data, batch_sampler=sampler), sampler)

    def shard_loader(self, data: Any, batch_size: int) -> Any:
        """This rank's contiguous share of ``data`` (e.g. the validation set), in batches:
        rank r of p takes examples [r n / p, (r + 1) n / p). Data that cannot be indexed
        (a DataLoader or other iterable) is not split: every rank then reads all of it."""
        from chainrule.data import DataLoader, Dataset, as_dataset

        data = as_dataset(data)
        if not isinstance(data, Dataset):
            return data
        n, rank, ranks = len(data), self.context.rank, self.context.world_size
        mine = np.arange(rank * n // ranks, (rank + 1) * n // ranks)
        batches = [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]
        return DataLoader(data, batch_sampler=batches)

    def average_gradients(self, local_size: int) -> None:
        assert self._reduce is not None, "DataParallel.start was not called"
        self._reduce(local_size)

    def sum_counts(self, *values: float) -> list[float]:
        """Each value summed over ranks (epoch totals of loss, correct, count)."""
        local = np.asarray(values, np.float64)
        total = np.empty_like(local)
        self.context.allreduce_sum(local, total)
        return total.tolist()

    def agree_to_stop(self, state: TrainingState) -> None:
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

    def setup_errors(self) -> contextlib.AbstractContextManager[None]:
        """Errors of a run's setup (options, data; ``SETUP_ERRORS``) reported by rank 0
        alone, the other ranks exiting with ``SETUP_EXIT_CODE`` (see ``reported_once``)."""
        return reported_once(self.context, SETUP_ERRORS, exit_code=SETUP_EXIT_CODE)


def fit_settings(train_data: Any, val_data: Any, loss_fn: Any, optimizer: Any,
                 scheduler: Any, **loop: Any) -> dict[str, Any]:
    """What every rank of a ``fit(..., distributed=True)`` must agree on, by name: the
    sizes of the training and validation data, the loop settings ``loop`` (epochs,
    batch_size, shuffle, ...), and the kinds of loss, optimizer (with its
    hyperparameters) and scheduler. The seed is not among them: rank 0's is used."""
    return {"len(train_data)": _size(train_data), **loop,
            "len(val_data)": None if val_data is None else _size(val_data),
            "loss_fn": type(loss_fn).__name__, "optimizer": _optimizer(optimizer),
            "scheduler": None if scheduler is None else type(scheduler).__name__}


def _size(data: Any) -> int | str:
    """The number of examples of (X, y) arrays or a Dataset; for anything else its type,
    which ``DataParallel.loader`` refuses on every rank alike."""
    from chainrule.data import Dataset

    try:
        if isinstance(data, tuple | list) and len(data) == 2:
            return len(data[0])
        if isinstance(data, Dataset):
            return len(data)
    except TypeError:
        pass
    return f"a {type(data).__name__}"


def _optimizer(optimizer: Any) -> str:
    """"SGD(lr=0.1, momentum=0.9, ...)" per parameter group: plain hyperparameters only."""
    plain = (int, float, bool, str, type(None), tuple)
    groups = getattr(optimizer, "param_groups", None) or [{}]
    described = [", ".join(f"{k}={v!r}" for k, v in group.items()
                           if k != "params" and isinstance(v, plain)) for group in groups]
    return f"{type(optimizer).__name__}({'; '.join(described)})"


def abort_with(context: Any, error: BaseException) -> None:
    """End every rank of a multi-rank run because ``error`` happened on this one; an error
    marked ``raised_on_every_rank`` is left to be re-raised, since no rank waits."""
    if context.world_size == 1 or is_raised_on_every_rank(error):
        return
    context.abort(f"chainrule: error: rank {context.rank}: {type(error).__name__}: {error}")


@contextlib.contextmanager
def abort_on_error() -> Iterator[None]:
    """Run a block such that an exception on any rank aborts the whole run with
    "rank N: <error>" on stderr (a single process just re-raises). An error marked
    ``raised_on_every_rank`` (ranks that disagree on the model or the settings) is
    re-raised on every rank instead, since no rank is left waiting."""
    try:
        yield
    except Exception as e:
        abort_with(init(), e)
        raise


@contextlib.contextmanager
def reported_once(context: Context | None, catch: tuple[type[Exception], ...],
                  exit_code: int) -> Iterator[None]:
    """Run a block that every rank runs alike (checking options, loading the data) so that
    an error of a ``catch`` type on any rank is reported once, by rank 0, and every rank
    exits cleanly, with no MPI abort.

    After the block the ranks compare outcomes (one small allgather). If any failed,
    rank 0 raises its own error (or a ``ValueError`` naming the failed rank and its
    message), marked ``raised_on_every_rank``, and every other rank raises
    ``SystemExit(exit_code)`` without printing: ``exit_code`` must be the status the
    caller gives rank 0's error. Errors of other types propagate unmarked (and abort the
    run under ``abort_on_error``). With one process (or ``context`` None) errors just
    propagate.
    """
    try:
        yield
    except catch as e:
        if context is None or context.world_size == 1:
            raise
        error: Exception | None = e
    else:
        if context is None or context.world_size == 1:
            return
        error = None
    everyone = context.allgather(None if error is None else str(error))
    failed = [r for r, message in enumerate(everyone) if message is not None]
    if not failed:
        return
    if not context.is_main:
        raise SystemExit(exit_code) from None
    if error is None:
        error = ValueError(f"rank {failed[0]}: {everyone[failed[0]]}")
    raise raised_on_every_rank(error)
