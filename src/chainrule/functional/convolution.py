"""Convolution, pooling and channel dropout of the functional API, with their argument
checks (as ``torch.nn.functional``'s, with the same names, argument orders and shapes).

The ops themselves, each with its forward and backward formula, are in
``chainrule.ops.convolution`` and ``chainrule.ops.pooling``. An input without a batch
axis ((C, H, W) for 2-D, (C, L) for 1-D) is accepted and treated as a batch of one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.functional.dropout import dropout
from chainrule.ops import pooling as _pool
from chainrule.ops.convolution import Conv, ConvTranspose, Geometry, Pair
from chainrule.ops.elementwise import operands
from chainrule.ops.shape import squeeze, unsqueeze

IntOrTuple = int | Sequence[int]


def int_tuple(fn: str, name: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    """``value`` (an int, or a sequence of n ints) as n ints >= minimum, or a clear error."""
    items = [value] * n if isinstance(value, int | np.integer) else value
    ok = isinstance(items, Sequence) and not isinstance(items, str) and len(items) == n and \
        all(isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= minimum
            for v in items)
    if not ok:
        size = "an int" if n == 1 else f"an int or {n} ints"
        raise ValueError(f"{fn}: {name} must be {size}, each at least {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def _lift(values: tuple[int, ...], fill: int) -> Pair:
    """A 1-D setting as the (height, width) pair of a height-1 2-D one."""
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])


def _padding(fn: str, padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...],
             dilation: tuple[int, ...]) -> list[Pair]:
    """(before, after) per spatial axis: an int or ints, "valid" (none) or "same" (the
    output as large as the input; with an even span the extra row or column goes after,
    as in PyTorch)."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding != "same":
            raise ValueError(f"{fn}: padding must be an int, {n} ints, 'same' or 'valid', "
                             f"got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{fn}: padding='same' needs stride 1, got stride {stride}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return [(t // 2, t - t // 2) for t in totals]
    return [(p, p) for p in int_tuple(fn, "padding", padding, n, 0)]


def _check_fits(fn: str, spatial: tuple[int, ...], kernel: tuple[int, ...],
                pads: list[Pair], dilation: tuple[int, ...]) -> None:
    """Refuse a (dilated) kernel larger than the padded input: there would be no output."""
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    padded = tuple(n + sum(p) for n, p in zip(spatial, pads, strict=True))
    if any(s > p for s, p in zip(spans, padded, strict=True)):
        raise ValueError(f"{fn}: the kernel {kernel} (spanning {spans} with dilation "
                         f"{dilation}) is larger than the padded input {padded} (input "
                         f"{spatial} plus padding {[sum(p) for p in pads]})")


def _batched(fn: str, x: Tensor, n: int, run: Callable[[Tensor], Tensor]) -> Tensor:
    """run(x) for x with a batch axis (n spatial axes + 2); an unbatched x is run as a
    batch of one."""
    layout = "(N, C, L)" if n == 1 else "(N, C, H, W)"
    if x.ndim == n + 2:
        return run(x)
    if x.ndim == n + 1:
        return squeeze(run(unsqueeze(x, 0)), 0)
    raise ValueError(f"{fn}: expected a {n + 2}-D input {layout} or an unbatched "
                     f"{n + 1}-D one, got shape {x.shape}")


def _tensors(fn: str, x: Any, weight: Any) -> tuple[Tensor, Tensor]:
    x, weight = operands(x, weight)
    if x.dtype.kind == "f" and weight.dtype.kind == "f" and x.dtype != weight.dtype:
        raise TypeError(f"{fn}: the input is {x.dtype} but the weight is {weight.dtype}; "
                        f"cast one of them (e.g. x.astype('{weight.dtype}'))")
    return x, weight


def _check_channels(fn: str, channels: int, weight: Tensor, groups: int, n: int,
                    transposed: bool) -> None:
    """Weight rank, groups dividing both channel counts, and the input's channel count."""
    layout = "in_channels, out_channels / groups" if transposed else \
        "out_channels, in_channels / groups"
    if weight.ndim != n + 2:
        raise ValueError(f"{fn}: the weight must be {n + 2}-D ({layout}, kernel), got shape "
                         f"{weight.shape}")
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    if weight.shape[0] % groups:
        raise ValueError(f"{fn}: the weight's {weight.shape[0]} "
                         f"{'input' if transposed else 'output'} channels are not divisible "
                         f"by groups={groups}")
    expected = weight.shape[0] if transposed else weight.shape[1] * groups
    if channels != expected:
        how = f"{expected}" if transposed else f"{weight.shape[1]} x groups={groups} = {expected}"
        raise ValueError(f"{fn}: the input has {channels} channels but the weight "
                         f"{weight.shape} expects {how}")


def _check_bias(fn: str, bias: Tensor | None, channels: int) -> None:
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"{fn}: the bias must have shape ({channels},), one per output "
                         f"channel, got {bias.shape}")


def _convolve(fn: str, n: int, x: Any, weight: Any, bias: Tensor | None, stride: IntOrTuple,
              padding: IntOrTuple | str, dilation: IntOrTuple, groups: int) -> Tensor:
    """conv1d and conv2d: checks, then one ``Conv`` node."""
    x, weight = _tensors(fn, x, weight)

    def run(xb: Tensor) -> Tensor:
        _check_channels(fn, xb.shape[1], weight, groups, n, transposed=False)
        _check_bias(fn, bias, weight.shape[0])
        kernel = weight.shape[2:]
        strides = int_tuple(fn, "stride", stride, n, 1)
        dilations = int_tuple(fn, "dilation", dilation, n, 1)
        pads = _padding(fn, padding, kernel, strides, dilations)
        _check_fits(fn, xb.shape[2:], kernel, pads, dilations)
        geo = Geometry(_lift(kernel, 1), _lift(strides, 1),
                       ((0, 0), pads[0]) if n == 1 else (pads[0], pads[1]),
                       _lift(dilations, 1), int(groups), n)
        return Conv(geo)(xb, weight, *([] if bias is None else [bias]))

    return _batched(fn, x, n, run)


def conv1d(input: Any, weight: Any, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of input (N, C_in, L) with weight
    (C_out, C_in / groups, k):  y[n, o, i] = b[o] + sum_{c, p} w[o, c, p] x_pad[n, c', i s + p d].
    """
    return _convolve("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Any, weight: Any, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of input (N, C_in, H, W) with weight
    (C_out, C_in / groups, kH, kW):
    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x_pad[n, c', i s + p d, j s + q d].

    padding: an int or a pair, "valid" (none) or "same" (stride 1; output size = input size).
    """
    return _convolve("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input: Any, weight: Any, bias: Tensor | None = None,
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """Transposed convolution of input (N, C_in, H, W) with weight (C_in, C_out / groups,
    kH, kW): the gradient of conv2d with respect to its input, as a layer. Output size per
    axis: (n - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.
    """
    fn = "conv_transpose2d"
    x, weight = _tensors(fn, input, weight)

    def run(xb: Tensor) -> Tensor:
        _check_channels(fn, xb.shape[1], weight, groups, 2, transposed=True)
        _check_bias(fn, bias, weight.shape[1] * groups)
        kernel = weight.shape[2:]
        strides = int_tuple(fn, "stride", stride, 2, 1)
        dilations = int_tuple(fn, "dilation", dilation, 2, 1)
        pads = int_tuple(fn, "padding", padding, 2, 0)
        extra = int_tuple(fn, "output_padding", output_padding, 2, 0)
        if any(e >= max(s, d) for e, s, d in zip(extra, strides, dilations, strict=True)):
            raise ValueError(f"{fn}: output_padding {extra} must be smaller than the stride "
                             f"{strides} or the dilation {dilations} on each axis")
        big = tuple((n - 1) * s - 2 * p + d * (k - 1) + e + 1 for n, s, p, d, k, e in
                    zip(xb.shape[2:], strides, pads, dilations, kernel, extra, strict=True))
        if min(big) < 1:
            raise ValueError(f"{fn}: the output would have size {big}; reduce the padding "
                             f"{pads}")
        geo = Geometry(kernel, strides, ((pads[0], pads[0]), (pads[1], pads[1])), dilations,
                       int(groups))
        return ConvTranspose(geo, big)(xb, weight, *([] if bias is None else [bias]))

    return _batched(fn, x, 2, run)


# -- pooling ------------------------------------------------------------------------------------


def _pool_geometry(fn: str, x: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None,
                   padding: IntOrTuple, dilation: IntOrTuple = 1) -> Geometry:
    """Kernel, stride (default: the kernel), padding (at most half the kernel, as PyTorch
    requires) and dilation of a pooling, checked against x's spatial size."""
    kernel = int_tuple(fn, "kernel_size", kernel_size, 2, 1)
    strides = kernel if stride is None else int_tuple(fn, "stride", stride, 2, 1)
    pads = int_tuple(fn, "padding", padding, 2, 0)
    dilations = int_tuple(fn, "dilation", dilation, 2, 1)
    if any(p > k // 2 for p, k in zip(pads, kernel, strict=True)):
        raise ValueError(f"{fn}: padding {pads} must be at most half the kernel size {kernel}")
    pairs = [(p, p) for p in pads]
    _check_fits(fn, x.shape[2:], kernel, pairs, dilations)
    return Geometry(kernel, strides, (pairs[0], pairs[1]), dilations)


def _float_input(fn: str, x: Any) -> Tensor:
    x = x if isinstance(x, Tensor) else Tensor.constant(np.asarray(x))
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: the input must be floating point, got {x.dtype}")
    return x


def max_pool2d(input: Any, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1) -> Tensor:
    """The maximum of each kernel window of input (N, C, H, W); the gradient goes to the
    window's arg-max (the first maximum on ties, as PyTorch). stride defaults to the
    kernel size; padding (implicit -inf) is at most half the kernel."""
    fn = "max_pool2d"
    return _batched(fn, _float_input(fn, input), 2, lambda xb: _pool.max_pool2d(
        xb, _pool_geometry(fn, xb, kernel_size, stride, padding, dilation)))


def avg_pool2d(input: Any, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, count_include_pad: bool = True) -> Tensor:
    """The mean of each kernel window of input (N, C, H, W); zero padding counts in the
    mean unless ``count_include_pad=False`` (PyTorch's default is True)."""
    fn = "avg_pool2d"
    return _batched(fn, _float_input(fn, input), 2, lambda xb: _pool.avg_pool2d(
        xb, _pool_geometry(fn, xb, kernel_size, stride, padding), bool(count_include_pad)))


def adaptive_avg_pool2d(input: Any, output_size: int | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size (H_out, W_out) whatever the input size (an int
    for both; None keeps that axis): PyTorch's bins, floor(i n / out) to ceil((i + 1) n / out)."""
    fn = "adaptive_avg_pool2d"
    x = _float_input(fn, input)

    def run(xb: Tensor) -> Tensor:
        sizes = [output_size] * 2 if isinstance(output_size, int | np.integer) or \
            output_size is None else list(output_size)
        if len(sizes) != 2:
            raise ValueError(f"{fn}: output_size must be an int or 2 values, got "
                             f"{output_size!r}")
        sizes = [n if s is None else s for s, n in zip(sizes, xb.shape[2:], strict=True)]
        size = int_tuple(fn, "output_size", sizes, 2, 1)
        return _pool.adaptive_avg_pool2d(xb, size)

    return _batched(fn, x, 2, run)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout: zero each whole channel (feature map) of input (N, C, H, W), or
    (N, C, L), with probability p, scaling the kept ones by 1 / (1 - p). Neighbouring
    pixels of a feature map are strongly correlated, so dropping single pixels (dropout)
    hardly regularizes a convolutional layer; dropping maps does."""
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D input (N, C, H, W) or 3-D (N, C, L), got "
                         f"shape {input.shape}")
    if not training or p == 0.0:
        return dropout(input, p, False)
    ones = Tensor.constant(np.ones(input.shape[:2] + (1,) * (input.ndim - 2), input.dtype))
    return input * dropout(ones, p, True, generator)
