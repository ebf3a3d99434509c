"""``DistributedSampler``: each rank's share of every global mini-batch of an epoch.

An epoch's order is one permutation of the n examples, drawn from a generator
seeded with (seed, epoch), so every rank computes the same order without talking
and each epoch reshuffles (call ``set_epoch`` as with PyTorch; ``fit`` does).
The order is cut into global batches of B examples, exactly as a single process
with batch size B would cut it, and each global batch of b examples (b = B
except perhaps the last) is split into p contiguous shards:

    rank r gets b_r = floor(b / p) + (1 if r < b mod p else 0) examples,

so shard sizes differ by at most one, the shards of a batch are disjoint, and
together they are the batch. Averaging the ranks' gradients weighted by b_r / b
then gives exactly the gradient of that batch (see ``allreduce_gradients``).

When B does not divide n the last global batch is smaller, as in one process.
If it has fewer examples than there are ranks (n mod B < p) some rank would get
none, so that batch is dropped: at most p - 1 examples per epoch, a different
few each epoch since the order is reshuffled. ``drop_last=True`` drops any
incomplete last batch, like ``DataLoader(drop_last=True)``.
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

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order to produce (the same on every rank)."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """This epoch's order of all n examples, identical on every rank."""
        if not self.shuffle:
            return np.arange(self.num_examples)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.num_examples)

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
