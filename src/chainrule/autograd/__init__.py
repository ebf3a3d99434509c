"""The autograd core: Tensor, Function, the backward engine and its switches."""

from chainrule.autograd.engine import backward, grad
from chainrule.autograd.function import Function
from chainrule.autograd.mode import (
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.autograd.tensor import Tensor

__all__ = ["Function", "Tensor", "backward", "detect_anomaly", "enable_grad",
           "is_anomaly_enabled", "is_grad_enabled", "grad", "no_grad", "set_grad_enabled"]
