"""Activation functions a = f(z) of the functional API, with their argument checks.

The primitives (each a ``Function`` with f'(z) in its docstring) are in
``chainrule.ops.activations``; these are the names users call, as
``torch.nn.functional``'s are.
"""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.ops import activations as _ops
from chainrule.ops.activations import (  # noqa: F401  (no arguments to check)
    elu,
    leaky_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    softmax,
    tanh,
)


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """Smooth ReLU log(1 + e^(beta x)) / beta, for beta > 0."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    return _ops.softplus(x, float(beta))
