"""The autograd core: every op gradchecked in float64 over random (broadcast) shapes, the
worked BP examples with exact numbers, and the engine's promises (deep chains, graph
release, no_grad, higher order, hooks, anomaly and in-place detection, memory)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from gradchecked import gradchecks, params
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import chainrule as cr
import chainrule.functional as F
from chainrule.functional import losses
from chainrule.ops import activations as act
from chainrule.ops import elementwise as ew
from chainrule.ops import linalg, reductions
from chainrule.ops import shape as sh

FAST = settings(max_examples=12, deadline=None)


def leaf(shape, low=-2.0, high=2.0, seed=0, away_from_zero=False):
    rng = np.random.default_rng(seed)
    a = rng.uniform(low, high, shape)
    if away_from_zero:
        a = np.where(np.abs(a) < 0.2, 0.5, a)
    return cr.tensor(a, requires_grad=True)


def check(fn, *inputs, second=True):
    assert cr.gradcheck(fn, list(inputs))
    if second:
        assert cr.gradgradcheck(fn, list(inputs))


# -- every op, gradchecked -----------------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
    "pow": lambda a, b: (a * a + 0.5) ** b,
    "maximum": cr.maximum,
    "minimum": cr.minimum,
}


@pytest.mark.parametrize("name", params(BINARY, {
    "add": (ew.Add, sh.SumTo), "sub": ew.Sub, "mul": ew.Mul, "div": ew.Div, "pow": ew.Pow,
    "maximum": ew.Maximum, "minimum": ew.Minimum}))
@FAST
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 1000))
def test_binary_ops_broadcast(name, shapes, seed):
    a = leaf(shapes.input_shapes[0], seed=seed)
    b = leaf(shapes.input_shapes[1], seed=seed + 1)
    if name in ("maximum", "minimum"):
        b = cr.tensor(b.data + 0.05 * np.sign(b.data - 0.0) + 0.013, requires_grad=True)
    check(BINARY[name], a, b, second=name not in ("maximum", "minimum"))


UNARY = {
    "neg": (lambda x: -x, False),
    "pow3": (lambda x: x ** 3, False),
    "rpow": (lambda x: 2.0 ** x, False),
    "exp": (cr.exp, False),
    "log": (lambda x: cr.log(x * x + 0.1), False),
    "sqrt": (lambda x: cr.sqrt(x * x + 0.1), False),
    "abs": (cr.abs, True),
    "clip": (lambda x: cr.clip(x, -0.7, 0.9), True),
    "sigmoid": (F.sigmoid, False),
    "tanh": (F.tanh, False),
    "relu": (F.relu, True),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), True),
    "elu": (F.elu, True),
    "softplus": (lambda x: F.softplus(x, 2.0), False),
    "softmax": (lambda x: F.softmax(x, -1), False),
    "log_softmax": (lambda x: F.log_softmax(x, 0), False),
    "logsumexp": (lambda x: F.logsumexp(x, -1), False),
    "where": (lambda x: cr.where(x.data > 0, x * 2, x * x), True),
}


@pytest.mark.parametrize("name", params(UNARY, {
    "neg": ew.Neg, "pow3": ew.PowScalar, "rpow": ew.Pow, "exp": ew.Exp, "log": ew.Log,
    "sqrt": ew.Sqrt, "abs": ew.Abs, "clip": ew.Clip, "sigmoid": act.SigmoidOp,
    "tanh": act.TanhOp, "relu": act.ReLUOp, "leaky_relu": act.LeakyReLUOp, "elu": act.ELUOp,
    "softplus": act.SoftplusOp, "softmax": act.SoftmaxOp, "log_softmax": act.LogSoftmaxOp,
    "logsumexp": act.LogSumExpOp, "where": ew.Where}))
@FAST
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=4), seed=st.integers(0, 1000))
def test_unary_ops(name, shape, seed):
    fn, kinked = UNARY[name]
    x = leaf(shape, seed=seed, away_from_zero=kinked)
    if name == "clip":
        x = cr.tensor(np.where(np.abs(np.abs(x.data) - 0.8) < 0.15, 0.3, x.data),
                      requires_grad=True)
    check(fn, x, second=name not in ("abs", "relu", "leaky_relu", "clip", "where"))


REDUCTIONS = ["sum", "mean", "max", "min", "var", "std"]


@pytest.mark.parametrize("name", params(REDUCTIONS, {
    "sum": reductions.Sum, "mean": reductions.Mean, "max": reductions.Max,
    "min": reductions.Min, "var": (reductions.Mean, reductions.Sum),
    "std": (reductions.Mean, reductions.Sum, ew.Sqrt)}))
@FAST
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4), data=st.data())
def test_reductions(name, shape, data):
    ndim = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                               st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                        unique=True).map(tuple)))
    keepdims = data.draw(st.booleans())
    x = leaf(shape, seed=data.draw(st.integers(0, 1000)))
    fn = getattr(x, name)
    check(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x,
          second=name in ("sum", "mean", "var"))
    assert fn(axis=axis, keepdims=keepdims).shape == getattr(np, {"max": "amax", "min": "amin"}
                                                             .get(name, name))(
        x.data, axis=axis, keepdims=keepdims).shape


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((5,), (2, 5, 3)),
                 ((2, 3, 4), (4,))]


@gradchecks(linalg.MatMul)
@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_numpy_semantics(sa, sb):
    a, b = leaf(sa, seed=1), leaf(sb, seed=2)
    assert (a @ b).shape == np.matmul(a.data, b.data).shape
    np.testing.assert_allclose((a @ b).data, a.data @ b.data)
    check(lambda a, b: a @ b, a, b)


@gradchecks(linalg.MatMul)
@FAST
@given(batch=mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       sizes=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
       vector_a=st.booleans(), vector_b=st.booleans(), seed=st.integers(0, 1000))
def test_matmul_random_shapes(batch, sizes, vector_a, vector_b, seed):
    """Any batch shapes that broadcast, with 1-D operands on either side (numpy's rules:
    a 1-D left operand is a row vector, a 1-D right operand a column, each dropped after)."""
    m, k, n = sizes
    sa = (k,) if vector_a else (*batch.input_shapes[0], m, k)
    sb = (k,) if vector_b else (*batch.input_shapes[1], k, n)
    a, b = leaf(sa, seed=seed), leaf(sb, seed=seed + 1)
    np.testing.assert_allclose((a @ b).data, np.matmul(a.data, b.data))
    check(lambda a, b: a @ b, a, b)


SHAPE_OPS = {
    "reshape": lambda x: x.reshape(2, -1),
    "T": lambda x: x.T,
    "permute": lambda x: x.permute(2, 0, 1),
    "swapaxes": lambda x: x.swapaxes(0, 2),
    "mT": lambda x: x.mT,
    "squeeze_unsqueeze": lambda x: x.unsqueeze(1).unsqueeze(-1).squeeze(1).squeeze(),
    "flatten": lambda x: x.flatten(1),
    "broadcast_to": lambda x: x[:, :1].broadcast_to((5, 2, 3, 4)),
    "slices": lambda x: x[1:, ::-1, None, 2],
    "ellipsis": lambda x: x[..., 1],
    "int_array_repeated": lambda x: x[[0, 0, 1], :, [3, 3, 0]],
    "mask": lambda x: x[x.data > 0.3],
    "concatenate": lambda x: cr.concatenate([x, x * 2, x[:, :1]], axis=1),
    "stack": lambda x: cr.stack([x, x * x], axis=-1),
    "split": lambda x: cr.split(x, [1, 2], axis=1)[0] * 3 + cr.split(x, 3, axis=1)[2],
}


@pytest.mark.parametrize("name", params(SHAPE_OPS, {
    "reshape": sh.Reshape, "T": sh.Transpose, "permute": sh.Transpose,
    "swapaxes": sh.Transpose, "mT": sh.Transpose, "squeeze_unsqueeze": sh.Reshape,
    "flatten": sh.Reshape, "broadcast_to": (sh.BroadcastTo, sh.SumTo),
    "slices": (sh.GetItem, sh.ScatterAdd), "ellipsis": sh.GetItem,
    "int_array_repeated": (sh.GetItem, sh.ScatterAdd), "mask": sh.GetItem,
    "concatenate": sh.Concatenate, "stack": sh.Concatenate, "split": sh.Split}))
def test_shape_ops(name):
    check(SHAPE_OPS[name], leaf((2, 3, 4), seed=3))


def test_repeated_indices_accumulate():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 1]].sum().backward()
    assert x.grad.tolist() == [2.0, 1.0, 0.0]


@gradchecks(ew.Cast)
def test_cast_gradcheck():
    """Through float32 and back: the float32 rounding needs a larger step than float64's."""
    x = leaf((2, 3), seed=6)
    assert cr.gradcheck(lambda t: (t.astype(np.float32) * 2.0).astype(np.float64) * t, [x],
                        eps=1e-3, atol=1e-3)


def test_astype_between_floats():
    x = leaf((3,))
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.tolist() == [2.0, 2.0, 2.0]
    assert x.astype(np.int64).requires_grad is False


LOSS_TARGETS = np.array([0, 2, 1])


LOSSES = {
    "mse": lambda x, r: F.mse_loss(x, np.ones((3, 4)) * 0.3, reduction=r),
    "bce": lambda x, r: F.binary_cross_entropy(F.sigmoid(x), np.full((3, 4), 0.25), reduction=r),
    "bce_logits": lambda x, r: F.binary_cross_entropy_with_logits(x, np.eye(3, 4),
                                                                  reduction=r),
    "ce_index": lambda x, r: F.cross_entropy(x, LOSS_TARGETS, reduction=r),
    "ce_prob": lambda x, r: F.cross_entropy(x, np.full((3, 4), 0.25), reduction=r),
    "ce_options": lambda x, r: F.cross_entropy(x, np.array([0, -100, 3]),
                                               weight=np.array([1.0, 2.0, 0.5, 3.0]),
                                               label_smoothing=0.1, reduction=r),
    "nll": lambda x, r: F.nll_loss(F.log_softmax(x), LOSS_TARGETS,
                                   weight=np.array([1.0, 2.0, 0.5, 3.0]), reduction=r),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", params(LOSSES, {
    "mse": (ew.Sub, ew.Mul), "bce": losses.BinaryCrossEntropy, "bce_logits": losses.BCEWithLogits,
    "ce_index": losses.CrossEntropy, "ce_prob": losses.CrossEntropy,
    "ce_options": losses.CrossEntropy, "nll": (act.LogSoftmaxOp, sh.GetItem)}))
def test_losses(name, reduction):
    check(lambda x: LOSSES[name](x, reduction), leaf((3, 4), seed=4))


@FAST
@given(m=st.integers(1, 5), classes=st.integers(2, 5), seed=st.integers(0, 1000),
       reduction=st.sampled_from(["mean", "sum", "none"]),
       scale=st.sampled_from([0.1, 1.0, 30.0]))
def test_losses_random_sizes_and_values(m, classes, seed, reduction, scale):
    """The losses over drawn batch sizes, class counts, logit scales and targets."""
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((m, classes)) * scale, requires_grad=True)
    index = rng.integers(0, classes, m)
    probs = rng.dirichlet(np.ones(classes), m)
    check(lambda x: F.cross_entropy(x, index, reduction=reduction), x)
    check(lambda x: F.cross_entropy(x, probs, reduction=reduction), x)
    check(lambda x: F.binary_cross_entropy_with_logits(x, probs, reduction=reduction), x)
    check(lambda x: F.mse_loss(x, probs, reduction=reduction), x)


def test_cross_entropy_gradient_is_softmax_minus_target_over_m():
    x = leaf((3, 4), seed=5)
    F.cross_entropy(x, LOSS_TARGETS).backward()
    p = np.exp(x.data) / np.exp(x.data).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(x.grad.data, (p - np.eye(4)[LOSS_TARGETS]) / 3, atol=1e-15)


def test_stable_with_huge_logits():
    x = cr.tensor([[1000.0, -1000.0, 0.0]], requires_grad=True)
    for out in (F.log_softmax(x), F.softmax(x)):
        assert np.isfinite(out.data).all()
    # stable means right, not only finite: the analytic values, which a naive exp overflows
    # to inf or nan (log sum e^x = 1000 exactly in float64, e^-1000 = 0)
    np.testing.assert_array_equal(F.log_softmax(x).data, [[0.0, -2000.0, -1000.0]])
    np.testing.assert_array_equal(F.softmax(x).data, [[1.0, 0.0, 0.0]])
    loss = F.cross_entropy(x, np.array([1])) + \
        F.binary_cross_entropy_with_logits(x, np.ones((1, 3))).sum()
    loss.backward()
    assert np.isfinite(loss.data) and np.isfinite(x.grad.data).all()
    # CE: lse - x_1 = 2000, gradient softmax - onehot = [1, -1, 0]; BCE with t = 1, the mean
    # of softplus(-x) = [0, 1000, log 2], gradient (sigmoid(x) - 1) / 3 = [0, -1/3, -1/6]
    # (float32, the default dtype: to its precision)
    np.testing.assert_allclose(loss.data, 2000.0 + (1000.0 + np.log(2.0)) / 3, rtol=1e-7)
    np.testing.assert_allclose(x.grad.data, [[1.0, -4 / 3, -1 / 6]], rtol=1e-7)
    p = cr.tensor([0.0, 1.0, 0.5], requires_grad=True)
    bce = F.binary_cross_entropy(p, np.array([1.0, 0.0, 1.0]))
    bce.backward()
    assert np.isfinite(bce.data) and np.isfinite(p.grad.data).all()
    # the logs clamped at -100 and p (1 - p) at 1e-12 (PyTorch's bounds): the mean of
    # [100, 100, log 2], and (p - t) / max(p (1 - p), 1e-12) / 3
    np.testing.assert_allclose(bce.data, (200.0 + np.log(2.0)) / 3, rtol=1e-7)
    np.testing.assert_allclose(p.grad.data, [-1e12 / 3, 1e12 / 3, -2 / 3], rtol=1e-7)


# -- the worked examples -------------------------------------------------------------------

def test_worked_example_add_multiply():
    x, y, z = (cr.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    f = (x + y) * z
    f.backward()
    assert (f.item(), x.grad.item(), y.grad.item(), z.grad.item()) == (-12, -4, -4, 3)


def test_worked_example_shopping():
    price, count, tax = (cr.tensor(v, requires_grad=True, dtype=np.float64)
                         for v in (100.0, 2.0, 1.1))
    total = price * count * tax
    total.backward()
    assert total.item() == pytest.approx(220)
    assert price.grad.item() == pytest.approx(2.2)
    assert count.grad.item() == pytest.approx(110)
    assert tax.grad.item() == pytest.approx(200)


def sig(v):
    return 1 / (1 + np.exp(-v))


def test_worked_example_small_sigmoid_network():
    """1 input, 2 sigmoid hidden units, 1 sigmoid output, L = 0.5 (y - out)^2, by hand."""
    x_v, y_v = 0.5, 0.9
    w = dict(w1=0.15, w2=-0.25, b1=0.1, b2=-0.3, w3=0.4, w4=0.45, b3=0.6)
    net_h1, net_h2 = w["w1"] * x_v + w["b1"], w["w2"] * x_v + w["b2"]
    h1, h2 = sig(net_h1), sig(net_h2)
    net_o = w["w3"] * h1 + w["w4"] * h2 + w["b3"]
    out = sig(net_o)
    delta_o = -(y_v - out) * out * (1 - out)
    delta_h1 = w["w3"] * delta_o * h1 * (1 - h1)
    delta_h2 = w["w4"] * delta_o * h2 * (1 - h2)
    by_hand = dict(w3=delta_o * h1, w4=delta_o * h2, b3=delta_o, w1=delta_h1 * x_v,
                   w2=delta_h2 * x_v, b1=delta_h1, b2=delta_h2)
    t = {k: cr.tensor(v, requires_grad=True, dtype=np.float64) for k, v in w.items()}
    hid1 = F.sigmoid(t["w1"] * x_v + t["b1"])
    hid2 = F.sigmoid(t["w2"] * x_v + t["b2"])
    o = F.sigmoid(t["w3"] * hid1 + t["w4"] * hid2 + t["b3"])
    loss = 0.5 * (y_v - o) ** 2
    loss.backward()
    for k, v in by_hand.items():
        assert t[k].grad.item() == pytest.approx(v, rel=1e-12), k


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_worked_example_matrix_form(act):
    """Samples as columns: Z1 = W1 X + b1, A1 = f(Z1), A2 = softmax(W2 A1 + b2)."""
    rng = np.random.default_rng(7)
    m = 5
    X, W1, b1 = rng.normal(size=(3, m)), rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
    W2, b2 = rng.normal(size=(2, 4)), rng.normal(size=(2, 1))
    labels = rng.integers(0, 2, m)
    Y = np.eye(2)[labels].T
    f = np.tanh if act == "tanh" else sig
    Z1 = W1 @ X + b1
    A1 = f(Z1)
    Z2 = W2 @ A1 + b2
    A2 = np.exp(Z2) / np.exp(Z2).sum(axis=0)
    dZ2 = A2 - Y
    dW2, db2 = dZ2 @ A1.T / m, dZ2.sum(axis=1, keepdims=True) / m
    dA1 = W2.T @ dZ2
    right = (1 - A1 ** 2) if act == "tanh" else A1 * (1 - A1)
    wrong = A1 * (1 - A1) if act == "tanh" else (1 - A1 ** 2)
    dW1 = (dA1 * right) @ X.T / m
    slip = (dA1 * wrong) @ X.T / m
    p = {k: cr.tensor(v, requires_grad=True) for k, v in
         dict(W1=W1, b1=b1, W2=W2, b2=b2).items()}
    a1 = getattr(F, act)(p["W1"] @ X + p["b1"])
    z2 = p["W2"] @ a1 + p["b2"]
    F.cross_entropy(z2.T, labels).backward()
    np.testing.assert_allclose(p["W2"].grad.data, dW2, rtol=1e-12)
    np.testing.assert_allclose(p["b2"].grad.data, db2, rtol=1e-12)
    np.testing.assert_allclose(p["W1"].grad.data, dW1, rtol=1e-10)
    assert not np.allclose(p["W1"].grad.data, slip)  # the classic slip is caught


def test_gradients_of_all_paths_add_up():
    x = cr.tensor(3.0, requires_grad=True, dtype=np.float64)
    y = x * x + 3 * x  # x feeds three nodes
    y.backward()
    assert x.grad.item() == 2 * 3 + 3


# -- the engine ------------------------------------------------------------------------------

def test_deep_chain_has_no_recursion_limit():
    x = cr.tensor(1.0, requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_grad_accumulates_until_zeroed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_second_backward_needs_retain_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 4 * np.exp(x.data), rtol=1e-6)
    with pytest.raises(RuntimeError, match="a second time.*retain_graph=True"):
        y.backward()


def test_backward_on_non_scalar_needs_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"has shape \(2,\).*Pass grad="):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 10.0], np.float32))
    assert x.grad.tolist() == [2.0, 20.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_no_grad_context_and_decorator():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
        with cr.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad

    @cr.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert cr.is_grad_enabled()


def test_higher_order():
    x = cr.tensor(2.0, requires_grad=True, dtype=np.float64)
    (d1,) = cr.grad(x ** 3, x, create_graph=True)
    (d2,) = cr.grad(d1, x, create_graph=True)
    (d3,) = cr.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == (12.0, 12.0, 6.0)


def test_hessian_vector_product_of_mlp_loss():
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    w0, v = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    w2 = cr.tensor(rng.normal(size=(2, 4)))

    def gradient(w_value):
        w = cr.tensor(w_value, requires_grad=True)
        loss = F.cross_entropy(F.tanh(cr.tensor(x) @ w.T) @ w2.T, labels)
        return w, cr.grad(loss, w, create_graph=True)[0]

    w, g = gradient(w0)
    (hv,) = cr.grad((g * cr.tensor(v)).sum(), w)
    eps = 1e-6
    numeric = (gradient(w0 + eps * v)[1].data - gradient(w0 - eps * v)[1].data) / (2 * eps)
    np.testing.assert_allclose(hv.data, numeric, rtol=1e-6, atol=1e-9)


def test_grad_function_leaves_dot_grad_alone():
    x, y = cr.tensor([1.0, 2.0], requires_grad=True), cr.tensor([3.0], requires_grad=True)
    (gx,) = cr.grad((x * x).sum(), x)
    assert gx.tolist() == [2.0, 4.0] and x.grad is None
    with pytest.raises(RuntimeError, match="input 1 .* was not used"):
        cr.grad((x * 2).sum(), [x, y])
    assert cr.grad((x * 2).sum(), [x, y], allow_unused=True)[1] is None


def test_hooks_read_and_replace_gradients():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = x * 3
    h.register_hook(lambda g: seen.append(g.tolist()))
    handle = x.register_hook(lambda g: g * 10)
    h.retain_grad()
    (h * h).sum().backward()
    assert seen == [[6.0, 12.0]]
    assert h.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [180.0, 360.0]
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_in_place_change_of_a_saved_tensor_is_detected():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, 4.0])
    z = x * w
    w += 1
    with pytest.raises(RuntimeError, match="Mul: input 1 .* modified in place"):
        z.sum().backward()
    y = x.exp()
    with cr.no_grad():
        y += 1
    with pytest.raises(RuntimeError, match="Exp: output 0"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="in-place change of a leaf tensor"):
        x += 1
    with cr.no_grad():
        x += 1  # allowed: this is how parameters are updated


def test_detect_anomaly_names_the_op_and_place():
    x = cr.tensor([-1.0, 1.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(FloatingPointError,
                                            match=r"Log forward produced NaN.*test_core\.py"):
        cr.log(x)
    z = cr.tensor([0.0, 1.0], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(FloatingPointError, match="Sqrt backward"):
        cr.sqrt(z).sum().backward()


def test_memory_is_freed_without_the_garbage_collector():
    gc.disable()
    try:
        w = cr.tensor(np.ones((100, 100)), requires_grad=True)
        h = (w @ w).tanh()
        loss = h.sum()
        refs = [weakref.ref(h), weakref.ref(h.grad_fn), weakref.ref(loss.grad_fn)]
        loss.backward()
        with cr.no_grad():
            w -= 0.1 * w.grad
        del h, loss
        assert all(r() is None for r in refs)  # freed by reference counting alone
    finally:
        gc.enable()


def test_gradients_are_never_shared_arrays():
    a, b = cr.tensor([1.0, 2.0], requires_grad=True), cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data[0] = 100.0
    assert b.grad.tolist() == [1.0, 1.0]


def test_float32_stays_float32():
    x = cr.randn(4, 3, requires_grad=True)
    w = cr.randn(3, 2, requires_grad=True)
    loss = F.cross_entropy(F.sigmoid(x @ w) * 0.5 + np.sqrt(2.0), np.array([0, 1, 1, 0]))
    loss.backward()
    assert loss.dtype == x.grad.dtype == w.grad.dtype == np.float32


def test_only_floats_require_grad_and_errors_are_clear():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match=r"matmul: cannot multiply \(2, 3\) by \(4, 5\)"):
        cr.zeros(2, 3) @ cr.zeros(4, 5)
    with pytest.raises(ValueError, match=r"add: cannot broadcast shapes \(2, 3\) and \(4,\)"):
        cr.zeros(2, 3) + cr.zeros(4)
    with pytest.raises(TypeError, match="tensor\\(\\): cannot make a numeric array"):
        cr.tensor([[1, 2], [3]])


def test_gradcheck_reports_where_it_fails():
    class WrongSquare(cr.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            return gy * self.inputs[0] * 3.0  # should be 2x

    x = leaf((2, 2), seed=9)
    with pytest.raises(cr.GradcheckError, match=r"input 0 .* element \(0, 0\).*analytic"):
        cr.gradcheck(lambda t: WrongSquare()(t), [x])
    with pytest.raises(TypeError, match="need float64"):
        cr.gradcheck(lambda t: t * 2, [cr.randn(2, requires_grad=True)])


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable_correctly():
    """A backward that gets the first derivative right but computes it from a detached
    input (so its own derivative is wrong) passes gradcheck and must fail gradgradcheck;
    the same op with a differentiable backward passes both."""
    class Cube(cr.Function):
        detach = False

        def forward(self, x):
            return x ** 3

        def backward(self, gy):
            x = self.inputs[0].detach() if self.detach else self.inputs[0]
            return gy * 3.0 * x * x

    class DetachedCube(Cube):
        detach = True

    x = leaf((3,), seed=4)
    assert cr.gradcheck(lambda t: Cube()(t), [x]) and cr.gradgradcheck(lambda t: Cube()(t), [x])
    assert cr.gradcheck(lambda t: DetachedCube()(t), [x])
    with pytest.raises(cr.GradcheckError, match=r"input 0 .*analytic 0, numerical"):
        cr.gradgradcheck(lambda t: DetachedCube()(t), [x])
    assert not cr.gradgradcheck(lambda t: DetachedCube()(t), [x], raise_exception=False)


def test_gradcheck_refuses_a_function_whose_outputs_change_between_calls():
    calls = []

    def flaky(t):
        calls.append(1)
        return (t * 2,) if len(calls) == 1 else (t * 2, t * 3)

    with pytest.raises(cr.GradcheckError, match="returned 1 output.*but 2"):
        cr.gradcheck(flaky, [leaf((2,), seed=1)])


def test_integer_tensors_cannot_require_grad_by_assignment_either():
    i = cr.tensor([1, 2])
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        i.requires_grad = True
    assert i.requires_grad is False
    f = cr.tensor([1.0, 2.0])
    f.requires_grad = True
    (f * f).sum().backward()
    np.testing.assert_array_equal(f.grad.data, [2.0, 4.0])
    y = f * 2
    with pytest.raises(RuntimeError, match="use .detach"):
        y.requires_grad = False
