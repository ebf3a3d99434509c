"""Every fast path equals the reference it replaces: exactly in float64, within float32
rounding in float32.

The fused recurrent layers run their per-step products on one OpenBLAS thread when the
products are small (``chainrule.ops.recurrent.ONE_THREAD_BELOW``); that must change the
time only, never a value or a gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn
from chainrule.ops import recurrent

KINDS = ("RNN", "LSTM", "GRU")


def _step(kind: str, dtype: type, seed: int = 0) -> list[np.ndarray]:
    """Outputs, final state and every gradient of one training step of a fused layer."""
    cr.manual_seed(seed)
    layer = getattr(nn, kind)(5, 7, num_layers=2, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((4, 6, 5)).astype(dtype), requires_grad=True)
    out, state = layer(x)
    h = state[0] if isinstance(state, tuple) else state
    ((out * out).sum() + h.sum()).backward()
    return [out.data, h.data, x.grad.data] + [p.grad.data for p in layer.parameters()]


@pytest.fixture
def numpy_blas():
    """The products on numpy's OpenBLAS (where the one-thread path applies), then back."""
    before = backend.blas_info()["blas"]
    backend.set_blas("numpy")
    if backend._openblas_local_threads() is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS with per-thread counts")
    yield
    backend.set_blas(before)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_thread_step_products_change_no_value(kind, dtype, monkeypatch, numpy_blas):
    calls = []
    setter = backend._openblas_local_threads()
    monkeypatch.setattr(backend, "_openblas_setter",
                        [lambda n: calls.append(n) or setter(n)])
    fast = _step(kind, dtype)  # these sizes are far below the threshold: one thread
    assert calls and calls[0] == 1  # the fast path did run
    monkeypatch.setattr(recurrent, "ONE_THREAD_BELOW", 0)  # never switch threads
    reference = _step(kind, dtype)
    for a, b in zip(fast, reference, strict=True):
        assert a.dtype == dtype
        if dtype == np.float64:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_thread_count_is_restored_after_the_loop(numpy_blas):
    from chainrule import get_num_threads

    before = get_num_threads()
    _step("LSTM", np.float32)
    assert get_num_threads() == before


@pytest.mark.parametrize("kind", KINDS)
def test_fused_step_equals_the_unrolled_graph(kind):
    """The fused node (fast path, one thread) against the eager unrolled ops (reference)."""
    cr.manual_seed(1)
    layer = getattr(nn, kind)(3, 4, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 5, 3))
    results = []
    for fused in (True, False):
        layer.fused = fused
        layer.zero_grad()
        out, _ = layer(x)
        (out * out).sum().backward()
        results.append([out.data] + [p.grad.data for p in layer.parameters()])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.skipif(backend._mkl_library() is None,
                    reason="the optional mkl wheel is not installed (pip install chainrule[mkl])")
def test_on_mkl_the_step_products_run_on_one_mkl_thread_and_change_no_value(monkeypatch):
    """With the products on MKL, the one-thread block sets MKL's count (OpenBLAS's would
    change nothing there), restores it after, and the step's values equal those of the
    loop left on the thread count set, within MKL's rounding across thread counts."""
    import ctypes

    before = backend.blas_info()["blas"]
    backend.set_blas("mkl")
    try:
        lib = ctypes.CDLL(str(backend._mkl_library()))
        outside = lib.MKL_Get_Max_Threads()
        with backend.one_thread():
            assert lib.MKL_Get_Max_Threads() == 1
        assert lib.MKL_Get_Max_Threads() == outside
        for kind in KINDS:
            fast = _step(kind, np.float64)
            monkeypatch.setattr(recurrent, "ONE_THREAD_BELOW", 0)
            reference = _step(kind, np.float64)
            monkeypatch.undo()
            for a, b in zip(fast, reference, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    finally:
        backend.set_blas(before)
