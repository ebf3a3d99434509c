"""Activation layers a = f(z): thin modules over ``chainrule.functional``."""

from __future__ import annotations

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module


class Identity(Module):
    """a = z (a linear output layer)."""

    config_fields = ()

    def forward(self, x: Tensor) -> Tensor:
        return x


class Sigmoid(Module):
    """a = 1 / (1 + e^-z);  f'(z) = a (1 - a)."""

    config_fields = ()

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """a = tanh(z);  f'(z) = 1 - a^2."""

    config_fields = ()

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU(Module):
    """a = max(z, 0);  f'(z) = [z > 0]."""

    config_fields = ()

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """a = z if z > 0 else slope z;  f'(z) = 1 or slope."""

    config_fields = ("negative_slope",)

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """a = z if z > 0 else alpha (e^z - 1);  f'(z) = 1 or a + alpha."""

    config_fields = ("alpha",)

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """a = log(1 + e^(beta z)) / beta;  f'(z) = sigmoid(beta z)."""

    config_fields = ("beta",)

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta)


class Softmax(Module):
    """a_i = e^(z_i) / sum_j e^(z_j) along ``axis``."""

    config_fields = ("axis",)

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """y_i = z_i - log sum_j e^(z_j) along ``axis`` (pair it with NLLLoss)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.axis)


class GELU(Module):
    """a = z Phi(z), Phi the standard normal CDF (``approximate="tanh"``: the tanh form);
    f'(z) = Phi(z) + z phi(z)."""

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


class SiLU(Module):
    """a = z sigmoid(z) (swish);  f'(z) = s (1 + z (1 - s)), s = sigmoid(z)."""

    config_fields = ()

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)
