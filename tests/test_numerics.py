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
@pytest.mark.parametrize("case", list(FLAT))
@pytest.mark.parametrize("correction", [0, 1])
def test_std_var_flat_gradient_matches_torch(fn, case, correction):
    data = np.array(FLAT[case])
    if correction >= data.shape[1]:
        pytest.skip("n - ddof <= 0: test_std_var_no_degrees_of_freedom_as_torch")
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
