"""Networks: ``Module``, ``Parameter``, layers, losses as modules, init and regularization."""

from chainrule.nn import init
from chainrule.nn.activation import (
    ELU,
    GELU,
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.batchnorm import BatchNorm1d, BatchNorm2d
from chainrule.nn.builders import activation, cnn, mlp
from chainrule.nn.container import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from chainrule.nn.conv import Conv1d, Conv2d, ConvTranspose2d
from chainrule.nn.layers import Dropout, Dropout2d, Flatten
from chainrule.nn.linear import Linear
from chainrule.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    NLLLoss,
)
from chainrule.nn.module import Module
from chainrule.nn.normalization import LayerNorm, RMSNorm
from chainrule.nn.parameter import Parameter
from chainrule.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from chainrule.nn.rbf import RBF
from chainrule.nn.recurrent import (
    GRU,
    LSTM,
    RNN,
    CharRNN,
    Embedding,
    GRUCell,
    LSTMCell,
    RNNCell,
)
from chainrule.nn.regularization import (
    l1_penalty,
    l2_penalty,
    penalized_parameters,
    weight_decay_groups,
)
from chainrule.nn.transformer import GPT, TransformerBlock

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CharRNN", "CrossEntropyLoss", "Dropout", "ELU",
    "Embedding", "Flatten", "GRU", "GRUCell", "Identity", "LSTM", "LSTMCell", "LeakyReLU",
    "Linear", "LogSoftmax", "MSELoss", "Module", "NLLLoss", "Parameter", "RBF", "RNN",
    "RNNCell", "ReLU", "Sequential", "Sigmoid", "Softmax", "Softplus", "Tanh", "activation", "cnn",
    "init", "l1_penalty", "l2_penalty", "mlp", "penalized_parameters", "weight_decay_groups",
    "ModuleDict", "ModuleList", "ParameterDict", "ParameterList",
]
__all__ += [
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d",
    "ConvTranspose2d", "Dropout2d", "MaxPool2d",
]
__all__ += ["GELU", "GPT", "LayerNorm", "MultiheadAttention", "RMSNorm", "SiLU",
            "TransformerBlock"]
