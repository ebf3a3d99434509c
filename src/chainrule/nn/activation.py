"""Activation layers a = f(z): thin modules over ``chainrule.functional``, and the one
registry of activations by name.

Each activation class carries everything the rest of the library reads about it: its
name (``nn.mlp``, the commands, graph expressions), its functional form, the gain Xavier
initialization uses for it, and for the BP explainer its derivative f'(z), written in
terms of z or of a = f(z) (whichever the textbook uses), with that formula as text and
LaTeX. Adding an activation is one class here and one entry in ``ACTIVATIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.ops.activations import normal_cdf_array

# f'(z) elementwise from z, a = f(z) and the activation's parameter p (None if it has none)
Derivative = Callable[[np.ndarray, np.ndarray, "float | None"], np.ndarray]


def _identity(x: Tensor) -> Tensor:
    return x


class Activation(Module):
    """An activation layer a = f(z) and what the library reads about it.

    name: its name in ``ACTIVATIONS``; function: its functional form f(z[, p]) over
    Tensors; parameter: the attribute holding its parameter p (None: it has none) and
    symbol: p's symbol in text and in LaTeX; gain: its name for ``init.calculate_gain``;
    derivative(z, a, p): f'(z) elementwise (None where the Jacobian is not diagonal),
    printed by the explainer as derivative_text / derivative_latex.
    """

    name: ClassVar[str]
    function: ClassVar[Callable[..., Tensor]]
    parameter: ClassVar[str | None] = None
    symbol: ClassVar[tuple[str, str]] = ("", "")
    gain: ClassVar[str] = "linear"
    derivative: ClassVar[Derivative | None] = None
    derivative_text: ClassVar[str] = ""
    derivative_latex: ClassVar[str] = ""
    config_fields = ()


class Identity(Activation):
    """a = z (a linear output layer);  f'(z) = 1."""

    name = "identity"
    function = staticmethod(_identity)
    derivative = staticmethod(lambda z, a, p: np.ones_like(z))
    derivative_text, derivative_latex = "1", "1"

    def forward(self, x: Tensor) -> Tensor:
        return x


class Sigmoid(Activation):
    """a = 1 / (1 + e^-z);  f'(z) = a (1 - a)."""

    name, gain = "sigmoid", "sigmoid"
    function = staticmethod(F.sigmoid)
    derivative = staticmethod(lambda z, a, p: a * (1 - a))
    derivative_text, derivative_latex = "A * (1 - A)", r"A \odot (1 - A)"

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Activation):
    """a = tanh(z);  f'(z) = 1 - a^2."""

    name, gain = "tanh", "tanh"
    function = staticmethod(F.tanh)
    derivative = staticmethod(lambda z, a, p: 1 - a * a)
    derivative_text, derivative_latex = "1 - A^2", r"1 - A \odot A"

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU(Activation):
    """a = max(z, 0);  f'(z) = [z > 0]."""

    name, gain = "relu", "relu"
    function = staticmethod(F.relu)
    derivative = staticmethod(lambda z, a, p: (z > 0).astype(z.dtype))
    derivative_text, derivative_latex = "[Z > 0]", r"\mathbb{1}[Z > 0]"

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(Activation):
    """a = z if z > 0 else slope z;  f'(z) = 1 or slope (the slope at z = 0, as the
    engine takes it)."""

    name, gain = "leaky_relu", "leaky_relu"
    function = staticmethod(F.leaky_relu)
    parameter, symbol = "negative_slope", ("s", "s")
    derivative = staticmethod(lambda z, a, p: np.where(z > 0, 1.0, p))
    derivative_text = "[Z > 0] + s [Z <= 0]"
    derivative_latex = r"\mathbb{1}[Z > 0] + s\,\mathbb{1}[Z \le 0]"
    config_fields = ("negative_slope",)

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Activation):
    """a = z if z > 0 else alpha (e^z - 1);  f'(z) = 1 or alpha e^z = a + alpha (read
    from the output)."""

    name = "elu"
    function = staticmethod(F.elu)
    parameter, symbol = "alpha", ("alpha", r"\alpha")
    derivative = staticmethod(lambda z, a, p: np.where(z > 0, 1.0, a + p))
    derivative_text = "[Z > 0] + (A + alpha) [Z <= 0]"
    derivative_latex = r"\mathbb{1}[Z > 0] + (A + \alpha) \odot \mathbb{1}[Z \le 0]"
    config_fields = ("alpha",)

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Activation):
    """a = log(1 + e^(beta z)) / beta;  f'(z) = sigmoid(beta z)."""

    name = "softplus"
    function = staticmethod(F.softplus)
    parameter, symbol = "beta", ("beta", r"\beta")
    derivative = staticmethod(lambda z, a, p: 1 / (1 + np.exp(-p * z)))
    derivative_text, derivative_latex = "sigmoid(beta Z)", r"\sigma(\beta Z)"
    config_fields = ("beta",)

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta)


class Softmax(Activation):
    """a_i = e^(z_i) / sum_j e^(z_j) along ``axis`` (its Jacobian is not diagonal: no
    elementwise derivative)."""

    name = "softmax"
    function = staticmethod(F.softmax)
    config_fields = ("axis",)

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """y_i = z_i - log sum_j e^(z_j) along ``axis`` (pair it with NLLLoss; a loss
    companion, not in ``ACTIVATIONS``)."""

    name = "log_softmax"
    function = staticmethod(F.log_softmax)

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.axis)


class GELU(Activation):
    """a = z Phi(z), Phi the standard normal CDF (``approximate="tanh"``: its tanh form);
    f'(z) = Phi(z) + z phi(z), phi(z) = e^(-z^2/2) / sqrt(2 pi) (the exact form's: the
    explainer derives GELU(approximate="none"))."""

    name, gain = "gelu", "relu"
    function = staticmethod(F.gelu)
    derivative = staticmethod(lambda z, a, p: normal_cdf_array(z)
                              + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi))
    derivative_text = "Phi(Z) + Z phi(Z)"
    derivative_latex = r"\Phi(Z) + Z \odot \phi(Z)"
    config_fields = ("approximate",)

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class SiLU(Activation):
    """a = z sigmoid(z) (swish);  f'(z) = s (1 + z (1 - s)), s = sigmoid(z)."""

    name, gain = "silu", "relu"
    function = staticmethod(F.silu)
    derivative = staticmethod(lambda z, a, p: _sigmoid(z) * (1 + z * (1 - _sigmoid(z))))
    derivative_text = "s (1 + Z (1 - s)), s = sigmoid(Z)"
    derivative_latex = r"\sigma(Z) \odot (1 + Z \odot (1 - \sigma(Z)))"

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


# the activations by name, in the order messages list them
ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (ReLU, Sigmoid, Tanh, LeakyReLU, ELU, Identity, Softmax, Softplus,
                               GELU, SiLU)
}


def activation_names() -> tuple[str, ...]:
    """The names ``get_activation`` knows, e.g. ('relu', 'sigmoid', ...)."""
    return tuple(ACTIVATIONS)


def get_activation(name: str) -> type[Activation]:
    """The activation class called ``name`` (case and '-' versus '_' do not matter:
    'Leaky-ReLU' is leaky_relu); a ValueError listing the names otherwise."""
    cls = ACTIVATIONS.get(name.replace("-", "_").lower())
    if cls is None:
        raise ValueError(f"unknown activation {name!r}; choose one of "
                         f"{', '.join(ACTIVATIONS)}")
    return cls
