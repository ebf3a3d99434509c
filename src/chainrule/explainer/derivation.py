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

Every delta, dW, db and dA is compared with the autograd engine's gradient and with
a central-difference numerical gradient (float64): for dW and db by perturbing each
weight and recomputing the loss; for delta^(l) = m dJ/dZ^(l) and dA^(l) = m dJ/dA^(l)
by perturbing each entry of the intermediate Z^(l) or A^(l) and running the rest of the
network forward from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.gradcheck import central_differences
from chainrule.nn.activation import (
    ACTIVATIONS,
    Activation,
    Derivative,
    Softmax,
    get_activation,
)
from chainrule.nn.container import Sequential
from chainrule.nn.linear import Linear

TOLERANCE = 1e-6  # formula vs autograd: the same float64 arithmetic, in another order
NUMERIC_TOLERANCE = 1e-5  # vs central differences, whose error is about eps^2 + 1e-16/eps


def explainable() -> tuple[type[Activation], ...]:
    """The activation modules explain understands: the elementwise ones, and softmax as
    the output layer."""
    return tuple(cls for cls in ACTIVATIONS.values()
                 if cls.derivative is not None or cls is Softmax)


def derivative(name: str) -> Derivative:
    """f'(Z, A, p) of an activation (a seam for tests that plant a wrong derivative)."""
    return get_activation(name).derivative


@dataclass(frozen=True)
class Act:
    """One layer's activation: its name and its parameter p (leaky_relu's slope s, elu's
    alpha, softplus's beta; None for the others)."""

    name: str
    param: float | None = None

    def engine(self, z: Tensor) -> Tensor:
        """f(Z) by the library's own functional form (softmax: over each row, i.e. each
        example)."""
        return get_activation(self.name).function(z, *(() if self.param is None else
                                                       (self.param,)))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """A = f(Z) on arrays, by the same function the network runs."""
        with no_grad():
            return self.engine(Tensor(z)).data

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """f'(Z), elementwise (not defined for softmax, whose Jacobian is not diagonal)."""
        return derivative(self.name)(z, a, self.param)


@dataclass
class Check:
    """One gradient compared three ways: by the formula, by autograd, numerically.

    ok: max |formula - autograd| <= 1e-6 (1 + max |autograd|) and
        max |formula - numeric|  <= 1e-5 (1 + max |autograd|).
    """

    name: str
    formula: np.ndarray
    autograd: np.ndarray
    numeric: np.ndarray

    @property
    def diff_autograd(self) -> float:
        return float(np.abs(self.formula - self.autograd).max(initial=0))

    @property
    def diff_numeric(self) -> float:
        return float(np.abs(self.formula - self.numeric).max(initial=0))

    @property
    def ok(self) -> bool:
        scale = 1 + float(np.abs(self.autograd).max(initial=0))
        return (self.diff_autograd <= TOLERANCE * scale and
                self.diff_numeric <= NUMERIC_TOLERANCE * scale)


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
    param: float | None = None  # the activation's parameter (see Activation.parameter)


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


def _activation_of(i: int, module: Activation) -> Act:
    """The Act of the activation module at position i of the Sequential."""
    if isinstance(module, Softmax) and module.axis not in (-1, 1):
        raise ValueError(f"explain: layer {i} (Softmax(axis={module.axis})) must normalize "
                         f"each example's outputs: use axis=-1")
    attribute = module.parameter
    return Act(module.name, None if attribute is None else float(getattr(module, attribute)))


def layers_of(model: Sequential) -> list[tuple[Linear, Act]]:
    """(Linear, activation) pairs; a Linear without an activation gets the identity."""
    pairs: list[tuple[Linear, Act]] = []
    for i, m in enumerate(model):
        if isinstance(m, Linear):
            pairs.append((m, Act("identity")))
        elif type(m) in explainable() and pairs and pairs[-1][1].name == "identity":
            pairs[-1] = (pairs[-1][0], _activation_of(i, m))
        else:
            allowed = ", ".join(cls.__name__ for cls in explainable())
            raise ValueError(f"explain: layer {i} ({type(m).__name__}) must be Linear or one "
                             f"activation right after a Linear ({allowed})")
    if not pairs:
        raise ValueError("explain: the model has no Linear layer")
    if any(act.name == "softmax" for _, act in pairs[:-1]):
        raise ValueError("explain: softmax is supported only as the output activation")
    return pairs


def _check_loss(loss: str, output: str) -> None:
    """The output layer's delta is A - Y only for these pairs; mse takes any elementwise f."""
    if loss not in ("mse", "bce", "cross-entropy"):
        raise ValueError(f"explain: loss must be mse, bce or cross-entropy, got {loss!r}")
    if loss == "cross-entropy" and output != "softmax":
        raise ValueError(f"explain: loss cross-entropy needs a softmax output layer, "
                         f"not {output}")
    if loss == "bce" and output != "sigmoid":
        raise ValueError(f"explain: loss bce needs a sigmoid output layer, not {output}")
    if loss == "mse" and output == "softmax":
        raise ValueError("explain: loss mse needs an elementwise output activation (sigmoid, "
                         "identity, ...), not softmax; a softmax output goes with loss "
                         "cross-entropy")


def _check_targets(y: np.ndarray, loss: str) -> None:
    """bce needs targets in [0, 1]; softmax cross-entropy's delta A - Y needs rows of Y
    that sum to 1 (in general delta = A sum(Y) - Y)."""
    if loss == "bce" and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"explain: loss bce needs targets between 0 and 1, got values from "
                         f"{y.min():g} to {y.max():g}")
    sums = y.sum(axis=1)
    if loss == "cross-entropy" and not np.allclose(sums, 1):
        k = int(np.argmax(~np.isclose(sums, 1)))
        raise ValueError(f"explain: loss cross-entropy needs each row of y to sum to 1 "
                         f"(one-hot or probabilities); row {k} sums to {sums[k]:g}")


def _loss_value(a: np.ndarray, y: np.ndarray, loss: str) -> float:
    m = len(y)
    if loss == "mse":
        return float(((a - y) ** 2).sum() / (2 * m))
    if loss == "bce":
        return float(-(y * np.log(a) + (1 - y) * np.log(1 - a)).sum() / m)
    return float(-(y * np.log(a)).sum() / m)


def _reg_value(ws: list[np.ndarray], m: int, l1: float, l2: float) -> float:
    return sum(l2 / (2 * m) * (w * w).sum() + l1 / m * np.abs(w).sum() for w in ws)


def _forward(params: list[tuple[np.ndarray, np.ndarray, Act]], x: np.ndarray) -> list[tuple]:
    """(Z^(l), A^(l)) of every layer: Z = A_prev W^T + b, A = f(Z), from A^(0) = x."""
    out, a = [], x
    for w, b, act in params:
        z = a @ w.T + b
        a = act(z)
        out.append((z, a))
    return out


def _total_loss(params: list[tuple[np.ndarray, np.ndarray, Act]], x: np.ndarray,
                y: np.ndarray, loss: str, l1: float, l2: float) -> float:
    a = _forward(params, x)[-1][1]
    return _loss_value(a, y, loss) + _reg_value([w for w, _, _ in params], len(x), l1, l2)


def _loss_from(params: list, l: int, value: np.ndarray, is_z: bool, y: np.ndarray,
               loss: str) -> float:
    """The data loss computed from layer l's Z^(l) (is_z) or A^(l) = ``value``: apply f_l
    if needed, then run layers l+1..L forward. (The L1/L2 terms depend on the weights
    only, so their derivative with respect to Z or A is zero and they are left out.)"""
    a = params[l][2](value) if is_z else value
    if l + 1 < len(params):
        a = _forward(params[l + 1:], a)[-1][1]
    return _loss_value(a, y, loss)


def _numeric_weights(params: list, x: np.ndarray, y: np.ndarray, loss: str, l1: float,
                     l2: float, target: np.ndarray) -> np.ndarray:
    """Central differences of the total loss (with L1/L2) for a W or b in ``params``."""
    return central_differences(lambda: _total_loss(params, x, y, loss, l1, l2), target)


def _numeric_intermediate(params: list, l: int, value: np.ndarray, is_z: bool,
                          y: np.ndarray, loss: str) -> np.ndarray:
    """m dJ/dZ^(l) (is_z) or m dJ/dA^(l) by central differences: delta and dA are the
    errors of single examples, m times the gradient of the mean loss."""
    value = value.copy()  # perturbed in place
    return len(y) * central_differences(lambda: _loss_from(params, l, value, is_z, y, loss),
                                        value)


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
        if act.name == "softmax" and loss == "cross-entropy":
            a = z  # the fused loss below takes the logits
        else:
            a = act.engine(z)
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
    _check_loss(loss, pairs[-1][1].name)
    x = np.asarray(getattr(x, "data", x), np.float64)
    y = np.asarray(getattr(y, "data", y), np.float64)
    n_in, n_out = pairs[0][0].in_features, pairs[-1][0].out_features
    if x.ndim != 2 or x.shape[1] != n_in or len(x) == 0:
        raise ValueError(f"explain: x must have shape (examples, {n_in}) with at least one "
                         f"example, got {x.shape}")
    if y.shape != (len(x), n_out):
        raise ValueError(f"explain: y must have shape ({len(x)}, {n_out}) (one-hot rows for "
                         f"classification), got {y.shape}")
    _check_targets(y, loss)
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
    delta = a_l - y if loss in ("cross-entropy", "bce") else (a_l - y) * act.derivative(z_l,
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
            delta = da_prev * params[l - 1][2].derivative(z_prev, a_prev_act)
    return fwd, back


def _apply_update(params: list, x: np.ndarray, y: np.ndarray, loss: str, lr: float, l1: float,
                  l2: float) -> list:
    _, back = _gradients(params, x, y, loss, l1, l2)
    return [(w - lr * dw, b - lr * db, act)
            for (w, b, act), (_, dw, db, _) in zip(params, back, strict=True)]


def _first_step(d: Derivation, params: list) -> None:
    """Layer by layer: the formula's numbers and, for each gradient, autograd's and the
    central differences' (delta^(l), dW^(l), db^(l), and dA^(l-1) from layer 2 on)."""
    x, y, m = d.X, d.Y, len(d.X)
    fwd, back = _gradients(params, x, y, d.loss_name, d.l1, d.l2)
    grads_w, grads_b, grads_z = _autograd(params, x, y, d.loss_name, d.l1, d.l2)
    d.data_loss = _loss_value(fwd[-1][1], y, d.loss_name)
    d.loss = d.losses[0]
    for l, ((w, b, act), (z, a), (delta, dw, db, da_prev)) in enumerate(
            zip(params, fwd, back, strict=True)):
        layer = LayerMath(l + 1, act.name, w.copy(), b.copy(), z, a, delta, dw, db, da_prev,
                          w - d.lr * dw, b - d.lr * db, param=act.param)
        layer.checks = [
            Check(f"delta^({l + 1})", delta, grads_z[l][0] * m,
                  _numeric_intermediate(params, l, z, True, y, d.loss_name)),
            Check(f"dW^({l + 1})", dw, grads_w[l],
                  _numeric_weights(params, x, y, d.loss_name, d.l1, d.l2, params[l][0])),
            Check(f"db^({l + 1})", db, grads_b[l],
                  _numeric_weights(params, x, y, d.loss_name, d.l1, d.l2, params[l][1])),
        ]
        if l > 0:  # dA^(l) = dJ/dA^(l) m, the input of layer l + 1 (dA^(0) = dX is not shown)
            layer.checks.append(Check(f"dA^({l})", da_prev, grads_z[l][1] * m,
                                      _numeric_intermediate(params, l - 1, fwd[l - 1][1],
                                                            False, y, d.loss_name)))
        d.layers.append(layer)
