"""Convolution as three Functions that are each other's derivatives.

A convolution layer (PyTorch's, which is a cross-correlation) maps the "big" side
x (N, C, H, W) to the "small" side y (N, O, H', W') with a kernel w (O, C/g, kh, kw):

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x_pad[n, c', i s_h + p d_h, j s_w + q d_w]

(c' = c + (group of o) * C/g; x_pad is x with zeros around it; s the stride, d the
dilation). y is linear in x and in w, and three maps cover every derivative:

    Conv(x, w)          = y                      im2col(x), then a matrix product with w
    ConvTranspose(y, w) = the adjoint in x       w^T times y, then col2im (overlaps add)
    ConvWeight(x, y)    = the adjoint in w       y times im2col(x)^T

    backward of Conv:          dx = ConvTranspose(dy, w)   (the full convolution of delta
                                                            with the kernel)
                               dw = ConvWeight(x, dy)      (the correlation of the input
                                                            with delta)
                               db = sum of dy over n, i, j
    backward of ConvTranspose: dy = Conv(dx, w),  dw = ConvWeight(dx, y)
    backward of ConvWeight:    dx = ConvTranspose(dy, dW),  dy = Conv(x, dW)

Every backward is written with these same Functions, so second and higher derivatives
come from the chain rule with no extra code.

im2col lays the kernel-sized windows of each sample out as the columns of a matrix of
shape (C kh kw, H' W'): one strided view (``as_strided``, no Python loop over pixels) and
one copy. For a shallow layer (few input channels, a large image) the products are
batched over the samples, w (O, C kh kw) times each sample's matrix, so y comes out in
(N, O, H', W') order and needs no transpose; a deep layer stores its matrices with the
batch innermost and runs each product once over the whole batch (``batch_inner``, for
speed only: the numbers are the same up to rounding). col2im is the
adjoint of im2col: it adds each column back onto the window it came from, as kh kw
additions of a strided slice (one per kernel offset), which is much cheaper than
``np.add.at`` and never writes one element twice in the same addition.

Conv1d is the 2-D case with a height of 1: each Function accepts (N, C, L) arrays and
views them as (N, C, 1, L).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from chainrule import backend
from chainrule.autograd.function import Function
from chainrule.autograd.mode import mode
from chainrule.autograd.tensor import Tensor

Pair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Geometry:
    """How a kernel slides: per spatial axis (height, width) the kernel size, stride,
    (before, after) zero padding and dilation; the number of groups; and ``ndim``, the
    number of spatial axes of the caller's arrays (1 for conv1d, whose height is 1)."""

    kernel: Pair
    stride: Pair = (1, 1)
    padding: tuple[Pair, Pair] = ((0, 0), (0, 0))
    dilation: Pair = (1, 1)
    groups: int = 1
    ndim: int = 2

    def span(self, axis: int) -> int:
        """How many input positions the dilated kernel covers along ``axis``."""
        return (self.kernel[axis] - 1) * self.dilation[axis] + 1

    def padded(self, big: Pair) -> Pair:
        return tuple(n + sum(self.padding[a]) for a, n in enumerate(big))  # type: ignore

    def small(self, big: Pair) -> Pair:
        """The output size of a convolution of an input of spatial size ``big``:
        floor((n + pad_before + pad_after - span) / stride) + 1 per axis."""
        padded = self.padded(big)
        return tuple((padded[a] - self.span(a)) // self.stride[a] + 1  # type: ignore
                     for a in range(2))

    def offsets(self, small: Pair) -> Iterator[tuple[int, slice, slice]]:
        """For each kernel element k = (p, q) in row-major order: k and the strided slices
        of the padded input that element touches, one position per output position."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        ho, wo = small
        for p in range(kh):
            rows = slice(p * dh, p * dh + (ho - 1) * sh + 1, sh)
            for q in range(kw):
                yield p * kw + q, rows, slice(q * dw, q * dw + (wo - 1) * sw + 1, sw)

    def disjoint(self) -> bool:
        """Whether no two windows share an input element (stride >= span on both axes)."""
        return all(self.stride[a] >= self.span(a) for a in range(2))

    def tiles(self, big: Pair) -> bool:
        """Whether the windows cover every element of an unpadded input of size ``big``
        exactly once (kernel = stride, no dilation or padding, sizes divisible)."""
        return all(self.kernel[a] == self.stride[a] == self.span(a) and
                   big[a] % self.kernel[a] == 0 and not sum(self.padding[a])
                   for a in range(2))

    def lift(self, a: np.ndarray) -> np.ndarray:
        """A conv1d array (N, C, L) or kernel (O, C, k) seen as 2-D with height 1 (a view)."""
        return a[:, :, None, :] if self.ndim == 1 else a

    def lower(self, a: np.ndarray) -> np.ndarray:
        return a[:, :, 0, :] if self.ndim == 1 else a

    def spatial(self, shape: tuple[int, ...]) -> Pair:
        """The (height, width) of an array of the caller's ``shape``."""
        return (1, shape[2]) if self.ndim == 1 else (shape[2], shape[3])


# -- the array kernels ----------------------------------------------------------------------------


def pad(x: np.ndarray, geo: Geometry, value: float = 0.0) -> np.ndarray:
    """x (N, C, H, W) with ``geo.padding`` rows and columns of ``value`` around it."""
    (pt, pb), (pl, pr) = geo.padding
    if not (pt or pb or pl or pr):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + pt + pb, w + pl + pr), value, x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


# Save the window matrix of a forward pass for the weight gradient (instead of building it
# again in backward) only up to this size: it is the largest temporary of a convolution.
SAVED_COLUMNS_BYTES = 64 * 2**20


def batch_inner(rows: int, positions: int) -> bool:
    """Whether a layer whose window matrices are (rows = C kh kw, positions = H'W') per
    sample is deep (taller than wide). A deep layer's window matrices are stored with the
    batch innermost, (C kh kw, H'W', N), and its products run once over the whole batch;
    a shallow layer's are stored sample by sample and multiplied once per sample. Measured
    on the layers of benchmarks/cnn.py (docs/performance.md, "Convolution"): thin
    per-sample products and short copies are slow for the deep layers, one whole-batch
    product is slow for the shallow ones."""
    return rows > positions


def stored_batch_inner(cols: np.ndarray) -> bool:
    """Whether window matrices (N, rows, positions) are a view of (rows, positions, N)."""
    return cols.strides[0] < cols.strides[1]


def im2col(x: np.ndarray, geo: Geometry, small: Pair) -> np.ndarray:
    """The windows of x (N, C, H, W) as N matrices (N, C kh kw, H' W'): row (c, p, q),
    column (i, j) of sample n holds x_pad[n, c, i s_h + p d_h, j s_w + q d_w].

    One strided view and one copy, sample by sample for a shallow layer; for a deep one
    (``batch_inner``) the copy is (C kh kw, H'W', N), returned as a transposed view: x is
    first padded into (C, H, W, N) order, so that the copy moves runs of W' N numbers
    (not W') and the products need no per-sample slices.
    """
    n, c = x.shape[:2]
    (kh, kw), (dh, dw), (th, tw) = geo.kernel, geo.dilation, geo.stride
    rows, positions = c * kh * kw, small[0] * small[1]
    if not batch_inner(rows, positions):
        xp = pad(x, geo)
        sn, sc, sh, sw = xp.strides
        windows = as_strided(xp, (n, c, kh, kw, *small),
                             (sn, sc, sh * dh, sw * dw, sh * th, sw * tw), writeable=False)
        return windows.reshape(n, rows, positions)  # the one copy
    (pt, pb), (pl, pr) = geo.padding
    xp = np.zeros((c, x.shape[2] + pt + pb, x.shape[3] + pl + pr, n), x.dtype)
    xp[:, pt:pt + x.shape[2], pl:pl + x.shape[3]] = x.transpose(1, 2, 3, 0)
    sc, sh, sw, sn = xp.strides
    windows = as_strided(xp, (c, kh, kw, *small, n),
                         (sc, sh * dh, sw * dw, sh * th, sw * tw, sn), writeable=False)
    return windows.reshape(rows, positions, n).transpose(2, 0, 1)  # the one copy


def col2im(cols: np.ndarray, geo: Geometry, big: Pair, small: Pair) -> np.ndarray:
    """The adjoint of ``im2col``: cols (N, C kh kw, H' W') added back onto the windows
    they came from, giving (N, C, H, W). One strided addition per kernel offset; within one
    offset the windows do not overlap, so plain slice addition is exact.

    The sum is accumulated in a buffer laid out like cols (batch-inner columns, a
    batch-inner buffer), so that each addition runs over long contiguous stretches."""
    n, kk = cols.shape[0], geo.kernel[0] * geo.kernel[1]
    c = cols.shape[1] // kk
    blocks = cols.reshape(n, c, kk, *small)
    buf = _zeros_laid_out_like(blocks[:, :, 0], (n, c, *geo.padded(big)))
    for k, rows, columns in geo.offsets(small):
        buf[:, :, rows, columns] += blocks[:, :, k]
    (pt, _), (pl, _) = geo.padding
    return np.ascontiguousarray(buf[:, :, pt:pt + big[0], pl:pl + big[1]])


def _zeros_laid_out_like(template: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of ``shape`` whose axes lie in memory in the order of ``template``'s (a view)."""
    order = np.argsort(template.strides, kind="stable")[::-1]  # the outermost axis first
    buf = np.zeros([shape[a] for a in order], template.dtype)
    return buf.transpose(np.argsort(order))


def _per_group(a: np.ndarray, groups: int) -> np.ndarray:
    """A batch of matrices (N, R, H' W') as (N, groups, R / groups, H' W') (a view): each
    group's block of rows, for one batched product per sample and group."""
    n, r, positions = a.shape
    return a.reshape(n, groups, r // groups, positions)


def _kernel_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """The kernel (O, C/g, kh, kw) as (g, O/g, C/g kh kw): row o of group g is w[o] flattened."""
    return w.reshape(groups, w.shape[0] // groups, -1)


def _flat(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) as (N, C, H W)."""
    return a.reshape(*a.shape[:2], -1)


def _whole_batch(cols: np.ndarray, groups: int) -> np.ndarray:
    """Batch-inner window matrices (N, rows, positions) as the per-group matrices
    (g, rows / g, positions N) of one product over the whole batch (a view)."""
    n, rows, positions = cols.shape
    return cols.transpose(1, 2, 0).reshape(groups, rows // groups, positions * n)


def _batch_last(y: np.ndarray, groups: int) -> np.ndarray:
    """y (N, O, H', W') as (g, O/g, H'W' N), the batch innermost (a copy)."""
    n, o = y.shape[:2]
    return np.ascontiguousarray(_flat(y).transpose(1, 2, 0)).reshape(groups, o // groups, -1)


def _batch_first(a: np.ndarray, n: int, small: Pair) -> np.ndarray:
    """The inverse of ``_batch_last``: (g, O/g, H'W' N) as (N, O, H', W') (a copy)."""
    return np.ascontiguousarray(a.reshape(-1, small[0] * small[1], n).transpose(2, 0, 1)
                                ).reshape(n, -1, *small)


def conv_array(x: np.ndarray, w: np.ndarray, geo: Geometry, small: Pair,
               cols: np.ndarray | None = None) -> np.ndarray:
    """y_n = w im2col(x)_n per group, (g, O/g, C/g kh kw) @ (N, g, C/g kh kw, H'W'): per
    sample, which gives y in (N, O, H', W') order already; or, for a deep layer, one
    product over the whole batch, then y moved to that order."""
    cols = im2col(x, geo, small) if cols is None else cols
    kernel = _kernel_matrix(w, geo.groups)
    if stored_batch_inner(cols):
        return _batch_first(backend.matmul(kernel, _whole_batch(cols, geo.groups)), x.shape[0],
                            small)
    y = backend.matmul(kernel, _per_group(cols, geo.groups))
    return y.reshape(x.shape[0], w.shape[0], *small)


def conv_transpose_array(y: np.ndarray, w: np.ndarray, geo: Geometry, big: Pair) -> np.ndarray:
    """x = col2im(w^T y_n) per sample and group: the adjoint of ``conv_array`` in its input.

    For a deep layer (``batch_inner``) w^T y is one product over the whole batch with the
    batch innermost, as ``im2col`` lays it out; col2im's additions then run over W' N
    contiguous numbers instead of W'."""
    n, small = y.shape[0], y.shape[2:]
    kernel = _kernel_matrix(w, geo.groups).transpose(0, 2, 1)  # (g, C/g kh kw, O/g)
    rows, positions = kernel.shape[0] * kernel.shape[1], small[0] * small[1]
    if not batch_inner(rows, positions):
        cols = backend.matmul(kernel, _per_group(_flat(y), geo.groups))
        return col2im(cols.reshape(n, rows, positions), geo, big, small)
    cols = backend.matmul(kernel, _batch_last(y, geo.groups))
    return col2im(cols.reshape(rows, positions, n).transpose(2, 0, 1), geo, big, small)


def weight_grad(cols: np.ndarray, y: np.ndarray, groups: int) -> np.ndarray:
    """dW = sum_n y_n cols_n^T per group, shape (O, C/g kh kw), from the window matrices
    cols (N, C kh kw, H'W') of ``im2col`` and y (N, O, H', W').

    Stored batch-inner (the deep layers), cols is one matrix over the whole batch and dW
    one product, (cols y^T)^T with y's columns reordered to match; stored sample by
    sample, dW is N small products summed (the layers of few input channels, whose
    products are too thin for BLAS to run fast as one)."""
    rows, o = cols.shape[1], y.shape[1]
    if stored_batch_inner(cols):
        dw = backend.matmul(_whole_batch(cols, groups), _batch_last(y, groups).transpose(0, 2, 1))
        return dw.transpose(0, 2, 1).reshape(o, rows // groups)
    ys = _per_group(_flat(y), groups)  # (N, g, O/g, H'W')
    dw = backend.matmul(ys, _per_group(cols, groups).transpose(0, 1, 3, 2)).sum(axis=0)
    return dw.reshape(o, rows // groups)


def conv_weight_array(x: np.ndarray, y: np.ndarray, geo: Geometry,
                      cols: np.ndarray | None = None) -> np.ndarray:
    """dW = sum_n y_n im2col(x)_n^T per group: the adjoint of ``conv_array`` in its kernel,
    i.e. the correlation of the input with delta, shape (O, C/g, kh, kw)."""
    cols = im2col(x, geo, y.shape[2:]) if cols is None else cols
    dw = weight_grad(cols, y, geo.groups)
    return dw.reshape(y.shape[1], x.shape[1] // geo.groups, *geo.kernel)


# -- the three Functions -----------------------------------------------------------------------


def _with_bias(inputs: tuple[Tensor, ...], g_data: Tensor | None, g_weight: Tensor | None,
               g_out: Tensor, geo: Geometry) -> tuple[Tensor | None, ...]:
    """The gradients of (data, weight), and of the bias when there is one:
    db[o] = sum of g_out[:, o] over the batch and every position."""
    if len(inputs) == 2:
        return g_data, g_weight
    g_bias = g_out.sum(axis=(0, 2) if geo.ndim == 1 else (0, 2, 3)) \
        if inputs[2].requires_grad else None
    return g_data, g_weight, g_bias


def _add_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None:
        y += b.reshape(-1, *([1] * (y.ndim - 2)))
    return y


class Conv(Function):
    """y = b + w (star) x (cross-correlation);  dx = ConvTranspose(dy, w) (the full
    convolution of delta with w), dw = ConvWeight(x, dy), db = sum of dy.

    dx = ConvTranspose(dy, w): each dy[n, o, i, j] sent back through every kernel tap to
    the input position it read, overlaps added (the full convolution of delta with w);
    dw[o, c, p, q] = sum_{n,i,j} dy[n, o, i, j] x_pad[n, c', i s + p d, j s + q d];
    db[o] = sum_{n,i,j} dy[n, o, i, j].

    dw reads the same windows of x as the forward product, so when the weight needs a
    gradient the forward keeps its im2col matrix (up to ``SAVED_COLUMNS_BYTES``) and
    hands it to ``ConvWeight``. ``small`` fixes the output size when it must match a given
    array (the backward of a transposed convolution with output_padding); None computes it
    from the input.
    """

    __slots__ = ("geo", "small", "keep_columns")

    def __init__(self, geo: Geometry, small: Pair | None = None) -> None:
        self.geo, self.small, self.keep_columns = geo, small, False

    def __call__(self, *inputs: Tensor) -> Tensor:
        self.keep_columns = mode.grad_enabled and inputs[1].requires_grad
        return super().__call__(*inputs)

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        geo = self.geo
        x2 = geo.lift(x)
        small = self.small or geo.small(x2.shape[2:])
        cols = im2col(x2, geo, small)
        self.saved = cols if self.keep_columns and cols.nbytes <= SAVED_COLUMNS_BYTES else None
        return geo.lower(_add_bias(conv_array(x2, geo.lift(w), geo, small, cols), b))

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, w = self.inputs[0], self.inputs[1]
        geo = self.geo
        gx = ConvTranspose(geo, geo.spatial(x.shape))(gy, w) if x.requires_grad else None
        gw = ConvWeight(geo, self.saved)(x, gy) if w.requires_grad else None
        return _with_bias(self.inputs, gx, gw, gy, geo)


class ConvTranspose(Function):
    """x = b + ConvTranspose(y, w), the adjoint of ``Conv`` in its input;  dy = Conv(dx, w),
    dw = ConvWeight(dx, y), db = sum of dx.

    The transposed convolution: each y[n, o, i, j] spreads w[o] onto the output window it
    maps to:

        x[n, c', i s + p d - pad, j s + q d - pad] += w[o, c, p, q] y[n, o, i, j]

    ``big`` is the output's spatial size. Backward: dy = Conv(dx, w),
    dw = ConvWeight(dx, y), db = sum of dx over the batch and positions.
    """

    __slots__ = ("geo", "big")

    def __init__(self, geo: Geometry, big: Pair) -> None:
        self.geo, self.big = geo, big

    def forward(self, y: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        geo = self.geo
        x = conv_transpose_array(geo.lift(y), geo.lift(w), geo, self.big)
        return geo.lower(_add_bias(x, b))

    def backward(self, gx: Tensor) -> tuple[Tensor | None, ...]:
        y, w = self.inputs[0], self.inputs[1]
        geo = self.geo
        gy = Conv(geo, geo.spatial(y.shape))(gx, w) if y.requires_grad else None
        gw = ConvWeight(geo)(gx, y) if w.requires_grad else None
        return _with_bias(self.inputs, gy, gw, gx, geo)


class ConvWeight(Function):
    """dW = ConvWeight(x, dy), the adjoint of ``Conv`` in its kernel;  with G the gradient
    arriving at dW, d/dx = ConvTranspose(dy, G), d/d(dy) = Conv(x, G).

        dW[o, c, p, q] = sum_{n,i,j} dy[n, o, i, j] x_pad[n, c', i s + p d, j s + q d],

    bilinear in (x, dy). With G the gradient arriving at dW:
    d/dx = ConvTranspose(dy, G), d/d(dy) = Conv(x, G). ``columns`` is im2col(x) when
    the forward convolution kept it (read only, never modified).
    """

    __slots__ = ("geo", "columns")

    def __init__(self, geo: Geometry, columns: np.ndarray | None = None) -> None:
        self.geo, self.columns = geo, columns

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        geo = self.geo
        dw = conv_weight_array(geo.lift(x), geo.lift(y), geo, self.columns)
        return geo.lower(dw)

    def backward(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, y = self.inputs
        geo = self.geo
        gx = ConvTranspose(geo, geo.spatial(x.shape))(y, g) if x.requires_grad else None
        gy = Conv(geo, geo.spatial(y.shape))(x, g) if y.requires_grad else None
        return gx, gy
