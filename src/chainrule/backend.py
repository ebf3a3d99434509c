"""Where the matrix products run: numpy's BLAS, or Intel MKL's where it measures faster.

Every op that multiplies matrices (``matmul``, ``Linear`` forward and backward, the fused
recurrent cells, convolution and attention) calls ``backend.matmul(a, b)`` on arrays, so
the choice of BLAS is made here, once, for every model family.

numpy's wheels link OpenBLAS. On some CPUs MKL's ``cblas_?gemm`` is faster at the shapes a
network multiplies (on a 2-core Intel Xeon with AVX-512, 0.38 s against OpenBLAS's 0.49 s
for one epoch's products of the 784-256-256-10 MLP at batch 128); on others it is not (an
AMD EPYC took twice as long on MKL). So the
choice is made by measurement, never by vendor:

* ``CHAINRULE_BLAS=numpy|mkl|auto`` (environment) or ``chainrule.set_blas(...)`` force it;
* ``auto`` (the default) uses numpy unless the optional ``mkl`` package is installed
  (``pip install "chainrule[mkl]"``); then the first product of the process times both
  libraries on a few representative shapes (well under a second) and keeps the faster,
  caching the verdict per machine (CPU model, library versions, threads) in the user's
  cache directory, so later processes decide in microseconds.

The MKL path takes float32/float64 matrices that are contiguous or the transpose of a
contiguous array (what every op here produces), and stacks of them a fixed stride apart
(attention's heads, a convolution's samples and groups: one ``cblas_?gemm_batch_strided``
call), and writes a fresh C-contiguous result; anything else (other dtypes, odd strides,
tiny products whose call overhead exceeds the gain) goes to numpy, so results never depend
on the path beyond float rounding. The calibration times single products and stacks
apart, since a batched gemm can lose where the single one wins (or the reverse).

Threads: ``chainrule.set_num_threads`` resizes every BLAS pool threadpoolctl finds, MKL's
included, and MKL takes the count asked for even when it loads after the call. MKL's
OpenMP threads wait for the next product spinning for 1 ms (block time 1, unless the user
set ``KMP_BLOCKTIME``), not OpenMP's default 200 ms: their spinning would take the cores
from other work for that long after each product. Not 0 either: waking sleeping threads
for every product cost a whole MLP step at batch 32 half as much again (measured on an
Intel Xeon, docs/performance.md), while 1 ms keeps them awake through a training step,
whose products come microseconds apart.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

CHOICES = ("numpy", "mkl", "auto")
# Below this many multiply-adds a ctypes call (~2 us) costs more than a faster kernel saves.
SMALL_PRODUCT = 64 * 64 * 64
# A stack below this many multiply-adds in all stays on numpy, whose loop over the matrices
# beats MKL's batched gemm there (attention's 128 heads of 16 x 16 x 16: 16 against 32 us on
# two threads, 16 against 35 on one; MKL wins from about 128 of 32 x 32 x 32 on two threads,
# measured on an Intel Xeon).
SMALL_STACK = 1 << 22
# Shapes the calibration times: an MLP layer's forward and both backward products
# (batch 128, 784 -> 256), and a recurrent step's h W^T (batch 32, 256 -> 4 * 256).
CALIBRATION_SHAPES = ((128, 784, 256), (784, 128, 256), (128, 256, 784), (32, 256, 1024))
# Stacks of products, timed apart because a batched gemm may win or lose on its own:
# (count, m, k, n) of attention's per-head Q K^T (batch 32, 4 heads, 64 tokens, 64 channels
# each; smaller stacks stay on numpy, SMALL_STACK) and of a convolution's per-sample
# kernel @ windows (LeNet's second layer, batch 32).
BATCHED_CALIBRATION_SHAPES = ((128, 64, 64, 64), (32, 16, 150, 100))
CALIBRATION_SECONDS = 0.05  # per shape and library
CALIBRATION_ROUNDS = 5  # the fewest timed runs of each library per shape
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


class BlasUnavailable(RuntimeError):
    """``set_blas("mkl")`` was asked for, but MKL cannot be loaded here."""


# -- the MKL binding ------------------------------------------------------------------------


class _MKL:
    """cblas_sgemm / cblas_dgemm of the mkl wheel's libmkl_rt, called through ctypes."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        i, p = ctypes.c_int, ctypes.c_void_p
        self.gemm, self.gemm_batch = {}, {}
        for dtype, name, scalar in ((np.float32, "sgemm", ctypes.c_float),
                                    (np.float64, "dgemm", ctypes.c_double)):
            fn = getattr(lib, f"cblas_{name}")
            fn.argtypes = [i, i, i, i, i, i, scalar, p, i, p, i, scalar, p, i]
            fn.restype = None
            self.gemm[np.dtype(dtype)] = fn
            # the same product over a batch of matrices a fixed stride apart (MKL 2020+)
            batched = getattr(lib, f"cblas_{name}_batch_strided", None)
            if batched is not None:
                batched.argtypes = [i, i, i, i, i, i, scalar, p, i, i, p, i, i, scalar, p, i,
                                    i, i]
                batched.restype = None
                self.gemm_batch[np.dtype(dtype)] = batched
        self.set_local_threads = lib.MKL_Set_Num_Threads_Local  # (n) -> previous count
        self.set_local_threads.argtypes, self.set_local_threads.restype = [i], i
        self.version = _mkl_version()
        # which products go to MKL: single matrices, stacks of them (the calibration may
        # find that one kind is faster on MKL and the other on numpy)
        self.single = self.batched = True
        _limit_spinning(lib)
        from chainrule.threads import requested_num_threads

        threads = requested_num_threads()
        if threads is not None:  # set_num_threads ran before MKL loaded
            lib.MKL_Set_Num_Threads(threads)

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None
               ) -> np.ndarray:
        """a @ b through MKL where the operands allow it, else numpy."""
        gemm = self.gemm.get(a.dtype)
        if gemm is None or a.ndim < 2 or b.ndim < 2 or b.dtype != a.dtype:
            return np.matmul(a, b, out=out)
        if a.ndim > 2 or b.ndim > 2:
            return self.batched_matmul(a, b, out) if self.batched else np.matmul(a, b, out=out)
        if not self.single:
            return np.matmul(a, b, out=out)
        m, k = a.shape
        n = b.shape[1]
        if b.shape[0] != k or m * n * k < SMALL_PRODUCT:
            return np.matmul(a, b, out=out)  # numpy raises the shape error, or it is tiny
        ta, lda = _operand_layout(a)
        tb, ldb = _operand_layout(b)
        if out is None:
            out = np.empty((m, n), a.dtype)
        if ta is None or tb is None or not _writable_result(out, m, n, a.dtype):
            return np.matmul(a, b, out=out)
        gemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, 0.0,
             out.ctypes.data, n)
        return out


    def batched_matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None
                       ) -> np.ndarray:
        """A stack of products (numpy.matmul's broadcasting over the leading axes) as one
        ``cblas_?gemm_batch_strided`` call, when every operand's matrices lie a fixed
        stride apart (attention's heads, a convolution's groups and samples); else numpy."""
        gemm = self.gemm_batch.get(a.dtype)
        try:
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            batch = None  # numpy raises the shape error
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        count = math.prod(batch) if batch is not None else 0
        if (gemm is None or batch is None or out is not None or b.shape[-2] != k
                or count * m * n * k < SMALL_STACK or min(count, m, n, k) == 0):
            return np.matmul(a, b, out=out)
        sa, sb = _batch_stride(a, batch), _batch_stride(b, batch)
        (ta, lda), (tb, ldb) = _operand_layout(a[(0,) * (a.ndim - 2)]), \
            _operand_layout(b[(0,) * (b.ndim - 2)])
        if sa is None or sb is None or ta is None or tb is None:
            return np.matmul(a, b)
        result = np.empty((*batch, m, n), a.dtype)
        gemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, sa, b.ctypes.data, ldb, sb,
             0.0, result.ctypes.data, n, m * n, count)
        return result


def _batch_stride(x: np.ndarray, batch: tuple[int, ...]) -> int | None:
    """The distance, in elements, between consecutive matrices of ``x`` broadcast over the
    leading shape ``batch`` and flattened, or None when it is not one fixed stride. A
    broadcast operand (one matrix for the whole batch) has stride 0."""
    strides = np.broadcast_to(x, (*batch, *x.shape[-2:])).strides[:-2]
    stride, span = None, 1  # span: how many flattened matrices one step of an axis skips
    for size, step in zip(reversed(batch), reversed(strides), strict=True):
        if size != 1:
            if step % x.itemsize or step < 0:
                return None
            if stride is None:
                stride = step // x.itemsize
            elif step != stride * span * x.itemsize:
                return None
        span *= size
    return stride or 0


def _writable_result(c: np.ndarray, m: int, n: int, dtype: np.dtype) -> bool:
    """Whether gemm can write an (m, n) result straight into ``c``."""
    return c.shape == (m, n) and c.dtype == dtype and c.flags.c_contiguous and c.flags.writeable


def _operand_layout(x: np.ndarray) -> tuple[int | None, int]:
    """(CBLAS transpose flag, leading dimension) describing ``x`` to a row-major gemm, or
    (None, 0) when its strides fit neither a row-major matrix nor the transpose of one."""
    item = x.itemsize
    rows, cols = x.shape
    s0, s1 = x.strides
    if s1 == item and s0 % item == 0 and s0 // item >= max(cols, 1):
        return _NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 // item >= max(rows, 1):
        return _TRANS, s1 // item  # x is the transpose of a row-major (cols, rows) matrix
    return None, 0


def _mkl_library() -> Path | None:
    """The mkl wheel's libmkl_rt, or None when the wheel is not installed."""
    from importlib import metadata

    try:
        files = metadata.files("mkl") or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name.startswith("libmkl_rt.so") or f.name == "mkl_rt.2.dll":
            path = Path(str(f.locate())).resolve()
            if path.exists():
                return path
    return None


def _mkl_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mkl")
    except metadata.PackageNotFoundError:
        return "unknown"


BLOCK_TIME_MS = 1  # how long MKL's idle OpenMP threads spin before they sleep


def _limit_spinning(lib: ctypes.CDLL) -> None:
    """A block time of BLOCK_TIME_MS for MKL's OpenMP threads (see the module docstring),
    unless the user chose one with KMP_BLOCKTIME."""
    setter = getattr(lib, "MKL_Set_Dynamic", None)
    if setter is not None:
        setter(0)  # keep the thread count set_num_threads asks for
    if "KMP_BLOCKTIME" in os.environ:
        return
    try:
        omp = ctypes.CDLL("libiomp5.so")
        omp.kmp_set_blocktime(BLOCK_TIME_MS)
    except (OSError, AttributeError):  # another OpenMP runtime: its default applies
        pass


# -- one thread for a block of small products -----------------------------------------------


_openblas_setter: list = []  # [function or None], found on first use


def _openblas_local_threads() -> Callable[[int], int] | None:
    """numpy's OpenBLAS ``openblas_set_num_threads_local(n) -> previous count`` (OpenBLAS
    >= 0.3.27; measured here, it sets the process-wide count), or None where numpy's BLAS
    is another library or older."""
    if not _openblas_setter:
        setter = None
        try:
            from threadpoolctl import ThreadpoolController

            for lib in ThreadpoolController().select(internal_api="openblas").lib_controllers:
                setter = ctypes.CDLL(lib.filepath).openblas_set_num_threads_local
                setter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
                break
        except (ImportError, OSError, AttributeError):
            setter = None
        _openblas_setter.append(setter)
    return _openblas_setter[0]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the products of the block on one thread of the library in use, then restore
    its count: for loops of products too small to split over threads (the recurrent
    layers' per-step products, ops/recurrent.py), where waking a second thread costs more
    than it saves, and far more when another process holds the other core."""
    if _state.name is None:
        blas_info()  # decide the library first, so the count is set on the right one
    if _state.name == "mkl" and _state.mkl is not None and _state.mkl.single:
        setter = _state.mkl.set_local_threads  # per thread; 0 restores the global count
    else:
        setter = _openblas_local_threads()
    if setter is None:
        yield
        return
    previous = setter(1)
    try:
        yield
    finally:
        setter(previous)


# -- the choice -------------------------------------------------------------------------------


class _State:
    """The library in use, why, and the MKL binding once loaded."""

    def __init__(self) -> None:
        self.name: str | None = None  # None until the first product decides
        self.reason = ""
        self.mkl: _MKL | None = None


_state = _State()


def _numpy_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.matmul(a, b, out=out)


def _first_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Decide the library on the first product (so ``import chainrule`` stays cheap)."""
    _resolve(os.environ.get("CHAINRULE_BLAS", "auto"), source="CHAINRULE_BLAS")
    return matmul(a, b, out)


matmul: Callable[..., np.ndarray] = _first_matmul
"""``matmul(a, b, out=None)``: ``a @ b`` on arrays (numpy.matmul's semantics), through the
library in use (see the module docstring)."""


# -- sums along an axis, as products with a vector of ones --------------------------------
#
# numpy reduces a short axis row by row, at about 0.02-0.1 us a row; a matrix-vector
# product with a vector of ones sums the same rows in one BLAS call, 3-9x faster at the
# shapes a network sums (the bias gradient of a 1024x256 layer: 29.5 -> 11.5 us; layer
# norm's means of 512 rows of 64: 26.1 -> 5.6 us; attention's 2,048 rows of 16: 38 -> 4 us,
# measured on an Intel Xeon) and as accurate (both accumulate in the operand's dtype; on
# 60,000 float32 rows the relative errors were of the same size, about 2e-6).


@functools.lru_cache(maxsize=64)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


# Below this many elements numpy's own reduction is as fast or faster (measured on 32x10 to
# 32x256 float32: the product's call costs about 0.5 us more than the sum it saves).
SMALL_SUM = 8192


def _summable(x: np.ndarray) -> bool:
    return (x.dtype in (np.float32, np.float64) and x.size > SMALL_SUM
            and x.flags.c_contiguous)


def sum_last(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1, keepdims=True)`` for an array of at least one dimension."""
    if x.ndim == 0 or not _summable(x):
        return x.sum(axis=-1, keepdims=True)
    n = x.shape[-1]
    return np.matmul(x.reshape(-1, n), _ones(n, x.dtype)).reshape(*x.shape[:-1], 1)


def sum_leading(x: np.ndarray, keep: int = 1) -> np.ndarray:
    """The sum over every axis but the last ``keep`` ones: ``x.sum(axis=(0, ..., -keep-1))``,
    shape ``x.shape[-keep:]`` (a bias gradient: the sum over every example)."""
    if x.ndim <= keep or not _summable(x):
        return x.sum(axis=tuple(range(x.ndim - keep)))
    trailing = x.shape[x.ndim - keep:]
    rows = x.size // math.prod(trailing)
    return np.matmul(_ones(rows, x.dtype), x.reshape(rows, -1)).reshape(trailing)


def set_blas(name: str) -> str:
    """Use ``"numpy"``, ``"mkl"`` or ``"auto"`` (measure, cached) for every matrix product;
    returns the library now in use. ``"mkl"`` raises BlasUnavailable where it cannot load."""
    _resolve(name, source="set_blas")
    return _state.name or "numpy"


def blas_info() -> dict[str, Any]:
    """Which library runs the products and why (``chainrule --version`` prints it)."""
    if _state.name is None:
        _resolve(os.environ.get("CHAINRULE_BLAS", "auto"), source="CHAINRULE_BLAS")
    return {"blas": _state.name, "reason": _state.reason, "numpy": np.__version__,
            "mkl": _state.mkl.version if _state.mkl else None}


def _resolve(name: str, source: str) -> None:
    name = str(name).strip().lower()
    if name not in CHOICES:
        raise ValueError(f"{source}: the BLAS must be one of {', '.join(CHOICES)}; got "
                         f"{name!r}")
    if name == "numpy":
        _use("numpy", f"{source}=numpy")
        return
    mkl = _load_mkl()
    if mkl is None:
        if name == "mkl":
            raise BlasUnavailable(f"{source}: MKL is not available; install it with "
                                  f"pip install \"chainrule[mkl]\"")
        _use("numpy", "auto: the mkl package is not installed")
        return
    if name == "mkl":
        mkl.single = mkl.batched = True
        _use("mkl", f"{source}=mkl")
        return
    verdict = _calibrated_choice(mkl)
    mkl.single, mkl.batched = verdict["blas"] == "mkl", verdict["batched"] == "mkl"
    _use("mkl" if mkl.single or mkl.batched else "numpy", _auto_reason(verdict))


def _auto_reason(verdict: dict[str, Any]) -> str:
    ms = {k: f"{verdict[k] * 1e3:.2f} ms" for k in _TIMINGS}
    return (f"auto: measured {ms['numpy_s']} with numpy, {ms['mkl_s']} with MKL; stacks of "
            f"products {ms['batched_numpy_s']} and {ms['batched_mkl_s']}: matrices on "
            f"{verdict['blas']}, stacks on {verdict['batched']} ({verdict['source']})")


def _use(name: str, reason: str) -> None:
    global matmul
    _state.name, _state.reason = name, reason
    matmul = _state.mkl.matmul if name == "mkl" and _state.mkl else _numpy_matmul


def _load_mkl() -> _MKL | None:
    if _state.mkl is None:
        path = _mkl_library()
        if path is None:
            return None
        try:
            _state.mkl = _MKL(path)
        except (OSError, AttributeError):  # a broken or foreign install: numpy serves
            return None
    return _state.mkl


# -- calibration ------------------------------------------------------------------------------


def _calibrated_choice(mkl: _MKL) -> dict[str, Any]:
    """The cached verdict for this machine, or a fresh measurement (then cached)."""
    key = _machine_key(mkl)
    path = _cache_path()
    cached = _read_cache(path).get(key)
    if cached is not None:
        return {**cached, "source": f"cached in {path}"}
    # MKL's timings first, both kinds, for the reason time_products gives
    mkl_s = time_products(mkl.matmul, CALIBRATION_SHAPES, CALIBRATION_SECONDS)
    batched_mkl_s = time_products(mkl.batched_matmul, BATCHED_CALIBRATION_SHAPES,
                                  CALIBRATION_SECONDS)
    numpy_s = time_products(np.matmul, CALIBRATION_SHAPES, CALIBRATION_SECONDS)
    batched_numpy_s = time_products(np.matmul, BATCHED_CALIBRATION_SHAPES, CALIBRATION_SECONDS)
    verdict = {"blas": _faster(numpy_s, mkl_s), "numpy_s": numpy_s, "mkl_s": mkl_s,
               "batched": _faster(batched_numpy_s, batched_mkl_s),
               "batched_numpy_s": batched_numpy_s, "batched_mkl_s": batched_mkl_s}
    _write_cache(path, key, verdict)
    return {**verdict, "source": "measured now"}


def _faster(numpy_s: float, mkl_s: float) -> str:
    """MKL only where it saves at least 5%: a tie keeps the default install's path."""
    return "mkl" if mkl_s < 0.95 * numpy_s else "numpy"


def time_products(matmul: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  shapes: tuple[tuple[int, ...], ...], seconds: float) -> float:
    """Seconds for one product of each shape in ``shapes`` by ``matmul``, each the best of
    at least CALIBRATION_ROUNDS runs in a row (and of ``seconds``' worth of them).

    One library at a time, MKL before numpy, because a library's idle threads go on
    spinning after its products, OpenBLAS's for tens of milliseconds: an MKL product that
    follows numpy's competes with them for the cores. Measured on a 2-core Intel Xeon
    (docs/performance.md), alternating the two call by call made MKL look 1.6x slower
    than numpy at the MLP's shapes, where alone it takes 0.76x numpy's time; MKL's own
    threads spin for 1 ms only (BLOCK_TIME_MS), so numpy's timings after them are fair."""
    rng = np.random.default_rng(0)
    total = 0.0
    for *stack, m, k, n in shapes:
        a = rng.standard_normal((*stack, m, k), dtype=np.float32)
        b = rng.standard_normal((*stack, k, n), dtype=np.float32)
        matmul(a, b)  # untimed: a first call pays one-time setup (MKL starts its threads)
        best, rounds = float("inf"), 0
        deadline = time.perf_counter() + seconds
        # a few rounds however slow: one stall of a busy machine must not decide
        while time.perf_counter() < deadline or rounds < CALIBRATION_ROUNDS:
            rounds += 1
            started = time.perf_counter()
            matmul(a, b)
            best = min(best, time.perf_counter() - started)
        total += best
    return total


def _machine_key(mkl: _MKL) -> str:
    from chainrule.threads import get_num_threads

    return (f"{_cpu_model()}|numpy {np.__version__}|mkl {mkl.version}|"
            f"threads {get_num_threads()}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "chainrule" / "blas.json"


def _read_cache(path: Path) -> dict[str, Any]:
    """The cached verdicts; an unreadable or malformed file counts as empty (re-measure)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)
            and v.get("blas") in ("numpy", "mkl") and v.get("batched") in ("numpy", "mkl")
            and all(isinstance(v.get(f), float) for f in _TIMINGS)}


_TIMINGS = ("numpy_s", "mkl_s", "batched_numpy_s", "batched_mkl_s")


def _write_cache(path: Path, key: str, verdict: dict[str, Any]) -> None:
    from chainrule._io import atomic_write

    data = _read_cache(path)
    data[key] = verdict
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w") as f:
            json.dump(data, f, indent=1)
    except OSError:  # a read-only home: measure again next time
        pass
