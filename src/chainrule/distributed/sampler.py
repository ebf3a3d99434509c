"""``DistributedSampler``: each rank's share of every global mini-batch of an epoch.

An epoch's order is one permutation of the n examples: epoch e's is the
(e+1)-th ``permutation(n)`` of ``numpy.random.default_rng(seed)``, the very order
``DataLoader(shuffle=True, seed=seed)`` visits in its (e+1)-th epoch. So every rank
computes the same order without talking, each epoch reshuffles (call ``set_epoch``
as with PyTorch; ``fit`` does), and the global batches are the batches of a single
process that trains with the same seed and batch size B (except a last batch too
small to split, below). Each global batch of b examples (b = B except perhaps the
last) is split into p contiguous shards:

    rank r gets b_r = floor(b / p) + (1 if r < b mod p else 0) examples,

so shard sizes differ by at most one, the shards of a batch are disjoint, and
together they are the batch. Averaging the ranks' gradients weighted by b_r / b
then gives exactly the gradient of that batch (see ``allreduce_gradients``).

When B does not divide n the last global batch is smaller, as in one process.
If it has fewer examples than there are ranks (n mod B < p) some rank would get
none, so that batch is dropped: at most p - 1 examples per epoch, the last
n mod B of the epoch's order (with ``shuffle=False`` always the same ones,
n - n mod B .. n - 1; shuffled, usually different ones each epoch).
``drop_last=True`` drops any incomplete last batch, like ``DataLoader(drop_last=True)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np


class DistributedSampler:
    """Index arrays of this rank's shard of each global batch, one per step.

    Use it as a ``DataLoader``'s ``batch_sampler``; every rank yields the same
    number of steps, which keeps their gradient allreduces in lockstep.

    Args:
        data: a dataset (anything with ``len``) or the number of examples n.
        batch_size: the global batch size B, summed over ranks (B >= p).
        rank, world_size: this process and p (default: from ``init()``).
        shuffle: a new order each epoch; False keeps 0 .. n-1.
        seed: must be the same on every rank.
        drop_last: drop the last global batch when it is smaller than B.
    """

    def __init__(self, data: Sized | int, batch_size: int, rank: int | None = None,
                 world_size: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if rank is None or world_size is None:
            from chainrule.distributed.context import init

            context = init()
            rank = context.rank if rank is None else rank
            world_size = context.world_size if world_size is None else world_size
        self.num_examples = data if isinstance(data, int) else len(data)
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"DistributedSampler: rank {rank} is not in 0..{world_size - 1}")
        if batch_size < world_size:
            raise ValueError(f"DistributedSampler: the global batch size {batch_size} is "
                             f"smaller than the number of ranks {world_size}; every rank needs "
                             f"at least one example per step")
        self.batch_size, self.rank, self.world_size = int(batch_size), rank, world_size
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        # The generator of the orders, the number of orders it has drawn, and the last one:
        # epochs visited in sequence cost one permutation each, as in a DataLoader.
        self._rng: np.random.Generator | None = None
        self._drawn = 0
        self._order = np.arange(0)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order to produce (the same on every rank)."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """This epoch's order of all n examples, identical on every rank: the order of
        ``DataLoader(shuffle=True, seed=seed)`` in epoch ``epoch + 1``, a function of
        (seed, epoch) only. Going back to an earlier epoch redraws from the start."""
        if not self.shuffle:
            return np.arange(self.num_examples)
        if self._rng is None or self.epoch < self._drawn - 1:
            self._rng, self._drawn = np.random.default_rng(self.seed), 0
        while self._drawn <= self.epoch:
            self._order = self._rng.permutation(self.num_examples)
            self._drawn += 1
        return self._order

    def _batch_lengths(self) -> list[int]:
        n, size = self.num_examples, self.batch_size
        lengths = [size] * (n // size)
        tail = n % size
        if tail and not self.drop_last and tail >= self.world_size:
            lengths.append(tail)
        return lengths

    def shard(self, batch_length: int) -> slice:
        """Where this rank's shard lies within a global batch of ``batch_length``."""
        base, extra = divmod(batch_length, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self.order()
        start = 0
        for length in self._batch_lengths():
            yield order[start:start + length][self.shard(length)]
            start += length

    def __len__(self) -> int:
        """Steps per epoch: the same on every rank."""
        return len(self._batch_lengths())

    def __repr__(self) -> str:
        return (f"DistributedSampler(n={self.num_examples}, batch_size={self.batch_size}, "
                f"rank={self.rank}, world_size={self.world_size}, shuffle={self.shuffle}, "
                f"seed={self.seed})")
