"""numpy functions on Tensors keep the graph (__array_ufunc__, __array_function__): each
mapped ufunc and function gives numpy's values and chainrule's gradients; what has no
differentiable counterpart refuses a tensor that requires grad, naming the alternative."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.numpy_api import FUNCTIONS, UFUNCS

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")


def leaf(shape=(2, 3), low=-0.9, high=0.9, seed=0):
    return cr.tensor(np.random.default_rng(seed).uniform(low, high, shape), requires_grad=True)


def same_as(numpy_call, chainrule_call, x, *rest):
    """numpy's call on a Tensor: a Tensor in the graph with chainrule's values and gradient,
    and numpy's values on the plain arrays."""
    y = numpy_call(x, *rest)
    assert isinstance(y, cr.Tensor) and y.grad_fn is not None
    np.testing.assert_allclose(y.data, numpy_call(x.data, *[getattr(r, "data", r) for r in rest]),
                               rtol=1e-12, atol=1e-15)
    (g,) = cr.grad((y * y).sum(), [x])
    (want,) = cr.grad((chainrule_call(x, *rest) ** 2).sum(), [x])
    np.testing.assert_allclose(g.data, want.data, rtol=1e-12, atol=1e-15)
    assert cr.gradcheck(lambda t: numpy_call(t, *rest), [x])


@pytest.mark.parametrize("ufunc", [u for u in UFUNCS if u.nin == 1 and u is not np.positive],
                         ids=lambda u: u.__name__)
def test_unary_ufuncs(ufunc):
    x = leaf(low=0.2, high=0.9)
    same_as(ufunc, UFUNCS[ufunc], x)
    assert np.positive(x) is x  # +x, as Tensor.__pos__


@pytest.mark.parametrize("ufunc", [u for u in UFUNCS if u.nin == 2 and u is not np.matmul],
                         ids=lambda u: u.__name__)
def test_binary_ufuncs_either_side(ufunc):
    x, other = leaf(low=0.2, high=0.9), np.random.default_rng(1).uniform(0.5, 1.5, (3,))
    same_as(lambda t, o: ufunc(t, o), UFUNCS[ufunc], x, other)
    same_as(lambda t, o: ufunc(o, t), lambda t, o: UFUNCS[ufunc](o, t), x, other)


def test_operators_with_an_array_or_numpy_scalar_on_the_left():
    x = leaf((3,))
    a = np.array([1.0, 2.0, 3.0])
    results = [a + x, a - x, a * x, a / (x + 2), a ** x, np.float64(2.0) * x, a @ x,
               a % (x + 2), np.ones((2, 3)) @ x]
    for y in results:
        assert isinstance(y, cr.Tensor) and y.requires_grad
    (a * x + np.float64(3.0) ** x).sum().backward()
    np.testing.assert_allclose(x.grad.data, a + 3.0 ** x.data * np.log(3.0))
    assert (a < x).dtype == np.bool_ and isinstance(a == x, cr.Tensor)
    f32 = cr.tensor([1.0, 2.0])
    assert (np.array([1.0, 1.0]) * f32).dtype == np.float32  # constants adopt the tensor's dtype


def test_ufunc_methods():
    x = leaf((2, 3))
    same_as(lambda t: np.add.reduce(t), lambda t: t.sum(0), x)
    same_as(lambda t: np.multiply.reduce(t, axis=1, keepdims=True),
            lambda t: t.prod(1, keepdims=True), x)
    same_as(lambda t: np.maximum.reduce(t, axis=None), lambda t: t.max(), x)
    same_as(lambda t: np.add.accumulate(t, axis=1), lambda t: t.cumsum(1), x)
    same_as(lambda t: np.multiply.outer(t, t[0]), lambda t: t.reshape(2, 3, 1) * t[0], x)


def test_hips_autograd_style_just_works():
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((4, 3)), rng.standard_normal(3)
    W = cr.tensor(w, requires_grad=True)
    loss = np.sum(np.tanh(np.dot(W, x)) ** 2) + np.mean(np.exp(-np.abs(W)))
    loss.backward()
    tw = torch.tensor(w, requires_grad=True)
    tl = (torch.tanh(tw @ torch.tensor(x)) ** 2).sum() + torch.exp(-tw.abs()).mean()
    tl.backward()
    assert loss.item() == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(W.grad.data, tw.grad.numpy(), rtol=1e-12)


# numpy call on a (2, 3) tensor: (numpy function call, the chainrule call it must equal)
FUNCTION_CASES = {
    "sum": (lambda t: np.sum(t, axis=1, keepdims=True), lambda t: t.sum(1, keepdims=True)),
    "mean": (lambda t: np.mean(t), lambda t: t.mean()),
    "prod": (lambda t: np.prod(t, 0), lambda t: t.prod(0)),
    "max": (lambda t: np.max(t, axis=0), lambda t: t.max(0)),
    "amin": (lambda t: np.amin(t, 1), lambda t: t.min(1)),
    "var": (lambda t: np.var(t, ddof=1), lambda t: t.var(ddof=1)),
    "std": (lambda t: np.std(t, axis=1), lambda t: t.std(1)),
    "cumsum": (lambda t: np.cumsum(t, 1), lambda t: t.cumsum(1)),
    "cumprod": (lambda t: np.cumprod(t), lambda t: t.cumprod()),
    "concatenate": (lambda t: np.concatenate([t, t * 2], axis=1), lambda t: cr.cat([t, t * 2], 1)),
    "concatenate_flat": (lambda t: np.concatenate([t, t], axis=None),
                         lambda t: cr.cat([t.ravel(), t.ravel()])),
    "stack": (lambda t: np.stack([t, t], -1), lambda t: cr.stack([t, t], -1)),
    "reshape": (lambda t: np.reshape(t, (3, 2)), lambda t: t.reshape(3, 2)),
    "ravel": (lambda t: np.ravel(t), lambda t: t.ravel()),
    "transpose": (lambda t: np.transpose(t), lambda t: t.T),
    "swapaxes": (lambda t: np.swapaxes(t[None], 0, 2), lambda t: t[None].swapaxes(0, 2)),
    "moveaxis": (lambda t: np.moveaxis(t[None], 0, -1), lambda t: t[None].permute(1, 2, 0)),
    "squeeze": (lambda t: np.squeeze(t[:, :1]), lambda t: t[:, 0]),
    "expand_dims": (lambda t: np.expand_dims(t, (0, 2)), lambda t: t[None, :, None]),
    "broadcast_to": (lambda t: np.broadcast_to(t, (4, 2, 3)), lambda t: t.broadcast_to((4, 2, 3))),
    "where": (lambda t: np.where(np.asarray(getattr(t, "detach", lambda: t)()) > 0, t, t * t),
              lambda t: cr.where(t.data > 0, t, t * t)),
    "clip": (lambda t: np.clip(t, -0.5, 0.5), lambda t: t.clip(-0.5, 0.5)),
    "clip_names": (lambda t: np.clip(t, min=-0.5), lambda t: t.clip(-0.5)),
    "round": (lambda t: np.round(t, 1) + t, lambda t: t.round(1) + t),
    "dot": (lambda t: np.dot(t, t.T), lambda t: t @ t.T),
    "inner": (lambda t: np.inner(t, t), lambda t: t @ t.T),
    "outer": (lambda t: np.outer(t, t[0]), lambda t: cr.outer(t, t[0])),
    "tensordot": (lambda t: np.tensordot(t, t, axes=([0], [0])), lambda t: t.T @ t),
    "einsum": (lambda t: np.einsum("ij,kj->ik", t, t), lambda t: t @ t.T),
    "trace": (lambda t: np.trace(t), lambda t: t[0, 0] + t[1, 1]),
    "diagonal": (lambda t: np.diagonal(t, 1), lambda t: t.diagonal(1)),
    "diag": (lambda t: np.diag(t[0]), lambda t: cr.diag(t[0])),
    "tril": (lambda t: np.tril(t), lambda t: t.tril()),
    "triu": (lambda t: np.triu(t, 1), lambda t: t.triu(1)),
    "flip": (lambda t: np.flip(t, 1), lambda t: t.flip(1)),
    "roll": (lambda t: np.roll(t, 1), lambda t: cr.roll(t, 1)),
    "repeat": (lambda t: np.repeat(t, 2, axis=0), lambda t: t.repeat_interleave(2, 0)),
    "tile": (lambda t: np.tile(t, (2, 1)), lambda t: t.repeat(2, 1)),
    "pad": (lambda t: np.pad(t, 1, constant_values=0.5), lambda t: cr.pad(t, 1, "constant", 0.5)),
    "sort": (lambda t: np.sort(t), lambda t: t.sort().values),
    "take_along_axis": (lambda t: np.take_along_axis(t, np.array([[2], [0]]), 1),
                        lambda t: t.gather(1, np.array([[2], [0]]))),
    "split": (lambda t: np.split(t, 3, axis=1)[2], lambda t: t[:, 2:]),
}


@pytest.mark.parametrize("name", list(FUNCTION_CASES))
def test_numpy_functions(name):
    ours, reference = FUNCTION_CASES[name]
    same_as(ours, reference, leaf(seed=4))


def test_every_mapped_function_is_exercised():
    exercised = {"sum", "mean", "prod", "max", "amax", "min", "amin", "var", "std", "cumsum",
                 "cumprod", "concatenate", "stack", "reshape", "ravel", "transpose", "swapaxes",
                 "moveaxis", "squeeze", "expand_dims", "broadcast_to", "where", "clip", "round",
                 "around", "dot", "inner", "outer", "tensordot", "einsum", "trace", "diagonal",
                 "diag", "tril", "triu", "flip", "roll", "repeat", "tile", "pad", "sort",
                 "take_along_axis", "split", "argmax", "argmin", "argsort", "hstack", "vstack",
                 "zeros_like", "ones_like", "empty_like", "full_like"}
    assert {f.__name__ for f in FUNCTIONS} <= exercised


def test_positions_and_like_functions():
    x = leaf(seed=5)
    assert np.argmax(x, axis=1).tolist() == np.argmax(x.data, axis=1).tolist()
    assert np.argmin(x).item() == np.argmin(x.data)
    assert np.argsort(x, axis=0).tolist() == np.argsort(x.data, axis=0).tolist()
    z = np.zeros_like(x)
    assert isinstance(z, cr.Tensor) and not z.requires_grad and z.shape == x.shape
    assert np.full_like(x, 2.0).tolist() == [[2.0] * 3] * 2 and np.ones_like(x, dtype=int).dtype
    rows, cols = np.where(x.data > 0)
    assert (np.where(x > 0)[0] == rows).all() and (np.where(x > 0)[1] == cols).all()


def test_value_only_functions_and_bool_ufuncs_run_on_grad_tensors():
    x = leaf(seed=6)
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6
    assert np.allclose(x, x.data) and np.array_equal(x, x) and not np.any(np.isnan(x))
    assert np.count_nonzero(x > 0) == int((x.data > 0).sum())
    assert isinstance(np.isfinite(x), cr.Tensor) and np.isfinite(x).all()


@pytest.mark.parametrize("call, hint", [
    (lambda x: np.median(x), "cr.sort"),
    (lambda x: np.linalg.norm(x), r"np\.linalg\.norm .*cr\.sqrt\(\(x \* x\)\.sum\(\)\)"),
    (lambda x: np.arctan2(x, x), r"cr\.arctan\(y / x\)"),
    (lambda x: np.floor_divide(x, 2), r"cr\.floor\(a / b\)"),
    (lambda x: np.percentile(x, 50), "use chainrule's ops"),
    (lambda x: np.add.reduceat(x, [0, 1]), r"np\.add\.reduceat"),
])
def test_unsupported_functions_refuse_a_tensor_that_requires_grad(call, hint):
    x = leaf(seed=7)
    with pytest.raises(TypeError, match=f"has no differentiable chainrule counterpart.*{hint}"
                       f"|{hint}.*detach"):
        call(x)
    result = call(x.detach())  # without grad: numpy on the values
    assert result is not None


def test_unsupported_functions_run_on_tensors_without_grad():
    x = leaf(seed=8).detach()
    assert np.median(x) == np.median(x.data)
    np.testing.assert_allclose(np.percentile(x, [25, 75]), np.percentile(x.data, [25, 75]))
    assert isinstance(np.arctan2(x, x), cr.Tensor)


def test_options_without_meaning_are_refused():
    x = leaf(seed=9)
    with pytest.raises(TypeError, match=r"np\.sum: out= is not supported"):
        np.sum(x, out=np.zeros(()))
    with pytest.raises(TypeError, match=r"np\.mean: dtype= is not supported"):
        np.mean(x, dtype=np.float32)
    with pytest.raises(TypeError, match=r"write y = np\.add"):
        np.add(x, 1, out=np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"cr\.cat\(tensors, dim=\.\.\.\)"):
        np.hstack([x, x])
    with pytest.raises(TypeError, match="no differentiable chainrule counterpart"):
        np.add(x, 1, where=x.data > 0)


def test_out_and_in_place_on_arrays_without_grad():
    a = np.zeros(3)
    t = cr.tensor([1.0, 2.0, 3.0], dtype=np.float64)
    a += t
    assert isinstance(a, np.ndarray) and a.tolist() == [1.0, 2.0, 3.0]
    version = t._version
    np.multiply(t, 2, out=t)
    assert t.tolist() == [2.0, 4.0, 6.0] and t._version == version + 1
    with pytest.raises(TypeError, match="requires grad"):
        b = np.zeros(3)
        b += leaf((3,))


def test_array_conversion_refuses_a_tensor_that_requires_grad():
    x = leaf(seed=10)
    for convert in (np.asarray, np.array, lambda t: np.array([t, t])):
        with pytest.raises(RuntimeError, match=r"requires grad.*t\.detach\(\)\.numpy\(\)"):
            convert(x)
    np.testing.assert_array_equal(np.asarray(x.detach()), x.data)
    assert np.asarray(x.detach(), dtype=np.float32).dtype == np.float32
