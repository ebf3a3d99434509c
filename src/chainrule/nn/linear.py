"""``Linear``: the affine layer z = W a + b."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.linalg import linear


class Linear(Module):
    """z = W a + b for each example; a batch is a matrix with one example per row, so the
    layer computes Z = A W^T + b.

    ``weight`` has shape (out_features, in_features), as W in the derivation
    z = W a + b; ``bias`` has shape (out_features,).

    Default initialization (the same as PyTorch's): every entry of W and b is drawn
    from U(-1/sqrt(in_features), 1/sqrt(in_features)). Re-initialize with
    ``chainrule.nn.init`` (e.g. ``init.kaiming_normal_(layer.weight,
    nonlinearity='relu')``) for deep ReLU networks.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: sizes must be positive, got in_features={in_features}, "
                             f"out_features={out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        self.bias = Parameter(np.empty(out_features, dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        x = cast_input(f"Linear({self.in_features}, {self.out_features})", "the input", x,
                       self.weight.dtype)
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): expected input "
                             f"with {self.in_features} features in the last axis, got shape "
                             f"{x.shape}")
        return linear(x, self.weight, self.bias)

    def extra_config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": str(self.weight.dtype)}

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def cast_input(owner: str, what: str, value: Any, dtype: np.dtype) -> Tensor:
    """``value`` as a Tensor of the layer's dtype (Linear and the recurrent layers).

    Arrays, lists and integer or bool data are cast, so a float32 layer computes and
    returns float32 whatever it is fed (numpy 2 would otherwise promote the whole
    computation to float64 for a float64 input, at twice the cost); a Tensor in another
    floating dtype gets a differentiable cast (its gradient comes back in its own dtype)."""
    if isinstance(value, Tensor):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{owner}: {what} must hold real numbers (bool, int or float), "
                            f"got a Tensor of dtype {value.dtype}")
        return value if value.dtype == dtype else value.astype(dtype)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: {what} must hold real numbers (bool, int or float), got "
                        f"{type(value).__name__} of dtype {array.dtype}")
    return Tensor.constant(array.astype(dtype, copy=False))
