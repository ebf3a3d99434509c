"""Normalization ops: batch normalization, layer norm and RMS norm, each one fused node.

## Batch normalization

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

## Layer norm and RMS norm

Each is one fused node whose backward is the closed form below, with the statistics
taken over the last ``n`` axes (N = their number of elements) and the per-feature
weight w and bias b of the normalized shape:

    layer norm:  mu = mean(x),  rstd = 1 / sqrt(mean((x - mu)^2) + eps),
                 xhat = (x - mu) rstd,  y = xhat w + b
                 g = dL/dy w:  dL/dx = rstd (g - mean(g) - xhat mean(g xhat))
    RMS norm:    rrms = 1 / sqrt(mean(x^2) + eps),  xhat = x rrms,  y = xhat w
                 g = dL/dy w:  dL/dx = rrms (g - xhat mean(g xhat))
    both:        dL/dw = sum over examples of dL/dy xhat,  dL/db = sum over examples of dL/dy

(the means are over the normalized axes). The first backward runs on the statistics
saved by forward; with ``create_graph`` the statistics are recomputed from the inputs
with recorded ops, so the gradient can be differentiated again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.function import Function
from chainrule.autograd.mode import mode
from chainrule.autograd.tensor import Tensor
from chainrule.ops.reductions import mean as _mean
from chainrule.ops.reductions import sum as _sum


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
    """y = gamma x_hat + beta, x_hat = (x - mu) / sigma per channel (axis 1);  dx = (1/m)
    gamma / sigma (m dy - sum dy - x_hat sum(dy x_hat)), dgamma = sum dy x_hat, dbeta = sum dy.

    Inputs: x, then gamma and beta if given (``affine``).

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


# -- layer norm and RMS norm ------------------------------------------------------------------


class _TrailingNorm(Function):
    """Shared machinery: the normalized axes, which of (weight, bias) are inputs, and the
    parameter gradients, which are the same for both norms."""

    __slots__ = ("n", "eps", "has_weight", "has_bias")
    centered = True

    def __init__(self, n: int, eps: float, has_weight: bool, has_bias: bool) -> None:
        self.n, self.eps, self.has_weight, self.has_bias = n, eps, has_weight, has_bias

    def _axes(self, ndim: int) -> tuple[int, ...]:
        return tuple(range(ndim - self.n, ndim))

    def _mean(self, x: np.ndarray) -> np.ndarray:
        """The mean over the normalized (last ``n``) axes, kept, as one matrix-vector
        product (backend.sum_last): numpy's reduction over rows this short is the slower."""
        lead = x.shape[:x.ndim - self.n]
        k = math.prod(x.shape[x.ndim - self.n:])
        m = backend.sum_last(x.reshape(*lead, k))
        m /= k
        return m.reshape(*lead, *(1,) * self.n)

    def forward(self, x: np.ndarray, *params: np.ndarray) -> np.ndarray:
        xc = x - self._mean(x) if self.centered else x
        r = self._mean(xc * xc)
        r += self.eps
        np.sqrt(r, out=r)
        np.divide(1.0, r, out=r)
        xhat = xc * r
        self.saved = (xhat, r)
        y = xhat * params[0] if self.has_weight else xhat.copy()
        if self.has_bias:
            y += params[-1]
        return y

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(xhat, r) recomputed with recorded ops, for a differentiable backward."""
        axes = self._axes(x.ndim)
        xc = x - _mean(x, axes, keepdims=True) if self.centered else x
        r = (_mean(xc * xc, axes, keepdims=True) + self.eps) ** -0.5
        return xc * r, r

    def backward_arrays(self, gy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """The closed form on the statistics forward saved (no graph recorded)."""
        x = self.inputs[0]
        w = self.inputs[1] if self.has_weight else None
        xhat, r = self.saved
        g = gy * w.data if w is not None else gy
        dx = g - self._mean(g * xhat) * xhat
        if self.centered:
            dx -= self._mean(g)
        dx *= r
        grads = [dx if x.requires_grad else None]
        if w is not None:
            dw = backend.sum_leading(gy * xhat, self.n)
            grads.append(dw if w.requires_grad else None)
        if self.has_bias:
            db = backend.sum_leading(gy, self.n)
            grads.append(db if self.inputs[-1].requires_grad else None)
        return tuple(grads)

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x = self.inputs[0]
        w = self.inputs[1] if self.has_weight else None
        axes = self._axes(x.ndim)
        lead = tuple(range(x.ndim - self.n))
        xhat, r = self._statistics(x)
        g = gy * w if w is not None else gy
        dx = g - _mean(g * xhat, axes, keepdims=True) * xhat
        if self.centered:
            dx = dx - _mean(g, axes, keepdims=True)
        grads = [dx * r if x.requires_grad else None]
        if w is not None:
            grads.append(_sum(gy * xhat, lead) if lead else gy * xhat)
        if self.has_bias:
            grads.append(_sum(gy, lead) if lead else gy)
        return tuple(grads)


class LayerNormOp(_TrailingNorm):
    """y = xhat w + b, xhat = (x - mean) rstd over the last ``n`` axes;  with g = dy w,
    dx = rstd (g - mean(g) - xhat mean(g xhat)), dw = sum dy xhat, db = sum dy."""

    __slots__ = ()
    name = "LayerNorm"
    centered = True


class RMSNormOp(_TrailingNorm):
    """y = x rrms w, rrms = 1 / sqrt(mean(x^2) + eps) over the last ``n`` axes;  with
    g = dy w, dx = rrms (g - xhat mean(g xhat)), xhat = x rrms, dw = sum dy xhat."""

    __slots__ = ()
    name = "RMSNorm"
    centered = False


def layer_norm(x: Tensor, n: int, weight: Tensor | None, bias: Tensor | None,
               eps: float) -> Tensor:
    """Layer normalization over the last ``n`` axes (checked by F.layer_norm)."""
    params = tuple(p for p in (weight, bias) if p is not None)
    return LayerNormOp(n, float(eps), weight is not None, bias is not None)(x, *params)


def rms_norm(x: Tensor, n: int, weight: Tensor | None, eps: float) -> Tensor:
    """RMS normalization over the last ``n`` axes (checked by F.rms_norm)."""
    params = (weight,) if weight is not None else ()
    return RMSNormOp(n, float(eps), weight is not None, False)(x, *params)
