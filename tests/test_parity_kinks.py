"""Inputs exactly on the kinks, bounds and ties that the ops' docstrings promise a convention
for, against PyTorch in float64: values, first derivatives and second derivatives.

Every other test moves its inputs away from these points (finite differences are undefined
there), so a convention that changed (ReLU'(0) = 1, a tie given wholly to one side, clip's
bounds counted outside) would pass them all. Each case also asserts the docstring's own
numbers, so the test says what the promise is, not only that PyTorch agrees.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")

# the kinks and bounds of the cases below, each exactly representable, with -0.0 beside 0.0
X = np.array([-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0])


def derivatives(fn, arrays, lib):  # noqa: ANN001, ANN202
    """(value, first derivatives, second derivatives) of fn at arrays, in library ``lib``
    ('cr' or 'torch'): the first for a fixed upstream v, the second the derivative of
    <first, u> for a fixed u; a derivative that does not exist (no path) is zeros."""
    shaped = np.random.default_rng(7)
    if lib == "cr":
        xs = [cr.tensor(a, requires_grad=True) for a in arrays]
        y = fn(*xs)
        v = cr.tensor(shaped.uniform(0.5, 1.5, y.shape))
        first = cr.grad(y, xs, v, create_graph=True, allow_unused=True)
        first = [g if g is not None else cr.tensor(np.zeros(x.shape)) for g, x in zip(
            first, xs, strict=True)]
        used = [(g, x) for g, x in zip(first, xs, strict=True) if g.requires_grad]
        second = [np.zeros(x.shape) for x in xs]
        if used:
            inner = sum((g * cr.tensor(shaped.uniform(0.5, 1.5, g.shape))).sum()
                        for g, _ in used)
            found = cr.grad(inner, xs, allow_unused=True)
            second = [np.zeros(x.shape) if s is None else s.data for s, x in zip(
                found, xs, strict=True)]
        return y.data, [g.data for g in first], second
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*xs)
    v = torch.tensor(shaped.uniform(0.5, 1.5, tuple(y.shape)))
    first = torch.autograd.grad(y, xs, v, create_graph=True, allow_unused=True)
    first = [g if g is not None else torch.zeros_like(x) for g, x in zip(first, xs, strict=True)]
    used = [(g, x) for g, x in zip(first, xs, strict=True) if g.requires_grad]
    second = [np.zeros(tuple(x.shape)) for x in xs]
    if used:
        inner = sum((g * torch.tensor(shaped.uniform(0.5, 1.5, tuple(g.shape)))).sum()
                    for g, _ in used)
        found = torch.autograd.grad(inner, xs, allow_unused=True)
        second = [np.zeros(tuple(x.shape)) if s is None else s.numpy(force=True) for s, x in zip(
            found, xs, strict=True)]
    return y.detach().numpy(), [g.detach().numpy() for g in first], second


def first_derivative(fn, *arrays: np.ndarray) -> list[np.ndarray]:  # noqa: ANN001
    """d sum(fn(x)) / dx for each input: the local derivative at each element."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    return [g.data for g in cr.grad(fn(*xs).sum(), xs)]


# name: (chainrule function, PyTorch function, inputs)
TIES_A = np.array([[1.0, 2.0, -1.0], [0.0, -0.0, 3.0]])
TIES_B = np.array([[1.0, 0.5, -1.0], [0.0, 0.0, 4.0]])
REDUCE = np.array([[1.0, 3.0, 3.0], [-2.0, -2.0, -2.0], [0.0, 5.0, -1.0]])
CASES = {
    "relu": (F.relu, torch.relu, [X]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: torch.nn.functional.leaky_relu(
        x, 0.1), [X]),
    "leaky_relu default": (F.leaky_relu, torch.nn.functional.leaky_relu, [X]),
    "elu": (F.elu, torch.nn.functional.elu, [X]),
    "elu alpha 0.5": (lambda x: F.elu(x, 0.5), lambda x: torch.nn.functional.elu(x, 0.5), [X]),
    "abs": (cr.abs, torch.abs, [X]),
    "sign": (cr.sign, torch.sign, [X]),
    "floor": (cr.floor, torch.floor, [X]),
    "ceil": (cr.ceil, torch.ceil, [X]),
    "round halves": (cr.round, torch.round, [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])]),
    "maximum ties": (cr.maximum, torch.maximum, [TIES_A, TIES_B]),
    "minimum ties": (cr.minimum, torch.minimum, [TIES_A, TIES_B]),
    "maximum broadcast ties": (cr.maximum, torch.maximum, [X, np.array(0.0)]),
    "clip both bounds": (lambda x: cr.clip(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0),
                         [X]),
    "clip lower bound": (lambda x: cr.clip(x, min=0.5), lambda x: torch.clamp(x, min=0.5), [X]),
    "clip upper bound": (lambda x: cr.clip(x, max=-0.5), lambda x: torch.clamp(x, max=-0.5), [X]),
    "clip one point": (lambda x: cr.clip(x, 1.0, 1.0), lambda x: torch.clamp(x, 1.0, 1.0), [X]),
    "max all ties": (lambda x: x.max(), lambda x: x.max(), [REDUCE]),
    "min all ties": (lambda x: x.min(), lambda x: x.min(), [REDUCE]),
    "max axis 1 ties": (lambda x: x.max(axis=1), lambda x: x.amax(dim=1), [REDUCE]),
    "min axis 0 ties": (lambda x: x.min(axis=0, keepdims=True),
                        lambda x: x.amin(dim=0, keepdim=True), [REDUCE]),
    "sort ties": (lambda x: cr.sort(x, -1).values,
                  lambda x: torch.sort(x, dim=-1, stable=True).values, [REDUCE]),
    "sort descending ties": (lambda x: cr.sort(x, 0, descending=True).values,
                             lambda x: torch.sort(x, dim=0, descending=True, stable=True).values,
                             [REDUCE]),
    "remainder at multiples": (cr.remainder, torch.remainder,
                               [np.array([3.0, -3.0, 4.5, 0.0, 2.0]),
                                np.array([1.5, 1.5, -1.5, 2.0, 0.5])]),
    "relu of a tie": (lambda a, b: F.relu(cr.maximum(a, b)),
                      lambda a, b: torch.relu(torch.maximum(a, b)), [TIES_A, TIES_B]),
}


# Where the second derivative differs from PyTorch's at a kink, and why (the rest compared).
# ELU: chainrule's derivative at z <= 0 is a + alpha (its docstring), whose own derivative
# at 0 is alpha: both orders take the left branch. PyTorch's first derivative takes the
# left branch at 0 (alpha) but its second the right one (0: it masks with z < 0).
SECOND_DIFFERS = {"elu": X == 0, "elu alpha 0.5": X == 0}


@pytest.mark.parametrize("case", list(CASES))
def test_at_kinks_values_and_derivatives_match_torch(case):
    ours, theirs, arrays = CASES[case]
    value, first, second = derivatives(ours, arrays, "cr")
    t_value, t_first, t_second = derivatives(theirs, arrays, "torch")
    np.testing.assert_array_equal(value, t_value)
    for i, (a, b) in enumerate(zip(first, t_first, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0, err_msg=f"first, input {i}")
    differs = SECOND_DIFFERS.get(case, False)
    for i, (a, b) in enumerate(zip(second, t_second, strict=True)):
        np.testing.assert_allclose(np.where(differs, 0, a), np.where(differs, 0, b), rtol=1e-15,
                                   atol=0, err_msg=f"second, input {i}")


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_elu_second_derivative_at_zero_is_the_left_branchs(alpha):
    x = cr.tensor(np.array([-0.0, 0.0, 1e-300, -1e-300]), requires_grad=True)
    (g,) = cr.grad(F.elu(x, alpha).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [alpha, alpha, 1.0, alpha])
    (gg,) = cr.grad(g.sum(), x)
    np.testing.assert_array_equal(gg.data, [alpha, alpha, 0.0, alpha])


# -- the docstrings' numbers -------------------------------------------------------------


def test_activation_slopes_at_zero_are_the_documented_ones():
    zero = np.array([-0.0, 0.0])
    np.testing.assert_array_equal(first_derivative(F.relu, zero)[0], [0.0, 0.0])
    np.testing.assert_array_equal(first_derivative(lambda x: F.leaky_relu(x, 0.1), zero)[0],
                                  [0.1, 0.1])  # "1 for z > 0, else slope"
    np.testing.assert_array_equal(first_derivative(lambda x: F.elu(x, 0.5), zero)[0],
                                  [0.5, 0.5])  # "else a + alpha", a = 0
    np.testing.assert_array_equal(first_derivative(cr.abs, zero)[0], [0.0, 0.0])


def test_ties_split_the_gradient_equally():
    ga, gb = first_derivative(cr.maximum, TIES_A, TIES_B)
    np.testing.assert_array_equal(ga, [[0.5, 1.0, 0.5], [0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(ga + gb, np.ones_like(ga))
    (g,) = first_derivative(lambda x: x.max(axis=1), REDUCE)  # "1/k among k ties"
    np.testing.assert_array_equal(g, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0, 1, 0]])
    (g,) = first_derivative(lambda x: x.min(), REDUCE)
    np.testing.assert_array_equal(g, [[0, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0, 0, 0]])


def test_clip_counts_its_bounds_inside():
    # "dy/dx = 1 where lo <= x <= hi": both bounds pass the gradient, as torch.clamp does
    (g,) = first_derivative(lambda x: cr.clip(x, -1.0, 1.0), X)
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 1, 1, 1, 0])
    with pytest.raises(ValueError, match=r"clip: min \(1.0\) is greater than max \(0.0\)"):
        cr.clip(cr.tensor(X), 1.0, 0.0)  # PyTorch returns max everywhere; chainrule refuses


def test_steps_have_zero_gradient_and_round_halves_to_even():
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    np.testing.assert_array_equal(cr.round(cr.tensor(halves)).data, [-2, -2, -0, 0, 2, 2])
    for fn in (cr.sign, cr.floor, cr.ceil, cr.round):
        np.testing.assert_array_equal(first_derivative(fn, halves)[0], 0.0)


def test_sort_and_topk_keep_ties_in_order_and_route_gradients_to_their_indices():
    x = np.array([2.0, 5.0, 2.0, 5.0, 1.0])
    values, indices = cr.sort(cr.tensor(x), descending=True)
    t_values, t_indices = torch.sort(torch.tensor(x), descending=True, stable=True)
    np.testing.assert_array_equal(indices.data, t_indices.numpy())
    np.testing.assert_array_equal(indices.data, [1, 3, 0, 2, 4])
    np.testing.assert_array_equal(values.data, t_values.numpy())
    seed = np.array([1.0, 10.0, 100.0])
    a = cr.tensor(x, requires_grad=True)
    top = cr.topk(a, 3)
    np.testing.assert_array_equal(top.values.data, torch.topk(torch.tensor(x), 3).values)
    np.testing.assert_array_equal(top.indices.data, [1, 3, 0])  # the earlier of tied entries
    top.values.backward(cr.tensor(seed))
    np.testing.assert_array_equal(a.grad.data, [100.0, 1.0, 0.0, 10.0, 0.0])


def test_sqrt_and_log_at_zero_give_infinite_slopes_as_torch():
    zero = np.array([0.0])
    with np.errstate(divide="ignore"):
        (g_sqrt,) = first_derivative(cr.sqrt, zero)
        (g_log,) = first_derivative(cr.log, zero)
    t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    torch.sqrt(t).sum().backward()
    assert g_sqrt[0] == t.grad.item() == np.inf
    t.grad = None
    torch.log(t).sum().backward()
    assert g_log[0] == t.grad.item() == np.inf


def test_softplus_past_torchs_threshold_is_the_exact_function():
    # deliberate: torch's softplus returns x itself where beta x > 20 (its threshold) and a
    # slope of exactly 1; chainrule computes max(z, 0) + log1p(e^-|beta z|) / beta, the
    # exact value at every z, as its docstring states; the two agree to 1e-10 relative
    x = np.array([19.0, 20.0, 20.5, 25.0])
    a = cr.tensor(x, requires_grad=True)
    y = F.softplus(a)
    y.sum().backward()
    np.testing.assert_allclose(y.data, x + np.log1p(np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(a.grad.data, 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(y.data, torch.nn.functional.softplus(torch.tensor(x)).numpy(),
                               rtol=1e-10)
