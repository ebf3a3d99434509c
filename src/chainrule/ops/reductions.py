"""Reductions over axes: sum, mean, max, min, var, std (numpy's ``axis``/``keepdims``).

The backward of a reduction spreads the gradient of each result back over the
elements that produced it: equally for a sum (each has derivative 1), divided by
the count for a mean, and only to the winning elements for max and min.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops import elementwise as _ew
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
    dof = n - ddof
    if dof <= 0:
        # as PyTorch: warn and divide by max(0, n - ddof), so the result is NaN (or inf)
        warnings.warn(f"var/std: {n} element(s) per result with ddof={ddof}: the degrees of "
                      f"freedom n - ddof are <= 0, so the result is NaN or inf",
                      RuntimeWarning, stacklevel=3)
        dof = 0
    centered = x - mean(x, axes, keepdims=True)
    with np.errstate(divide="ignore"):
        scale = np.divide(1.0, np.asarray(dof, x.dtype if x.dtype.kind == "f" else None))
    return sum(centered * centered, axes, keepdims) * scale


def std(x: Tensor, axis: Axis = None, ddof: int = 0, keepdims: bool = False, *,
        dim: Axis = None, keepdim: bool | None = None, correction: int | None = None
        ) -> Tensor:
    """Standard deviation: sqrt(var(x, axis, ddof)) (PyTorch's names accepted, as var).

    d std / d var = 1 / (2 std) is infinite where the deviation is identically 0 (constant
    data, one element per result with ddof=0), and the chain rule would multiply it by
    var's gradient 0 into NaN; there the gradient is taken as 0, as PyTorch does and
    finite differences give: where var is 0 the result is the constant 0 (a where over a
    sqrt of a safe value), so no infinite factor is ever formed.
    """
    axis, keepdims = pick_axis("std", axis, dim), pick_keepdims("std", keepdims, keepdim)
    v = var(x, axis, _pick_ddof("std", ddof, correction), keepdims)
    flat = v.data == 0
    if not flat.any():
        return v.sqrt()
    zero, one = np.zeros((), v.dtype), np.ones((), v.dtype)
    return _ew.where(flat, zero, _ew.where(flat, one, v).sqrt())


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


# -- products and running sums and products ------------------------------------------------


def _one_hot_stack(x: Tensor) -> Tensor:
    """For x of shape (..., n): shape (..., n, n) whose row i is x with entry i set to 1, so a
    product along the last axis leaves out exactly entry i (what a gradient of a product
    needs where some entry is 0, and y / x_i would be 0 / 0)."""
    from chainrule.ops.elementwise import where

    n = x.shape[-1]
    return where(np.eye(n, dtype=bool), 1.0, x.unsqueeze(-2))


class Prod(Function):
    """y = prod of x over ``axes``;  dy/dx_i = prod_{j != i} x_j, the product of the others.

    With no zero in x that is y / x_i. Where x has zeros it is formed directly, as the
    product of x with entry i replaced by 1 (an n x n stack per slice of n entries).
    """

    __slots__ = ("axes", "keepdims")
    needs_outputs = True

    def __init__(self, axes: tuple[int, ...] | None, keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x.prod(axis=self.axes, keepdims=self.keepdims))

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        g = _expand(gy, x.shape, self.axes)
        if x.data.all():
            return g * _expand(self.output(), x.shape, self.axes) / x
        axes = tuple(range(x.ndim)) if self.axes is None else self.axes
        kept = tuple(a for a in range(x.ndim) if a not in axes)
        moved = x.permute(kept + axes)
        flat = reshape(moved, moved.shape[:len(kept)] + (-1,))
        others = prod(_one_hot_stack(flat), -1)
        return g * reshape(others, moved.shape).permute(tuple(np.argsort(kept + axes)))


class Cumsum(Function):
    """y_k = sum_{j <= k} x_j along ``axis``;  dL/dx_j = sum_{k >= j} gy_k: a running sum of
    gy from the end (flip, cumsum, flip)."""

    __slots__ = ("axis",)
    needs_inputs = False

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.cumsum(x, axis=self.axis)

    def backward(self, gy: Tensor) -> Tensor:
        from chainrule.ops.shape import flip

        return flip(cumsum(flip(gy, self.axis), self.axis), self.axis)


class Cumprod(Function):
    """y_k = prod_{j <= k} x_j along ``axis``;  dy_k/dx_j = [j <= k] prod_{i <= k, i != j} x_i.

    With no zero in x, dL/dx_j = (sum_{k >= j} gy_k y_k) / x_j. Where x has zeros the
    products leaving x_j out are formed directly: the running product of x with entry j
    replaced by 1 (an n x n stack per slice of n entries).
    """

    __slots__ = ("axis",)
    needs_outputs = True

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.cumprod(x, axis=self.axis)

    def backward(self, gy: Tensor) -> Tensor:
        from chainrule.ops.elementwise import where
        from chainrule.ops.shape import flip

        x, a = self.inputs[0], self.axis
        if x.data.all():
            return flip(cumsum(flip(gy * self.output(), a), a), a) / x
        xt, gt = x.swapaxes(a, -1), gy.swapaxes(a, -1)
        n = xt.shape[-1]
        running = cumprod(_one_hot_stack(xt), -1)  # [..., j, k]: prod_{i <= k, i != j} x_i
        later = np.triu(np.ones((n, n), dtype=bool))  # k >= j
        g = sum(where(later, running, 0.0) * gt.unsqueeze(-2), -1)
        return g.swapaxes(a, -1)


def prod(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
         keepdim: bool | None = None) -> Tensor:
    """Product over ``axis`` (all axes by default)."""
    axis, keepdims = pick_axis("prod", axis, dim), pick_keepdims("prod", keepdims, keepdim)
    return Prod(_normalize("prod", axis, x.ndim), keepdims)(x)


def _scan_axis(name: str, x: Tensor, axis: int | None) -> tuple[Tensor, int]:
    if axis is None:  # numpy's rule: over the flattened tensor
        return reshape(x, -1), 0
    (a,) = _normalize(name, axis, x.ndim)
    return x, a


def cumsum(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Running sum along ``axis`` (numpy: the flattened tensor when None; torch: dim=)."""
    x, a = _scan_axis("cumsum", x, pick_axis("cumsum", axis, dim))
    return Cumsum(a)(x)


def cumprod(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Running product along ``axis`` (numpy: the flattened tensor when None; torch: dim=)."""
    x, a = _scan_axis("cumprod", x, pick_axis("cumprod", axis, dim))
    return Cumprod(a)(x)
