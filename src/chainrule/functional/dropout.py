"""Inverted dropout: zero each unit with probability p during training, scale the rest."""

from __future__ import annotations

import numpy as np

from chainrule import creation
from chainrule.autograd.tensor import Tensor


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | None = None) -> Tensor:
    """y = x * m / (1 - p) with m_i ~ Bernoulli(1 - p);  dy/dx = m / (1 - p).

    Scaling at training time keeps the expected activation unchanged, so nothing
    changes at evaluation time (``training=False`` returns x itself).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    rng = generator or creation.default_generator()
    keep = rng.random(x.shape, dtype=np.float32) >= p
    mask = keep.astype(x.dtype) * np.asarray(1.0 / (1.0 - p), x.dtype)
    return x * mask
