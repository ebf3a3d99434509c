"""Costs of single numpy calls that the optimizer's design rests on (docs/performance.md).

    python benchmarks/numpy_calls.py

- a ufunc with a Python float scalar against a 0-d array of the operand's dtype (numpy 2's
  weak-scalar promotion makes the first slower), on a small float32 array;
- the SGD update ``w -= lr * g`` of a 200,704-value float32 weight (the MLP's first layer)
  in numpy (two passes and a temporary) against OpenBLAS's ``cblas_saxpy`` (one pass),
  if numpy's wheel exports it (``scipy_cblas_saxpy64_``), and whether saxpy/daxpy give
  the same bits on arrays at any alignment (what a flat buffer's views would need).
Microseconds per call, the best of 7 rounds (the machines are shared).
"""

from __future__ import annotations

import ctypes
import timeit

import numpy as np


def best_us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def axpy_function(dtype: type):
    """numpy's bundled OpenBLAS ``cblas_?axpy`` (64-bit integers), or None."""
    from threadpoolctl import threadpool_info

    name = {np.float32: "scipy_cblas_saxpy64_", np.float64: "scipy_cblas_daxpy64_"}[dtype]
    scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    for info in threadpool_info():
        if info["internal_api"] == "openblas":
            lib = ctypes.CDLL(info["filepath"])
            f = getattr(lib, name, None)
            if f is not None:
                f.restype = None
                f.argtypes = [ctypes.c_int64, scalar, ctypes.c_void_p, ctypes.c_int64,
                              ctypes.c_void_p, ctypes.c_int64]
                return f
    return None


def main() -> None:
    rng = np.random.default_rng(0)
    small, out = np.ones(3, np.float32), np.empty(3, np.float32)
    zero_d = np.asarray(1e-3, np.float32)
    by_float = best_us(lambda: np.multiply(small, 1e-3, out=out), 50000)
    by_array = best_us(lambda: np.multiply(small, zero_d, out=out), 50000)
    print(f"multiply small float32 by a Python float: {by_float:.2f} us; "
          f"by a 0-d float32 array: {by_array:.2f} us")
    n = 256 * 784
    w, g = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    lr = np.asarray(1e-9, np.float32)
    print(f"numpy w -= lr * g ({n:,} float32): {best_us(lambda: w.__isub__(lr * g), 300):.1f} us")
    saxpy = axpy_function(np.float32)
    if saxpy is None:
        print("cblas_saxpy: numpy's BLAS does not export scipy_cblas_saxpy64_ here")
        return
    print(f"cblas_saxpy, the same update: "
          f"{best_us(lambda: saxpy(n, -1e-9, g.ctypes.data, 1, w.ctypes.data, 1), 300):.1f} us")
    for dtype in (np.float32, np.float64):
        f = axpy_function(dtype)
        same, fused = True, True
        for size in (1000, 4099, 20000, n):
            x = rng.standard_normal(size).astype(dtype)
            y = rng.standard_normal(size).astype(dtype)
            ref = y.copy()
            f(size, -0.137, x.ctypes.data, 1, ref.ctypes.data, 1)
            fused &= not np.array_equal(ref, y + dtype(-0.137) * x)
            for offset in range(1, 9):
                bx, by = np.empty(size + offset, dtype), np.empty(size + offset, dtype)
                bx[offset:], by[offset:] = x, y
                f(size, -0.137, bx[offset:].ctypes.data, 1, by[offset:].ctypes.data, 1)
                same &= np.array_equal(by[offset:], ref)
        print(f"{np.dtype(dtype).name} axpy: the same bits at offsets 1-8: {same}; "
              f"differs from numpy's y + a * x (one rounding): {fused}")


if __name__ == "__main__":
    main()
