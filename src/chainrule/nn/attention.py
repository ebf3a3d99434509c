"""``MultiheadAttention``: PyTorch's layer, names, layouts and mask conventions.

With E = embed_dim split into H heads of d = E / H channels:

    [Q K V] = [query key value] W_in^T + b_in        (W_in = in_proj_weight, (3E, E))
    head_h  = softmax(Q_h K_h^T / sqrt(d) + mask) V_h
    output  = concat(head_1 .. head_H) W_out^T + b_out   (out_proj)

The parameters are named and shaped as PyTorch's (``in_proj_weight``, ``in_proj_bias``,
``out_proj.weight``, ``out_proj.bias``), so a ``state_dict`` moves between the two.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.functional.attention import scaled_dot_product_attention
from chainrule.nn import init
from chainrule.nn.checks import positive_int
from chainrule.nn.linear import Linear, cast_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.attention import attention_probs
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.shape import split

_NAME = "MultiheadAttention"


class MultiheadAttention(Module):
    """Multi-head attention (module docstring); ``forward`` returns (output, weights).

    Layouts as PyTorch: (L, N, E) inputs, or (N, L, E) with ``batch_first=True``, or an
    unbatched (L, E). Masks follow ``torch.nn.MultiheadAttention``, where a True in a
    boolean mask means "may NOT attend" (the opposite of ``scaled_dot_product_attention``):
    ``key_padding_mask`` (N, S) hides keys, ``attn_mask`` (L, S) or (N * H, L, S) hides
    query-key pairs; float masks are added to the scores. ``is_causal=True`` without an
    ``attn_mask`` applies the causal mask (PyTorch requires the mask itself as well).
    ``need_weights=True`` also returns the attention weights (after dropout, as PyTorch),
    averaged over heads unless ``average_attn_weights=False``; ``need_weights=False`` runs
    the fused attention node and returns (output, None).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, dtype: Any = np.float32) -> None:
        super().__init__()
        embed_dim = positive_int(_NAME, "embed_dim", embed_dim)
        num_heads = positive_int(_NAME, "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"{_NAME}: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads}): each head gets embed_dim / num_heads channels")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{_NAME}: dropout must be in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype))
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's: Xavier-uniform W_in, zero biases, out_proj.weight as any Linear."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def extra_config(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "num_heads": self.num_heads,
                "dropout": self.dropout, "bias": self.in_proj_bias is not None,
                "batch_first": self.batch_first, "dtype": str(self.in_proj_weight.dtype)}

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"

    # -- forward -------------------------------------------------------------------------------
    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        self_attention = query is key and key is value
        q_in, k_in, v_in, batched = self._inputs(query, key, value)
        q, k, v = self._project(q_in, k_in, v_in, self_attention)
        n, length, source = q_in.shape[0], q_in.shape[1], k_in.shape[1]
        mask = self._mask(key_padding_mask, attn_mask, is_causal, n, length, source, batched)
        p_drop = self.dropout if self.training else 0.0
        if need_weights:  # the composed path: P is a tensor of its own, returned and recorded
            allowed, additive = (mask, None) if mask is None or mask.dtype == np.bool_ \
                else (None, mask)
            s = matmul(q, k.mT) * (1.0 / math.sqrt(self.head_dim))
            weights = F.dropout(attention_probs(s, allowed, additive), p_drop, self.training)
            heads = matmul(weights, v)
            if average_attn_weights:
                weights = weights.mean(axis=1)
        else:
            heads = scaled_dot_product_attention(q, k, v, mask, p_drop)
            weights = None
        out = self.out_proj(heads.permute(0, 2, 1, 3).reshape(n, length, self.embed_dim))
        if not batched:
            return out[0], (None if weights is None else weights[0])
        return (out if self.batch_first else out.swapaxes(0, 1)), weights

    def _inputs(self, query: Any, key: Any, value: Any) -> tuple[Tensor, Tensor, Tensor, bool]:
        """query, key, value cast to the layer's dtype, checked, as (N, length, E)."""
        dtype = self.in_proj_weight.dtype
        q = cast_input(_NAME, "the query", query, dtype)
        k = q if key is query else cast_input(_NAME, "the key", key, dtype)
        v = k if value is key else cast_input(_NAME, "the value", value, dtype)
        layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
        for what, t in (("query", q), ("key", k), ("value", v)):
            if t.ndim not in (2, 3) or t.ndim != q.ndim or t.shape[-1] != self.embed_dim:
                raise ValueError(f"{_NAME}: the {what} must be {layout} or unbatched (L, E) "
                                 f"like the query, with E = embed_dim = {self.embed_dim}; got "
                                 f"{what} {t.shape} and query {q.shape}")
        batched = q.ndim == 3
        if not batched:
            q, k, v = (t.unsqueeze(0) for t in (q, k, v))
        elif not self.batch_first:
            q, k, v = (t.swapaxes(0, 1) for t in (q, k, v))
        if k.shape[:2] != v.shape[:2] or k.shape[0] != q.shape[0]:
            raise ValueError(f"{_NAME}: key and value must have the same batch and length, "
                             f"and the query the same batch; got query {q.shape}, key "
                             f"{k.shape}, value {v.shape} (as (N, length, E))")
        return q, k, v, batched

    def _project(self, q: Tensor, k: Tensor, v: Tensor, self_attention: bool
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """Q, K, V split into heads, each (N, H, length, d)."""
        w, b = self.in_proj_weight, self.in_proj_bias
        if self_attention:  # one product for all three
            projected = split(linear(q, w, b), 3, axis=-1)
        else:
            ws = split(w, 3, axis=0)
            bs = split(b, 3, axis=0) if b is not None else (None, None, None)
            projected = [linear(x, wi, bi) for x, wi, bi in zip((q, k, v), ws, bs, strict=True)]
        return tuple(t.reshape(t.shape[0], t.shape[1], self.num_heads, self.head_dim)
                     .permute(0, 2, 1, 3) for t in projected)

    def _mask(self, key_padding_mask: Any, attn_mask: Any, is_causal: bool, n: int,
              length: int, source: int, batched: bool) -> np.ndarray | None:
        """One mask for scaled_dot_product_attention, broadcasting to (N, H, L, S): bool
        (True = attend) when every given mask is bool, else float (added to the scores)."""
        masks = []
        if key_padding_mask is not None:
            shape = (n, source) if batched else (source,)
            kpm = _mask_array("key_padding_mask", key_padding_mask, shape)
            masks.append(kpm.reshape(n, 1, 1, source))
        if attn_mask is not None:
            am = _mask_array("attn_mask", attn_mask, (length, source),
                             (n * self.num_heads, length, source))
            masks.append(am if am.ndim == 2 else am.reshape(n, self.num_heads, length, source))
        elif is_causal:
            masks.append(~np.tri(length, source, dtype=bool))
        if not masks:
            return None
        if all(m.dtype == np.bool_ for m in masks):
            hidden = masks[0] if len(masks) == 1 else masks[0] | masks[1]
            return ~hidden
        dtype = self.in_proj_weight.dtype
        additive = [np.where(m, -np.inf, 0).astype(dtype) if m.dtype == np.bool_
                    else m.astype(dtype) for m in masks]
        return additive[0] if len(additive) == 1 else additive[0] + additive[1]


def _mask_array(what: str, mask: Any, *shapes: tuple[int, ...]) -> np.ndarray:
    """A mask as an array of one of the allowed ``shapes``, bool or float, else an error."""
    array = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if array.dtype.kind not in "bf":
        raise TypeError(f"{_NAME}: {what} must be bool (True = may not attend) or float "
                        f"(added to the scores), got dtype {array.dtype}")
    if array.shape not in shapes:
        expected = " or ".join(str(s) for s in shapes)
        raise ValueError(f"{_NAME}: {what} must have shape {expected}, got {array.shape}")
    return array
