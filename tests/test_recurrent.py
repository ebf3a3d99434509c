"""Recurrent layers and BPTT: exact gradients, fused = unrolled, PyTorch parity, truncation,
masking, a sequence task that learns, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from gradchecked import params

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn
from chainrule import optim
from chainrule.ops.recurrent import FusedGRU, FusedLSTM, FusedRNN

KINDS = ("RNN", "LSTM", "GRU")
CELLS = ("RNNCell", "LSTMCell", "GRUCell")
rng = np.random.default_rng(0)


def t64(*shape: int, requires_grad: bool = True) -> cr.Tensor:
    return cr.tensor(rng.standard_normal(shape), requires_grad=requires_grad)


def first(state):
    """h_n of a layer's final state (LSTM returns (h_n, c_n))."""
    return state[0] if isinstance(state, tuple) else state


def initial(kind: str, h0: cr.Tensor):
    return (h0, h0 * 0.5) if kind == "LSTM" else h0


FUSED = {"RNN": FusedRNN, "LSTM": FusedLSTM, "GRU": FusedGRU}


@pytest.mark.parametrize("kind", params(KINDS, FUSED))
@pytest.mark.parametrize("with_state", [False, True])
def test_layer_gradcheck(kind, with_state):
    layer = getattr(nn, kind)(2, 3, num_layers=2, dtype=np.float64)
    x, h0 = t64(2, 3, 2), t64(2, 2, 3)
    params = list(layer.parameters())

    def f(x, h0, *params):
        out, state = layer(x, initial(kind, h0) if with_state else None)
        return (out, *state) if kind == "LSTM" else (out, state)  # LSTM: h_n and c_n

    assert cr.gradcheck(f, [x, h0, *params])


@pytest.mark.parametrize("kind", params(KINDS, FUSED))
def test_layer_gradgradcheck_through_fused_node(kind):
    """Double backward of the fused node goes through the unrolled graph."""
    layer = getattr(nn, kind)(2, 2, dtype=np.float64)
    x, h0 = t64(1, 3, 2), t64(1, 1, 2)
    w_hh = layer.weight_hh_l0

    def f(x, h0, w_hh):
        return layer(x, initial(kind, h0))[0]

    assert cr.gradgradcheck(f, [x, h0, w_hh])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("with_state", [False, True])
def test_cell_gradcheck(cell, with_state):
    c = getattr(nn, cell)(3, 4, dtype=np.float64)
    x, h = t64(2, 3), t64(2, 4)
    params = list(c.parameters())

    def f(x, h, *params):
        state = ((h, h * 2.0) if cell == "LSTMCell" else h) if with_state else None
        return c(x, state)  # LSTMCell: both h' and c'

    assert cr.gradcheck(f, [x, h, *params])
    assert cr.gradgradcheck(f, [x, h, *params[:2]])


def run_layer(layer, x: np.ndarray, truncate=None, state=None):
    """Forward + backward of a loss touching every output; returns values and grads."""
    for p in layer.parameters():
        p.grad = None
    xt = cr.tensor(x, requires_grad=True)
    out, st = layer(xt, state, truncate=truncate)
    loss = (out * out).sum() + (first(st) * 1.5).sum()
    if isinstance(st, tuple):
        loss = loss + (st[1] * st[1]).sum()
    loss.backward()
    return [out.data, first(st).data, xt.grad.data] + [p.grad.data for p in layer.parameters()]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("truncate", [None, 1, 2, 4])
def test_fused_equals_generic(kind, truncate):
    layer = getattr(nn, kind)(3, 5, num_layers=2, dtype=np.float64)
    x = rng.standard_normal((4, 7, 3))
    fused = run_layer(layer, x, truncate)
    layer.fused = False
    generic = run_layer(layer, x, truncate)
    for a, b in zip(fused, generic, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_truncation_covering_the_sequence_equals_full_bptt(kind):
    layer = getattr(nn, kind)(3, 4, dtype=np.float64)
    x = rng.standard_normal((2, 5, 3))
    full = run_layer(layer, x)
    for k in (5, 9):
        for a, b in zip(full, run_layer(layer, x, truncate=k), strict=True):
            np.testing.assert_array_equal(a, b)
    short = run_layer(layer, x, truncate=2)
    np.testing.assert_array_equal(full[0], short[0])  # same forward values...
    assert not np.allclose(full[-3], short[-3])  # ...but W_hh's gradient is cut short


def test_truncated_gradient_is_sum_over_windows():
    """With k = 1 no gradient crosses a step: dL/dh_{t-1} from step t is zero, so the input
    gradient of step t depends only on step t's own loss."""
    layer = nn.RNN(2, 3, dtype=np.float64)
    x = cr.tensor(rng.standard_normal((1, 4, 2)), requires_grad=True)
    out, _ = layer(x, truncate=1)
    out[:, 3].sum().backward()
    assert np.all(x.grad.data[:, :3] == 0)
    assert np.any(x.grad.data[:, 3] != 0)




@pytest.fixture(scope="module")
def torch_module():
    return pytest.importorskip("torch", reason="PyTorch is the oracle for these tests; install "
                                               "the test extra: pip install -e .[test]")


@pytest.fixture(scope="module")
def safetensors_torch(torch_module):
    return pytest.importorskip("safetensors.torch", reason="the safetensors library reads and "
                                                           "writes the interchange files; "
                                                           "pip install -e .[test]")


def assert_same_weights(ours, theirs):
    want = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    got = ours.state_dict()
    assert list(got) == list(want)
    for name, value in got.items():
        assert value.dtype == want[name].dtype, name
        np.testing.assert_array_equal(value, want[name], err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_matches_pytorch(kind, torch_module, safetensors_torch, tmp_path):
    torch_ = torch_module
    ours = getattr(nn, kind)(3, 5, num_layers=2, dtype=np.float64)
    # chainrule -> PyTorch: a file chainrule writes, read by the safetensors library
    cr.save_file(ours.state_dict(), tmp_path / "ours.safetensors")
    copy = getattr(torch_.nn, kind)(3, 5, num_layers=2, batch_first=True).double()
    copy.load_state_dict(safetensors_torch.load_file(tmp_path / "ours.safetensors"))
    assert_same_weights(ours, copy)
    # PyTorch -> chainrule: a file the safetensors library writes (PyTorch's own
    # initialization), read by chainrule; the comparison below runs on these weights
    torch_.manual_seed(1)
    theirs = getattr(torch_.nn, kind)(3, 5, num_layers=2, batch_first=True).double()
    safetensors_torch.save_file(theirs.state_dict(), tmp_path / "theirs.safetensors")
    loaded, _ = cr.load_file(tmp_path / "theirs.safetensors")
    ours.load_state_dict(loaded)
    assert_same_weights(ours, theirs)
    x = rng.standard_normal((4, 6, 3))
    h0 = rng.standard_normal((2, 4, 5))
    state = (cr.tensor(h0), cr.tensor(h0 * 0.5)) if kind == "LSTM" else cr.tensor(h0)
    got = run_layer(ours, x, state=state)
    xt = torch_.tensor(x, requires_grad=True)
    t_state = (torch_.tensor(h0), torch_.tensor(h0 * 0.5)) if kind == "LSTM" else \
        torch_.tensor(h0)
    out, st = theirs(xt, t_state)
    h_n = st[0] if kind == "LSTM" else st
    loss = (out * out).sum() + (h_n * 1.5).sum()
    if kind == "LSTM":
        loss = loss + (st[1] * st[1]).sum()
    loss.backward()
    want = [out.detach().numpy(), h_n.detach().numpy(), xt.grad.numpy()] + \
        [getattr(theirs, name).grad.numpy() for name, _ in ours.named_parameters()]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("cell, options", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                           ("LSTMCell", {}), ("GRUCell", {}),
                                           ("GRUCell", {"bias": False})])
@pytest.mark.parametrize("with_state", [False, True])
def test_cell_matches_pytorch(cell, options, with_state, torch_module):
    """One step of each cell, outputs and every gradient, beside PyTorch's cell with the
    same weights (PyTorch's own initialization, moved over by name)."""
    torch_ = torch_module
    torch_.manual_seed(2)
    theirs = getattr(torch_.nn, cell)(3, 5, **options).double()
    ours = getattr(nn, cell)(3, 5, dtype=np.float64, **options)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, h = rng.standard_normal((4, 3)), rng.standard_normal((4, 5))
    lstm = cell == "LSTMCell"

    def loss_of(outputs):
        outputs = outputs if lstm else (outputs,)
        return sum(((o * o) * (k + 1.0)).sum() for k, o in enumerate(outputs))

    xc, hc = cr.tensor(x, requires_grad=True), cr.tensor(h, requires_grad=True)
    got_out = ours(xc, ((hc, hc * 0.5) if lstm else hc) if with_state else None)
    loss_of(got_out).backward()
    xt, ht = torch_.tensor(x, requires_grad=True), torch_.tensor(h, requires_grad=True)
    want_out = theirs(xt, ((ht, ht * 0.5) if lstm else ht) if with_state else None)
    loss_of(want_out).backward()
    pairs = list(zip(got_out if lstm else (got_out,), want_out if lstm else (want_out,),
                     strict=True))
    pairs = [(a.data, b.detach().numpy()) for a, b in pairs] + [(xc.grad.data, xt.grad.numpy())]
    if with_state:
        pairs.append((hc.grad.data, ht.grad.numpy()))
    pairs += [(p.grad.data, getattr(theirs, name).grad.numpy())
              for name, p in ours.named_parameters()]
    assert len(pairs) == (2 if lstm else 1) + 1 + with_state + (4 if options.get("bias", 1) else 2)
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_parameter_names_and_shapes_follow_pytorch():
    lstm = nn.LSTM(3, 5, num_layers=2)
    shapes = {n: p.shape for n, p in lstm.named_parameters()}
    assert shapes == {"weight_ih_l0": (20, 3), "weight_hh_l0": (20, 5), "bias_ih_l0": (20,),
                      "bias_hh_l0": (20,), "weight_ih_l1": (20, 5), "weight_hh_l1": (20, 5),
                      "bias_ih_l1": (20,), "bias_hh_l1": (20,)}
    assert nn.GRU(3, 4).weight_ih_l0.shape == (12, 3)
    assert all(p.dtype == np.float32 for p in lstm.parameters())


def test_bad_inputs_have_clear_errors():
    layer = nn.GRU(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, time, 3\)"):
        layer(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"initial h must have shape \(2, 2, 4\)"):
        layer(np.zeros((2, 5, 3), np.float32), np.zeros((1, 2, 4), np.float32))
    with pytest.raises(ValueError, match="truncate must be a positive"):
        layer(np.zeros((2, 5, 3), np.float32), truncate=0)
    with pytest.raises(IndexError, match="index 7 is out of range for 5 embeddings"):
        nn.Embedding(5, 2)(np.array([[1, 7]]))


def test_embedding_gradient_accumulates_repeated_indices():
    emb = nn.Embedding(4, 2, dtype=np.float64)
    out = emb(np.array([[1, 1, 3]]))
    out.sum().backward()
    assert emb.weight.grad.data.tolist() == [[0, 0], [2, 2], [0, 0], [1, 1]]


def test_sequence_loss_masks_padded_steps():
    logits = cr.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    target = rng.integers(0, 3, (2, 4))
    loss = F.sequence_cross_entropy(logits, target, lengths=[4, 2])
    loss.backward()
    assert np.all(logits.grad.data[1, 2:] == 0)  # padded steps get no gradient
    real = [(b, t) for b in range(2) for t in range(4) if t < [4, 2][b]]
    want = np.mean([F.cross_entropy(logits[b, t], np.array(target[b, t])).item()
                    for b, t in real])
    assert loss.item() == pytest.approx(want)
    other = target.copy()
    other[1, 2:] = (other[1, 2:] + 1) % 3  # changing padded targets changes nothing
    assert F.sequence_cross_entropy(logits, other, lengths=[4, 2]).item() == loss.item()
    with pytest.raises(ValueError, match="lengths must be between 0 and 4"):
        F.sequence_cross_entropy(logits, target, lengths=[5, 2])


def test_gradient_clipping_tames_exploding_gradients():
    layer = nn.RNN(1, 8, nonlinearity="relu", dtype=np.float64)
    with cr.no_grad():
        layer.weight_hh_l0.copy_(np.eye(8) * 1.5)  # gradients grow like 1.5^T
    out, _ = layer(np.ones((1, 40, 1)))
    out[:, -1].sum().backward()
    params = list(layer.parameters())
    before = np.sqrt(sum((p.grad.data ** 2).sum() for p in params))
    total = optim.clip_grad_norm_(params, 1.0)
    after = np.sqrt(sum((p.grad.data ** 2).sum() for p in params))
    assert before > 1e5
    assert float(total) == pytest.approx(before)
    assert after == pytest.approx(1.0, rel=1e-4)


def bits_task(n: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of random bits; the label is how many bits are 1 (0..steps)."""
    r = np.random.default_rng(seed)
    x = r.integers(0, 2, (n, steps, 1)).astype(np.float32)
    return x, x.sum(axis=(1, 2)).astype(np.int64)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_sequence_task_learns(kind):
    """Counting the ones in a bit sequence: trained by BPTT to high accuracy in seconds."""
    cr.manual_seed(0)
    steps = 8
    x, y = bits_task(2000, steps, seed=1)
    x_test, y_test = bits_task(500, steps, seed=2)
    layer, head = getattr(nn, kind)(1, 24), nn.Linear(24, steps + 1)
    params = list(layer.parameters()) + list(head.parameters())
    opt = optim.Adam(params, lr=0.01)
    for _epoch in range(12):
        for i in range(0, len(x), 50):
            _, state = layer(x[i:i + 50])
            loss = F.cross_entropy(head(first(state)[-1]), y[i:i + 50])
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm_(params, 5.0)
            opt.step()
    with cr.no_grad():
        _, state = layer(x_test)
        accuracy = (head(first(state)[-1]).data.argmax(axis=1) == y_test).mean()
    assert accuracy > 0.95


def test_save_and_load_recurrent_model(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 4))
    lstm = nn.LSTM(4, 6, num_layers=2)
    cr.save(lstm, tmp_path / "lstm.safetensors", {"note": "x"})
    again = cr.load(tmp_path / "lstm.safetensors")
    assert isinstance(again, nn.LSTM) and again.num_layers == 2
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(lstm(x)[0].data, again(x)[0].data)
    cr.save(model, tmp_path / "emb.safetensors")
    assert np.array_equal(cr.load(tmp_path / "emb.safetensors")[0].weight.data,
                          model[0].weight.data)


# -- the layer's dtype wins over the input's (as in Linear) ----------------------------------

def make(name: str, dtype, **options):
    """A recurrent layer (2 layers) or cell, input 3, hidden 4."""
    if name in CELLS:
        return getattr(nn, name)(3, 4, dtype=dtype, **options)
    return getattr(nn, name)(3, 4, num_layers=2, dtype=dtype, **options)


def outputs_of(result):
    """Every array a layer or cell returns (out and h_n, c_n; h' or (h', c'))."""
    if not isinstance(result, tuple):
        return [result]
    return [t for r in result for t in (r if isinstance(r, tuple) else (r,))]


def state_like(name: str, batch: int, dtype, as_tensor: bool):
    shape = (batch, 4) if name in CELLS else (2, batch, 4)
    h = rng.standard_normal(shape).astype(dtype)
    h = cr.tensor(h, dtype=dtype) if as_tensor else h
    return (h, h) if name.startswith("LSTM") else h


@pytest.mark.parametrize("name", [*KINDS, *CELLS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fused", [True, False])
def test_float32_stays_float32_and_float64_stays_float64(name, dtype, fused):
    """float64 or integer data (arrays, lists, Tensors) and initial states of another dtype
    are cast to the layer's dtype, as Linear casts its input: the layer computes and
    returns its own dtype, with the same values as data cast by hand."""
    module = make(name, dtype)
    module.fused = fused
    other = np.float64 if dtype == np.float32 else np.float32
    shape = (2, 3) if name in CELLS else (2, 5, 3)
    floats = rng.standard_normal(shape)
    ints = rng.integers(-2, 3, shape)
    for data in (floats.astype(other), cr.tensor(floats, dtype=other), floats.tolist(),
                 ints, ints.astype(np.int32), cr.tensor(ints), ints > 0):
        expected = outputs_of(module(np.asarray(getattr(data, "data", data)).astype(dtype)))
        got = outputs_of(module(data))
        for g, e in zip(got, expected, strict=True):
            assert g.dtype == dtype, (type(data), g.dtype)
            np.testing.assert_array_equal(g.data, e.data)
    for as_tensor in (False, True):
        state = state_like(name, 2, other, as_tensor)
        for g in outputs_of(module(floats.astype(other), state)):
            assert g.dtype == dtype, ("state", as_tensor, g.dtype)


@pytest.mark.parametrize("name", [*KINDS, *CELLS])
def test_a_tensor_of_another_float_dtype_gets_a_differentiable_cast(name):
    """x (float64, requires grad) into a float32 layer: the layer runs in float32 and the
    gradient comes back to x in x's own dtype, equal to the float32 layer's gradient."""
    module = make(name, np.float32)
    shape = (2, 3) if name in CELLS else (2, 5, 3)
    data = rng.standard_normal(shape)
    grads = []
    for dtype in (np.float64, np.float32):
        x = cr.tensor(data, dtype=dtype, requires_grad=True)
        sum(o.sum() for o in outputs_of(module(x))).backward()
        assert x.grad.dtype == dtype
        grads.append(x.grad.data)
    np.testing.assert_allclose(grads[0], grads[1], rtol=0, atol=0)


# -- save and load keep the dtype -------------------------------------------------------------

SAVED = {
    "RNN tanh": lambda dt: nn.RNN(3, 4, dtype=dt),
    "RNN relu": lambda dt: nn.RNN(3, 4, nonlinearity="relu", dtype=dt),
    "LSTM": lambda dt: nn.LSTM(3, 4, dtype=dt),
    "GRU no bias": lambda dt: nn.GRU(3, 4, bias=False, dtype=dt),
    "LSTM 3 layers": lambda dt: nn.LSTM(3, 4, num_layers=3, dtype=dt),
    "GRU 2 layers": lambda dt: nn.GRU(3, 4, num_layers=2, dtype=dt),
    "RNN relu 2 layers": lambda dt: nn.RNN(3, 4, num_layers=2, nonlinearity="relu", dtype=dt),
    "RNNCell tanh": lambda dt: nn.RNNCell(3, 4, dtype=dt),
    "RNNCell relu": lambda dt: nn.RNNCell(3, 4, nonlinearity="relu", dtype=dt),
    "LSTMCell": lambda dt: nn.LSTMCell(3, 4, dtype=dt),
    "GRUCell": lambda dt: nn.GRUCell(3, 4, dtype=dt),
    "Embedding": lambda dt: nn.Embedding(6, 3, dtype=dt),
    "cast after construction": lambda dt: nn.LSTM(3, 4, num_layers=2).to(dt),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("which", sorted(SAVED))
def test_save_and_load_round_trip_is_bit_exact_in_its_dtype(which, dtype, tmp_path):
    model = SAVED[which](dtype)
    cr.save(model, tmp_path / "m.safetensors")
    again = cr.load(tmp_path / "m.safetensors")
    assert type(again) is type(model)
    assert again.extra_config() == model.extra_config()
    assert again.extra_config()["dtype"] == np.dtype(dtype).name
    want = dict(model.named_parameters())
    got = dict(again.named_parameters())
    assert list(got) == list(want)
    for name, p in got.items():
        assert p.dtype == dtype, (name, p.dtype)
        assert p.data.tobytes() == want[name].data.tobytes(), name
    if isinstance(model, nn.Embedding):
        x = np.array([[0, 5, 2]])
    else:
        x = rng.standard_normal((2, 3) if "Cell" in which else (2, 4, 3)).astype(dtype)
    for a, b in zip(outputs_of(model(x)), outputs_of(again(x)), strict=True):
        assert a.dtype == b.dtype == dtype
        assert a.data.tobytes() == b.data.tobytes()


# -- empty batches, empty sequences -----------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_batch_gives_empty_outputs_fused_and_unfused_alike(kind):
    results = []
    for fused in (True, False):
        layer = getattr(nn, kind)(3, 4, num_layers=2, dtype=np.float64)
        layer.fused = fused
        x = cr.tensor(np.zeros((0, 5, 3)), requires_grad=True)
        out, state = layer(x)
        assert out.shape == (0, 5, 4)
        assert all(s.shape == (2, 0, 4) for s in outputs_of(state))
        (out.sum() + sum(s.sum() for s in outputs_of(state))).backward()
        assert x.grad.shape == (0, 5, 3)
        grads = [p.grad.data for p in layer.parameters()]
        assert all(not g.any() for g in grads)  # no examples, no gradient
        results.append([out.shape, *[g.shape for g in grads]])
    assert results[0] == results[1]


@pytest.mark.parametrize("cell", CELLS)
def test_a_cell_takes_an_empty_batch(cell):
    for out in outputs_of(getattr(nn, cell)(3, 4)(np.zeros((0, 3)))):
        assert out.shape == (0, 4) and out.dtype == np.float32


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_sequence_is_refused_clearly(kind):
    for fused in (True, False):
        layer = getattr(nn, kind)(3, 4)
        layer.fused = fused
        with pytest.raises(ValueError, match=rf"{kind}: the sequence is empty \(input shape "
                                             r"\(2, 0, 3\) has time axis 0\); expected at "
                                             r"least one step"):
            layer(np.zeros((2, 0, 3)))


# -- clear errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [2.5, True, "2", 0, -1, np.float64(2.0)])
@pytest.mark.parametrize("kind", KINDS)
def test_truncate_must_be_a_positive_int_or_none(kind, bad):
    layer = getattr(nn, kind)(3, 4)
    with pytest.raises(ValueError, match=rf"{kind}: truncate must be a positive int \(detach "
                                         r"the carried state every k steps\) or None, got "):
        layer(np.zeros((2, 5, 3)), truncate=bad)


def test_truncate_takes_numpy_integers():
    layer = nn.RNN(3, 4)
    x = np.zeros((2, 5, 3))
    np.testing.assert_array_equal(layer(x, truncate=np.int64(2))[0].data, layer(x)[0].data)


@pytest.mark.parametrize("name", [*KINDS, *CELLS])
@pytest.mark.parametrize("field, args", [("input_size", (3.0, 4)), ("hidden_size", (3, "4")),
                                         ("input_size", (True, 4)), ("hidden_size", (3, 0))])
def test_sizes_must_be_positive_ints(name, field, args):
    got = repr(args[0] if field == "input_size" else args[1])
    with pytest.raises(ValueError, match=rf"{name}: {field} must be a positive int, got "
                                         rf"{got}"):
        getattr(nn, name)(*args)


@pytest.mark.parametrize("bad", [2.0, "2", 0])
def test_num_layers_and_embedding_sizes_must_be_positive_ints(bad):
    with pytest.raises(ValueError, match="LSTM: num_layers must be a positive int, got "):
        nn.LSTM(3, 4, num_layers=bad)
    with pytest.raises(ValueError, match="Embedding: num_embeddings must be a positive int, "):
        nn.Embedding(bad, 3)
    with pytest.raises(ValueError, match="Embedding: embedding_dim must be a positive int, "):
        nn.Embedding(5, bad)


@pytest.mark.parametrize("state, got", [
    ((np.zeros((2, 4)),), "a tuple of 1"),
    ([np.zeros((2, 4))] * 3, "a list of 3"),
    (np.zeros((2, 4)), "a single ndarray"),
])
def test_the_lstm_state_is_a_pair(state, got):
    with pytest.raises(ValueError, match=rf"LSTMCell: the LSTM state is the pair \(h, c\), each "
                                         rf"of shape \(batch, 4\); got {got}"):
        nn.LSTMCell(3, 4)(np.zeros((2, 3)), state)
    layer_state = tuple(np.zeros((1, 2, 4)) for _ in state) if isinstance(state, tuple | list) \
        else np.zeros((1, 2, 4))
    with pytest.raises(ValueError, match=r"LSTM: the initial state is the pair \(h_0, c_0\), "
                                         r"each of shape \(num_layers, batch, hidden\); got"):
        nn.LSTM(3, 4)(np.zeros((2, 5, 3)), layer_state)


@pytest.mark.parametrize("cell, which", [("RNNCell", "h"), ("GRUCell", "h"), ("LSTMCell", "h"),
                                         ("LSTMCell", "c")])
def test_a_wrong_cell_state_shape_names_the_state_and_the_shape(cell, which):
    x = np.zeros((2, 3))
    good, bad = np.zeros((2, 4)), np.zeros((3, 4))
    if cell == "LSTMCell":
        state = (bad, good) if which == "h" else (good, bad)
    else:
        state = bad
    with pytest.raises(ValueError, match=rf"{cell}: the state {which} must have shape \(2, 4\) "
                                         r"\(batch, hidden\), got \(3, 4\)"):
        getattr(nn, cell)(3, 4)(x, state)
    with pytest.raises(ValueError, match=rf"{cell}: the state {which} must have shape \(2, 4\)"):
        wide = np.zeros((2, 5))
        getattr(nn, cell)(3, 4)(x, ((wide, good) if which == "h" else (good, wide))
                                if cell == "LSTMCell" else wide)


@pytest.mark.parametrize("kind, which", [("RNN", "h"), ("GRU", "h"), ("LSTM", "h"), ("LSTM", "c")])
def test_a_wrong_layer_state_shape_names_the_state_and_the_shape(kind, which):
    good, bad = np.zeros((2, 2, 4)), np.zeros((2, 2, 5))
    state = ((bad, good) if which == "h" else (good, bad)) if kind == "LSTM" else bad
    with pytest.raises(ValueError, match=rf"{kind}: the initial {which} must have shape "
                                         r"\(2, 2, 4\) \(num_layers, batch, hidden\), got "
                                         r"\(2, 2, 5\)"):
        getattr(nn, kind)(3, 4, num_layers=2)(np.zeros((2, 5, 3)), state)


@pytest.mark.parametrize("name", [*KINDS, *CELLS])
def test_complex_or_object_input_is_refused_clearly(name):
    shape = (2, 3) if name in CELLS else (2, 5, 3)
    module = make(name, np.float32)
    with pytest.raises(TypeError, match=rf"{name}: the input must hold real numbers \(bool, "
                                        r"int or float\), got ndarray of dtype complex128"):
        module(np.zeros(shape) + 1j)
    with pytest.raises(TypeError, match=rf"{name}: the input must hold real numbers .* got "
                                        r"list of dtype <U1"):
        module(np.full(shape, "a").tolist())
    with pytest.raises(TypeError, match=rf"{name}: the state h must hold real numbers|"
                                        rf"{name}: the initial h must hold real numbers"):
        module(np.zeros(shape), state_like(name, 2, np.complex128, False))


@pytest.mark.parametrize("mask, bad", [([[1, 0.5, 0], [1, 1, 1]], "0.5"),
                                       ([[1, 2, 0], [1, 1, 1]], "2"),
                                       ([[1, -1, 0], [1, 1, 1]], "-1"),
                                       ([[1.0, float("nan"), 0], [1, 1, 1]], "nan"),
                                       ([["yes"] * 3] * 2, "'yes'")])
def test_sequence_mask_values_must_be_bool_or_0_1(mask, bad):
    logits, target = cr.randn(2, 3, 4), np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match=rf"sequence_cross_entropy: mask must be bool or hold "
                                         rf"only 0 and 1 \(1 marks a real step\), got the "
                                         rf"value {bad} \(dtype "):
        F.sequence_cross_entropy(logits, target, mask=np.array(mask))


def test_sequence_mask_of_0_and_1_equals_the_bool_mask():
    logits, target = cr.randn(2, 3, 4), np.zeros((2, 3), np.int64)
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    want = F.sequence_cross_entropy(logits, target, mask=mask.astype(bool)).item()
    for m in (mask, mask.astype(np.float32), mask.tolist(), cr.tensor(mask)):
        assert F.sequence_cross_entropy(logits, target, mask=m).item() == want


@pytest.mark.parametrize("make", [lambda: nn.CharRNN(12, 4, 6, cell="gru", dtype=np.float64),
                                  lambda: nn.CharRNN(12, 4, 6, cell="lstm").double(),
                                  lambda: nn.CharRNN(12, 4, 6, cell="rnn")])
def test_char_rnn_save_load_keeps_dtype_and_weights(make, tmp_path):
    model = make()
    dtype = model.head.weight.dtype
    cr.save(model, tmp_path / "m.safetensors")
    back = cr.load(tmp_path / "m.safetensors")
    assert {p.dtype for p in back.parameters()} == {dtype}
    for a, b in zip(model.parameters(), back.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    ids = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(model(ids)[0].data, back(ids)[0].data)
