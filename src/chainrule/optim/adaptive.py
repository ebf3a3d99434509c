"""Optimizers with per-parameter step sizes: Adam, AdamW, RMSprop, Adagrad."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, scalar


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

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 fused: bool | None = None) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad,
                                  "fused": fused})

    def check(self, group: dict[str, Any]) -> None:
        super().check(group)
        b1, b2 = group["betas"]
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"{self.name}: betas must be in [0, 1), got {group['betas']}")
        if group["eps"] < 0:
            raise ValueError(f"{self.name}: eps must be >= 0, got {group['eps']}")

    def update(self, g: np.ndarray, state: dict[str, Any], group: dict[str, Any],
               out: np.ndarray) -> None:
        (b1, b2), t = map(float, group["betas"]), state["step"]
        m, v = _zeros(state, "exp_avg", g), _zeros(state, "exp_avg_sq", g)
        m *= scalar(b1, g)
        np.multiply(g, scalar(1 - b1, g), out=out)
        m += out
        v *= scalar(b2, g)
        np.multiply(g, g, out=out)
        out *= scalar(1 - b2, g)
        v += out
        if group["amsgrad"]:
            v = np.maximum(_zeros(state, "max_exp_avg_sq", g), v, out=state["max_exp_avg_sq"])
        # the bias corrections folded into the step size and eps (computed as Python
        # floats, applied in g's dtype): lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
        np.sqrt(v, out=out)
        out /= scalar(math.sqrt(1 - b2 ** t), g)
        out += scalar(group["eps"], g)
        np.divide(m, out, out=out)
        out *= scalar(float(group["lr"]) / (1 - b1 ** t), g)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): before the Adam
    step, W <- W (1 - lr weight_decay), independent of the gradient's scale."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, fused=fused)


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
                 centered: bool = False, *, fused: bool | None = None) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered, "fused": fused})

    def check(self, group: dict[str, Any]) -> None:
        super().check(group)
        if not 0 <= group["alpha"] < 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1), got {group['alpha']}")
        if not 0 <= group["momentum"] < 1:
            raise ValueError(f"RMSprop: momentum must be in [0, 1), got {group['momentum']}")

    def update(self, g: np.ndarray, state: dict[str, Any], group: dict[str, Any],
               out: np.ndarray) -> None:
        alpha = float(group["alpha"])
        v = _zeros(state, "square_avg", g)
        v *= scalar(alpha, g)
        np.multiply(g, g, out=out)
        out *= scalar(1 - alpha, g)
        v += out
        if group["centered"]:
            a = _zeros(state, "grad_avg", g)
            a *= scalar(alpha, g)
            np.multiply(g, scalar(1 - alpha, g), out=out)
            a += out
            np.multiply(a, a, out=out)
            np.subtract(v, out, out=out)
            np.sqrt(out, out=out)
        else:
            np.sqrt(v, out=out)
        out += scalar(group["eps"], g)
        np.divide(g, out, out=out)
        if group["momentum"]:
            b = _zeros(state, "momentum_buffer", g)
            b *= scalar(group["momentum"], g)
            b += out
            np.multiply(b, scalar(group["lr"], g), out=out)
        else:
            out *= scalar(group["lr"], g)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011):

        g = dL/dW + weight_decay * W;   s = s + g^2
        W <- W - lr_t g / (sqrt(s) + eps),   lr_t = lr / (1 + (t - 1) lr_decay)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, fused: bool | None = None) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "eps": eps, "fused": fused})

    def check(self, group: dict[str, Any]) -> None:
        super().check(group)
        if group["lr_decay"] < 0 or group["initial_accumulator_value"] < 0:
            raise ValueError("Adagrad: lr_decay and initial_accumulator_value must be >= 0")

    def update(self, g: np.ndarray, state: dict[str, Any], group: dict[str, Any],
               out: np.ndarray) -> None:
        s = _zeros(state, "sum", g, group["initial_accumulator_value"])
        np.multiply(g, g, out=out)
        s += out
        lr = float(group["lr"]) / (1 + (state["step"] - 1) * float(group["lr_decay"]))
        np.sqrt(s, out=out)
        out += scalar(group["eps"], g)
        np.divide(g, out, out=out)
        out *= scalar(lr, g)
