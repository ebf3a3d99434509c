"""Preparing arrays for training: train/test splits, one-hot targets, standardization."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.creation import default_generator, from_numpy
from chainrule.data.dataset import as_array

Seed = int | np.random.Generator | None


def _generator(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return default_generator() if seed is None else np.random.default_rng(seed)


def _take(data: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of ``data``, as a Tensor if it was one, else as a numpy array."""
    if isinstance(data, Tensor):
        return from_numpy(data.data[index])
    return np.asarray(data)[index]


def _test_count(test_size: float | int, n: int) -> int:
    if isinstance(test_size, bool):
        raise TypeError("train_test_split: test_size must be a fraction or a count, not a bool")
    if isinstance(test_size, int | np.integer):
        if not 0 < test_size < n:
            raise ValueError(f"train_test_split: test_size={test_size} must be between 1 and "
                             f"{n - 1} for {n} examples")
        return int(test_size)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"train_test_split: a fractional test_size must be in (0, 1), got "
                         f"{test_size}")
    # Rounded up, as scikit-learn does, so a small test fraction still gets an example.
    n_test = math.ceil(test_size * n)
    if n_test >= n:
        raise ValueError(f"train_test_split: test_size={test_size} of {n} examples leaves no "
                         f"training examples")
    return n_test


def _stratified_test_indices(labels: np.ndarray, n_test: int,
                             rng: np.random.Generator) -> np.ndarray:
    """Test indices holding each class in (as nearly as whole numbers allow) its overall share."""
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n = len(labels)
    if counts.min() < 2:
        rare = classes[counts < 2]
        raise ValueError(f"train_test_split: stratify needs at least 2 examples of every class "
                         f"(one for each side); class(es) {rare.tolist()} have 1")
    if not len(classes) <= n_test <= n - len(classes):
        raise ValueError(f"train_test_split: with stratify, both sides need at least one example "
                         f"of each of the {len(classes)} classes, but the test side would have "
                         f"{n_test} and the training side {n - n_test} examples")
    # Largest-remainder apportionment: floor every class's exact share, then hand the leftover
    # slots to the largest fractional parts (random among ties) so the total is exactly n_test.
    exact = counts * (n_test / n)
    per_class = np.floor(exact).astype(np.int64)
    leftover = n_test - int(per_class.sum())
    if leftover:
        fractions = exact - per_class + rng.random(len(classes)) * 1e-9
        per_class[np.argsort(-fractions)[:leftover]] += 1
    members = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    parts = [rng.permutation(members[s:s + c])[:k]
             for s, c, k in zip(starts, counts, per_class, strict=True)]
    return np.concatenate(parts)


def train_test_split(*arrays: Any, test_size: float | int = 0.25, seed: Seed = None,
                     stratify: Any = None) -> list[Any]:
    """Split arrays into random train and test parts, as scikit-learn's function does.

    Args:
        *arrays: arrays (or Tensors, or lists) with the same first-axis length.
        test_size: the fraction of examples for the test part (rounded up), or
            their number if an int.
        seed: an int or a ``numpy.random.Generator`` for a reproducible split;
            None draws from chainrule's default generator.
        stratify: class labels (usually ``y``); each class then appears in both
            parts in the proportion it has overall.

    Returns:
        A list ``[a_train, a_test, b_train, b_test, ...]``, two entries per input,
        in input order. Tensors give Tensors, everything else numpy arrays. Both
        parts come in random order.
    """
    if not arrays:
        raise ValueError("train_test_split: at least one array is required")
    lengths = [len(as_array(a)) for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(f"train_test_split: the arrays have different lengths {lengths}; "
                         f"they must have one row per example")
    n = lengths[0]
    if n < 2:
        raise ValueError(f"train_test_split: need at least 2 examples to split, got {n}")
    n_test = _test_count(test_size, n)
    rng = _generator(seed)
    if stratify is None:
        order = rng.permutation(n)
        test, train = order[:n_test], order[n_test:]
    else:
        labels = as_array(stratify)
        if labels.shape[:1] != (n,):
            raise ValueError(f"train_test_split: stratify has shape {labels.shape}, expected "
                             f"({n},) labels, one per example")
        test = rng.permutation(_stratified_test_indices(labels, n_test, rng))
        is_test = np.zeros(n, dtype=bool)
        is_test[test] = True
        train = rng.permutation(np.flatnonzero(~is_test))
    result: list[Any] = []
    for a in arrays:
        result += [_take(a, train), _take(a, test)]
    return result


def one_hot(labels: Any, num_classes: int | None = None) -> Any:
    """One-hot rows: ``out[i, labels[i]] = 1``, zeros elsewhere, float32.

    Args:
        labels: integer class indices of any shape (integral floats are accepted).
        num_classes: the number of columns; defaults to ``max(labels) + 1``.

    Returns:
        An array of shape ``labels.shape + (num_classes,)`` (a Tensor if
        ``labels`` was a Tensor), float32 so it can serve directly as a target.
    """
    values = as_array(labels)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise ValueError("one_hot: labels must be whole numbers (class indices)")
    elif values.dtype.kind not in "iub":
        raise TypeError(f"one_hot: labels must be integer class indices, got dtype "
                        f"{values.dtype}")
    index = values.astype(np.int64)
    if index.size and index.min() < 0:
        raise ValueError(f"one_hot: labels must be >= 0, found {index.min()}")
    top = int(index.max()) + 1 if index.size else 0
    if num_classes is None:
        num_classes = top
    elif top > num_classes:
        raise ValueError(f"one_hot: label {top - 1} does not fit num_classes={num_classes} "
                         f"(labels must be < num_classes)")
    out = np.zeros(index.shape + (int(num_classes),), dtype=np.float32)
    np.put_along_axis(out, index[..., None], np.float32(1), axis=-1)
    return from_numpy(out) if isinstance(labels, Tensor) else out


class Standardizer:
    """Standardize features: ``z = (x - mean) / std``, with statistics of the training data.

    Fit on the training split only, then transform every split with the same
    statistics, so nothing about the test data leaks into training. Statistics
    are per feature, over the first (example) axis; a feature that is constant
    in the training data (std 0) is only centred (its scale is 1), never divided
    by zero.

    Attributes (after ``fit``):
        mean_: per-feature mean.
        std_: per-feature standard deviation (population, ddof=0); 0 for constant features.
        scale_: what ``transform`` divides by: ``std_`` with 0 replaced by 1.

    The statistics are computed in float64 and stored in the fitted data's float
    dtype (float32 unless it was float64), and ``transform`` returns that dtype,
    so float32 data stays float32.
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, x: Any) -> Standardizer:
        """Compute the per-feature mean and std of ``x``; returns self."""
        values = as_array(x)
        if values.ndim == 0 or len(values) == 0:
            raise ValueError(f"Standardizer.fit: need at least one example, got shape "
                             f"{values.shape}")
        dtype = np.float64 if values.dtype == np.float64 else np.float32
        mean = values.mean(axis=0, dtype=np.float64)
        std = values.std(axis=0, dtype=np.float64)
        # A constant column's computed std can be a rounding-error 1e-9 rather than 0; test
        # constancy exactly so such a column is centred, not blown up by a tiny divisor.
        constant = np.all(values == values[:1], axis=0)
        std = np.where(constant, 0.0, std)
        self.mean_ = mean.astype(dtype)
        self.std_ = std.astype(dtype)
        self.scale_ = np.where(constant, 1.0, std).astype(dtype)
        return self

    def _check_fitted(self, what: str) -> None:
        if self.mean_ is None:
            raise RuntimeError(f"Standardizer.{what}: call fit(x_train) first")

    def _features(self, values: np.ndarray, what: str) -> None:
        if values.shape[1:] != self.mean_.shape:
            raise ValueError(f"Standardizer.{what}: expected examples of shape "
                             f"{self.mean_.shape} (as in the fitted data), got "
                             f"{values.shape[1:]}")

    def transform(self, x: Any) -> Any:
        """``(x - mean_) / scale_``; a Tensor for a Tensor, else a numpy array."""
        self._check_fitted("transform")
        values = as_array(x)
        self._features(values, "transform")
        out = (values.astype(self.mean_.dtype, copy=False) - self.mean_) / self.scale_
        return from_numpy(out) if isinstance(x, Tensor) else out

    def fit_transform(self, x: Any) -> Any:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z: Any) -> Any:
        """Undo ``transform``: ``z * scale_ + mean_``."""
        self._check_fitted("inverse_transform")
        values = as_array(z)
        self._features(values, "inverse_transform")
        out = values.astype(self.mean_.dtype, copy=False) * self.scale_ + self.mean_
        return from_numpy(out) if isinstance(z, Tensor) else out

    def __repr__(self) -> str:
        state = "unfitted" if self.mean_ is None else f"features={self.mean_.shape}"
        return f"Standardizer({state})"


def standardize(x_train: Any, *others: Any) -> Any:
    """Standardize ``x_train`` with its own statistics and ``others`` with the same ones.

    The function form of ``Standardizer``: ``standardize(x)`` returns the
    standardized ``x``; ``standardize(x_train, x_test)`` returns the tuple
    ``(z_train, z_test)``, the test data scaled by the training statistics.
    """
    scaler = Standardizer().fit(x_train)
    if not others:
        return scaler.transform(x_train)
    return (scaler.transform(x_train), *(scaler.transform(o) for o in others))
