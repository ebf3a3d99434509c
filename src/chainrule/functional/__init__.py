"""The functional API (``import chainrule.functional as F``): activations and losses."""

from chainrule.functional.activations import (
    elu,
    leaky_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from chainrule.functional.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
)

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "elu",
    "leaky_relu", "log_softmax", "logsumexp", "mse_loss", "nll_loss", "relu", "sigmoid",
    "softmax", "softplus", "tanh",
]
