"""PyTorch habits that must just work: lazy subpackages, dim=/keepdim=, the Tensor and
Module conversions, the containers with PyTorch's state_dict names, buffers, inference_mode,
saving a state dict. PyTorch is the oracle wherever it has the same thing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")


def test_import_chainrule_does_not_import_the_subpackages():
    code = ("import sys, chainrule as cr\n"
            "eager = [m for m in cr._LAZY_SUBPACKAGES if 'chainrule.' + m in sys.modules]\n"
            "assert not eager, eager\n"
            "assert cr.nn.Linear and cr.optim.SGD and cr.data and cr.train and cr.viz\n"
            "assert cr.functional.relu and cr.distributed\n"
            "assert 'nn' in dir(cr)\n"
            "try:\n    cr.no_such_thing\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "no attribute 'no_such_thing'" in out.stdout


# -- dim= and keepdim= -------------------------------------------------------------------

X = np.random.default_rng(0).standard_normal((2, 3, 4))

# name: (chainrule call, torch call), each given the tensor
WITH_DIM = {
    "sum": (lambda x: x.sum(dim=1, keepdim=True), lambda t: t.sum(dim=1, keepdim=True)),
    "sum_tuple": (lambda x: cr.sum(x, dim=(0, 2)), lambda t: torch.sum(t, dim=(0, 2))),
    "mean": (lambda x: cr.mean(x, dim=-1, keepdim=True), lambda t: t.mean(dim=-1, keepdim=True)),
    "max": (lambda x: x.max(dim=1), lambda t: t.amax(dim=1)),
    "min": (lambda x: cr.min(x, dim=0, keepdim=True), lambda t: t.amin(dim=0, keepdim=True)),
    "var": (lambda x: x.var(dim=2, correction=1), lambda t: t.var(dim=2)),
    "std": (lambda x: cr.std(x, dim=0, keepdim=True, correction=0),
            lambda t: t.std(dim=0, keepdim=True, correction=0)),
    "argmax": (lambda x: x.argmax(dim=1), lambda t: t.argmax(dim=1)),
    "argmin": (lambda x: cr.argmin(x, dim=2, keepdim=True), lambda t: t.argmin(2, keepdim=True)),
    "softmax": (lambda x: F.softmax(x, dim=1), lambda t: torch.softmax(t, dim=1)),
    "softmax_method": (lambda x: x.softmax(dim=0), lambda t: t.softmax(dim=0)),
    "log_softmax": (lambda x: x.log_softmax(dim=1), lambda t: t.log_softmax(dim=1)),
    "logsumexp": (lambda x: cr.logsumexp(x, dim=1, keepdim=True),
                  lambda t: torch.logsumexp(t, dim=1, keepdim=True)),
    "cat": (lambda x: cr.cat([x, x * 2], dim=2), lambda t: torch.cat([t, t * 2], dim=2)),
    "stack": (lambda x: cr.stack([x, x], dim=1), lambda t: torch.stack([t, t], dim=1)),
    "squeeze": (lambda x: x[:, :1].squeeze(dim=1), lambda t: t[:, :1].squeeze(dim=1)),
    "unsqueeze": (lambda x: cr.unsqueeze(x, dim=-1), lambda t: torch.unsqueeze(t, dim=-1)),
    "flatten": (lambda x: x.flatten(start_dim=1), lambda t: t.flatten(start_dim=1)),
    "flatten_end": (lambda x: cr.flatten(x, end_dim=1), lambda t: t.flatten(end_dim=1)),
}


@pytest.mark.parametrize("name", list(WITH_DIM))
def test_dim_and_keepdim_match_torch(name):
    ours, theirs = WITH_DIM[name]
    x = cr.tensor(X, requires_grad=True)
    t = torch.tensor(X, requires_grad=True)
    y, ty = ours(x), theirs(t)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    if y.dtype.kind == "f":
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("call, message", [
    (lambda x: x.sum(axis=0, dim=1), "both axis=0 and dim=1"),
    (lambda x: cr.mean(x, keepdims=True, keepdim=True), "both keepdims and keepdim"),
    (lambda x: F.softmax(x, axis=0, dim=1), "softmax: got both"),
    (lambda x: cr.cat([x, x], axis=1, dim=0), "concatenate: got both"),
    (lambda x: x.var(ddof=1, correction=1), "both ddof and correction"),
    (lambda x: x.unsqueeze(), "give the position of the new axis"),
    (lambda x: cr.split(x, 2, dim=0), "x.split(size_or_sizes, dim=...)"),
])
def test_passing_both_names_is_refused(call, message):
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace(".", r"\.")):
        call(cr.tensor(X))


# -- Tensor conversions and shape names -----------------------------------------------------


def test_size_dim_numel_tolist_ravel():
    x = cr.tensor(X, requires_grad=True)
    t = torch.tensor(X)
    assert x.size() == tuple(t.size()) and x.size(1) == t.size(1) and x.size(-1) == 4
    assert x.size == 24 and x.size * 2 == 48  # numpy's meaning still holds
    assert x.dim() == t.dim() == 3 and x.numel() == t.numel()
    assert x.tolist() == t.tolist()
    with pytest.raises(IndexError, match="dimension 3 is out of range"):
        x.size(3)
    r = x.ravel()
    assert r.shape == (24,)
    np.testing.assert_array_equal(r.data, t.ravel().numpy())
    (r * cr.arange(24).double()).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(24.0).reshape(2, 3, 4))


def test_tensor_to_float_double():
    x = cr.tensor([1.5, 2.5], requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x and x.to(device="cpu") is x
    y = x.to(cr.float64)
    assert y.dtype == np.float64 and x.double().dtype == np.float64
    assert x.to("float64").dtype == np.float64
    assert x.to(torch_like := cr.zeros(1, dtype=np.float64)).dtype == torch_like.dtype
    assert x.to("cpu", dtype=np.float64).dtype == np.float64
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]
    assert y.float().dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        x.to("cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        x.to(device="cuda:0")
    with pytest.raises(TypeError, match="expected a dtype, a device"):
        x.to(object())
    with pytest.raises(TypeError, match="unexpected keyword"):
        x.to(memory_format=1)


def test_module_to_and_double():
    model = cr.nn.Sequential(cr.nn.Linear(3, 2), cr.nn.ReLU())
    assert model.to("cpu") is model and model[0].weight.dtype == np.float32
    model.to(np.float64)
    assert model[0].weight.dtype == np.float64
    model.to(device="cpu", dtype=np.float32)
    assert model[0].bias.dtype == np.float32
    assert model.double()[0].weight.dtype == np.float64
    with pytest.raises(RuntimeError, match="CPU only"):
        model.to("cuda")
    with pytest.raises(TypeError, match="must stay floating point"):
        model.to(np.int64)


# -- containers, names, buffers ---------------------------------------------------------------


class Ours(cr.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = cr.nn.ModuleList([cr.nn.Linear(3, 4), cr.nn.Linear(4, 2)])
        self.heads = cr.nn.ModuleDict({"enc": cr.nn.Linear(2, 2), "dec": cr.nn.Linear(2, 1)})
        self.scales = cr.nn.ParameterList([cr.ones(2), np.zeros(3)])
        self.table = cr.nn.ParameterDict({"a": cr.ones(1)})
        self.register_buffer("running", cr.zeros(2))
        self.register_buffer("scratch", cr.zeros(2), persistent=False)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.heads["dec"](self.heads["enc"](x)) * self.scales[0].sum()


class Theirs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList([torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)])
        self.heads = torch.nn.ModuleDict({"enc": torch.nn.Linear(2, 2),
                                          "dec": torch.nn.Linear(2, 1)})
        self.scales = torch.nn.ParameterList([torch.ones(2), torch.zeros(3)])
        self.table = torch.nn.ParameterDict({"a": torch.ones(1)})
        self.register_buffer("running", torch.zeros(2))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)


def test_containers_have_pytorchs_names():
    ours, theirs = Ours(), Theirs()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 11 and all(
        isinstance(p, cr.nn.Parameter) for p in ours.scales)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_allclose(ours(cr.tensor(x)).data,
                               Theirs.forward_like(theirs, torch.tensor(x, dtype=torch.float32))
                               .detach().numpy(), rtol=1e-5)


def _their_forward(self, x):
    for layer in self.layers:
        x = layer(x)
    return self.heads["dec"](self.heads["enc"](x)) * self.scales[0].sum()


Theirs.forward_like = _their_forward


def test_module_list_and_dict_operations():
    a, b, c = (cr.nn.Linear(1, 1) for _ in range(3))
    ml = cr.nn.ModuleList([a, b])
    ml.append(c)
    assert len(ml) == 3 and ml[-1] is c and list(ml) == [a, b, c]
    ml.insert(0, c)
    del ml[1]
    assert list(ml) == [c, b, c] and list(ml._modules) == ["0", "1", "2"]
    assert isinstance(ml[1:], cr.nn.ModuleList) and len(ml[1:]) == 2
    ml += [a]
    assert len(ml) == 4
    with pytest.raises(IndexError, match="index 9 is out of range for 4"):
        ml[9]
    with pytest.raises(TypeError, match="expected a Module"):
        ml.append(3)
    with pytest.raises(NotImplementedError, match="only holds its items"):
        ml(cr.zeros(1))
    md = cr.nn.ModuleDict([("x", a)])
    md["y"] = b
    assert list(md) == ["x", "y"] and "x" in md and md.pop("x") is a and md.keys() == ["y"]
    with pytest.raises(KeyError, match="without '.'"):
        md["a.b"] = a
    pl = cr.nn.ParameterList()
    pl.append(cr.tensor([1.0]))
    pl[0] = np.ones(2)
    assert pl[0].shape == (2,) and pl[0].requires_grad


def test_named_modules_lists_a_shared_module_once_as_torch():
    shared = cr.nn.Linear(2, 2)
    ours = cr.nn.Sequential(shared, cr.nn.ReLU(), shared)
    tshared = torch.nn.Linear(2, 2)
    theirs = torch.nn.Sequential(tshared, torch.nn.ReLU(), tshared)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert len(list(ours.named_modules(remove_duplicate=False))) == len(
        list(theirs.named_modules(remove_duplicate=False))) == 4


def test_apply_visits_children_first_then_self_as_torch():
    seen, tseen = [], []
    cr.nn.Sequential(cr.nn.Linear(1, 1), cr.nn.Tanh()).apply(lambda m: seen.append(
        type(m).__name__))
    torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Tanh()).apply(lambda m: tseen.append(
        type(m).__name__))
    assert seen == tseen


def test_buffers_are_state_and_stay_buffers_when_assigned(tmp_path):
    model = Ours()
    model.running = cr.tensor([3.0, 4.0])  # PyTorch's rule: still a buffer
    assert "running" in model.state_dict() and model.state_dict()["running"].tolist() == [3, 4]
    assert "scratch" not in model.state_dict()
    assert [n for n, _ in model.named_buffers()] == ["running", "scratch"]
    model.double()
    assert model.running.dtype == np.float64
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    fresh = cr.load(path, Ours().double())
    assert fresh.running.tolist() == [3.0, 4.0]
    with pytest.raises(TypeError, match="cannot assign a list to buffer 'running'"):
        model.running = [1, 2]
    with pytest.raises(KeyError, match="already has an attribute 'layers'"):
        model.register_buffer("layers", cr.zeros(1))
    with pytest.raises(KeyError, match="without '.'"):
        model.register_buffer("a.b", cr.zeros(1))
    with pytest.raises(TypeError, match="must be a Tensor or None"):
        model.register_buffer("c", np.zeros(1))


def test_save_a_state_dict_and_load_it_back(tmp_path):
    model = cr.nn.Sequential(cr.nn.Linear(3, 2))
    path = tmp_path / "weights.safetensors"
    cr.save(model.state_dict(), path)
    state = cr.load(path)
    assert list(state) == ["0.weight", "0.bias"]
    other = cr.nn.Sequential(cr.nn.Linear(3, 2))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other[0].weight.data, model[0].weight.data)
    cr.save({"w": cr.ones(2)}, path)  # Tensors in the dict are fine too
    assert cr.load(path)["w"].tolist() == [1.0, 1.0]


def test_inference_mode():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.inference_mode():
        assert not (x * 2).requires_grad
        with cr.inference_mode(False):
            assert (x * 2).requires_grad
    assert cr.inference_mode()(lambda: (x * 2).requires_grad)() is False
    assert (x * 2).requires_grad


def test_sum_to_is_public():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    y = F.sum_to(x, (1, 3))
    assert y.tolist() == [[2.0, 2.0, 2.0]] and cr.sum_to is F.sum_to
    assert cr.gradcheck(lambda t: F.sum_to(t, (3,)), [x])
