"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (PyTorch's names and defaults).

The formulas (each pooled value a weighted sum over its window, the gradient the adjoint
scatter) are in ``chainrule.ops.pooling``.
"""

from __future__ import annotations

from typing import Any

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.functional.convolution import int_tuple
from chainrule.nn.module import Module


def _setting(owner: str, name: str, value: Any, minimum: int) -> Any:
    """``value`` checked to be an int or a pair of ints >= minimum; kept as given (an int,
    or a list after a JSON round trip), as PyTorch keeps it."""
    int_tuple(owner, name, value, 2, minimum)
    return value if isinstance(value, int) else tuple(value)


class MaxPool2d(Module):
    """The maximum of each kernel window of (N, C, H, W); stride defaults to the kernel."""

    config_fields = ("kernel_size", "stride", "padding", "dilation")

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _setting(name, "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _setting(name, "stride", stride, 1)
        self.padding = _setting(name, "padding", padding, 0)
        self.dilation = _setting(name, "dilation", dilation, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}")


class AvgPool2d(Module):
    """The mean of each kernel window of (N, C, H, W); stride defaults to the kernel; zero
    padding counts in the mean unless count_include_pad=False."""

    config_fields = ("kernel_size", "stride", "padding", "count_include_pad")

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _setting(name, "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _setting(name, "stride", stride, 1)
        self.padding = _setting(name, "padding", padding, 0)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed (H_out, W_out) whatever the input size; output_size 1 is
    the global average pooling before a classifier."""

    config_fields = ("output_size",)

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size if isinstance(output_size, int) or output_size is None \
            else tuple(output_size)

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
