"""The datasets a command can name: ``digits``, ``mnist``, ``fashion-mnist`` or
``csv:PATH``, each loaded as train and test splits of float32 rows and int64 labels.

Adding a dataset is one loader in ``DATASETS`` (and, for images, its shape in
``IMAGE_SHAPES``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

CSV_PREFIX = "csv:"


class NamedDataset(NamedTuple):
    """A named dataset's train and test splits (features flattened to float32 rows)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]


def _digits(data_dir: str | None, test_fraction: float) -> NamedDataset:
    from chainrule.data.digits import load_digits
    from chainrule.data.preprocessing import train_test_split

    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, seed=0,
                                                        stratify=y)
    return NamedDataset(x_train, y_train, x_test, y_test, [str(i) for i in range(10)])


def _mnist(data_dir: str | None, test_fraction: float) -> NamedDataset:
    from chainrule.data.mnist import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir, flatten=True, scale=True)
    return NamedDataset(x_train, y_train, x_test, y_test, [str(i) for i in range(10)])


def _fashion_mnist(data_dir: str | None, test_fraction: float) -> NamedDataset:
    from chainrule.data.mnist import FASHION_MNIST_CLASSES, load_fashion_mnist

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(data_dir, flatten=True,
                                                              scale=True)
    return NamedDataset(x_train, y_train, x_test, y_test, list(FASHION_MNIST_CLASSES))


# name -> loader(data_dir, test_fraction); MNIST and Fashion-MNIST come split already
DATASETS: dict[str, Callable[[str | None, float], NamedDataset]] = {
    "digits": _digits, "mnist": _mnist, "fashion-mnist": _fashion_mnist,
}


# the (channels, height, width) of the named image datasets, whose loaders give each image
# as one flat row in row-major order: a row reshaped to this shape is the image
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28),
}


def check_dataset_name(name: str, option: str = "--data") -> None:
    """Refuse a name that is neither in ``DATASETS`` nor ``csv:PATH`` (``option``: how
    the message names where it came from), suggesting the close match: ``csv:NAME``
    for a file (or a .csv name), else the nearest dataset name."""
    if name in DATASETS or name.startswith(CSV_PREFIX):
        return
    from pathlib import Path

    from chainrule._suggest import did_you_mean

    if Path(name).is_file() or name.lower().endswith((".csv", ".csv.gz")):
        hint = f"; did you mean {option} {CSV_PREFIX}{name}?"
    else:
        hint = did_you_mean(name, DATASETS, f"{option} {{}}")
    raise ValueError(f"{option} {name!r} is not one of {', '.join(DATASETS)}, csv:PATH{hint}")


def _csv(name: str, label_column: str, test_fraction: float, option: str) -> NamedDataset:
    from chainrule.data.preprocessing import train_test_split
    from chainrule.data.tabular import load_csv

    table = load_csv(name[len(CSV_PREFIX):], label_column)
    x, y, names = table.X, table.y, [str(c) for c in table.classes]
    try:
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction,
                                                            seed=0, stratify=y)
    except ValueError as e:
        raise ValueError(f"{option} {name}: {len(x)} rows are too few to hold out "
                         f"{test_fraction:.0%} as a test split with each of the "
                         f"{len(names)} classes on both sides ({e}); add rows") from None
    return NamedDataset(x_train, y_train, x_test, y_test, names)


def load_dataset(name: str, data_dir: str | None = None, label_column: str = "label",
                 test_fraction: float = 0.2, option: str = "--data") -> NamedDataset:
    """The train and test splits of the dataset ``name``: features float32 rows, labels
    int64 class indices. The digits and CSV files are split (stratified, seed 0) with
    ``test_fraction`` held out; ``data_dir`` is where the MNIST files are."""
    check_dataset_name(name, option)
    if name in DATASETS:
        split = DATASETS[name](data_dir, test_fraction)
    else:
        split = _csv(name, label_column, test_fraction, option)
    x_train, y_train, x_test, y_test, names = split
    return NamedDataset(np.asarray(x_train, np.float32).reshape(len(x_train), -1),
                        np.asarray(y_train),
                        np.asarray(x_test, np.float32).reshape(len(x_test), -1),
                        np.asarray(y_test), names)


def _listing(names: list[str], most: int = 12) -> str:
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])}, ... ({len(names)} in all)"


def match_classes(y: np.ndarray, names: list[str], classes: list[str], where: str
                  ) -> np.ndarray:
    """Labels ``y`` (indices into the data's class ``names``) as indices into a model's
    ``classes``, matched by name: a file whose labels merely count the same would
    otherwise be scored against the wrong classes (labels -1,1..9 silently taken for
    0..9). A label the model does not know is a ValueError starting with ``where``."""
    index = {name: k for k, name in enumerate(classes)}
    present = [names[k] for k in np.unique(y)]
    unknown = [name for name in present if name not in index]
    if unknown:
        too_many = (f"the data has {len(present)} classes but the model was trained on "
                    f"{len(classes)}; " if len(present) > len(classes) else "")
        if len(unknown) == 1:
            which = f"label {unknown[0]} is"
        else:
            which = f"labels {_listing(unknown)} are"
        raise ValueError(f"{where}: {too_many}{which} not among the model's classes "
                         f"({_listing(classes)})")
    # -1 for the data's classes that no row has (integer labels list every index up to
    # the largest); y never points at them
    to_model = np.asarray([index.get(name, -1) for name in names], np.int64)
    return to_model[y]
