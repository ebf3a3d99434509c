"""A complete training run from a configuration: what ``chainrule train`` does.

load data -> standardize (statistics of the training split only) -> build the MLP
-> fit with the chosen optimizer and stopping rules -> evaluate on the test split
-> write model, metrics and curves into the output directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import numbers
import time
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainrule.creation import manual_seed
from chainrule.nn.builders import ACTIVATIONS, INITS, mlp
from chainrule.nn.loss import CrossEntropyLoss, MSELoss
from chainrule.nn.module import Module
from chainrule.serialization import save
from chainrule.threads import get_num_threads, set_num_threads
from chainrule.train.callbacks import ModelCheckpoint
from chainrule.train.fit import TrainingDiverged, evaluate, fit
from chainrule.train.history import History

LOSSES = ("cross-entropy", "mse")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}
DEFAULT_WEIGHT_DECAY = {"adamw": 1e-2}  # PyTorch's defaults: AdamW 0.01, the others 0
WITH_MOMENTUM = ("sgd", "rmsprop")  # the optimizers that take --momentum


class ConfigError(ValueError):
    """A training option has a bad value; the message names the option."""


@dataclass
class TrainConfig:
    """Every option of ``chainrule train`` (the TOML config file uses the same names)."""

    data: str = "digits"
    data_dir: str | None = None
    label_column: str = "label"
    layers: list[int] | None = None
    hidden: list[int] = field(default_factory=lambda: [256])
    activation: str = "relu"
    loss: str = "cross-entropy"
    optimizer: str = "adam"
    lr: float | None = None
    momentum: float | None = None  # sgd and rmsprop only; None: 0
    weight_decay: float | None = None  # None: DEFAULT_WEIGHT_DECAY; on the weights only
    epochs: int = 60
    batch_size: int = 32
    l1: float = 0.0
    l2: float = 1.0
    dropout: float = 0.2
    init: str = "default"
    seed: int = 0
    until_converged: bool = False
    tol: float = 1e-4
    patience: int = 5
    early_stopping: bool = False
    val_fraction: float | None = None
    test_fraction: float = 0.2
    standardize: bool = True
    out: str | None = None
    distributed: bool = False
    threads: int | None = None  # BLAS threads; None: the BLAS default (1 per rank if distributed)
    quiet: bool = False  # no progress output

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str | None = None) -> TrainConfig:
        """A checked configuration from option names (``batch_size`` or ``batch-size``) and
        values, e.g. a TOML file's (``source``, such as "--config run.toml", then starts
        every error message, which names the option as the file does). Every value must
        have its field's type: an int for an int (not 2.5, not "ten"), a number for a
        float, true or false for a bool, a string for a string, and a list of positive
        ints (or a string "64,128" as on the command line) for a list of sizes.
        """
        hints = typing.get_type_hints(cls)
        config = cls()
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in hints:
                where = f"{source}: " if source else ""
                raise ConfigError(f"{where}unknown option {key!r}; known options: "
                                  f"{', '.join(sorted(hints))}")
            label = f"{source}: {key}" if source else _flag(name)
            setattr(config, name, _typed(label, name, value, hints[name]))
        config.validate()
        return config

    def validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        for name, hint in typing.get_type_hints(type(self)).items():
            setattr(self, name, _typed(_flag(name), name, getattr(self, name), hint))

        need(self.activation.replace("-", "_") in ACTIVATIONS,
             f"--activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        need(self.loss in LOSSES, f"--loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        need(self.optimizer in OPTIMIZERS,
             f"--optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        need(self.init in INITS, f"--init {self.init!r} is not one of {', '.join(INITS)}")
        need(self.lr is None or self.lr > 0, f"--lr must be positive, got {self.lr}")
        need(self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}")
        need(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        need(0 <= self.dropout < 1, f"--dropout must be in [0, 1), got {self.dropout}")
        need(self.l1 >= 0 and self.l2 >= 0, "--l1 and --l2 must be >= 0")
        need(self.momentum is None or self.optimizer in WITH_MOMENTUM,
             f"--momentum is an option of {' and '.join(WITH_MOMENTUM)} only; "
             f"--optimizer {self.optimizer} has no momentum setting, so it would be ignored")
        need(self.momentum is None or 0 <= self.momentum < 1,
             f"--momentum must be in [0, 1), got {self.momentum}")
        need(self.weight_decay is None or self.weight_decay >= 0,
             f"--weight-decay must be >= 0, got {self.weight_decay}")
        need(0 < self.test_fraction < 1, f"test_fraction must be in (0, 1), got "
                                         f"{self.test_fraction}")
        need(self.val_fraction is None or 0 < self.val_fraction < 1,
             f"val_fraction must be in (0, 1), got {self.val_fraction}")
        need(self.patience >= 1, f"--patience must be at least 1, got {self.patience}")
        need(self.tol >= 0, f"--tol must be >= 0, got {self.tol}")  # NaN too
        need(self.threads is None or self.threads >= 1,
             f"--threads must be a positive integer, got {self.threads!r}")
        need(self.data in ("digits", "mnist", "fashion-mnist") or self.data.startswith("csv:"),
             f"--data {self.data!r} is not one of digits, mnist, fashion-mnist, csv:PATH")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def decay(self) -> float:
        """The optimizer's weight decay: ``weight_decay``, or its default when not given."""
        if self.weight_decay is not None:
            return self.weight_decay
        return DEFAULT_WEIGHT_DECAY.get(self.optimizer, 0.0)


_POSITIVE = ("epochs", "batch_size", "patience", "threads")  # int options of at least 1
_FILE_ONLY = ("test_fraction", "standardize")  # options with no command-line flag


def _flag(name: str) -> str:
    """How messages name an option that does not come from a file: by its flag."""
    return name if name in _FILE_ONLY else f"--{name.replace('_', '-')}"


def _typed(label: str, name: str, value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` of the option ``name`` (ints taken for floats, a
    "64,128" string for a list of sizes), or a ConfigError naming the option (``label``),
    the value and the type expected."""
    options = typing.get_args(hint)
    if type(None) in options:  # optional: None is the default (TOML has no null)
        if value is None:
            return None
        hint = next(t for t in options if t is not type(None))
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if hint is bool:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        expected = "true or false"
    elif hint is int:
        if is_int:  # the range is validate's to check
            return int(value)
        expected = "a positive integer" if name in _POSITIVE else "an integer"
    elif hint is float:
        if is_int or (isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)):
            return float(value)
        expected = "a number"
    elif hint is str:
        if isinstance(value, str):
            return value
        expected = "a string"
    else:  # list[int]: layer sizes
        sizes = _sizes(value)
        if sizes is not None:
            return sizes
        expected = 'a list of positive integers like [128, 64] (or a string "128,64")'
    raise ConfigError(f"{label} must be {expected}, got {_toml(value)}")


def parse_sizes(text: str) -> list[int]:
    """Layer sizes written as on the command line: "64,128,10"."""
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"expected comma-separated integers like 64,128,10; got "
                         f"{text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"expected positive sizes, got {text!r}")
    return values


def _sizes(value: Any) -> list[int] | None:
    """Layer sizes from a list of positive ints or a "64,128" string; None if neither."""
    if isinstance(value, str):
        try:
            return parse_sizes(value)
        except ValueError:
            return None
    if isinstance(value, list | tuple) and value and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_) and v > 0
            for v in value):
        return [int(v) for v in value]
    return None


def _toml(value: Any) -> str:
    """``value`` written as in a TOML file, for error messages."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return f"[{', '.join(map(_toml, value))}]"
    if isinstance(value, dict):
        return f"{{{', '.join(f'{k} = {_toml(v)}' for k, v in value.items())}}}"
    return str(value)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Options from a TOML file: top-level keys, or the keys of a [train] table."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            values = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config: no such file {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {path}: not valid TOML: {e}") from None
    values = values.get("train", values)
    if not isinstance(values, dict):
        raise ConfigError(f"--config {path}: train must be a table ([train] followed by "
                          f"options), got {_toml(values)}")
    return values


def configure(options: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """The checked configuration of ``chainrule train``: the options of ``config_file`` (TOML),
    overridden by ``options`` (the command line's).

    With ``distributed`` on (in either), every rank of the launch checks the options
    alike, and a bad one is reported once, as ``run_training`` reports setup errors:
    rank 0 raises the ``ConfigError`` (marked ``raised_on_every_rank``; a rank that alone
    failed is named) and the other ranks raise ``SystemExit(2)`` without printing.
    """
    distributed = options.get("distributed") is True
    config, error = None, None
    try:
        values = read_config_file(config_file) if config_file else {}
        distributed = distributed or values.get("distributed") is True
        config = TrainConfig.from_mapping(
            {**values, **options}, source=f"--config {config_file}" if config_file else None)
    except ConfigError as e:
        if not distributed:
            raise
        error = e
    if distributed:  # every rank comes here, failed or not, to compare outcomes
        from chainrule.distributed import init

        with _reported_once(init(required=True)):
            if error is not None:
                raise error
    assert config is not None
    return config


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

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def load_named_dataset(name: str, data_dir: str | None, label_column: str, test_fraction: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(x_train, y_train, x_test, y_test, class names) for a --data value; features are
    float32 rows, labels int64 class indices."""
    from chainrule import data

    if name == "digits":
        x, y = data.load_digits()
        x_train, x_test, y_train, y_test = data.train_test_split(
            x, y, test_size=test_fraction, seed=0, stratify=y)
        names = [str(i) for i in range(10)]
    elif name in ("mnist", "fashion-mnist"):
        loader = data.load_mnist if name == "mnist" else data.load_fashion_mnist
        (x_train, y_train), (x_test, y_test) = loader(data_dir, flatten=True, scale=True)
        names = (list(data.FASHION_MNIST_CLASSES) if name == "fashion-mnist"
                 else [str(i) for i in range(10)])
    else:
        table = data.load_csv(name[4:], label_column)
        x, y, names = table.X, table.y, [str(c) for c in table.classes]
        try:
            x_train, x_test, y_train, y_test = data.train_test_split(
                x, y, test_size=test_fraction, seed=0, stratify=y)
        except ValueError as e:
            raise ConfigError(f"--data {name}: {len(x)} rows are too few to hold out "
                              f"{test_fraction:.0%} as a test split with each of the "
                              f"{len(names)} classes on both sides ({e}); add rows") from None
    return (np.asarray(x_train, np.float32).reshape(len(x_train), -1), np.asarray(y_train),
            np.asarray(x_test, np.float32).reshape(len(x_test), -1), np.asarray(y_test), names)


def prepare_data(config: TrainConfig) -> Splits:
    from chainrule import data

    x_train, y_train, x_test, y_test, names = load_named_dataset(
        config.data, config.data_dir, config.label_column, config.test_fraction)
    val_fraction = config.val_fraction
    if val_fraction is None and config.early_stopping:
        val_fraction = 0.1
    x_val = y_val = None
    if val_fraction:
        x_train, x_val, y_train, y_val = data.train_test_split(
            x_train, y_train, test_size=val_fraction, seed=config.seed, stratify=y_train)
    preprocessing: dict[str, Any] = {}
    if config.standardize:
        scaler = data.Standardizer().fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
        if x_val is not None:
            x_val = scaler.transform(x_val)
        preprocessing = {"standardize": {"mean": scaler.mean_.tolist(),
                                         "std": scaler.scale_.tolist()}}
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, names, preprocessing)


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


# -- model, loss, optimizer ------------------------------------------------------------------


def layer_sizes(config: TrainConfig, n_features: int, n_classes: int) -> list[int]:
    """The full list of layer sizes, checked against the data."""
    if config.layers:
        sizes = [int(s) for s in config.layers]
        if len(sizes) < 2:
            raise ConfigError(f"--layers needs at least an input and an output size, got "
                              f"{sizes}")
        if sizes[0] != n_features:
            raise ConfigError(f"--layers {','.join(map(str, sizes))}: the first layer must take "
                              f"{n_features} inputs, the number of features of the data "
                              f"(got {sizes[0]})")
        if sizes[-1] != n_classes:
            raise ConfigError(f"--layers {','.join(map(str, sizes))}: the last layer must have "
                              f"{n_classes} outputs, one per class (got {sizes[-1]})")
        return sizes
    return [n_features, *[int(h) for h in config.hidden], n_classes]


def build_model(config: TrainConfig, n_features: int, n_classes: int) -> Module:
    return mlp(layer_sizes(config, n_features, n_classes), config.activation,
               output_activation="sigmoid" if config.loss == "mse" else None,
               dropout=config.dropout, init_scheme=config.init)


def build_optimizer(config: TrainConfig, model: Module) -> Any:
    """The configured optimizer. Its weight decay (``config.decay``) applies to the weights
    only, as the L1/L2 penalties do (``nn.weight_decay_groups``): the biases are not
    decayed, so ``weight_decay = lambda/n`` gives the updates of ``l2 = lambda`` (with any
    optimizer but AdamW, whose decay is decoupled from the gradient)."""
    from chainrule import optim
    from chainrule.nn import weight_decay_groups

    lr, momentum = config.learning_rate, config.momentum or 0.0
    groups = weight_decay_groups(model, config.decay)
    if config.optimizer == "sgd":
        return optim.SGD(groups, lr=lr, momentum=momentum)
    if config.optimizer == "adam":
        return optim.Adam(groups, lr=lr)
    if config.optimizer == "adamw":
        return optim.AdamW(groups, lr=lr)
    if config.optimizer == "rmsprop":
        return optim.RMSprop(groups, lr=lr, momentum=momentum)
    return optim.Adagrad(groups, lr=lr)


def targets_for(loss: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices for cross-entropy; one-hot rows for the quadratic cost."""
    if loss == "mse":
        return np.eye(n_classes, dtype=np.float32)[y]
    return y


# -- the run ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    model: Module
    history: History
    test: dict[str, float]
    out_dir: Path
    files: dict[str, Path]
    seconds: float


def run_training(config: TrainConfig, progress: bool = True, log: IO[str] | None = None
                 ) -> RunResult:
    """Train as configured and write model.safetensors, metrics.csv/json and curves.png.

    ``progress`` shows the fit loop's progress (on stderr); ``config.quiet`` turns it off.
    With ``config.distributed`` every rank of the MPI launch trains its shard of each
    global batch (``batch_size``); only rank 0 prints and writes files. A bad option or
    unreadable data (``ConfigError``, ``ValueError``, ``OSError``, ...) found before
    training, on any rank, is raised by rank 0 alone, before any output; the other
    ranks raise ``SystemExit(2)`` without printing, the status ``chainrule train``
    gives such errors.
    """
    def say(text: str) -> None:
        if log is not None:
            log.write(text + "\n")
            log.flush()

    config.validate()
    progress = progress and not config.quiet
    main, ranks, context = True, 1, None
    if config.distributed:
        from chainrule.distributed import init

        context = init(required=True)
        main, ranks = context.is_main, context.world_size
        if not main:
            progress, log = False, None
    threads = config.threads or (1 if config.distributed else None)
    if threads:
        set_num_threads(threads)
    started = time.perf_counter()
    manual_seed(config.seed)
    with _reported_once(context):
        if config.distributed:
            _check_distributed(config, ranks)
        splits = prepare_data(config)
        if config.distributed and len(splits.x_train) < ranks:
            raise ConfigError(f"--distributed: the {len(splits.x_train)} training examples "
                              f"are fewer than the {ranks} ranks; every rank needs at least "
                              f"one example per step")
        model = build_model(config, splits.n_features, splits.n_classes)
        optimizer = build_optimizer(config, model)
    loss_fn = MSELoss() if config.loss == "mse" else CrossEntropyLoss()
    out_dir = Path(config.out or f"runs/train-{time.strftime('%Y%m%d-%H%M%S')}")
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    files = {"model": out_dir / "model.safetensors", "metrics_csv": out_dir / "metrics.csv",
             "metrics_json": out_dir / "metrics.json", "curves": out_dir / "curves.png"}
    metadata = {"config": dataclasses.asdict(config), "classes": splits.class_names,
                "preprocessing": splits.preprocessing, "data": config.data}
    say(f"data {config.data}: {len(splits.x_train)} training, "
        f"{0 if splits.x_val is None else len(splits.x_val)} validation, "
        f"{len(splits.x_test)} test examples, {splits.n_features} features, "
        f"{splits.n_classes} classes")
    say(f"model {' -> '.join(map(str, layer_sizes(config, splits.n_features, splits.n_classes)))}"
        f" ({config.activation}), {model.num_parameters():,} parameters; {config.optimizer} lr "
        f"{config.learning_rate:g}{_optimizer_options(config)}, batch {config.batch_size}, "
        f"up to {config.epochs} epochs")
    if config.distributed:
        say(f"distributed: {ranks} rank(s), each with about {config.batch_size / ranks:g} "
            f"examples of every global batch of {config.batch_size} and "
            f"{get_num_threads()} BLAS thread(s)")
    n = splits.n_classes
    val = None if splits.x_val is None else (splits.x_val, targets_for(config.loss,
                                                                       splits.y_val, n))
    checkpoint = ModelCheckpoint(files["model"], metadata) if main else None
    try:
        history = _fit(config, splits, model, loss_fn, optimizer, val, checkpoint, progress)
    except TrainingDiverged as e:
        if checkpoint is None:  # not rank 0, which reports what was saved
            raise
        raise TrainingDiverged(f"{e}. {_saved_after_divergence(checkpoint, files['model'])}"
                               ) from None
    test = evaluate(model, loss_fn, (splits.x_test, targets_for(config.loss, splits.y_test, n)),
                    classification=True)
    seconds = time.perf_counter() - started
    metadata["test"] = test
    metadata["stopped_reason"] = history.stopped_reason
    # the epoch whose weights the model holds: with --early-stopping, the best one (fit
    # restored it), as the epoch checkpoints record theirs
    epoch = history.best_epoch if config.early_stopping and history.best_epoch else len(history)
    metadata["epoch"], metadata["metrics"] = epoch, history.epochs[epoch - 1]
    if not main:
        return RunResult(model, history, test, out_dir, {}, seconds)
    save(model, files["model"], metadata)
    history.save_csv(files["metrics_csv"])
    history.save_json(files["metrics_json"], test=test, seconds=seconds)
    history.plot(files["curves"], title=f"chainrule train --data {config.data}")
    return RunResult(model, history, test, out_dir, files, seconds)


def _optimizer_options(config: TrainConfig) -> str:
    """", momentum 0.9, weight decay 0.01" for the header line: the settings in effect."""
    text = f", momentum {config.momentum:g}" if config.momentum else ""
    return text + (f", weight decay {config.decay:g}" if config.decay else "")


def _reported_once(context: Any) -> Any:
    """Errors of the run's setup (options, data), reported by rank 0 alone with status 2
    (see ``run_training``); a no-op without --distributed."""
    if context is None:
        return contextlib.nullcontext()
    from chainrule.distributed.training import reported_once

    return reported_once(context, (ValueError, TypeError, KeyError, OSError), exit_code=2)


def _check_distributed(config: TrainConfig, ranks: int) -> None:
    """Options that the number of ranks can make wrong, checked before any output."""
    if config.batch_size < ranks:
        raise ConfigError(f"--batch-size {config.batch_size} is smaller than the {ranks} "
                          f"ranks: with --distributed it is the global batch, split over "
                          f"the ranks, and every rank needs at least one example per step; "
                          f"use --batch-size {ranks} or more")


def _saved_after_divergence(checkpoint: ModelCheckpoint, path: Path) -> str:
    """What a diverged run leaves behind, for its error message. The file may predate this
    run (--out reused), so only the checkpoint's own record says whether it is this run's."""
    if checkpoint.saved_epoch is not None:
        return f"The model of epoch {checkpoint.saved_epoch}, the last good one, is in {path}"
    nothing = "No epoch completed with finite weights, so nothing was saved"
    if path.exists():
        return f"{nothing}; {path} is from an earlier run and was left as it was"
    return nothing


def _fit(config: TrainConfig, splits: Splits, model: Module, loss_fn: Any, optimizer: Any,
         val: tuple | None, checkpoint: ModelCheckpoint | None, progress: bool) -> History:
    n = splits.n_classes
    return fit(model, loss_fn, optimizer,
               (splits.x_train, targets_for(config.loss, splits.y_train, n)), val,
               epochs=config.epochs, batch_size=config.batch_size, seed=config.seed,
               l1=config.l1, l2=config.l2, until_converged=config.until_converged,
               tol=config.tol, patience=config.patience,
               early_stopping=config.early_stopping, progress=progress,
               classification=True, distributed=config.distributed,
               callbacks=[] if checkpoint is None else [checkpoint])
