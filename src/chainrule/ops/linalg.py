"""Matrix product with numpy's semantics (2-D, batched N-D with broadcasting, 1-D vectors)."""

from __future__ import annotations

from typing import Any

import numpy as np

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
            return np.matmul(a, b)
        except ValueError:
            raise _shape_error(a, b) from None

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        if a.ndim == 2 and b.ndim == 2:  # the common case, with no reshaping
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
