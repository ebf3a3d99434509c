"""Stochastic gradient descent, with momentum and Nesterov momentum."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, scalar


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
                 maximize: bool = False, *, fused: bool | None = None) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov,
                                  "maximize": maximize, "fused": fused})

    def check(self, group: dict[str, Any]) -> None:
        super().check(group)
        if not 0 <= group["momentum"] < 1:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {group['momentum']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening 0")

    def _packs(self, group: dict[str, Any]) -> bool:
        # without momentum the update is one multiplication per parameter: nothing to save
        return bool(group["momentum"])

    def update(self, g: np.ndarray, state: dict[str, Any], group: dict[str, Any],
               out: np.ndarray) -> None:
        momentum = float(group["momentum"])
        if momentum:
            v = state.get("momentum_buffer")
            if v is None:
                v = state["momentum_buffer"] = g.copy()
            else:
                v *= scalar(momentum, g)
                dampening = float(group["dampening"])
                if dampening:
                    np.multiply(g, scalar(1 - dampening, g), out=out)
                    v += out
                else:  # (1 - 0) g is g: one pass saved, the same numbers
                    v += g
            if group["nesterov"]:
                np.multiply(v, scalar(momentum, g), out=out)
                out += g
                g = out
            else:
                g = v
        np.multiply(g, scalar(group["lr"], g), out=out)
