"""Networks: ``Module``, ``Parameter``, layers, losses as modules, init and regularization."""

from chainrule.nn import init
from chainrule.nn.activation import (
    ELU,
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from chainrule.nn.builders import activation, mlp
from chainrule.nn.container import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from chainrule.nn.layers import Dropout, Flatten
from chainrule.nn.linear import Linear
from chainrule.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    NLLLoss,
)
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
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

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CharRNN", "CrossEntropyLoss", "Dropout", "ELU",
    "Embedding", "Flatten", "GRU", "GRUCell", "Identity", "LSTM", "LSTMCell", "LeakyReLU",
    "Linear", "LogSoftmax", "MSELoss", "Module", "NLLLoss", "Parameter", "RBF", "RNN",
    "RNNCell", "ReLU", "Sequential", "Sigmoid", "Softmax", "Softplus", "Tanh", "activation",
    "init", "l1_penalty", "l2_penalty", "mlp", "penalized_parameters", "weight_decay_groups",
    "ModuleDict", "ModuleList", "ParameterDict", "ParameterList",
]
