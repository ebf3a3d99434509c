"""Invariants the performance work rests on: dtypes are preserved through a whole training
step, fused nodes equal the generic graph, gradients are never aliased between tensors,
and the allocator tuning is opt-in (and can be turned off)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim


def _all_models():
    return [nn.mlp([6, 5, 4, 3], "relu", dropout=0.1), nn.mlp([6, 5, 3], "tanh"),
            nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3)),
            nn.Sequential(nn.RBF(6, 4), nn.Linear(4, 3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_training_step_keeps_every_dtype(dtype, opt_name):
    cr.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(dtype)
    y = np.arange(8) % 3
    for model in _all_models():
        model.to(dtype)
        opt = getattr(optim, opt_name)(model.parameters(), lr=0.01, weight_decay=1e-3)
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
        loss = F.cross_entropy(model(cr.tensor(x, dtype=dtype)), y) + nn.l2_penalty(model, 1.0, n=8)
        assert loss.dtype == dtype
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        for name, p in model.named_parameters():
            assert p.dtype == dtype, (type(model), name, p.dtype)
            assert p.grad.dtype == dtype, (type(model), name, p.grad.dtype)
        for state in opt.state.values():
            for key, value in state.items():
                if isinstance(value, np.ndarray) and value.ndim:
                    assert value.dtype == dtype, (opt_name, key, value.dtype)


# each optimizer with the options that give it every kind of state array
OPTIMIZERS = {
    "SGD": {"momentum": 0.9, "nesterov": True},
    "Adam": {"amsgrad": True},
    "AdamW": {},
    "RMSprop": {"momentum": 0.9, "centered": True},
    "Adagrad": {"lr_decay": 0.01},
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_training_step_keeps_every_dtype(kind, opt_name, dtype):
    """Embedding -> 2-layer recurrent net -> Linear, a masked sequence loss, clipping, an
    optimizer step and a scheduler step: every parameter, gradient and optimizer state
    array keeps the model's dtype (float64 token data and float64 initial states too)."""
    cr.manual_seed(0)
    embed = nn.Embedding(7, 3, dtype=dtype)
    layer = getattr(nn, kind)(3, 4, num_layers=2, dtype=dtype)
    head = nn.Linear(4, 7, dtype=dtype)
    modules = (embed, layer, head)
    params = [p for m in modules for p in m.parameters()]
    opt = getattr(optim, opt_name)(params, lr=1e-2, weight_decay=1e-3, **OPTIMIZERS[opt_name])
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    r = np.random.default_rng(0)
    ids = r.integers(0, 7, (2, 5))
    h0 = cr.tensor(r.standard_normal((2, 2, 4)), dtype=np.float64)  # whatever the model's
    state = (h0, h0) if kind == "LSTM" else h0
    for _step in range(2):  # the second step updates state arrays made by the first
        out, _ = layer(embed(ids), state)
        assert out.dtype == dtype
        loss = F.sequence_cross_entropy(head(out), ids, lengths=[5, 3])
        assert loss.dtype == dtype
        opt.zero_grad()
        loss.backward()
        total = optim.clip_grad_norm_(params, 0.5)
        assert np.isfinite(total)
        opt.step()
        sched.step()
    for module in modules:
        for name, p in module.named_parameters():
            assert p.dtype == dtype, (kind, name, p.dtype)
            assert p.grad is not None and p.grad.dtype == dtype, (kind, name, p.grad.dtype)
    arrays = [(key, value) for st in opt.state.values() for key, value in st.items()
              if isinstance(value, np.ndarray) and value.ndim]
    assert arrays, opt_name
    for key, value in arrays:
        assert value.dtype == dtype, (opt_name, key, value.dtype)


def test_a_gradient_shared_by_two_inputs_is_not_aliased():
    # d(a + b)/da and d(a + b)/db are the same upstream array; accumulating into one of
    # them in place must never change the other
    a = cr.ones(3, requires_grad=True)
    b = cr.ones(3, requires_grad=True)
    (a + b).sum().backward()
    (a * 2.0).sum().backward()  # accumulates into a.grad only
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])
    assert not np.shares_memory(a.grad.data, b.grad.data)


def test_fan_out_gradients_are_fresh_arrays_per_leaf():
    x = cr.randn(4, 3, requires_grad=True)
    w = cr.randn(3, 2, requires_grad=True)
    y = x @ w
    (y.sum() + (y * y).sum()).backward()
    gx, gw = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad.data[...] = 0  # writing into one leaf's gradient leaves the other alone
    np.testing.assert_array_equal(w.grad.numpy(), gw)
    assert gx.any()


def test_allocator_tuning_is_opt_in_and_can_be_turned_off():
    plain = "import chainrule; print(sorted(chainrule.allocator_settings()))"
    assert subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"  # importing changes nothing
    code = ("import chainrule, chainrule.memory as m; m.tune_allocator_unless_disabled(); "
            "print(sorted(chainrule.allocator_settings()))")
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        check=True).stdout.strip()
    env = dict(os.environ, CHAINRULE_MALLOC_TUNING="0")
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.strip()
    assert off == "[]"
    if sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION"):
        assert on == "['mmap_threshold', 'top_pad', 'trim_threshold']"


def test_tune_allocator_rejects_bad_sizes():
    with pytest.raises(ValueError, match="trim_threshold must be a non-negative int"):
        cr.tune_allocator(trim_threshold=-5)


def test_module_to_casts_parameters_and_refuses_integers():
    model = nn.mlp([3, 4, 2], "relu")
    (model(cr.randn(2, 3)).sum()).backward()
    assert model.double() is model
    assert all(p.dtype == np.float64 and p.grad is None for p in model.parameters())
    assert model(cr.randn(2, 3, dtype=np.float64)).dtype == np.float64
    assert all(p.dtype == np.float32 for p in model.float().parameters())
    with pytest.raises(TypeError, match="must stay floating point, got dtype int32"):
        model.to(np.int32)


@pytest.mark.parametrize("shape, key", [
    ((5, 3), [0, -1, 4, 0, 4, 4]),          # repeats and a negative index
    ((6,), [[1, 1], [5, -6]]),               # a 2-D key, as an embedding lookup has
    ((4, 2, 3), [3, 3, 0]),                  # trailing axes carried along
    ((4, 3), np.array([2, 2], np.uint8)),    # unsigned indices
])
def test_repeated_index_gradients_add_up_like_np_add_at(shape, key):
    rng = np.random.default_rng(0)
    key = np.asarray(key)
    x = cr.tensor(rng.standard_normal(shape), requires_grad=True, dtype=np.float64)
    y = x[key]
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    want = np.zeros(shape)
    np.add.at(want, key, gy)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-13)
    assert cr.gradcheck(lambda t: t[key], [cr.tensor(rng.standard_normal(shape),
                                                     requires_grad=True, dtype=np.float64)])


# -- BLAS threads --------------------------------------------------------------------------

@pytest.fixture
def restore_threads():
    before = cr.get_num_threads()
    yield
    cr.set_num_threads(before)


def test_set_num_threads_changes_numpys_blas_pool(restore_threads):
    from threadpoolctl import threadpool_info

    cr.set_num_threads(1)
    assert cr.get_num_threads() == 1
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
    a = np.ones((64, 64), np.float32)
    np.testing.assert_array_equal(a @ a, np.full((64, 64), 64, np.float32))


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True, None])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad, restore_threads):
    with pytest.raises(ValueError, match=r"positive int, got "):
        cr.set_num_threads(bad)


def test_train_threads_option_is_applied_and_checked(tmp_path, restore_threads):
    from chainrule.train.run import ConfigError, TrainConfig, run_training

    cr.set_num_threads(2)
    config = TrainConfig(epochs=1, hidden=[8], out=str(tmp_path), threads=1)
    run_training(config, progress=False)
    assert cr.get_num_threads() == 1
    for bad in (0, True, 1.5):
        with pytest.raises(ConfigError, match="--threads must be a positive integer"):
            TrainConfig.from_mapping({"threads": bad})


def test_cli_threads_must_be_a_positive_integer():
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "--threads", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--threads: expected a positive integer, got 0" in result.stderr


# -- fast backward paths equal the recorded (create_graph) paths ------------------------------

FAST_PATH_OPS = {
    "linear": lambda x, w, b: F.linear(x, w, b),
    "linear 3-D input": lambda x, w, b: F.linear(x.reshape(2, 3, 4), w, b),
    "matmul": lambda x, w, b: x @ w.T,
    "relu": lambda x, w, b: F.relu(x @ w.T + b),
    "sigmoid": lambda x, w, b: F.sigmoid(x @ w.T + b),
    "tanh": lambda x, w, b: F.tanh(x @ w.T + b),
    "cross_entropy": lambda x, w, b: F.cross_entropy(x @ w.T + b, np.array([0, 4, 2, 1, 3, 0])),
}


@pytest.mark.parametrize("name", sorted(FAST_PATH_OPS))
def test_fast_backward_equals_the_recorded_backward(name):
    """The numpy-only backward taken when no graph is recorded and the backward written
    with differentiable ops (create_graph=True) give the same gradients, in float64 and
    float32 (both are also gradchecked in test_core/test_layers)."""
    fn = FAST_PATH_OPS[name]
    for dtype in (cr.float64, cr.float32):
        cr.manual_seed(0)
        inputs = [cr.randn(6, 4, dtype=dtype, requires_grad=True),
                  cr.randn(5, 4, dtype=dtype, requires_grad=True),
                  cr.randn(5, dtype=dtype, requires_grad=True)]
        out = fn(*inputs)
        seed = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
        fast = cr.grad(out, inputs, cr.tensor(seed), allow_unused=True)
        out = fn(*inputs)
        recorded = cr.grad(out, inputs, cr.tensor(seed), create_graph=True, allow_unused=True)
        # really went through the recorded ops (a bias gradient, sum of the seed, need not)
        assert any(r is not None and r.requires_grad for r in recorded)
        for f, r in zip(fast, recorded, strict=True):
            if f is None:
                assert r is None
                continue
            assert f.dtype == dtype and r.dtype == dtype
            np.testing.assert_allclose(f.data, r.data, rtol=1e-5 if dtype == cr.float32
                                       else 1e-12, atol=1e-6 if dtype == cr.float32 else 1e-12)
