"""Stochastic gradient descent, with momentum and Nesterov momentum."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.optim.optimizer import Optimizer


class SGD(Optimizer):
    """Mini-batch gradient descent.

        g = dL/dW + weight_decay * W                 (PyTorch's weight decay;
                                                      -dL/dW + ... with maximize)
        v = momentum * v + (1 - dampening) * g       (v = g on the first step)
        d = g + momentum * v if nesterov else v      (d = g without momentum)
        W <- W - lr * d

    With ``maximize`` the loss's gradient changes sign but the weight decay does not (as in
    PyTorch): the weights still shrink while the loss is climbed.

    With ``weight_decay = lambda / n`` this is exactly gradient descent on the loss
    plus the L2 penalty lambda/(2n) sum W^2 of the textbook derivation:
    W <- (1 - lr lambda / n) W - lr dL/dW.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov,
                                  "maximize": maximize})

    def check(self, group: dict[str, Any]) -> None:
        super().check(group)
        if not 0 <= group["momentum"] < 1:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {group['momentum']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening 0")

    def update(self, p: Tensor, grad: np.ndarray, group: dict[str, Any],
               state: dict[str, Any]) -> None:
        w = p.data
        wd, momentum = group["weight_decay"], group["momentum"]
        if group["maximize"]:
            grad = -grad
        g = grad + self._scalar(wd, w) * w if wd else grad
        if momentum:
            v = state.get("momentum_buffer")
            if v is None:
                v = state["momentum_buffer"] = np.array(g, dtype=w.dtype)
            else:
                v *= self._scalar(momentum, w)
                v += self._scalar(1 - group["dampening"], w) * g
            g = g + self._scalar(momentum, w) * v if group["nesterov"] else v
        w -= self._scalar(group["lr"], w) * g
