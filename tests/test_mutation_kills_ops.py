"""The ops on the inputs a mutation run (tools/mutate.py) found no test watching: exactly at the
kinks and bounds the docstrings promise (compared with PyTorch in float64, by both backward
paths: the array fast path and the differentiable one that create_graph uses), and what the
in-place check guards (an op's saved input or output changed before backward)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")
tF = torch.nn.functional

# every value is a kink or a bound of at least one op below
KINKS = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])

# name: (chainrule op, torch op) of one tensor
AT_KINKS = {
    "relu": (F.relu, torch.relu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda t: tF.leaky_relu(t, 0.2)),
    "elu": (lambda x: F.elu(x, 0.5), lambda t: tF.elu(t, 0.5)),
    "abs": (cr.abs, torch.abs),
    "sign": (cr.sign, torch.sign),
    "clip": (lambda x: cr.clip(x, -1.0, 1.0), lambda t: torch.clamp(t, -1.0, 1.0)),
    "clip_min": (lambda x: cr.clip(x, min=0.5), lambda t: torch.clamp(t, min=0.5)),
    "clip_max": (lambda x: cr.clip(x, max=-0.5), lambda t: torch.clamp(t, max=-0.5)),
    "maximum_tie": (lambda x: cr.maximum(x, cr.tensor(KINKS[::-1].copy())),
                    lambda t: torch.maximum(t, torch.tensor(KINKS[::-1].copy()))),
    "minimum_tie": (lambda x: cr.minimum(x, cr.tensor(KINKS[::-1].copy())),
                    lambda t: torch.minimum(t, torch.tensor(KINKS[::-1].copy()))),
    "floor": (cr.floor, torch.floor),
    "round": (cr.round, torch.round),
}


def _grads(fn, x, create_graph):  # noqa: ANN001, ANN202
    """fn(x) and d(sum(w * fn(x)))/dx, w a fixed weight (so a wrong scale shows)."""
    w = np.linspace(0.5, 2.0, x.size)
    t = cr.tensor(x, requires_grad=True, dtype=np.float64)
    y = fn(t)
    (g,) = cr.grad((y * cr.tensor(w)).sum(), t, create_graph=create_graph)
    return y.data, g.data


@pytest.mark.parametrize("create_graph", [False, True], ids=["fast", "create_graph"])
@pytest.mark.parametrize("name", AT_KINKS)
def test_values_and_gradients_at_the_kinks_equal_pytorch(name, create_graph):
    ours, theirs = AT_KINKS[name]
    value, grad = _grads(ours, KINKS, create_graph)
    t = torch.tensor(KINKS, requires_grad=True)
    w = torch.tensor(np.linspace(0.5, 2.0, KINKS.size))
    y = theirs(t)
    (want,) = torch.autograd.grad((y * w).sum(), t)
    np.testing.assert_array_equal(value, y.detach().numpy())
    np.testing.assert_allclose(grad, want.numpy(), rtol=1e-15, atol=0)


# ops whose backward reads their output: changing it in place first must be refused
READ_THEIR_OUTPUT = {"exp": cr.exp, "sqrt": cr.sqrt, "sigmoid": F.sigmoid, "tanh": F.tanh,
                     "elu": F.elu, "softmax": F.softmax, "log_softmax": F.log_softmax}


@pytest.mark.parametrize("name", READ_THEIR_OUTPUT)
def test_changing_a_saved_output_in_place_is_refused(name):
    x = cr.tensor([0.5, 1.0, 2.0], requires_grad=True, dtype=np.float64)
    y = READ_THEIR_OUTPUT[name](x)
    with cr.no_grad():
        y += 1.0
    with pytest.raises(RuntimeError, match="output 0 .* was modified in place"):
        y.sum().backward()


# ops whose backward reads neither input nor output: changing their input is harmless
READ_NOTHING = {"cast": lambda b: b.astype(np.float32), "reshape": lambda b: b.reshape(3, 1),
                "transpose": lambda b: b.reshape(1, 3).T, "sum": lambda b: b.sum(),
                "neg": lambda b: -b, "add": lambda b: b + 1.0}


@pytest.mark.parametrize("name", READ_NOTHING)
def test_changing_the_input_of_an_op_that_does_not_read_it_is_allowed(name):
    a = cr.tensor([-0.5, 1.0, 2.0], requires_grad=True, dtype=np.float64)
    b = a * 2.0  # Mul reads a and the constant, not b
    y = READ_NOTHING[name](b)
    with cr.no_grad():
        b += 1.0
    y.sum().backward()
    sign = -1.0 if name == "neg" else 1.0
    np.testing.assert_array_equal(a.grad.data, np.full(3, 2.0 * sign))


X3 = np.random.default_rng(5).standard_normal((2, 3, 4))

# functions called with their default axis (chainrule) and torch's call for it, on 3-D input
DEFAULT_AXIS = {
    "softmax": (F.softmax, lambda t: torch.softmax(t, -1)),
    "log_softmax": (F.log_softmax, lambda t: torch.log_softmax(t, -1)),
    "logsumexp": (cr.logsumexp, lambda t: torch.logsumexp(t, -1)),
}


@pytest.mark.parametrize("name", DEFAULT_AXIS)
def test_the_default_axis_is_the_last_as_pytorch(name):
    ours, theirs = DEFAULT_AXIS[name]
    got = ours(cr.tensor(X3, dtype=np.float64))
    np.testing.assert_allclose(got.data, theirs(torch.tensor(X3)).numpy(), rtol=1e-13,
                               atol=1e-15)


def test_argsort_refuses_an_axis_out_of_range_and_sorts_the_flat_tensor_for_none():
    x = cr.tensor(np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]]))
    with pytest.raises(ValueError, match="argsort: axis 2 is out of range for a tensor with 2"):
        cr.argsort(x, dim=2)
    assert cr.argsort(x, None).tolist() == [3, 1, 2, 0, 5, 4]


def test_einsum_casts_an_integer_operand_to_the_float_one():
    got = cr.einsum("i,i->", cr.tensor(np.array([1, 2, 3])),
                    cr.tensor(np.array([0.5, 0.25, 2.0]), requires_grad=True, dtype=np.float64))
    assert got.dtype == np.float64 and got.item() == 7.0


@pytest.mark.parametrize("axes", [([1], [1]), ([0, 1], [0])], ids=["sizes", "counts"])
def test_tensordot_refuses_axes_that_do_not_pair_up(axes):
    a, b = cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"tensordot: cannot contract axes"):
        cr.tensordot(a, b, axes)
