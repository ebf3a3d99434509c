"""Numerics at the edges, matched with PyTorch (float64) where PyTorch defines the value.

* cross-entropy with a -inf logit that is not the target: a finite loss and gradient;
* the gradient of x ** c at x = 0 for every kind of exponent (0 gives 0, not NaN);
* the gradient of std / var where the deviation is identically 0 (0, as finite
  differences give), and PyTorch's NaN/inf where n - ddof <= 0;
* 0-d tensors: every op keeps a 0-d ndarray in ``.data`` and ``.grad`` (forward and
  backward), and a micrograd-style network of scalar tensors trains.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from gradchecked import gradchecks

import chainrule as cr
import chainrule.functional as F
from chainrule.ops.elementwise import Pow, PowScalar, Sqrt, Where

# -- cross-entropy with -inf logits ---------------------------------------------------

LOGITS = [[1.0, -np.inf, 2.0], [0.5, 0.25, -np.inf], [-np.inf, 3.0, -1.0]]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, [1.0, 2.0, 0.5]])
def test_cross_entropy_masked_logit_is_finite_as_torch(reduction, weight):
    target = [0, 1, 1]
    x = cr.tensor(np.array(LOGITS), requires_grad=True)
    w = None if weight is None else cr.tensor(np.array(weight))
    loss = F.cross_entropy(x, cr.tensor(target), weight=w, reduction=reduction)
    (loss.sum() if reduction == "none" else loss).backward()
    tx = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    tw = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor(target), weight=tw,
                                              reduction=reduction)
    (tloss.sum() if reduction == "none" else tloss).backward()
    assert np.isfinite(loss.data).all() and np.isfinite(x.grad.data).all()
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_masked_logit_float32_and_both_backward_paths():
    x = cr.tensor(np.array(LOGITS, np.float32), requires_grad=True)
    loss = F.cross_entropy(x, cr.tensor([2, 0, 1]))
    assert loss.dtype == np.float32 and np.isfinite(loss.item())
    (g_graph,) = cr.grad(loss, x, create_graph=True)  # the differentiable backward
    loss.backward()  # the array fast path
    np.testing.assert_allclose(g_graph.data, x.grad.data, rtol=1e-5, atol=1e-7)
    assert x.grad.dtype == np.float32 and np.isfinite(x.grad.data).all()


def test_cross_entropy_masked_target_or_smoothing_is_inf_as_torch():
    # a -inf logit that carries weight (the target, or smoothing's share) costs inf
    for target, smoothing in (([1, 0, 1], 0.0), ([0, 1, 1], 0.1)):
        x = cr.tensor(np.array(LOGITS), requires_grad=True)
        loss = F.cross_entropy(x, cr.tensor(target), label_smoothing=smoothing)
        tloss = torch.nn.functional.cross_entropy(
            torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(target),
            label_smoothing=smoothing)
        assert loss.item() == tloss.item() == np.inf


# -- x ** c at x = 0 ------------------------------------------------------------------

EXPONENTS = [0, 0.0, 0.5, 1, 1.0, 2, 2.5, 3, -1.0, -0.5, -2]


@pytest.mark.parametrize("c", EXPONENTS)
def test_pow_scalar_gradient_at_zero_matches_torch(c):
    x = cr.tensor(np.zeros(3), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (x ** c).sum().backward()
    t = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (t ** c).sum().backward()
    np.testing.assert_array_equal(x.grad.data, t.grad.numpy())
    if c == 0:
        np.testing.assert_array_equal(x.grad.data, 0.0)


@gradchecks(PowScalar)
def test_pow_zero_exponent_gradchecks_at_zero():
    x = cr.tensor(np.array([0.0, 1.5, -2.0]), requires_grad=True)
    assert cr.gradcheck(lambda v: v ** 0.0, [x]) and cr.gradgradcheck(lambda v: v ** 0.0, [x])


def test_pow_tensor_exponent_zero_at_zero_base_matches_torch():
    base, expo = [0.0, 0.0, 2.0, 0.0], [0.0, 2.0, 0.0, 1.0]
    a = cr.tensor(np.array(base), requires_grad=True)
    b = cr.tensor(np.array(expo), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (a ** b).sum().backward()
    ta = torch.tensor(base, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(expo, dtype=torch.float64, requires_grad=True)
    (ta ** tb).sum().backward()
    np.testing.assert_allclose(a.grad.data, ta.grad.numpy())
    np.testing.assert_allclose(b.grad.data, tb.grad.numpy())
    assert np.isfinite(a.grad.data).all()


@gradchecks(Pow)
def test_pow_tensor_exponent_zero_gradchecks():
    a = cr.tensor(np.array([0.0, 1.5]), requires_grad=True)
    b = cr.tensor(np.array([0.0, 0.0]))
    assert cr.gradcheck(lambda u: u ** b, [a])


# -- std / var where the deviation is identically 0 ----------------------------------

FLAT = {"one per row": [[1.0], [2.0]], "constant": [[3.0, 3.0, 3.0], [-1.0, -1.0, -1.0]],
        "mixed": [[3.0, 3.0, 3.0], [1.0, 2.0, 4.0]]}


@pytest.mark.parametrize("fn", ["std", "var"])
@pytest.mark.parametrize("case, correction", [  # n - ddof <= 0: see the next test
    (case, c) for case in FLAT for c in (0, 1) if c < len(FLAT[case][0])])
def test_std_var_flat_gradient_matches_torch(fn, case, correction):
    data = np.array(FLAT[case])
    x = cr.tensor(data, requires_grad=True)
    y = getattr(x, fn)(axis=1, correction=correction)
    y.sum().backward()
    t = torch.tensor(data, requires_grad=True)
    ty = getattr(t, fn)(dim=1, correction=correction)
    ty.sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-15)
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), atol=1e-15)
    assert np.isfinite(x.grad.data).all()


@gradchecks(Where, Sqrt)
def test_std_flat_gradient_is_what_finite_differences_give():
    x = cr.tensor(np.array([[3.0, 3.0], [1.0, 2.0]]), requires_grad=True)
    assert cr.gradcheck(lambda v: v.std(axis=1), [x])
    g = cr.grad(x.std(axis=1).sum(), x)[0]
    np.testing.assert_array_equal(g.data[0], 0.0)


def test_std_flat_keeps_float32_and_the_graph():
    x = cr.tensor(np.full((2, 3), 5.0, np.float32), requires_grad=True)
    y = x.std(axis=0)
    assert y.dtype == np.float32 and y.requires_grad
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, 0.0)


@pytest.mark.parametrize("fn", ["std", "var"])
@pytest.mark.parametrize("data,correction", [([[1.0], [2.0]], 1), ([[1.0, 2.0]], 2),
                                             ([[3.0, 3.0]], 2)])
def test_std_var_no_degrees_of_freedom_as_torch(fn, data, correction):
    x = cr.tensor(np.array(data), requires_grad=True)
    with pytest.warns(RuntimeWarning, match=r"degrees of freedom n - ddof are <= 0"):
        y = getattr(x, fn)(axis=1, correction=correction)
    with np.errstate(all="ignore"):
        y.sum().backward()
    t = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = getattr(t, fn)(dim=1, correction=correction)
    ty.sum().backward()
    np.testing.assert_array_equal(y.data, ty.detach().numpy())  # NaN or inf where torch's
    # the gradient is not finite where torch's is not (torch's var gives +-inf where the
    # chain rule through the mean gives inf - inf = NaN: both say "undefined")
    np.testing.assert_array_equal(np.isfinite(x.grad.data), np.isfinite(t.grad.numpy()))


# -- 0-d tensors: .data and .grad are 0-d ndarrays, for every op -----------------------
# The elementwise and reduction tables of test_core.py and test_ops_more.py, on 0-d inputs.
# Each op's gradient is gradchecked (and declared with @gradchecks) in its own test; here
# gradcheck only confirms that the 0-d case computes the same derivative.

import test_core  # noqa: E402  (the tables, after the numerics tests above)
import test_ops_more  # noqa: E402


def _zero_d_cases():
    """name -> (fn of one or two 0-d tensors, input values, torch fn or None, smooth)."""
    cases = {}
    for name, fn in test_core.BINARY.items():
        cases[f"core.{name}"] = (fn, (0.7, -1.3), None, name not in ("maximum", "minimum"))
    for name, (fn, kinked) in test_core.UNARY.items():
        cases[f"core.{name}"] = (fn, (0.6,), None, not kinked)
    for name in test_core.REDUCTIONS:
        cases[f"core.{name}"] = (lambda t, name=name: getattr(t, name)(), (0.6,), None,
                                 name not in ("max", "min", "std"))
    for name, (fn, theirs, (low, high)) in test_ops_more.UNARY.items():
        cases[f"more.{name}"] = (fn, (0.4 * low + 0.6 * high,), theirs, True)
    for name, (fn, theirs) in test_ops_more.STEPS.items():
        cases[f"more.{name}"] = (lambda t, fn=fn: fn(t) + t, (0.37,),
                                 lambda t, theirs=theirs: theirs(t) + t, False)
    for name, (fn, theirs) in test_ops_more.BINARY.items():
        cases[f"more.{name}"] = (fn, (0.7, -1.1), theirs, True)
    return cases


ZERO_D = _zero_d_cases()


def _is_0d_array(t):
    return type(t.data) is np.ndarray and t.data.shape == ()


@pytest.mark.parametrize("name", list(ZERO_D))
def test_every_op_on_0d_keeps_0d_arrays_forward_and_backward(name):
    fn, values, theirs, smooth = ZERO_D[name]
    xs = [cr.tensor(np.array(v), requires_grad=True) for v in values]
    y = fn(*xs)
    assert _is_0d_array(y), type(y.data)
    y.backward()  # the array fast path where the op has one
    assert all(_is_0d_array(x.grad) for x in xs), [type(x.grad.data) for x in xs]
    grads = cr.grad(fn(*xs), xs, create_graph=True)  # the differentiable backward
    assert all(_is_0d_array(g) for g in grads)
    np.testing.assert_allclose([g.item() for g in grads], [x.grad.item() for x in xs])
    with cr.no_grad():
        assert _is_0d_array(fn(*xs))
    assert cr.gradcheck(fn, xs)
    if smooth:
        assert cr.gradgradcheck(fn, xs)
    if theirs is not None:
        ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
        ty = theirs(*ts)
        ty.backward()
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose([x.grad.item() for x in xs],
                                   [0.0 if t.grad is None else t.grad.item() for t in ts],
                                   rtol=1e-12)


def test_0d_results_update_in_place_under_no_grad():
    x = cr.tensor(np.array(2.0), requires_grad=True)
    with cr.no_grad():
        z = x * 3
        assert type(z.data) is np.ndarray
        z.zero_()
        assert z.item() == 0.0
        z += 1
        assert z.item() == 1.0
        z[...] = 5
        assert z.item() == 5.0
        z.fill_(-1.0)
        assert z.item() == -1.0
    assert np.asarray(x.detach() * 1.0).shape == () and np.asarray(z) == -1.0
    (x * 3).backward()
    assert type(x.grad.data) is np.ndarray
    x.grad.zero_()  # the gradient a 0-d leaf accumulates is a writable array too
    assert x.grad.item() == 0.0


def test_0d_float32_stays_float32():
    x = cr.tensor(np.float32(0.5), requires_grad=True)
    y = F.tanh(x * 2.0) ** 2
    assert type(y.data) is np.ndarray and y.dtype == np.float32
    y.backward()
    assert type(x.grad.data) is np.ndarray and x.grad.dtype == np.float32


def test_micrograd_style_scalar_mlp_trains():
    """micrograd's demo: neurons of 0-d tensors (w . x + b, tanh), a 3-4-4-1 network trained
    by SGD on four examples; the squared-error loss decreases."""
    rng = np.random.default_rng(0)
    sizes = [3, 4, 4, 1]
    layers = [[([cr.tensor(rng.uniform(-1, 1), requires_grad=True) for _ in range(n_in)],
                cr.tensor(rng.uniform(-1, 1), requires_grad=True)) for _ in range(n_out)]
              for n_in, n_out in zip(sizes, sizes[1:], strict=False)]
    params = [p for layer in layers for w, b in layer for p in (*w, b)]
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]

    def forward(x):
        acts = [cr.tensor(np.array(v)) for v in x]
        for layer in layers:
            acts = [F.tanh(sum((wi * ai for wi, ai in zip(w, acts, strict=True)), b))
                    for w, b in layer]
        return acts[0]

    losses = []
    for _ in range(20):
        loss = sum((forward(x) - y) ** 2 for x, y in zip(xs, ys, strict=True))
        for p in params:
            p.grad = None
        loss.backward()
        assert all(type(p.grad.data) is np.ndarray and p.grad.shape == () for p in params)
        with cr.no_grad():
            for p in params:
                p -= 0.05 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(b < a + 1e-12 for a, b in zip(losses, losses[1:], strict=False)), losses


# -- the row maximum over columns or by halving (ops/kernels.max_along) ---------------------

@pytest.mark.parametrize("shape", [(128, 2), (128, 3), (200, 10), (512, 27), (32, 4, 16, 16),
                                   (130, 63), (128, 64), (64, 5), (3, 65), (7,), (), (2, 32),
                                   (1, 2), (300, 33), (40, 3, 32), (0, 16)])
def test_max_along_equals_numpys_max_bit_for_bit(shape):
    from chainrule.ops.kernels import max_along
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    if x.size:
        x.flat[::11] = -np.inf  # masked scores
        x.flat[5::97] = np.nan  # NaN wins wherever it is, as in numpy
    if x.ndim >= 2 and x.shape[0] > 1:
        x[1] = -np.inf  # a row with nothing allowed
    axis = -1 if x.ndim else None
    got = max_along(x, -1) if x.ndim else max_along(x, 0)
    want = x.max(axis=axis, keepdims=True)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_max_along_other_axes_are_numpys():
    from chainrule.ops.kernels import max_along
    x = np.random.default_rng(0).standard_normal((300, 6, 4))
    for axis in (0, 1, -2):
        np.testing.assert_array_equal(max_along(x, axis), x.max(axis=axis, keepdims=True))
