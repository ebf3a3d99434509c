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
from chainrule.functional.dropout import dropout
from chainrule.functional.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
    sequence_cross_entropy,
    sequence_mask,
)
from chainrule.ops.linalg import linear
from chainrule.ops.shape import sum_to
from chainrule.ops.shape import torch_pad as pad

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout",
    "elu", "leaky_relu", "linear", "log_softmax", "logsumexp", "mse_loss", "nll_loss", "relu",
    "sequence_cross_entropy", "sequence_mask", "sigmoid", "softmax", "softplus", "tanh",
    "pad", "sum_to",
]
