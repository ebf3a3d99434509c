"""Matrix product with numpy's semantics (2-D, batched N-D with broadcasting, 1-D vectors)."""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops.elementwise import as_tensor, operands
from chainrule.ops.kernels import normalize_axis
from chainrule.ops.shape import broadcast_to, pick_axis, reshape, sum_to, swapaxes


class MatMul(Function):
    """Y = A @ B;  dL/dA = dL/dY @ B^T,  dL/dB = A^T @ dL/dY.

    For batched operands the same holds per matrix, and a batch axis that was
    broadcast is summed back. A 1-D operand is a row vector on the left and a
    column vector on the right (numpy's rule); its gradient is reshaped back.
    """

    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            return backend.matmul(a, b)
        except ValueError:
            raise _shape_error(a, b) from None

    def backward_arrays(self, gy: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        a, b = self.inputs
        if a.ndim == 2 and b.ndim == 2:  # the usual case: two products on arrays
            return (backend.matmul(gy, b.data.T) if a.requires_grad else None,
                    backend.matmul(a.data.T, gy) if b.requires_grad else None)
        ga, gb = self.backward(Tensor.constant(gy))  # vectors, batches: the general rule
        return (None if ga is None else ga.data, None if gb is None else gb.data)

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        if a.ndim == 2 and b.ndim == 2:
            ga = matmul(gy, b.T) if a.requires_grad else None
            gb = matmul(a.T, gy) if b.requires_grad else None
            return ga, gb
        a2 = a if a.ndim > 1 else reshape(a, (1, a.shape[0]))
        b2 = b if b.ndim > 1 else reshape(b, (b.shape[0], 1))
        g_shape = gy.shape
        if a.ndim == 1:
            g_shape = g_shape[:-1] + (1,) + g_shape[-1:] if b.ndim > 1 else (1,) + g_shape
        if b.ndim == 1:
            g_shape = g_shape + (1,)
        g2 = reshape(gy, g_shape)
        ga = gb = None
        if a.requires_grad:
            ga = reshape(sum_to(matmul(g2, swapaxes(b2, -1, -2)), a2.shape), a.shape)
        if b.requires_grad:
            gb = reshape(sum_to(matmul(swapaxes(a2, -1, -2), g2), b2.shape), b.shape)
        return ga, gb


def _shape_error(a: np.ndarray, b: np.ndarray) -> ValueError:
    if a.ndim == 0 or b.ndim == 0:
        return ValueError(f"matmul: operands must have at least one dimension, got shapes "
                          f"{a.shape} and {b.shape}; use * to multiply by a scalar")
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if inner_a != inner_b:
        return ValueError(f"matmul: cannot multiply {a.shape} by {b.shape}: the last axis of "
                          f"the first ({inner_a}) must equal the "
                          f"{'second-to-last' if b.ndim > 1 else 'only'} axis of the second "
                          f"({inner_b})")
    return ValueError(f"matmul: cannot multiply {a.shape} by {b.shape}: the batch axes "
                      f"{a.shape[:-2]} and {b.shape[:-2]} do not broadcast")


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product a @ b (numpy.matmul semantics)."""
    return MatMul()(*operands(a, b))


class LinearOp(Function):
    """Y = X W^T + b, the affine map of a layer (X: (..., in), W: (out, in), b: (out,));
    dL/dX = dL/dY W,  dL/dW = dL/dY^T X,  dL/db = dL/dY (both summed over all examples).

    One node instead of three (matmul, transpose, add) saves two temporaries and Python
    overhead on every layer.
    """

    __slots__ = ()
    name = "Linear"

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        if x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: the input has {x.shape[-1]} features (shape {x.shape}) "
                             f"but the weight {w.shape} expects {w.shape[1]}")
        # one 2-D product over all leading axes (a view for contiguous x)
        x2 = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
        y = backend.matmul(x2, w.T).reshape(*x.shape[:-1], w.shape[0])
        if b is not None:
            y += b
        return y

    def backward_arrays(self, gy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, w = self.inputs[0], self.inputs[1]
        g2 = gy if gy.ndim == 2 else gy.reshape(-1, gy.shape[-1])  # three numpy calls
        x2 = x.data if x.ndim == 2 else x.data.reshape(-1, x.shape[-1])
        grads = (backend.matmul(g2, w.data).reshape(x.shape) if x.requires_grad else None,
                 backend.matmul(g2.T, x2) if w.requires_grad else None)
        if len(self.inputs) == 3:
            grads += (backend.sum_leading(g2) if self.inputs[2].requires_grad else None,)
        return grads

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, w = self.inputs[0], self.inputs[1]
        gx = matmul(gy, w) if x.requires_grad else None
        g2 = gy if gy.ndim == 2 else reshape(gy, (-1, gy.shape[-1]))
        gw = None
        if w.requires_grad:
            x2 = x if x.ndim == 2 else reshape(x, (-1, x.shape[-1]))
            gw = matmul(g2.T, x2)
        if len(self.inputs) == 2:
            return gx, gw
        gb = g2.sum(axis=0) if self.inputs[2].requires_grad else None
        return gx, gw, gb


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, with weight stored (out_features, in_features) as in z = W a + b."""
    if bias is None:
        return LinearOp()(*operands(x, weight))
    x, weight = operands(x, weight)
    return LinearOp()(x, weight, bias)


# -- einsum and the contractions built on it -----------------------------------------------


def _einsum_terms(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """numpy's einsum subscripts with '...' spelled out as letters and the implicit output
    (letters used once, in alphabetical order, after the ellipsis axes) made explicit."""
    spec = subscripts.replace(" ", "")
    lhs, arrow, out = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operand(s) but "
                         f"{len(shapes)} were given")
    spare = iter([c for c in string.ascii_letters if c not in spec])
    widths = [len(s) - len(t) + 3 for t, s in zip(terms, shapes, strict=True) if "..." in t]
    ellipsis = "".join(next(spare) for _ in range(max(widths, default=0)))
    full = []
    for t, shape in zip(terms, shapes, strict=True):
        if "..." in t:
            k = len(shape) - len(t) + 3
            t = t.replace("...", ellipsis[len(ellipsis) - k:] if k > 0 else "")
        if len(t) != len(shape) or not all(c in string.ascii_letters for c in t):
            raise ValueError(f"einsum: term {t!r} of {subscripts!r} does not fit an operand of "
                             f"shape {shape}")
        full.append(t)
    if arrow:
        out = out.replace("...", ellipsis)
    else:
        letters = "".join(full)
        out = ellipsis + "".join(sorted(c for c in set(letters)
                                        if letters.count(c) == 1 and c not in ellipsis))
    return full, out


class Einsum(Function):
    """y = einsum(terms -> output, X_1, ..., X_n): the sum over every letter not in the output
    of the product of the operands' entries.

    dL/dX_i[s_i] = the sum over all letters of gy[output] prod_{j != i} X_j[s_j], which is an
    einsum itself: of gy and the other operands, to X_i's letters. A letter repeated in s_i
    (a trace or diagonal) gets a fresh name and an identity matrix tying it to the first;
    a letter no other term has gets a vector of ones, so it appears in the result. The
    backward is an Einsum node too, so every higher derivative follows.
    """

    __slots__ = ("terms", "output")

    def __init__(self, terms: list[str], output: str) -> None:
        self.terms, self.output = terms, output

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(np.einsum(f"{','.join(self.terms)}->{self.output}", *xs,
                                        optimize=len(xs) > 1))
        except ValueError as e:
            raise ValueError(f"einsum: {','.join(self.terms)}->{self.output} on shapes "
                             f"{[x.shape for x in xs]}: {e}") from None

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        return tuple(self._grad(i, gy) if x.requires_grad else None
                     for i, x in enumerate(self.inputs))

    def _grad(self, i: int, gy: Tensor) -> Tensor:
        x, term = self.inputs[i], self.terms[i]
        others = [t for j, t in enumerate(self.terms) if j != i]
        elsewhere = set(self.output).union(*others)
        spare = iter([c for c in string.ascii_letters
                      if c not in "".join(self.terms) + self.output])
        operands = [gy] + [t for j, t in enumerate(self.inputs) if j != i]
        terms, target = [self.output, *others], ""
        for axis, c in enumerate(term):
            n = x.shape[axis]
            if c in target:  # repeated: a new letter equal to the first one
                fresh = next(spare)
                terms.append(c + fresh)
                operands.append(Tensor.constant(np.eye(n, dtype=gy.dtype)))
                target += fresh
                continue
            if c not in elsewhere and term.count(c) == 1:
                terms.append(c)
                operands.append(Tensor.constant(np.ones(n, gy.dtype)))
            target += c
        g = Einsum(terms, target)(*operands)
        if g.shape != x.shape:  # letters broadcast from length 1, on either side
            g = sum_to(broadcast_to(g, np.broadcast_shapes(g.shape, x.shape)), x.shape)
        return g


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation (numpy.einsum, torch.einsum): e.g. "ij,jk->ik" (matmul), "ii->"
    (trace), "bij,bjk->bik", "...ij->...ji", "i,j->ij". Operands may also be given as one
    list, as PyTorch allows."""
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    tensors = [as_tensor(t) for t in operands]
    if len(tensors) > 1:
        floats = [t for t in tensors if t.dtype.kind == "f"]
        tensors = [as_tensor(t.data, floats[0]) if floats and t.dtype.kind != "f" and
                   not t.requires_grad else t for t in tensors]
    terms, output = _einsum_terms(subscripts, [t.shape for t in tensors])
    return Einsum(terms, output)(*tensors)


def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2, *, dims: Any = None) -> Tensor:
    """Sum of products over the given axes (numpy.tensordot; PyTorch's ``dims``): an int N
    contracts the last N axes of a with the first N of b, a pair of lists names them."""
    a, b = operands(a, b)
    axes = pick_axis("tensordot", axes, dims, 2)
    if isinstance(axes, int | np.integer):
        pa, pb = list(range(a.ndim - int(axes), a.ndim)), list(range(int(axes)))
    else:
        pa, pb = ([v] if isinstance(v, int | np.integer) else list(v) for v in axes)
    pa, pb = [p % a.ndim for p in pa], [p % b.ndim for p in pb]
    if len(pa) != len(pb) or any(a.shape[i] != b.shape[j] for i, j in zip(pa, pb, strict=False)):
        raise ValueError(f"tensordot: cannot contract axes {pa} of {a.shape} with axes {pb} of "
                         f"{b.shape}")
    letters = iter(string.ascii_letters)
    ta = [next(letters) for _ in range(a.ndim)]
    tb = [ta[pa[pb.index(j)]] if j in pb else next(letters) for j in range(b.ndim)]
    out = [c for i, c in enumerate(ta) if i not in pa] + [c for j, c in enumerate(tb)
                                                           if j not in pb]
    return Einsum(["".join(ta), "".join(tb)], "".join(out))(a, b)


def outer(a: Any, b: Any) -> Tensor:
    """y_ij = a_i b_j for the flattened a and b (numpy.outer, torch.outer);
    dL/da_i = sum_j gy_ij b_j, dL/db_j = sum_i gy_ij a_i (through the broadcast product)."""
    a, b = operands(a, b)
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def dot(a: Any, b: Any) -> Tensor:
    """numpy.dot: a product for scalars, the inner product of vectors, the matrix product of
    matrices, and for N-D a sum over the last axis of a and the second-to-last of b."""
    a, b = operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim <= 2 and a.ndim <= 2 or b.ndim == 1:
        return matmul(a, b)
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 2]))


def inner(a: Any, b: Any) -> Tensor:
    """numpy.inner, torch.inner: the sum of products over the last axes of a and b."""
    a, b = operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


# -- diagonals and triangles ------------------------------------------------------------


def _diagonal_positions(rows: int, cols: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the ``offset`` diagonal of a rows x cols matrix."""
    length = max(0, min(rows - max(0, -offset), cols - max(0, offset)))
    return np.arange(length) + max(0, -offset), np.arange(length) + max(0, offset)


def diagonal(x: Tensor, offset: int = 0, axis1: int = 0, axis2: int = 1, *,
             dim1: int | None = None, dim2: int | None = None) -> Tensor:
    """The entries x[..., i, i + offset] taken over axes axis1 and axis2, as a last axis
    (numpy.diagonal, torch.diagonal). It is indexing, so its gradient scatters gy back onto
    that diagonal of zeros."""
    a1 = normalize_axis("diagonal", pick_axis("diagonal", axis1, dim1, 0), x.ndim)
    a2 = normalize_axis("diagonal", pick_axis("diagonal", axis2, dim2, 1), x.ndim)
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, both are {a1}")
    rest = tuple(d for d in range(x.ndim) if d not in (a1, a2))
    rows, cols = _diagonal_positions(x.shape[a1], x.shape[a2], int(offset))
    return x.permute(rest + (a1, a2))[..., rows, cols]


_diagonal = diagonal  # diag's argument is called diagonal, as PyTorch's


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """numpy.diag, torch.diag: a 1-D x becomes a square matrix with x on diagonal ``diagonal``
    (the gradient is that diagonal of gy); a 2-D x gives its diagonal."""
    from chainrule.ops.shape import ScatterAdd

    x = as_tensor(x)
    if x.ndim == 2:
        return _diagonal(x, diagonal)
    if x.ndim != 1:
        raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {x.shape}")
    n = x.shape[0] + abs(int(diagonal))
    return ScatterAdd(_diagonal_positions(n, n, int(diagonal)), (n, n))(x)


def trace(x: Tensor, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Sum of the diagonal (numpy.trace, torch.trace): dL/dx = gy on the diagonal, 0 off it."""
    return diagonal(x, offset, axis1, axis2).sum(-1)


def _triangle(name: str, x: Tensor, k: int, lower: bool) -> Tensor:
    from chainrule.ops.elementwise import where

    if x.ndim < 2:
        raise ValueError(f"{name}: expected at least 2 axes, got shape {x.shape}")
    rows, cols = x.shape[-2:]
    keep = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return where(keep, x, np.zeros((), x.dtype))


def tril(x: Tensor, k: int = 0, *, diagonal: int | None = None) -> Tensor:
    """The lower triangle: y_ij = x_ij for j - i <= k, else 0 (over the last two axes);
    dy/dx is the same mask. PyTorch's ``diagonal`` is accepted for k."""
    return _triangle("tril", x, pick_axis("tril", k, diagonal, 0), True)


def triu(x: Tensor, k: int = 0, *, diagonal: int | None = None) -> Tensor:
    """The upper triangle: y_ij = x_ij for j - i >= k, else 0 (over the last two axes);
    dy/dx is the same mask. PyTorch's ``diagonal`` is accepted for k."""
    return _triangle("triu", x, pick_axis("triu", k, diagonal, 0), False)
