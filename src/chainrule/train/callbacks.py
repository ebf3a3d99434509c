"""Callbacks: code that runs at the end of each epoch and may stop training.

The stopping rules of ``fit`` are callbacks too: ``ConvergenceStop`` ("train until
the loss converges") and ``EarlyStopping`` (on the validation loss; training ends with
the best epoch's weights, however it ends). ``ModelCheckpoint`` saves the model after
every epoch, atomically, so a crash or a diverging run leaves the last good model on
disk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.train.progress import counted

if TYPE_CHECKING:
    from chainrule.train.fit import TrainingState


class Callback:
    """Override any of the hooks; ``state.stop(reason)`` ends training after this epoch."""

    def on_train_begin(self, state: TrainingState) -> None:
        pass

    def on_epoch_end(self, state: TrainingState, logs: dict[str, Any]) -> None:
        pass

    def on_train_end(self, state: TrainingState) -> None:
        pass


class LambdaCallback(Callback):
    """Call ``fn(state, logs)`` after every epoch."""

    def __init__(self, on_epoch_end: Callable[[TrainingState, dict[str, Any]], None]) -> None:
        self.fn = on_epoch_end

    def on_epoch_end(self, state: TrainingState, logs: dict[str, Any]) -> None:
        self.fn(state, logs)


class Plateau:
    """The patience rule: count the epochs in a row whose value fails to beat the best.

    An epoch beats the best when ``improved(value, best)`` says so (the best and the
    value in the sign-adjusted scale of ``mode``: always minimized), which resets the
    count; training should stop once ``patience`` epochs in a row have not. With
    ``any_gain`` the best follows every lower value, as scikit-learn's MLP keeps it;
    without, only the values that beat it, as the callbacks keep it.
    """

    def __init__(self, patience: float, improved: Callable[[float, float], bool],
                 mode: str = "min", any_gain: bool = False) -> None:
        self.patience, self.improved, self.any_gain = patience, improved, any_gain
        self.sign = 1.0 if mode == "min" else -1.0
        self.best = math.inf
        self.waited = 0
        self.new_best = False  # whether the last value became the best

    @classmethod
    def absolute(cls, tol: float, patience: float, mode: str = "min") -> Plateau:
        """scikit-learn's rule: an epoch improves when it beats the best by at least ``tol``
        (so with tol = 0 an equal value resets the count, as in scikit-learn)."""
        return cls(patience, lambda value, best: value <= best - tol, mode, any_gain=True)

    def update(self, value: float) -> bool:
        """Record an epoch's value; True if it beat the best (the count starts over)."""
        signed = self.sign * value
        beat = self.improved(signed, self.best)
        self.waited = 0 if beat else self.waited + 1
        self.new_best = signed < self.best and (beat or self.any_gain)
        if self.new_best:
            self.best = signed
        return beat

    @property
    def best_value(self) -> float:
        return self.sign * self.best

    @property
    def stalled(self) -> bool:
        return self.waited >= self.patience


def direction(owner: object, mode: str, monitor: str) -> str:
    """'min' or 'max' for ``mode``; 'auto' is 'max' for an accuracy ("acc" in the name, as
    Keras infers it) and 'min' for anything else (a loss)."""
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{type(owner).__name__}: mode must be 'min', 'max' or 'auto', got "
                         f"{mode!r}")
    return mode


def monitored(owner: object, logs: dict[str, Any], monitor: str) -> float:
    """The epoch's value of ``monitor``; a name the logs lack is an error, not a silent
    'never improved'."""
    value = logs.get(monitor)
    if value is None:
        raise KeyError(f"{type(owner).__name__}: the epoch logs have no {monitor!r} "
                       f"(have {sorted(logs)})")
    return value


class _Patience(Callback):
    """Stops training once ``monitor`` has not improved for ``patience`` epochs (a
    ``Plateau`` whose rule is ``improved``, in the direction ``mode``)."""

    monitor = "loss"
    mode = "min"

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ValueError(f"{type(self).__name__}: patience must be at least 1, got "
                             f"{patience}")
        self.patience = patience
        self.rule = Plateau(patience, self.improved, self.mode)

    @property
    def best(self) -> float:
        return self.rule.best_value

    def improved(self, value: float, best: float) -> bool:
        raise NotImplementedError

    def on_train_begin(self, state: TrainingState) -> None:
        self.rule = Plateau(self.patience, self.improved, self.mode)

    def on_epoch_end(self, state: TrainingState, logs: dict[str, Any]) -> None:
        value = monitored(self, logs, self.monitor)
        if self.rule.update(value):
            self.on_improvement(state, value)
        elif self.rule.stalled:
            state.stop(self.reason())

    def on_improvement(self, state: TrainingState, value: float) -> None:
        pass

    def reason(self) -> str:
        raise NotImplementedError


class ConvergenceStop(_Patience):
    """Stop when the training loss improves by less than ``tol`` relative to the best so
    far, (best - loss) / |best| < tol, for ``patience`` epochs in a row."""

    def __init__(self, tol: float = 1e-4, patience: int = 5, monitor: str = "loss") -> None:
        super().__init__(patience)
        self.tol, self.monitor = tol, monitor

    def improved(self, value: float, best: float) -> bool:
        if not np.isfinite(best):
            return True
        return (best - value) / max(abs(best), 1e-12) >= self.tol

    def reason(self) -> str:
        return (f"converged: {self.monitor} improved by less than {self.tol:g} (relative) "
                f"for {counted(self.patience, 'epoch')}")


class EarlyStopping(_Patience):
    """Stop when ``monitor`` (the validation loss) has not gone below its best by more than
    ``min_delta`` for ``patience`` epochs (Keras's rule); with ``mode='max'`` (or 'auto' and
    an accuracy) when it has not gone above its best by more than ``min_delta``.

    With ``restore_best`` (the default) training ends with the weights of the best epoch
    (``history.best_epoch``) however it ends: stopped by this rule, by another one, or
    at the last epoch, since the best epoch can be an earlier one then too. When the
    reason recorded is not this rule's, ``history.stopped_reason`` ends with "; restored
    the weights of epoch N, the best val_loss" if N is not the last epoch.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, monitor: str = "val_loss",
                 restore_best: bool = True, mode: str = "auto") -> None:
        self.mode = direction(self, mode, monitor)
        super().__init__(patience)
        self.min_delta, self.monitor, self.restore_best = min_delta, monitor, restore_best
        self.best_state: dict[str, np.ndarray] | None = None
        self.best_epoch = 0

    def improved(self, value: float, best: float) -> bool:
        return value < best - self.min_delta

    def on_improvement(self, state: TrainingState, value: float) -> None:
        self.best_epoch = state.epoch
        if self.restore_best:
            self.best_state = {k: v.copy() for k, v in state.model.state_dict().items()}

    def reason(self) -> str:
        return (f"early stopping: {self.monitor} did not improve for "
                f"{counted(self.patience, 'epoch')} "
                f"(best at epoch {self.best_epoch})")

    def on_train_end(self, state: TrainingState) -> None:
        state.history.best_epoch = self.best_epoch
        if not self.restore_best or self.best_state is None:
            return
        state.model.load_state_dict(self.best_state)
        said = state.history.stopped_reason == self.reason()  # "(best at epoch N)"
        if not said and self.best_epoch != state.epoch:
            state.history.stopped_reason += (f"; restored the weights of epoch "
                                             f"{self.best_epoch}, the best {self.monitor}")


class ModelCheckpoint(Callback):
    """Save the model to ``path`` after every epoch (or only when ``monitor`` improves:
    falls below its best, or with ``mode='max'``, or 'auto' and an accuracy, rises above).

    Each save is atomic, so the file always holds a complete model from a finished
    epoch, even if training later crashes or diverges. ``saved_epoch`` is the epoch of
    the last save of this run (None before the first): a file already at ``path`` may
    be an earlier run's, so only this says whether the file is this run's.
    """

    def __init__(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None,
                 monitor: str | None = None, mode: str = "auto") -> None:
        self.path, self.metadata, self.monitor = path, metadata or {}, monitor
        self.mode = direction(self, mode, monitor or "")
        self._start()

    def _start(self) -> None:
        # a save needs a strictly better value, as Keras's save_best_only
        self.rule = Plateau(math.inf, lambda value, best: value < best, self.mode)
        self.saved_epoch: int | None = None

    def on_train_begin(self, state: TrainingState) -> None:
        self._start()

    @property
    def best(self) -> float:
        """The best value of ``monitor`` so far (inf, or -inf for 'max', before any)."""
        return self.rule.best_value

    def on_epoch_end(self, state: TrainingState, logs: dict[str, Any]) -> None:
        from chainrule.serialization import save

        if self.monitor is not None and not self.rule.update(
                monitored(self, logs, self.monitor)):
            return
        save(state.model, self.path, {**self.metadata, "epoch": state.epoch,
                                      "metrics": _jsonable(logs)})
        self.saved_epoch = state.epoch


def _jsonable(logs: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in logs.items()}
