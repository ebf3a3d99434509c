"""Scaled dot-product attention of the functional API, with argument checks.

The fused node and its written-out backward are in ``chainrule.ops.attention``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import creation
from chainrule.autograd.tensor import Tensor
from chainrule.ops.attention import scaled_dot_product_attention as _sdpa
from chainrule.ops.elementwise import as_tensor

_NAME = "scaled_dot_product_attention"


def _check_qkv(query: Any, key: Any, value: Any) -> tuple[Tensor, Tensor, Tensor]:
    q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
    for name, t in (("query", q), ("key", k), ("value", v)):
        if t.dtype.kind != "f":
            raise TypeError(f"{_NAME}: {name} must be floating point, got dtype {t.dtype}")
        if t.ndim < 2:
            raise ValueError(f"{_NAME}: {name} must be (..., length, features), got shape "
                             f"{t.shape}")
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"{_NAME}: query, key and value must have one dtype, got {q.dtype}, "
                        f"{k.dtype} and {v.dtype}")
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise ValueError(f"{_NAME}: query {q.shape}, key {k.shape} and value {v.shape} must "
                         f"have the same leading (batch, head) axes")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{_NAME}: query and key must have the same feature size E, got "
                         f"query {q.shape} and key {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{_NAME}: key and value must have the same length S, got key "
                         f"{k.shape} and value {v.shape}")
    return q, k, v


def attention_mask(owner: str, attn_mask: Any, target: tuple[int, ...], dtype: np.dtype
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(allowed, additive): a bool mask (True = attend) or a float mask (added to the scores,
    in ``dtype``), checked to broadcast to ``target`` = (..., L, S)."""
    if attn_mask is None:
        return None, None
    mask = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
    if mask.dtype.kind not in "bf":
        raise TypeError(f"{owner}: attn_mask must be bool (True = attend) or float (added to "
                        f"the scores), got dtype {mask.dtype}")
    try:
        fits = np.broadcast_shapes(mask.shape, target) == target
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{owner}: attn_mask of shape {mask.shape} does not broadcast to the "
                         f"attention scores' shape {target} (..., L, S)")
    if mask.dtype == np.bool_:
        return mask, None
    return None, mask.astype(dtype, copy=False)


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None) -> Tensor:
    """softmax(Q K^T * scale + mask) V, PyTorch's semantics and layout (..., L, E).

    ``attn_mask`` is bool (True = take part in attention) or float (added to the scores);
    ``is_causal`` lets query i attend to keys 0..i only (top-left aligned, as PyTorch);
    ``scale`` defaults to 1 / sqrt(E); ``dropout_p > 0`` drops attention weights (always,
    as in PyTorch: pass 0 in evaluation). One graph node; see chainrule.ops.attention.
    """
    q, k, v = _check_qkv(query, key, value)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{_NAME}: dropout_p must be in [0, 1), got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{_NAME}: give attn_mask or is_causal=True, not both (combine them "
                         f"into one mask)")
    L, S = q.shape[-2], k.shape[-2]
    target = (*q.shape[:-2], L, S)
    allowed, additive = attention_mask(_NAME, attn_mask, target, q.dtype)
    if is_causal:
        allowed = np.tri(L, S, dtype=bool)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
    elif not math.isfinite(scale):
        raise ValueError(f"{_NAME}: scale must be a finite number, got {scale}")
    keep = None
    if dropout_p > 0:
        rng = creation.default_generator()
        keep = (rng.random(target, dtype=np.float32) >= dropout_p).astype(q.dtype)
        keep *= np.asarray(1.0 / (1.0 - dropout_p), q.dtype)
    return _sdpa(q, k, v, float(scale), allowed, additive, keep)
