"""The ops people expect from PyTorch and numpy: every one gradchecked and gradgradchecked
in float64 over hypothesis-drawn shapes, and its values and gradients compared with
PyTorch's in float64 (the zero-gradient ones checked to give zeros)."""

from __future__ import annotations

import numpy as np
import pytest
from gradchecked import gradchecks, params
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import chainrule as cr
import chainrule.functional as F
from chainrule.ops import elementwise as ew
from chainrule.ops import linalg as la
from chainrule.ops import reductions as red
from chainrule.ops import shape as sh

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")

FEW = settings(max_examples=5, deadline=None)
SHAPES = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)


def draw(shape, seed, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def against_torch(ours, theirs, *arrays, seed=0, zero_grad=False):
    """Values and gradients (of a random weighting of the output) equal PyTorch's."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = ours(*xs), theirs(*ts)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float64
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(seed + 99).standard_normal(y.shape)
    (y * w).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts, strict=True):
        theirs_grad = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(x.grad.data, theirs_grad, rtol=1e-9, atol=1e-12)
        if zero_grad:
            assert not x.grad.data.any()
    return xs


def check(fn, *arrays, second=True):
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    assert cr.gradcheck(fn, xs)
    if second:
        assert cr.gradgradcheck(fn, xs)


# -- elementwise -------------------------------------------------------------------------

# name: (chainrule, torch, (low, high) of the inputs)
UNARY = {
    "sin": (cr.sin, torch.sin, (-3, 3)),
    "cos": (lambda x: x.cos(), torch.cos, (-3, 3)),
    "tan": (cr.tan, torch.tan, (-1.2, 1.2)),
    "arcsin": (cr.arcsin, torch.asin, (-0.9, 0.9)),
    "asin_method": (lambda x: x.asin(), torch.arcsin, (-0.9, 0.9)),
    "arccos": (cr.acos, torch.acos, (-0.9, 0.9)),
    "arctan": (lambda x: x.atan(), torch.atan, (-3, 3)),
    "sinh": (cr.sinh, torch.sinh, (-2, 2)),
    "cosh": (lambda x: x.cosh(), torch.cosh, (-2, 2)),
    "log1p": (cr.log1p, torch.log1p, (-0.8, 2)),
    "expm1": (lambda x: x.expm1(), torch.expm1, (-2, 2)),
    "log2": (cr.log2, torch.log2, (0.2, 3)),
    "log10": (lambda x: x.log10(), torch.log10, (0.2, 3)),
}
STEPS = {
    "sign": (cr.sign, torch.sign),
    "floor": (lambda x: x.floor(), torch.floor),
    "ceil": (cr.ceil, torch.ceil),
    "round": (cr.round, torch.round),
    "round_decimals": (lambda x: x.round(1), lambda t: torch.round(t, decimals=1)),
}


@pytest.mark.parametrize("name", params(UNARY, {
    "sin": ew.Sin, "cos": ew.Cos, "tan": ew.Tan, "arcsin": ew.Arcsin, "asin_method": ew.Arcsin,
    "arccos": ew.Arccos, "arctan": ew.Arctan, "sinh": ew.Sinh, "cosh": ew.Cosh,
    "log1p": ew.Log1p, "expm1": ew.Expm1, "log2": ew.Log2, "log10": ew.Log10}))
@FEW
@given(shape=SHAPES, seed=st.integers(0, 1000))
def test_unary(name, shape, seed):
    ours, theirs, (low, high) = UNARY[name]
    x = draw(shape, seed, low, high)
    against_torch(ours, theirs, x, seed=seed)
    check(ours, x)


@pytest.mark.parametrize("name", params(STEPS, {
    "sign": ew.Sign, "floor": ew.Floor, "ceil": ew.Ceil, "round": ew.Round,
    "round_decimals": ew.Round}))
@FEW
@given(shape=SHAPES, seed=st.integers(0, 1000))
def test_zero_gradient_ops(name, shape, seed):
    ours, theirs = STEPS[name]
    x = draw(shape, seed, -3, 3)
    xs = against_torch(ours, theirs, x, seed=seed, zero_grad=True)
    assert ours(xs[0]).requires_grad  # recorded, so the gradient is zeros, not missing
    check(lambda t: ours(t) + t, x, second=False)


BINARY = {
    "remainder": (cr.remainder, torch.remainder),
    "mod_operator": (lambda a, b: a % b, lambda a, b: a % b),
    "logaddexp": (cr.logaddexp, torch.logaddexp),
    "logaddexp_method": (lambda a, b: a.logaddexp(b), lambda a, b: a.logaddexp(b)),
}


@pytest.mark.parametrize("name", params(BINARY, {
    "remainder": ew.Remainder, "mod_operator": ew.Remainder, "logaddexp": ew.LogAddExp,
    "logaddexp_method": ew.LogAddExp}))
@FEW
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 1000))
def test_binary(name, shapes, seed):
    ours, theirs = BINARY[name]
    a = draw(shapes.input_shapes[0], seed, -3, 3)
    b = draw(shapes.input_shapes[1], seed + 1, 0.5, 1.5) * np.where(
        draw(shapes.input_shapes[1], seed + 2) > 0, 1, -1)
    against_torch(ours, theirs, a, b, seed=seed)
    check(ours, a, b)


def test_mod_with_constants_and_python_semantics():
    x = cr.tensor([-3.5, 2.0, 7.25], dtype=np.float64)
    assert (x % 2).tolist() == [0.5, 0.0, 1.25] == [v % 2 for v in (-3.5, 2.0, 7.25)]
    assert (5.0 % cr.tensor([3.0, -3.0])).tolist() == [2.0, -1.0]
    assert round(cr.tensor([2.5, 3.5])).tolist() == [2.0, 4.0]  # halves to even


# -- reductions and scans -------------------------------------------------------------------


def _axis_and_zeros(data, shape):
    ndim = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1)))
    x = draw(shape, data.draw(st.integers(0, 1000)), 0.3, 1.5) * np.where(
        draw(shape, data.draw(st.integers(0, 1000))) > 0, 1, -1)
    if data.draw(st.booleans()):  # zeros, where y / x_i is 0 / 0
        x.flat[data.draw(st.integers(0, x.size - 1))] = 0.0
        if data.draw(st.booleans()):
            x.flat[data.draw(st.integers(0, x.size - 1))] = 0.0
    return axis, x


@gradchecks(red.Prod)
@FEW
@given(shape=SHAPES, data=st.data())
def test_prod(shape, data):
    axis, x = _axis_and_zeros(data, shape)
    keep = data.draw(st.booleans())
    if axis is None:
        against_torch(cr.prod, torch.prod, x)
    else:
        against_torch(lambda t: t.prod(dim=axis, keepdim=keep),
                      lambda t: t.prod(dim=axis, keepdim=keep), x)
    check(lambda t: cr.prod(t, axis, keep), x)


@pytest.mark.parametrize("name", params(["cumsum", "cumprod"],
                                         {"cumsum": red.Cumsum, "cumprod": red.Cumprod}))
@FEW
@given(shape=SHAPES, data=st.data())
def test_scans(name, shape, data):
    axis, x = _axis_and_zeros(data, shape)
    ours = getattr(cr, name)
    if axis is None:  # numpy: over the flattened tensor
        against_torch(ours, lambda t: getattr(torch, name)(t.reshape(-1), 0), x)
    else:
        against_torch(lambda t: getattr(t, name)(dim=axis),
                      lambda t: getattr(torch, name)(t, dim=axis), x)
    check(lambda t: ours(t, axis), x)


@FEW
@given(shape=SHAPES, data=st.data())
def test_logsumexp_public(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = draw(shape, data.draw(st.integers(0, 1000)), -3, 3)
    against_torch(lambda t: cr.logsumexp(t, dim=axis), lambda t: torch.logsumexp(t, axis), x)
    against_torch(lambda t: t.logsumexp(axis, keepdims=True),
                  lambda t: t.logsumexp(axis, keepdim=True), x)
    check(lambda t: cr.logsumexp(t, axis), x)


@FEW
@given(shape=SHAPES, data=st.data())
def test_argmax_argmin(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = draw(shape, data.draw(st.integers(0, 1000)))
    t = torch.tensor(x)
    for name in ("argmax", "argmin"):
        np.testing.assert_array_equal(getattr(cr, name)(cr.tensor(x), dim=axis).data,
                                      getattr(torch, name)(t, dim=axis).numpy())
        np.testing.assert_array_equal(getattr(cr.tensor(x), name)(axis, keepdims=True).data,
                                      getattr(t, name)(axis, keepdim=True).numpy())
        assert getattr(cr, name)(cr.tensor(x)).item() == getattr(torch, name)(t).item()
    with pytest.raises(ValueError, match="axis 5 is out of range"):
        cr.argmax(cr.tensor(x), dim=5)


# -- shape ops ------------------------------------------------------------------------------

# name: (chainrule, torch), over a (2, 3, 4) input
SHAPE_OPS = {
    "flip": (lambda x: cr.flip(x, dims=(0, 2)), lambda t: torch.flip(t, (0, 2))),
    "flip_method": (lambda x: x.flip(1), lambda t: t.flip(1)),
    "flip_all": (cr.flip, lambda t: torch.flip(t, (0, 1, 2))),
    "roll": (lambda x: cr.roll(x, 2, dims=1), lambda t: torch.roll(t, 2, 1)),
    "roll_many": (lambda x: x.roll((1, -1), (0, 2)), lambda t: t.roll((1, -1), (0, 2))),
    "roll_flat": (lambda x: cr.roll(x, 5), lambda t: torch.roll(t, 5)),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda t: t.repeat(2, 1, 3)),
    "repeat_more_axes": (lambda x: x.repeat(2, 1, 1, 2), lambda t: t.repeat(2, 1, 1, 2)),
    "tile": (lambda x: cr.tile(x, (2, 1)), lambda t: torch.tile(t, (2, 1))),
    "repeat_interleave": (lambda x: x.repeat_interleave(2, dim=1),
                          lambda t: t.repeat_interleave(2, dim=1)),
    "repeat_counts": (lambda x: cr.repeat(x, [2, 0, 1], axis=1),
                      lambda t: torch.repeat_interleave(t, torch.tensor([2, 0, 1]), dim=1)),
    "repeat_flat": (lambda x: cr.repeat(x, 2), lambda t: torch.repeat_interleave(t, 2)),
    "pad_torch": (lambda x: F.pad(x, (1, 2, 0, 1), value=0.5),
                  lambda t: torch.nn.functional.pad(t, (1, 2, 0, 1), value=0.5)),
    "pad_numpy": (lambda x: cr.pad(x, ((0, 0), (1, 0), (2, 1))),
                  lambda t: torch.nn.functional.pad(t, (2, 1, 1, 0))),
    "sort": (lambda x: cr.sort(x, dim=1).values, lambda t: torch.sort(t, dim=1).values),
    "sort_desc": (lambda x: x.sort(0, descending=True)[0], lambda t: t.sort(0, True)[0]),
    "topk": (lambda x: x.topk(2).values, lambda t: t.topk(2).values),
    "topk_smallest": (lambda x: cr.topk(x, 3, dim=1, largest=False)[0],
                      lambda t: torch.topk(t, 3, dim=1, largest=False)[0]),
    "gather": (lambda x: x.gather(2, np.array([[[0, 3], [1, 1], [2, 0]]] * 2)),
               lambda t: t.gather(2, torch.tensor([[[0, 3], [1, 1], [2, 0]]] * 2))),
    "gather_smaller": (lambda x: cr.gather(x, 1, np.array([[[2, 0, 0]]])),
                       lambda t: torch.gather(t, 1, torch.tensor([[[2, 0, 0]]]))),
    "take_along_axis": (lambda x: cr.take_along_axis(x, np.array([[[1], [0], [3]]]), 2),
                        lambda t: t.gather(2, torch.tensor([[[1], [0], [3]]] * 2))),
    "scatter_add": (lambda x: x.scatter_add(1, np.array([[[0, 2, 2, 0]], [[1, 1, 1, 1]]]),
                                            x[:, :1] * x[:, 1:2]),
                    lambda t: t.scatter_add(1, torch.tensor([[[0, 2, 2, 0]], [[1, 1, 1, 1]]]),
                                            t[:, :1] * t[:, 1:2])),
    "index_select": (lambda x: x.index_select(1, [2, 0, 2]),
                     lambda t: t.index_select(1, torch.tensor([2, 0, 2]))),
    "index_select_0": (lambda x: cr.index_select(x, 0, np.array([1, 1])),
                       lambda t: torch.index_select(t, 0, torch.tensor([1, 1]))),
    "masked_fill": (lambda x: x.masked_fill(x.data > 0.5, -1.0),
                    lambda t: t.masked_fill(t.detach() > 0.5, -1.0)),
    "masked_fill_broadcast": (lambda x: cr.masked_fill(x, np.array([True, False, True, False]),
                                                       2.0),
                              lambda t: t.masked_fill(torch.tensor([True, False, True, False]),
                                                      2.0)),
    "split_sizes": (lambda x: x.split(3, dim=2)[1] * x.split([1, 2], 1)[1][:, :1, 1:2],
                    lambda t: t.split(3, dim=2)[1] * t.split([1, 2], 1)[1][:, :1, 1:2]),
    "chunk": (lambda x: cr.chunk(x, 2, 1)[1], lambda t: torch.chunk(t, 2, 1)[1]),
    "expand": (lambda x: x[:, :1].expand(5, -1, 3, -1), lambda t: t[:, :1].expand(5, -1, 3, -1)),
}


@gradchecks(sh.Flip, sh.Roll, sh.Tile, sh.Pad)
def test_flip_roll_tile_and_pad_are_gradchecked():
    x = draw((2, 3, 4), 3)
    for name in ("flip", "roll", "tile", "pad_torch"):
        check(SHAPE_OPS[name][0], x)


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops(name):
    ours, theirs = SHAPE_OPS[name]
    x = draw((2, 3, 4), 7)
    against_torch(ours, theirs, x)
    check(ours, x)


@FEW
@given(shape=SHAPES, data=st.data())
def test_shape_ops_random_shapes(shape, data):
    ndim = len(shape)
    axis = data.draw(st.integers(-ndim, ndim - 1))
    x = draw(shape, data.draw(st.integers(0, 1000)))
    reps = data.draw(st.lists(st.integers(1, 2), min_size=ndim, max_size=ndim + 1))
    shift = data.draw(st.integers(-4, 4))
    k = data.draw(st.integers(0, shape[axis]))
    cases = [
        (lambda t: cr.flip(t, axis), lambda t: torch.flip(t, (axis,))),
        (lambda t: t.roll(shift, axis), lambda t: t.roll(shift, axis)),
        (lambda t: t.repeat(*reps), lambda t: t.repeat(*reps)),
        (lambda t: cr.repeat(t, 2, axis), lambda t: torch.repeat_interleave(t, 2, axis)),
        (lambda t: cr.sort(t, axis).values, lambda t: torch.sort(t, axis).values),
        (lambda t: cr.topk(t, k, axis).values, lambda t: torch.topk(t, k, axis).values),
        (lambda t: F.pad(t, (1, 0, 0, 2)[:2 * min(ndim, 2)]),
         lambda t: torch.nn.functional.pad(t, (1, 0, 0, 2)[:2 * min(ndim, 2)])),
    ]
    for ours, theirs in cases:
        against_torch(ours, theirs, x)
        check(ours, x)


def test_sort_argsort_topk_indices_match_torch():
    x = draw((3, 5), 3)
    t = torch.tensor(x)
    values, indices = cr.sort(cr.tensor(x), dim=1, descending=True)
    tv, ti = torch.sort(t, dim=1, descending=True)
    np.testing.assert_array_equal(indices.data, ti.numpy())
    np.testing.assert_array_equal(cr.argsort(cr.tensor(x), dim=0).data, torch.argsort(t, 0))
    np.testing.assert_array_equal(cr.tensor(x).topk(2, dim=0).indices.data, t.topk(2, 0)[1])
    ties = cr.tensor([1.0, 3.0, 1.0, 3.0])
    assert cr.argsort(ties).tolist() == [0, 2, 1, 3]  # stable
    assert cr.argsort(ties, descending=True).tolist() == [1, 3, 0, 2]
    assert cr.sort(ties, axis=None).values.tolist() == [1.0, 1.0, 3.0, 3.0]


@pytest.mark.parametrize("call, error, message", [
    (lambda x: cr.gather(x, 0, np.zeros((2, 3), np.int64)), ValueError, "does not fit x"),
    (lambda x: cr.gather(x, 0, np.zeros((1, 1, 1))), TypeError, "must hold integers"),
    (lambda x: cr.index_select(x, 0, [[0]]), ValueError, "must be 1-D"),
    (lambda x: cr.topk(x, 5, dim=0), ValueError, "k=5 is out of range"),
    (lambda x: cr.masked_fill(x, np.ones(3, bool), 0), ValueError, "does not broadcast"),
    (lambda x: cr.masked_fill(x, np.ones(4), 0), TypeError, "must be bool"),
    (lambda x: cr.pad(x, -1), ValueError, "widths must be >= 0"),
    (lambda x: cr.pad(x, 1, mode="reflect"), ValueError, "only mode='constant'"),
    (lambda x: F.pad(x, (1, 2, 3)), ValueError, "expected pairs"),
    (lambda x: cr.tile(x, (-1,)), ValueError, "repetitions must be >= 0"),
    (lambda x: x.repeat(2), ValueError, "give one per axis"),
    (lambda x: cr.repeat(x, [1, 2, 3], 0), ValueError, "one per element of axis 0"),
    (lambda x: cr.roll(x, (1, 2), 0), ValueError, "2 shifts for 1 axes"),
    (lambda x: x.split([1, 1]), ValueError, "add up to 2, but axis 0 has length 2" ""),
    (lambda x: cr.scatter_add(x, 0, np.zeros((2, 3, 5), np.int64), x), ValueError,
     "no longer than src"),
])
def test_bad_arguments_say_what_is_wrong(call, error, message):
    x = cr.tensor(draw((2, 3, 4), 1))
    if "add up" in message:
        x = cr.tensor(draw((3, 2), 1))
        message = "add up to 2, but axis 0 has length 3"
    with pytest.raises(error, match=message):
        call(x)


# -- linear algebra -------------------------------------------------------------------------

EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 2)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("ii->", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("i,i->", [(3,), (3,)]),
    ("ij,j->i", [(2, 3), (3,)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),
    ("...ij->...ji", [(2, 1, 3, 2)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 2), (1, 2, 2, 2)]),
    ("iij,jk->ik", [(2, 2, 3), (3, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("ij,kj->ik", [(2, 3), (2, 1)]),
]


@gradchecks(la.Einsum)
def test_einsum_is_gradchecked():
    x, y = draw((2, 3), 0), draw((3, 4), 1)
    check(lambda a, b: cr.einsum("ij,jk->ik", a, b), x, y)
    check(lambda a: cr.einsum("ii->i", a), draw((3, 3), 2))


@pytest.mark.parametrize("spec, shapes", EINSUM)
def test_einsum(spec, shapes):
    arrays = [draw(s, i) for i, s in enumerate(shapes)]
    against_torch(lambda *xs: cr.einsum(spec, *xs), lambda *ts: torch.einsum(spec, *ts), *arrays)
    check(lambda *xs: cr.einsum(spec, *xs), *arrays)


def test_einsum_list_form_float32_and_errors():
    a, b = cr.ones((2, 3)), cr.ones((3, 2))
    y = cr.einsum("ij,jk->ik", [a, b])
    assert y.dtype == np.float32 and y.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    a.requires_grad_()
    cr.einsum("ij,jk->ik", a, b).sum().backward()
    assert a.grad.dtype == np.float32
    with pytest.raises(ValueError, match="names 2 operand"):
        cr.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="does not fit an operand of shape"):
        cr.einsum("ijk,jk->ik", a, b)


LINALG = {
    "tensordot_int": ([(2, 3, 4), (3, 4, 2)], lambda a, b: cr.tensordot(a, b, 2),
                      lambda a, b: torch.tensordot(a, b, 2)),
    "tensordot_lists": ([(2, 3, 4), (4, 2, 3)], lambda a, b: cr.tensordot(a, b, dims=([1, 2],
                                                                                      [2, 0])),
                        lambda a, b: torch.tensordot(a, b, dims=([1, 2], [2, 0]))),
    "tensordot_zero": ([(2,), (3,)], lambda a, b: cr.tensordot(a, b, 0),
                       lambda a, b: torch.tensordot(a, b, 0)),
    "outer": ([(3,), (2,)], cr.outer, torch.outer),
    "outer_method": ([(3,), (4,)], lambda a, b: a.outer(b), lambda a, b: a.outer(b)),
    "dot_vectors": ([(3,), (3,)], cr.dot, torch.dot),
    "dot_method": ([(3,), (3,)], lambda a, b: a.dot(b), lambda a, b: a.dot(b)),
    "dot_matrix": ([(2, 3), (3, 2)], cr.dot, torch.mm),
    "dot_nd": ([(2, 2, 3), (2, 3, 2)], cr.dot,
               lambda a, b: torch.tensordot(a, b, ([2], [1]))),
    "inner": ([(2, 3), (4, 3)], cr.inner, torch.inner),
    "trace": ([(3, 3)], cr.trace, torch.trace),
    "trace_method": ([(3, 4)], lambda a: a.trace(), lambda a: a.trace()),
    "diag_matrix": ([(3, 4)], lambda a: cr.diag(a, 1), lambda a: torch.diag(a, 1)),
    "diag_vector": ([(3,)], lambda a: a.diag(-1), lambda a: a.diag(-1)),
    "diagonal": ([(2, 3, 4)], lambda a: cr.diagonal(a, 1, dim1=1, dim2=2),
                 lambda a: torch.diagonal(a, 1, dim1=1, dim2=2)),
    "diagonal_method": ([(3, 2, 3)], lambda a: a.diagonal(0, 0, 2),
                        lambda a: a.diagonal(0, 0, 2)),
    "diagonal_defaults": ([(2, 3, 4)], cr.diagonal, torch.diagonal),  # offset 0, dims 0 and 1
    "tril": ([(2, 3, 4)], lambda a: cr.tril(a, -1), lambda a: torch.tril(a, -1)),
    "triu": ([(3, 4)], lambda a: a.triu(1), lambda a: a.triu(1)),
    "triu_diagonal_name": ([(4, 3)], lambda a: cr.triu(a, diagonal=-1),
                           lambda a: torch.triu(a, diagonal=-1)),
}


@pytest.mark.parametrize("name", list(LINALG))
def test_linalg(name):
    shapes, ours, theirs = LINALG[name]
    arrays = [draw(s, i + 5) for i, s in enumerate(shapes)]
    against_torch(ours, theirs, *arrays)
    check(ours, *arrays)


@FEW
@given(m=st.integers(1, 3), n=st.integers(1, 3), k=st.integers(-3, 3), seed=st.integers(0, 99))
def test_triangles_and_diagonals_random(m, n, k, seed):
    x = draw((m, n), seed)
    for ours, theirs in [(lambda a: cr.tril(a, k), lambda a: torch.tril(a, k)),
                         (lambda a: cr.triu(a, k), lambda a: torch.triu(a, k)),
                         (lambda a: cr.diag(a, k), lambda a: torch.diag(a, k)),
                         (lambda a: cr.diag(a[0], k), lambda a: torch.diag(a[0], k))]:
        against_torch(ours, theirs, x)
        check(ours, x)


def test_numpy_names_and_semantics():
    x = cr.tensor(draw((2, 3), 0))
    assert cr.diag(x).shape == np.diag(x.data).shape
    np.testing.assert_allclose(cr.trace(x, 1).data, np.trace(x.data, 1))
    np.testing.assert_allclose(cr.dot(x, 2.0).data, np.dot(x.data, 2.0))
    np.testing.assert_allclose(cr.outer(x, x[0]).data, np.outer(x.data, x.data[0]))
    np.testing.assert_allclose(cr.tile(x, 2).data, np.tile(x.data, 2))
    np.testing.assert_allclose(cr.repeat(x, 2).data, np.repeat(x.data, 2))
    np.testing.assert_allclose(cr.pad(x, (1, 2), constant_values=4).data,
                               np.pad(x.data, (1, 2), constant_values=4))
    np.testing.assert_allclose(cr.cumsum(x).data, np.cumsum(x.data))
    assert cr.asin is cr.arcsin and cr.acos is cr.arccos and cr.atan is cr.arctan
    assert cr.repeat_interleave is cr.repeat
