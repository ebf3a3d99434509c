"""nn layers, init, regularization, and saving/loading models."""

from __future__ import annotations

import os

import numpy as np
import pytest
from gradchecked import gradchecks

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn
from chainrule.ops.linalg import LinearOp

rng = np.random.default_rng(0)


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra: "
                                               "pip install -e .[test]")


# -- Module ------------------------------------------------------------------------------------

def test_module_registry_names_state_and_repr():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Sequential(nn.Linear(3, 2)))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.0.weight", "2.0.bias"]
    assert model[0].weight.shape == (3, 4)  # W stored (out, in), as in z = W a + b
    assert list(model.state_dict()) == names
    text = repr(model)
    assert "Linear(in_features=4, out_features=3, bias=True)  # 15 parameters" in text
    assert text.endswith("# 23 parameters")
    with pytest.raises(KeyError, match=r"missing \['0.bias'\]"):
        model.load_state_dict({k: v for k, v in model.state_dict().items() if k != "0.bias"})
    bad = dict(model.state_dict())
    bad["0.weight"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"0.weight has shape \(4, 3\) in the state"):
        model.load_state_dict(bad)


def test_shared_parameter_listed_once_and_train_eval():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.Dropout(0.5), layer)
    assert len(list(model.parameters())) == 2
    model.eval()
    assert not model[1].training
    x = cr.ones(3, 2)
    assert np.array_equal(model[1](x).data, x.data)


def test_custom_module_needs_super_init():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(RuntimeError, match=r"call super\(\).__init__\(\)"):
        Bad()


@gradchecks(LinearOp)
def test_linear_gradcheck_and_torch_parity():
    layer = nn.Linear(3, 2, dtype=np.float64)
    x = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b: F.linear(x, w, b), [x, layer.weight, layer.bias])
    x3 = cr.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    assert cr.gradcheck(lambda x, w: F.linear(x, w), [x3, layer.weight])
    torch = torch_or_skip()
    theirs = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(layer.weight.data))
        theirs.bias.copy_(torch.from_numpy(layer.bias.data))
    np.testing.assert_allclose(layer(x).data, theirs(torch.from_numpy(x.data)).detach().numpy())
    with pytest.raises(ValueError, match="expected input with 3 features"):
        layer(cr.zeros(2, 4, dtype=np.float64))


def test_linear_default_init_bounds():
    layer = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    assert np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.9 * bound
    assert layer.weight.dtype == np.float32


@pytest.mark.parametrize("ours, theirs", [
    (nn.Sigmoid(), "Sigmoid"), (nn.Tanh(), "Tanh"), (nn.ReLU(), "ReLU"),
    (nn.LeakyReLU(0.2), "LeakyReLU"), (nn.ELU(0.7), "ELU"), (nn.Softplus(2.0), "Softplus"),
    (nn.Softmax(axis=1), "Softmax"), (nn.LogSoftmax(axis=1), "LogSoftmax"),
])
def test_activation_modules_match_torch(ours, theirs):
    torch = torch_or_skip()
    args = {"LeakyReLU": (0.2,), "ELU": (0.7,), "Softplus": (2.0,), "Softmax": (1,),
            "LogSoftmax": (1,)}.get(theirs, ())
    x = rng.standard_normal((3, 4))
    x = np.where(np.abs(x) < 0.1, 0.3, x)
    ct = cr.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    g = rng.standard_normal((3, 4))
    ours(ct).backward(g)
    getattr(torch.nn, theirs)(*args)(tt).backward(torch.tensor(g))
    np.testing.assert_allclose(ct.grad.data, tt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
                                  "NLLLoss"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_modules_match_torch(name, reduction):
    torch = torch_or_skip()
    x = rng.standard_normal((4, 3))
    if name == "BCELoss":
        x = 1 / (1 + np.exp(-x))
    if name == "NLLLoss":
        x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    target = rng.integers(0, 3, 4) if name in ("CrossEntropyLoss", "NLLLoss") else \
        rng.random((4, 3))
    ct = cr.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    ours = getattr(nn, name)(reduction=reduction)(ct, target)
    theirs = getattr(torch.nn, name)(reduction=reduction)(tt, torch.tensor(target))
    ours.backward()
    theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    np.testing.assert_allclose(ct.grad.data, tt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_dropout_statistics_and_gradient():
    cr.manual_seed(0)
    drop = nn.Dropout(0.3)
    x = cr.ones(200, 200, requires_grad=True)
    y = drop(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    assert abs(y.data.mean() - 1.0) < 0.02  # expectation preserved
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, y.data, rtol=1e-6)  # gradient = mask / (1 - p)


def test_rbf_formula_gradcheck_and_training():
    layer = nn.RBF(2, 3, dtype=np.float64)
    x = cr.tensor(rng.standard_normal((5, 2)), requires_grad=True)
    c, sigma = layer.centres.data, layer.sigma
    want = np.exp(-((x.data[:, None, :] - c[None]) ** 2).sum(-1) / (2 * sigma ** 2))
    np.testing.assert_allclose(layer(x).data, want, rtol=1e-10)
    assert cr.gradcheck(lambda x, c, s: layer(x), [x, layer.centres, layer.log_sigma])
    # an RBF network learns y = sin(3x) by plain gradient descent
    cr.manual_seed(1)
    xs = np.linspace(-1, 1, 64)[:, None]
    ys = np.sin(3 * xs)
    rbf, out = nn.RBF(1, 10, init_sigma=0.3, dtype=np.float64), nn.Linear(10, 1,
                                                                         dtype=np.float64)
    rbf.init_centres(np.linspace(-1, 1, 10)[:, None])
    params = list(rbf.parameters()) + list(out.parameters())
    losses = []
    for _ in range(500):
        loss = F.mse_loss(out(rbf(cr.tensor(xs))), cr.tensor(ys))
        for p in params:
            p.grad = None
        loss.backward()
        with cr.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.02 * losses[0]


def test_init_statistics():
    w = nn.Parameter(np.empty((400, 600), np.float32))
    nn.init.xavier_uniform_(w)
    assert abs(w.data.std() - np.sqrt(2 / 1000)) < 0.002
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.data.std() - np.sqrt(2 / 600)) < 0.002
    assert w.dtype == np.float32
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.empty(3, np.float32)))


def test_every_initializer_fills_in_place_with_its_distribution():
    """Mean, spread and bounds of each init over a 400x600 weight (fan_in 600, fan_out
    400), dtype kept; the generator argument makes a draw reproducible."""
    w = nn.Parameter(np.empty((400, 600), np.float32))
    same = w.data

    def stats():
        assert w.data is same and w.dtype == np.float32  # filled in place, float32 kept
        return float(w.data.mean()), float(w.data.std()), float(np.abs(w.data).max())

    nn.init.uniform_(w, -0.5, 1.5)
    mean, std, _ = stats()
    assert abs(mean - 0.5) < 0.01 and abs(std - 2 / np.sqrt(12)) < 0.01
    assert w.data.min() >= -0.5 and w.data.max() <= 1.5
    nn.init.normal_(w, 2.0, 0.5)
    mean, std, _ = stats()
    assert abs(mean - 2.0) < 0.01 and abs(std - 0.5) < 0.01
    nn.init.xavier_normal_(w, gain=2.0)
    mean, std, _ = stats()
    assert abs(mean) < 0.002 and abs(std - 2.0 * np.sqrt(2 / 1000)) < 0.002
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    bound = np.sqrt(3.0) * np.sqrt(2.0) / np.sqrt(400)
    mean, std, top = stats()
    assert top <= bound and abs(std - bound / np.sqrt(3)) < 0.002
    nn.init.zeros_(w)
    assert not w.data.any()
    nn.init.ones_(w)
    assert (w.data == 1).all()
    draws = [nn.init.normal_(w, generator=np.random.default_rng(7)).data.copy() for _ in "ab"]
    np.testing.assert_array_equal(*draws)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        nn.init.kaiming_normal_(w, mode="fan")


def test_flatten_identity_children_and_zero_grad():
    x = cr.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    y = nn.Flatten()(x)
    assert y.shape == (2, 12)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3, 4)))
    assert nn.Identity()(x) is x
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.ReLU())
    assert [type(c).__name__ for c in model.children()] == ["Flatten", "Linear", "ReLU"]
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_regularization_penalties_exclude_biases():
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64), nn.Linear(2, 1, dtype=np.float64))
    w1, b1, w2, _ = model.parameters()
    lam, n = 0.5, 10
    l2 = nn.l2_penalty(model, lam, n)
    want = lam / (2 * n) * ((w1.data ** 2).sum() + (w2.data ** 2).sum())
    assert l2.item() == pytest.approx(want)
    l2.backward()
    np.testing.assert_allclose(w1.grad.data, lam / n * w1.data)
    assert b1.grad is None
    l1 = nn.l1_penalty(model, lam, n, include_bias=True)
    assert l1.item() == pytest.approx(lam / n * sum(np.abs(p.data).sum()
                                                    for p in model.parameters()))
    groups = nn.weight_decay_groups(model, 1e-3)
    assert [len(g["params"]) for g in groups] == [2, 2]


def test_mlp_builder():
    model = nn.mlp([4, 8, 8, 2], "tanh", dropout=0.1, init_scheme="xavier")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.mlp([4, 2], "swish")


# -- save / load ---------------------------------------------------------------------------------

def test_save_load_round_trip_is_bit_exact(tmp_path):
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Dropout(0.1), nn.RBF(5, 3),
                          nn.Linear(3, 2, dtype=np.float64))
    path = tmp_path / "m.safetensors"
    cr.save(model, path, {"lr": 0.1, "note": "hello"})
    again = cr.load(path)
    assert repr(again) == repr(model)
    for (n1, p1), (n2, p2) in zip(model.named_parameters(), again.named_parameters(),
                                  strict=True):
        assert n1 == n2 and p1.dtype == p2.dtype and np.array_equal(p1.data, p2.data)
    assert again.metadata == {"lr": 0.1, "note": "hello"} == cr.load_metadata(path)
    assert b"pickle" not in path.read_bytes() and b"\x80\x04" not in path.read_bytes()[:16]


def test_transposed_parameter_round_trip(tmp_path):
    layer = nn.Linear(3, 4)
    layer.weight.data = np.asfortranarray(layer.weight.data)  # not C-contiguous
    path = tmp_path / "t.safetensors"
    cr.save(layer, path)
    assert np.array_equal(cr.load(path).weight.data, layer.weight.data)
    st = pytest.importorskip("safetensors.numpy", reason="interoperability needs safetensors")
    assert np.array_equal(st.load_file(str(path))["weight"], layer.weight.data)


def test_reads_files_written_by_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="interoperability needs safetensors")
    layer = nn.Linear(3, 2)
    path = tmp_path / "plain.safetensors"
    st.save_file({"weight": np.ones((2, 3), np.float32), "bias": np.zeros(2, np.float32)},
                 str(path))
    cr.load(path, model=layer)
    assert layer.weight.data.tolist() == [[1, 1, 1], [1, 1, 1]]
    with pytest.raises(cr.ModelFileError, match="not a chainrule model; to load its weights"):
        cr.load(path)


def test_corrupt_files_are_refused(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    good = tmp_path / "good.safetensors"
    cr.save(model, good)
    blob = bytearray(good.read_bytes())
    flipped = tmp_path / "flipped.safetensors"
    blob[-3] ^= 0x40
    flipped.write_bytes(bytes(blob))
    with pytest.raises(cr.ModelFileError, match="corrupt: the bytes of tensor '0.bias'"):
        cr.load(flipped)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-5])
    with pytest.raises(cr.ModelFileError, match="truncated"):
        cr.load(cut)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(os.urandom(64))
    with pytest.raises(cr.ModelFileError, match="not a chainrule model|not a model file"):
        cr.load(junk)
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(b"abc")
    with pytest.raises(cr.ModelFileError, match="only 3 bytes"):
        cr.load(tiny)


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    model = nn.Sequential(nn.Linear(3, 2))
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    before = path.read_bytes()
    import chainrule.safetensors as ser

    def boom(*args, **kwargs):
        raise OSError("disk full")

    # the tensor bytes are written through memoryview: fail there, after the header
    monkeypatch.setattr(ser, "memoryview", boom, raising=False)
    with pytest.raises(OSError, match="disk full"):
        cr.save(model, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_linear_keeps_its_dtype_whatever_it_is_fed():
    layer = nn.Linear(3, 2)  # float32
    for x in (np.ones((4, 3)), np.ones((4, 3), np.int64), [[1, 2, 3]]):
        assert layer(x).dtype == np.float32
    x64 = cr.tensor(np.ones((4, 3)), requires_grad=True, dtype=np.float64)
    y = layer(x64)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x64.grad.dtype == np.float64 and layer.weight.grad.dtype == np.float32
    np.testing.assert_allclose(x64.grad.data, np.tile(layer.weight.data.sum(axis=0), (4, 1)),
                               rtol=1e-6)
    with pytest.raises(TypeError, match=r"Linear\(3, 2\): the input must hold real numbers"):
        layer(np.ones((1, 3), complex))
