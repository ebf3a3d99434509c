"""The tensors an architecture (``chainrule.nn.serialization.architecture``) asks for, from
its JSON alone: the names, shapes and dtypes of the state dict each built-in layer would
build, computed without building it.

``load`` compares them with a file's tensor table before constructing anything, so a
small file whose architecture asks for ``Linear(10**5, 10**5)`` (37 GiB) or an LSTM of
10**7 layers is refused in microseconds instead of allocating first and comparing after.
The predictions are lazy: the comparison stops at the first tensor the file lacks.

A layer type without a prediction here (one registered with ``register_module``) is
built before its tensors are compared (its class is the user's own code, trusted like
any other); its integer arguments are only bounded by ``MAX_ELEMENTS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.safetensors import MAX_ELEMENTS, ModelFileError, TensorInfo

Expected = Iterator[tuple[str, tuple[int, ...], np.dtype]]
_FLOATS = ("float16", "float32", "float64")
_INT64 = np.dtype(np.int64)


class _Config:
    """A layer's JSON config, read with its constructor's defaults and checked types."""

    def __init__(self, kind: str, config: dict[str, Any]) -> None:
        self.kind, self.config = kind, config

    def size(self, key: str, default: int | None = None) -> int:
        value = self.config.get(key, default)
        if type(value) is not int or not 1 <= value <= MAX_ELEMENTS:
            raise ModelFileError(f"{self.kind}: {key} must be an integer from 1 to "
                                 f"{MAX_ELEMENTS} (MAX_ELEMENTS), got {value!r}")
        return value

    def flag(self, key: str, default: bool = True) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            raise ModelFileError(f"{self.kind}: {key} must be true or false, got {value!r}")
        return value

    def sizes(self, key: str, n: int) -> tuple[int, ...]:
        value = self.config.get(key)
        values = [value] * n if type(value) is int else value
        if not isinstance(values, list) or len(values) != n:
            raise ModelFileError(f"{self.kind}: {key} must be an integer or a list of {n}, got "
                                 f"{value!r}")
        return tuple(self.size_of(key, v) for v in values)

    def size_of(self, key: str, value: Any) -> int:
        return _Config(self.kind, {key: value}).size(key)

    def dtype(self) -> np.dtype:
        value = self.config.get("dtype", "float32")
        if value not in _FLOATS:
            raise ModelFileError(f"{self.kind}: dtype must be one of {', '.join(_FLOATS)}, "
                                 f"got {value!r}")
        return np.dtype(value)


def _affine(c: _Config, weight: str, bias: str, has_bias: bool = True) -> Expected:
    """Linear-like: weight (out, in) and bias (out,)."""
    n_in, n_out, dtype = c.size("in_features"), c.size("out_features"), c.dtype()
    yield weight, (n_out, n_in), dtype
    if has_bias:
        yield bias, (n_out,), dtype


def _linear(c: _Config) -> Expected:
    return _affine(c, "weight", "bias", c.flag("bias"))


def _rbf(c: _Config) -> Expected:
    return _affine(c, "centres", "log_sigma")


def _embedding(c: _Config, prefix: str = "") -> Expected:
    yield (f"{prefix}weight", (c.size("num_embeddings"), c.size("embedding_dim")),
           c.dtype())


def _batchnorm(c: _Config) -> Expected:
    n, dtype = c.size("num_features"), c.dtype()
    if c.flag("affine"):
        yield from (("weight", (n,), dtype), ("bias", (n,), dtype))
    if c.flag("track_running_stats"):
        yield from (("running_mean", (n,), dtype), ("running_var", (n,), dtype),
                    ("num_batches_tracked", (), _INT64))


def _conv(n: int, transposed: bool) -> Callable[[_Config], Expected]:
    def expected(c: _Config) -> Expected:
        n_in, n_out, dtype = c.size("in_channels"), c.size("out_channels"), c.dtype()
        groups, kernel = c.size("groups", 1), c.sizes("kernel_size", n)
        yield ("weight", ((n_in, n_out // groups) if transposed else (n_out, n_in // groups))
               + kernel, dtype)
        if c.flag("bias"):
            yield "bias", (n_out,), dtype
    return expected


_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _recurrent(gates: int, cell: bool) -> Callable[[_Config], Expected]:
    def expected(c: _Config, prefix: str = "") -> Expected:
        n_in, hidden, dtype = c.size("input_size"), c.size("hidden_size"), c.dtype()
        layers = 1 if cell else c.size("num_layers", 1)
        bias = c.flag("bias")
        for k in range(layers):
            suffix = "" if cell else f"_l{k}"
            yield f"{prefix}weight_ih{suffix}", (gates * hidden, n_in if k == 0 else hidden), \
                dtype
            yield f"{prefix}weight_hh{suffix}", (gates * hidden, hidden), dtype
            if bias:
                yield f"{prefix}bias_ih{suffix}", (gates * hidden,), dtype
                yield f"{prefix}bias_hh{suffix}", (gates * hidden,), dtype
    return expected


def _char_rnn(c: _Config) -> Expected:
    vocab, embedding = c.size("vocab_size"), c.size("embedding_dim", 32)
    hidden, dtype = c.size("hidden_size", 128), c.dtype()
    cell = c.config.get("cell", "lstm")
    if cell not in ("lstm", "gru", "rnn"):
        raise ModelFileError(f"CharRNN: cell must be one of lstm, gru, rnn, got {cell!r}")
    yield from _embedding(_Config("CharRNN", {"num_embeddings": vocab,
                                              "embedding_dim": embedding,
                                              "dtype": str(dtype)}), "embed.")
    rnn = {"input_size": embedding, "hidden_size": hidden, "dtype": str(dtype),
           "num_layers": c.size("num_layers", 1)}
    yield from _recurrent(_GATES[cell.upper()], False)(_Config("CharRNN", rnn), "rnn.")
    yield "head.weight", (vocab, hidden), dtype
    yield "head.bias", (vocab,), dtype


def _nothing(c: _Config) -> Expected:
    return iter(())


def _norm(c: _Config, prefix: str = "", centered: bool | None = None) -> Expected:
    """LayerNorm / RMSNorm: weight (and LayerNorm's bias) of the normalized shape."""
    shape = c.config.get("normalized_shape")
    shape = [shape] if type(shape) is int else shape
    if not isinstance(shape, list) or not 1 <= len(shape) <= 8:
        raise ModelFileError(f"{c.kind}: normalized_shape must be an integer or a list of at "
                             f"most 8, got {shape!r}")
    dims, dtype = tuple(c.size_of("normalized_shape", n) for n in shape), c.dtype()
    if c.flag("elementwise_affine"):
        yield f"{prefix}weight", dims, dtype
        if (c.kind == "LayerNorm" if centered is None else centered) and c.flag("bias"):
            yield f"{prefix}bias", dims, dtype


def _attention(c: _Config, prefix: str = "", e: int | None = None,
               bias: bool | None = None) -> Expected:
    e = c.size("embed_dim") if e is None else e
    bias = c.flag("bias") if bias is None else bias
    dtype = c.dtype()
    yield f"{prefix}in_proj_weight", (3 * e, e), dtype
    if bias:
        yield f"{prefix}in_proj_bias", (3 * e,), dtype
    yield f"{prefix}out_proj.weight", (e, e), dtype
    if bias:
        yield f"{prefix}out_proj.bias", (e,), dtype


def _block(c: _Config, prefix: str = "") -> Expected:
    """A TransformerBlock: two norms, the attention and the 4x MLP."""
    e, bias, dtype = c.size("n_embd"), c.flag("bias"), c.dtype()
    centered = c.config.get("norm", "layernorm") == "layernorm"
    affine = _Config(c.kind, {"normalized_shape": e, "bias": bias, "dtype": str(dtype)})
    yield from _norm(affine, f"{prefix}ln_1.", centered)
    yield from _attention(c, f"{prefix}attn.", e, bias)
    yield from _norm(affine, f"{prefix}ln_2.", centered)
    for name, (n_out, n_in) in (("mlp.0", (4 * e, e)), ("mlp.2", (e, 4 * e))):
        yield f"{prefix}{name}.weight", (n_out, n_in), dtype
        if bias:
            yield f"{prefix}{name}.bias", (n_out,), dtype


def _gpt(c: _Config) -> Expected:
    vocab, block, e, dtype = c.size("vocab_size"), c.size("block_size"), c.size("n_embd"), \
        c.dtype()
    yield "wte.weight", (vocab, e), dtype
    yield "wpe.weight", (block, e), dtype
    for i in range(c.size("n_layer", 4)):
        yield from _block(c, f"blocks.{i}.")
    centered = c.config.get("norm", "layernorm") == "layernorm"
    yield from _norm(_Config(c.kind, {"normalized_shape": e, "bias": c.flag("bias"),
                                      "dtype": str(dtype)}), "ln_f.", centered)
    if not c.flag("tie_weights", False):  # tied: the head is the token embedding
        yield "lm_head.weight", (vocab, e), dtype


# layer type -> its state from its config; every built-in layer is here (a test checks
# these against what the constructors build)
PREDICTORS: dict[str, Callable[[_Config], Expected]] = {
    "Linear": _linear, "RBF": _rbf, "Embedding": _embedding,
    "BatchNorm1d": _batchnorm, "BatchNorm2d": _batchnorm,
    "Conv1d": _conv(1, False), "Conv2d": _conv(2, False), "ConvTranspose2d": _conv(2, True),
    **{kind: _recurrent(g, False) for kind, g in _GATES.items()},
    **{f"{kind}Cell": _recurrent(g, True) for kind, g in _GATES.items()},
    "CharRNN": _char_rnn,
    "LayerNorm": _norm, "RMSNorm": _norm, "MultiheadAttention": _attention,
    "TransformerBlock": _block, "GPT": _gpt,
    **{kind: _nothing for kind in (
        "Identity", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Softplus", "Softmax",
        "LogSoftmax", "Dropout", "Dropout2d", "Flatten", "MaxPool2d", "AvgPool2d",
        "AdaptiveAvgPool2d", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
        "NLLLoss", "GELU", "SiLU",
        # containers: they hold modules, which no JSON config can name, so a file can only
        # build them empty (they save no architecture of their own)
        "ModuleList", "ModuleDict", "ParameterList", "ParameterDict")},
}


def check_spec(spec: Any, depth: int = 0) -> None:
    """Refuse an architecture that is not a layer {"type": name, "config": {...}} or a
    {"type": "Sequential", "layers": [...]} of them."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ModelFileError(f"the architecture must describe each layer as an object with a "
                             f"'type' name, got {str(spec)[:80]}")
    if spec["type"] == "Sequential":
        layers = spec.get("layers", [])
        if not isinstance(layers, list):
            raise ModelFileError(f"the architecture's Sequential 'layers' must be a list, got "
                                 f"{str(layers)[:80]}")
    elif not isinstance(spec.get("config", {}), dict):
        raise ModelFileError(f"the architecture's {spec['type']} 'config' must be an object, "
                             f"got {str(spec['config'])[:80]}")


def expected_state(spec: dict[str, Any], prefix: str = "",
                   unchecked: list[str] | None = None) -> Expected:
    """The (name, shape, dtype) of each tensor ``spec`` builds, in state-dict order. The
    prefixes of layers without a prediction go to ``unchecked``."""
    check_spec(spec)
    kind = spec["type"]
    if kind == "Sequential":
        for k, layer in enumerate(spec.get("layers", [])):
            yield from expected_state(layer, f"{prefix}{k}.", unchecked)
        return
    predict = PREDICTORS.get(kind)
    if predict is None:
        if unchecked is not None:
            unchecked.append(prefix)
        return
    for name, shape, dtype in predict(_Config(kind, spec.get("config", {}))):
        yield f"{prefix}{name}", shape, dtype


def _ints(value: Any) -> Iterator[int]:
    if type(value) is int:
        yield value
    elif isinstance(value, list | dict):
        for v in value.values() if isinstance(value, dict) else value:
            yield from _ints(v)


def match_tensors(spec: dict[str, Any], tensors: dict[str, TensorInfo]) -> list[str]:
    """Compare the tensors ``spec`` asks for with a file's table (names, shapes, dtypes),
    without building anything; the prefixes left to check after building (layers without
    a prediction). Raises ModelFileError at the first difference."""
    unchecked: list[str] = []
    seen = 0
    for name, shape, dtype in expected_state(spec, "", unchecked):
        info = tensors.get(name)
        want = f"{name!r} of shape {shape} {dtype}"
        if info is None:
            raise ModelFileError(f"the architecture needs a tensor {want}, which the file "
                                 f"does not hold")
        if info.shape != shape or info.dtype != dtype:
            raise ModelFileError(f"the architecture needs a tensor {want}, but the file's is "
                                 f"of shape {info.shape} {info.dtype}")
        seen += 1
    extra = [n for n in tensors if not any(n.startswith(p) for p in unchecked)]
    if seen != len(extra):
        known = set()
        for name, _, _ in expected_state(spec):
            known.add(name)
        surplus = sorted(set(extra) - known)
        raise ModelFileError(f"the file holds tensors the architecture does not build: "
                             f"{', '.join(map(repr, surplus[:5]))}")
    big = [v for v in _ints(spec) if v > MAX_ELEMENTS] if unchecked else []
    if big:  # a user-registered layer: at least refuse sizes no file could back
        raise ModelFileError(f"the architecture asks for a size {big[0]}, over the limit of "
                             f"{MAX_ELEMENTS} (MAX_ELEMENTS)")
    return unchecked
