"""The options of ``chainrule train``, checked: ``TrainConfig`` (the TOML config file uses
the same names), the optimizer table, and the checks that name an option in their message.
"""

from __future__ import annotations

import json
import numbers
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import optim
from chainrule._suggest import did_you_mean
from chainrule.data.registry import check_dataset_name
from chainrule.nn.builders import ACTIVATIONS, INITS, POOLINGS, cnn_feature_shapes
from chainrule.optim.optimizer import Optimizer

LOSSES = ("cross-entropy", "mse")
# Sizes a command line may ask for: checked before anything is allocated. A layer wider
# than this, or an MLP with more weights than this (4 bytes each, and the optimizer
# keeps up to two more copies), is a typo, not a model to train on a CPU.
MAX_LAYER_SIZE = 2**20
MAX_PARAMETERS = 2**28
DEFAULT_EPOCHS = 60
# --until-converged without --epochs runs until the loss converges, but never past this:
# a run whose loss keeps creeping down by more than --tol must still end
CONVERGENCE_MAX_EPOCHS = 1000
MODELS = ("mlp", "cnn")
# the convolutional network's options (--model cnn only) and their defaults
CNN_DEFAULTS: dict[str, Any] = {"channels": [32, 64], "kernel_size": 3, "pooling": "max",
                                "batch_norm": True, "image_shape": None}


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer ``chainrule train`` can use, with its defaults (PyTorch's for the
    weight decay: AdamW 0.01, the others 0)."""

    cls: type[Optimizer]
    lr: float  # the learning rate when --lr is not given
    momentum: bool = False  # whether it takes --momentum
    weight_decay: float = 0.0  # the weight decay when --weight-decay is not given

    def build(self, params: Any, lr: float, momentum: float) -> Optimizer:
        options = {"lr": lr, **({"momentum": momentum} if self.momentum else {})}
        return self.cls(params, **options)


OPTIMIZERS = {
    "sgd": OptimizerSpec(optim.SGD, lr=0.1, momentum=True),
    "adam": OptimizerSpec(optim.Adam, lr=1e-3),
    "adamw": OptimizerSpec(optim.AdamW, lr=1e-3, weight_decay=1e-2),
    "rmsprop": OptimizerSpec(optim.RMSprop, lr=1e-3, momentum=True),
    "adagrad": OptimizerSpec(optim.Adagrad, lr=1e-2),
}
WITH_MOMENTUM = tuple(name for name, spec in OPTIMIZERS.items() if spec.momentum)


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
    epochs: int | None = None  # None: DEFAULT_EPOCHS, or CONVERGENCE_MAX_EPOCHS if until_converged
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
    # the model: "mlp" (the layers above) or "cnn" (convolution blocks, then the --hidden
    # dense layers); the options below are the CNN's, None meaning CNN_DEFAULTS' value
    model: str = "mlp"
    channels: list[int] | None = None  # output channels of each convolution block
    kernel_size: int | None = None  # square kernels, "same" padding
    pooling: str | None = None  # max, avg (2x2, stride 2) or none, after each convolution
    batch_norm: bool | None = None  # BatchNorm2d after each convolution
    image_shape: list[int] | None = None  # C,H,W of CSV rows of pixels (named data: known)

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
        for option, sizes in (("--hidden", self.hidden), ("--layers", self.layers or [])):
            need(max(sizes, default=0) <= MAX_LAYER_SIZE,
                 f"{option} {','.join(map(str, sizes))}: a layer of {max(sizes, default=0)} "
                 f"units is over the limit of {MAX_LAYER_SIZE} (MAX_LAYER_SIZE)")

        need(self.activation.replace("-", "_") in ACTIVATIONS,
             _not_one_of("--activation", self.activation, ACTIVATIONS))
        need(self.loss in LOSSES, _not_one_of("--loss", self.loss, LOSSES))
        need(self.optimizer in OPTIMIZERS, _not_one_of("--optimizer", self.optimizer,
                                                       OPTIMIZERS))
        need(self.init in INITS, _not_one_of("--init", self.init, INITS))
        need(self.lr is None or self.lr > 0, f"--lr must be positive, got {self.lr}")
        need(self.epochs is None or self.epochs >= 1,
             f"--epochs must be at least 1, got {self.epochs}")
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
        need(not (self.distributed and self.data == "csv:-"),
             "--data csv:- (standard input) reaches one process only; with --distributed "
             "give the path of a CSV file")
        need(self.threads is None or self.threads >= 1,
             f"--threads must be a positive integer, got {self.threads!r}")
        for name in typing.get_type_hints(type(self)):  # inf passes the range checks above
            value = getattr(self, name)
            need(not isinstance(value, float) or bool(np.isfinite(value)),
                 f"{_flag(name)} must be a finite number, got {value}")
        try:
            check_dataset_name(self.data)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.check_model()

    def check_model(self) -> None:
        """--model and the options that belong to one model only."""
        given = [name for name in CNN_DEFAULTS if getattr(self, name) is not None]
        if self.model not in MODELS:
            raise ConfigError(f"--model {self.model!r} is not one of {', '.join(MODELS)}")
        if self.model == "mlp":
            if given:
                raise ConfigError(f"{_flag(given[0])} is an option of --model cnn only; add "
                                  f"--model cnn, or leave it out for the MLP")
            return
        if self.layers:
            raise ConfigError("--layers lists an MLP's sizes; with --model cnn give the dense "
                              "layers after the convolutions with --hidden")
        cnn = self.cnn_options
        if self.distributed and cnn["batch_norm"]:
            # the parameters stay in sync (their gradients are averaged), the running
            # statistics would not: each rank's come from its own shard of the batch
            raise ConfigError("--distributed with batch normalization: each rank would keep "
                              "the batch-norm statistics of its own shard (chainrule has no "
                              "synchronized batch norm); add --no-batch-norm")
        if cnn["kernel_size"] < 1:
            raise ConfigError(f"--kernel-size must be at least 1, got {cnn['kernel_size']}")
        if cnn["pooling"] not in POOLINGS:
            raise ConfigError(f"--pooling {cnn['pooling']!r} is not one of {', '.join(POOLINGS)}")
        shape = self.image_shape
        if shape is not None and len(shape) != 3:
            raise ConfigError(f"--image-shape must be three sizes C,H,W (channels, height, "
                              f"width), e.g. 1,28,28; got {','.join(map(str, shape))}")
        if shape is None and self.data.startswith("csv:"):
            raise ConfigError(f"--model cnn needs images, and --data {self.data} has no known "
                              f"image shape; if its columns are pixels, give --image-shape "
                              f"C,H,W (e.g. 1,28,28 for 784 columns)")

    @property
    def cnn_options(self) -> dict[str, Any]:
        """The CNN's options, CNN_DEFAULTS filling those not given."""
        return {name: default if getattr(self, name) is None else getattr(self, name)
                for name, default in CNN_DEFAULTS.items()}

    def check_image(self, image_shape: tuple[int, ...], n_features: int) -> None:
        """The CNN's layers against the images: --image-shape against the row length, and
        every kernel against the input of its convolution (after the poolings before)."""
        if int(np.prod(image_shape)) != n_features:
            raise ConfigError(f"--image-shape {','.join(map(str, image_shape))} has "
                              f"{int(np.prod(image_shape))} values, but the rows of --data "
                              f"{self.data} have {n_features} features")
        cnn = self.cnn_options
        try:
            cnn_feature_shapes(image_shape, cnn["channels"], cnn["kernel_size"], cnn["pooling"])
        except ValueError as e:
            raise ConfigError(f"--kernel-size {cnn['kernel_size']} --channels "
                              f"{','.join(map(str, cnn['channels']))} on the "
                              f"{'x'.join(map(str, image_shape))} images of --data "
                              f"{self.data}: {e}; use a smaller --kernel-size, fewer "
                              f"--channels or --pooling none") from None

    def check_ranks(self, ranks: int) -> None:
        """Options that the number of ranks can make wrong, checked before any output."""
        if self.batch_size < ranks:
            raise ConfigError(f"--batch-size {self.batch_size} is smaller than the {ranks} "
                              f"ranks: with --distributed it is the global batch, split over "
                              f"the ranks, and every rank needs at least one example per "
                              f"step; use --batch-size {ranks} or more")

    def check_examples(self, n_train: int, ranks: int) -> None:
        """With --distributed, every rank needs a training example per step."""
        if self.distributed and n_train < ranks:
            raise ConfigError(f"--distributed: the {n_train} training examples are fewer "
                              f"than the {ranks} ranks; every rank needs at least one "
                              f"example per step")

    @property
    def max_epochs(self) -> int:
        """The most epochs the run takes: ``epochs``, else 60, or with ``until_converged``
        the safety cap ``CONVERGENCE_MAX_EPOCHS`` (run until converged)."""
        if self.epochs is not None:
            return self.epochs
        return CONVERGENCE_MAX_EPOCHS if self.until_converged else DEFAULT_EPOCHS

    @property
    def runs_until_converged(self) -> bool:
        """Whether the run ends only when the loss converges (or at the safety cap)."""
        return self.until_converged and self.epochs is None

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else OPTIMIZERS[self.optimizer].lr

    @property
    def decay(self) -> float:
        """The optimizer's weight decay: ``weight_decay``, or its default when not given."""
        if self.weight_decay is not None:
            return self.weight_decay
        return OPTIMIZERS[self.optimizer].weight_decay


# int options of at least 1
_POSITIVE = ("epochs", "batch_size", "patience", "threads", "kernel_size")
_FILE_ONLY = ("test_fraction", "standardize")  # options with no command-line flag


def _not_one_of(option: str, value: str, choices: typing.Iterable[str]) -> str:
    """The message "--optimizer 'adan' is not one of sgd, adam, ...; did you mean adam?"."""
    choices = list(choices)
    return (f"{option} {value!r} is not one of {', '.join(choices)}"
            f"{did_you_mean(value, choices)}")


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
    else:
        sizes = [n_features, *[int(h) for h in config.hidden], n_classes]
    weights = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if weights > MAX_PARAMETERS:
        raise ConfigError(f"the network {' -> '.join(map(str, sizes))} would have {weights} "
                          f"parameters, over the limit of {MAX_PARAMETERS} (MAX_PARAMETERS)")
    return sizes
