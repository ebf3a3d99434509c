"""Convolution layers: Conv1d, Conv2d and ConvTranspose2d (PyTorch's names, shapes,
defaults and initialization, so state dicts move between the two libraries).

The formulas (forward as im2col and one matrix product, backward as the correlation of
the input with delta and the full convolution of delta with the kernel) are in
``chainrule.ops.convolution``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.functional.convolution import int_tuple
from chainrule.nn import init
from chainrule.nn.linear import cast_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter


class _ConvNd(Module):
    """Shared constructor, init and configuration of the convolution layers."""

    n = 2  # spatial axes
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = np.float32,
                 output_padding: Any = 0) -> None:
        super().__init__()
        name, n = type(self).__name__, self.n
        for what, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):
            int_tuple(name, what, value, 1, 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} and out_channels="
                             f"{out_channels} must both be divisible by groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode must be 'zeros' (the only mode chainrule "
                             f"implements), got {padding_mode!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.groups = int(groups)
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, n, 1)
        self.stride = int_tuple(name, "stride", stride, n, 1)
        self.dilation = int_tuple(name, "dilation", dilation, n, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self.transposed:
                allowed = "ints" if self.transposed else "ints, 'same' or 'valid'"
                raise ValueError(f"{name}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1, got {self.stride}")
            self.padding = padding
        else:
            self.padding = int_tuple(name, "padding", padding, n, 0)
        self.output_padding = int_tuple(name, "output_padding", output_padding, n, 0)
        self.padding_mode = padding_mode
        shape = (in_channels, out_channels // groups) if self.transposed else \
            (out_channels, in_channels // groups)
        self.weight = Parameter(np.empty(shape + self.kernel_size, dtype))
        self.bias = Parameter(np.empty(out_channels, dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in),
        1/sqrt(fan_in)), and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where fan_in is
        weight.shape[1] x kernel size (for ConvTranspose2d that is out_channels / groups)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * int(np.prod(self.kernel_size))
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def _input(self, x: Any) -> Tensor:
        return cast_input(type(self).__name__, "the input", x, self.weight.dtype)

    def extra_config(self) -> dict[str, Any]:
        config = {"in_channels": self.in_channels, "out_channels": self.out_channels,
                  "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                  "padding": self.padding if isinstance(self.padding, str)
                  else list(self.padding),
                  "dilation": list(self.dilation), "groups": self.groups,
                  "bias": self.bias is not None, "padding_mode": self.padding_mode,
                  "dtype": str(self.weight.dtype)}
        if self.transposed:
            config["output_padding"] = list(self.output_padding)
        return config

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        defaults = {"padding": (0,) * self.n, "dilation": (1,) * self.n,
                    "output_padding": (0,) * self.n, "groups": 1}
        for name, default in defaults.items():
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W): weight (C_out, C_in / groups, kH, kW), bias
    (C_out,); output (N, C_out, H', W'), H' = floor((H + 2 padding - dilation (kH - 1) - 1)
    / stride) + 1. padding may be "same" (stride 1) or "valid"."""

    function = staticmethod(F.conv2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype)

    def forward(self, x: Any) -> Tensor:
        return self.function(self._input(x), self.weight, self.bias, self.stride, self.padding,
                             self.dilation, self.groups)


class Conv1d(Conv2d):
    """1-D convolution over (N, C_in, L): weight (C_out, C_in / groups, k), bias (C_out,)."""

    n = 1
    function = staticmethod(F.conv1d)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the gradient of Conv2d in its input, as a layer; it
    upsamples): weight (C_in, C_out / groups, kH, kW), bias (C_out,); output size
    (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1."""

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", dtype: Any = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype, output_padding)

    def forward(self, x: Any) -> Tensor:
        return F.conv_transpose2d(self._input(x), self.weight, self.bias, self.stride,
                                  self.padding, self.output_padding, self.groups,
                                  self.dilation)
