"""Shape ops: they move values around without changing them, so each backward moves
the gradient back the same way (reshape back, transpose back, scatter back, sum back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor, _index_key


def _axis(name: str, axis: int, ndim: int) -> int:
    """A possibly negative axis as an index in range(ndim), or a clear error."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor with {ndim} "
                         f"dimension{'s' if ndim != 1 else ''}")
    return axis % ndim


# -- broadcasting and its adjoint -----------------------------------------------------


class SumTo(Function):
    """y = x summed down to ``shape`` (undoing a broadcast);  backward: broadcast gy back."""

    __slots__ = ("shape",)
    needs_inputs = False

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(self.shape) if n == 1 and x.shape[lead + i] != 1)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, gy: Tensor) -> Tensor:
        return broadcast_to(gy, self.inputs[0].shape)


class BroadcastTo(Function):
    """y = x repeated along broadcast axes to ``shape``;  backward: sum gy back to x's shape."""

    __slots__ = ("shape",)
    needs_inputs = False

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return np.broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to "
                             f"{self.shape}") from None

    def backward(self, gy: Tensor) -> Tensor:
        return sum_to(gy, self.inputs[0].shape)


def sum_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``x`` down to ``shape``: the gradient of a broadcast, defined once for every op."""
    if x.shape == shape:
        return x
    return SumTo(shape)(x)


def broadcast_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A read-only broadcast view of x with ``shape`` (numpy.broadcast_to)."""
    if x.shape == shape:
        return x
    return BroadcastTo(tuple(shape))(x)


# -- reshaping and transposing ----------------------------------------------------------


class Reshape(Function):
    """y = x with a new shape, same elements in the same order;  backward: reshape gy back."""

    __slots__ = ("shape",)
    needs_inputs = False

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) into shape {self.shape}") from None

    def backward(self, gy: Tensor) -> Tensor:
        return reshape(gy, self.inputs[0].shape)


class Transpose(Function):
    """y = x with its axes permuted;  backward: permute gy by the inverse permutation."""

    __slots__ = ("axes",)
    needs_inputs = False

    def __init__(self, axes: tuple[int, ...] | None) -> None:
        self.axes = axes

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.transpose(x, self.axes)

    def backward(self, gy: Tensor) -> Tensor:
        if self.axes is None:
            return transpose(gy, None)
        return transpose(gy, tuple(np.argsort(self.axes)))


def reshape(x: Tensor, shape: int | Sequence[int]) -> Tensor:
    """x with a new shape (one dimension may be -1, numpy semantics)."""
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    if x.shape == shape:
        return x
    return Reshape(shape)(x)


def transpose(x: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes; ``None`` reverses them. Two axes alone swap just those two
    (as PyTorch's ``transpose(dim0, dim1)``), which for a 2-D tensor is the same."""
    if axes is None:
        return Transpose(None)(x) if x.ndim > 1 else x
    axes = tuple(axes)
    if len(axes) == 2 and x.ndim != 2:
        return swapaxes(x, *axes)
    return permute(x, axes)


def permute(x: Tensor, axes: Sequence[int]) -> Tensor:
    """Reorder the axes: output axis i is input axis ``axes[i]``."""
    axes = tuple(axes)
    if sorted(a % x.ndim if -x.ndim <= a < x.ndim else a for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of a "
                         f"tensor of shape {x.shape}")
    axes = tuple(a % x.ndim for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return Transpose(axes)(x)


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    a, b = _axis("swapaxes", axis1, x.ndim), _axis("swapaxes", axis2, x.ndim)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return permute(x, order)


def squeeze(x: Tensor, axis: int | Sequence[int] | None = None, *,
            dim: int | Sequence[int] | None = None) -> Tensor:
    """Remove axes of length 1 (all of them, or the given ones, which must have length 1)."""
    axis = pick_axis("squeeze", axis, dim)
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axes = {_axis("squeeze", a, x.ndim) for a in ((axis,) if isinstance(axis, int) else axis)}
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {x.shape} has length {x.shape[a]}, "
                             f"not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Insert an axis of length 1 at position ``axis`` (negative counts from the end of
    the result, as numpy.expand_dims)."""
    axis = pick_axis("unsqueeze", axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: give the position of the new axis (axis= or dim=)")
    a = _axis("unsqueeze", axis, x.ndim + 1)
    return reshape(x, x.shape[:a] + (1,) + x.shape[a:])


def flatten(x: Tensor, start_axis: int = 0, end_axis: int = -1, *, start_dim: int | None = None,
            end_dim: int | None = None) -> Tensor:
    """Merge the axes start_axis..end_axis (inclusive) into one (PyTorch: start_dim, end_dim)."""
    start_axis = pick_axis("flatten", start_axis, start_dim, 0)
    end_axis = pick_axis("flatten", end_axis, end_dim, -1)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = _axis("flatten", start_axis, x.ndim), _axis("flatten", end_axis, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


# -- indexing ----------------------------------------------------------------------------


def _is_basic(key: Any) -> bool:
    """True for keys made only of ints, slices, None and Ellipsis: numpy's basic indexing,
    where every selected element appears once, so the gradient can be assigned."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, int | slice | np.integer) or k is None or k is Ellipsis
               for k in parts)


class GetItem(Function):
    """y = x[key];  backward: scatter gy into zeros of x's shape at the same positions,
    *adding* where an index repeats (x[[0, 0]] sends two gradients to x[0])."""

    __slots__ = ("key",)
    needs_inputs = False

    def __init__(self, key: Any) -> None:
        self.key = key

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return x[self.key]
        except IndexError as e:
            raise IndexError(f"getitem: cannot index a tensor of shape {x.shape} with "
                             f"{_describe_key(self.key)}: {e}") from None

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        return ScatterAdd(self.key, x.shape)(gy)


class ScatterAdd(Function):
    """y = zeros(shape) with y[key] += x;  the adjoint of ``x[key]``, whose own gradient is
    ``gy[key]``."""

    __slots__ = ("key", "shape")
    needs_inputs = False

    def __init__(self, key: Any, shape: tuple[int, ...]) -> None:
        self.key, self.shape = key, shape

    def forward(self, g: np.ndarray) -> np.ndarray:
        out = np.zeros(self.shape, g.dtype)
        if _is_basic(self.key):
            out[self.key] = g
        else:
            _scatter_add(out, self.key, g)
        return out

    def backward(self, gy: Tensor) -> Tensor:
        return GetItem(self.key)(gy)


def _scatter_add(out: np.ndarray, key: Any, g: np.ndarray) -> None:
    """out[key] += g, where a repeated index adds every contribution (np.add.at).

    One integer array over the first axis (row gathering, embedding lookups) is the
    common case, and np.add.at is slow there (measured 2.3 ms for 3,200 lookups of a
    65 x 32 table): instead sort the indices, add each run of equal ones with
    np.add.reduceat, and assign the sums to the distinct rows (0.3 ms).
    """
    if isinstance(key, np.ndarray) and key.dtype.kind in "iu" and key.size:
        idx = key.ravel()
        if idx.dtype.kind == "i":
            idx = np.where(idx < 0, idx + out.shape[0], idx)  # numpy's negative indices
        rows = g.reshape((idx.size,) + out.shape[1:])
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
        out[sorted_idx[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    else:
        np.add.at(out, key, g)


def _describe_key(key: Any) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "[" + ", ".join(
        f"array{k.shape} of {k.dtype}" if isinstance(k, np.ndarray) else repr(k)
        for k in parts) + "]"


def getitem(x: Tensor, key: Any) -> Tensor:
    """x[key] with numpy's indexing: ints, slices, None, Ellipsis, integer arrays and
    boolean masks (Tensors allowed in the key)."""
    key = _index_key(key)
    if isinstance(key, list):
        key = np.asarray(key)
    return GetItem(key)(x)


# -- joining and splitting ---------------------------------------------------------------


class Concatenate(Function):
    """y = the inputs joined along ``axis``;  backward: cut gy back into the inputs' pieces."""

    __slots__ = ("axis",)
    needs_inputs = False

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate(xs, axis=self.axis)

    def backward(self, gy: Tensor) -> tuple[Tensor, ...]:
        bounds = np.cumsum([x.shape[self.axis] for x in self.inputs])[:-1]
        return split(gy, [int(b) for b in bounds], self.axis)


class Split(Function):
    """The pieces of x cut along ``axis`` at ``bounds``;  backward: join the pieces'
    gradients (zeros for pieces that received none)."""

    __slots__ = ("bounds", "axis")
    needs_inputs = False

    def __init__(self, bounds: list[int], axis: int) -> None:
        self.bounds, self.axis = bounds, axis

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.split(x, self.bounds, axis=self.axis))

    def backward(self, *gys: Tensor | None) -> Tensor:
        x = self.inputs[0]
        sizes = np.diff([0, *self.bounds, x.shape[self.axis]])
        parts = []
        for g, n in zip(gys, sizes, strict=True):
            if g is None:
                shape = list(x.shape)
                shape[self.axis] = int(n)
                g = Tensor.constant(np.zeros(shape, x.dtype))
            parts.append(g)
        return concatenate(parts, self.axis)


def concatenate(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (numpy.concatenate, torch.cat)."""
    axis = pick_axis("concatenate", axis, dim, 0)
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    from chainrule.ops.elementwise import as_tensor

    tensors = [as_tensor(t) for t in tensors]
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("concatenate: 0-d tensors cannot be concatenated; use stack")
    a = _axis("concatenate", axis, first.ndim)
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:a] + t.shape[a + 1:] != \
                first.shape[:a] + first.shape[a + 1:]:
            raise ValueError(f"concatenate: tensor {i} has shape {t.shape} but tensor 0 has "
                             f"shape {first.shape}; all axes except axis {axis} must match")
    if len(tensors) == 1:
        return first
    return Concatenate(a)(*tensors)


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join equally shaped tensors along a new axis (numpy.stack)."""
    axis = pick_axis("stack", axis, dim, 0)
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has shape "
                             f"{shape}; all must be equal")
    a = _axis("stack", axis, len(shape) + 1)
    return concatenate([unsqueeze(t, a) for t in tensors], a)


def split(x: Tensor, indices_or_sections: int | Sequence[int], axis: int = 0, *,
          dim: int | None = None) -> tuple[Tensor, ...]:
    """Cut x along ``axis`` (numpy.split): into N equal parts, or at the given indices.

    PyTorch's ``split`` means something else by the same numbers (chunk sizes), so
    ``dim=`` is refused here rather than silently cutting differently; PyTorch's
    meaning is ``x.split(size, dim)`` (the Tensor method) and ``chunk``.
    """
    if dim is not None:
        raise TypeError("split: chainrule.split follows numpy.split (a number of equal parts "
                        "or cut indices, along axis=); for PyTorch's split into pieces of "
                        "given sizes use x.split(size_or_sizes, dim=...) or chunk(x, n, dim)")
    a = _axis("split", axis, x.ndim)
    n = x.shape[a]
    if isinstance(indices_or_sections, int | np.integer):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {axis} has length {n}, which cannot be cut into "
                             f"{k} equal parts")
        bounds = [n // k * i for i in range(1, k)]
    else:
        bounds = [int(b) for b in indices_or_sections]
    return Split(bounds, a)(x)


# -- PyTorch's argument names ------------------------------------------------------------


def pick_axis(name: str, axis: Any, dim: Any, default: Any = None) -> Any:
    """numpy's ``axis`` or PyTorch's ``dim`` (synonyms): whichever was given, refusing both.

    ``default`` is the signature's default for ``axis``: an ``axis`` still at its
    default counts as not given.
    """
    if dim is None:
        return axis
    if axis is not None and axis != default:
        raise TypeError(f"{name}: got both axis={axis!r} and dim={dim!r}; they are synonyms "
                        f"(numpy's and PyTorch's name): pass one")
    return dim


def pick_keepdims(name: str, keepdims: bool, keepdim: bool | None) -> bool:
    """numpy's ``keepdims`` or PyTorch's ``keepdim`` (synonyms), refusing both."""
    if keepdim is None:
        return bool(keepdims)
    if keepdims:
        raise TypeError(f"{name}: got both keepdims and keepdim; they are synonyms (numpy's "
                        f"and PyTorch's name): pass one")
    return bool(keepdim)
