"""The derivative table: every primitive is gradchecked, docs/derivatives.md lists them all,
and an op's array-level fast backward agrees with its differentiable definition.

How a test declares the ops it gradchecks: tests/gradchecked.py.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import gradchecked
import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule.functional.losses import BCEWithLogits, CrossEntropy
from chainrule.ops.activations import GELUOp, ReLUOp, SigmoidOp, SiLUOp, TanhOp
from chainrule.ops.attention import ScaledDotProductAttention
from chainrule.ops.elementwise import Exp, Mul
from chainrule.ops.linalg import LinearOp, MatMul
from chainrule.ops.normalization import LayerNormOp, RMSNormOp
from chainrule.ops.recurrent import FusedGRU, FusedLSTM, FusedRNN

TESTS = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("derivatives_tool",
                                               TESTS.parent / "tools" / "derivatives.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)
PRIMITIVES = tool.primitives()


def declared_ops() -> set[type]:
    """Import every test module (each ``@gradchecks`` adds to gradchecked.DECLARED); a module
    skipped for a missing optional dependency declares nothing, as its tests would not run."""
    for path in sorted(TESTS.glob("test_*.py")):
        try:
            importlib.import_module(path.stem)
        except pytest.skip.Exception:
            continue
    return gradchecked.DECLARED


def test_every_op_is_gradchecked():
    missing = [c for c in PRIMITIVES if c not in declared_ops()]
    assert not missing, (
        f"no test declares that it gradchecks {[c.__name__ for c in missing]}: gradcheck (and "
        f"gradgradcheck where smooth) each in a test marked @gradchecks(TheOp) "
        f"(tests/gradchecked.py)")


def test_every_op_states_its_derivative():
    bare = [c.__name__ for c in PRIMITIVES if not tool.formula(c)]
    assert not bare, f"{bare}: the first paragraph of an op's docstring states y = f(x); dy/dx"


def test_the_derivative_table_is_current():
    assert tool.TABLE.read_text() == tool.table(), (
        f"docs/derivatives.md is out of date: run {tool.COMMAND}")


def test_the_recorder_sees_every_node_of_a_graph():
    x = cr.tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    gradchecked.SEEN = set()
    try:
        gradchecked.record((x.exp() * 2.0, x))
        seen = gradchecked.SEEN
    finally:
        gradchecked.SEEN = None
    assert seen == {Exp, Mul}


# -- the fast path: backward_arrays against backward ------------------------------------------

rng = np.random.default_rng(0)


def t(*shape: int, grad: bool = True) -> cr.Tensor:
    return cr.tensor(rng.standard_normal(shape), requires_grad=grad, dtype=np.float64)


def recurrent(op: type, gates: int, **states: int):  # noqa: ANN202
    def make(truncate: int | None = None, bias: bool = True):  # noqa: ANN202
        b, steps, n_in, hid = 2, 5, 3, 4
        weights = [t(gates * hid, n_in), t(gates * hid, hid)]
        biases = [t(gates * hid), t(gates * hid)] if bias else []
        state = [t(b, hid) for _ in range(1 + states.get("cells", 0))]
        args = (truncate, bias, False) if op is FusedRNN else (truncate, bias)
        return op(*args)(t(b, steps, n_in, grad=False), *state, *weights, *biases)
    return make


# every op with a backward_arrays: ways to build its node (the test finds the ops itself and
# fails for one missing here)
EXAMPLES = {
    SigmoidOp: [lambda: F.sigmoid(t(3, 4))],
    TanhOp: [lambda: F.tanh(t(3, 4))],
    ReLUOp: [lambda: F.relu(t(3, 4))],
    MatMul: [lambda: t(3, 4) @ t(4, 5), lambda: t(3, 4, grad=False) @ t(4, 5),
             lambda: t(2, 3, 4) @ t(4), lambda: t(4) @ t(2, 4, 5)],
    LinearOp: [lambda: F.linear(t(3, 4), t(2, 4), t(2)), lambda: F.linear(t(2, 3, 4), t(2, 4)),
               lambda: F.linear(t(3, 4, grad=False), t(2, 4), t(2))],
    BCEWithLogits: [lambda: F.binary_cross_entropy_with_logits(
        t(3, 4), cr.tensor(rng.uniform(0, 1, (3, 4)), requires_grad=True), reduction="none")],
    CrossEntropy: [lambda r=r: F.cross_entropy(t(3, 4), np.array([0, 3, 1]), reduction=r,
                                               weight=np.array([1.0, 2.0, 0.5, 3.0]))
                   for r in ("mean", "sum", "none")],
    FusedRNN: [recurrent(FusedRNN, 1), lambda: recurrent(FusedRNN, 1)(truncate=2, bias=False)],
    FusedLSTM: [recurrent(FusedLSTM, 4, cells=1), lambda: recurrent(FusedLSTM, 4, cells=1)(2)],
    FusedGRU: [recurrent(FusedGRU, 3), lambda: recurrent(FusedGRU, 3)(bias=False)],
    GELUOp: [lambda: F.gelu(t(3, 4)), lambda: F.gelu(t(3, 4), approximate="tanh")],
    SiLUOp: [lambda: F.silu(t(3, 4))],
    LayerNormOp: [lambda: F.layer_norm(t(3, 4), (4,), t(4), t(4)),
                  lambda: F.layer_norm(t(2, 3, 4), (3, 4))],
    RMSNormOp: [lambda: F.rms_norm(t(3, 4), (4,), t(4)), lambda: F.rms_norm(t(2, 3, 4), (3, 4))],
    ScaledDotProductAttention: [
        lambda: F.scaled_dot_product_attention(t(2, 3, 4), t(2, 5, 4), t(2, 5, 2)),
        lambda: F.scaled_dot_product_attention(t(1, 2, 3, 4), t(1, 2, 3, 4), t(1, 2, 3, 2),
                                               is_causal=True)],
}


def _arrays(values: object) -> list[np.ndarray | None]:
    values = values if isinstance(values, tuple) else (values,)
    return [None if v is None else np.asarray(getattr(v, "data", v)) for v in values]


@pytest.mark.parametrize("op", [c for c in PRIMITIVES if c.backward_arrays is not None],
                         ids=lambda c: c.__name__)
def test_array_backward_agrees_with_backward(op):
    assert op in EXAMPLES, f"{op.__name__} has a backward_arrays: add examples to EXAMPLES"
    for make in EXAMPLES[op]:
        outs = make()
        outs = outs if isinstance(outs, tuple) else (outs,)
        node = outs[0].grad_fn
        assert type(node) is op
        seeds = [rng.standard_normal(o.shape) for o in outs]
        # all outputs, then (for several) only the last one: a None upstream gradient
        for chosen in ([*seeds], [None] * (len(seeds) - 1) + seeds[-1:]):
            fast = _arrays(node.backward_arrays(*chosen))
            with cr.enable_grad():  # the definition, as create_graph=True runs it
                exact = _arrays(node.backward(*[None if s is None else cr.tensor(s)
                                                for s in chosen]))
            assert len(fast) == len(exact) == len(node.inputs)
            for i, (a, b) in enumerate(zip(fast, exact, strict=True)):
                if not node.inputs[i].requires_grad:
                    continue
                assert a is not None or b is not None, f"{op.__name__}: input {i}"
                zero = np.zeros(node.inputs[i].shape)  # None: no path (e.g. cut by truncation)
                np.testing.assert_allclose(zero if a is None else a, zero if b is None else b,
                                           rtol=1e-10, atol=1e-12,
                                           err_msg=f"{op.__name__}: input {i}")
