"""Batch normalization of the functional API: argument checks and the running statistics
over the fused op ``chainrule.ops.normalization.BatchNorm``."""

from __future__ import annotations

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.ops import normalization as _norm


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
