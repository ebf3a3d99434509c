"""numpy functions on Tensors keep the graph (numpy's dispatch protocols, NEP 13 and 18).

``np.tanh(np.dot(W, x))`` with W a Tensor runs chainrule's ``tanh`` and ``dot``, so the
result is a Tensor and backpropagates, as in HIPS autograd. The tables below say which
numpy ufunc or function becomes which chainrule op. A numpy function with no
differentiable counterpart refuses a tensor that requires grad, with a TypeError that
names the alternative, rather than returning a plain array and losing the gradient;
on tensors without grad it runs on their values, as on arrays. Functions whose results
carry no gradient (comparisons, np.shape, np.allclose, ...) always run on the values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.ops import activations as _act
from chainrule.ops import elementwise as _ew
from chainrule.ops import linalg as _la
from chainrule.ops import reductions as _red
from chainrule.ops import shape as _sh

# -- ufuncs ------------------------------------------------------------------------------

UFUNCS: dict[np.ufunc, Callable[..., Tensor]] = {
    np.add: _ew.add, np.subtract: _ew.sub, np.multiply: _ew.mul, np.true_divide: _ew.div,
    np.negative: _ew.neg, np.positive: lambda x: _ew.as_tensor(x), np.power: _ew.pow,
    np.float_power: _ew.pow, np.square: lambda x: _ew.pow(_ew.as_tensor(x), 2),
    np.reciprocal: lambda x: _ew.div(1.0, x), np.exp: _ew.exp, np.exp2: lambda x: _ew.pow(2.0, x),
    np.log: _ew.log, np.log2: _ew.log2, np.log10: _ew.log10, np.log1p: _ew.log1p,
    np.expm1: _ew.expm1, np.sqrt: _ew.sqrt, np.absolute: _ew.abs, np.maximum: _ew.maximum,
    np.minimum: _ew.minimum, np.sin: _ew.sin, np.cos: _ew.cos, np.tan: _ew.tan,
    np.arcsin: _ew.arcsin, np.arccos: _ew.arccos, np.arctan: _ew.arctan, np.sinh: _ew.sinh,
    np.cosh: _ew.cosh, np.tanh: _act.tanh, np.sign: _ew.sign, np.floor: _ew.floor,
    np.ceil: _ew.ceil, np.rint: _ew.round, np.remainder: _ew.remainder,
    np.logaddexp: _ew.logaddexp, np.matmul: _la.matmul,
}
REDUCE = {np.add: _red.sum, np.multiply: _red.prod, np.maximum: _red.max, np.minimum: _red.min}
ACCUMULATE = {np.add: _red.cumsum, np.multiply: _red.cumprod}

# what to write instead, for numpy functions people reach for that have no counterpart here
HINTS = {
    "arctan2": "cr.arctan(y / x) where x > 0", "hypot": "cr.sqrt(a * a + b * b)",
    "arctanh": "0.5 * cr.log((1 + x) / (1 - x))", "fmod": "cr.remainder (the sign of b)",
    "floor_divide": "cr.floor(a / b)", "trunc": "cr.sign(x) * cr.floor(cr.abs(x))",
    "norm": "cr.sqrt((x * x).sum())", "median": "cr.sort(x, dim).values at the middle",
    "array": "cr.stack([...]) or cr.tensor(values)", "cbrt": "cr.sign(x) * cr.abs(x) ** (1/3)",
}

# numpy functions whose results carry no gradient: they run on the values of any tensor
VALUE_ONLY = {
    np.shape, np.ndim, np.size, np.allclose, np.isclose, np.array_equal, np.array_equiv,
    np.count_nonzero, np.nonzero, np.flatnonzero, np.argwhere, np.any, np.all,
    np.searchsorted, np.result_type, np.iscomplexobj, np.isrealobj, np.may_share_memory,
    np.shares_memory,
}


def _raw(value: Any) -> Any:
    """Tensors (also inside lists and tuples) replaced by their arrays."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, list | tuple):
        return type(value)(_raw(v) for v in value)
    return value


def _needs_grad(value: Any) -> Tensor | None:
    """The first tensor (also inside lists and tuples) that requires grad, or None."""
    if isinstance(value, Tensor):
        return value if value.requires_grad else None
    if isinstance(value, list | tuple | dict):
        for v in value.values() if isinstance(value, dict) else value:
            found = _needs_grad(v)
            if found is not None:
                return found
    return None


def _refuse(name: str, tensor: Tensor, why: str = "") -> TypeError:
    hint = HINTS.get(name.rsplit(".", 1)[-1])
    instead = f"write {hint}" if hint else "use chainrule's ops (see docs/autograd.md)"
    return TypeError(
        f"np.{name}{why} has no differentiable chainrule counterpart, and a tensor of shape "
        f"{tensor.shape} passed to it requires grad, so its gradient would be lost: {instead}, "
        f"or call it on t.detach().numpy() if you want the values only")


def _bool_valued(ufunc: np.ufunc) -> bool:
    """True for comparisons, isnan, logical_and, ...: results with no gradient to lose."""
    return all(t.endswith("?") for t in ufunc.types if not t.startswith("O"))


def _write_out(out: tuple) -> Any:
    """What a ufunc with ``out=`` returns: the targets as given (a Tensor's version counted)."""
    for target in out:
        if isinstance(target, Tensor):
            target.bump_version()
    return out[0] if len(out) == 1 else out


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """Tensor.__array_ufunc__: run ``ufunc`` as chainrule's op on Tensor operands."""
    tracked = _needs_grad((inputs, kwargs.get("out")))
    if kwargs.get("out") is not None:
        if tracked is not None:
            raise TypeError(f"np.{ufunc.__name__}(..., out=...): writing into an array or "
                            f"tensor in place is not recorded for a tensor that requires "
                            f"grad; write y = np.{ufunc.__name__}(...) instead")
        getattr(ufunc, method)(*_raw(inputs), **{**kwargs, "out": _raw(kwargs["out"])})
        return _write_out(kwargs["out"])
    if method == "__call__" and _bool_valued(ufunc):
        return Tensor.constant(np.asarray(ufunc(*_raw(inputs), **kwargs)))
    op = _differentiable(ufunc, method, inputs, kwargs)
    if op is not None:
        return op()
    if tracked is not None:
        suffix = "" if method == "__call__" else f".{method}"
        raise _refuse(ufunc.__name__ + suffix, tracked)
    result = getattr(ufunc, method)(*_raw(inputs), **kwargs)
    if isinstance(result, tuple):
        return tuple(Tensor.constant(np.asarray(r)) for r in result)
    return Tensor.constant(np.asarray(result))


def _differentiable(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict
                    ) -> Callable[[], Tensor] | None:
    """The chainrule op a ufunc call becomes (a thunk), or None when there is none."""
    extra = {k: v for k, v in kwargs.items() if k not in ("axis", "keepdims")}
    if extra.get("dtype") is None:
        extra.pop("dtype", None)
    if extra:  # where=, casting=, dtype=, initial=: numpy-only options
        return None
    if method == "__call__" and ufunc in UFUNCS and not kwargs:
        return lambda: UFUNCS[ufunc](*inputs)
    if method == "reduce" and ufunc in REDUCE:
        x = _ew.as_tensor(inputs[0])
        return lambda: REDUCE[ufunc](x, kwargs.get("axis", 0), kwargs.get("keepdims", False))
    if method == "accumulate" and ufunc in ACCUMULATE and "keepdims" not in kwargs:
        return lambda: ACCUMULATE[ufunc](_ew.as_tensor(inputs[0]), kwargs.get("axis", 0))
    if method == "outer" and ufunc in UFUNCS and ufunc.nin == 2 and not kwargs:
        a, b = _ew.operands(*inputs)
        return lambda: UFUNCS[ufunc](_sh.reshape(a, a.shape + (1,) * b.ndim), b)
    return None


# -- functions ---------------------------------------------------------------------------

FUNCTIONS: dict[Callable, Callable[..., Any]] = {}


def implements(*funcs: Callable) -> Callable:
    """Register a numpy-signature adapter for the numpy functions ``funcs``."""
    def register(adapter: Callable) -> Callable:
        for f in funcs:
            FUNCTIONS[f] = adapter
        return adapter
    return register


def _only(name: str, **options: Any) -> None:
    """Refuse numpy options that have no meaning for a differentiable result."""
    for key, value in options.items():
        if value is not None and value is not np._NoValue:
            raise TypeError(f"np.{name}: {key}= is not supported on Tensors (the result is a "
                            f"new Tensor in the graph); leave it out")


@implements(np.sum)
def _sum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         initial: Any = None, where: Any = None) -> Tensor:
    _only("sum", dtype=dtype, out=out, initial=initial, where=where)
    return _red.sum(_ew.as_tensor(a), axis, bool(keepdims))


@implements(np.prod)
def _prod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
          initial: Any = None, where: Any = None) -> Tensor:
    _only("prod", dtype=dtype, out=out, initial=initial, where=where)
    return _red.prod(_ew.as_tensor(a), axis, bool(keepdims))


@implements(np.mean)
def _mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
          where: Any = None) -> Tensor:
    _only("mean", dtype=dtype, out=out, where=where)
    return _red.mean(_ew.as_tensor(a), axis, bool(keepdims))


def _extreme(name: str, reduce: Callable) -> Callable:
    def adapter(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
                initial: Any = None, where: Any = None) -> Tensor:
        _only(name, out=out, initial=initial, where=where)
        return reduce(_ew.as_tensor(a), axis, bool(keepdims))
    return adapter


implements(np.max, np.amax)(_extreme("max", _red.max))
implements(np.min, np.amin)(_extreme("min", _red.min))


def _spread(name: str, reduce: Callable) -> Callable:
    def adapter(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
                keepdims: bool = False, where: Any = None, mean: Any = None,
                correction: Any = None) -> Tensor:
        _only(name, dtype=dtype, out=out, where=where, mean=mean)
        return reduce(_ew.as_tensor(a), axis, ddof, bool(keepdims), correction=correction)
    return adapter


implements(np.var)(_spread("var", _red.var))
implements(np.std)(_spread("std", _red.std))


def _arg(name: str, pick: Callable) -> Callable:
    def adapter(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Tensor:
        _only(name, out=out)
        return pick(_ew.as_tensor(a), axis, bool(keepdims))
    return adapter


implements(np.argmax)(_arg("argmax", _red.argmax))
implements(np.argmin)(_arg("argmin", _red.argmin))


def _scan(name: str, scan: Callable) -> Callable:
    def adapter(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Tensor:
        _only(name, dtype=dtype, out=out)
        return scan(_ew.as_tensor(a), axis)
    return adapter


implements(np.cumsum)(_scan("cumsum", _red.cumsum))
implements(np.cumprod)(_scan("cumprod", _red.cumprod))


@implements(np.concatenate)
def _concatenate(arrays: Any, axis: int | None = 0, out: Any = None, dtype: Any = None,
                 casting: Any = None) -> Tensor:
    _only("concatenate", out=out, dtype=dtype)
    if axis is None:
        return _sh.concatenate([_sh.reshape(_ew.as_tensor(a), -1) for a in arrays], 0)
    return _sh.concatenate(list(arrays), axis)


@implements(np.stack)
def _stack(arrays: Any, axis: int = 0, out: Any = None, dtype: Any = None,
           casting: Any = None) -> Tensor:
    _only("stack", out=out, dtype=dtype)
    return _sh.stack([_ew.as_tensor(a) for a in arrays], axis)


@implements(np.hstack, np.vstack)
def _hvstack(tup: Any, *, dtype: Any = None, casting: Any = None) -> Tensor:
    raise TypeError("np.hstack/np.vstack on Tensors: write cr.cat(tensors, dim=...) (axis 1 "
                    "for hstack of 2-D, 0 for vstack), which keeps the graph")


@implements(np.reshape)
def _reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None,
             copy: Any = None) -> Tensor:
    if order != "C":
        raise TypeError("np.reshape: only order='C' is supported on Tensors")
    return _sh.reshape(_ew.as_tensor(a), newshape if shape is None else shape)


@implements(np.ravel)
def _ravel(a: Any, order: str = "C") -> Tensor:
    return _sh.reshape(_ew.as_tensor(a), -1)


@implements(np.transpose)
def _transpose(a: Any, axes: Any = None) -> Tensor:
    x = _ew.as_tensor(a)
    return _sh.transpose(x, None) if axes is None else _sh.permute(x, axes)


@implements(np.swapaxes)
def _swapaxes(a: Any, axis1: int, axis2: int) -> Tensor:
    return _sh.swapaxes(_ew.as_tensor(a), axis1, axis2)


@implements(np.moveaxis)
def _moveaxis(a: Any, source: Any, destination: Any) -> Tensor:
    x = _ew.as_tensor(a)
    src = [int(s) % x.ndim for s in np.atleast_1d(source)]
    dst = [int(d) % x.ndim for d in np.atleast_1d(destination)]
    order: list[int | None] = [None] * x.ndim
    for s, d in zip(src, dst, strict=True):
        order[d] = s
    rest = iter(d for d in range(x.ndim) if d not in src)
    return _sh.permute(x, [next(rest) if o is None else o for o in order])


@implements(np.squeeze)
def _squeeze(a: Any, axis: Any = None) -> Tensor:
    return _sh.squeeze(_ew.as_tensor(a), axis)


@implements(np.expand_dims)
def _expand_dims(a: Any, axis: Any) -> Tensor:
    x = _ew.as_tensor(a)
    for ax in sorted(a % (x.ndim + len(np.atleast_1d(axis))) for a in np.atleast_1d(axis)):
        x = _sh.unsqueeze(x, int(ax))
    return x


@implements(np.broadcast_to)
def _broadcast_to(array: Any, shape: Any, subok: bool = False) -> Tensor:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _sh.broadcast_to(_ew.as_tensor(array), shape)


@implements(np.where)
def _where(condition: Any, x: Any = np._NoValue, y: Any = np._NoValue) -> Any:
    if x is np._NoValue and y is np._NoValue:  # the positions form: no gradient
        return np.where(_raw(condition))
    return _ew.where(condition, x, y)


@implements(np.clip)
def _clip(a: Any, a_min: Any = np._NoValue, a_max: Any = np._NoValue, out: Any = None, *,
          min: Any = np._NoValue, max: Any = np._NoValue, **kwargs: Any) -> Tensor:
    _only("clip", out=out, **kwargs)
    lo = None if a_min is np._NoValue else a_min
    hi = None if a_max is np._NoValue else a_max
    lo = lo if min is np._NoValue else min
    hi = hi if max is np._NoValue else max
    return _ew.clip(_ew.as_tensor(a), _raw(lo), _raw(hi))


@implements(np.round, np.around)
def _round(a: Any, decimals: int = 0, out: Any = None) -> Tensor:
    _only("round", out=out)
    return _ew.round(a, decimals)


def _product(name: str, product: Callable) -> Callable:
    def adapter(a: Any, b: Any, out: Any = None) -> Tensor:
        _only(name, out=out)
        return product(a, b)
    return adapter


implements(np.dot)(_product("dot", _la.dot))
implements(np.inner)(_product("inner", _la.inner))
implements(np.outer)(_product("outer", _la.outer))


@implements(np.tensordot)
def _tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    return _la.tensordot(a, b, axes)


@implements(np.einsum)
def _einsum(subscripts: str, *operands: Any, out: Any = None, dtype: Any = None,
            order: str = "K", casting: str = "safe", optimize: Any = False) -> Tensor:
    _only("einsum", out=out, dtype=dtype)
    return _la.einsum(subscripts, *operands)


@implements(np.trace)
def _trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
           out: Any = None) -> Tensor:
    _only("trace", dtype=dtype, out=out)
    return _la.trace(_ew.as_tensor(a), offset, axis1, axis2)


@implements(np.diagonal)
def _diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    return _la.diagonal(_ew.as_tensor(a), offset, axis1, axis2)


@implements(np.diag)
def _diag(v: Any, k: int = 0) -> Tensor:
    return _la.diag(v, k)


@implements(np.tril)
def _tril(m: Any, k: int = 0) -> Tensor:
    return _la.tril(_ew.as_tensor(m), k)


@implements(np.triu)
def _triu(m: Any, k: int = 0) -> Tensor:
    return _la.triu(_ew.as_tensor(m), k)


@implements(np.flip)
def _flip(m: Any, axis: Any = None) -> Tensor:
    return _sh.flip(_ew.as_tensor(m), axis)


@implements(np.roll)
def _roll(a: Any, shift: Any, axis: Any = None) -> Tensor:
    return _sh.roll(_ew.as_tensor(a), shift, axis)


@implements(np.repeat)
def _repeat(a: Any, repeats: Any, axis: Any = None) -> Tensor:
    return _sh.repeat(_ew.as_tensor(a), repeats, axis)


@implements(np.tile)
def _tile(A: Any, reps: Any) -> Tensor:  # noqa: N803  (numpy's name)
    return _sh.tile(_ew.as_tensor(A), reps)


@implements(np.pad)
def _pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Tensor:
    value = kwargs.pop("constant_values", 0.0)
    if kwargs:
        raise TypeError(f"np.pad: options {sorted(kwargs)} are not supported on Tensors")
    return _sh.pad(_ew.as_tensor(array), pad_width, mode, value)


@implements(np.sort)
def _sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *,
          stable: Any = None) -> Tensor:
    _only("sort", order=order)
    return _sh.sort(_ew.as_tensor(a), axis).values


@implements(np.argsort)
def _argsort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *,
             stable: Any = None) -> Tensor:
    _only("argsort", order=order)
    return _sh.argsort(_ew.as_tensor(a), axis)


@implements(np.take_along_axis)
def _take_along_axis(arr: Any, indices: Any, axis: Any) -> Tensor:
    return _sh.take_along_axis(_ew.as_tensor(arr), indices, axis)


@implements(np.split)
def _split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    return list(_sh.split(_ew.as_tensor(ary), indices_or_sections, axis))


def _like(make: Callable) -> Callable:
    def adapter(a: Any, dtype: Any = None, order: str = "K", subok: bool = True,
                shape: Any = None, **kwargs: Any) -> Tensor:
        return Tensor.constant(make(np.empty_like(_raw(a), dtype=dtype, shape=shape)))
    return adapter


implements(np.zeros_like)(_like(np.zeros_like))
implements(np.ones_like)(_like(np.ones_like))
implements(np.empty_like)(_like(np.empty_like))


@implements(np.full_like)
def _full_like(a: Any, fill_value: Any, dtype: Any = None, order: str = "K", subok: bool = True,
               shape: Any = None, **kwargs: Any) -> Tensor:
    return Tensor.constant(np.full_like(_raw(a), _raw(fill_value), dtype=dtype, shape=shape))


def array_function(func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
    """Tensor.__array_function__: chainrule's op for ``func`` when there is one; otherwise
    numpy on the values, refused for a tensor that requires grad."""
    if not all(issubclass(t, Tensor | np.ndarray) for t in types):
        return NotImplemented
    adapter = FUNCTIONS.get(func)
    if adapter is not None:
        return adapter(*args, **kwargs)
    if func not in VALUE_ONLY:
        tracked = _needs_grad((args, kwargs))
        if tracked is not None:
            module = func.__module__.replace("numpy.", "").replace("numpy", "")
            name = f"{module}.{func.__name__}" if module and "core" not in module and \
                "_" not in module else func.__name__
            raise _refuse(name, tracked)
    return func(*_raw(args), **{k: _raw(v) for k, v in kwargs.items()})
