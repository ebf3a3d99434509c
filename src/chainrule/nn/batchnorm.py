"""Batch normalization layers: BatchNorm1d and BatchNorm2d (PyTorch's names, defaults and
running statistics, so state dicts move between the two libraries).

In training each channel is normalized with the batch's mean and variance, and the
running estimates are updated: running = (1 - momentum) running + momentum batch (the
unbiased batch variance in running_var; momentum=None gives the cumulative average,
momentum = 1 / num_batches_tracked). In evaluation mode the running estimates are used,
so the output of one example no longer depends on the rest of its batch. The fused
forward and the closed-form backward are in ``chainrule.ops.normalization``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.nn import init
from chainrule.nn.linear import cast_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter


class _BatchNorm(Module):
    """Shared parameters, buffers and forward; subclasses say which input ranks they take."""

    ranks: tuple[int, ...] = ()
    layout = ""
    config_fields = ("num_features", "eps", "momentum", "affine", "track_running_stats")

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, int | np.integer) \
                or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got "
                             f"{num_features!r}")
        if eps <= 0:
            raise ValueError(f"{name}: eps must be positive, got {eps}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self._dtype = np.dtype(dtype)  # used only when there are neither parameters nor buffers
        shape = (self.num_features,)
        self.weight = Parameter(np.ones(shape, dtype)) if affine else None
        self.bias = Parameter(np.zeros(shape, dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(shape, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(shape, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(buffer, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        name = type(self).__name__
        x = cast_input(name, "the input", x, np.dtype(self.config_dtype()))
        if x.ndim not in self.ranks:
            raise ValueError(f"{name}: expected input {self.layout}, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): the input has {x.shape[1]} "
                             f"channels (axis 1 of shape {x.shape}), expected "
                             f"{self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:  # the cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if keep else None,
                            self.running_var if keep else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def config_dtype(self) -> str:
        """The layer's floating dtype: its parameters', else its buffers', else the given one."""
        for t in (self.weight, self.running_mean):
            if t is not None:
                return str(t.dtype)
        return str(self._dtype)

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "dtype": self.config_dtype()}

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L), per channel C."""

    ranks = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W), per channel C (over N, H and W)."""

    ranks = (4,)
    layout = "(N, C, H, W)"
