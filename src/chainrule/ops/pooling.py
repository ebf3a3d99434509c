"""Pooling over kernel-sized windows of (N, C, H, W): maximum, average, adaptive average.

A pooled value is a weighted sum over its window, y = sum_k a_k x[window offset k], with
weights a_k = 1 / count (average pooling) or a_k = [k is the window's arg-max] (max
pooling, a_k fixed by the forward pass). So every pooling is linear in x once the arg-max
is known, and its gradient is the adjoint: dx[window offset k] += a_k dy, overlapping
windows adding up. Two Functions carry that pair, each the other's backward
(``WindowSum`` and ``WindowScatter``), so second derivatives come for free; both loop
over the kh kw kernel offsets with strided slices of the whole batch (no loop over
pixels), the same slices as convolution's col2im (``Geometry.offsets``).
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops.convolution import Geometry, Pair, pad
from chainrule.ops.linalg import matmul


class _Windows(Function):
    """Shared state of the pair below: the geometry, the spatial sizes of the two sides,
    and the weights a_k: ``winner`` (the arg-max offset per output, for max pooling) or
    ``scale`` (1 / count, a scalar or an (H', W') array, for average pooling)."""

    __slots__ = ("geo", "big", "small", "winner", "scale")
    needs_inputs = False

    def __init__(self, geo: Geometry, big: Pair, small: Pair,
                 winner: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
        self.geo, self.big, self.small = geo, big, small
        self.winner, self.scale = winner, scale

    def twin(self, kind: type[_Windows]) -> _Windows:
        return kind(self.geo, self.big, self.small, self.winner, self.scale)


class WindowSum(_Windows):
    """y[n, c, i, j] = sum_k a_k[n, c, i, j] x_pad[n, c, window (i, j) at offset k]
    (average pooling, or the gather at the arg-max);  backward: ``WindowScatter``."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        xp = pad(x, self.geo)
        out = np.zeros(x.shape[:2] + self.small, x.dtype)
        for k, rows, cols in self.geo.offsets(self.small):
            if self.winner is None:
                out += xp[:, :, rows, cols]
            else:
                np.copyto(out, xp[:, :, rows, cols], where=self.winner == k)
        if self.scale is not None:
            out *= self.scale
        return out

    def backward(self, gy: Tensor) -> Tensor:
        return self.twin(WindowScatter)(gy)


class WindowScatter(_Windows):
    """dx_pad[n, c, window (i, j) at offset k] += a_k[n, c, i, j] dy[n, c, i, j], cropped
    to x's size: the adjoint of ``WindowSum``, whose own backward it is.

    When no two windows share an element (stride >= window span on both axes, as in the
    common 2x2 pooling with stride 2) and dy is finite, each element gets at most one
    term, so every offset writes its slice once, a_k dy, instead of adding into zeros
    (the same numbers, up to the sign of a zero, in a third of the passes)."""

    __slots__ = ()

    def forward(self, gy: np.ndarray) -> np.ndarray:
        if self.scale is not None:
            gy = gy * self.scale
        hp, wp = self.geo.padded(self.big)
        # a non-finite dy times a_k = 0 would be NaN where the sum below has 0
        disjoint = self.geo.disjoint() and np.isfinite(gy.sum())
        buf = (np.empty if disjoint and self.geo.tiles(self.big) else np.zeros)(
            gy.shape[:2] + (hp, wp), gy.dtype)
        for k, rows, cols in self.geo.offsets(self.small):
            view = buf[:, :, rows, cols]
            if not disjoint:
                view += gy if self.winner is None else np.where(self.winner == k, gy, 0)
            elif self.winner is None:
                view[...] = gy
            else:
                np.multiply(gy, self.winner == k, out=view)
        (pt, _), (pl, _) = self.geo.padding
        if hp == self.big[0] and wp == self.big[1]:
            return buf
        return np.ascontiguousarray(buf[:, :, pt:pt + self.big[0], pl:pl + self.big[1]])

    def backward(self, g: Tensor) -> Tensor:
        return self.twin(WindowSum)(g)


def _valid(geo: Geometry, big: Pair, small: Pair) -> np.ndarray:
    """valid[k, i, j]: whether offset k of window (i, j) lies inside x (not in the padding)."""
    inside = []
    for axis in range(2):
        before = geo.padding[axis][0]
        starts = np.arange(small[axis]) * geo.stride[axis] - before
        taps = starts[None, :] + np.arange(geo.kernel[axis])[:, None] * geo.dilation[axis]
        inside.append((taps >= 0) & (taps < big[axis]))
    rows, cols = inside
    return (rows[:, None, :, None] & cols[None, :, None, :]).reshape(-1, *small)


class MaxPool(Function):
    """y = max over each window; dy/dx = 1 at the window's arg-max, 0 elsewhere.

    The arg-max is resolved as PyTorch does on the CPU: the first maximum in row-major
    order over the window's positions inside x (padding never wins), except that a NaN
    wins over any number (the last NaN, so NaN propagates). Where windows overlap, an
    element that is the maximum of several receives the sum of their gradients.
    Backward: ``WindowScatter`` at the arg-max.
    """

    __slots__ = ("geo",)
    needs_inputs = False

    def __init__(self, geo: Geometry) -> None:
        self.geo = geo

    def forward(self, x: np.ndarray) -> np.ndarray:
        geo = self.geo
        big = x.shape[2:]
        small = geo.small(big)
        kk = geo.kernel[0] * geo.kernel[1]
        index = np.dtype(np.int8 if kk < 2**7 else np.int16 if kk < 2**15 else np.int64)
        if any(sum(p) for p in geo.padding) or np.isnan(x.max()):
            best, winner = self._scan(x, small, index)
        else:
            best, winner = _tournament(x, geo, small, index)
        self.saved = (big, small, winner)
        return best

    def _scan(self, x: np.ndarray, small: Pair, index: np.dtype) -> tuple[np.ndarray, ...]:
        """The maximum and arg-max by one pass over the offsets, in order: padding never
        wins, a NaN always does (so the last NaN)."""
        geo = self.geo
        big = x.shape[2:]
        valid = _valid(geo, big, small) if any(sum(p) for p in geo.padding) else None
        xp = pad(x, geo)
        best = np.full(x.shape[:2] + small, -np.inf, x.dtype)
        winner = np.zeros(best.shape, index)
        if valid is not None:  # a window of -inf only sends its gradient to its first element
            winner[...] = valid.argmax(axis=0)
        better = np.empty(best.shape, bool)
        for k, rows, cols in geo.offsets(small):
            window = xp[:, :, rows, cols]
            np.greater(window, best, out=better)
            better |= np.isnan(window)
            if valid is not None:
                better &= valid[k]
            np.copyto(best, window, where=better)
            np.copyto(winner, k, where=better)
        return best, winner

    def backward(self, gy: Tensor) -> Tensor:
        big, small, winner = self.saved
        return WindowScatter(self.geo, big, small, winner=winner)(gy)


def _tournament(x: np.ndarray, geo: Geometry, small: Pair, index: np.dtype
                ) -> tuple[np.ndarray, np.ndarray]:
    """The maximum and first arg-max of each window of x (no padding, no NaN in x) as a
    knock-out tournament over the kernel offsets: neighbours in row-major order meet in
    pairs, and the later one wins a match only if it is strictly greater, so the first
    maximum wins overall, as in ``MaxPool._scan``. kh kw - 1 matches of four whole-batch
    operations on small arrays, instead of ``_scan``'s five per offset with masked copies.

    ``np.maximum(later, earlier)`` returns its second argument on a tie, so even between
    -0.0 and 0.0 the value is the earlier one's, bit for bit the arg-max's."""
    players = [(x[:, :, rows, cols], index.type(k)) for k, rows, cols in geo.offsets(small)]
    while len(players) > 1:
        matches = zip(players[0::2], players[1::2], strict=False)  # odd: one waits
        winners = [(np.maximum(b, a), i + (j - i) * (b > a)) for (a, i), (b, j) in matches]
        players = winners + players[len(winners) * 2:]  # it plays the next round
    best, winner = players[0]
    if isinstance(winner, np.generic):  # a 1x1 window: the input itself, offset 0
        return np.array(best), np.zeros(best.shape, index)
    return best, winner


def max_pool2d(x: Tensor, geo: Geometry) -> Tensor:
    """Max pooling of x (N, C, H, W) over windows of ``geo``."""
    return MaxPool(geo)(x)


def _counts(geo: Geometry, big: Pair, small: Pair, axis: int) -> np.ndarray:
    """How many positions of each output's window lie inside x along ``axis``."""
    starts = np.arange(small[axis]) * geo.stride[axis] - geo.padding[axis][0]
    return np.minimum(starts + geo.kernel[axis], big[axis]) - np.maximum(starts, 0)


def avg_pool2d(x: Tensor, geo: Geometry, count_include_pad: bool = True) -> Tensor:
    """Average pooling: y = (sum over the window) / count, where count is kh kw, or with
    ``count_include_pad=False`` only the window's positions inside x (the window is a
    rectangle, so that count is the product of one count per axis)."""
    big = x.shape[2:]
    small = geo.small(big)
    if count_include_pad:
        scale = np.asarray(1.0 / (geo.kernel[0] * geo.kernel[1]), x.dtype)
    else:
        counts = np.outer(_counts(geo, big, small, 0), _counts(geo, big, small, 1))
        scale = (1.0 / counts).astype(x.dtype)
    return WindowSum(geo, big, small, scale=scale)(x)


def _bins(n: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, n) averaging matrix of adaptive pooling: row i averages
    x[floor(i n / out) : ceil((i + 1) n / out)] (PyTorch's bins; they may overlap)."""
    i = np.arange(out)
    starts, ends = (i * n) // out, -((-(i + 1) * n) // out)
    cols = np.arange(n)
    member = (cols[None, :] >= starts[:, None]) & (cols[None, :] < ends[:, None])
    return (member / (ends - starts)[:, None]).astype(dtype)


def adaptive_avg_pool2d(x: Tensor, size: Pair) -> Tensor:
    """Average over ``size`` bins per axis. When the bins tile the input exactly it is
    average pooling with kernel = stride = n / out; otherwise the bins have uneven sizes,
    and the pooling is separable: y = P_h x P_w^T with the averaging matrices of
    ``_bins``, two matrix products whose gradients are the transposed products."""
    (h, w), (ho, wo) = x.shape[2:], size
    if h % ho == 0 and w % wo == 0:
        kernel = (h // ho, w // wo)
        return avg_pool2d(x, Geometry(kernel, kernel))
    rows = Tensor.constant(_bins(h, ho, x.dtype))
    cols = Tensor.constant(_bins(w, wo, x.dtype).T)
    return matmul(matmul(rows, x), cols)
