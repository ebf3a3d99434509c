"""Scaled dot-product attention as one node, with its backward written out.

For queries Q (..., L, E), keys K (..., S, E) and values V (..., S, Ev):

    S = Q K^T * scale (+ an additive mask),   P = softmax(S) along the key axis,
    O = (P * D) V,   D the dropout mask, entries 0 or 1 / (1 - p) (no dropout: D = 1)

Backward, given dO:

    dV = (P * D)^T dO
    dP = (dO V^T) * D
    dS = P * (dP - rowsum(dP * P))          (the softmax's vector-Jacobian product)
    dQ = dS K * scale,   dK = dS^T Q * scale

A masked position (a False in a boolean mask, -inf in an additive one) has P = 0
exactly, so dS is exactly 0 there and it contributes nothing to dQ, dK or dV; a row
whose every key is masked gives P = 0 and O = 0 (PyTorch does the same).
"""

from __future__ import annotations

import numpy as np

from chainrule import backend
from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops.kernels import max_along
from chainrule.ops.linalg import matmul
from chainrule.ops.reductions import sum as _sum


def masked_softmax_array(s: np.ndarray, allowed: np.ndarray | None,
                         additive: np.ndarray | None) -> np.ndarray:
    """softmax(S) along the last axis, where ``allowed`` is False or ``additive`` is -inf
    giving exactly 0, and a row with nothing allowed giving all zeros (not NaN)."""
    if additive is not None:
        s = s + additive
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    m = max_along(s, -1)
    if allowed is not None or additive is not None:
        m[~np.isfinite(m)] = 0  # an all-masked row: exp(-inf - 0) = 0 everywhere
    e = np.exp(s - m)
    z = backend.sum_last(e)
    z[z == 0] = 1  # the all-masked rows stay 0
    e /= z
    return e


class MaskedSoftmax(Function):
    """P = softmax(S) with masked entries exactly 0 (``masked_softmax_array``);
    dS = P * (dP - rowsum(dP * P))."""

    __slots__ = ("allowed", "additive")
    needs_inputs = False
    needs_outputs = True

    def __init__(self, allowed: np.ndarray | None, additive: np.ndarray | None) -> None:
        self.allowed, self.additive = allowed, additive

    def forward(self, s: np.ndarray) -> np.ndarray:
        return masked_softmax_array(s, self.allowed, self.additive)

    def backward(self, gp: Tensor) -> Tensor:
        p = self.output()
        return p * (gp - _sum(gp * p, -1, keepdims=True))


class ScaledDotProductAttention(Function):
    """O = P V, P = softmax(S), S = Q K^T scale + mask;  dV = P^T dO, dP = dO V^T,
    dS = P * (dP - rowsum(dP * P)), dQ = dS K scale, dK = dS^T Q scale (one node).

    ``allowed`` (bool, True = attend) and ``additive`` (float) are the masks, ``keep``
    the dropout mask already scaled by 1 / (1 - p); each broadcasts to (..., L, S) and
    is a constant of the graph.
    """

    __slots__ = ("scale", "allowed", "additive", "keep")

    def __init__(self, scale: float, allowed: np.ndarray | None, additive: np.ndarray | None,
                 keep: np.ndarray | None) -> None:
        self.scale, self.allowed, self.additive, self.keep = scale, allowed, additive, keep

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        s = backend.matmul(q, np.swapaxes(k, -1, -2))
        s *= self.scale
        p = masked_softmax_array(s, self.allowed, self.additive)
        self.saved = p
        return backend.matmul(p if self.keep is None else p * self.keep, v)

    def backward(self, go: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        q, k, v = self.inputs
        # with create_graph: P recomputed and the same formulas as recorded ops
        p = MaskedSoftmax(self.allowed, self.additive)(matmul(q, k.mT) * self.scale)
        pd = p if self.keep is None else p * self.keep
        dv = matmul(pd.mT, go) if v.requires_grad else None
        dp = matmul(go, v.mT)
        if self.keep is not None:
            dp = dp * self.keep
        ds = p * (dp - _sum(dp * p, -1, keepdims=True)) * self.scale
        dq = matmul(ds, k) if q.requires_grad else None
        dk = matmul(ds.mT, q) if k.requires_grad else None
        return dq, dk, dv

    def backward_arrays(self, go: np.ndarray
                        ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """The same formulas on arrays, from the forward's saved P (no graph recorded)."""
        q, k, v = self.inputs
        p, keep = self.saved, self.keep
        pd = p if keep is None else p * keep
        dv = backend.matmul(np.swapaxes(pd, -1, -2), go) if v.requires_grad else None
        dp = backend.matmul(go, np.swapaxes(v.data, -1, -2))
        if keep is not None:
            dp *= keep
        ds = dp - backend.sum_last(dp * p)
        ds *= p
        ds *= self.scale
        dq = backend.matmul(ds, k.data) if q.requires_grad else None
        dk = backend.matmul(np.swapaxes(ds, -1, -2), q.data) if k.requires_grad else None
        return dq, dk, dv


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, scale: float,
                                 allowed: np.ndarray | None = None,
                                 additive: np.ndarray | None = None,
                                 keep: np.ndarray | None = None) -> Tensor:
    """The fused node (arguments checked by F.scaled_dot_product_attention)."""
    return ScaledDotProductAttention(scale, allowed, additive, keep)(q, k, v)


def attention_probs(s: Tensor, allowed: np.ndarray | None = None,
                    additive: np.ndarray | None = None) -> Tensor:
    """softmax(s) along the last axis under the masks (for attention that returns P)."""
    return MaskedSoftmax(allowed, additive)(s)
