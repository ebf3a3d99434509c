"""Text for the language-model zoo: one item a line (as makemore reads names.txt), or one
stream of characters cut into random windows.

Lines: every non-empty line (stripped) is an item. Token 0 is the start/end token and
character c is token ``1 + vocab.index[c]``. An item w of length n becomes one example of
``block_size`` positions (block_size >= longest item + 1):

    x = [0, w_1, ..., w_n, 0, ...]       the start token, then the item, padded with 0
    y = [w_1, ..., w_n, 0, -1, ...]      each next character, the end token, then -1

so position t predicts character t+1 from the characters before it (the start token
standing in for "nothing yet"), and ``cross_entropy(..., ignore_index=-1)`` averages over
the item's characters and its end token only: the loss is nats per character.

Stream: the characters themselves are the tokens (no start token); a batch is random
windows x = text[s:s+T], y = text[s+1:s+T+1] of the training part, and the test loss runs
over consecutive windows of the held-out tail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from chainrule.train.text import Vocabulary

IGNORE = -1  # the target of padding positions: no loss
# a file is read as items when every line is at most this long and there are this many
SHORT_LINE, MANY_LINES = 64, 100


def read_items(text: str) -> list[str]:
    """The stripped, non-empty lines of ``text``."""
    return [w for w in (line.strip() for line in text.splitlines()) if w]


def looks_like_items(text: str) -> bool:
    """Whether a text is a list of short items (names, words): at least MANY_LINES lines,
    none longer than SHORT_LINE characters."""
    lines = text.splitlines()
    return len(lines) >= MANY_LINES and max(map(len, lines)) <= SHORT_LINE


@dataclass
class LineData:
    """Items one a line: the examples (x, y), each of shape (n, block_size), split into a
    training and a held-out test part (makemore's rule: min(1000, 10%) of the items, at
    least one)."""

    vocab: Vocabulary
    block_size: int
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    items: int
    mode = "lines"

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + 1  # + the start/end token

    def batch(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        rows = rng.integers(0, len(self.train_x), size)  # drawn with replacement, as makemore
        return self.train_x[rows], self.train_y[rows]

    def test_batches(self, size: int = 500) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(0, len(self.test_x), size):
            yield self.test_x[i:i + size], self.test_y[i:i + size]


def encode_items(items: list[str], vocab: Vocabulary, block_size: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The examples (x, y) of the module docstring, one row per item."""
    x = np.zeros((len(items), block_size), np.int64)
    y = np.full((len(items), block_size), IGNORE, np.int64)
    for row, item in enumerate(items):
        ids = vocab.encode(item) + 1
        x[row, 1:len(ids) + 1] = ids
        y[row, :len(ids)] = ids
        y[row, len(ids)] = 0  # the end token
    return x, y


def line_data(text: str, block_size: int | None, seed: int, source: str = "the file"
              ) -> LineData:
    """Read ``text`` as items; ``block_size`` None: the longest item + 1. A file without
    two items, or a block size too short for its longest item, is refused."""
    items = read_items(text)
    if len(items) < 2:
        raise ValueError(f"train-text: {source} has {len(items)} non-empty lines; --lines "
                         f"needs at least 2 items, one a line (one of them is held out)")
    longest = max(map(len, items))
    if block_size is None:
        block_size = longest + 1
    elif block_size < longest + 1:
        raise ValueError(f"train-text: --block-size {block_size} is too short for the longest "
                         f"item ({longest} characters); give at least {longest + 1}, or leave "
                         f"it out")
    vocab = Vocabulary("".join(items))
    order = np.random.default_rng(seed).permutation(len(items))
    n_test = max(1, min(1000, len(items) // 10))
    x, y = encode_items([items[i] for i in order], vocab, block_size)
    return LineData(vocab, block_size, x[n_test:], y[n_test:], x[:n_test], y[:n_test],
                    len(items))


@dataclass
class StreamData:
    """One stream of characters: random windows of ``block_size`` for training, the
    held-out tail (``val_fraction`` of the characters) for the test loss."""

    vocab: Vocabulary
    block_size: int
    train_ids: np.ndarray
    test_ids: np.ndarray
    mode = "stream"

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def batch(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        starts = rng.integers(0, len(self.train_ids) - self.block_size, size)
        rows = starts[:, None] + np.arange(self.block_size + 1)
        windows = self.train_ids[rows]
        return windows[:, :-1], windows[:, 1:]

    def test_batches(self, size: int = 500) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        t = self.block_size
        n = (len(self.test_ids) - 1) // t
        if n == 0:
            return
        x = self.test_ids[:n * t].reshape(n, t)
        y = self.test_ids[1:n * t + 1].reshape(n, t)
        for i in range(0, n, size):
            yield x[i:i + size], y[i:i + size]


def stream_data(text: str, block_size: int, val_fraction: float, source: str = "the file"
                ) -> StreamData:
    """Read ``text`` as one stream; it must hold at least two windows of ``block_size`` + 1
    characters for training."""
    n_test = int(len(text) * val_fraction)
    if len(text) - n_test < 2 * (block_size + 1):
        raise ValueError(f"train-text: {source} has {len(text):,} characters; need at least "
                         f"{2 * (block_size + 1) + n_test:,} for --block-size {block_size}")
    vocab = Vocabulary(text)
    ids = vocab.encode(text)
    return StreamData(vocab, block_size, ids[:len(ids) - n_test], ids[len(ids) - n_test:])
