"""Gradient clipping: the classic remedy for exploding gradients (e.g. in BPTT)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from chainrule.autograd.tensor import Tensor


def _with_grads(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Rescale all gradients together so that their joint norm is at most ``max_norm``.

    total = (sum_p ||g_p||^k)^(1/k) over every gradient as one vector (k = norm_type,
    inf for the largest absolute value); if total > max_norm every gradient is
    multiplied by max_norm / (total + 1e-6), which keeps its direction. Returns total.
    The gradients are replaced by new arrays, never scaled in place (they may be shared).
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be positive, got {max_norm}")
    params = _with_grads(parameters)
    if not params:
        return 0.0
    norm_type = float(norm_type)
    if norm_type == np.inf:
        total = max(float(np.abs(p.grad.data).max(initial=0.0)) for p in params)
    else:
        total = float(sum(float(np.sum(np.abs(p.grad.data.astype(np.float64)) ** norm_type))
                          for p in params) ** (1.0 / norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise FloatingPointError(f"clip_grad_norm_: the total gradient norm is {total}; the "
                                 f"gradients contain NaN or Inf")
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for p in params:
            g = p.grad.data
            p.grad = Tensor.constant(g * np.asarray(scale, g.dtype))
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Limit every gradient element to [-clip_value, clip_value]."""
    if clip_value <= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be positive, got {clip_value}")
    for p in _with_grads(parameters):
        p.grad = Tensor.constant(np.clip(p.grad.data, -clip_value, clip_value))
