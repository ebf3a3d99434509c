"""``LayerNorm`` and ``RMSNorm``: normalize each example over its trailing axes.

The fused nodes, with the closed-form backward, are in ``chainrule.ops.normalization``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.functional.normalization import normalized_shape_tuple
from chainrule.nn.linear import cast_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter


class _Norm(Module):
    """The shared constructor: ``normalized_shape``, ``eps`` and the optional weight
    (ones) and bias (zeros) of that shape, as PyTorch initializes them."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None,
                 elementwise_affine: bool, bias: bool, dtype: Any) -> None:
        super().__init__()
        name = type(self).__name__
        self.normalized_shape = normalized_shape_tuple(name, normalized_shape)
        if eps is not None and not eps >= 0:
            raise ValueError(f"{name}: eps must be >= 0, got {eps}")
        self.eps = None if eps is None else float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.dtype = np.dtype(dtype)
        # assigned once each: a Parameter set over a plain None attribute would be shadowed
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) \
            if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) \
            if elementwise_affine and bias else None

    def _input(self, x: Any) -> Tensor:
        dtype = self.weight.dtype if self.weight is not None else None
        if dtype is None:  # no parameters: compute in the input's own floating dtype
            return x if isinstance(x, Tensor) else Tensor.constant(np.asarray(x))
        return cast_input(type(self).__name__, "the input", x, dtype)

    def extra_config(self) -> dict[str, Any]:
        dtype = self.weight.dtype if self.weight is not None else self.dtype
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "dtype": str(dtype)}

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LayerNorm(_Norm):
    """y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias, the statistics over the last
    ``len(normalized_shape)`` axes of each example (biased variance, as PyTorch)."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, bias, dtype)

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(self._input(x), self.normalized_shape, self.weight, self.bias,
                            self.eps)

    def extra_config(self) -> dict[str, Any]:
        return {**super().extra_config(), "bias": self.bias is not None}


class RMSNorm(_Norm):
    """y = x / sqrt(mean(x^2) + eps) * weight over the last ``len(normalized_shape)`` axes;
    ``eps=None`` is the machine epsilon of the input's dtype (PyTorch's default)."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, dtype: Any = np.float32) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, False, dtype)

    def forward(self, x: Any) -> Tensor:
        return F.rms_norm(self._input(x), self.normalized_shape, self.weight, self.eps)
