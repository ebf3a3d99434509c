"""Every op whose backward takes one path without a recorded graph and another with
``create_graph=True``: the two first derivatives agree, and the second derivative (the
derivative of the create_graph path) equals PyTorch's double backward, float64.

``gradgradcheck`` alone differentiates the create_graph first derivative numerically, so a
wrong but smooth formula on that path passes it. tests/test_derivatives.py compares a
node's ``backward_arrays`` with its ``backward`` directly; here the comparison runs through
the engine (``grad`` with and without create_graph), covers the ops that branch on the
recording mode inside ``backward`` or forward (batch norm, convolution's saved columns),
and adds PyTorch as the oracle of both orders.

The branches are found in the source: a concrete op that defines ``backward_arrays``
(the engine's path when it records nothing), or any of whose own methods reads
``mode.grad_enabled``. ``test_every_branch_has_a_case`` fails for one missing in CASES.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradchecked
import numpy as np
import pytest
from test_derivatives import PRIMITIVES

import chainrule as cr
import chainrule.functional as F
from chainrule.autograd.function import Function
from chainrule.functional.losses import BCEWithLogits, CrossEntropy
from chainrule.ops import convolution
from chainrule.ops.activations import GELUOp, ReLUOp, SigmoidOp, SiLUOp, TanhOp
from chainrule.ops.attention import ScaledDotProductAttention
from chainrule.ops.convolution import Conv
from chainrule.ops.linalg import LinearOp, MatMul
from chainrule.ops.normalization import BatchNorm, LayerNormOp, RMSNormOp
from chainrule.ops.recurrent import FusedGRU, FusedLSTM, FusedRNN

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")
TF = torch.nn.functional


def branching_ops() -> list[type]:
    """The concrete ops with a graph-free path beside the create_graph one."""
    found = []
    for op in PRIMITIVES:
        own = op.__mro__[:op.__mro__.index(Function)]  # its classes, not Function's machinery
        if op.backward_arrays is not None or any(
                "mode.grad_enabled" in inspect.getsource(c) for c in own):
            found.append(op)
    return found


@dataclass
class Case:
    """Inputs (all differentiated unless ``constant`` names them), chainrule's function and
    PyTorch's (None: no PyTorch op; then only the two first derivatives are compared)."""

    arrays: list[np.ndarray]
    ours: Callable[..., Any]
    theirs: Callable[..., Any] | None
    constant: tuple[int, ...] = ()
    setting: dict[str, Any] = field(default_factory=dict)  # convolution module attributes


rng = np.random.default_rng(11)


def a(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def torch_recurrent(kind: type, bias: bool = True, **options: Any) -> Callable[..., Any]:
    """PyTorch's nn.RNN/LSTM/GRU (batch first) as a function of (x, h0, [c0,] weights...)."""
    module = kind(3, 4, batch_first=True, bias=bias, **options).double()
    names = [n for n, _ in module.named_parameters()]
    cells = kind is torch.nn.LSTM

    def run(x, h0, *rest):  # noqa: ANN001, ANN002, ANN202
        state = (h0[None], rest[0][None]) if cells else h0[None]
        weights = rest[1:] if cells else rest
        out, last = torch.func.functional_call(module, dict(zip(names, weights, strict=True)),
                                               (x, state))
        return (out, last[0][0], last[1][0]) if cells else (out, last[0])

    return run


def recurrent(op: type, gates: int, kind: type, truncate: int | None = None,
              bias: bool = True, **options: Any) -> Case:
    hid, cells = 4, op is FusedLSTM
    states = [a(2, hid) for _ in range(1 + cells)]
    weights = [a(gates * hid, 3) * 0.5, a(gates * hid, hid) * 0.5]
    biases = [a(gates * hid), a(gates * hid)] if bias else []
    args = (truncate, bias, options.get("nonlinearity") == "relu") if op is FusedRNN \
        else (truncate, bias)
    return Case([a(2, 5, 3), *states, *weights, *biases], lambda *xs: op(*args)(*xs),
                None if truncate else torch_recurrent(kind, bias, **options))


def conv(saved_columns_bytes: int | None = None) -> Case:
    setting = {} if saved_columns_bytes is None else {"SAVED_COLUMNS_BYTES": saved_columns_bytes}
    return Case([a(2, 3, 6, 5), a(4, 3, 3, 2), a(4)],
                lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2)),
                lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2)),
                setting=setting)


TARGET_INDEX = np.array([0, 3, 1])
CLASS_WEIGHT = np.array([1.0, 2.0, 0.5, 3.0])
POS_WEIGHT = np.array([0.3, 1.0, 2.5, 4.0])
CAUSAL = np.tril(np.ones((3, 5), bool))

CASES: dict[type, dict[str, Case]] = {
    SigmoidOp: {"": Case([a(3, 4)], F.sigmoid, torch.sigmoid)},
    TanhOp: {"": Case([a(3, 4)], F.tanh, torch.tanh)},
    ReLUOp: {"": Case([a(3, 4)], F.relu, torch.relu)},
    GELUOp: {"erf": Case([a(3, 4)], F.gelu, TF.gelu),
             "tanh": Case([a(3, 4)], lambda x: F.gelu(x, approximate="tanh"),
                          lambda x: TF.gelu(x, approximate="tanh"))},
    SiLUOp: {"": Case([a(3, 4)], F.silu, TF.silu)},
    MatMul: {"2d": Case([a(3, 4), a(4, 5)], cr.matmul, torch.matmul),
             "constant left": Case([a(3, 4), a(4, 5)], cr.matmul, torch.matmul, constant=(0,)),
             "batch @ vector": Case([a(2, 3, 4), a(4)], cr.matmul, torch.matmul),
             "vector @ batch": Case([a(4), a(2, 4, 5)], cr.matmul, torch.matmul)},
    LinearOp: {"bias": Case([a(3, 4), a(2, 4), a(2)], F.linear, TF.linear),
               "3d, no bias": Case([a(2, 3, 4), a(2, 4)], F.linear, TF.linear),
               "constant input": Case([a(3, 4), a(2, 4), a(2)], F.linear, TF.linear,
                                      constant=(0,))},
    BCEWithLogits: {r: Case([a(3, 4) * 2, rng.uniform(0, 1, (3, 4))],
                            lambda x, t, r=r: F.binary_cross_entropy_with_logits(
                                x, t, reduction=r),
                            lambda x, t, r=r: TF.binary_cross_entropy_with_logits(
                                x, t, reduction=r)) for r in ("mean", "sum", "none")}
                     | {f"pos_weight, {r}": Case(
                         [a(3, 4) * 2, rng.uniform(0, 1, (3, 4))],
                         lambda x, t, r=r: F.binary_cross_entropy_with_logits(
                             x, t, reduction=r, pos_weight=POS_WEIGHT),
                         lambda x, t, r=r: TF.binary_cross_entropy_with_logits(
                             x, t, reduction=r, pos_weight=torch.tensor(POS_WEIGHT)))
                        for r in ("mean", "none")},
    CrossEntropy: {r: Case([a(3, 4) * 2],
                           lambda x, r=r: F.cross_entropy(x, TARGET_INDEX, CLASS_WEIGHT,
                                                          reduction=r, label_smoothing=0.1),
                           lambda x, r=r: TF.cross_entropy(
                               x, torch.tensor(TARGET_INDEX), torch.tensor(CLASS_WEIGHT),
                               reduction=r, label_smoothing=0.1)) for r in ("mean", "sum",
                                                                            "none")},
    FusedRNN: {"tanh": recurrent(FusedRNN, 1, torch.nn.RNN),
               "relu, no bias": recurrent(FusedRNN, 1, torch.nn.RNN, bias=False,
                                          nonlinearity="relu"),
               "truncated": recurrent(FusedRNN, 1, torch.nn.RNN, truncate=2)},
    FusedLSTM: {"": recurrent(FusedLSTM, 4, torch.nn.LSTM),
                "truncated": recurrent(FusedLSTM, 4, torch.nn.LSTM, truncate=2)},
    FusedGRU: {"": recurrent(FusedGRU, 3, torch.nn.GRU),
               "no bias": recurrent(FusedGRU, 3, torch.nn.GRU, bias=False)},
    LayerNormOp: {"affine": Case([a(3, 4), a(4), a(4)], lambda x, w, b: F.layer_norm(
                      x, (4,), w, b), lambda x, w, b: TF.layer_norm(x, (4,), w, b)),
                  "two axes": Case([a(2, 3, 4)], lambda x: F.layer_norm(x, (3, 4)),
                                   lambda x: TF.layer_norm(x, (3, 4)))},
    RMSNormOp: {"weight": Case([a(3, 4), a(4)], lambda x, w: F.rms_norm(x, (4,), w, 1e-6),
                               lambda x, w: TF.rms_norm(x, (4,), w, 1e-6)),
                "two axes": Case([a(2, 3, 4)], lambda x: F.rms_norm(x, (3, 4)),
                                 lambda x: TF.rms_norm(x, (3, 4)))},
    ScaledDotProductAttention: {
        "": Case([a(2, 3, 4), a(2, 5, 4), a(2, 5, 2)], F.scaled_dot_product_attention,
                 TF.scaled_dot_product_attention),
        "causal": Case([a(1, 2, 3, 4), a(1, 2, 3, 4), a(1, 2, 3, 2)],
                       lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                       lambda q, k, v: TF.scaled_dot_product_attention(q, k, v,
                                                                       is_causal=True)),
        "bool mask, scale": Case(
            [a(2, 3, 4), a(2, 5, 4), a(2, 5, 2)],
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, CAUSAL, scale=0.3),
            lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, torch.tensor(CAUSAL),
                                                            scale=0.3))},
    BatchNorm: {
        "training 2d": Case([a(5, 3), a(3), a(3)],
                            lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                            lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True)),
        "training 4d, no affine": Case(
            [a(4, 3, 2, 2)], lambda x: F.batch_norm(x, None, None, training=True),
            lambda x: TF.batch_norm(x, None, None, training=True)),
        "eval": Case([a(5, 3), a(3), a(3)],
                     lambda x, w, b: F.batch_norm(x, np.full(3, 0.2), np.full(3, 1.5), w, b),
                     lambda x, w, b: TF.batch_norm(x, torch.full((3,), 0.2, dtype=torch.float64),
                                                   torch.full((3,), 1.5, dtype=torch.float64),
                                                   w, b))},
    Conv: {"columns kept": conv(), "columns recomputed": conv(saved_columns_bytes=0),
           "1d, groups": Case([a(2, 4, 7), a(6, 2, 3)],
                              lambda x, w: F.conv1d(x, w, padding=2, groups=2),
                              lambda x, w: TF.conv1d(x, w, padding=2, groups=2))},
}


def test_every_branch_has_a_case():
    ops = branching_ops()
    missing = [op.__name__ for op in ops if op not in CASES]
    assert not missing, f"{missing} take a separate create_graph path: add cases to CASES"
    assert {BatchNorm, Conv, FusedLSTM, CrossEntropy} <= set(ops)  # both kinds of marker
    stale = [op.__name__ for op in CASES if op not in ops]
    assert not stale, f"{stale} no longer branch: drop them from CASES"


def _nodes(outs: tuple) -> set[type]:
    gradchecked.SEEN = set()
    try:
        gradchecked.record(outs)
        return gradchecked.SEEN
    finally:
        gradchecked.SEEN = None


def _zeros_for_none(grads: tuple, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    return [np.zeros(s) if g is None else np.asarray(getattr(g, "data", g)) for g, s in zip(
        grads, shapes, strict=True)]


def ours_derivatives(case: Case, op: type, v: list, u: list) -> tuple[list, list, list]:
    """(graph-free first, create_graph first, second) derivatives in chainrule."""
    xs = [cr.tensor(x, requires_grad=i not in case.constant) for i, x in enumerate(case.arrays)]
    wrt = [x for i, x in enumerate(xs) if i not in case.constant]
    outs = case.ours(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    assert op in _nodes(outs), f"the case builds no {op.__name__} node"
    seeds = [cr.tensor(s) for s in v]
    shapes = [x.shape for x in wrt]
    fast = cr.grad(outs, wrt, seeds, retain_graph=True, allow_unused=True)
    graph = cr.grad(outs, wrt, seeds, create_graph=True, allow_unused=True)
    inner = sum((g * cr.tensor(w)).sum() for g, w in zip(graph, u, strict=True)
                if g is not None and g.requires_grad)
    second = (cr.grad(inner, wrt, allow_unused=True) if isinstance(inner, cr.Tensor)
              else [None] * len(wrt))
    return (_zeros_for_none(fast, shapes), _zeros_for_none(graph, shapes),
            _zeros_for_none(second, shapes))


def torch_derivatives(case: Case, v: list, u: list) -> tuple[list, list]:
    xs = [torch.tensor(x, requires_grad=i not in case.constant)
          for i, x in enumerate(case.arrays)]
    wrt = [x for i, x in enumerate(xs) if i not in case.constant]
    outs = case.theirs(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    first = torch.autograd.grad(outs, wrt, [torch.tensor(s) for s in v], create_graph=True,
                                allow_unused=True)
    inner = sum((g * torch.tensor(w)).sum() for g, w in zip(first, u, strict=True)
                if g is not None and g.requires_grad)
    second = (torch.autograd.grad(inner, wrt, allow_unused=True)
              if isinstance(inner, torch.Tensor) else [None] * len(wrt))  # linear: no path
    shapes = [tuple(x.shape) for x in wrt]
    return ([np.zeros(s) if g is None else g.detach().numpy() for g, s in zip(first, shapes,
                                                                               strict=True)],
            [np.zeros(s) if g is None else g.numpy(force=True) for g, s in zip(second, shapes,
                                                                                strict=True)])


@pytest.mark.parametrize("op, name", [(op, name) for op, cases in CASES.items()
                                      for name in cases],
                         ids=lambda v: v.__name__ if isinstance(v, type) else v or "-")
def test_create_graph_first_derivative_and_the_second_match(op, name, monkeypatch):
    case = CASES[op][name]
    for attribute, value in case.setting.items():
        monkeypatch.setattr(convolution, attribute, value)
    outs = case.ours(*[cr.tensor(x) for x in case.arrays])
    outs = outs if isinstance(outs, tuple) else (outs,)
    seeded = np.random.default_rng(3)
    v = [seeded.standard_normal(o.shape) for o in outs]
    u = [seeded.standard_normal(x.shape) for i, x in enumerate(case.arrays)
         if i not in case.constant]
    fast, graph, second = ours_derivatives(case, op, v, u)
    for i, (f, g) in enumerate(zip(fast, graph, strict=True)):
        np.testing.assert_allclose(f, g, rtol=1e-12, atol=1e-13,
                                   err_msg=f"fast and create_graph paths, input {i}")
    if case.theirs is None:
        return
    t_first, t_second = torch_derivatives(case, v, u)
    for i, (ours, theirs) in enumerate(zip(fast, t_first, strict=True)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12,
                                   err_msg=f"first derivative vs PyTorch, input {i}")
    for i, (ours, theirs) in enumerate(zip(second, t_second, strict=True)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11,
                                   err_msg=f"second derivative vs PyTorch, input {i}")
