"""Shape ops: they move values around without changing them, so each backward moves
the gradient back the same way (reshape back, transpose back, scatter back, sum back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor, index_key
from chainrule.ops.kernels import normalize_axis

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
        if axes == tuple(range(lead)) and lead:  # a bias's broadcast: one product
            return backend.sum_leading(x, len(self.shape)).reshape(self.shape)
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
    a, b = normalize_axis("swapaxes", axis1, x.ndim), normalize_axis("swapaxes", axis2, x.ndim)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return permute(x, order)


def squeeze(x: Tensor, axis: int | Sequence[int] | None = None, *,
            dim: int | Sequence[int] | None = None) -> Tensor:
    """Remove axes of length 1 (all of them, or the given ones, which must have length 1)."""
    axis = pick_axis("squeeze", axis, dim)
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axes = {normalize_axis("squeeze", a, x.ndim)
            for a in ((axis,) if isinstance(axis, int) else axis)}
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
    a = normalize_axis("unsqueeze", axis, x.ndim + 1)
    return reshape(x, x.shape[:a] + (1,) + x.shape[a:])


def flatten(x: Tensor, start_axis: int = 0, end_axis: int = -1, *, start_dim: int | None = None,
            end_dim: int | None = None) -> Tensor:
    """Merge the axes start_axis..end_axis (inclusive) into one (PyTorch: start_dim, end_dim)."""
    start_axis = pick_axis("flatten", start_axis, start_dim, 0)
    end_axis = pick_axis("flatten", end_axis, end_dim, -1)
    if x.ndim == 0:
        return reshape(x, (1,))
    s = normalize_axis("flatten", start_axis, x.ndim)
    e = normalize_axis("flatten", end_axis, x.ndim)
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
    key = index_key(key)
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
    a = normalize_axis("concatenate", axis, first.ndim)
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
    a = normalize_axis("stack", axis, len(shape) + 1)
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
    a = normalize_axis("split", axis, x.ndim)
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


# -- reversing, rolling, tiling, repeating, padding -----------------------------------------


def _axes_tuple(name: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """One axis or several (None: all of them) as non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    return tuple(normalize_axis(name, int(a), ndim) for a in axes)


class Flip(Function):
    """y = x with the order of the elements along ``axes`` reversed;  backward: reverse gy
    the same way (the permutation is its own inverse)."""

    __slots__ = ("axes",)
    needs_inputs = False

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.flip(x, self.axes).copy()

    def backward(self, gy: Tensor) -> Tensor:
        return Flip(self.axes)(gy)


class Roll(Function):
    """y = x shifted cyclically by ``shifts`` along ``axes`` (None: over the flattened
    elements);  backward: roll gy back by -shifts."""

    __slots__ = ("shifts", "axes")
    needs_inputs = False

    def __init__(self, shifts: int | tuple[int, ...], axes: int | tuple[int, ...] | None) -> None:
        self.shifts, self.axes = shifts, axes

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.roll(x, self.shifts, self.axes)

    def backward(self, gy: Tensor) -> Tensor:
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return Roll(back, self.axes)(gy)


class Tile(Function):
    """y = x repeated ``reps[d]`` times along each axis d (numpy.tile, torch.tile, and
    PyTorch's ``Tensor.repeat``);  backward: cut gy into its copies and add them up, as
    gy reshaped to (r_0, n_0, r_1, n_1, ...) summed over the r axes."""

    __slots__ = ("reps",)
    needs_inputs = False

    def __init__(self, reps: tuple[int, ...]) -> None:
        self.reps = reps

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.tile(x, self.reps)

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        d = max(x.ndim, len(self.reps))
        sizes = (1,) * (d - x.ndim) + x.shape
        reps = (1,) * (d - len(self.reps)) + self.reps
        interleaved = reshape(gy, tuple(v for pair in zip(reps, sizes, strict=True) for v in pair))
        from chainrule.ops.reductions import sum as _sum

        return reshape(_sum(interleaved, tuple(range(0, 2 * d, 2))), x.shape)


class Pad(Function):
    """y = x surrounded by ``value``: widths[d] = (before, after) extra entries on axis d;
    dy/dx = 1 at the positions x was copied to, so backward cuts that block out of gy."""

    __slots__ = ("widths", "value")
    needs_inputs = False

    def __init__(self, widths: tuple[tuple[int, int], ...], value: float) -> None:
        self.widths, self.value = widths, value

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.pad(x, self.widths, constant_values=np.asarray(self.value, x.dtype))

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0]
        return getitem(gy, tuple(slice(b, b + n) for (b, _), n in zip(self.widths, x.shape,
                                                                        strict=True)))


def flip(x: Tensor, axis: int | Sequence[int] | None = None, *,
         dims: int | Sequence[int] | None = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (all axes when None: numpy.flip);
    PyTorch's ``dims`` is accepted."""
    axes = _axes_tuple("flip", pick_axis("flip", axis, dims), x.ndim)
    return Flip(axes)(x) if axes else x


def roll(x: Tensor, shifts: int | Sequence[int], axis: int | Sequence[int] | None = None, *,
         dims: int | Sequence[int] | None = None) -> Tensor:
    """Shift elements cyclically (numpy.roll, torch.roll): by ``shifts`` along ``axis``, or
    over the flattened tensor when no axis is given."""
    axis = pick_axis("roll", axis, dims)
    if axis is not None:
        axis = _axes_tuple("roll", axis, x.ndim)
        if not isinstance(shifts, int | np.integer):
            shifts = tuple(int(s) for s in shifts)
            if len(shifts) != len(axis):
                raise ValueError(f"roll: {len(shifts)} shifts for {len(axis)} axes")
    shifts = int(shifts) if isinstance(shifts, int | np.integer) else tuple(shifts)
    return Roll(shifts, axis)(x)


def tile(x: Tensor, reps: int | Sequence[int]) -> Tensor:
    """Repeat the whole tensor ``reps[d]`` times along axis d (numpy.tile, torch.tile);
    fewer reps than axes repeat the last axes, more add leading axes."""
    reps = (int(reps),) if isinstance(reps, int | np.integer) else tuple(int(r) for r in reps)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repetitions must be >= 0, got {reps}")
    return Tile(reps)(x)


def repeat(x: Tensor, repeats: int | Sequence[int] | Tensor, axis: int | None = None, *,
           dim: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times along ``axis`` (numpy.repeat; the flattened
    tensor when None), as ``torch.repeat_interleave``. PyTorch's ``Tensor.repeat`` is
    numpy's ``tile``: that is what ``x.repeat(*sizes)`` does.

    Built on ``index_select`` (row i of the result is row index[i] of x), so the
    gradient of each element is the sum of the gradients of its copies.
    """
    axis = pick_axis("repeat", axis, dim)
    if axis is None:
        x, axis = reshape(x, -1), 0
    a = normalize_axis("repeat", axis, x.ndim)
    counts = np.asarray(repeats.data if isinstance(repeats, Tensor) else repeats)
    if counts.ndim > 1 or (counts.ndim == 1 and counts.size != x.shape[a]) or (counts < 0).any():
        raise ValueError(f"repeat: repeats must be one count >= 0, or one per element of axis "
                         f"{axis} ({x.shape[a]}), got {counts.tolist()}")
    return index_select(x, a, np.repeat(np.arange(x.shape[a]), counts))


repeat_interleave = repeat


def pad(x: Tensor, pad_width: int | Sequence[Any], mode: str = "constant",
        constant_values: float = 0.0) -> Tensor:
    """numpy.pad with ``mode="constant"``: ``pad_width`` is one int (every side of every
    axis), one (before, after) pair for every axis, or a pair per axis from the first.
    (``chainrule.functional.pad`` takes PyTorch's order instead.)"""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is differentiable here, got {mode!r}")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"pad: widths must be >= 0, got {np.asarray(pad_width).tolist()}")
    return Pad(tuple((int(b), int(e)) for b, e in widths), float(constant_values))(x)


_numpy_pad = pad  # torch_pad's argument is called pad, as PyTorch's


def torch_pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0
              ) -> Tensor:
    """torch.nn.functional.pad: ``pad`` = (left, right) for the last axis, then (left, right)
    for the one before it, and so on; only ``mode="constant"``."""
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected pairs (left, right) for at most {x.ndim} axes, counted "
                         f"from the last, got {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return _numpy_pad(x, widths, mode, value)


# -- selecting along an axis: gather, scatter_add, index_select, sort ------------------------


class ValuesIndices(tuple):
    """(values, indices) as ``torch.sort``/``topk`` return them, also by name."""

    __slots__ = ()

    def __new__(cls, values: Tensor, indices: Tensor) -> ValuesIndices:
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


def _index_array(name: str, index: Any) -> np.ndarray:
    index = np.asarray(index.data if isinstance(index, Tensor) else index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name}: the index must hold integers, got dtype {index.dtype}")
    return index.astype(np.intp, copy=False)


def _along_key(index: np.ndarray, axis: int, sizes: Sequence[int]) -> tuple[np.ndarray, ...]:
    """The advanced-indexing key that picks x[..., index[...], ...] along ``axis``: for every
    other axis d an arange of length sizes[d], shaped to broadcast against ``index``."""
    key = []
    for d, n in enumerate(sizes):
        if d == axis:
            key.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            key.append(np.arange(n).reshape(shape))
    return tuple(key)


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """torch.gather: y[i][j] = x[index[i][j]][j] for dim 0 (and likewise for any dim);
    ``index`` has x's number of axes and, off ``dim``, lengths at most x's.

    It is the indexing x[I] for the key I that ``index`` describes, so its gradient is
    getitem's: gy scattered back with repeated positions adding up.
    """
    index = _index_array("gather", index)
    a = normalize_axis("gather", dim, x.ndim)
    if index.ndim != x.ndim or any(index.shape[d] > x.shape[d] for d in range(x.ndim)
                                   if d != a):
        raise ValueError(f"gather: index of shape {index.shape} does not fit x of shape "
                         f"{x.shape} (same number of axes; off dim {dim} no longer than x's)")
    return GetItem(_along_key(index, a, index.shape))(x)


def take_along_axis(x: Tensor, indices: Any, axis: int) -> Tensor:
    """numpy.take_along_axis: like ``gather``, with ``indices`` broadcast against x off
    ``axis`` (numpy's rule)."""
    index = _index_array("take_along_axis", indices)
    a = normalize_axis("take_along_axis", axis, x.ndim)
    if index.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices have {index.ndim} axes but x has {x.ndim}")
    return GetItem(_along_key(index, a, x.shape))(x)


def scatter_add(x: Tensor, dim: int, index: Any, src: Any) -> Tensor:
    """torch.scatter_add: y = x, then y[index[i][j]][j] += src[i][j] for dim 0 (likewise for
    any dim), repeated positions adding up. dy/dx = 1, and dy/dsrc picks gy at the same
    positions (gather)."""
    from chainrule.ops.elementwise import as_tensor

    index = _index_array("scatter_add", index)
    src = as_tensor(src, x)
    a = normalize_axis("scatter_add", dim, x.ndim)
    if index.ndim != x.ndim or src.ndim != x.ndim or any(
            index.shape[d] > src.shape[d] or (d != a and index.shape[d] > x.shape[d])
            for d in range(x.ndim)):
        raise ValueError(f"scatter_add: index {index.shape} must have x's ({x.shape}) number "
                         f"of axes, be no longer than src {src.shape}, and off dim {dim} no "
                         f"longer than x")
    if src.shape != index.shape:  # PyTorch uses only the leading block of a larger src
        src = getitem(src, tuple(slice(0, n) for n in index.shape))
    return x + ScatterAdd(_along_key(index, a, index.shape), x.shape)(src)


def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    """torch.index_select: the entries of x at positions ``index`` (1-D) along ``dim``;
    the gradient of an entry is the sum over the positions that selected it."""
    index = _index_array("index_select", index)
    if index.ndim != 1:
        raise ValueError(f"index_select: the index must be 1-D, got shape {index.shape}")
    a = normalize_axis("index_select", dim, x.ndim)
    return GetItem(index if a == 0 else (slice(None),) * a + (index,))(x)


def argsort(x: Tensor, axis: int | None = -1, descending: bool = False, *,
            dim: int | None = None, stable: bool = True) -> Tensor:
    """Positions that sort x along ``axis`` (None: the flattened tensor), stable (ties keep
    their order); an int64 tensor outside the graph."""
    axis = pick_axis("argsort", axis, dim, -1)
    data = x.data.ravel() if axis is None else x.data
    if axis is not None:
        normalize_axis("argsort", axis, x.ndim)
    if descending:  # negated, so a stable sort keeps ties in their original order
        data = -(data.astype(np.int64) if data.dtype.kind in "ub" else data)
    return Tensor.constant(np.argsort(data, axis=-1 if axis is None else axis, kind="stable"))


def sort(x: Tensor, axis: int | None = -1, descending: bool = False, *,
         dim: int | None = None, stable: bool = True) -> ValuesIndices:
    """(values, indices) of x sorted along ``axis`` (torch.sort; numpy.sort's values are
    ``.values``). The values are gathered at the indices, so they are differentiable:
    each element's gradient is the gradient of the position it moved to."""
    axis = pick_axis("sort", axis, dim, -1)
    if axis is None:
        x, axis = reshape(x, -1), -1
    order = argsort(x, axis, descending)
    return ValuesIndices(gather(x, axis, order.data), order)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
         ) -> ValuesIndices:
    """(values, indices) of the ``k`` largest (or, with largest=False, smallest) entries
    along ``dim`` (torch.topk), in sorted order; the values are differentiable."""
    a = normalize_axis("topk", dim, x.ndim)
    if not 0 <= k <= x.shape[a]:
        raise ValueError(f"topk: k={k} is out of range for axis {dim} of length {x.shape[a]}")
    order = np.take(argsort(x, a, descending=largest).data, np.arange(k), axis=a)
    return ValuesIndices(gather(x, a, order), Tensor.constant(order))


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    """x with ``value`` where ``mask`` is True (mask broadcast to x's shape; torch.masked_fill);
    dy/dx = 1 where the mask is False, 0 where it is True."""
    from chainrule.ops.elementwise import where

    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: the mask must be bool, got dtype {mask.dtype}")
    try:
        fits = np.broadcast_shapes(mask.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: a mask of shape {mask.shape} does not broadcast to "
                         f"x's shape {x.shape}")
    return where(mask, value, x)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.chunk: ``chunks`` pieces along ``dim`` of ceil(n / chunks) entries each (the
    last may be smaller, and there may be fewer pieces)."""
    a = normalize_axis("chunk", dim, x.ndim)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    size = -(-x.shape[a] // chunks)
    return split_sizes(x, size, a)


def split_sizes(x: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0
                ) -> tuple[Tensor, ...]:
    """torch.split: pieces of ``split_size`` entries along ``dim`` (the last may be smaller),
    or of the given sizes, which must add up to the axis length."""
    a = normalize_axis("split", dim, x.ndim)
    n = x.shape[a]
    if isinstance(split_size_or_sections, int | np.integer):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split: the piece size must be positive, got {step}")
        sizes = [step] * (n // step) + ([n % step] if n % step else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, but axis "
                             f"{dim} has length {n}")
    bounds = list(np.cumsum(sizes)[:-1])
    return Split([int(b) for b in bounds], a)(x) if len(sizes) > 1 else (x,)
