"""A decoder-only Transformer (GPT) for next-token prediction, as makemore builds it.

One pre-norm block, for x of shape (batch, T, n_embd):

    x = x + attention(norm_1(x))   causal self-attention: token t sees tokens 0..t
    x = x + mlp(norm_2(x))         Linear(n_embd, 4 n_embd), activation, Linear back

and the model: x_0 = wte[token] + wpe[position], n_layer blocks, a final norm and the
language-model head, logits = norm_f(x) W_head^T (W_head may be tied to wte). The
residual sums are why gradients reach the first block undiminished: d(x + f(x))/dx =
I + f'(x). The configuration names (n_layer, n_head, n_embd, block_size, vocab_size)
are makemore's and nanoGPT's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.nn.activation import GELU, ReLU, SiLU
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.checks import positive_int
from chainrule.nn.container import Sequential
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.normalization import LayerNorm, RMSNorm
from chainrule.nn.recurrent import Embedding

_ACTIVATIONS = {"gelu": lambda: GELU(), "gelu_tanh": lambda: GELU("tanh"),
                "relu": lambda: ReLU(), "silu": lambda: SiLU()}
_NORMS = ("layernorm", "rmsnorm")


def _check_config(owner: str, n_embd: int, n_head: int, norm: str, activation: str,
                  dropout: float) -> None:
    n_embd, n_head = positive_int(owner, "n_embd", n_embd), positive_int(owner, "n_head", n_head)
    if n_embd % n_head:
        raise ValueError(f"{owner}: n_embd ({n_embd}) must be divisible by n_head ({n_head}): "
                         f"each head gets n_embd / n_head channels")
    if norm not in _NORMS:
        raise ValueError(f"{owner}: norm must be one of {', '.join(_NORMS)}, got {norm!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{owner}: activation must be one of {', '.join(_ACTIVATIONS)}, got "
                         f"{activation!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{owner}: dropout must be in [0, 1), got {dropout}")


def _norm(kind: str, n_embd: int, bias: bool, dtype: Any) -> Module:
    if kind == "rmsnorm":
        return RMSNorm(n_embd, dtype=dtype)
    return LayerNorm(n_embd, bias=bias, dtype=dtype)


class TransformerBlock(Module):
    """x + attn(norm_1(x)), then + mlp(norm_2(x)): one pre-norm block (module docstring).

    ``forward(x)`` takes (batch, T, n_embd); attention is causal. ``norm`` is
    "layernorm" or "rmsnorm", ``activation`` one of "gelu", "gelu_tanh" (makemore's),
    "relu", "silu"; ``dropout`` is applied to the attention weights and each residual branch.
    """

    config_fields = ("n_embd", "n_head", "dropout", "bias", "norm", "activation")

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True,
                 norm: str = "layernorm", activation: str = "gelu_tanh",
                 dtype: Any = np.float32) -> None:
        super().__init__()
        _check_config("TransformerBlock", n_embd, n_head, norm, activation, dropout)
        self.n_embd, self.n_head, self.dropout = int(n_embd), int(n_head), float(dropout)
        self.bias, self.norm, self.activation = bool(bias), norm, activation
        self.ln_1 = _norm(norm, n_embd, bias, dtype)
        self.attn = MultiheadAttention(n_embd, n_head, dropout, bias, batch_first=True,
                                       dtype=dtype)
        self.ln_2 = _norm(norm, n_embd, bias, dtype)
        self.mlp = Sequential(Linear(n_embd, 4 * n_embd, bias, dtype),
                              _ACTIVATIONS[activation](),
                              Linear(4 * n_embd, n_embd, bias, dtype))

    def forward(self, x: Tensor) -> Tensor:
        h = self.ln_1(x)
        a, _ = self.attn(h, h, h, need_weights=False, is_causal=True)
        x = x + F.dropout(a, self.dropout, self.training)
        return x + F.dropout(self.mlp(self.ln_2(x)), self.dropout, self.training)

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "dtype": str(self.attn.in_proj_weight.dtype)}

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}"


class GPT(Module):
    """Token and position embeddings, ``n_layer`` TransformerBlocks, a final norm and the
    language-model head: ``forward(idx)`` maps token ids (batch, T), T <= block_size, to
    next-token logits (batch, T, vocab_size). ``tie_weights=True`` makes the head share
    the token embedding's matrix. Defaults are makemore's Transformer (4 layers, 4 heads,
    64 channels); parameters are initialized as PyTorch's layers are.
    """

    config_fields = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout",
                     "bias", "tie_weights", "norm", "activation")

    def __init__(self, vocab_size: int, block_size: int, n_layer: int = 4, n_head: int = 4,
                 n_embd: int = 64, dropout: float = 0.0, bias: bool = True,
                 tie_weights: bool = False, norm: str = "layernorm",
                 activation: str = "gelu_tanh", dtype: Any = np.float32) -> None:
        super().__init__()
        _check_config("GPT", n_embd, n_head, norm, activation, dropout)
        self.vocab_size = positive_int("GPT", "vocab_size", vocab_size)
        self.block_size = positive_int("GPT", "block_size", block_size)
        self.n_layer = positive_int("GPT", "n_layer", n_layer)
        self.n_head, self.n_embd, self.dropout = int(n_head), int(n_embd), float(dropout)
        self.bias, self.tie_weights = bool(bias), bool(tie_weights)
        self.norm, self.activation = norm, activation
        self.wte = Embedding(vocab_size, n_embd, dtype=dtype)
        self.wpe = Embedding(block_size, n_embd, dtype=dtype)
        self.blocks = Sequential(*(TransformerBlock(n_embd, n_head, dropout, bias, norm,
                                                    activation, dtype) for _ in range(n_layer)))
        self.ln_f = _norm(norm, n_embd, bias, dtype)
        self.lm_head = Linear(n_embd, vocab_size, bias=False, dtype=dtype)
        if tie_weights:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx: Any) -> Tensor:
        ids = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if ids.ndim != 2:
            raise ValueError(f"GPT: expected token ids of shape (batch, T), got shape "
                             f"{ids.shape}")
        t = ids.shape[1]
        if not 0 < t <= self.block_size:
            raise ValueError(f"GPT: the sequence has {t} tokens but the model's block_size is "
                             f"{self.block_size}; feed at most the last {self.block_size}")
        x = self.wte(ids) + self.wpe(np.arange(t))
        x = F.dropout(x, self.dropout, self.training)
        return self.lm_head(self.ln_f(self.blocks(x)))

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "dtype": str(self.wte.weight.dtype)}

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, block_size={self.block_size}, "
                f"n_layer={self.n_layer}, n_head={self.n_head}, n_embd={self.n_embd}")
