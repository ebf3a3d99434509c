"""The training loop: mini-batch gradient descent by backpropagation, with stopping rules.

One step on a mini-batch (x, y):

    loss = L(model(x), y) [+ lambda/(2n) sum W^2] [+ lambda/n sum |W|]
    optimizer.zero_grad(); loss.backward(); optimizer.step()

An epoch is a pass over the shuffled training set; after each epoch the mean
training loss (and accuracy, for classification) and the validation metrics are
recorded in the ``History`` and handed to the callbacks, which may stop training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss
from chainrule.nn.module import Module
from chainrule.nn.regularization import l1_penalty, l2_penalty
from chainrule.train.callbacks import Callback, ConvergenceStop, EarlyStopping
from chainrule.train.history import History
from chainrule.train.metrics import accuracy
from chainrule.train.progress import Progress

_CLASSIFICATION_LOSSES = (CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss)


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message says where and what to try."""


class TrainingState:
    """What callbacks see: the model, the optimizer, the history, and a stop switch."""

    def __init__(self, model: Module, optimizer: Any, history: History) -> None:
        self.model, self.optimizer, self.history = model, optimizer, history
        self.epoch = 0
        self.stop_training = False

    def stop(self, reason: str) -> None:
        self.stop_training = True
        if not self.history.stopped_reason:
            self.history.stopped_reason = reason


def _loader(data: Any, batch_size: int, shuffle: bool, seed: int | None) -> Any:
    """A DataLoader for (X, y) arrays or a Dataset; a DataLoader or other iterable as is."""
    from chainrule.data import DataLoader, Dataset, TensorDataset

    if isinstance(data, tuple | list) and len(data) == 2:
        data = TensorDataset(*data)
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, Iterable):
        return data
    raise TypeError(f"fit: training data must be (X, y) arrays, a Dataset or a DataLoader; got "
                    f"{type(data).__name__}")


def _num_examples(loader: Any) -> int:
    dataset = getattr(loader, "dataset", None)
    return len(dataset) if dataset is not None else 0


def _is_classifier(loss_fn: Any, classification: bool | None) -> bool:
    if classification is not None:
        return classification
    return isinstance(loss_fn, _CLASSIFICATION_LOSSES)


def evaluate(model: Module, loss_fn: Any, data: Any, batch_size: int = 1024,
             classification: bool | None = None) -> dict[str, float]:
    """Mean loss (and accuracy for classification) over ``data``, in eval mode.

    ``classification`` defaults to True for the classification losses; pass True
    for, e.g., MSE against one-hot targets (accuracy then compares argmaxes).
    """
    classify = _is_classifier(loss_fn, classification)
    sums = _evaluation_sums(model, loss_fn, _loader(data, batch_size, False, None), classify)
    return _metrics(*sums, classify)


def _evaluation_sums(model: Module, loss_fn: Any, loader: Any, classify: bool
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


def predict(model: Module, x: Any, batch_size: int = 1024) -> np.ndarray:
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


def fit(model: Module, loss_fn: Any, optimizer: Any, train_data: Any, val_data: Any = None, *,
        epochs: int = 10, batch_size: int = 32, shuffle: bool = True, seed: int | None = None,
        l1: float = 0.0, l2: float = 0.0, scheduler: Any = None,
        clip_grad_norm: float | None = None, until_converged: bool = False, tol: float = 1e-4,
        patience: int = 5, early_stopping: bool = False, classification: bool | None = None,
        callbacks: Sequence[Callback] = (), progress: bool | Progress = True,
        distributed: bool = False) -> History:
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
        distributed: data-parallel training over the processes of an MPI launch
            (``mpiexec -n p ...``; one process without one): ``batch_size`` is the
            global batch B, each rank trains on its shard and the gradients are
            averaged, so every rank takes the step of one process with batch B. Only
            rank 0 shows progress; callbacks run on every rank. See
            ``chainrule.distributed`` and docs/distributed.md.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (names epoch and batch), or
            the weights did by the end of an epoch; the callbacks never see such an epoch.
    """
    sync = None
    if distributed:
        from chainrule.distributed.training import DataParallel, fit_settings

        sync = DataParallel()  # joins the run; everything that can fail is in the guard below
        if not sync.is_main:
            progress = False
    reporter = None
    try:
        if sync is not None:
            # First of all, the ranks compare the model, the data sizes and the loop
            # settings: ranks that disagree on them would not call the same collectives.
            sync.start(model, seed, fit_settings(
                train_data, val_data, loss_fn, optimizer, scheduler, epochs=epochs,
                batch_size=batch_size, shuffle=shuffle, l1=l1, l2=l2,
                clip_grad_norm=clip_grad_norm, until_converged=until_converged, tol=tol,
                patience=patience, early_stopping=early_stopping,
                classification=classification))
        _check_arguments(epochs, batch_size, early_stopping, val_data, sync)
        loader = (sync.loader(train_data, batch_size, shuffle) if sync is not None
                  else _loader(train_data, batch_size, shuffle, seed))
        n_train = _num_examples(loader) or 1
        classify = _is_classifier(loss_fn, classification)
        callbacks = list(callbacks)
        if until_converged:
            callbacks.append(ConvergenceStop(tol=tol, patience=patience))
        if early_stopping:
            callbacks.append(EarlyStopping(patience=patience, restore_best=True))
        history = History()
        state = TrainingState(model, optimizer, history)
        reporter = progress if isinstance(progress, Progress) else Progress(
            epochs, len(loader) if hasattr(loader, "__len__") else 0, enabled=bool(progress))
        for cb in callbacks:
            cb.on_train_begin(state)
        for epoch in range(1, epochs + 1):
            state.epoch = epoch
            reporter.start_epoch(epoch)
            started = time.perf_counter()
            logs = _train_epoch(model, loss_fn, optimizer, loader, epoch, n_train, l1, l2,
                                clip_grad_norm, classify, reporter, sync)
            _check_weights_finite(model, optimizer, epoch)
            if val_data is not None:
                if sync is not None:  # each rank scores its shard; the sums are added up
                    sums = sync.sum_counts(*_evaluation_sums(
                        model, loss_fn, sync.shard_loader(val_data, 1024), classify))
                    val = _metrics(*sums, classify)
                else:
                    val = evaluate(model, loss_fn, val_data, classification=classify)
                for key, value in val.items():
                    logs[f"val_{key}"] = value
            if scheduler is not None:
                _step_scheduler(scheduler, logs)
            lr = _current_lr(optimizer)
            logs = {"epoch": epoch, **logs, "time": time.perf_counter() - started}
            if lr is not None:
                logs["lr"] = lr
            history.append(logs)
            reporter.end_epoch(logs)
            for cb in callbacks:
                cb.on_epoch_end(state, logs)
            if sync is not None:
                sync.agree_to_stop(state)
            if state.stop_training:
                reporter.message(f"stopped after epoch {epoch}: {history.stopped_reason}")
                break
        else:
            history.stopped_reason = f"reached the maximum of {epochs} epochs"
        for cb in callbacks:
            cb.on_train_end(state)
        if sync is not None:
            sync.finish()
    except Exception as e:
        if sync is not None:
            sync.abort_on(e)
        raise
    finally:
        if reporter is not None:
            reporter.close()
    return history


def _check_arguments(epochs: int, batch_size: int, early_stopping: bool, val_data: Any,
                     sync: Any) -> None:
    try:
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"fit: epochs and batch_size must be positive, got "
                             f"epochs={epochs}, batch_size={batch_size}")
        if early_stopping and val_data is None:
            raise ValueError("fit: early_stopping needs val_data (the validation loss is "
                             "what it watches)")
        if sync is not None and batch_size < sync.world_size:
            raise ValueError(f"fit(distributed=True): the global batch size {batch_size} is "
                             f"smaller than the number of ranks {sync.world_size}; every "
                             f"rank needs at least one example per step")
    except ValueError as e:
        if sync is not None:  # the ranks compared these settings: every rank raises this
            from chainrule.distributed import raised_on_every_rank

            raised_on_every_rank(e)
        raise


def _train_epoch(model: Module, loss_fn: Any, optimizer: Any, loader: Any, epoch: int,
                 n_train: int, l1: float, l2: float, clip: float | None, classify: bool,
                 reporter: Progress, sync: Any = None) -> dict[str, float]:
    model.train()
    total = correct = 0.0
    count = 0
    for index, (x, y) in enumerate(loader):
        out = model(x)
        loss = loss_fn(out, y)
        value = float(loss.data)
        if not math.isfinite(value):
            raise TrainingDiverged(f"the loss became {value} at epoch {epoch}, batch {index + 1}; "
                                   f"training diverged. {_advice(optimizer)}")
        if l2:
            loss = loss + l2_penalty(model, l2, n_train)
        if l1:
            loss = loss + l1_penalty(model, l1, n_train)
        optimizer.zero_grad()
        loss.backward()
        n = len(y)
        if sync is not None:
            sync.average_gradients(n)  # before clipping: clip the global batch's gradient
        if clip is not None:
            from chainrule.optim import clip_grad_norm_

            clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += value * n
        count += n
        if classify:
            correct += accuracy(out.data, y.data) * n
        reporter.batch(index, value)
    if sync is not None:
        total, correct, count = sync.sum_counts(total, correct, count)
    if count == 0:
        raise ValueError("fit: the training data is empty")
    logs = {"loss": total / count}
    if classify:
        logs["accuracy"] = correct / count
    return logs


def _advice(optimizer: Any) -> str:
    return (f"Try a lower learning rate (now {_current_lr(optimizer)}), gradient clipping, "
            f"or standardized inputs")


def _check_weights_finite(model: Module, optimizer: Any, epoch: int) -> None:
    """The last step of an epoch can overflow the weights while every loss of the epoch was
    finite; without this check the callbacks (ModelCheckpoint) would save that broken
    model as the epoch's, and the last epoch's would be returned as the result."""
    for name, p in model.named_parameters():
        if not np.isfinite(p.data).all():
            raise TrainingDiverged(f"the weights ({name}) became non-finite by the end of "
                                   f"epoch {epoch}, whose losses were finite; training "
                                   f"diverged. {_advice(optimizer)}")


def _current_lr(optimizer: Any) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else None


def _step_scheduler(scheduler: Any, logs: dict[str, float]) -> None:
    from chainrule.optim.lr_scheduler import ReduceLROnPlateau

    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(logs.get("val_loss", logs["loss"]))
    else:
        scheduler.step()
