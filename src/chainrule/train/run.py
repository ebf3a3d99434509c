"""A complete training run from a configuration: the work of ``chainrule train``.

load data -> standardize (statistics of the training split only; for a CNN one mean
and standard deviation per image channel, the rows reshaped to images) -> build the MLP
or the CNN -> fit with the chosen optimizer and stopping rules -> evaluate on the test split
-> write model, metrics and curves into the output directory -> a ``RunResult``.

Nothing here prints: the run's header lines go to ``log`` (the command passes stdout on
rank 0) and the progress of ``fit`` to stderr.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainrule.creation import manual_seed
from chainrule.data.registry import IMAGE_SHAPES, load_dataset
from chainrule.nn.builders import cnn, cnn_feature_shapes, mlp
from chainrule.nn.loss import CrossEntropyLoss, MSELoss
from chainrule.nn.module import Module
from chainrule.optim.optimizer import Optimizer
from chainrule.serialization import save
from chainrule.threads import get_num_threads, set_num_threads
from chainrule.train.callbacks import Callback, ModelCheckpoint
from chainrule.train.config import (
    CONVERGENCE_MAX_EPOCHS,
    OPTIMIZERS,
    ConfigError,
    TrainConfig,
    layer_sizes,
)
from chainrule.train.fit import LossFn, TrainingDiverged, evaluate, fit
from chainrule.train.history import History
from chainrule.train.progress import counted, line_printer
from chainrule.train.strategy import Strategy, resolve_strategy

__all__ = ["ConfigError", "RunResult", "Splits", "TrainConfig", "TrainingInterrupted",
           "apply_preprocessing", "build_model", "build_optimizer", "check_trained_metadata",
           "prepare_data", "prepare_inputs", "run_training", "targets_for"]

# -- data -------------------------------------------------------------------------------------


@dataclass
class Splits:
    """Arrays ready for training, and what is needed to prepare new inputs the same way."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    preprocessing: dict[str, Any]
    image_shape: tuple[int, ...] | None = None  # (C, H, W) when the x arrays hold images

    @property
    def n_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def input_shape(self) -> list[int]:
        """The shape of one example as the model takes it: (C, H, W) or (features,)."""
        return list(self.image_shape or (self.n_features,))

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def prepare_data(config: TrainConfig) -> Splits:
    from chainrule import data

    x_train, y_train, x_test, y_test, names = load_dataset(
        config.data, config.data_dir, config.label_column, config.test_fraction)
    val_fraction = config.val_fraction
    if val_fraction is None and config.early_stopping:
        val_fraction = 0.1
    x_val = y_val = None
    if val_fraction:
        x_train, x_val, y_train, y_val = data.train_test_split(
            x_train, y_train, test_size=val_fraction, seed=config.seed, stratify=y_train)
    shape = _image_shape(config, x_train.shape[1])
    preprocessing: dict[str, Any] = {}
    if config.standardize:
        scaler = data.Standardizer().fit(x_train)
        if shape is not None:
            _per_channel(scaler, x_train, shape)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
        if x_val is not None:
            x_val = scaler.transform(x_val)
        preprocessing = {"standardize": {"mean": scaler.mean_.tolist(),
                                         "std": scaler.scale_.tolist()}}
    if shape is not None:
        x_train, x_test = _images(x_train, shape), _images(x_test, shape)
        x_val = None if x_val is None else _images(x_val, shape)
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, names, preprocessing, shape)


def _image_shape(config: TrainConfig, n_features: int) -> tuple[int, ...] | None:
    """The (C, H, W) a CNN takes (--image-shape, else the dataset's), checked against the
    rows and the layers; None for an MLP."""
    if config.model != "cnn":
        return None
    shape = tuple(config.image_shape or IMAGE_SHAPES.get(config.data) or ())
    config.check_image(shape, n_features)
    return shape


def _per_channel(scaler: Any, x: np.ndarray, shape: tuple[int, ...]) -> None:
    """Make ``scaler`` standardize each image channel with one mean and standard deviation
    (over its examples and pixels), written per feature so that ``apply_preprocessing``
    applies them as any other. Per-pixel statistics would scale a stroke differently by
    where it is (a rarely-inked border pixel by a tiny std), against the translation
    invariance a convolution builds on."""
    per_channel = x.reshape(len(x), shape[0], -1)
    mean = per_channel.mean(axis=(0, 2), dtype=np.float64)
    std = per_channel.std(axis=(0, 2), dtype=np.float64)
    pixels = int(np.prod(shape[1:]))
    scaler.mean_ = np.repeat(mean, pixels).astype(x.dtype)
    scaler.std_ = np.repeat(std, pixels).astype(x.dtype)
    scaler.scale_ = np.repeat(np.where(std > 0, std, 1.0), pixels).astype(x.dtype)


def _images(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(len(x), *shape)


def apply_preprocessing(x: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    """Prepare new inputs exactly as the training data was prepared."""
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    std = preprocessing.get("standardize")
    if std:
        mean = np.asarray(std["mean"], np.float32)
        scale = np.asarray(std["std"], np.float32)
        if x.shape[1] != mean.shape[0]:
            raise ValueError(f"the input has {x.shape[1]} features but the model was trained "
                             f"on {mean.shape[0]}")
        x = (x - mean) / scale
    return x


def check_trained_metadata(meta: Any, where: str) -> None:
    """Refuse the metadata of a model file written by ``run_training`` if its class names,
    preprocessing or configuration have the wrong JSON types or contradict each other
    (``preprocessing: {}`` when the configuration says the inputs were standardized), with
    a ``ModelFileError`` naming ``where`` (the file)."""
    from chainrule.safetensors import ModelFileError

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ModelFileError(f"{where}: the model's metadata is damaged: {what}")

    classes, pre, config = (meta.get(k) for k in ("classes", "preprocessing", "config"))
    need(isinstance(classes, list) and bool(classes) and all(isinstance(c, str)
                                                             for c in classes),
         "'classes' must be a non-empty list of class names")
    need(isinstance(pre, dict), "'preprocessing' must be an object")
    need(isinstance(config, dict), "'config' must be an object")
    std = pre.get("standardize")
    need(std is not None or not config.get("standardize", False),
         "the configuration says the inputs were standardized but 'preprocessing' has no "
         "standardization")
    if std is not None:
        mean, scale = (std.get(k) if isinstance(std, dict) else None for k in ("mean", "std"))
        need(all(isinstance(v, list) for v in (mean, scale)) and len(mean) == len(scale)
             and all(type(v) in (int, float) and np.isfinite(v) for v in mean + scale)
             and all(v > 0 for v in scale),
             "'standardize' must hold lists 'mean' and 'std' of finite numbers, of equal "
             "length, every std positive")


def prepare_inputs(x: np.ndarray, metadata: dict[str, Any]) -> np.ndarray:
    """New inputs for a model written by ``chainrule train`` (``metadata``: its saved
    metadata), prepared as its training data was: standardized, and for an image model
    shaped (N, C, H, W) from its saved ``input_shape``. Image inputs may be rows of
    flat pixels, an (N, C, H, W) array or one (C, H, W) image (with one channel also
    (N, H, W) or (H, W)); any other size is a ValueError saying what the model takes."""
    shape = [int(s) for s in metadata.get("input_shape") or ()]
    if len(shape) < 2:  # an MLP (or a model saved before input_shape was recorded)
        if np.ndim(x) != 2:
            raise ValueError(f"the input holds an array of shape {np.shape(x)}; this model "
                             f"takes one example per row (2 dimensions, or 1 for a single "
                             f"example)")
        return apply_preprocessing(x, metadata["preprocessing"])
    rows = _image_rows(np.asarray(x), shape)
    return _images(apply_preprocessing(rows, metadata["preprocessing"]), tuple(shape))


def _image_rows(x: np.ndarray, shape: list[int]) -> np.ndarray:
    """``x`` as one row of flat pixels per image of ``shape`` (C, H, W)."""
    size = int(np.prod(shape))
    if x.ndim == 2 and x.shape[1] == size:  # rows of pixels
        return x
    endings = [shape, shape[1:]] if shape[0] == 1 else [shape]  # one channel: (N, H, W) too
    if any(x.ndim >= len(end) and list(x.shape[-len(end):]) == end for end in endings):
        return x.reshape(-1, size)  # images, or a single image
    each = x.shape[1:] if x.ndim >= 2 else x.shape
    raise ValueError(f"the input's examples have shape {'x'.join(map(str, each))} "
                     f"({int(np.prod(each))} values) but the model takes "
                     f"{'x'.join(map(str, shape))} images: give rows of {size} pixels (.csv "
                     f"or .npy) or an .npy of shape (N, {', '.join(map(str, shape))})")


# -- model, loss, optimizer ------------------------------------------------------------------


def build_model(config: TrainConfig, n_features: int, n_classes: int,
                image_shape: tuple[int, ...] | None = None) -> Module:
    """The configured MLP, or with ``config.model == "cnn"`` the CNN for images of
    ``image_shape`` (C, H, W)."""
    output = "sigmoid" if config.loss == "mse" else None
    if config.model == "cnn":
        if image_shape is None:
            raise ConfigError("--model cnn needs the image shape of the data")
        options = config.cnn_options
        return cnn(image_shape, n_classes, options["channels"], options["kernel_size"],
                   options["pooling"], options["batch_norm"], config.hidden,
                   config.activation, output, config.dropout, config.init)
    return mlp(layer_sizes(config, n_features, n_classes), config.activation,
               output_activation=output, dropout=config.dropout, init_scheme=config.init)


def build_optimizer(config: TrainConfig, model: Module) -> Optimizer:
    """The configured optimizer (``OPTIMIZERS``). Its weight decay (``config.decay``)
    applies to the weights only, as the L1/L2 penalties do (``nn.weight_decay_groups``):
    the biases are not decayed, so ``weight_decay = lambda/n`` gives the updates of
    ``l2 = lambda`` (with any optimizer but AdamW, whose decay is decoupled from the
    gradient)."""
    from chainrule.nn import weight_decay_groups

    groups = weight_decay_groups(model, config.decay)
    return OPTIMIZERS[config.optimizer].build(groups, config.learning_rate,
                                              config.momentum or 0.0)


def targets_for(loss: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices for cross-entropy; one-hot rows for the quadratic cost."""
    if loss == "mse":
        return np.eye(n_classes, dtype=np.float32)[y]
    return y


# -- the run ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What a run produced: the trained model, its history and test metrics, and the files
    written (none on the ranks other than 0 of a distributed run)."""

    model: Module
    history: History
    test: dict[str, float]
    out_dir: Path
    files: dict[str, Path]
    seconds: float


@dataclass
class _Setup:
    """The data, model and optimizer of a run, before training."""

    splits: Splits
    model: Module
    optimizer: Optimizer
    loss_fn: LossFn


# What a run leaves in its output directory (evaluate adds the confusion matrix beside
# the model): one set, replaced whole, never mixed with another run's
RUN_FILES = ("model.safetensors", "metrics.csv", "metrics.json", "curves.png",
             "confusion.png", "confusion.csv")


def _claim_out_dir(out_dir: Path, overwrite: bool, clear: bool) -> None:
    """Refuse an output directory that holds a finished run (its metrics, curves or
    confusion matrix: a run that diverged or was killed leaves at most its model, which
    the new run replaces) unless ``overwrite``; with ``clear`` and ``overwrite``, remove
    that run's files, so that the new run's files never sit beside the old one's, and
    with ``clear`` the temporaries a killed run left."""
    from chainrule._io import remove_stale_temporaries

    present = [name for name in RUN_FILES[1:] if (out_dir / name).exists()]
    if present and not overwrite:
        raise ConfigError(f"--out {out_dir} already holds a run ({', '.join(present)}); "
                          f"give --force to replace it, or another --out")
    for name in RUN_FILES if clear else ():
        if overwrite:
            (out_dir / name).unlink(missing_ok=True)
        remove_stale_temporaries(out_dir / name)


def run_training(config: TrainConfig, progress: bool = True, log: IO[str] | None = None,
                 strategy: Strategy | None = None, overwrite: bool = False) -> RunResult:
    """Train as configured and write model.safetensors, metrics.csv/json and curves.png.

    ``progress`` shows the fit loop's progress (on stderr); ``config.quiet`` turns it off.
    ``log`` receives the run's header lines. With ``config.distributed`` (the
    data-parallel ``strategy``, by default ``DataParallel`` over the MPI launch) every
    rank trains its shard of each global batch (``batch_size``); only rank 0 shows
    progress and writes files. A bad option or unreadable data (``ConfigError``,
    ``ValueError``, ``OSError``, ...) found before training, on any rank, is raised by
    rank 0 alone, before any output; the other ranks raise ``SystemExit(2)`` without
    printing, the status ``chainrule train`` gives such errors. An output directory that
    already holds a run (``RUN_FILES``) is refused unless ``overwrite``, which removes
    that run's files once the setup has succeeded.
    """
    config.validate()
    strategy = resolve_strategy(strategy, config.distributed and strategy is None,
                                required=True)
    threads = config.threads or (1 if config.distributed else None)
    if threads:
        set_num_threads(threads)
    started = time.perf_counter()
    manual_seed(config.seed)
    out_dir = Path(config.out or f"runs/train-{time.strftime('%Y%m%d-%H%M%S')}")
    with strategy.setup_errors():
        if strategy.is_main:
            _claim_out_dir(out_dir, overwrite, clear=False)
        setup = _set_up(config, strategy.world_size)
        if strategy.is_main:
            _claim_out_dir(out_dir, overwrite, clear=True)
    files = {"model": out_dir / "model.safetensors", "metrics_csv": out_dir / "metrics.csv",
             "metrics_json": out_dir / "metrics.json", "curves": out_dir / "curves.png"}
    metadata = {"config": dataclasses.asdict(config), "classes": setup.splits.class_names,
                "preprocessing": setup.splits.preprocessing, "data": config.data,
                "input_shape": setup.splits.input_shape}
    checkpoint = None
    if strategy.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = ModelCheckpoint(files["model"], metadata)
    _describe(config, setup, strategy.world_size, line_printer(log))
    history = _fit(config, setup, checkpoint, progress and not config.quiet, strategy, files)
    splits, n = setup.splits, setup.splits.n_classes
    test = evaluate(setup.model, setup.loss_fn,
                    (splits.x_test, targets_for(config.loss, splits.y_test, n)),
                    classification=True)
    seconds = time.perf_counter() - started
    if not strategy.is_main:
        return RunResult(setup.model, history, test, out_dir, {}, seconds)
    _write(setup.model, history, test, seconds, config, metadata, files)
    return RunResult(setup.model, history, test, out_dir, files, seconds)


def _set_up(config: TrainConfig, ranks: int) -> _Setup:
    """Load and prepare the data, build the model and the optimizer (every check of the
    options against the data and the ranks is here, before any output)."""
    if config.distributed:
        config.check_ranks(ranks)
    splits = prepare_data(config)
    config.check_examples(len(splits.x_train), ranks)
    model = build_model(config, splits.n_features, splits.n_classes, splits.image_shape)
    optimizer = build_optimizer(config, model)
    loss_fn = MSELoss() if config.loss == "mse" else CrossEntropyLoss()
    return _Setup(splits, model, optimizer, loss_fn)


def _describe(config: TrainConfig, setup: _Setup, ranks: int, say: Any) -> None:
    """The header lines: data, model, optimizer, and with --distributed the ranks."""
    splits = setup.splits
    say(f"data {config.data}: {len(splits.x_train)} training, "
        f"{0 if splits.x_val is None else len(splits.x_val)} validation, "
        f"{len(splits.x_test)} test examples, {splits.n_features} features, "
        f"{splits.n_classes} classes")
    say(f"model {_model_line(config, splits)}, "
        f"{setup.model.num_parameters():,} parameters; {config.optimizer} lr "
        f"{config.learning_rate:g}{_optimizer_options(config)}, batch {config.batch_size}, "
        f"{_epochs_text(config)}")
    if config.distributed:
        say(f"distributed: {ranks} rank(s), each with about {config.batch_size / ranks:g} "
            f"examples of every global batch of {config.batch_size} and "
            f"{get_num_threads()} BLAS thread(s)")


def _model_line(config: TrainConfig, splits: Splits) -> str:
    """The layers for the header: "64 -> 256 -> 10 (relu)", or for the CNN each image
    shape between its blocks, "cnn 1x8x8 -> conv 3x3 -> 32x4x4 -> ... -> 256 -> 10 (relu,
    batch norm, max pooling 2x2, dropout 0.2)"."""
    sizes = layer_sizes(config, splits.n_features, splits.n_classes) if \
        splits.image_shape is None else None
    if sizes is not None:
        return f"{' -> '.join(map(str, sizes))} ({config.activation})"
    cnn_options = config.cnn_options
    k, pooling = cnn_options["kernel_size"], cnn_options["pooling"]
    shapes = [splits.image_shape, *cnn_feature_shapes(splits.image_shape,
                                                         cnn_options["channels"], k, pooling)]
    chain = ["x".join(map(str, shapes[0]))]
    for shape in shapes[1:]:
        chain += [f"conv {k}x{k}", "x".join(map(str, shape))]
    dense = [*config.hidden, splits.n_classes]
    notes = [config.activation, *(["batch norm"] if cnn_options["batch_norm"] else []),
             *([f"{pooling} pooling 2x2"] if pooling != "none" else []),
             *([f"dropout {config.dropout:g}"] if config.dropout and config.hidden else [])]
    return f"cnn {' -> '.join(chain)} -> dense {' -> '.join(map(str, dense))} " \
           f"({', '.join(notes)})"


def _write(model: Module, history: History, test: dict[str, float], seconds: float,
           config: TrainConfig, metadata: dict[str, Any], files: dict[str, Path]) -> None:
    """The model (with what it needs to be used: classes, preprocessing, test metrics),
    the metrics and the curves."""
    metadata["test"] = test
    metadata["stopped_reason"] = history.stopped_reason
    # the epoch whose weights the model holds: with --early-stopping, the best one (fit
    # restored it), as the epoch checkpoints record theirs
    epoch = history.best_epoch if config.early_stopping and history.best_epoch else len(history)
    metadata["epoch"], metadata["metrics"] = epoch, history.epochs[epoch - 1]
    save(model, files["model"], metadata)
    history.save_csv(files["metrics_csv"])
    history.save_json(files["metrics_json"], test=test, seconds=seconds)
    history.plot(files["curves"], title=f"chainrule train --data {config.data}", test=test)


def _optimizer_options(config: TrainConfig) -> str:
    """", momentum 0.9, weight decay 0.01" for the header line: the settings in effect."""
    text = f", momentum {config.momentum:g}" if config.momentum else ""
    return text + (f", weight decay {config.decay:g}" if config.decay else "")


def _saved_after_divergence(checkpoint: ModelCheckpoint, path: Path) -> str:
    """What a diverged run leaves behind, for its error message. The file may predate this
    run (--out reused), so only the checkpoint's own record says whether it is this run's."""
    if checkpoint.saved_epoch is not None:
        return f"The model of epoch {checkpoint.saved_epoch}, the last good one, is in {path}"
    nothing = "No epoch completed with finite weights, so nothing was saved"
    if path.exists():
        return f"{nothing}; {path} is from an earlier run and was left as it was"
    return nothing


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, after the finished epochs' metrics were written; the message
    says which epoch the model file holds and where the metrics are."""


class _Recorder(Callback):
    """Keeps a reference to the run's ``TrainingState``, so that an interrupted run can
    still write the metrics of the epochs it finished."""

    state: Any = None

    def on_train_begin(self, state: Any) -> None:
        self.state = state


def _epochs_text(config: TrainConfig) -> str:
    """"up to 60 epochs", or "until converged (at most 1000 epochs, ...)" for the header."""
    if config.runs_until_converged:
        return (f"until converged (at most {CONVERGENCE_MAX_EPOCHS} epochs, the safety cap "
                f"without --epochs)")
    return f"up to {counted(config.max_epochs, 'epoch')}"


def _fit(config: TrainConfig, setup: _Setup, checkpoint: ModelCheckpoint | None,
         progress: bool, strategy: Strategy, files: dict[str, Path]) -> History:
    """fit as configured; a diverged or interrupted run's error says what it left on disk."""
    splits, n = setup.splits, setup.splits.n_classes
    val = None if splits.x_val is None else (splits.x_val,
                                             targets_for(config.loss, splits.y_val, n))
    recorder = _Recorder()
    callbacks = [recorder] + ([] if checkpoint is None else [checkpoint])
    try:
        history = fit(setup.model, setup.loss_fn, setup.optimizer,
                      (splits.x_train, targets_for(config.loss, splits.y_train, n)), val,
                      epochs=config.max_epochs, batch_size=config.batch_size,
                      seed=config.seed, l1=config.l1, l2=config.l2,
                      until_converged=config.until_converged, tol=config.tol,
                      patience=config.patience, early_stopping=config.early_stopping,
                      progress=progress, classification=True, strategy=strategy,
                      callbacks=callbacks)
    except TrainingDiverged as e:
        if checkpoint is None:  # not rank 0, which reports what was saved
            raise
        raise TrainingDiverged(f"{e}. {_saved_after_divergence(checkpoint, checkpoint.path)}"
                               ) from None
    except KeyboardInterrupt:
        if checkpoint is None or recorder.state is None:
            raise
        raise TrainingInterrupted(_save_interrupted(recorder.state, checkpoint, files)
                                  ) from None
    if config.runs_until_converged and len(history) == CONVERGENCE_MAX_EPOCHS \
            and history.stopped_reason.startswith("reached the maximum"):
        history.stopped_reason = (f"not converged within {CONVERGENCE_MAX_EPOCHS} epochs, "
                                  f"the safety cap of --until-converged without --epochs")
    return history


def _save_interrupted(state: Any, checkpoint: ModelCheckpoint, files: dict[str, Path]
                      ) -> str:
    """Write the metrics of the finished epochs of the run (``state``: its TrainingState);
    what to print. Ctrl-C during an epoch leaves the last finished epoch's model file;
    between epochs (often: while that file is being written) the weights are the last
    finished epoch's, so they are saved now."""
    history = state.history
    done = len(history)
    if done and state.epoch == done and checkpoint.saved_epoch != done:
        checkpoint.on_epoch_end(state, history.epochs[-1])
    history.stopped_reason = f"interrupted (Ctrl-C) after {counted(done, 'finished epoch')}"
    where = ("no model was saved" if checkpoint.saved_epoch is None
             else f"{checkpoint.path} holds epoch {checkpoint.saved_epoch}")
    if not done:
        return f"interrupted during epoch 1: {where}"
    history.save_csv(files["metrics_csv"])
    history.save_json(files["metrics_json"], interrupted=True,
                      seconds=sum(e["time"] for e in history.epochs))
    return (f"interrupted after {counted(done, 'finished epoch')}: {where}; their metrics "
            f"are in {files['metrics_csv']} and {files['metrics_json']}")
