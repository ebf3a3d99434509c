"""Datasets: indexable collections of examples, the input of ``DataLoader``.

A dataset maps an index ``i`` in ``range(len(dataset))`` to one example. The
common case, examples stored as rows of arrays (features ``X`` and labels ``y``),
is ``TensorDataset``; the loader slices its arrays a whole batch at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.creation import from_numpy


def as_array(data: Any) -> np.ndarray:
    """The numpy array behind ``data`` (a Tensor's values, detached; arrays as is)."""
    if isinstance(data, Tensor):
        return data.data
    return np.asarray(data)


class Dataset(ABC):
    """An indexable collection of examples: subclass it and define both methods.

    ``__getitem__(i)`` returns one example, usually a tuple such as ``(x, y)``
    of arrays or numbers; ``DataLoader`` stacks the examples of a batch.
    """

    @abstractmethod
    def __len__(self) -> int:
        """The number of examples."""

    @abstractmethod
    def __getitem__(self, index: int) -> Any:
        """The example at ``index`` (0 <= index < len(self))."""


class TensorDataset(Dataset):
    """Examples stored as the rows of one or more arrays: example ``i`` is
    ``tuple(a[i] for a in arrays)``.

    Args:
        *arrays: numpy arrays, Tensors (their values are used, detached from any
            graph) or anything ``np.asarray`` accepts, all with the same length
            along the first axis. Dtypes are kept as given (pass float32 features
            to train at float32 speed).

    Attributes:
        arrays: the stored numpy arrays (shared with the caller, not copied).
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        converted = [as_array(a) for a in arrays]
        for k, a in enumerate(converted):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: array {k} is a scalar; every array needs a "
                                 f"first axis indexing the examples")
        lengths = [len(a) for a in converted]
        if len(set(lengths)) > 1:
            shapes = ", ".join(f"array {k}: {a.shape}" for k, a in enumerate(converted))
            raise ValueError(f"TensorDataset: all arrays must have the same length along the "
                             f"first axis (one row per example); got {shapes}")
        self.arrays: tuple[np.ndarray, ...] = tuple(converted)

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """The stored arrays as Tensors (sharing memory), as PyTorch names them."""
        return tuple(from_numpy(a) for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(from_numpy(np.asarray(a[index])) for a in self.arrays)

    def __repr__(self) -> str:
        fields = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({fields})"


def as_dataset(data: Any) -> Any:
    """(X, y) arrays, given as a pair (tuple or list), as a ``TensorDataset``; anything
    else (a Dataset, a DataLoader, another iterable of batches) as it is. The one place
    that decides what counts as "(X, y) arrays", for ``fit``, ``evaluate`` and the
    data-parallel loaders."""
    if isinstance(data, tuple | list) and len(data) == 2:
        return TensorDataset(*data)
    return data
