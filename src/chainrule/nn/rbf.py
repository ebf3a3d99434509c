"""``RBF``: a layer of Gaussian radial-basis units with trainable centres and widths."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.elementwise import maximum


class RBF(Module):
    """phi_j(x) = exp(-||x - c_j||^2 / (2 sigma_j^2)) for each unit j.

    ``centres`` c has shape (out_features, in_features); the widths are stored as
    ``log_sigma`` (shape (out_features,)), sigma = exp(log_sigma), so they stay
    positive whatever step the optimizer takes. The layer is built from ordinary
    differentiable ops, so an RBF network is trained by the same backpropagation:

        d phi_j / d c_j = phi_j (x - c_j) / sigma_j^2,
        d phi_j / d log sigma_j = phi_j ||x - c_j||^2 / sigma_j^2.

    Initialization: centres ~ N(0, 1), sigma = 1 (``init_sigma``). Centres placed on
    training examples usually train faster: ``layer.init_centres(X[:out_features])``.
    """

    def __init__(self, in_features: int, out_features: int, init_sigma: float = 1.0,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0 or init_sigma <= 0:
            raise ValueError(f"RBF: sizes and init_sigma must be positive, got in_features="
                             f"{in_features}, out_features={out_features}, "
                             f"init_sigma={init_sigma}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.init_sigma = float(init_sigma)
        self.centres = Parameter(np.empty((out_features, in_features), dtype))
        self.log_sigma = Parameter(np.full(out_features, np.log(init_sigma), dtype))
        init.normal_(self.centres)

    def init_centres(self, examples: Any) -> None:
        """Place the centres on the given (out_features, in_features) examples."""
        examples = np.asarray(examples.data if isinstance(examples, Tensor) else examples)
        if examples.shape != self.centres.shape:
            raise ValueError(f"RBF.init_centres: need examples of shape {self.centres.shape}, "
                             f"got {examples.shape}")
        with no_grad():
            self.centres.copy_(examples)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"RBF({self.in_features}, {self.out_features}): expected input of "
                             f"shape (batch, {self.in_features}), got {x.shape}")
        c = self.centres
        # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2: one matrix product instead of a
        # (batch, units, features) difference tensor; rounding can make it slightly
        # negative, hence the floor at 0.
        sq = (x * x).sum(axis=1, keepdims=True) - 2.0 * (x @ c.T) + (c * c).sum(axis=1)
        sq = maximum(sq, 0.0)
        inv_two_var = (self.log_sigma * -2.0).exp() * 0.5
        return (-(sq * inv_two_var)).exp()

    @property
    def sigma(self) -> np.ndarray:
        return np.exp(self.log_sigma.data)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"

    def extra_config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init_sigma": self.init_sigma, "dtype": str(self.centres.dtype)}
