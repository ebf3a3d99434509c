"""The training loop: mini-batch gradient descent by backpropagation, with stopping rules.

One step on a mini-batch (x, y):

    loss = L(model(x), y) [+ lambda/(2n) sum W^2] [+ lambda/n sum |W|]
    optimizer.zero_grad(); loss.backward(); optimizer.step()

An epoch is a pass over the shuffled training set; after each epoch the mean
training loss (and accuracy, for classification) and the validation metrics are
recorded in the ``History`` and handed to the callbacks, which may stop training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.data.dataset import Dataset
from chainrule.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss
from chainrule.nn.module import Module
from chainrule.nn.regularization import l1_penalty, l2_penalty
from chainrule.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from chainrule.optim.optimizer import Optimizer
from chainrule.train.callbacks import Callback, ConvergenceStop, EarlyStopping
from chainrule.train.history import History
from chainrule.train.metrics import accuracy
from chainrule.train.progress import Progress, counted
from chainrule.train.step import TrainingDiverged, check_loss, train_step
from chainrule.train.strategy import Strategy, make_loader, resolve_strategy

_CLASSIFICATION_LOSSES = (CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss)

# what fit, evaluate and predict take
LossFn: TypeAlias = Callable[[Tensor, Any], Tensor]  # (outputs, targets) -> a scalar loss
Data: TypeAlias = tuple[Any, Any] | Dataset | Iterable[Any]  # (X, y), a Dataset, batches
Scheduler: TypeAlias = LRScheduler | ReduceLROnPlateau

__all__ = ["TrainingDiverged", "TrainingState", "evaluate", "fit", "predict"]


class TrainingState:
    """What callbacks see: the model, the optimizer, the history, and a stop switch."""

    def __init__(self, model: Module, optimizer: Optimizer, history: History) -> None:
        self.model, self.optimizer, self.history = model, optimizer, history
        self.epoch = 0
        self.stop_training = False

    def stop(self, reason: str) -> None:
        self.stop_training = True
        if not self.history.stopped_reason:
            self.history.stopped_reason = reason


@dataclass
class FitRun:
    """The arguments of one ``fit`` call, as the loop and its strategy read them."""

    train_data: Data
    val_data: Data | None
    loss_fn: LossFn
    optimizer: Optimizer
    scheduler: Scheduler | None
    epochs: int
    batch_size: int
    shuffle: bool
    seed: int | None
    l1: float
    l2: float
    clip_grad_norm: float | None
    until_converged: bool
    tol: float
    patience: int
    early_stopping: bool
    classification: bool | None

    def loop_settings(self) -> dict[str, Any]:
        """The loop's settings by name (not the data, loss, optimizer or seed)."""
        names = ("epochs", "batch_size", "shuffle", "l1", "l2", "clip_grad_norm",
                 "until_converged", "tol", "patience", "early_stopping", "classification")
        return {name: getattr(self, name) for name in names}

    def check(self) -> None:
        """Refuse settings the loop cannot run with."""
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"fit: epochs and batch_size must be positive, got "
                             f"epochs={self.epochs}, batch_size={self.batch_size}")
        if self.early_stopping and self.val_data is None:
            raise ValueError("fit: early_stopping needs val_data (the validation loss is "
                             "what it watches)")


def _num_examples(loader: Iterable[Any]) -> int:
    dataset = getattr(loader, "dataset", None)
    return len(dataset) if dataset is not None else 0


def _is_classifier(loss_fn: LossFn, classification: bool | None) -> bool:
    if classification is not None:
        return classification
    return isinstance(loss_fn, _CLASSIFICATION_LOSSES)


def evaluate(model: Module, loss_fn: LossFn, data: Data, batch_size: int = 1024,
             classification: bool | None = None) -> dict[str, float]:
    """Mean loss (and accuracy for classification) over ``data``, in eval mode.

    ``classification`` defaults to True for the classification losses; pass True
    for, e.g., MSE against one-hot targets (accuracy then compares argmaxes).
    """
    classify = _is_classifier(loss_fn, classification)
    sums = _evaluation_sums(model, loss_fn, make_loader(data, batch_size, False, None),
                            classify)
    return _metrics(*sums, classify)


def _evaluation_sums(model: Module, loss_fn: LossFn, loader: Iterable[Any], classify: bool
                     ) -> tuple[float, float, float]:
    """(sum of per-example losses, number correct, number of examples) over ``loader``,
    in eval mode: sums, so that shards evaluated on several ranks add up exactly."""
    was_training = model.training
    model.eval()
    total = correct = count = 0.0
    try:
        with no_grad():
            for x, y in loader:
                out = model(x)
                n = len(y)
                total += float(loss_fn(out, y).item()) * n
                if classify:
                    correct += accuracy(out.data, y.data) * n
                count += n
    finally:
        model.train(was_training)
    return total, correct, count


def _metrics(total: float, correct: float, count: float, classify: bool) -> dict[str, float]:
    if count == 0:
        raise ValueError("evaluate: the data is empty")
    result = {"loss": total / count}
    if classify:
        result["accuracy"] = correct / count
    return result


def predict(model: Module, x: Tensor | np.ndarray | Sequence[Any], batch_size: int = 1024
            ) -> np.ndarray:
    """The model's outputs for inputs ``x`` (eval mode, no graph), as one array."""
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            parts = [model(Tensor.constant(x[i:i + batch_size])).data
                     for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.empty((0,))



def fit(model: Module, loss_fn: LossFn, optimizer: Optimizer, train_data: Data,
        val_data: Data | None = None, *, epochs: int = 10, batch_size: int = 32,
        shuffle: bool = True, seed: int | None = None, l1: float = 0.0, l2: float = 0.0,
        scheduler: Scheduler | None = None, clip_grad_norm: float | None = None,
        until_converged: bool = False, tol: float = 1e-4, patience: int = 5,
        early_stopping: bool = False, classification: bool | None = None,
        callbacks: Sequence[Callback] = (), progress: bool | Progress = True,
        strategy: Strategy | None = None, distributed: bool = False) -> History:
    """Train ``model`` by backpropagation; return the per-epoch ``History``.

    Args:
        train_data, val_data: (X, y) arrays, a Dataset, or a DataLoader.
        epochs: the most epochs to run (stopping rules may end sooner).
        l1, l2: regularization strengths lambda, applied to the weights (not the
            biases) as lambda/n sum |W| and lambda/(2n) sum W^2, n = the number of
            training examples, as in the textbook derivation.
        scheduler: stepped once per epoch (ReduceLROnPlateau gets the
            validation loss, or the training loss without validation data).
        clip_grad_norm: rescale the gradients so their joint L2 norm is at most this.
        until_converged: stop when the training loss improves by less than ``tol``
            (relative) for ``patience`` epochs in a row.
        early_stopping: stop when the validation loss has not improved for
            ``patience`` epochs. However training then ends (this rule, until_converged,
            or the last epoch), the model ends with the weights of the epoch of the
            lowest validation loss, ``history.best_epoch`` (see ``EarlyStopping``).
        classification: record accuracy (default: for the classification losses).
        progress: tqdm bars on a terminal, plain lines otherwise; False is silent.
        strategy: where the steps run (``chainrule.train.strategy``); default one process.
        distributed: shorthand for ``strategy=DataParallel()``: data-parallel training
            over the processes of an MPI launch (``mpiexec -n p ...``; one process
            without one): ``batch_size`` is the global batch B, each rank trains on its
            shard and the gradients are averaged, so every rank takes the step of one
            process with batch B. Only rank 0 shows progress; callbacks run on every
            rank. See ``chainrule.distributed`` and docs/distributed.md.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (names epoch and batch), or
            the weights did by the end of an epoch; the callbacks never see such an epoch.
    """
    run = FitRun(train_data, val_data, loss_fn, optimizer, scheduler, epochs, batch_size,
                 shuffle, seed, l1, l2, clip_grad_norm, until_converged, tol, patience,
                 early_stopping, classification)
    strategy = resolve_strategy(strategy, distributed)  # joins the run; the rest is guarded
    if not strategy.is_main:
        progress = False
    reporter = None
    try:
        # First of all the checks: with several ranks, they compare the model, the data
        # sizes and the loop settings, since ranks that disagree would not call the same
        # collectives.
        strategy.start(model, run)
        loader = strategy.loader(train_data, batch_size, shuffle, seed)
        reporter = progress if isinstance(progress, Progress) else Progress(
            epochs, len(loader) if hasattr(loader, "__len__") else 0, enabled=bool(progress))
        history = _run_epochs(model, run, strategy, loader, reporter, callbacks)
        strategy.finish()
    except Exception as e:
        strategy.abort_on(e)
        raise
    finally:
        if reporter is not None:
            reporter.close()
    return history


def _stopping_rules(run: FitRun, callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks given, then the stopping rules the arguments ask for."""
    rules = list(callbacks)
    if run.until_converged:
        rules.append(ConvergenceStop(tol=run.tol, patience=run.patience))
    if run.early_stopping:
        rules.append(EarlyStopping(patience=run.patience, restore_best=True))
    return rules


def _run_epochs(model: Module, run: FitRun, strategy: Strategy, loader: Any,
                reporter: Progress, callbacks: Sequence[Callback]) -> History:
    """Epochs until the last or until a callback stops training; the ``History``."""
    callbacks = _stopping_rules(run, callbacks)
    history = History()
    state = TrainingState(model, run.optimizer, history)
    for cb in callbacks:
        cb.on_train_begin(state)
    for epoch in range(1, run.epochs + 1):
        state.epoch = epoch
        logs = _epoch(model, run, strategy, loader, epoch, reporter)
        history.append(logs)
        reporter.end_epoch(logs)
        for cb in callbacks:
            cb.on_epoch_end(state, logs)
        strategy.agree_to_stop(state)
        if state.stop_training:
            reporter.message(f"stopped after epoch {epoch}: {history.stopped_reason}")
            break
    else:
        history.stopped_reason = f"reached the maximum of {counted(run.epochs, 'epoch')}"
    for cb in callbacks:
        cb.on_train_end(state)
    return history


def _epoch(model: Module, run: FitRun, strategy: Strategy, loader: Any, epoch: int,
           reporter: Progress) -> dict[str, float]:
    """Train one epoch, score the validation data, step the scheduler: the epoch's logs."""
    reporter.start_epoch(epoch)
    started = time.perf_counter()
    classify = _is_classifier(run.loss_fn, run.classification)
    logs = _train_epoch(model, run, strategy, loader, epoch, classify, reporter)
    _check_weights_finite(model, run.optimizer, epoch)
    if run.val_data is not None:  # each process scores its share; the sums are added up
        sums = strategy.sum_counts(*_evaluation_sums(
            model, run.loss_fn, strategy.shard_loader(run.val_data, 1024), classify))
        for key, value in _metrics(*sums, classify).items():
            logs[f"val_{key}"] = value
    if run.scheduler is not None:
        _step_scheduler(run.scheduler, logs)
    lr = _current_lr(run.optimizer)
    logs = {"epoch": epoch, **logs, "time": time.perf_counter() - started}
    if lr is not None:
        logs["lr"] = lr
    return logs


def _train_epoch(model: Module, run: FitRun, strategy: Strategy, loader: Any, epoch: int,
                 classify: bool, reporter: Progress) -> dict[str, float]:
    model.train()
    n_train = _num_examples(loader) or 1
    total = correct = 0.0
    count = 0
    for index, (x, y) in enumerate(loader):
        out = model(x)
        loss = run.loss_fn(out, y)
        value = float(loss.data)
        check_loss(value, f"epoch {epoch}, batch {index + 1}",
                   f"training diverged. {_advice(run.optimizer)}")
        if run.l2:
            loss = loss + l2_penalty(model, run.l2, n_train)
        if run.l1:
            loss = loss + l1_penalty(model, run.l1, n_train)
        n = len(y)
        # averaged before clipping: clip the global batch's gradient
        train_step(model, loss, run.optimizer, clip_grad_norm=run.clip_grad_norm,
                   on_gradients=lambda n=n: strategy.average_gradients(n))
        total += value * n
        count += n
        if classify:
            correct += accuracy(out.data, y.data) * n
        reporter.batch(index, value)
    total, correct, count = strategy.sum_counts(total, correct, count)
    if count == 0:
        raise ValueError("fit: the training data is empty")
    logs = {"loss": total / count}
    if classify:
        logs["accuracy"] = correct / count
    return logs


def _advice(optimizer: Optimizer) -> str:
    return (f"Try a lower learning rate (now {_current_lr(optimizer)}), gradient clipping, "
            f"or standardized inputs")


def _check_weights_finite(model: Module, optimizer: Optimizer, epoch: int) -> None:
    """The last step of an epoch can overflow the weights while every loss of the epoch was
    finite; without this check the callbacks (ModelCheckpoint) would save that broken
    model as the epoch's, and the last epoch's would be returned as the result."""
    for name, p in model.named_parameters():
        if not np.isfinite(p.data).all():
            raise TrainingDiverged(f"the weights ({name}) became non-finite by the end of "
                                   f"epoch {epoch}, whose losses were finite; training "
                                   f"diverged. {_advice(optimizer)}")


def _current_lr(optimizer: Optimizer) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else None


def _step_scheduler(scheduler: Scheduler, logs: dict[str, float]) -> None:
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(logs.get("val_loss", logs["loss"]))
    else:
        scheduler.step()
