"""Building a multi-layer perceptron from a list of layer sizes."""

from __future__ import annotations

from collections.abc import Sequence

from chainrule.nn import init
from chainrule.nn.activation import ACTIVATIONS, get_activation
from chainrule.nn.container import Sequential
from chainrule.nn.layers import Dropout
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module

__all__ = ["ACTIVATIONS", "INITS", "activation", "mlp"]  # ACTIVATIONS: nn.activation's

INITS = ("default", "xavier", "he", "normal", "scaled_normal")


def activation(name: str) -> Module:
    """An activation module by name (see nn.activation.ACTIVATIONS)."""
    return get_activation(name)()


def _initialize(layer: Linear, scheme: str, act: str) -> None:
    """Initialize one Linear layer's weight (biases: zeros, except 'default' and 'normal').

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
        init.normal_(w, 0.0, layer.in_features ** -0.5)
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
