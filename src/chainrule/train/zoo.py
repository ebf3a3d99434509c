"""makemore's model zoo: every model maps token ids (batch, T) to next-token logits
(batch, T, vocab_size), position t seeing only tokens 0..t.

- ``Bigram``: a table of logits, row = the current token (Markov chain of order 1).
- ``MLP`` (Bengio et al. 2003): the embeddings of the block_size previous tokens
  concatenated, a tanh hidden layer, the logits; positions before the start read a
  blank token (index vocab_size).
- ``RecurrentLM`` with makemore's cells over [x_t, h_{t-1}] concatenated:
  rnn  h_t = tanh(W [x_t, h_{t-1}] + b);
  gru  r = sigmoid(W_r [x, h]), z = sigmoid(W_z [x, h]), hbar = tanh(W_h [x, r * h]),
       h_t = (1 - z) h_{t-1} + z hbar;
  from a learned start state h_0.
- ``BoW``: a causal bag of words: token and position embeddings, x + mean of x over
  positions 0..t, + an MLP, the logits.
- ``transformer``: ``nn.GPT``; ``lstm``: ``nn.CharRNN`` with an LSTM.

Parameter names follow makemore's, so weights copy between the two by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.creation import tensor
from chainrule.nn.activation import Tanh
from chainrule.nn.container import ModuleDict, Sequential
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.recurrent import CharRNN, Embedding
from chainrule.nn.transformer import GPT
from chainrule.ops.shape import concatenate, stack

MODELS = ("bigram", "mlp", "rnn", "gru", "lstm", "bow", "transformer")
RECURRENT = ("rnn", "gru", "lstm")


def _ids(idx: Any) -> np.ndarray:
    return np.asarray(idx.data if isinstance(idx, Tensor) else idx)


class Bigram(Module):
    """logits[b, t] = table[idx[b, t]]: the next token depends on the current one only."""

    config_fields = ("vocab_size",)

    def __init__(self, vocab_size: int, dtype: Any = np.float32) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.logits = Parameter(np.zeros((vocab_size, vocab_size), dtype))

    def forward(self, idx: Any) -> Tensor:
        return self.logits[_ids(idx)]


class _ContextModel(Module):
    """A model of a fixed block size, embeddings of n_embd and a hidden layer of n_embd2."""

    config_fields = ("vocab_size", "block_size", "n_embd", "n_embd2")

    def __init__(self, vocab_size: int, block_size: int, n_embd: int = 64, n_embd2: int = 64
                 ) -> None:
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        self.n_embd, self.n_embd2 = n_embd, n_embd2


class MLP(_ContextModel):
    """Bengio's neural probabilistic language model (module docstring)."""

    def __init__(self, vocab_size: int, block_size: int, n_embd: int = 64, n_embd2: int = 64,
                 dtype: Any = np.float32) -> None:
        super().__init__(vocab_size, block_size, n_embd, n_embd2)
        self.wte = Embedding(vocab_size + 1, n_embd, dtype=dtype)  # + the blank token
        self.mlp = Sequential(Linear(block_size * n_embd, n_embd2, dtype=dtype), Tanh(),
                              Linear(n_embd2, vocab_size, dtype=dtype))

    def forward(self, idx: Any) -> Tensor:
        ids = _ids(idx)
        b, t = ids.shape
        # context[b, t, k] = the token k places before t (k = 0: t itself), blank before 0
        back = np.arange(t)[:, None] - np.arange(self.block_size)[None, :]
        context = np.where(back >= 0, ids[:, np.clip(back, 0, None)], self.vocab_size)
        emb = self.wte(context)  # (b, t, block_size, n_embd)
        return self.mlp(emb.reshape(b, t, self.block_size * self.n_embd))


class ConcatRNNCell(Module):
    """h' = tanh(W [x, h] + b)."""

    def __init__(self, n_embd: int, n_embd2: int, dtype: Any = np.float32) -> None:
        super().__init__()
        self.xh_to_h = Linear(n_embd + n_embd2, n_embd2, dtype=dtype)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return self.xh_to_h(concatenate([x, h], -1)).tanh()


class ConcatGRUCell(Module):
    """makemore's GRU (module docstring): reset gate r, update gate z, candidate hbar."""

    def __init__(self, n_embd: int, n_embd2: int, dtype: Any = np.float32) -> None:
        super().__init__()
        self.xh_to_z = Linear(n_embd + n_embd2, n_embd2, dtype=dtype)
        self.xh_to_r = Linear(n_embd + n_embd2, n_embd2, dtype=dtype)
        self.xh_to_hbar = Linear(n_embd + n_embd2, n_embd2, dtype=dtype)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        xh = concatenate([x, h], -1)
        r = self.xh_to_r(xh).sigmoid()
        hbar = self.xh_to_hbar(concatenate([x, r * h], -1)).tanh()
        z = self.xh_to_z(xh).sigmoid()
        return (1 - z) * h + z * hbar


class RecurrentLM(Module):
    """An embedding, a makemore cell unrolled over the positions from a learned start
    state, and the language-model head."""

    config_fields = ("vocab_size", "n_embd", "n_embd2", "cell")

    def __init__(self, vocab_size: int, n_embd: int = 64, n_embd2: int = 64,
                 cell: str = "rnn", dtype: Any = np.float32) -> None:
        super().__init__()
        if cell not in ("rnn", "gru"):
            raise ValueError(f"RecurrentLM: cell must be rnn or gru, got {cell!r}")
        self.vocab_size, self.n_embd, self.n_embd2, self.cell_type = (vocab_size, n_embd,
                                                                      n_embd2, cell)
        self.start = Parameter(np.zeros((1, n_embd2), dtype))
        self.wte = Embedding(vocab_size, n_embd, dtype=dtype)
        kind = ConcatRNNCell if cell == "rnn" else ConcatGRUCell
        self.cell = kind(n_embd, n_embd2, dtype)
        self.lm_head = Linear(n_embd2, vocab_size, dtype=dtype)

    def extra_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "n_embd": self.n_embd, "n_embd2": self.n_embd2,
                "cell": self.cell_type}

    def forward(self, idx: Any) -> Tensor:
        ids = _ids(idx)
        emb = self.wte(ids)
        h = self.start.expand(ids.shape[0], -1)
        hiddens = []
        for t in range(ids.shape[1]):
            h = self.cell(emb[:, t, :], h)
            hiddens.append(h)
        return self.lm_head(stack(hiddens, 1))


class CausalBoW(Module):
    """y_t = mean(x_0, ..., x_t): attention with fixed, uniform weights over the past."""

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[1]
        weights = np.tril(np.ones((t, t), x.dtype))
        weights /= weights.sum(1, keepdims=True)
        return tensor(weights) @ x


class BoWBlock(Module):
    """x + cbow(x), then + c_proj(tanh(c_fc(x)))."""

    def __init__(self, n_embd: int, n_embd2: int, dtype: Any = np.float32) -> None:
        super().__init__()
        self.cbow = CausalBoW()
        self.mlp = ModuleDict({"c_fc": Linear(n_embd, n_embd2, dtype=dtype),
                               "c_proj": Linear(n_embd2, n_embd, dtype=dtype)})

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.cbow(x)
        return x + self.mlp["c_proj"](self.mlp["c_fc"](x).tanh())


class BoW(_ContextModel):
    """Token + position embeddings, one BoWBlock, the language-model head."""

    def __init__(self, vocab_size: int, block_size: int, n_embd: int = 64, n_embd2: int = 64,
                 dtype: Any = np.float32) -> None:
        super().__init__(vocab_size, block_size, n_embd, n_embd2)
        self.wte = Embedding(vocab_size, n_embd, dtype=dtype)
        self.wpe = Embedding(block_size, n_embd, dtype=dtype)
        self.context_block = BoWBlock(n_embd, n_embd2, dtype)
        self.lm_head = Linear(n_embd, vocab_size, dtype=dtype)

    def forward(self, idx: Any) -> Tensor:
        ids = _ids(idx)
        x = self.wte(ids) + self.wpe(np.arange(ids.shape[1]))
        return self.lm_head(self.context_block(x))


def make_model(kind: str, vocab_size: int, block_size: int, n_layer: int = 4, n_head: int = 4,
               n_embd: int = 64, n_embd2: int = 64) -> Module:
    """The zoo's model ``kind`` (one of MODELS) for a vocabulary and a block size."""
    if kind == "bigram":
        return Bigram(vocab_size)
    if kind == "mlp":
        return MLP(vocab_size, block_size, n_embd, n_embd2)
    if kind in ("rnn", "gru"):
        return RecurrentLM(vocab_size, n_embd, n_embd2, kind)
    if kind == "lstm":
        return CharRNN(vocab_size, n_embd, n_embd2, n_layer, "lstm")
    if kind == "bow":
        return BoW(vocab_size, block_size, n_embd, n_embd2)
    if kind == "transformer":
        return GPT(vocab_size, block_size, n_layer, n_head, n_embd)
    raise ValueError(f"--model must be one of {', '.join(MODELS)}, got {kind!r}")


def logits_of(model: Module, idx: Any) -> Tensor:
    """The logits (batch, T, vocab) of any zoo model (CharRNN also returns its state)."""
    out = model(idx)
    return out[0] if isinstance(out, tuple) else out
