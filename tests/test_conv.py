"""Convolution, pooling and batch normalization: every op gradchecked and gradgradchecked in
float64 over hypothesis-drawn geometries, forward and backward equal to PyTorch's, the
layers' state dicts interchangeable with PyTorch's, and the promised error messages."""

from __future__ import annotations

import numpy as np
import pytest
from gradchecked import gradchecks
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn
import chainrule.optim as optim
from chainrule.ops.convolution import Conv, ConvTranspose, ConvWeight
from chainrule.ops.normalization import BatchNorm
from chainrule.ops.pooling import MaxPool, WindowScatter, WindowSum

FEW = settings(max_examples=10, deadline=None)


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra: "
                                               "pip install -e .[test]")


def leaf(shape, seed):
    return cr.tensor(np.random.default_rng(seed).uniform(-1, 1, shape), requires_grad=True)


def check(fn, *inputs):
    assert cr.gradcheck(fn, list(inputs))
    assert cr.gradgradcheck(fn, list(inputs))


def same_as_torch(ours, theirs, inputs, seed=0, atol=1e-10):
    """ours(*chainrule leaves) and theirs(*torch leaves) agree in value and in every input's
    gradient for a random upstream gradient."""
    torch = torch_or_skip()
    mine = [cr.tensor(a.data.copy(), requires_grad=True) for a in inputs]
    peer = [torch.tensor(a.data.copy(), requires_grad=True) for a in inputs]
    y, t = ours(*mine), theirs(*peer)
    np.testing.assert_allclose(y.data, t.detach().numpy(), atol=atol)
    g = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(g)
    t.backward(torch.tensor(g))
    for a, b in zip(mine, peer, strict=True):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=atol)


# -- convolution -------------------------------------------------------------------------------

@st.composite
def conv_cases(draw, ndim=2):
    """A small convolution: batch, channels per group, groups, kernel, stride, padding,
    dilation, and an input just large enough for at least one output."""
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    padding = tuple(draw(st.integers(0, 1)) for _ in range(ndim))
    size = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 2))
                 for k, d, p in zip(kernel, dilation, padding, strict=True))
    return dict(n=draw(st.integers(1, 2)), c_in=c_in, c_out=c_out, groups=groups,
                kernel=kernel, stride=stride, dilation=dilation, padding=padding, size=size,
                seed=draw(st.integers(0, 99)))


@gradchecks(Conv, ConvTranspose, ConvWeight)
@FEW
@given(case=conv_cases())
def test_conv2d_gradients_and_torch_parity(case):
    torch = torch_or_skip()
    x = leaf((case["n"], case["c_in"]) + case["size"], case["seed"])
    w = leaf((case["c_out"], case["c_in"] // case["groups"]) + case["kernel"], case["seed"] + 1)
    b = leaf((case["c_out"],), case["seed"] + 2)
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    same_as_torch(lambda *t: F.conv2d(*t, *args),
                  lambda *t: torch.nn.functional.conv2d(*t, *args), [x, w, b])
    check(lambda *t: F.conv2d(*t, *args), x, w, b)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note on its own copy
@FEW
@given(case=conv_cases(ndim=1), padding=st.sampled_from(["same", "valid", None]))
def test_conv1d_gradients_and_torch_parity(case, padding):
    torch = torch_or_skip()
    stride = (1,) if padding == "same" else case["stride"]
    pad = case["padding"] if padding is None else padding
    size = case["size"] if padding != "valid" else \
        (case["size"][0] + 2 * case["padding"][0],)
    x = leaf((case["n"], case["c_in"]) + size, case["seed"])
    w = leaf((case["c_out"], case["c_in"] // case["groups"]) + case["kernel"], case["seed"] + 1)
    args = (None, stride, pad, case["dilation"], case["groups"])
    same_as_torch(lambda *t: F.conv1d(*t, *args),
                  lambda *t: torch.nn.functional.conv1d(*t, *args), [x, w])
    check(lambda *t: F.conv1d(*t, *args), x, w)


@gradchecks(ConvTranspose, Conv, ConvWeight)
@FEW
@given(case=conv_cases(), extra=st.integers(0, 1))
def test_conv_transpose2d_gradients_and_torch_parity(case, extra):
    torch = torch_or_skip()
    g = case["groups"]
    # output_padding must be below the stride or the dilation: here 0 or 1 where allowed
    out_pad = tuple(extra if max(s, d) > 1 else 0
                    for s, d in zip(case["stride"], case["dilation"], strict=True))
    small = tuple(max(1, n - 1) for n in case["size"])
    x = leaf((case["n"], case["c_in"]) + small, case["seed"])
    w = leaf((case["c_in"], case["c_out"] // g) + case["kernel"], case["seed"] + 1)
    b = leaf((case["c_out"],), case["seed"] + 2)
    # padding at most half of what the output would be without it, so the output is not empty
    pad = tuple(min(p, ((n - 1) * s + (k - 1) * d) // 2) for p, n, s, k, d in
                zip(case["padding"], small, case["stride"], case["kernel"], case["dilation"],
                    strict=True))
    args = (case["stride"], pad, out_pad, g, case["dilation"])
    same_as_torch(lambda *t: F.conv_transpose2d(*t, *args),
                  lambda *t: torch.nn.functional.conv_transpose2d(*t, *args), [x, w, b])
    check(lambda *t: F.conv_transpose2d(*t, *args), x, w, b)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kernel", [(2, 4), (2, 1), (1, 2)])  # (2, 1): a row after, no column
def test_same_padding_with_an_even_kernel_pads_after_as_torch(kernel):
    torch = torch_or_skip()
    x, w = leaf((1, 2, 5, 6), 0), leaf((3, 2, *kernel), 1)
    y = F.conv2d(x, w, padding="same")
    assert y.shape == (1, 3, 5, 6)
    same_as_torch(lambda a, b: F.conv2d(a, b, padding="same"),
                  lambda a, b: torch.nn.functional.conv2d(a, b, padding="same"), [x, w])


def test_unbatched_input_is_a_batch_of_one():
    x, w = leaf((2, 5, 5), 0), leaf((3, 2, 3, 3), 1)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (3, 5, 5)
    np.testing.assert_array_equal(y.data, F.conv2d(x.data[None], w, padding=1).data[0])
    assert F.max_pool2d(x, 2).shape == (2, 2, 2)


# -- pooling -----------------------------------------------------------------------------------

@st.composite
def pool_cases(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(k + draw(st.integers(0, 3)) for k in kernel)
    return kernel, stride, padding, size, draw(st.integers(0, 99))


@gradchecks(MaxPool)
@FEW
@given(case=pool_cases(), dilation=st.integers(1, 2))
def test_max_pool2d_gradients_ties_and_torch_parity(case, dilation):
    torch = torch_or_skip()
    kernel, stride, padding, size, seed = case
    size = tuple(n + (k - 1) * (dilation - 1) for n, k in zip(size, kernel, strict=True))
    rng = np.random.default_rng(seed)
    # small integers make many ties: the gradient must go where PyTorch sends it
    ties = cr.tensor(rng.integers(0, 3, (2, 2) + size).astype(float), requires_grad=True)
    args = (kernel, stride, padding, dilation)
    same_as_torch(lambda t: F.max_pool2d(t, *args),
                  lambda t: torch.nn.functional.max_pool2d(t, *args), [ties])
    # distinct values far apart: the arg-max stays put under finite differences
    distinct = cr.tensor(rng.permutation(4 * size[0] * size[1]).reshape((2, 2) + size) * 0.1,
                         requires_grad=True)
    check(lambda t: F.max_pool2d(t, *args), distinct)


def test_max_pool2d_nan_and_minus_infinity_as_torch():
    torch = torch_or_skip()
    nan = np.array([[[[np.nan, 1.0], [np.nan, 1.0]]]])
    same_as_torch(lambda t: F.max_pool2d(t, 2), lambda t: torch.nn.functional.max_pool2d(t, 2),
                  [cr.tensor(nan)])
    x = cr.tensor(nan, requires_grad=True)
    F.max_pool2d(x, 2).backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x.grad.data, [[[[0, 0], [1, 0]]]])  # the last NaN wins
    # a window of -inf sends its gradient to its first element inside x, never to padding
    minus_inf = cr.tensor(np.full((1, 1, 2, 2), -np.inf))
    same_as_torch(lambda t: F.max_pool2d(t, 2, 1, 1),
                  lambda t: torch.nn.functional.max_pool2d(t, 2, 1, 1), [minus_inf])


@gradchecks(WindowSum, WindowScatter)
@FEW
@given(case=pool_cases(), count_include_pad=st.booleans())
def test_avg_pool2d_gradients_and_torch_parity(case, count_include_pad):
    torch = torch_or_skip()
    kernel, stride, padding, size, seed = case
    x = leaf((2, 2) + size, seed)
    args = (kernel, stride, padding, False, count_include_pad)
    same_as_torch(lambda t: F.avg_pool2d(t, *args[:3], count_include_pad=count_include_pad),
                  lambda t: torch.nn.functional.avg_pool2d(t, *args), [x])
    check(lambda t: F.avg_pool2d(t, *args[:3], count_include_pad=count_include_pad), x)


@pytest.mark.parametrize("size, out", [((6, 4), (3, 2)), ((7, 5), (3, 2)), ((5, 5), 1),
                                       ((4, 7), (None, 3))])
def test_adaptive_avg_pool2d_gradients_and_torch_parity(size, out):
    torch = torch_or_skip()
    x = leaf((2, 2) + size, 0)
    same_as_torch(lambda t: F.adaptive_avg_pool2d(t, out),
                  lambda t: torch.nn.functional.adaptive_avg_pool2d(t, out), [x])
    check(lambda t: F.adaptive_avg_pool2d(t, out), x)


@gradchecks(BatchNorm)
# -- batch normalization -----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 3, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_and_torch_parity(shape, training):
    torch = torch_or_skip()
    c = shape[1]
    x, gamma, beta = leaf(shape, 0), leaf((c,), 1), leaf((c,), 2)
    mean, var = np.linspace(-0.5, 0.5, c), np.linspace(0.5, 2.0, c)

    def ours(*t):
        return F.batch_norm(t[0], cr.tensor(mean), cr.tensor(var), *t[1:], training=training)

    def theirs(*t):
        return torch.nn.functional.batch_norm(t[0], torch.tensor(mean), torch.tensor(var),
                                              *t[1:], training=training)

    same_as_torch(ours, theirs, [x, gamma, beta])
    check(ours, x, gamma, beta)
    check(lambda t: F.batch_norm(t, None, None, training=True), x)  # affine=False


def test_batch_norm_closed_form_matches_the_composed_formula():
    """The fused node's gradient equals autograd through mean, var, sqrt and divide."""
    x, gamma, beta = leaf((5, 3, 2), 0), leaf((3,), 1), leaf((3,), 2)
    g = np.random.default_rng(3).standard_normal(x.shape)
    F.batch_norm(x, None, None, gamma, beta, training=True).backward(g)
    fused = [t.grad.data.copy() for t in (x, gamma, beta)]
    for t in (x, gamma, beta):
        t.grad = None
    mu = x.mean(axis=(0, 2), keepdims=True)
    var = ((x - mu) * (x - mu)).mean(axis=(0, 2), keepdims=True)
    y = (x - mu) / (var + 1e-5).sqrt() * gamma.reshape(1, 3, 1) + beta.reshape(1, 3, 1)
    y.backward(g)
    for a, t in zip(fused, (x, gamma, beta), strict=True):
        np.testing.assert_allclose(a, t.grad.data, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("layer, shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                          ("BatchNorm2d", (4, 3, 2, 3))])
def test_batch_norm_running_statistics_and_eval_match_torch(layer, shape, momentum):
    torch = torch_or_skip()
    ours = getattr(nn, layer)(3, momentum=momentum).double()
    theirs = getattr(torch.nn, layer)(3, momentum=momentum).double()
    rng = np.random.default_rng(0)
    for step in range(4):
        x = rng.normal(step, 1.0 + step, shape)
        np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(),
                                   atol=1e-12)
    state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        np.testing.assert_allclose(value, state[name].numpy(), rtol=1e-12, err_msg=name)
    assert int(ours.num_batches_tracked.data) == 4
    ours.eval()
    theirs.eval()
    x = rng.normal(size=shape)
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(),
                               atol=1e-12)


def test_batch_norm_without_running_statistics_or_affine():
    torch = torch_or_skip()
    ours = nn.BatchNorm2d(2, affine=False, track_running_stats=False)
    theirs = torch.nn.BatchNorm2d(2, affine=False, track_running_stats=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).normal(size=(3, 2, 2, 2)).astype(np.float32)
    y = ours(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, theirs(torch.tensor(x)).numpy(), atol=1e-5)


# -- layers ------------------------------------------------------------------------------------

LAYERS = [
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1), (2, 4, 9)),
    ("Conv2d", (4, 6, (3, 2)), dict(padding="same", dilation=2, groups=2), (2, 4, 6, 5)),
    ("Conv2d", (3, 5, 3), dict(stride=(2, 1), padding=(0, 1), bias=False), (2, 3, 7, 6)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 3, 4)),
]


@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS)
def test_conv_layers_match_torch_in_names_shapes_init_and_outputs(name, args, kwargs, shape):
    torch = torch_or_skip()
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, v.shape) for k, v in state.items()]
    # PyTorch's default init: weight and bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    fan_in = ours.weight.shape[1] * int(np.prod(ours.weight.shape[2:]))
    for p in ours.parameters():
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= 1 / np.sqrt(fan_in)
    assert np.abs(ours.weight.data).max() > 0.8 / np.sqrt(fan_in)
    ours.load_state_dict(state)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    y = ours(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, groups=2), nn.ReLU(), nn.AvgPool2d(2, padding=1),
        nn.Dropout2d(0.25), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(24, 3))


def torch_cnn(torch):
    t = torch.nn
    return t.Sequential(
        t.Conv2d(1, 4, 3, padding=1), t.BatchNorm2d(4), t.ReLU(), t.MaxPool2d(2),
        t.Conv2d(4, 6, 3, groups=2), t.ReLU(), t.AvgPool2d(2, padding=1),
        t.Dropout2d(0.25), t.AdaptiveAvgPool2d((2, 2)), t.Flatten(), t.Linear(24, 3))


def test_cnn_state_dict_moves_both_ways_with_torch():
    torch = torch_or_skip()
    ours, theirs = small_cnn().double(), torch_cnn(torch).double()
    x = np.random.default_rng(0).normal(size=(5, 1, 10, 10))
    ours(x)  # a training step, so the running statistics are not the initial ones
    ours.eval()
    theirs.load_state_dict({k: torch.tensor(np.array(v)) for k, v in ours.state_dict().items()})
    theirs.eval()
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(),
                               atol=1e-12)
    theirs.train()
    theirs(torch.tensor(x * 2))
    theirs.eval()
    again = small_cnn().double().eval()
    again.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(again(x).data, theirs(torch.tensor(x)).detach().numpy(),
                               atol=1e-12)


def test_cnn_trains_and_saves_and_loads_with_its_buffers(tmp_path):
    # its own seed: the initial weights and the dropout masks come from the default
    # generator, and about one draw in 40 makes five steps end above the first loss
    cr.manual_seed(0)
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(8, 1, 10, 10)).astype(np.float32), rng.integers(0, 3, 8)
    losses = []
    for _ in range(5):
        loss = F.cross_entropy(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    path = tmp_path / "cnn.safetensors"
    cr.save(model, path)
    again = cr.load(path)
    assert int(again[1].num_batches_tracked.data) == 5
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(),
                              strict=True):
        np.testing.assert_array_equal(a, b, err_msg=k)
    model.eval()
    again.eval()
    np.testing.assert_array_equal(model(x).data, again(x).data)


def test_dropout2d_zeroes_whole_channels():
    x = cr.ones(6, 20, 3, 3)
    y = F.dropout2d(x, 0.5, generator=np.random.default_rng(0)).data
    per_channel = y.reshape(6, 20, 9)
    assert set(np.unique(per_channel)) == {0.0, 2.0}
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()  # a channel is all or none
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x
    g = leaf((2, 3, 2, 2), 0)  # the same mask at every evaluation: a fresh generator, one seed
    assert cr.gradcheck(lambda t: F.dropout2d(t, 0.5, generator=np.random.default_rng(1)), [g])


def test_float32_stays_float32_through_every_op_and_gradient():
    x = cr.tensor(np.random.default_rng(0).normal(size=(2, 4, 6, 6)).astype(np.float32),
                  requires_grad=True)
    w = cr.tensor(np.ones((4, 2, 3, 3), np.float32), requires_grad=True)
    g = cr.tensor(np.ones(4, np.float32), requires_grad=True)
    outputs = [F.conv2d(x, w, padding=1, groups=2), F.conv_transpose2d(x, w, stride=2),
               F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 2, count_include_pad=False),
               F.adaptive_avg_pool2d(x, 4), F.batch_norm(x, None, None, g, g, True),
               F.conv1d(x[:, :, 0], w[:, :, 0], padding="same", groups=2)]
    for y in outputs:
        assert y.dtype == np.float32
        x.grad = w.grad = None
        y.sum().backward()
        assert x.grad.dtype == np.float32
        assert w.grad is None or w.grad.dtype == np.float32


# -- bad inputs: one clear line each ----------------------------------------------------------

BAD = [
    (lambda: F.conv2d(cr.ones(1, 3, 4, 4), cr.ones(2, 3, 5, 5)),
     r"conv2d: the kernel \(5, 5\) \(spanning \(5, 5\) with dilation \(1, 1\)\) is larger than "
     r"the padded input \(4, 4\)"),
    (lambda: F.conv2d(cr.ones(1, 3, 4, 4), cr.ones(2, 3, 2, 2), dilation=4),
     r"spanning \(5, 5\) with dilation \(4, 4\)"),
    (lambda: F.conv2d(cr.ones(1, 4, 4, 4), cr.ones(3, 2, 2, 2), groups=2),
     r"the weight's 3 output channels are not divisible by groups=2"),
    (lambda: F.conv2d(cr.ones(1, 3, 4, 4), cr.ones(4, 2, 2, 2), groups=2),
     r"the input has 3 channels but the weight \(4, 2, 2, 2\) expects 2 x groups=2 = 4"),
    (lambda: F.conv2d(cr.ones(4, 4), cr.ones(2, 1, 2, 2)),
     r"conv2d: expected a 4-D input \(N, C, H, W\) or an unbatched 3-D one, got shape \(4, 4\)"),
    (lambda: F.conv2d(cr.ones(1, 1, 4, 4), cr.ones(2, 1, 2)),
     r"conv2d: the weight must be 4-D"),
    (lambda: F.conv2d(cr.ones(1, 1, 4, 4), cr.ones(2, 1, 2, 2), stride=2, padding="same"),
     r"padding='same' needs stride 1"),
    (lambda: F.conv2d(cr.ones(1, 1, 4, 4), cr.ones(2, 1, 2, 2), stride=0),
     r"conv2d: stride must be an int or 2 ints, each at least 1, got 0"),
    (lambda: F.conv2d(cr.ones(1, 1, 4, 4), cr.ones(2, 1, 2, 2), cr.ones(3)),
     r"the bias must have shape \(2,\)"),
    (lambda: F.conv2d(cr.ones(1, 1, 4, 4, dtype=np.float64), cr.ones(2, 1, 2, 2)),
     r"conv2d: the input is float64 but the weight is float32"),
    (lambda: F.conv1d(cr.ones(1, 2, 3), cr.ones(1, 2, 4)),
     r"conv1d: the kernel \(4,\)"),
    (lambda: F.conv_transpose2d(cr.ones(1, 2, 3, 3), cr.ones(2, 1, 3, 3), stride=2,
                                output_padding=2),
     r"output_padding \(2, 2\) must be smaller than the stride \(2, 2\) or the dilation"),
    (lambda: F.conv_transpose2d(cr.ones(1, 3, 3, 3), cr.ones(2, 1, 3, 3)),
     r"conv_transpose2d: the input has 3 channels but the weight \(2, 1, 3, 3\) expects 2"),
    (lambda: F.max_pool2d(cr.ones(1, 1, 4, 4), 2, padding=2),
     r"max_pool2d: padding \(2, 2\) must be at most half the kernel size \(2, 2\)"),
    (lambda: F.max_pool2d(cr.ones(1, 1, 2, 2), 3),
     r"max_pool2d: the kernel \(3, 3\) .* is larger than the padded input \(2, 2\)"),
    (lambda: F.avg_pool2d(cr.ones(1, 1, 4, 4, dtype=np.int64), 2),
     r"avg_pool2d: the input must be floating point, got int64"),
    (lambda: F.adaptive_avg_pool2d(cr.ones(1, 1, 4, 4), (2, 2, 2)),
     r"output_size must be an int or 2 values"),
    (lambda: F.batch_norm(cr.ones(1, 3), None, None, training=True),
     r"expected more than 1 value per channel in training"),
    (lambda: F.batch_norm(cr.ones(4, 3), cr.zeros(2), cr.ones(2)),
     r"batch_norm: running_mean must have shape \(3,\)"),
    (lambda: F.dropout2d(cr.ones(3, 3), 0.5),
     r"dropout2d: expected a 4-D input"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), r"must both be divisible by groups=2"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="reflect"), r"padding_mode must be 'zeros'"),
    (lambda: nn.Conv2d(3, 4, 3, padding="full"), r"padding must be ints, 'same' or 'valid'"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding="same"), r"padding must be ints, got 'same'"),
    (lambda: nn.Conv2d(1, 2, 3)(cr.ones(1, 2, 5, 5)),
     r"the input has 2 channels but the weight \(2, 1, 3, 3\) expects 1"),
    (lambda: nn.MaxPool2d(0), r"MaxPool2d: kernel_size must be an int or 2 ints"),
    (lambda: nn.BatchNorm2d(3)(cr.ones(2, 3, 4)), r"BatchNorm2d: expected input \(N, C, H, W\)"),
    (lambda: nn.BatchNorm1d(3)(cr.ones(2, 4)), r"BatchNorm1d\(3\): the input has 4 channels"),
    (lambda: nn.BatchNorm1d(3, momentum=2.0), r"momentum must be in \[0, 1\] or None"),
    (lambda: nn.Dropout2d(1.0), r"Dropout2d: p must be in \[0, 1\)"),
]


@pytest.mark.parametrize("make, message", BAD)
def test_bad_inputs_get_one_clear_line(make, message):
    with pytest.raises((ValueError, TypeError), match=message) as info:
        make()
    assert "\n" not in str(info.value)


# -- fast paths: each equal to the general path it short-cuts ----------------------------------

@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("groups", [1, 2])
def test_weight_gradient_is_the_same_from_either_window_layout(dtype, rtol, groups):
    """im2col stores a sample's windows sample by sample or batch-inner (C kh kw, H'W', N);
    dW from either is the same sum, in another order."""
    from chainrule.ops.convolution import Geometry, im2col, weight_grad
    rng = np.random.default_rng(0)
    geo = Geometry((3, 2), (1, 2), ((1, 1), (0, 1)), groups=groups)
    x = rng.standard_normal((3, 4, 6, 7)).astype(dtype)
    small = geo.small(x.shape[2:])
    gy = rng.standard_normal((3, 2 * groups) + small).astype(dtype)
    cols = im2col(x, geo, small)
    by_sample = np.ascontiguousarray(cols)
    batch_inner = np.ascontiguousarray(cols.transpose(1, 2, 0)).transpose(2, 0, 1)
    a, b = weight_grad(by_sample, gy, groups), weight_grad(batch_inner, gy, groups)
    assert a.dtype == b.dtype == dtype
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(a).max())


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_conv_and_its_gradients_are_the_same_in_either_layout(dtype, rtol, monkeypatch):
    """Deep layers run their products over the whole batch (batch-inner layouts), shallow
    ones per sample: forcing either on the same layer changes only the rounding."""
    from chainrule.ops import convolution
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((3, 4, 5, 6)).astype(dtype), requires_grad=True)
    w = cr.tensor(rng.standard_normal((6, 2, 3, 2)).astype(dtype), requires_grad=True)
    results = []
    for deep in (False, True):
        monkeypatch.setattr(convolution, "batch_inner", lambda rows, positions, d=deep: d)
        x.grad = w.grad = None
        y = F.conv2d(x, w, stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2)
        y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape).astype(dtype))
        results.append([y.data, x.grad.data, w.grad.data])
    for a, b in zip(*results, strict=True):
        assert a.dtype == b.dtype == dtype and a.flags.c_contiguous and b.flags.c_contiguous
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(a).max())


def test_conv_gradients_are_the_same_with_and_without_the_saved_windows(monkeypatch):
    from chainrule.ops import convolution
    x, w, b = leaf((2, 3, 7, 6), 0), leaf((4, 3, 3, 3), 1), leaf((4,), 2)

    def grads():
        for t in (x, w, b):
            t.grad = None
        F.conv2d(x, w, b, stride=(2, 1), padding=1).sum().backward()
        return [t.grad.data.copy() for t in (x, w, b)]

    saved = grads()
    monkeypatch.setattr(convolution, "SAVED_COLUMNS_BYTES", 0)
    for a, c in zip(saved, grads(), strict=True):
        np.testing.assert_array_equal(a, c)


@st.composite
def window_cases(draw, disjoint=False):
    """An unpadded pooling geometry (disjoint: no two windows share an element) and an
    input with many ties, zeros of both signs among them."""
    from chainrule.ops.convolution import Geometry
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (1, 1) if disjoint else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
    stride = tuple(s + draw(st.integers(0, 1)) if disjoint else draw(st.integers(1, 3))
                   for s in span)
    size = tuple(s + draw(st.integers(0, 4)) for s in span)
    values = draw(st.sampled_from([[-1.0, -0.0, 0.0, 1.0], [0.0, 1.0, 2.0], [-0.5, 3.0]]))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    x = rng.choice(values, (2, 3) + size)
    return Geometry(kernel, stride, dilation=dilation), x


@FEW
@given(case=window_cases(), dtype=st.sampled_from([np.float64, np.float32]))
def test_max_pool_tournament_equals_the_scan_bit_for_bit(case, dtype):
    from chainrule.ops.pooling import MaxPool, _tournament
    geo, x = case
    x = x.astype(dtype)
    small = geo.small(x.shape[2:])
    best, winner = _tournament(x, geo, small, np.dtype(np.int8))
    scan_best, scan_winner = MaxPool(geo)._scan(x, small, np.dtype(np.int8))
    np.testing.assert_array_equal(winner, scan_winner)
    np.testing.assert_array_equal(np.signbit(best), np.signbit(scan_best))  # -0.0 stays -0.0
    np.testing.assert_array_equal(best, scan_best)
    assert best.dtype == dtype and winner.dtype == np.int8


def test_max_pool_of_signed_zeros_returns_the_first_one_as_torch():
    torch = torch_or_skip()
    x = np.array([[[[-0.0, 0.0, 0.0, -0.0, -0.0, -0.0]]]])
    ours = F.max_pool2d(cr.tensor(x), (1, 2)).data
    theirs = torch.nn.functional.max_pool2d(torch.tensor(x), (1, 2)).numpy()
    np.testing.assert_array_equal(np.signbit(ours), [[[[True, False, True]]]])
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))


@FEW
@given(case=window_cases(disjoint=True), average=st.booleans(),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_disjoint_window_scatter_equals_the_general_sum(case, average, dtype):
    from chainrule.ops.convolution import Geometry
    geo, x = case
    x = cr.tensor(x.astype(dtype), requires_grad=True)
    args = (geo.kernel, geo.stride)
    pool = (lambda t: F.avg_pool2d(t, *args)) if average else \
        (lambda t: F.max_pool2d(t, *args))
    g = np.random.default_rng(0).standard_normal(pool(x).shape).astype(dtype)
    pool(x).backward(g)
    fast = x.grad.data
    with pytest.MonkeyPatch.context() as m:
        m.setattr(Geometry, "disjoint", lambda self: False)
        x.grad = None
        pool(x).backward(g)
    np.testing.assert_array_equal(fast, x.grad.data)
    assert fast.dtype == dtype


def test_max_pool_fast_paths_leave_non_finite_values_to_the_general_rules():
    """A NaN in x or a non-finite upstream gradient takes the general path: the last NaN
    wins, and positions that are no arg-max get exactly 0, never inf * 0."""
    x = cr.tensor(np.array([[[[np.nan, np.nan, 1.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, (1, 4)).backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x.grad.data, [[[[0.0, 1.0, 0.0, 0.0]]]])
    x = cr.tensor(np.array([[[[1.0, 2.0, 3.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, (1, 2)).backward(np.array([[[[np.inf, 1.0]]]]))
    np.testing.assert_array_equal(x.grad.data, [[[[0.0, np.inf, 1.0, 0.0]]]])
