"""The autograd core's promises that a mutation run (tools/mutate.py) found no test watching:
the defaults of ``grad`` and ``Tensor``, numpy's conversion protocols, the in-place version
count, and the Tensor methods with their default arguments against PyTorch's, on inputs with
three axes (where a default of axis 1 and one of axis -1 differ)."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.function import DRAWN_ELEMENTS

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")

X = np.random.default_rng(3).standard_normal((2, 3, 4))
Y = np.random.default_rng(4).standard_normal((2, 3, 4))


def test_grad_results_are_constants_unless_create_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    (g,) = cr.grad((x * x).sum(), x)
    assert not g.requires_grad and g.grad_fn is None
    (g,) = cr.grad((x * x).sum(), x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None


def test_a_tensor_does_not_require_grad_unless_asked():
    assert not cr.Tensor(np.ones(2)).requires_grad
    assert cr.Tensor(np.ones(2), requires_grad=True).requires_grad


def test_the_array_protocol_casts_only_when_asked():
    t = cr.tensor(np.arange(3.0), dtype=np.float64)
    same = t.__array__()
    assert same is t.data  # no copy unless asked
    assert t.__array__(np.float64) is t.data
    assert t.__array__(copy=True) is not t.data
    cast = t.__array__(np.float32)
    assert cast.dtype == np.float32 and cast.tolist() == [0.0, 1.0, 2.0]


def test_bool_and_index_of_one_element_tensors():
    assert bool(cr.tensor(0.0)) is False and bool(cr.tensor([3.0])) is True
    with pytest.raises(ValueError, match="truth value of a tensor with 2 elements"):
        bool(cr.tensor([1.0, 2.0]))
    assert operator.index(cr.tensor(2)) == 2
    assert [10, 20, 30][cr.tensor(1)] == 20


@pytest.mark.parametrize("modify", [lambda b: b.fill_(2.0), lambda b: b.copy_(np.ones(3)),
                                    lambda b: b.zero_(), lambda b: b.__setitem__(0, 5.0)],
                         ids=["fill_", "copy_", "zero_", "setitem"])
def test_every_in_place_write_is_seen_by_backward(modify):
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    with cr.no_grad():
        b = cr.tensor([1.0, 2.0, 3.0], dtype=np.float64)
    c = (a * b).sum()  # Mul's backward reads b
    modify(b)
    assert b._version == 1
    with pytest.raises(RuntimeError, match="modified in place"):
        c.backward()


# each Tensor method with its defaults (chainrule, torch), on X (and Y)
METHODS = {
    "pow": (lambda x, y: x.pow(2.0), lambda x, y: x.pow(2.0)),
    "maximum": (lambda x, y: x.maximum(y), lambda x, y: x.maximum(y)),
    "minimum": (lambda x, y: x.minimum(y), lambda x, y: x.minimum(y)),
    "sign": (lambda x, y: x.sign(), lambda x, y: x.sign()),
    "logsumexp": (lambda x, y: x.logsumexp(), lambda x, y: x.logsumexp(-1)),
    "argsort": (lambda x, y: x.argsort(), lambda x, y: x.argsort()),
    "sort": (lambda x, y: x.sort()[0], lambda x, y: x.sort()[0]),
}


@pytest.mark.parametrize("name", METHODS)
def test_tensor_methods_with_their_defaults_equal_pytorch(name):
    ours, theirs = METHODS[name]
    got = ours(cr.tensor(X, dtype=np.float64), cr.tensor(Y, dtype=np.float64))
    want = theirs(torch.tensor(X), torch.tensor(Y))
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-12, atol=0)


class _OffByRelative(cr.Function):
    """y = 1000 x, with a derivative 1000 (1 + 1e-4): wrong by a relative 1e-4."""

    def forward(self, x):  # noqa: ANN001, ANN202
        return 1000.0 * x

    def backward(self, gy):  # noqa: ANN001, ANN202
        return gy * (1000.0 * (1 + 1e-4))


def test_gradcheck_tolerance_is_relative_to_the_numerical_value():
    # |analytic - numerical| = 0.1 against atol + rtol * |numerical| = rtol * 1000
    x = cr.tensor([0.5, -1.0], requires_grad=True, dtype=np.float64)
    assert cr.gradcheck(lambda t: _OffByRelative()(t), [x], atol=0.0, rtol=1e-3)
    with pytest.raises(cr.GradcheckError, match=r"analytic 1000\.1, numerical 1000"):
        cr.gradcheck(lambda t: _OffByRelative()(t), [x], atol=0.0, rtol=1e-5)
    assert cr.gradcheck(lambda t: _OffByRelative()(t), [x], atol=0.2, rtol=0.0)


@pytest.mark.parametrize("size", [DRAWN_ELEMENTS, DRAWN_ELEMENTS + 1])
def test_a_trace_keeps_values_of_at_most_drawn_elements_and_shapes_of_more(size):
    """Function.trace at the boundary: a constant, a value and a gradient of exactly
    DRAWN_ELEMENTS elements are kept (a drawing prints them); one more keeps the shape."""
    w = cr.tensor(np.arange(1.0, size + 1), requires_grad=True, dtype=np.float64)
    c = cr.tensor(np.full(size, 2.0), dtype=np.float64)
    product = w * c
    mul = product.grad_fn
    product.sum().backward()
    trace = mul.trace
    kept = size <= DRAWN_ELEMENTS
    assert trace.inputs[0] is w  # a leaf that requires grad is always kept
    if kept:
        assert trace.inputs[1] is c
        np.testing.assert_array_equal(trace.values[0], np.arange(1.0, size + 1) * 2)
        np.testing.assert_array_equal(trace.grads[0], np.ones(size))
        np.testing.assert_array_equal(trace.input_grads[0], np.full(size, 2.0))
    else:
        ref, shape = trace.inputs[1]
        assert ref() is c and shape == (size,)
        assert trace.values[0] == (size,) and trace.grads[0] == (size,)
        assert trace.input_grads[0] == (size,)
    assert trace.input_grads[1] is None  # the constant needs no gradient
