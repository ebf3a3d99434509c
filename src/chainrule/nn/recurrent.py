"""Recurrent layers trained by backpropagation through time (BPTT).

A recurrent layer applies the same cell at every time step, carrying a state:

    h_t = f(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)

Unrolled over a sequence this is an ordinary (deep) computational graph in which
the weights are shared by every step, so backpropagation through it is the chain
rule again: the gradient of a shared weight is the sum of its per-step
contributions, dL/dW_hh = sum_t delta_t^T h_{t-1}, with the error delta_t flowing
back through time via delta_{t-1} += (delta_t * f'(.)) W_hh.

Names, shapes and gate order follow PyTorch (weight_ih_l0, weight_hh_l0,
bias_ih_l0, bias_hh_l0, ...; LSTM gates i, f, g, o; GRU gates r, z, n), so
weights move between the two libraries through safetensors. Inputs are batch
first: (batch, time, features).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.nn import init
from chainrule.nn.checks import positive_int
from chainrule.nn.linear import Linear, cast_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.linalg import linear
from chainrule.ops.recurrent import (
    FusedGRU,
    FusedLSTM,
    FusedRNN,
    gru_step,
    lstm_step,
    rnn_step,
)
from chainrule.ops.shape import stack

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _check_state(owner: str, what: str, value: Any, shape: tuple[int, ...], layout: str,
                 dtype: np.dtype) -> Tensor:
    """A given state as a Tensor of ``dtype`` and exactly ``shape``, else a clear error."""
    state = cast_input(owner, what, value, dtype)
    if state.shape != shape:
        raise ValueError(f"{owner}: {what} must have shape {shape} {layout}, got "
                         f"{state.shape}")
    return state


def _not_a_pair(value: Any) -> str:
    """What was given where a pair of states was expected: 'a tuple of 1', 'a single ...'."""
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a single {type(value).__name__}"


def _uniform_init(module: Module, hidden_size: int) -> None:
    """PyTorch's recurrent init: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


# -- cells: one time step, the user loops -----------------------------------------------------


class _CellBase(Module):
    kind = "RNN"
    config_fields = ("input_size", "hidden_size", "bias")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        name = type(self).__name__
        input_size = positive_int(name, "input_size", input_size)
        hidden_size = positive_int(name, "hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        g = _GATES[self.kind] * hidden_size
        self.weight_ih = Parameter(np.empty((g, input_size), dtype))
        self.weight_hh = Parameter(np.empty((g, hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(g, dtype))
            self.bias_hh = Parameter(np.empty(g, dtype))
        else:
            self.bias_ih = self.bias_hh = None
        _uniform_init(self, hidden_size)

    def _zeros(self, x: Tensor) -> Tensor:
        return Tensor.constant(np.zeros((x.shape[0], self.hidden_size), x.dtype))

    def _check(self, x: Any) -> Tensor:
        """The input as a Tensor of the cell's dtype (cast as Linear casts its input)."""
        x = cast_input(type(self).__name__, "the input", x, self.weight_ih.dtype)
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: expected input of shape (batch, "
                             f"{self.input_size}), got {x.shape}")
        return x

    def _state(self, x: Tensor, value: Any, name: str) -> Tensor:
        """A given state h or c, checked to be (batch, hidden) and in the cell's dtype."""
        return _check_state(type(self).__name__, f"the state {name}", value,
                            (x.shape[0], self.hidden_size), "(batch, hidden)",
                            self.weight_ih.dtype)

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "dtype": str(self.weight_ih.dtype)}

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    config_fields = ("input_size", "hidden_size", "bias", "nonlinearity")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: Any = np.float32) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        x = self._check(x)
        h = self._zeros(x) if h is None else self._state(x, h, "h")
        xp = linear(x, self.weight_ih, self.bias_ih)
        return rnn_step(xp, h, self.weight_hh, self.bias_hh, self.nonlinearity == "relu")


class LSTMCell(_CellBase):
    """One LSTM step; returns (h', c'). Gates i, f, g, o in PyTorch's order."""

    kind = "LSTM"

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:
        x = self._check(x)
        if state is None:
            h, c = self._zeros(x), self._zeros(x)
        elif not isinstance(state, tuple | list) or len(state) != 2:
            raise ValueError(f"LSTMCell: the LSTM state is the pair (h, c), each of shape "
                             f"(batch, {self.hidden_size}); got {_not_a_pair(state)}")
        else:
            h, c = self._state(x, state[0], "h"), self._state(x, state[1], "c")
        xp = linear(x, self.weight_ih, self.bias_ih)
        return lstm_step(xp, h, c, self.weight_hh, self.bias_hh)


class GRUCell(_CellBase):
    """One GRU step; gates r, z, n in PyTorch's order."""

    kind = "GRU"

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        x = self._check(x)
        h = self._zeros(x) if h is None else self._state(x, h, "h")
        xp = linear(x, self.weight_ih, self.bias_ih)
        return gru_step(xp, h, self.weight_hh, self.bias_hh)


# -- layers: whole sequences ------------------------------------------------------------------


class _RecurrentBase(Module):
    """A stack of ``num_layers`` recurrent layers over (batch, time, features) inputs.

    ``forward(x, state=None, truncate=None)`` returns ``(output, state)``: output is
    (batch, time, hidden), the last layer's h_t at every step; state is h_n of shape
    (num_layers, batch, hidden) (for LSTM the pair (h_n, c_n)). ``truncate=k``
    detaches the carried state every k steps (truncated BPTT): gradients flow
    back at most k steps, while the forward values are unchanged.

    Each layer runs as one fused graph node (``chainrule.ops.recurrent``) whose
    backward is BPTT written out in numpy; set ``layer.fused = False`` to unroll
    the sequence into ordinary ops instead (same values and gradients, slower).
    """

    kind = "RNN"
    config_fields = ("input_size", "hidden_size", "num_layers", "bias", "nonlinearity")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, nonlinearity: str = "tanh", batch_first: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        name = type(self).__name__
        input_size = positive_int(name, "input_size", input_size)
        hidden_size = positive_int(name, "hidden_size", hidden_size)
        num_layers = positive_int(name, "num_layers", num_layers)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{type(self).__name__}: nonlinearity must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        if not batch_first:
            raise ValueError(f"{type(self).__name__}: only batch_first=True inputs (batch, "
                             f"time, features) are supported; transpose time-major data "
                             f"with x.permute(1, 0, 2)")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bias, self.nonlinearity = num_layers, bias, nonlinearity
        # one fused graph node per layer (fast); False unrolls ordinary ops step by step
        self.fused = True
        g = _GATES[self.kind] * hidden_size
        for k in range(num_layers):
            n_in = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", Parameter(np.empty((g, n_in), dtype)))
            setattr(self, f"weight_hh_l{k}", Parameter(np.empty((g, hidden_size), dtype)))
            if bias:
                setattr(self, f"bias_ih_l{k}", Parameter(np.empty(g, dtype)))
                setattr(self, f"bias_hh_l{k}", Parameter(np.empty(g, dtype)))
        _uniform_init(self, hidden_size)

    def layer_weights(self, k: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """(W_ih, W_hh, b_ih, b_hh) of layer k."""
        get = self._parameters.get
        return (get(f"weight_ih_l{k}"), get(f"weight_hh_l{k}"), get(f"bias_ih_l{k}"),
                get(f"bias_hh_l{k}"))

    def _check(self, x: Any) -> Tensor:
        """The input as a Tensor of the layer's dtype (cast as Linear casts its input)."""
        x = cast_input(type(self).__name__, "the input", x, self.weight_ih_l0.dtype)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"{type(self).__name__}: expected input of shape (batch, time, "
                             f"{self.input_size}), got {x.shape}")
        if x.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}: the sequence is empty (input shape "
                             f"{x.shape} has time axis 0); expected at least one step, "
                             f"(batch, time >= 1, {self.input_size})")
        return x

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "dtype": str(self.weight_ih_l0.dtype)}

    def _initial(self, x: Tensor, state: Any, name: str) -> list[Tensor]:
        """The initial state per layer, zeros when not given."""
        b = x.shape[0]
        shape = (self.num_layers, b, self.hidden_size)
        if state is None:
            zero = Tensor.constant(np.zeros((b, self.hidden_size), x.dtype))
            return [zero] * self.num_layers
        state = _check_state(type(self).__name__, f"the initial {name}", state, shape,
                             "(num_layers, batch, hidden)", x.dtype)
        return [state[k] for k in range(self.num_layers)]

    def _node(self, truncate: int | None) -> Any:
        """The fused graph node of one layer (its ``generic`` method is the unrolled path)."""
        raise NotImplementedError

    def _run_layer(self, k: int, inputs: Tensor, states: tuple, truncate: int | None
                   ) -> tuple[Tensor, tuple]:
        w_ih, w_hh, b_ih, b_hh = self.layer_weights(k)
        args = (inputs, *states, w_ih, w_hh) + ((b_ih, b_hh) if self.bias else ())
        node = self._node(truncate)
        outs = node(*args) if self.fused else node.generic(*args)
        return outs[0], tuple(outs[1:])

    def forward(self, x: Any, state: Any = None, truncate: int | None = None) -> tuple:
        if truncate is not None:
            truncate = positive_int(type(self).__name__, "truncate", truncate,
                                     " (detach the carried state every k steps) or None")
        x = self._check(x)
        states = self._initial_states(x, state)
        layer_input = x
        finals = []
        for k in range(self.num_layers):
            layer_input, final = self._run_layer(k, layer_input, states[k], truncate)
            finals.append(final)
        return layer_input, self._pack(finals)

    def _initial_states(self, x: Tensor, state: Any) -> list[tuple]:
        return [(h,) for h in self._initial(x, state, "h")]

    def _pack(self, finals: list[tuple]) -> Any:
        return stack([f[0] for f in finals], axis=0)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
                + (f", nonlinearity={self.nonlinearity!r}" if self.kind == "RNN" else ""))


class RNN(_RecurrentBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def _node(self, truncate: int | None) -> Any:
        return FusedRNN(truncate, self.bias, self.nonlinearity == "relu")


class LSTM(_RecurrentBase):
    """Long short-term memory; ``state`` is the pair (h_0, c_0) and the final state (h_n, c_n)."""

    kind = "LSTM"
    config_fields = ("input_size", "hidden_size", "num_layers", "bias")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dtype: Any = np.float32) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, "tanh", batch_first, dtype)

    def _initial_states(self, x: Tensor, state: Any) -> list[tuple]:
        if state is None:
            hs = cs = self._initial(x, None, "h")
        else:
            if not isinstance(state, tuple | list) or len(state) != 2:
                raise ValueError(f"LSTM: the initial state is the pair (h_0, c_0), each of "
                                 f"shape (num_layers, batch, hidden); got {_not_a_pair(state)}")
            hs, cs = self._initial(x, state[0], "h"), self._initial(x, state[1], "c")
        return list(zip(hs, cs, strict=True))

    def _pack(self, finals: list[tuple]) -> Any:
        return stack([f[0] for f in finals], axis=0), stack([f[1] for f in finals], axis=0)

    def _node(self, truncate: int | None) -> Any:
        return FusedLSTM(truncate, self.bias)


class GRU(_RecurrentBase):
    """Gated recurrent unit (gates r, z, n)."""

    kind = "GRU"
    config_fields = ("input_size", "hidden_size", "num_layers", "bias")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dtype: Any = np.float32) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, "tanh", batch_first, dtype)

    def _node(self, truncate: int | None) -> Any:
        return FusedGRU(truncate, self.bias)


class Embedding(Module):
    """A lookup table: row i of ``weight`` (num_embeddings, embedding_dim) for index i.

    The gradient of a row is the sum of the upstream gradients of every position
    that looked it up (repeated indices accumulate).
    """

    config_fields = ("num_embeddings", "embedding_dim")

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype: Any = np.float32) -> None:
        super().__init__()
        num_embeddings = positive_int("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = positive_int("Embedding", "embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype))
        init.normal_(self.weight)

    def forward(self, indices: Any) -> Tensor:
        idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            bad = idx[(idx < 0) | (idx >= self.num_embeddings)].flat[0]
            raise IndexError(f"Embedding: index {bad} is out of range for "
                             f"{self.num_embeddings} embeddings")
        return self.weight[idx]

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "dtype": str(self.weight.dtype)}

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


class CharRNN(Module):
    """Embedding -> recurrent layers -> Linear: next-token logits at every step (a
    character-level language model when the tokens are characters)."""

    config_fields = ("vocab_size", "embedding_dim", "hidden_size", "num_layers", "cell")

    def __init__(self, vocab_size: int, embedding_dim: int = 32, hidden_size: int = 128,
                 num_layers: int = 1, cell: str = "lstm", dtype: Any = np.float32) -> None:
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"CharRNN: cell must be one of {', '.join(_CELLS)}, got {cell!r}")
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.hidden_size, self.num_layers, self.cell = hidden_size, num_layers, cell
        self.embed = Embedding(vocab_size, embedding_dim, dtype=dtype)
        self.rnn = _CELLS[cell](embedding_dim, hidden_size, num_layers, dtype=dtype)
        self.head = Linear(hidden_size, vocab_size, dtype=dtype)

    def extra_config(self) -> dict[str, Any]:
        # the dtype of the weights now (after any .to()/.double()), so load rebuilds it
        return {**super().extra_config(), "dtype": str(self.head.weight.dtype)}

    def forward(self, ids: Any, state: Any = None) -> tuple[Tensor, Any]:
        out, state = self.rnn(self.embed(ids), state)
        return self.head(out), state
