"""Optimizers with per-parameter step sizes: Adam, AdamW, RMSprop, Adagrad."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.optim.optimizer import Optimizer


def _zeros(state: dict[str, Any], key: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
    buf = state.get(key)
    if buf is None:
        buf = state[key] = np.full(like.shape, fill, like.dtype)
    return buf


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with bias correction:

        g = dL/dW + weight_decay * W
        m = beta1 m + (1 - beta1) g;     v = beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t);       v_hat = v / (1 - beta2^t)
        W <- W - lr m_hat / (sqrt(v_hat) + eps)
        (amsgrad: v is replaced by the running maximum of v before the correction)

    Here weight decay is an L2 term in the gradient, which Adam then rescales per
    parameter; use AdamW for decay that acts directly on the weights.
    """

    decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad})

    def check(self, group: dict[str, Any]) -> None:
        super().check(group)
        b1, b2 = group["betas"]
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"{self.name}: betas must be in [0, 1), got {group['betas']}")
        if group["eps"] < 0:
            raise ValueError(f"{self.name}: eps must be >= 0, got {group['eps']}")

    def update(self, p: Tensor, grad: np.ndarray, group: dict[str, Any],
               state: dict[str, Any]) -> None:
        w = p.data
        lr, wd, (b1, b2), t = group["lr"], group["weight_decay"], group["betas"], state["step"]
        if wd and self.decoupled:
            w *= self._scalar(1 - lr * wd, w)
        g = grad + self._scalar(wd, w) * w if wd and not self.decoupled else grad
        m, v = _zeros(state, "exp_avg", w), _zeros(state, "exp_avg_sq", w)
        m *= self._scalar(b1, w)
        m += self._scalar(1 - b1, w) * g
        v *= self._scalar(b2, w)
        v += self._scalar(1 - b2, w) * (g * g)
        if group["amsgrad"]:
            v = np.maximum(_zeros(state, "max_exp_avg_sq", w), v, out=state["max_exp_avg_sq"])
        # the bias corrections folded into the step size and eps (Python floats, so no
        # float64 arrays appear): lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
        c2 = math.sqrt(1 - b2 ** t)
        denom = np.sqrt(v)
        denom /= self._scalar(c2, w)
        denom += self._scalar(group["eps"], w)
        w -= self._scalar(lr / (1 - b1 ** t), w) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): before the Adam
    step, W <- W (1 - lr weight_decay), independent of the gradient's scale."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton, 2012):

        g = dL/dW + weight_decay * W
        v = alpha v + (1 - alpha) g^2
        centered: a = alpha a + (1 - alpha) g, and v - a^2 replaces v below
        d = g / (sqrt(v) + eps);   with momentum: b = momentum b + d, d = b
        W <- W - lr d
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered})

    def check(self, group: dict[str, Any]) -> None:
        super().check(group)
        if not 0 <= group["alpha"] < 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1), got {group['alpha']}")
        if not 0 <= group["momentum"] < 1:
            raise ValueError(f"RMSprop: momentum must be in [0, 1), got {group['momentum']}")

    def update(self, p: Tensor, grad: np.ndarray, group: dict[str, Any],
               state: dict[str, Any]) -> None:
        w = p.data
        wd, alpha = group["weight_decay"], group["alpha"]
        g = grad + self._scalar(wd, w) * w if wd else grad
        v = _zeros(state, "square_avg", w)
        v *= self._scalar(alpha, w)
        v += self._scalar(1 - alpha, w) * (g * g)
        if group["centered"]:
            a = _zeros(state, "grad_avg", w)
            a *= self._scalar(alpha, w)
            a += self._scalar(1 - alpha, w) * g
            denom = np.sqrt(v - a * a)
        else:
            denom = np.sqrt(v)
        denom += self._scalar(group["eps"], w)
        d = g / denom
        if group["momentum"]:
            b = _zeros(state, "momentum_buffer", w)
            b *= self._scalar(group["momentum"], w)
            b += d
            d = b
        w -= self._scalar(group["lr"], w) * d


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011):

        g = dL/dW + weight_decay * W;   s = s + g^2
        W <- W - lr_t g / (sqrt(s) + eps),   lr_t = lr / (1 + (t - 1) lr_decay)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "eps": eps})

    def check(self, group: dict[str, Any]) -> None:
        super().check(group)
        if group["lr_decay"] < 0 or group["initial_accumulator_value"] < 0:
            raise ValueError("Adagrad: lr_decay and initial_accumulator_value must be >= 0")

    def update(self, p: Tensor, grad: np.ndarray, group: dict[str, Any],
               state: dict[str, Any]) -> None:
        w = p.data
        wd = group["weight_decay"]
        g = grad + self._scalar(wd, w) * w if wd else grad
        s = _zeros(state, "sum", w, group["initial_accumulator_value"])
        s += g * g
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        denom = np.sqrt(s)
        denom += self._scalar(group["eps"], w)
        w -= self._scalar(lr, w) * g / denom
