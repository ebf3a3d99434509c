"""The backpropagation derivation of a small network, with its numbers, every one checked.

For a ``Sequential`` of Linear layers, each followed by an activation, and m examples
as the rows of X (A^(0) = X):

    forward     Z^(l) = A^(l-1) W^(l)T + b^(l),   A^(l) = f_l(Z^(l))
    output      delta^(L) = A^(L) - Y                       (softmax + cross-entropy,
                                                             sigmoid + binary cross-entropy)
                delta^(L) = (A^(L) - Y) * f_L'(Z^(L))       (quadratic cost)
    recursion   dA^(l-1) = delta^(l) W^(l),   delta^(l-1) = dA^(l-1) * f'(Z^(l-1))
    gradients   dW^(l) = delta^(l)T A^(l-1) / m,   db^(l) = sum over examples of delta^(l) / m
    update      W <- W - alpha (dW + lambda/m W)   (L2; L1 adds lambda/m sign(W))

delta^(l) is the error of one example (dL/dZ times m), so the averages over the m
examples appear once, in dW and db. With samples as columns (the textbook layout)
every matrix above is transposed: Z = W A + b, dW = delta A^T / m.

Every delta, dW, db and dA is compared with the autograd engine's gradient and
every dW, db with a central-difference numerical gradient (float64).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.nn.activation import ELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from chainrule.nn.container import Sequential
from chainrule.nn.linear import Linear

TOLERANCE = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# activation name -> (forward f(Z), derivative f'(Z) given Z and A, formula text, LaTeX)
ACTIVATIONS: dict[str, tuple[Any, Any, str, str]] = {
    "sigmoid": (_sigmoid, lambda z, a: a * (1 - a), "A * (1 - A)", r"A \odot (1 - A)"),
    "tanh": (np.tanh, lambda z, a: 1 - a * a, "1 - A^2", r"1 - A \odot A"),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(float), "[Z > 0]",
             r"\mathbb{1}[Z > 0]"),
    "identity": (lambda z: z, lambda z, a: np.ones_like(z), "1", "1"),
    "softplus": (lambda z: np.logaddexp(0, z), lambda z, a: _sigmoid(z), "sigmoid(Z)",
                 r"\sigma(Z)"),
}


def derivative(name: str) -> Any:
    """f'(Z, A) of an activation (a seam for tests that plant a wrong derivative)."""
    return ACTIVATIONS[name][1]


@dataclass
class Check:
    """One gradient compared three ways: by the formula, by autograd, numerically."""

    name: str
    formula: np.ndarray
    autograd: np.ndarray
    numeric: np.ndarray | None

    @property
    def diff_autograd(self) -> float:
        return float(np.abs(self.formula - self.autograd).max())

    @property
    def diff_numeric(self) -> float | None:
        return None if self.numeric is None else float(np.abs(self.formula -
                                                             self.numeric).max())

    @property
    def ok(self) -> bool:
        scale = 1 + float(np.abs(self.autograd).max(initial=0))
        good = self.diff_autograd <= TOLERANCE * scale
        if self.numeric is not None:
            good = good and self.diff_numeric <= 1e-5 * scale
        return good


@dataclass
class LayerMath:
    """The numbers of one layer l (samples as rows)."""

    index: int
    activation: str
    W: np.ndarray
    b: np.ndarray
    Z: np.ndarray = None
    A: np.ndarray = None
    delta: np.ndarray = None
    dW: np.ndarray = None
    db: np.ndarray = None
    dA_prev: np.ndarray = None
    W_new: np.ndarray = None
    b_new: np.ndarray = None
    checks: list[Check] = field(default_factory=list)


@dataclass
class Derivation:
    """Everything the explainer prints, for tests to check number by number."""

    X: np.ndarray
    Y: np.ndarray
    loss_name: str
    lr: float
    l1: float
    l2: float
    layers: list[LayerMath]
    loss: float = 0.0
    data_loss: float = 0.0
    losses: list[float] = field(default_factory=list)  # before each of the steps, and after

    @property
    def checks(self) -> list[Check]:
        return [c for layer in self.layers for c in layer.checks]

    @property
    def all_ok(self) -> bool:
        return all(c.ok for c in self.checks)


def layers_of(model: Sequential) -> list[tuple[Linear, str]]:
    """(Linear, activation name) pairs; a Linear without an activation gets the identity."""
    names = {Sigmoid: "sigmoid", Tanh: "tanh", ReLU: "relu", Identity: "identity",
             Softplus: "softplus", Softmax: "softmax"}
    pairs: list[tuple[Linear, str]] = []
    for i, m in enumerate(model):
        if isinstance(m, Linear):
            pairs.append((m, "identity"))
        elif type(m) in names and pairs and pairs[-1][1] == "identity":
            pairs[-1] = (pairs[-1][0], names[type(m)])
        elif isinstance(m, LeakyReLU | ELU):
            raise ValueError(f"explain: layer {i} ({type(m).__name__}) is not supported yet; "
                             f"use sigmoid, tanh, relu, softplus or identity")
        else:
            raise ValueError(f"explain: layer {i} ({type(m).__name__}) must be Linear or an "
                             f"activation following a Linear")
    if not pairs:
        raise ValueError("explain: the model has no Linear layer")
    if any(act == "softmax" for _, act in pairs[:-1]):
        raise ValueError("explain: softmax is supported only as the output activation")
    return pairs


def _check_loss(loss: str, output_act: str) -> None:
    if loss == "cross-entropy" and output_act != "softmax":
        raise ValueError("explain: loss cross-entropy needs a softmax output layer")
    if loss == "bce" and output_act != "sigmoid":
        raise ValueError("explain: loss bce needs a sigmoid output layer")
    if loss == "mse" and output_act == "softmax":
        raise ValueError("explain: use cross-entropy with a softmax output")
    if loss not in ("mse", "bce", "cross-entropy"):
        raise ValueError(f"explain: loss must be mse, bce or cross-entropy, got {loss!r}")


def _loss_value(a: np.ndarray, y: np.ndarray, loss: str) -> float:
    m = len(y)
    if loss == "mse":
        return float(((a - y) ** 2).sum() / (2 * m))
    if loss == "bce":
        return float(-(y * np.log(a) + (1 - y) * np.log(1 - a)).sum() / m)
    return float(-(y * np.log(a)).sum() / m)


def _reg_value(ws: list[np.ndarray], m: int, l1: float, l2: float) -> float:
    return sum(l2 / (2 * m) * (w * w).sum() + l1 / m * np.abs(w).sum() for w in ws)


def _forward(pairs: list[tuple[np.ndarray, np.ndarray, str]], x: np.ndarray) -> list[tuple]:
    out, a = [], x
    for w, b, act in pairs:
        z = a @ w.T + b
        a = (np.exp(z - z.max(axis=1, keepdims=True)) /
             np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)
             if act == "softmax" else ACTIVATIONS[act][0](z))
        out.append((z, a))
    return out


def _total_loss(params: list[tuple[np.ndarray, np.ndarray, str]], x: np.ndarray,
                y: np.ndarray, loss: str, l1: float, l2: float) -> float:
    a = _forward(params, x)[-1][1]
    return _loss_value(a, y, loss) + _reg_value([w for w, _, _ in params], len(x), l1, l2)


def _numeric(params: list, x: np.ndarray, y: np.ndarray, loss: str, l1: float, l2: float,
             target: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the total loss with respect to every entry of ``target``."""
    g = np.zeros_like(target)
    flat, gflat = target.reshape(-1), g.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        plus = _total_loss(params, x, y, loss, l1, l2)
        flat[k] = old - eps
        minus = _total_loss(params, x, y, loss, l1, l2)
        flat[k] = old
        gflat[k] = (plus - minus) / (2 * eps)
    return g


def _autograd(params: list, x: np.ndarray, y: np.ndarray, loss: str, l1: float, l2: float
              ) -> tuple[list, list, list]:
    """The engine's dL/dW, dL/db, dL/dZ and dL/dA for every layer."""
    ws = [Tensor(w.copy(), requires_grad=True) for w, _, _ in params]
    bs = [Tensor(b.copy(), requires_grad=True) for _, b, _ in params]
    a = Tensor(x)
    zs, acts = [], [a]
    for w, b, (_, _, act) in zip(ws, bs, params, strict=True):
        z = F.linear(a, w, b)
        z.retain_grad()
        zs.append(z)
        if act == "softmax" and loss == "cross-entropy":
            a = z  # the fused loss below takes the logits
        else:
            a = {"sigmoid": F.sigmoid, "tanh": F.tanh, "relu": F.relu, "softplus": F.softplus,
                 "identity": lambda t: t, "softmax": lambda t: F.softmax(t, -1)}[act](z)
        if a is not z:
            a.retain_grad()
        acts.append(a)
    m = len(x)
    if loss == "mse":
        total = ((a - Tensor(y)) ** 2).sum() * (1 / (2 * m))
    elif loss == "bce":
        total = F.binary_cross_entropy(a, Tensor(y), reduction="sum") * (1 / m)
    else:
        total = F.cross_entropy(a, Tensor(y))
    for w in ws:
        if l2:
            total = total + (w * w).sum() * (l2 / (2 * m))
        if l1:
            total = total + w.abs().sum() * (l1 / m)
    total.backward()
    return ([w.grad.data for w in ws], [b.grad.data for b in bs],
            [(z.grad.data, None if t.grad is None else t.grad.data)
             for z, t in zip(zs, acts[:-1], strict=True)])


def derive(model: Sequential, x: Any, y: Any, loss: str = "cross-entropy", lr: float = 0.5,
           l1: float = 0.0, l2: float = 0.0, steps: int = 1) -> Derivation:
    """Compute the derivation (step 1 in full, then the loss after each of ``steps``)."""
    pairs = layers_of(model)
    _check_loss(loss, pairs[-1][1])
    x = np.asarray(getattr(x, "data", x), np.float64)
    y = np.asarray(getattr(y, "data", y), np.float64)
    n_in, n_out = pairs[0][0].in_features, pairs[-1][0].out_features
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"explain: x must have shape (examples, {n_in}), got {x.shape}")
    if y.shape != (len(x), n_out):
        raise ValueError(f"explain: y must have shape ({len(x)}, {n_out}) (one-hot rows for "
                         f"classification), got {y.shape}")
    params = [(lin.weight.data.astype(np.float64).copy(),
               (lin.bias.data if lin.bias is not None else np.zeros(lin.out_features))
               .astype(np.float64).copy(), act) for lin, act in pairs]
    d = Derivation(x, y, loss, lr, l1, l2, [])
    for step in range(steps):
        d.losses.append(_total_loss(params, x, y, loss, l1, l2))
        if step == 0:
            _first_step(d, params)
        params = _apply_update(params, x, y, loss, lr, l1, l2)
    d.losses.append(_total_loss(params, x, y, loss, l1, l2))
    return d


def _gradients(params: list, x: np.ndarray, y: np.ndarray, loss: str, l1: float, l2: float
               ) -> tuple[list, list]:
    """Forward values and the formula's (delta, dW, db, dA_prev) per layer."""
    m = len(x)
    fwd = _forward(params, x)
    back: list[tuple] = [None] * len(params)
    z_l, a_l = fwd[-1]
    act = params[-1][2]
    delta = a_l - y if loss in ("cross-entropy", "bce") else (a_l - y) * derivative(act)(z_l,
                                                                                         a_l)
    for l in range(len(params) - 1, -1, -1):
        w = params[l][0]
        a_prev = x if l == 0 else fwd[l - 1][1]
        dw = delta.T @ a_prev / m + l2 / m * w + l1 / m * np.sign(w)
        db = delta.sum(axis=0) / m
        da_prev = delta @ w
        back[l] = (delta, dw, db, da_prev)
        if l:
            z_prev, a_prev_act = fwd[l - 1]
            delta = da_prev * derivative(params[l - 1][2])(z_prev, a_prev_act)
    return fwd, back


def _apply_update(params: list, x: np.ndarray, y: np.ndarray, loss: str, lr: float, l1: float,
                  l2: float) -> list:
    _, back = _gradients(params, x, y, loss, l1, l2)
    return [(w - lr * dw, b - lr * db, act)
            for (w, b, act), (_, dw, db, _) in zip(params, back, strict=True)]


def _first_step(d: Derivation, params: list) -> None:
    x, y, m = d.X, d.Y, len(d.X)
    fwd, back = _gradients(params, x, y, d.loss_name, d.l1, d.l2)
    grads_w, grads_b, grads_z = _autograd(params, x, y, d.loss_name, d.l1, d.l2)
    d.data_loss = _loss_value(fwd[-1][1], y, d.loss_name)
    d.loss = d.losses[0]
    for l, ((w, b, act), (z, a), (delta, dw, db, da_prev)) in enumerate(
            zip(params, fwd, back, strict=True)):
        layer = LayerMath(l + 1, act, w.copy(), b.copy(), z, a, delta, dw, db, da_prev,
                          w - d.lr * dw, b - d.lr * db)
        layer.checks = [
            Check(f"delta^({l + 1})", delta, grads_z[l][0] * m, None),
            Check(f"dW^({l + 1})", dw, grads_w[l],
                  _numeric(params, x, y, d.loss_name, d.l1, d.l2, params[l][0])),
            Check(f"db^({l + 1})", db, grads_b[l],
                  _numeric(params, x, y, d.loss_name, d.l1, d.l2, params[l][1])),
        ]
        if l > 0 and grads_z[l][1] is not None:
            layer.checks.append(Check(f"dA^({l})", da_prev, grads_z[l][1] * m, None))
        d.layers.append(layer)
