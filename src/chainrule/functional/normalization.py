"""Normalization of the functional API, with argument checks: batch normalization (and its
running statistics), layer normalization and RMS normalization.

The fused nodes and their closed-form backward are in ``chainrule.ops.normalization``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.ops import normalization as _norm
from chainrule.ops.elementwise import as_tensor


def _check_vector(name: str, value: Tensor | None, channels: int) -> None:
    if value is not None and value.shape != (channels,):
        raise ValueError(f"batch_norm: {name} must have shape ({channels},), one value per "
                         f"channel, got {value.shape}")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel (axis 1) of input (N, C, ...) and scale and shift it:
    y = weight (x - mean) / sqrt(var + eps) + bias.

    In training (or without running statistics) mean and var are the batch's, over the
    m = N x (spatial size) values of each channel, and the running statistics, when
    given, are updated in place as PyTorch does:
    running = (1 - momentum) running + momentum batch, with the unbiased batch variance
    (var m / (m - 1)) in running_var. Otherwise the running statistics are used.
    """
    if not isinstance(input, Tensor):
        input = Tensor.constant(np.asarray(input))
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input (N, C, ...) with at least 2 axes, "
                         f"got shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"batch_norm: the input must be floating point, got {input.dtype}")
    channels = input.shape[1]
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        _check_vector(name, value, channels)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    batch_stats = training or running_mean is None
    m = input.size // channels if channels else 0
    if batch_stats and m <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel in training, "
                         f"got input shape {input.shape}")
    means, variances = _array(running_mean), _array(running_var)
    # copies: a later update in place must not change what this node's backward reads
    fixed = None if batch_stats else (means.copy(), variances.copy())
    y, node = _norm.batch_norm(input, weight, bias, float(eps), fixed)
    if training and running_mean is not None:
        _update_running(means, node.mean, momentum)
        _update_running(variances, node.var * (m / (m - 1)), momentum)
    return y


def _array(value: Tensor | np.ndarray | None) -> np.ndarray | None:
    """The array behind a running statistic (a Tensor buffer, or a numpy array)."""
    return value.data if isinstance(value, Tensor) else value


def _update_running(running: np.ndarray, batch: np.ndarray, momentum: float) -> None:
    """running = (1 - momentum) running + momentum batch, in place and in running's dtype."""
    running *= 1.0 - momentum
    running += (momentum * batch).astype(running.dtype, copy=False)



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
    return _norm.layer_norm(x, len(shape), weight, bias, eps)


def rms_norm(input: Any, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) * weight over the trailing ``normalized_shape`` axes;
    ``eps=None`` means the machine epsilon of the input's dtype (PyTorch's default)."""
    x = as_tensor(input)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps) if x.dtype.kind == "f" else 0.0
    x, shape = _check("rms_norm", x, normalized_shape, {"weight": weight}, eps)
    return _norm.rms_norm(x, len(shape), weight, eps)
