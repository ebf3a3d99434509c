"""The zoo of ``chainrule.train.zoo`` written in PyTorch, for benchmarks/makemore.py.

Each model is built after makemore's architecture and carries the parameter names of its
chainrule twin, so ``load_state_dict`` of chainrule's initial weights (as tensors) gives
the same function; tests/test_benchmarks_makemore.py checks that the two forwards agree
in float64. Only the benchmark and its test import this module (it imports torch).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class Bigram(nn.Module):
    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.logits[idx]


class MLP(nn.Module):
    """The embeddings of tokens t, t-1, ..., t-block_size+1 side by side (a blank token,
    index vocab_size, before the start), a tanh layer, the logits."""

    def __init__(self, vocab_size: int, block_size: int, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        self.wte = nn.Embedding(vocab_size + 1, n_embd)
        self.mlp = nn.Sequential(nn.Linear(block_size * n_embd, n_embd2), nn.Tanh(),
                                 nn.Linear(n_embd2, vocab_size))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        b, t = idx.shape
        # left-pad with blanks, then window k of position t is token t - k
        padded = F.pad(idx, (self.block_size - 1, 0), value=self.vocab_size)
        windows = padded.unfold(1, self.block_size, 1).flip(-1)  # (b, t, block_size)
        return self.mlp(self.wte(windows).reshape(b, t, -1))


class RNNCell(nn.Module):
    def __init__(self, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.xh_to_h = nn.Linear(n_embd + n_embd2, n_embd2)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.xh_to_h(torch.cat([x, h], 1)))


class GRUCell(nn.Module):
    def __init__(self, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        for gate in ("z", "r", "hbar"):
            setattr(self, f"xh_to_{gate}", nn.Linear(n_embd + n_embd2, n_embd2))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([x, h], 1)
        r = torch.sigmoid(self.xh_to_r(xh))
        hbar = torch.tanh(self.xh_to_hbar(torch.cat([x, r * h], 1)))
        z = torch.sigmoid(self.xh_to_z(xh))
        return (1 - z) * h + z * hbar


class RNN(nn.Module):
    """An embedding, a cell stepped over the positions from a learned start state, a head."""

    def __init__(self, vocab_size: int, n_embd: int, n_embd2: int, cell: str) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, n_embd2))
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.cell = (RNNCell if cell == "rnn" else GRUCell)(n_embd, n_embd2)
        self.lm_head = nn.Linear(n_embd2, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        emb = self.wte(idx)
        h = self.start.expand(idx.shape[0], -1)
        hiddens = []
        for t in range(idx.shape[1]):
            h = self.cell(emb[:, t], h)
            hiddens.append(h)
        return self.lm_head(torch.stack(hiddens, 1))


class LSTM(nn.Module):
    """chainrule's CharRNN: Embedding, torch.nn.LSTM (same names and gate order), Linear."""

    def __init__(self, vocab_size: int, n_embd: int, n_embd2: int, n_layer: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, n_embd)
        self.rnn = nn.LSTM(n_embd, n_embd2, n_layer, batch_first=True)
        self.head = nn.Linear(n_embd2, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.embed(idx))[0])


class BoWBlock(nn.Module):
    def __init__(self, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(n_embd, n_embd2),
                                  "c_proj": nn.Linear(n_embd2, n_embd)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        causal = torch.tril(torch.ones(t, t, dtype=x.dtype))
        x = x + (causal / causal.sum(1, keepdim=True)) @ x  # the mean over positions 0..t
        return x + self.mlp["c_proj"](torch.tanh(self.mlp["c_fc"](x)))


class BoW(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.context_block = BoWBlock(n_embd, n_embd2)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        return self.lm_head(self.context_block(x))


class CausalSelfAttention(nn.Module):
    """One projection to queries, keys and values of every head, PyTorch's fused causal
    attention, the output projection; named as torch.nn.MultiheadAttention's parameters."""

    def __init__(self, n_embd: int, n_head: int, bias: bool) -> None:
        super().__init__()
        self.n_head = n_head
        self.in_proj_weight = nn.Parameter(torch.empty(3 * n_embd, n_embd))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * n_embd)) if bias else None
        self.out_proj = nn.Linear(n_embd, n_embd, bias)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        heads = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        heads = heads.view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(heads[0], heads[1], heads[2], is_causal=True)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c))


def _norm(kind: str, n_embd: int, bias: bool) -> nn.Module:
    return nn.RMSNorm(n_embd) if kind == "rmsnorm" else nn.LayerNorm(n_embd, bias=bias)


ACTIVATIONS = {"gelu": lambda: nn.GELU(), "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
               "relu": lambda: nn.ReLU(), "silu": lambda: nn.SiLU()}


class Block(nn.Module):
    """x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, n_embd: int, n_head: int, bias: bool, norm: str, activation: str
                 ) -> None:
        super().__init__()
        self.ln_1 = _norm(norm, n_embd, bias)
        self.attn = CausalSelfAttention(n_embd, n_head, bias)
        self.ln_2 = _norm(norm, n_embd, bias)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd, bias), ACTIVATIONS[activation](),
                                 nn.Linear(4 * n_embd, n_embd, bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int,
                 n_embd: int, bias: bool = True, norm: str = "layernorm",
                 activation: str = "gelu_tanh") -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*(Block(n_embd, n_head, bias, norm, activation)
                                      for _ in range(n_layer)))
        self.ln_f = _norm(norm, n_embd, bias)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        return self.lm_head(self.ln_f(self.blocks(x)))


def make_model(kind: str, vocab_size: int, block_size: int, n_layer: int = 4, n_head: int = 4,
               n_embd: int = 64, n_embd2: int = 64, **gpt: Any) -> nn.Module:
    """The PyTorch twin of ``chainrule.train.zoo.make_model(kind, ...)``; ``gpt`` holds
    the Transformer's bias, norm and activation options."""
    if kind == "bigram":
        return Bigram(vocab_size)
    if kind == "mlp":
        return MLP(vocab_size, block_size, n_embd, n_embd2)
    if kind in ("rnn", "gru"):
        return RNN(vocab_size, n_embd, n_embd2, kind)
    if kind == "lstm":
        return LSTM(vocab_size, n_embd, n_embd2, n_layer)
    if kind == "bow":
        return BoW(vocab_size, block_size, n_embd, n_embd2)
    if kind == "transformer":
        return GPT(vocab_size, block_size, n_layer, n_head, n_embd, **gpt)
    raise ValueError(f"no PyTorch model {kind!r}")
