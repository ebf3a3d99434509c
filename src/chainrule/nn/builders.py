"""Building a multi-layer perceptron from a list of layer sizes, and a small
convolutional network from its channels, kernel size and pooling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.nn import init
from chainrule.nn.activation import ACTIVATIONS, get_activation
from chainrule.nn.batchnorm import BatchNorm2d
from chainrule.nn.container import Sequential
from chainrule.nn.conv import Conv2d
from chainrule.nn.layers import Dropout, Flatten
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.pooling import AvgPool2d, MaxPool2d

__all__ = ["ACTIVATIONS", "INITS", "POOLINGS", "activation", "cnn", "cnn_feature_shapes",
           "mlp"]  # ACTIVATIONS: nn.activation's

INITS = ("default", "xavier", "he", "normal", "scaled_normal")
POOLINGS = ("max", "avg", "none")  # after each convolution of cnn(): 2x2, stride 2, or none


def activation(name: str) -> Module:
    """An activation module by name (see nn.activation.ACTIVATIONS)."""
    return get_activation(name)()


def _initialize(layer: Linear | Conv2d, scheme: str, act: str) -> None:
    """Initialize one Linear or Conv2d layer's weight (biases: zeros, except 'default'
    and 'normal'); n_in is the fan-in (for a convolution: in channels x kernel area).

    default: PyTorch's U(-1/sqrt(n_in), 1/sqrt(n_in)) for W and b;
    xavier: Glorot uniform with the activation's gain; he: Kaiming normal (fan_in);
    normal: W, b ~ N(0, 1) (Nielsen's network.py);
    scaled_normal: W ~ N(0, 1/n_in), b ~ N(0, 1) (Nielsen's network2.py).
    """
    if scheme == "default":
        return
    w, b = layer.weight, layer.bias
    gain_name = get_activation(act).gain
    if scheme == "xavier":
        init.xavier_uniform_(w, init.calculate_gain(gain_name))
    elif scheme == "he":
        init.kaiming_normal_(w, nonlinearity="relu" if gain_name == "relu" else "leaky_relu")
    elif scheme == "normal":
        init.normal_(w)
    elif scheme == "scaled_normal":
        init.normal_(w, 0.0, int(np.prod(w.shape[1:])) ** -0.5)  # 1/sqrt(fan-in)
    else:
        raise ValueError(f"unknown init {scheme!r}; choose one of {', '.join(INITS)}")
    if b is not None:
        if scheme in ("normal", "scaled_normal"):
            init.normal_(b)
        else:
            init.zeros_(b)


def mlp(sizes: Sequence[int], activation_name: str = "relu",
        output_activation: str | None = None, dropout: float = 0.0,
        init_scheme: str = "default") -> Sequential:
    """A fully connected network: Linear(sizes[0], sizes[1]), activation, [Dropout], ...,
    Linear(sizes[-2], sizes[-1]), [output activation].

    ``sizes`` includes the input and output sizes, e.g. [64, 128, 10]. The output
    layer has no activation unless ``output_activation`` is given (softmax
    cross-entropy takes raw scores).
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(f"mlp: need at least an input and an output size, all positive; got "
                         f"{sizes}")
    act = activation_name.replace("-", "_").lower()
    activation(act)  # validate the name once, with its clear error
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layer = Linear(n_in, n_out)
        last = i == len(sizes) - 2
        _initialize(layer, init_scheme, (output_activation or "identity") if last else act)
        layers.append(layer)
        if not last:
            layers.append(activation(act))
            if dropout:
                layers.append(Dropout(dropout))
    if output_activation:
        layers.append(activation(output_activation))
    return Sequential(*layers)


def cnn_feature_shapes(input_shape: Sequence[int], channels: Sequence[int],
                       kernel_size: int = 3, pooling: str = "max"
                       ) -> list[tuple[int, int, int]]:
    """The (C, H, W) shape after each convolution block of ``cnn``: a convolution with
    "same" padding keeps H and W, a 2x2 pooling of stride 2 halves them (rounding down).

    Raises:
        ValueError: a kernel larger than the input of its block (the image after the
            pooling of the blocks before it), or a pooling of a 1-pixel-wide map.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"cnn: pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    c, h, w = (int(s) for s in input_shape)
    shapes = []
    for i, out in enumerate(channels, start=1):
        after = "" if i == 1 else f" (the {c}x{h}x{w} output of block {i - 1})"
        if kernel_size > min(h, w):
            raise ValueError(f"a {kernel_size}x{kernel_size} kernel is larger than the {h}x{w} "
                             f"input of convolution {i}{after}")
        if pooling != "none":
            if min(h, w) < 2:
                raise ValueError(f"convolution {i}'s {h}x{w} output is too small for 2x2 "
                                 f"pooling")
            h, w = h // 2, w // 2
        c = int(out)
        shapes.append((c, h, w))
    return shapes


def cnn(input_shape: Sequence[int], n_classes: int, channels: Sequence[int] = (32, 64),
        kernel_size: int = 3, pooling: str = "max", batch_norm: bool = True,
        hidden: Sequence[int] = (256,), activation_name: str = "relu",
        output_activation: str | None = None, dropout: float = 0.0,
        init_scheme: str = "default") -> Sequential:
    """A small convolutional network for images of shape ``input_shape`` (C, H, W): per
    entry of ``channels`` one block Conv2d(kernel_size, padding "same"), [BatchNorm2d],
    activation, [2x2 max or average pooling, stride 2], then Flatten and the dense
    layers of ``mlp([flattened size, *hidden, n_classes], ...)`` (dropout after each
    hidden dense layer). With batch normalization the convolutions have no bias: the
    normalization's shift replaces it.

    A Sequential of registered layers, so ``chainrule.save``/``load`` rebuild it.
    """
    act = activation_name.replace("-", "_").lower()
    shapes = cnn_feature_shapes(input_shape, channels, kernel_size, pooling)
    layers: list[Module] = []
    c_in = int(input_shape[0])
    for c_out, *_ in shapes:
        conv = Conv2d(c_in, c_out, kernel_size, padding="same", bias=not batch_norm)
        _initialize(conv, init_scheme, act)
        layers += [conv, *([BatchNorm2d(c_out)] if batch_norm else []), activation(act)]
        if pooling != "none":
            layers.append(MaxPool2d(2) if pooling == "max" else AvgPool2d(2))
        c_in = c_out
    flat = int(np.prod(shapes[-1])) if shapes else int(np.prod(input_shape))
    dense = mlp([flat, *hidden, n_classes], act, output_activation, dropout, init_scheme)
    return Sequential(*layers, Flatten(), *dense)
