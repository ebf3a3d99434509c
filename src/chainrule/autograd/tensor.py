"""``Tensor``: a numpy array plus what backpropagation needs to know about it.

A Tensor is a *leaf* when the user made it (``grad_fn is None``) and an
*intermediate* when an op made it (``grad_fn`` is that op's node). ``backward()``
fills ``.grad`` of the leaves that have ``requires_grad=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.autograd.mode import mode

if TYPE_CHECKING:
    from chainrule.autograd.function import Function

Axis = int | Sequence[int] | None


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Attributes:
        data: the numpy array holding the values. Writing into it directly is not
            tracked by autograd (as with PyTorch's ``.data``); use the Tensor's
            in-place methods (``+=``, ``add_``, ``zero_``, ...) so a backward pass
            that still needs the old values can detect the change.
        grad: the accumulated gradient (a Tensor) or None.
        requires_grad: whether backward computes a gradient for this tensor.
        grad_fn: the Function that created this tensor, or None for a leaf.
    """

    __slots__ = ("data", "grad", "_requires_grad", "grad_fn", "_version", "_out_index",
                 "_hooks", "_retains_grad", "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        array = to_array(data, None)
        self.data = array
        self.grad: Tensor | None = None
        self.grad_fn: Function | None = None
        self._version = 0
        self._out_index = 0
        self._hooks: list | None = None
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, array: np.ndarray, requires_grad: bool, grad_fn: Function | None,
              out_index: int) -> Tensor:
        """Wrap an array the caller owns, without copying (the ops' fast path).

        The one check: numpy returns a scalar (``numpy.float64``), not a 0-d array, from
        arithmetic on 0-d arrays (``np.multiply(a0d, 3)``); ``.data`` and ``.grad`` are
        always ndarrays, so in-place updates (``zero_()``, ``z += 1``, ``z[...] = 5``) and
        ``np.asarray(t)`` work on 0-d tensors too. Every forward result, gradient and
        constant passes here, so this is the one place that converts; an isinstance is
        what it costs the other tensors.
        """
        if not isinstance(array, np.ndarray):
            array = np.asarray(array)
        t = object.__new__(cls)
        t.data = array
        t.grad = None
        t._requires_grad = requires_grad
        t.grad_fn = grad_fn
        t._version = 0
        t._out_index = out_index
        t._hooks = None
        t._retains_grad = False
        return t

    @classmethod
    def constant(cls, array: np.ndarray) -> Tensor:
        """Wrap an array the caller owns as a tensor outside the graph (no gradient), without
        copying or checking: the one fast constructor for code above the engine (optimizer
        state, data batches, results)."""
        return cls._make(array, False, None, 0)

    # -- array-like properties -------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> _Size:
        """Number of elements (numpy's ``t.size``), also callable as PyTorch's ``t.size()``
        (the shape) and ``t.size(d)`` (the length of axis d)."""
        return _Size(self.data.shape)

    def dim(self) -> int:
        """Number of axes (PyTorch's name for ``ndim``)."""
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    # -- conversion -------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied). Refused while it requires grad."""
        if self.requires_grad:
            raise RuntimeError("numpy(): this tensor requires grad; call .detach().numpy() "
                               "(or read .data) to get its values without the graph")
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if self._requires_grad:  # as PyTorch: a silent array would lose the gradient
            raise RuntimeError("this tensor requires grad, so it cannot become a numpy array "
                               "(its gradient would be lost); use t.detach().numpy() for its "
                               "values, or chainrule's ops (cr.stack, cr.tensor, ...) to keep "
                               "the graph")
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    # numpy's dispatch protocols: np.exp(t), np.sum(t), ndarray * t, np.dot(W, t) run
    # chainrule's differentiable ops (the tables are in chainrule/ops/numpy_api.py)
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _numpy_api.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable, types: tuple, args: tuple, kwargs: dict
                           ) -> Any:
        return _numpy_api.array_function(func, types, args, kwargs)

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor converts to a Python "
                             f"number; this one has shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is "
                             f"ambiguous; use .any() or .all()")
        return bool(self.data)

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.data)

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor.constant(self.data)

    @property
    def requires_grad(self) -> bool:
        """Whether backward computes a gradient for this tensor (settable on leaves)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        # checked like requires_grad_(): an integer tensor given requires_grad = True by
        # assignment would otherwise receive an integer (truncated) gradient
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require grad; this one is "
                            f"{self.dtype}. Convert it first, e.g. x.astype('float32')")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a tensor an op made; use .detach()")
        self._requires_grad = bool(requires_grad)
        return self

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4,
                               threshold=100, edgeitems=3)
        extras = []
        if self.data.dtype != np.float32 and self.data.dtype.kind not in "iu":
            extras.append(f"dtype={self.data.dtype}")
        elif self.data.dtype.kind in "iu" and self.data.dtype != np.int64:
            extras.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # -- autograd ---------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Backpropagate from this tensor: add d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the gradient of some final scalar with respect to this tensor
        (the seed of the chain rule); it may be omitted only for a one-element
        tensor, where it is 1. ``.grad`` accumulates across calls until zeroed.
        The graph's saved values are freed afterwards unless ``retain_graph``
        (which defaults to ``create_graph``, as in PyTorch). With
        ``create_graph=True`` the backward pass is recorded too, so the gradients
        can be differentiated again.
        """
        from chainrule.autograd.engine import backward

        backward((self,), None if grad is None else (grad,), retain_graph, create_graph)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        The hook may return a Tensor to use instead of the gradient (to clip or
        scale it) or None to leave it unchanged. For a leaf it runs before the
        gradient is added to ``.grad``.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so no "
                               "gradient will ever reach the hook")
        fn = self.grad_fn
        if fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            # Kept on the node, so the hook fires even if the user drops this tensor.
            table = getattr(fn, "output_hooks", None)
            if table is None:
                table = fn.output_hooks = {}
            hooks = table.setdefault(self._out_index, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this intermediate tensor too (leaves always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        self._retains_grad = True

    # -- in-place modification (version counted) ---------------------------------
    def _check_inplace(self, what: str) -> None:
        if self.requires_grad and mode.grad_enabled:
            kind = "a leaf tensor" if self.grad_fn is None else "a tensor in the graph"
            raise RuntimeError(
                f"{what}: in-place change of {kind} that requires grad while the graph is "
                f"recorded would make its gradient wrong. Update parameters inside "
                f"`with chainrule.no_grad():`, or use an out-of-place op (x = x {what[2:3]} y).")

    def bump_version(self) -> None:
        """Record an in-place change made to ``.data`` directly (optimizer steps, loading a
        state dict), so a backward pass that still needs the old values refuses to run."""
        self._version += 1

    def _inplace(self, what: str, ufunc: np.ufunc, other: Any) -> Tensor:
        self._check_inplace(what)
        other = other.data if isinstance(other, Tensor) else other
        try:
            ufunc(self.data, other, out=self.data, casting="same_kind")
        except ValueError as e:
            raise ValueError(f"{what}: cannot update shape {self.shape} in place with shape "
                             f"{np.shape(other)}: {e}") from None
        self._version += 1
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace("x += y", np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace("x -= y", np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace("x *= y", np.multiply, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace("x /= y", np.true_divide, other)

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """In place: self += alpha * other."""
        if alpha != 1.0:
            other = (other.data if isinstance(other, Tensor) else np.asarray(other)) * \
                np.asarray(alpha, self.data.dtype)
        return self._inplace("x += y", np.add, other)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace("x *= y", np.multiply, other)

    def copy_(self, src: Any) -> Tensor:
        """In place: overwrite the values with ``src`` (broadcast, cast to this dtype)."""
        self._check_inplace("copy_")
        np.copyto(self.data, src.data if isinstance(src, Tensor) else np.asarray(src),
                  casting="unsafe")
        self._version += 1
        return self

    def fill_(self, value: float) -> Tensor:
        self._check_inplace("fill_")
        self.data.fill(value)
        self._version += 1
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._check_inplace("x[...] = y")
        self.data[index_key(key)] = value.data if isinstance(value, Tensor) else value
        self._version += 1

    # -- comparisons (no gradient; results are bool tensors) ----------------------
    def _compare(self, other: Any, op: Callable) -> Tensor:
        return Tensor.constant(np.asarray(op(self.data, _raw(other))))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

    __hash__ = object.__hash__  # identity, as for PyTorch tensors

    def any(self) -> bool:
        return bool(self.data.any())

    def all(self) -> bool:
        return bool(self.data.all())

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        return _red.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        return _red.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    # -- differentiable operators and methods (defined in chainrule.ops) -----------
    def __add__(self, other: Any) -> Tensor:
        return _ew.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ew.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ew.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ew.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ew.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ew.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ew.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ew.div(other, self)

    def __neg__(self) -> Tensor:
        return _ew.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __pow__(self, other: Any) -> Tensor:
        return _ew.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ew.pow(other, self)

    def __abs__(self) -> Tensor:
        return _ew.abs(self)

    def __matmul__(self, other: Any) -> Tensor:
        return _la.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _la.matmul(other, self)

    def __getitem__(self, key: Any) -> Tensor:
        return _sh.getitem(self, key)

    def exp(self) -> Tensor:
        return _ew.exp(self)

    def log(self) -> Tensor:
        return _ew.log(self)

    def sqrt(self) -> Tensor:
        return _ew.sqrt(self)

    def abs(self) -> Tensor:
        return _ew.abs(self)

    def pow(self, exponent: Any) -> Tensor:
        return _ew.pow(self, exponent)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        return _ew.clip(self, min, max)

    clamp = clip

    def maximum(self, other: Any) -> Tensor:
        return _ew.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return _ew.minimum(self, other)

    def sigmoid(self) -> Tensor:
        return _act.sigmoid(self)

    def tanh(self) -> Tensor:
        return _act.tanh(self)

    def relu(self) -> Tensor:
        return _act.relu(self)

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        return _act.softmax(self, axis, dim=dim)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        return _act.log_softmax(self, axis, dim=dim)

    def sum(self, axis: Axis = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return _red.sum(self, axis, keepdims, **torch_names)

    def mean(self, axis: Axis = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return _red.mean(self, axis, keepdims, **torch_names)

    def max(self, axis: Axis = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return _red.max(self, axis, keepdims, **torch_names)

    def min(self, axis: Axis = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return _red.min(self, axis, keepdims, **torch_names)

    def var(self, axis: Axis = None, ddof: int = 0, keepdims: bool = False,
            **torch_names: Any) -> Tensor:
        return _red.var(self, axis, ddof, keepdims, **torch_names)

    def std(self, axis: Axis = None, ddof: int = 0, keepdims: bool = False,
            **torch_names: Any) -> Tensor:
        return _red.std(self, axis, ddof, keepdims, **torch_names)

    def reshape(self, *shape: Any) -> Tensor:
        return _sh.reshape(self, shape[0] if len(shape) == 1 else shape)

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def flatten(self, start_axis: int = 0, end_axis: int = -1, **torch_names: Any) -> Tensor:
        return _sh.flatten(self, start_axis, end_axis, **torch_names)

    def transpose(self, *axes: Any) -> Tensor:
        """numpy semantics: no argument reverses the axes; otherwise a permutation,
        or (PyTorch style) exactly two axes to swap."""
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return _sh.transpose(self, axes or None)

    def permute(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return _sh.permute(self, axes)

    @property
    def T(self) -> Tensor:
        return _sh.transpose(self, None)

    @property
    def mT(self) -> Tensor:
        """Swap the last two axes (a batch of matrices transposed)."""
        return _sh.swapaxes(self, -1, -2)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return _sh.swapaxes(self, axis1, axis2)

    def squeeze(self, axis: Axis = None, *, dim: Axis = None) -> Tensor:
        return _sh.squeeze(self, axis, dim=dim)

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return _sh.unsqueeze(self, axis, dim=dim)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return _sh.broadcast_to(self, tuple(shape))

    def matmul(self, other: Any) -> Tensor:
        return _la.matmul(self, other)

    def astype(self, dtype: Any) -> Tensor:
        """A copy in another dtype; differentiable between floating dtypes."""
        return _ew.cast(self, dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # -- PyTorch's conversions and shape names ----------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """PyTorch's ``to``: ``t.to(dtype)``, ``t.to("cpu")``, ``t.to(other)`` (its dtype),
        ``t.to(device=..., dtype=...)``; differentiable like ``astype``. chainrule runs on
        the CPU only, so any other device is refused."""
        dtype = to_arguments("Tensor.to", args, kwargs)
        return self if dtype is None else self.astype(dtype)

    def cpu(self) -> Tensor:
        return self

    def ravel(self) -> Tensor:
        """The elements as a 1-D tensor (numpy.ravel, torch.ravel); differentiable."""
        return _sh.reshape(self, -1)

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0
              ) -> tuple[Tensor, ...]:
        """PyTorch's ``split``: pieces of the given size (or sizes) along ``dim``
        (``chainrule.split`` is numpy's, by number of parts or cut indices)."""
        return _sh.split_sizes(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return _sh.chunk(self, chunks, dim)

    # -- more elementwise functions (chainrule.ops.elementwise) -------------------------
    def sin(self) -> Tensor:
        return _ew.sin(self)

    def cos(self) -> Tensor:
        return _ew.cos(self)

    def tan(self) -> Tensor:
        return _ew.tan(self)

    def arcsin(self) -> Tensor:
        return _ew.arcsin(self)

    def arccos(self) -> Tensor:
        return _ew.arccos(self)

    def arctan(self) -> Tensor:
        return _ew.arctan(self)

    asin, acos, atan = arcsin, arccos, arctan

    def sinh(self) -> Tensor:
        return _ew.sinh(self)

    def cosh(self) -> Tensor:
        return _ew.cosh(self)

    def log1p(self) -> Tensor:
        return _ew.log1p(self)

    def expm1(self) -> Tensor:
        return _ew.expm1(self)

    def log2(self) -> Tensor:
        return _ew.log2(self)

    def log10(self) -> Tensor:
        return _ew.log10(self)

    def sign(self) -> Tensor:
        return _ew.sign(self)

    def floor(self) -> Tensor:
        return _ew.floor(self)

    def ceil(self) -> Tensor:
        return _ew.ceil(self)

    def round(self, decimals: int = 0) -> Tensor:
        return _ew.round(self, decimals)

    def __round__(self, ndigits: int | None = None) -> Tensor:
        return _ew.round(self, ndigits or 0)

    def remainder(self, other: Any) -> Tensor:
        return _ew.remainder(self, other)

    def __mod__(self, other: Any) -> Tensor:
        return _ew.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _ew.remainder(other, self)

    def logaddexp(self, other: Any) -> Tensor:
        return _ew.logaddexp(self, other)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return _sh.masked_fill(self, mask, value)

    # -- more reductions and scans (chainrule.ops.reductions) ----------------------------
    def logsumexp(self, axis: int = -1, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return _act.logsumexp(self, axis, keepdims, **torch_names)

    def prod(self, axis: Axis = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return _red.prod(self, axis, keepdims, **torch_names)

    def cumsum(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return _red.cumsum(self, axis, dim=dim)

    def cumprod(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return _red.cumprod(self, axis, dim=dim)

    # -- more shape ops (chainrule.ops.shape) ----------------------------------------------
    def flip(self, *dims: Any) -> Tensor:
        if len(dims) == 1 and not isinstance(dims[0], int):
            dims = tuple(dims[0])
        return _sh.flip(self, dims or None)

    def roll(self, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None
             ) -> Tensor:
        return _sh.roll(self, shifts, dims)

    def repeat(self, *sizes: Any) -> Tensor:
        """PyTorch's ``repeat``: the whole tensor ``sizes[d]`` times along axis d (numpy's
        ``tile``; numpy's elementwise ``repeat`` is ``repeat_interleave``)."""
        if len(sizes) == 1 and not isinstance(sizes[0], int):
            sizes = tuple(sizes[0])
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: {len(sizes)} repetition count(s) for a tensor with "
                             f"{self.ndim} axes; give one per axis (or more)")
        return _sh.tile(self, sizes)

    def tile(self, *reps: Any) -> Tensor:
        if len(reps) == 1 and not isinstance(reps[0], int):
            reps = tuple(reps[0])
        return _sh.tile(self, reps)

    def repeat_interleave(self, repeats: Any, dim: int | None = None) -> Tensor:
        return _sh.repeat(self, repeats, dim)

    def expand(self, *sizes: Any) -> Tensor:
        """PyTorch's ``expand``: broadcast to ``sizes``, where -1 keeps an axis's length."""
        if len(sizes) == 1 and not isinstance(sizes[0], int):
            sizes = tuple(sizes[0])
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 and i >= lead else n
                      for i, n in enumerate(sizes))
        return _sh.broadcast_to(self, shape)

    def gather(self, dim: int, index: Any) -> Tensor:
        return _sh.gather(self, dim, index)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        return _sh.scatter_add(self, dim, index, src)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return _sh.index_select(self, dim, index)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = True) -> Any:
        """(values, indices) along ``dim``, as torch.sort (the values are differentiable)."""
        return _sh.sort(self, dim, descending)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = True) -> Tensor:
        return _sh.argsort(self, dim, descending)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return _sh.topk(self, k, dim, largest, sorted)

    # -- more linear algebra (chainrule.ops.linalg) -----------------------------------------
    def dot(self, other: Any) -> Tensor:
        return _la.dot(self, other)

    def outer(self, other: Any) -> Tensor:
        return _la.outer(self, other)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1, **torch_names: Any
                 ) -> Tensor:
        return _la.diagonal(self, offset, axis1, axis2, **torch_names)

    def diag(self, diagonal: int = 0) -> Tensor:
        return _la.diag(self, diagonal)

    def trace(self) -> Tensor:
        return _la.trace(self)

    def tril(self, diagonal: int = 0) -> Tensor:
        return _la.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _la.triu(self, diagonal)


class _Size(int):
    """What ``t.size`` returns: the element count (numpy's meaning, an int), callable as
    PyTorch's ``t.size()`` (the shape tuple) and ``t.size(d)`` (the length of axis d)."""

    def __new__(cls, shape: tuple[int, ...]) -> _Size:
        self = super().__new__(cls, int(np.prod(shape, dtype=np.int64)))
        self.shape = shape
        return self

    def __call__(self, dim: int | None = None) -> tuple[int, ...] | int:
        if dim is None:
            return self.shape
        if not -len(self.shape) <= dim < len(self.shape):
            raise IndexError(f"size: dimension {dim} is out of range for a tensor with "
                             f"{len(self.shape)} dimensions")
        return self.shape[dim]


_DEVICES = ("cpu", "cuda", "mps", "xpu", "meta")


def to_arguments(name: str, args: tuple, kwargs: dict) -> np.dtype | None:
    """The dtype asked for by PyTorch-style ``to(...)`` arguments (None: keep it).

    Accepts a dtype, a device string ("cpu", or "cuda" etc., which is refused: chainrule
    runs on the CPU only), a tensor (meaning its dtype), and the keywords ``device``,
    ``dtype``, ``copy`` and ``non_blocking`` (the last two change nothing here).
    """
    unknown = set(kwargs) - {"device", "dtype", "copy", "non_blocking"}
    if unknown:
        raise TypeError(f"{name}: unexpected keyword argument(s) {sorted(unknown)}")
    dtype, items = kwargs.get("dtype"), [*args]
    if kwargs.get("device") is not None:
        items.append(kwargs["device"])
    for item in items:
        if isinstance(item, Tensor):
            dtype = item.dtype
        elif isinstance(item, str) and item.split(":")[0] in _DEVICES:
            if item.split(":")[0] != "cpu":
                raise RuntimeError(f"{name}({item!r}): chainrule runs on the CPU only (numpy); "
                                   f"use 'cpu' or leave the device out")
        else:
            try:
                dtype = np.dtype(item)
            except TypeError:
                raise TypeError(f"{name}: expected a dtype, a device ('cpu') or a tensor, got "
                                f"{item!r}") from None
    return None if dtype is None else np.dtype(dtype)


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def index_key(key: Any) -> Any:
    """An indexing key with any Tensors in it replaced by their arrays."""
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, tuple):
        return tuple(k.data if isinstance(k, Tensor) else k for k in key)
    return key


_FLOAT_DEFAULT = np.float32


def to_array(data: Any, dtype: Any) -> np.ndarray:
    """Convert user data to an array: Python floats become float32 (chainrule's default),
    numpy arrays keep their dtype unless ``dtype`` is given."""
    if isinstance(data, Tensor):
        data = data.data
    from_numpy = isinstance(data, np.ndarray | np.generic)
    try:
        array = np.array(data, dtype=dtype, copy=True)
    except (TypeError, ValueError) as e:
        raise TypeError(f"tensor(): cannot make a numeric array of {type(data).__name__} "
                        f"data ({e}); expected numbers, nested lists of numbers of equal "
                        f"lengths, or a numpy array") from None
    kind = array.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"tensor(): data of dtype {array.dtype} is not supported; "
                        f"expected bool, integer or floating-point numbers")
    if dtype is None and kind == "f" and not from_numpy and array.dtype != _FLOAT_DEFAULT:
        array = array.astype(_FLOAT_DEFAULT)
    return array


# The ops import Tensor from this module, so they are imported after the class exists.
from chainrule.ops import activations as _act  # noqa: E402
from chainrule.ops import elementwise as _ew  # noqa: E402
from chainrule.ops import linalg as _la  # noqa: E402
from chainrule.ops import numpy_api as _numpy_api  # noqa: E402
from chainrule.ops import reductions as _red  # noqa: E402
from chainrule.ops import shape as _sh  # noqa: E402
