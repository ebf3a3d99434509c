"""``DataLoader``: iterate over a dataset in (optionally shuffled) mini-batches of Tensors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.creation import default_generator, from_numpy
from chainrule.data.dataset import TensorDataset, as_array


def collate(examples: Sequence[Any]) -> Any:
    """Stack a list of examples into one batch, field by field.

    Tuples/lists of fields give a tuple of batched Tensors, dicts a dict, and
    arrays, Tensors or numbers one Tensor with a new leading batch axis.
    """
    first = examples[0]
    if isinstance(first, tuple | list):
        return tuple(collate([e[k] for e in examples]) for k in range(len(first)))
    if isinstance(first, dict):
        return {key: collate([e[key] for e in examples]) for key in first}
    return from_numpy(np.stack([as_array(e) for e in examples]))


class DataLoader:
    """Batches of a dataset as Tensors, like ``torch.utils.data.DataLoader``.

    Iterating yields one batch per step: for a ``TensorDataset`` (or any dataset
    whose examples are tuples) a tuple of Tensors such as ``(x, y)``, each with
    the batch as its first axis.

    Args:
        dataset: a ``Dataset`` (or anything with ``__len__`` and ``__getitem__``).
        batch_size: examples per batch; the last batch is smaller when the size
            does not divide ``len(dataset)``, unless ``drop_last``.
        shuffle: visit the examples in a new random order each epoch (each
            ``iter(loader)``).
        drop_last: drop the last, incomplete batch.
        seed: seed of this loader's own generator: the same seed gives the same
            sequence of epoch orders. Without ``seed`` or ``generator`` the
            shuffling draws from chainrule's default generator (``manual_seed``).
        generator: a ``numpy.random.Generator`` to draw the orders from instead.
        batch_sampler: an iterable of index arrays, one per batch, that decides the
            batches instead of ``batch_size``/``shuffle``/``drop_last`` (e.g. a
            ``chainrule.distributed.DistributedSampler``); it needs ``__len__``.

    A ``TensorDataset`` takes a fast path: each batch is one fancy-index (a copy)
    per array, with no per-example Python work. Other datasets are read one
    example at a time and stacked with ``collate``.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 generator: np.random.Generator | None = None,
                 batch_sampler: Iterable[Sequence[int]] | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass either seed or generator, not both")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: the dataset must have __len__ and __getitem__; got "
                            f"{type(dataset).__name__}")
        if batch_sampler is not None and (batch_size != 1 or shuffle or drop_last):
            raise ValueError("DataLoader: batch_sampler decides the batches; do not also pass "
                             "batch_size, shuffle or drop_last")
        self.dataset = dataset
        self.batch_sampler = batch_sampler
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = np.random.default_rng(seed) if seed is not None else generator

    def __len__(self) -> int:
        """The number of batches per epoch."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray | None:
        """This epoch's example order, or None for the natural order."""
        if not self.shuffle:
            return None
        # Looked up at each epoch, not stored, so manual_seed() after building the loader counts.
        rng = self.generator if self.generator is not None else default_generator()
        return rng.permutation(len(self.dataset))

    def _batches(self) -> Iterator[slice | np.ndarray]:
        """This epoch's batches as slices (natural order) or index arrays."""
        if self.batch_sampler is not None:
            for indices in self.batch_sampler:
                yield np.asarray(indices, dtype=np.intp)
            return
        n = len(self.dataset)
        order = self._order()
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            yield slice(start, end) if order is None else order[start:end]

    def __iter__(self) -> Iterator[Any]:
        for index in self._batches():
            if isinstance(self.dataset, TensorDataset):
                # A slice copy or one fancy-index per array: batches never alias the dataset,
                # so in-place changes to a batch cannot corrupt the training data.
                yield tuple(_batch_tensor(a, index) for a in self.dataset.arrays)
            else:
                indices = (range(index.start, index.stop) if isinstance(index, slice)
                           else index.tolist())
                yield collate([self.dataset[i] for i in indices])

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def _batch_tensor(array: np.ndarray, index: slice | np.ndarray) -> Tensor:
    part = array[index]
    return from_numpy(part.copy() if isinstance(index, slice) else part)
