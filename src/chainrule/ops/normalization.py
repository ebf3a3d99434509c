"""Normalization over the trailing axes of each example: layer norm and RMS norm.

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

import numpy as np

from chainrule.autograd.function import Function
from chainrule.autograd.mode import mode
from chainrule.autograd.tensor import Tensor
from chainrule.ops.reductions import mean as _mean
from chainrule.ops.reductions import sum as _sum


class _TrailingNorm(Function):
    """Shared machinery: the normalized axes, which of (weight, bias) are inputs, and the
    parameter gradients, which are the same for both norms."""

    __slots__ = ("n", "eps", "has_weight", "has_bias")
    centered = True

    def __init__(self, n: int, eps: float, has_weight: bool, has_bias: bool) -> None:
        self.n, self.eps, self.has_weight, self.has_bias = n, eps, has_weight, has_bias

    def _axes(self, ndim: int) -> tuple[int, ...]:
        return tuple(range(ndim - self.n, ndim))

    def forward(self, x: np.ndarray, *params: np.ndarray) -> np.ndarray:
        axes = self._axes(x.ndim)
        xc = x - x.mean(axis=axes, keepdims=True) if self.centered else x
        r = np.mean(xc * xc, axis=axes, keepdims=True)
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

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x = self.inputs[0]
        w = self.inputs[1] if self.has_weight else None
        axes = self._axes(x.ndim)
        lead = tuple(range(x.ndim - self.n))
        if not mode.grad_enabled:  # the usual case: the closed form on the saved arrays
            xhat, r = self.saved
            g = gy.data * w.data if w is not None else gy.data
            dx = g - (g * xhat).mean(axis=axes, keepdims=True) * xhat
            if self.centered:
                dx -= g.mean(axis=axes, keepdims=True)
            dx *= r
            grads = [Tensor.constant(dx) if x.requires_grad else None]
            if w is not None:
                dw = (gy.data * xhat).sum(axis=lead) if lead else gy.data * xhat
                grads.append(Tensor.constant(dw) if w.requires_grad else None)
            if self.has_bias:
                db = gy.data.sum(axis=lead) if lead else gy.data
                grads.append(Tensor.constant(db) if self.inputs[-1].requires_grad else None)
            return tuple(grads)
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


class LayerNorm(_TrailingNorm):
    """y = (x - mean) / sqrt(var + eps) w + b over the last ``n`` axes (module docstring)."""

    __slots__ = ()
    centered = True


class RMSNorm(_TrailingNorm):
    """y = x / sqrt(mean(x^2) + eps) w over the last ``n`` axes (module docstring)."""

    __slots__ = ()
    centered = False


def layer_norm(x: Tensor, n: int, weight: Tensor | None, bias: Tensor | None,
               eps: float) -> Tensor:
    """Layer normalization over the last ``n`` axes (checked by F.layer_norm)."""
    params = tuple(p for p in (weight, bias) if p is not None)
    return LayerNorm(n, float(eps), weight is not None, bias is not None)(x, *params)


def rms_norm(x: Tensor, n: int, weight: Tensor | None, eps: float) -> Tensor:
    """RMS normalization over the last ``n`` axes (checked by F.rms_norm)."""
    params = (weight,) if weight is not None else ()
    return RMSNorm(n, float(eps), weight is not None, False)(x, *params)
