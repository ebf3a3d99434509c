"""Making tensors: from data, filled with constants, or random from a seedable generator.

Floating-point tensors default to float32; ask for ``dtype=np.float64`` (or pass
a float64 numpy array) to get double precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor, to_array

DEFAULT_DTYPE = np.dtype(np.float32)

_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed chainrule's random generator (randn, rand, init, dropout, shuffling)."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def default_generator() -> np.random.Generator:
    """The generator chainrule draws from unless given another one."""
    return _rng


def set_default_generator(generator: np.random.Generator) -> np.random.Generator:
    """Draw from ``generator`` unless given another one; returns the generator it replaces
    (to put back afterwards, e.g. for a scikit-learn estimator's ``random_state``)."""
    global _rng
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"set_default_generator: expected a numpy Generator, got "
                        f"{type(generator).__name__}")
    previous, _rng = _rng, generator
    return previous


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept both zeros(2, 3) and zeros((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], Sequence | np.ndarray):
        shape = tuple(shape[0])
    try:
        dims = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be integers, got {shape!r}") from None
    if any(n < 0 for n in dims):
        raise ValueError(f"shape must not have negative sizes, got {dims}")
    return dims


def _float_dtype(dtype: Any) -> np.dtype:
    return DEFAULT_DTYPE if dtype is None else np.dtype(dtype)


def _new(array: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor.constant(array)
    return t.requires_grad_(True) if requires_grad else t


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (numbers, nested lists, an array, a Tensor).

    Python floats become float32; numpy arrays keep their dtype unless ``dtype``
    is given; integer and bool data cannot require grad.
    """
    return _new(to_array(data, dtype), requires_grad)


def from_numpy(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A tensor sharing memory with ``array`` (no copy, same dtype)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}")
    return _new(array, requires_grad)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _new(np.zeros(_shape(shape), _float_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _new(np.ones(_shape(shape), _float_dtype(dtype)), requires_grad)


def full(shape: Sequence[int] | int, fill_value: float, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    shape = (shape,) if isinstance(shape, int) else shape
    return _new(np.full(_shape((shape,)), fill_value, _float_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _new(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop) (numpy.arange); integers unless a float
    appears or ``dtype`` is given, floats as float32 by default."""
    array = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is not None:
        array = array.astype(dtype)
    elif array.dtype.kind == "f":
        array = array.astype(DEFAULT_DTYPE)
    return _new(array, requires_grad)


def linspace(start: float, stop: float, num: int = 50, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _new(np.linspace(start, stop, num, dtype=_float_dtype(dtype)), requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False,
          generator: np.random.Generator | None = None) -> Tensor:
    """Samples of the standard normal distribution N(0, 1)."""
    dt = _float_dtype(dtype)
    array = (generator or _rng).standard_normal(_shape(shape), dtype=dt if dt in
                                                (np.float32, np.float64) else np.float64)
    return _new(array.astype(dt, copy=False), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False,
         generator: np.random.Generator | None = None) -> Tensor:
    """Samples of the uniform distribution on [0, 1)."""
    dt = _float_dtype(dtype)
    array = (generator or _rng).random(_shape(shape), dtype=dt if dt in
                                       (np.float32, np.float64) else np.float64)
    return _new(array.astype(dt, copy=False), requires_grad)


def randint(low: int, high: int, shape: Sequence[int], dtype: Any = np.int64,
            generator: np.random.Generator | None = None) -> Tensor:
    """Random integers in [low, high)."""
    return _new((generator or _rng).integers(low, high, _shape((shape,)), dtype=dtype), False)


def _like(x: Tensor, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
    return x.shape, (x.dtype if dtype is None else np.dtype(dtype))


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return zeros(shape, dtype=dt, requires_grad=requires_grad)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return ones(shape, dtype=dt, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value: float, dtype: Any = None,
              requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return full(shape, fill_value, dtype=dt, requires_grad=requires_grad)


def randn_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return randn(shape, dtype=dt, requires_grad=requires_grad)


def rand_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(x, dtype)
    return rand(shape, dtype=dt, requires_grad=requires_grad)
