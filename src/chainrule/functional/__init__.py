"""The functional API (``import chainrule.functional as F``): activations, losses,
normalization and attention."""

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
from chainrule.functional.attention import scaled_dot_product_attention
from chainrule.functional.convolution import (
    adaptive_avg_pool2d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose2d,
    dropout2d,
    max_pool2d,
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
from chainrule.functional.normalization import batch_norm, layer_norm, rms_norm
from chainrule.ops.activations import gelu, silu
from chainrule.ops.linalg import linear
from chainrule.ops.shape import sum_to
from chainrule.ops.shape import torch_pad as pad

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout",
    "elu", "leaky_relu", "linear", "log_softmax", "logsumexp", "mse_loss", "nll_loss", "relu",
    "sequence_cross_entropy", "sequence_mask", "sigmoid", "softmax", "softplus", "tanh",
    "pad", "sum_to",
]
__all__ += [
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "conv1d", "conv2d", "conv_transpose2d",
    "dropout2d", "max_pool2d",
]
__all__ += ["gelu", "layer_norm", "rms_norm", "scaled_dot_product_attention", "silu"]
