"""Normalization layers' ops: batch normalization as one fused node.

Batch normalization normalizes each channel (axis 1) over the m values it has in the
batch (every axis but the channel axis: m = N, N L or N H W):

    mu = (1/m) sum x,   var = (1/m) sum (x - mu)^2,   sigma = sqrt(var + eps)
    x_hat = (x - mu) / sigma,   y = gamma x_hat + beta

Since mu and sigma depend on every x of the channel, the chain rule through them gives,
per channel (sums over the m values),

    dbeta  = sum dy,   dgamma = sum dy x_hat,
    dx     = (1/m) gamma / sigma (m dy - sum dy - x_hat sum(dy x_hat)).

With running statistics (evaluation mode) mu and sigma are constants and dx = gamma /
sigma dy. One node instead of the dozen of the composed formula saves as many
temporaries of the input's size, which is what batch normalization costs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.autograd.mode import mode
from chainrule.autograd.tensor import Tensor


def _channel_shape(ndim: int, c: int) -> tuple[int, ...]:
    """(1, C, 1, ...): a per-channel vector broadcast against an input of ``ndim`` axes."""
    return (1, c) + (1,) * (ndim - 2)


def batch_norm_grads(gy: Any, x_hat: Any, inv_std: Any, gamma: Any, axes: tuple[int, ...],
                     batch_stats: bool) -> tuple[Any, Any, Any]:
    """(dx, dgamma, dbeta) of the module docstring, with every per-channel value kept
    broadcastable (keepdims). Written with operators and ``sum`` only, so the same lines
    run on numpy arrays (the usual backward) and on Tensors (recorded, so that the
    gradient can be differentiated again)."""
    dbeta = gy.sum(axis=axes, keepdims=True)
    dgamma = (gy * x_hat).sum(axis=axes, keepdims=True)
    scale = inv_std if gamma is None else gamma * inv_std
    if not batch_stats:
        return gy * scale, dgamma, dbeta
    m = int(np.prod([gy.shape[a] for a in axes]))
    return (gy - (dbeta + x_hat * dgamma) * (1.0 / m)) * scale, dgamma, dbeta


class BatchNorm(Function):
    """y = gamma (x - mu) / sqrt(var + eps) + beta per channel (axis 1); see the module
    docstring for the backward. Inputs: x, then gamma and beta if given (``affine``).

    ``fixed`` = (mean, var) uses those statistics (evaluation mode); None uses the batch's
    and leaves them in ``self.mean`` and ``self.var`` (biased) for the running averages.
    """

    __slots__ = ("eps", "fixed", "has_weight", "has_bias", "mean", "var")

    def __init__(self, eps: float, fixed: tuple[np.ndarray, np.ndarray] | None,
                 has_weight: bool, has_bias: bool) -> None:
        self.eps, self.fixed = eps, fixed
        self.has_weight, self.has_bias = has_weight, has_bias

    def _axes(self, ndim: int) -> tuple[int, ...]:
        return (0,) + tuple(range(2, ndim))

    def forward(self, x: np.ndarray, *affine: np.ndarray) -> np.ndarray:
        axes, shape = self._axes(x.ndim), _channel_shape(x.ndim, x.shape[1])
        if self.fixed is None:
            mean = x.mean(axis=axes)
            var = np.square(x - mean.reshape(shape)).mean(axis=axes)
        else:
            mean, var = (a.astype(x.dtype, copy=False) for a in self.fixed)
        self.mean, self.var = mean, var
        inv_std = 1.0 / np.sqrt(var + np.asarray(self.eps, x.dtype))
        self.saved = inv_std
        y = (x - mean.reshape(shape)) * inv_std.reshape(shape)
        gamma, beta = self._affine(affine)
        if gamma is not None:
            y *= gamma.reshape(shape)
        if beta is not None:
            y += beta.reshape(shape)
        return y

    def _affine(self, affine: tuple) -> tuple[Any, Any]:
        """(gamma, beta) from the inputs after x, None for the ones not given."""
        gamma = affine[0] if self.has_weight else None
        beta = affine[-1] if self.has_bias else None
        return gamma, beta

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x = self.inputs[0]
        axes, shape = self._axes(x.ndim), _channel_shape(x.ndim, x.shape[1])
        gamma, _ = self._affine(self.inputs[1:])
        if not mode.grad_enabled:  # the usual case: numpy, from the saved 1 / sigma
            inv_std = self.saved.reshape(shape)
            x_hat = (x.data - self.mean.reshape(shape)) * inv_std
            grads = batch_norm_grads(gy.data, x_hat, inv_std,
                                     None if gamma is None else gamma.data.reshape(shape),
                                     axes, self.fixed is None)
            dx, dgamma, dbeta = (Tensor.constant(g) for g in grads)
        else:  # create_graph: x_hat and sigma recomputed as recorded functions of x
            x_hat, inv_std = self._normalized(x, axes, shape)
            dx, dgamma, dbeta = batch_norm_grads(
                gy, x_hat, inv_std, None if gamma is None else gamma.reshape(shape), axes,
                self.fixed is None)
        out: list[Tensor | None] = [dx if x.requires_grad else None]
        for given, g in ((self.has_weight, dgamma), (self.has_bias, dbeta)):
            if given:
                out.append(g.reshape(-1))
        return tuple(out)

    def _normalized(self, x: Tensor, axes: tuple[int, ...], shape: tuple[int, ...]
                    ) -> tuple[Tensor, Tensor]:
        """x_hat and 1 / sigma as differentiable functions of x (of constants in eval)."""
        if self.fixed is not None:
            inv_std = Tensor.constant(self.saved.reshape(shape))
            return (x - self.mean.reshape(shape)) * inv_std, inv_std
        centered = x - x.mean(axis=axes, keepdims=True)
        inv_std = ((centered * centered).mean(axis=axes, keepdims=True) + self.eps) ** -0.5
        return centered * inv_std, inv_std


def batch_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float,
               fixed: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Tensor, BatchNorm]:
    """Batch normalization of x over every axis but 1; returns the result and the node,
    whose ``mean`` and ``var`` are the statistics it used (for the running averages)."""
    node = BatchNorm(eps, fixed, weight is not None, bias is not None)
    inputs = [x] + [t for t in (weight, bias) if t is not None]
    return node(*inputs), node
