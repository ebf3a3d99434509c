"""Reductions over axes: sum, mean, max, min, var, std (numpy's ``axis``/``keepdims``).

The backward of a reduction spreads the gradient of each result back over the
elements that produced it: equally for a sum (each has derivative 1), divided by
the count for a mean, and only to the winning elements for max and min.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops.shape import broadcast_to, pick_axis, pick_keepdims, reshape

Axis = int | Sequence[int] | None


def _normalize(name: str, axis: Axis, ndim: int) -> tuple[int, ...] | None:
    """Axis as a sorted tuple of non-negative ints (None means all), with a clear error."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}: axis {a} is out of range for a tensor with {ndim} "
                             f"dimension{'s' if ndim != 1 else ''}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis}")
    return tuple(sorted(out))


def _keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """The shape the result would have with keepdims=True."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand(gy: Tensor, x_shape: tuple[int, ...], axes: tuple[int, ...] | None) -> Tensor:
    """Broadcast a reduction's gradient back to the input's shape."""
    return broadcast_to(reshape(gy, _keepdims_shape(x_shape, axes)), x_shape)


class Sum(Function):
    """y = sum of x over ``axes``;  dy/dx_i = 1 for every summed element."""

    __slots__ = ("axes", "keepdims")
    needs_inputs = False

    def __init__(self, axes: tuple[int, ...] | None, keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x.sum(axis=self.axes, keepdims=self.keepdims))

    def backward(self, gy: Tensor) -> Tensor:
        return _expand(gy, self.inputs[0].shape, self.axes)


class Mean(Function):
    """y = mean of x over ``axes`` (n elements each);  dy/dx_i = 1 / n."""

    __slots__ = ("axes", "keepdims")
    needs_inputs = False

    def __init__(self, axes: tuple[int, ...] | None, keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x.mean(axis=self.axes, keepdims=self.keepdims))

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        n = x.data.size // (gy.data.size or 1) if x.data.size else 1
        return _expand(gy * (1.0 / n), x.shape, self.axes)


class _Extreme(Function):
    """max/min over axes: the gradient goes to the elements equal to the result, split
    equally among ties (so it is the same whichever tie numpy reports)."""

    __slots__ = ("axes", "keepdims")
    needs_outputs = True
    reduce: np.ufunc

    def __init__(self, axes: tuple[int, ...] | None, keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            raise ValueError(f"{self.name.lower()}: the tensor is empty")
        return np.asarray(self.reduce.reduce(x, axis=self.axes, keepdims=self.keepdims))

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        keep = _keepdims_shape(x.shape, self.axes)
        winners = x.data == self.output().data.reshape(keep)
        weight = winners / winners.sum(axis=self.axes, keepdims=True)
        return _expand(gy, x.shape, self.axes) * weight.astype(gy.dtype)


class Max(_Extreme):
    """y = max of x over ``axes``;  dy/dx_i = 1 for the maximal element (1/k among k ties)."""

    __slots__ = ()
    reduce = np.maximum


class Min(_Extreme):
    """y = min of x over ``axes``;  dy/dx_i = 1 for the minimal element (1/k among k ties)."""

    __slots__ = ()
    reduce = np.minimum


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
        keepdim: bool | None = None) -> Tensor:
    """Sum over ``axis`` (all axes by default)."""
    axis, keepdims = pick_axis("sum", axis, dim), pick_keepdims("sum", keepdims, keepdim)
    return Sum(_normalize("sum", axis, x.ndim), keepdims)(x)


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
         keepdim: bool | None = None) -> Tensor:
    """Arithmetic mean over ``axis`` (all axes by default)."""
    axis, keepdims = pick_axis("mean", axis, dim), pick_keepdims("mean", keepdims, keepdim)
    axes = _normalize("mean", axis, x.ndim)
    if x.data.size == 0:
        raise ValueError("mean: the tensor is empty")
    return Mean(axes, keepdims)(x)


def max(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
        keepdim: bool | None = None) -> Tensor:
    """Largest value over ``axis`` (numpy.amax; use ``argmax`` for positions)."""
    axis, keepdims = pick_axis("max", axis, dim), pick_keepdims("max", keepdims, keepdim)
    return Max(_normalize("max", axis, x.ndim), keepdims)(x)


def min(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
        keepdim: bool | None = None) -> Tensor:
    """Smallest value over ``axis`` (numpy.amin; use ``argmin`` for positions)."""
    axis, keepdims = pick_axis("min", axis, dim), pick_keepdims("min", keepdims, keepdim)
    return Min(_normalize("min", axis, x.ndim), keepdims)(x)


def var(x: Tensor, axis: Axis = None, ddof: int = 0, keepdims: bool = False, *,
        dim: Axis = None, keepdim: bool | None = None, correction: int | None = None
        ) -> Tensor:
    """Variance over ``axis``: sum((x - mean)**2) / (n - ddof).

    ``ddof=0`` (numpy's default) is the population variance; PyTorch's ``var``
    defaults to the unbiased ``ddof=1``. Composed of mean, sub, mul and sum, so its
    gradient 2 (x - mean) / (n - ddof) and every higher derivative come from the
    chain rule. PyTorch's names are accepted: ``dim``, ``keepdim`` and ``correction``
    (for ddof).
    """
    axis, keepdims = pick_axis("var", axis, dim), pick_keepdims("var", keepdims, keepdim)
    ddof = _pick_ddof("var", ddof, correction)
    axes = _normalize("var", axis, x.ndim)
    n = x.data.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
    if n - ddof <= 0:
        raise ValueError(f"var: {n} element(s) per result with ddof={ddof}; need more than "
                         f"ddof elements")
    centered = x - mean(x, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims) * (1.0 / (n - ddof))


def std(x: Tensor, axis: Axis = None, ddof: int = 0, keepdims: bool = False, *,
        dim: Axis = None, keepdim: bool | None = None, correction: int | None = None
        ) -> Tensor:
    """Standard deviation: sqrt(var(x, axis, ddof)) (PyTorch's names accepted, as var)."""
    axis, keepdims = pick_axis("std", axis, dim), pick_keepdims("std", keepdims, keepdim)
    return var(x, axis, _pick_ddof("std", ddof, correction), keepdims).sqrt()


def _pick_ddof(name: str, ddof: int, correction: int | None) -> int:
    """numpy's ``ddof`` or PyTorch's ``correction`` (synonyms), refusing both."""
    if correction is None:
        return ddof
    if ddof:
        raise TypeError(f"{name}: got both ddof and correction; they are synonyms (numpy's "
                        f"and PyTorch's name): pass one")
    return int(correction)


# -- positions of extremes (no gradient: an index is piecewise constant) ----------------


def _arg_extreme(name: str, x: Tensor, axis: int | None, keepdims: bool) -> Tensor:
    if x.data.size == 0:
        raise ValueError(f"{name}: the tensor is empty")
    if axis is not None:
        _normalize(name, axis, x.ndim)  # the range check, with its clear error
    pick = x.data.argmax if name == "argmax" else x.data.argmin
    return Tensor.constant(np.asarray(pick(axis=axis, keepdims=keepdims)))


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False, *,
           dim: int | None = None, keepdim: bool | None = None) -> Tensor:
    """Index of the largest value along ``axis`` (of the flattened tensor when None), the
    first one among ties; an int64 tensor outside the graph."""
    return _arg_extreme("argmax", x, pick_axis("argmax", axis, dim),
                        pick_keepdims("argmax", keepdims, keepdim))


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False, *,
           dim: int | None = None, keepdim: bool | None = None) -> Tensor:
    """Index of the smallest value along ``axis`` (of the flattened tensor when None), the
    first one among ties; an int64 tensor outside the graph."""
    return _arg_extreme("argmin", x, pick_axis("argmin", axis, dim),
                        pick_keepdims("argmin", keepdims, keepdim))
