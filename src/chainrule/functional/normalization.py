"""Layer normalization and RMS normalization of the functional API, with argument checks.

The fused nodes and their closed-form backward are in ``chainrule.ops.normalization``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.ops import normalization as _ops
from chainrule.ops.elementwise import as_tensor


def normalized_shape_tuple(owner: str, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple of positive ints (an int n means (n,)), else an error."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int | np.integer) \
        else tuple(normalized_shape)
    if not shape or any(isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0
                        for n in shape):
        raise ValueError(f"{owner}: normalized_shape must be a positive int or a non-empty "
                         f"sequence of positive ints, got {normalized_shape!r}")
    return tuple(int(n) for n in shape)


def _check(owner: str, x: Any, normalized_shape: int | Sequence[int],
           params: dict[str, Tensor | None], eps: float) -> tuple[Tensor, tuple[int, ...]]:
    x = as_tensor(x)
    shape = normalized_shape_tuple(owner, normalized_shape)
    if x.dtype.kind != "f":
        raise TypeError(f"{owner}: the input must be floating point, got dtype {x.dtype}")
    if x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise ValueError(f"{owner}: the input's last {len(shape)} axes must be "
                         f"normalized_shape {shape}, got input shape {x.shape}")
    for name, p in params.items():
        if p is None:
            continue
        if p.shape != shape:
            raise ValueError(f"{owner}: {name} must have shape normalized_shape {shape}, got "
                             f"{p.shape}")
        if p.dtype != x.dtype:
            raise TypeError(f"{owner}: {name} is {p.dtype} but the input is {x.dtype}; cast "
                            f"one of them (e.g. x.astype({str(p.dtype)!r}))")
    if not eps >= 0:
        raise ValueError(f"{owner}: eps must be >= 0, got {eps}")
    return x, shape


def layer_norm(input: Any, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing ``normalized_shape``
    axes (biased variance, as PyTorch)."""
    x, shape = _check("layer_norm", input, normalized_shape, {"weight": weight, "bias": bias},
                      eps)
    return _ops.layer_norm(x, len(shape), weight, bias, eps)


def rms_norm(input: Any, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) * weight over the trailing ``normalized_shape`` axes;
    ``eps=None`` means the machine epsilon of the input's dtype (PyTorch's default)."""
    x = as_tensor(input)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps) if x.dtype.kind == "f" else 0.0
    x, shape = _check("rms_norm", x, normalized_shape, {"weight": weight}, eps)
    return _ops.rms_norm(x, len(shape), weight, eps)
