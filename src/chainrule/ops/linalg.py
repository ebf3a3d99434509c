"""Matrix product with numpy's semantics (2-D, batched N-D with broadcasting, 1-D vectors)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops.elementwise import operands
from chainrule.ops.shape import reshape, sum_to, swapaxes


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
            grads += (g2.sum(axis=0) if self.inputs[2].requires_grad else None,)
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
