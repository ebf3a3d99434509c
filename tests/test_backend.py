"""The matrix-product backend: numpy always, MKL where the optional mkl wheel is installed.

Every test that needs MKL skips, saying so, where the wheel is missing; the numpy path and
the choice logic are tested everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from chainrule import backend

HAS_MKL = backend._mkl_library() is not None
needs_mkl = pytest.mark.skipif(not HAS_MKL, reason="the optional mkl wheel is not installed "
                                                   "(pip install \"chainrule[mkl]\")")


@pytest.fixture
def restore_backend(tmp_path, monkeypatch):
    """Each test starts undecided, with its own cache directory, and leaves numpy in use."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    saved = (backend._state.name, backend._state.reason, backend.matmul)
    yield tmp_path
    backend._state.name, backend._state.reason, backend.matmul = saved


def test_operand_layout_describes_rows_transposes_and_refuses_odd_strides():
    a = np.zeros((4, 6), np.float32)
    assert backend._operand_layout(a) == (backend._NO_TRANS, 6)
    assert backend._operand_layout(a.T) == (backend._TRANS, 6)
    assert backend._operand_layout(a[:, :3]) == (backend._NO_TRANS, 6)  # rows of a wider array
    assert backend._operand_layout(a[:, ::2]) == (None, 0)  # every other column
    assert backend._operand_layout(a[::2].T) == (backend._TRANS, 12)


def test_set_blas_refuses_an_unknown_name(restore_backend):
    with pytest.raises(ValueError, match=r"set_blas: the BLAS must be one of numpy, mkl, "
                                         r"auto; got 'openblas'"):
        backend.set_blas("openblas")


def test_numpy_path_is_numpy_exactly(restore_backend):
    assert backend.set_blas("numpy") == "numpy"
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((70, 90), np.float32), rng.standard_normal((90, 80), np.float32)
    np.testing.assert_array_equal(backend.matmul(a, b), a @ b)
    assert backend.blas_info()["reason"] == "set_blas=numpy"


def test_mkl_unavailable_is_a_clear_error_and_auto_falls_back(restore_backend, monkeypatch):
    monkeypatch.setattr(backend, "_mkl_library", lambda: None)
    monkeypatch.setattr(backend._state, "mkl", None)
    with pytest.raises(backend.BlasUnavailable, match=r'pip install "chainrule\[mkl\]"'):
        backend.set_blas("mkl")
    assert backend.set_blas("auto") == "numpy"
    assert backend.blas_info()["reason"] == "auto: the mkl package is not installed"


def test_environment_variable_decides_on_the_first_product(tmp_path):
    code = ("import numpy as np; from chainrule import backend; "
            "backend.matmul(np.ones((2, 2)), np.ones((2, 2))); print(backend.blas_info()['blas'])")
    env = {**os.environ, "CHAINRULE_BLAS": "numpy", "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "numpy"
    env["CHAINRULE_BLAS"] = "fastest"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "CHAINRULE_BLAS: the BLAS must be one of numpy, mkl, auto; got 'fastest'" in out.stderr


@needs_mkl
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_mkl_equals_numpy_within_rounding(restore_backend, dtype, tol):
    backend.set_blas("mkl")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((96, 130)).astype(dtype)
    b = rng.standard_normal((130, 70)).astype(dtype)
    wide = rng.standard_normal((96, 200)).astype(dtype)
    cases = [(a, b), (b.T, a.T), (a, np.ascontiguousarray(b.T).T),  # both transposes
             (wide[:, :130], b),  # rows of a wider array
             (a[:, ::2], b[::2]),  # odd strides: numpy serves
             (a[:3, :3], b[:3, :3]),  # tiny: numpy serves
             ]
    for x, y in cases:
        got = backend.matmul(x, y)
        assert got.dtype == dtype and got.flags.c_contiguous
        want = x.astype(np.float64) @ y.astype(np.float64)
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= tol * scale * x.shape[1], (x.shape, x.strides)


@needs_mkl
def test_mkl_leaves_other_dtypes_and_odd_stacks_to_numpy(restore_backend):
    backend.set_blas("mkl")
    ints = np.arange(100 * 100).reshape(100, 100) % 7
    np.testing.assert_array_equal(backend.matmul(ints, ints), ints @ ints)
    rng = np.random.default_rng(2)
    # one matrix broadcast over the samples but not over the groups: no single stride
    a = rng.standard_normal((3, 1, 40, 50)).astype(np.float32)
    b = rng.standard_normal((5, 50, 30)).astype(np.float32)
    np.testing.assert_array_equal(backend.matmul(a, b), a @ b)
    every_other = rng.standard_normal((3, 80, 160)).astype(np.float32)[:, :, ::2]
    np.testing.assert_array_equal(backend.matmul(every_other, every_other),
                                  every_other @ every_other)
    with pytest.raises(ValueError):
        backend.matmul(np.ones((70, 80), np.float32), np.ones((70, 80), np.float32))
    with pytest.raises(ValueError):
        backend.matmul(np.ones((2, 70, 80), np.float32), np.ones((3, 80, 80), np.float32))


def test_batch_stride_finds_one_stride_or_none():
    x = np.zeros((4, 3, 5, 6), np.float32)
    assert backend._batch_stride(x, (4, 3)) == 30
    assert backend._batch_stride(x.transpose(1, 0, 2, 3), (3, 4)) is None  # heads outermost
    assert backend._batch_stride(x[0, 0], (4, 3)) == 0  # one matrix for the whole stack
    assert backend._batch_stride(x[0], (4, 3)) is None  # repeats a stack of 3: no one stride
    assert backend._batch_stride(x[:, :1], (4, 3)) is None  # broadcast over the inner axis
    assert backend._batch_stride(x[:, :1], (4, 1)) == 90  # a size-1 axis takes any stride
    assert backend._batch_stride(np.zeros((5, 6)), (7,)) == 0
    assert backend._batch_stride(x[::-1], (4, 3)) is None  # reversed: no negative strides


@needs_mkl
def test_mkl_runs_stacks_as_one_batched_call_equal_to_numpy(restore_backend, monkeypatch):
    backend.set_blas("mkl")
    monkeypatch.setattr(backend, "SMALL_STACK", 0)  # small stacks too, for a quick test
    mkl = backend._state.mkl
    calls = []
    for dtype, fn in list(mkl.gemm_batch.items()):
        monkeypatch.setitem(mkl.gemm_batch, dtype,
                            lambda *args, fn=fn: (calls.append(args[-1]), fn(*args))[1])
    rng = np.random.default_rng(4)
    for dtype, tol in ((np.float32, 2e-6), (np.float64, 1e-13)):
        q, k = (rng.standard_normal((4, 3, 20, 16)).astype(dtype) for _ in range(2))
        kernel = rng.standard_normal((1, 16, 150)).astype(dtype)
        cols = rng.standard_normal((8, 1, 150, 100)).astype(dtype)
        w = rng.standard_normal((16, 40)).astype(dtype)
        cases = [(q, np.swapaxes(k, -1, -2), 12),  # attention's Q K^T over batch and heads
                 (np.swapaxes(q, -1, -2), k, 12),  # its P^T dO
                 (kernel, cols, 8),  # a convolution's kernel, broadcast over the samples
                 (cols[:, 0].transpose(0, 2, 1)[:, :, :16], w, 8)]  # a stack @ one matrix
        for x, y, count in cases:
            calls.clear()
            got = backend.matmul(x, y)
            assert calls == [count], (x.shape, y.shape)
            want = x.astype(np.float64) @ y.astype(np.float64)
            assert got.dtype == dtype and got.shape == want.shape and got.flags.c_contiguous
            assert np.abs(got - want).max() <= tol * np.abs(want).max() * x.shape[-1]


@needs_mkl
def test_small_stacks_stay_on_numpy_and_large_ones_go_to_mkl(restore_backend, monkeypatch):
    backend.set_blas("mkl")
    mkl = backend._state.mkl
    calls = []
    fn = mkl.gemm_batch[np.dtype(np.float32)]
    monkeypatch.setitem(mkl.gemm_batch, np.dtype(np.float32),
                        lambda *args: (calls.append(args[-1]), fn(*args))[1])
    rng = np.random.default_rng(5)
    heads = rng.standard_normal((128, 16, 16), dtype=np.float32)  # makemore's attention
    got = backend.matmul(heads, heads)
    assert calls == [] and 128 * 16 ** 3 < backend.SMALL_STACK
    np.testing.assert_array_equal(got, np.matmul(heads, heads))  # numpy's own result
    big = rng.standard_normal((128, 64, 64), dtype=np.float32)
    got = backend.matmul(big, big)
    assert calls == [128] and 128 * 64 ** 3 >= backend.SMALL_STACK
    np.testing.assert_allclose(got, np.matmul(big, big), rtol=1e-4, atol=1e-4)

@needs_mkl
def test_auto_measures_once_and_caches_the_verdict(restore_backend, monkeypatch):
    calls = []

    def fake_time(matmul, shapes, seconds):
        calls.append(matmul)
        return 2.0 if matmul is np.matmul else 1.0  # MKL twice as fast

    monkeypatch.setattr(backend, "time_products", fake_time)
    assert backend.set_blas("auto") == "mkl"
    assert "measured now" in backend.blas_info()["reason"]
    cache = restore_backend / "chainrule" / "blas.json"
    stored = json.loads(cache.read_text())
    (verdict,) = stored.values()
    assert verdict == {"blas": "mkl", "numpy_s": 2.0, "mkl_s": 1.0, "batched": "mkl",
                       "batched_numpy_s": 2.0, "batched_mkl_s": 1.0}
    assert backend.set_blas("auto") == "mkl"
    assert "cached in" in backend.blas_info()["reason"]
    # single products and stacks, once each, MKL's before numpy's (time_products says why)
    assert [m is np.matmul for m in calls] == [False, False, True, True]
    cache.write_text("{not json")  # a damaged cache is measured again, never trusted
    monkeypatch.setattr(backend, "time_products", lambda m, shapes, seconds: 1.0)  # no gain
    assert backend.set_blas("auto") == "numpy"


@needs_mkl
def test_auto_sends_single_products_and_stacks_each_to_their_faster_library(
        restore_backend, monkeypatch):
    def stacks_faster_on_mkl(matmul, shapes, seconds):
        numpy_stack = matmul is np.matmul and shapes == backend.BATCHED_CALIBRATION_SHAPES
        return 2.0 if numpy_stack else 1.0

    monkeypatch.setattr(backend, "time_products", stacks_faster_on_mkl)
    assert backend.set_blas("auto") == "mkl"
    mkl = backend._state.mkl
    assert (mkl.single, mkl.batched) == (False, True)
    assert "matrices on numpy, stacks on mkl" in backend.blas_info()["reason"]
    a = np.random.default_rng(5).standard_normal((100, 100)).astype(np.float32)
    np.testing.assert_array_equal(backend.matmul(a, a), a @ a)  # numpy's, bit for bit
    # an old cache entry without the stacks' verdict is measured again
    cache = restore_backend / "chainrule" / "blas.json"
    key = next(iter(json.loads(cache.read_text())))
    cache.write_text(json.dumps({key: {"blas": "mkl", "numpy_s": 2.0, "mkl_s": 1.0}}))
    monkeypatch.setattr(backend, "time_products",
                        lambda m, shapes, seconds: 2.0 if m is np.matmul else 1.0)
    backend.set_blas("auto")
    assert (mkl.single, mkl.batched) == (True, True)
    assert "measured now" in backend.blas_info()["reason"]


def _in_fresh_process(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@needs_mkl
def test_mkl_takes_the_thread_count_asked_for_before_it_loaded():
    """set_num_threads(1) before the first product, which loads MKL: MKL runs on one
    thread too (it kept its default of every core before), and a later call resizes it."""
    code = ("import ctypes, chainrule as cr\n"
            "from chainrule import backend\n"
            "cr.set_num_threads(1)\n"
            "backend.set_blas('mkl')\n"
            "lib = ctypes.CDLL(str(backend._mkl_library()))\n"
            "print(lib.MKL_Get_Max_Threads())\n"
            "cr.set_num_threads(2)\n"
            "print(lib.MKL_Get_Max_Threads())")
    assert _in_fresh_process(code, MKL_NUM_THREADS="2", OMP_NUM_THREADS="2").split() == \
        ["1", "2"]


@needs_mkl
def test_mkl_block_time_is_short_unless_the_user_chose_one():
    code = ("import ctypes\n"
            "from chainrule import backend\n"
            "backend.set_blas('mkl')\n"
            "print(ctypes.CDLL('libiomp5.so').kmp_get_blocktime())")
    assert _in_fresh_process(code) == str(backend.BLOCK_TIME_MS)
    assert _in_fresh_process(code, KMP_BLOCKTIME="37") == "37"


@needs_mkl
def test_time_products_times_both_libraries():
    for matmul in (backend._load_mkl().matmul, np.matmul):
        seconds = backend.time_products(matmul, ((64, 64, 64),), seconds=0.005)
        # the best of at least CALIBRATION_ROUNDS runs: a loaded machine slows it, not 100x
        assert 0 < seconds < 1.0


def test_time_products_gives_each_library_its_own_time():
    """A stand-in "MKL" that takes 20 ms a product: its time is at least that, and the
    64x64 product on numpy (microseconds) is the best of its rounds, far below; two
    shapes add up."""
    def slow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        time.sleep(0.02)
        return np.matmul(a, b)

    slow_s = backend.time_products(slow, ((64, 64, 64), (2, 8, 8, 8)), seconds=0.005)
    numpy_s = backend.time_products(np.matmul, ((64, 64, 64),), seconds=0.005)
    assert slow_s >= 0.04 and 0.02 > numpy_s > 0


# -- every op that multiplies matrices, on MKL: equal to numpy's, gradients exact ---------


def _training_step(layer: str, blas: str) -> list[np.ndarray]:
    """Gradients of one training step of a small model of each kind on ``blas``."""
    import chainrule as cr
    from chainrule import nn

    backend.set_blas(blas)
    cr.manual_seed(0)
    if layer == "mlp":
        model = nn.mlp([70, 90, 10], "relu")
        x = cr.randn(40, 70)
    elif layer == "cnn":
        model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 6, 3))
        x = cr.randn(4, 3, 12, 12)
    elif layer == "attention":
        model = nn.MultiheadAttention(32, 4, batch_first=True)
        x = cr.randn(6, 10, 32)
        mask = np.triu(np.ones((10, 10), bool), 1)
        return _grads(model, model(x, x, x, attn_mask=mask, need_weights=False)[0])
    else:
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[layer]
        model = kind(70, 80, batch_first=True)
        x = cr.randn(8, 5, 70)
    out = model(x)
    return _grads(model, out[0] if isinstance(out, tuple) else out)


def _grads(model, out) -> list[np.ndarray]:
    (out * out).sum().backward()
    return [p.grad.data.copy() for p in model.parameters()]


@needs_mkl
@pytest.mark.parametrize("layer", ["mlp", "rnn", "lstm", "gru", "cnn", "attention"])
def test_every_model_kind_gives_numpys_gradients_on_mkl(restore_backend, monkeypatch, layer):
    monkeypatch.setattr(backend, "SMALL_PRODUCT", 0)  # every product on MKL, however small
    monkeypatch.setattr(backend, "SMALL_STACK", 0)
    on_numpy = _training_step(layer, "numpy")
    on_mkl = _training_step(layer, "mkl")
    for a, b in zip(on_numpy, on_mkl, strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * np.abs(a).max())


@needs_mkl
def test_gradcheck_passes_on_mkl(restore_backend, monkeypatch):
    import chainrule as cr
    import chainrule.functional as F

    backend.set_blas("mkl")
    monkeypatch.setattr(backend, "SMALL_PRODUCT", 0)  # small shapes, all of them on MKL
    monkeypatch.setattr(backend, "SMALL_STACK", 0)
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.standard_normal((7, 8)), requires_grad=True, dtype=cr.float64)
    w = cr.tensor(rng.standard_normal((9, 8)), requires_grad=True, dtype=cr.float64)
    b = cr.tensor(rng.standard_normal(9), requires_grad=True, dtype=cr.float64)
    assert cr.gradcheck(lambda x, w, b: F.linear(x, w, b), [x, w, b])
    assert cr.gradcheck(lambda x, w: cr.matmul(x, w.T), [x, w])


# -- sums as products with ones ------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(1,), (7,), (3, 5), (2048, 16), (40, 6, 64), (60000, 10), (9000,)])
def test_sums_by_product_are_as_accurate_as_numpys_sums(dtype, shape):
    """Against the sum in extended precision: the error is at most twice numpy's own, plus
    two units of the last place of the sum, along the last axis and over the leading ones."""
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) + 1.0).astype(dtype)
    exact = x.astype(np.longdouble)

    def assert_as_accurate(ours, numpys, axes):
        want = exact.sum(axis=axes).reshape(numpys.shape)
        ulp = 2 * np.finfo(dtype).eps * float(np.abs(want).max())
        assert ours.shape == numpys.shape and ours.dtype == numpys.dtype == dtype
        assert np.abs(ours - want).max() <= 2 * np.abs(numpys - want).max() + ulp

    assert_as_accurate(backend.sum_last(x), x.sum(axis=-1, keepdims=True), -1)
    for keep in range(1, x.ndim):
        axes = tuple(range(x.ndim - keep))
        assert_as_accurate(backend.sum_leading(x, keep), x.sum(axis=axes), axes)


def test_sums_by_product_fall_back_to_numpy_where_blas_cannot_sum():
    x = np.arange(24.0).reshape(4, 6)
    cases = [x[:, ::2], x.T, x.astype(np.int64), x.astype(np.float16), np.zeros((0, 3)),
             np.zeros((3, 0)), np.array([[np.inf, 1.0], [np.nan, 2.0], [-np.inf, np.inf]])]
    for a in cases:
        np.testing.assert_array_equal(backend.sum_last(a), a.sum(axis=-1, keepdims=True))
        np.testing.assert_array_equal(backend.sum_leading(a), a.sum(axis=0))
        assert backend.sum_last(a).dtype == a.sum(axis=-1).dtype
    np.testing.assert_array_equal(backend.sum_leading(np.arange(3.0)), np.arange(3.0))


def test_small_sums_are_numpys_own_and_large_ones_keep_infinities_and_nans():
    """At or below SMALL_SUM elements the call would cost more than it saves, so the result
    is numpy's bit for bit; above it, a row holding inf and -inf sums to nan as numpy's does."""
    small = np.random.default_rng(0).standard_normal((32, 256)).astype(np.float32)
    assert small.size <= backend.SMALL_SUM
    np.testing.assert_array_equal(backend.sum_leading(small), small.sum(axis=0))
    np.testing.assert_array_equal(backend.sum_last(small), small.sum(axis=-1, keepdims=True))
    big = np.ones((1000, 16), np.float32)
    big[0, 0], big[1, :2], big[2, 3] = np.inf, (np.inf, -np.inf), np.nan
    assert big.size > backend.SMALL_SUM
    np.testing.assert_array_equal(backend.sum_last(big), big.sum(axis=-1, keepdims=True))
    np.testing.assert_array_equal(np.isnan(backend.sum_leading(big)),
                                  np.isnan(big.sum(axis=0)))
    np.testing.assert_array_equal(np.isinf(backend.sum_leading(big)),
                                  np.isinf(big.sum(axis=0)))


def test_the_cached_ones_cannot_be_written_by_a_caller():
    backend.sum_last(np.ones((2000, 5), np.float32))
    ones = backend._ones(5, np.dtype(np.float32))
    with pytest.raises(ValueError):
        ones[0] = 2.0
