"""Gradient checking: compare the engine's gradients with numerical differentiation.

The numerical derivative of output y with respect to input element x_k is the
central difference (y(x + eps e_k) - y(x - eps e_k)) / (2 eps), accurate to
O(eps**2). It is computed in float64, where eps = 1e-6 leaves about 8 correct
digits. The analytic side is the full Jacobian assembled row by row from
backward passes (one per output element), so every entry is compared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.engine import grad
from chainrule.autograd.mode import enable_grad, no_grad
from chainrule.autograd.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients differ; the message says where and by how much."""


def _as_outputs(value: Any) -> tuple[Tensor, ...]:
    outs = (value,) if isinstance(value, Tensor) else tuple(value)
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: the function returned a {type(o).__name__} as output "
                            f"{i}; expected Tensors")
    return outs


def _prepare(name: str, inputs: Sequence[Any]) -> list[Any]:
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    prepared = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"{name}: input {i} is {x.dtype}; finite differences need float64 "
                            f"(make it with dtype=np.float64, or x.double().detach()"
                            f".requires_grad_())")
        prepared.append(x)
    if not any(isinstance(x, Tensor) and x.requires_grad for x in prepared):
        raise ValueError(f"{name}: no input requires grad, so there is nothing to check")
    return prepared


def central_differences(f: Callable[[], Any], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The Jacobian of ``f()`` with respect to the array ``x`` by central differences:
    entry [..., k] is (f(x + eps e_k) - f(x - eps e_k)) / (2 eps), accurate to O(eps**2).

    ``f`` takes no arguments and reads ``x``, which is perturbed in place one entry at a
    time and restored. The result has shape ``np.shape(f()) + x.shape`` (``x.shape`` for a
    scalar ``f``), in float64; for an empty ``x`` it is zeros of ``x.shape``.
    """
    columns = []
    for k in np.ndindex(x.shape):  # indexing x itself: any view, contiguous or not
        old = x[k]
        x[k] = old + eps
        plus = np.asarray(f(), np.float64)
        x[k] = old - eps
        minus = np.asarray(f(), np.float64)
        x[k] = old
        columns.append((plus - minus) / (2 * eps))
    if not columns:
        return np.zeros(x.shape)
    return np.stack(columns, axis=-1).reshape(columns[0].shape + x.shape)


def _numerical_jacobian(fn: Callable, inputs: list[Any], i: int, eps: float
                        ) -> list[np.ndarray]:
    """d(outputs)/d(inputs[i]) by central differences, one (out.size, x.size) block per output."""
    x = inputs[i].data
    if not x.size:
        return []
    sizes: list[int] = []  # of the outputs, as the finite differences see them

    def flat_outputs() -> np.ndarray:
        outs = [o.data.astype(np.float64).ravel() for o in _as_outputs(fn(*inputs))]
        sizes[:] = [o.size for o in outs]
        return np.concatenate(outs) if outs else np.zeros(0)

    with no_grad():
        jacobian = central_differences(flat_outputs, x, eps).reshape(-1, x.size)
    return np.split(jacobian, np.cumsum(sizes)[:-1]) if sizes else []


def _analytic_jacobian(outputs: tuple[Tensor, ...], wrt: list[Tensor]
                       ) -> list[list[np.ndarray]]:
    """blocks[j][i] = d(outputs[j])/d(wrt[i]) as (out.size, x.size), row by row."""
    blocks = [[np.zeros((o.data.size, x.data.size)) for x in wrt] for o in outputs]
    for j, out in enumerate(outputs):
        if not out.requires_grad:
            continue
        for r in range(out.data.size):
            seed = np.zeros(out.data.size, out.dtype)
            seed[r] = 1
            gs = grad(out, wrt, seed.reshape(out.shape), retain_graph=True, allow_unused=True)
            for i, g in enumerate(gs):
                if g is not None:
                    blocks[j][i][r] = g.data.astype(np.float64).ravel()
    return blocks


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients with respect to every input that requires grad.

    ``fn(*inputs)`` returns a Tensor or a tuple of Tensors. Inputs that require
    grad must be float64. An entry passes when
    |analytic - numerical| <= atol + rtol * |numerical|. On failure a
    ``GradcheckError`` names the input, the output, the element, and both values
    (or False is returned with ``raise_exception=False``).
    """
    inputs = _prepare("gradcheck", inputs)
    wrt_positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    wrt = [inputs[i] for i in wrt_positions]
    outputs = _as_outputs(fn(*inputs))
    analytic = _analytic_jacobian(outputs, wrt)
    for col, i in enumerate(wrt_positions):
        numeric = _numerical_jacobian(fn, inputs, i, eps)
        if inputs[i].data.size and len(numeric) != len(outputs):
            # a function whose outputs depend on grad mode would otherwise compare nothing
            raise GradcheckError(f"gradcheck: the function returned {len(outputs)} output(s) "
                                 f"but {len(numeric)} when re-evaluated for finite "
                                 f"differences; it must return the same outputs every call")
        for j, num in enumerate(numeric):
            ana = analytic[j][col]
            bad = np.abs(ana - num) > atol + rtol * np.abs(num)
            if bad.any():
                r, k = np.argwhere(bad)[0]
                x_index = np.unravel_index(k, inputs[i].shape) if inputs[i].ndim else ()
                y_index = np.unravel_index(r, outputs[j].shape) if outputs[j].ndim else ()
                a, nm = ana[r, k], num[r, k]
                where = (f"input {i} (shape {inputs[i].shape}) at element "
                         f"{tuple(int(v) for v in x_index)}, output {j} element "
                         f"{tuple(int(v) for v in y_index)}")
                message = (f"gradcheck failed for {where}: analytic {a:.8g}, numerical "
                           f"{nm:.8g} (difference {abs(a - nm):.3g}, allowed "
                           f"{atol + rtol * abs(nm):.3g}); {int(bad.sum())} of {bad.size} "
                           f"entries differ")
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def gradgradcheck(fn: Callable[..., Any], inputs: Sequence[Any],
                  grad_outputs: Sequence[Any] | None = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of the map (inputs, v) -> v^T J(inputs).

    The gradient is computed with ``create_graph=True`` and then checked like any
    other function, with respect to the inputs and to the vector v
    (``grad_outputs``, random when not given).
    """
    inputs = _prepare("gradgradcheck", inputs)
    wrt_positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outputs = _as_outputs(fn(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), requires_grad=True)
                        for o in outputs]
    else:
        grad_outputs = [g if isinstance(g, Tensor) else Tensor(np.asarray(g, np.float64))
                        for g in grad_outputs]
    n = len(inputs)

    def first_derivative(*args: Any) -> tuple[Tensor, ...]:
        """v^T J at (xs, v): one gradient per input that requires grad (zeros where an
        input is unused). Always recorded: the finite differences of gradcheck evaluate
        it under no_grad, where fn would record nothing and there would be nothing to
        differentiate."""
        xs, vs = list(args[:n]), args[n:]
        with enable_grad():
            outs = list(_as_outputs(fn(*xs)))
            keep = [k for k, o in enumerate(outs) if o.requires_grad]
            wrt = [xs[i] for i in wrt_positions]
            gs = grad([outs[k] for k in keep], wrt, [vs[k] for k in keep],
                      create_graph=True, allow_unused=True) if keep else [None] * len(wrt)
        return tuple(Tensor(np.zeros(x.shape, x.dtype)) if g is None else g
                     for g, x in zip(gs, wrt, strict=True))

    return gradcheck(first_derivative, [*inputs, *grad_outputs], eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception)
