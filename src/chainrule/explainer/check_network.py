"""The network a learner's file computes, rebuilt by ``chainrule check``: its layout, its
activations and its loss, found by matching the learner's own forward output and cost
against candidates; and the true gradients of it, by autograd and by central differences.

Layouts (W keeps the learner's shape in each):

    columns   X (features, m)   Z = W A + b      W (out, in), b (out, 1)
    rows      X (m, features)   Z = A W^T + b    W (out, in), b (out,) or (1, out)
    rows_xw   X (m, features)   Z = A W + b      W (in, out), b (out,) or (1, out)

Intermediates follow the course convention: dZ^(l) = m dJ/dZ^(l), dA^(l) = m dJ/dA^(l).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.explainer.check_load import CheckFileError, Learner
from chainrule.explainer.derivation import Act

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
OUTPUT = ("sigmoid", "softmax", "identity", "tanh", "relu", "leaky_relu")
LEAKY_SLOPE = 0.01
MAX_LAYERS_SEARCHED = 5  # 5^4 x 6 candidate networks; deeper ones declare ACTIVATIONS


@dataclass(frozen=True)
class Layout:
    """Where the examples are and how Z is formed; the backward formulas that follow."""

    name: str

    @property
    def example_axis(self) -> int:
        return 1 if self.name == "columns" else 0

    @property
    def feature_axis(self) -> int:
        return 1 - self.example_axis

    def z(self, a: Any, w: Any, b: Any) -> Any:
        """Z from the previous layer's A (numpy arrays or Tensors alike)."""
        if self.name == "columns":
            return w @ a + b
        return a @ (w if self.name == "rows_xw" else w.T) + b

    def dw(self, dz: np.ndarray, a_prev: np.ndarray, m: int) -> np.ndarray:
        if self.name == "columns":
            return dz @ a_prev.T / m
        return (a_prev.T @ dz if self.name == "rows_xw" else dz.T @ a_prev) / m

    def db(self, dz: np.ndarray, b: np.ndarray, m: int) -> np.ndarray:
        return (dz.sum(axis=self.example_axis) / m).reshape(b.shape)

    def da(self, dz: np.ndarray, w: np.ndarray) -> np.ndarray:
        if self.name == "columns":
            return w.T @ dz
        return dz @ (w.T if self.name == "rows_xw" else w)

    def out_units(self, w: np.ndarray) -> int:
        return w.shape[1] if self.name == "rows_xw" else w.shape[0]

    def in_units(self, w: np.ndarray) -> int:
        return w.shape[0] if self.name == "rows_xw" else w.shape[1]

    def fits(self, x: np.ndarray, ws: Sequence[np.ndarray], y: np.ndarray) -> bool:
        """Whether the shapes of X, the W's and Y chain up in this layout."""
        features, m = (x.shape[0], x.shape[1]) if self.name == "columns" else x.shape[::-1]
        sizes = [features]
        for w in ws:
            if self.in_units(w) != sizes[-1]:
                return False
            sizes.append(self.out_units(w))
        want = (sizes[-1], m) if self.name == "columns" else (m, sizes[-1])
        return y.shape == want


LAYOUTS = (Layout("rows"), Layout("rows_xw"), Layout("columns"))


def parse_activation(text: Any) -> tuple[str, float | None]:
    """'relu', 'leaky_relu' (slope 0.01) or 'leaky_relu(0.2)' -> (name, parameter)."""
    name = str(text).strip().lower().replace("-", "_")
    param = None
    if name.startswith("leaky_relu(") and name.endswith(")"):
        try:
            name, param = "leaky_relu", float(name[len("leaky_relu("):-1])
        except ValueError:
            name = "?"
    if name not in OUTPUT:
        raise CheckFileError(f"unknown activation {text!r}: use one of {', '.join(OUTPUT)}")
    if name == "leaky_relu" and param is None:
        param = LEAKY_SLOPE
    return name, param


def activate(act: tuple[str, float | None], z: np.ndarray, layout: Layout) -> np.ndarray:
    if act[0] == "softmax":  # over each example's outputs; the shift keeps exp finite
        e = np.exp(z - z.max(axis=layout.feature_axis, keepdims=True))
        return e / e.sum(axis=layout.feature_axis, keepdims=True)
    return Act(*act)(z)


def derivative(act: tuple[str, float | None], z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(Z) of an elementwise activation, from Z and A = f(Z)."""
    return Act(*act).derivative(z, a)


def activation_backward(act: tuple[str, float | None], da: np.ndarray, z: np.ndarray,
                        a: np.ndarray, layout: Layout) -> np.ndarray:
    """dZ from dA: dA * f'(Z), or for softmax A * (dA - sum over outputs of A * dA)."""
    if act[0] == "softmax":
        return a * (da - (a * da).sum(axis=layout.feature_axis, keepdims=True))
    return da * derivative(act, z, a)


def _log(a: Any) -> Any:
    return a.log() if hasattr(a, "log") else np.log(a)


# loss name -> (J(A, Y, m, n) on arrays or Tensors, m dJ/dA(A, Y, n)), n outputs per example
LOSSES: dict[str, tuple[Callable, Callable]] = {
    "cross-entropy": (lambda a, y, m, n: -(y * _log(a)).sum() * (1 / m),
                      lambda a, y, n: -y / a),
    "binary-cross-entropy": (
        lambda a, y, m, n: -(y * _log(a) + (1 - y) * _log(1 - a)).sum() * (1 / m),
        lambda a, y, n: -(y / a - (1 - y) / (1 - a))),
    "mse/2": (lambda a, y, m, n: ((a - y) ** 2).sum() * (1 / (2 * m)), lambda a, y, n: a - y),
    "mse": (lambda a, y, m, n: ((a - y) ** 2).sum() * (1 / m), lambda a, y, n: 2 * (a - y)),
    "mse-mean": (lambda a, y, m, n: ((a - y) ** 2).sum() * (1 / (m * n)),
                 lambda a, y, n: 2 * (a - y) / n),
}
# the L2 penalty k sum ||W||^2, as the learner's cost may scale it: name -> k(lambda, m)
PENALTIES: dict[str, Callable[[float, int], float]] = {
    "lambda/(2m)": lambda lam, m: lam / (2 * m), "lambda/m": lambda lam, m: lam / m,
    "lambda/2": lambda lam, m: lam / 2, "lambda": lambda lam, m: lam,
}


def close(a: Any, b: np.ndarray, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Same shape and max |a - b| <= rtol max |b| + atol."""
    a = np.asarray(a)
    if a.shape != np.shape(b):
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.abs(a - b).max(initial=0) <= rtol * np.abs(b).max(initial=0) + atol)


@dataclass
class Net:
    """The learner's network as check understands it, with the learner's weights."""

    layout: Layout
    acts: list[tuple[str, float | None]]
    loss: str
    lambd: float
    penalty: str  # how the cost scales the L2 term (see PENALTIES)
    penalty_in_cost: bool  # whether the learner's cost adds it (else check adds it)
    Ws: list[np.ndarray]
    bs: list[np.ndarray]
    X: np.ndarray
    Y: np.ndarray

    @property
    def L(self) -> int:
        return len(self.Ws)

    @property
    def m(self) -> int:
        return self.X.shape[self.layout.example_axis]

    @property
    def n_out(self) -> int:
        return self.Y.shape[self.layout.feature_axis]

    @property
    def k(self) -> float:
        """The L2 penalty's coefficient: J = data loss + k sum ||W||^2, dW gains 2 k W."""
        return PENALTIES[self.penalty](self.lambd, self.m) if self.lambd else 0.0

    def forward(self, start: int = 0, a: np.ndarray | None = None) -> tuple[list, list]:
        """Zs[l], As[l] for l = start+1..L (index l; A[start] = a, default X)."""
        zs: list = [None] * (self.L + 1)
        as_: list = [None] * (self.L + 1)
        as_[start] = self.X if a is None else a
        for l in range(start + 1, self.L + 1):
            zs[l] = self.layout.z(as_[l - 1], self.Ws[l - 1], self.bs[l - 1])
            as_[l] = activate(self.acts[l - 1], zs[l], self.layout)
        return zs, as_

    def data_loss(self, a_out: Any, y: Any = None) -> Any:
        return LOSSES[self.loss][0](a_out, self.Y if y is None else y, self.m, self.n_out)

    def dA_out(self, a_out: np.ndarray) -> np.ndarray:
        """m dJ/dA^(L) of the loss."""
        return LOSSES[self.loss][1](a_out, self.Y, self.n_out)


def _candidates(learner: Learner, layouts: Sequence[Layout], declared: list | None
                ) -> Any:
    """(layout, activations) pairs to try, the declared ones or the small product space."""
    L = learner.layers
    if declared is not None:
        if len(declared) != L:
            raise CheckFileError(f"ACTIVATIONS names {len(declared)} activations but the "
                                 f"network has {L} layers")
        acts = [parse_activation(a) for a in declared]
        return ((layout, acts) for layout in layouts)
    if L > MAX_LAYERS_SEARCHED:
        example = ", ".join(['"relu"'] * (L - 1) + ['"sigmoid"'])
        raise CheckFileError(f"{L} layers are too many to infer the activations of: declare "
                             f"them, e.g. ACTIVATIONS = [{example}]")
    hidden = [parse_activation(a) for a in HIDDEN]
    output = [parse_activation(a) for a in OUTPUT]
    return ((layout, list(acts)) for layout in layouts
            for acts in itertools.product(*[hidden] * (L - 1), output))


def layouts_for(learner: Learner, forced: str | None) -> list[Layout]:
    ws = [learner.W(l) for l in range(1, learner.layers + 1)]
    fitting = [lay for lay in LAYOUTS if lay.fits(learner.X, ws, learner.Y)]
    if forced is not None:
        fitting = [lay for lay in fitting if (lay.name == "columns") == (forced == "columns")]
    if not fitting:
        shapes = ", ".join(f"W{l} {w.shape}" for l, w in enumerate(ws, 1))
        where = f" as {forced}" if forced else " (examples as rows or as columns)"
        raise CheckFileError(f"the shapes do not chain up{where}: X {learner.X.shape}, "
                             f"{shapes}, Y {learner.Y.shape}")
    return fitting


def infer_network(learner: Learner, a_out: np.ndarray, forced_layout: str | None,
                  declared: list | None) -> tuple[Layout, list, list[str]]:
    """The layout and activations whose forward pass gives the learner's A^(L), and the
    other activations that would fit as well (where all Z > 0 relu and identity agree)."""
    ws = [learner.W(l) for l in range(1, learner.layers + 1)]
    bs = [learner.b(l) for l in range(1, learner.layers + 1)]
    found: list = []
    with np.errstate(all="ignore"):
        for layout, acts in _candidates(learner, layouts_for(learner, forced_layout),
                                        declared):
            net = Net(layout, acts, "mse", 0.0, "lambda/(2m)", False, ws, bs, learner.X,
                      learner.Y)
            try:
                out = net.forward()[1][-1]
            except ValueError:  # a bias that does not broadcast in this layout
                continue
            if close(a_out, out, 1e-6, 1e-10):
                found.append((layout, acts))
    if not found:
        what = "the declared ACTIVATIONS" if declared else (
            f"any network of {', '.join(HIDDEN)} layers with a {', '.join(OUTPUT)} output")
        raise CheckFileError(f"the output of forward matches {what} with your weights; "
                             f"check forward, or declare ACTIVATIONS = [...]")
    layout, acts = found[0]
    others = [", ".join(map(activation_name, a)) for lay, a in found[1:]
              if lay == layout and _differ(learner, layout, acts, a)]
    return layout, acts, others


def activation_name(act: tuple[str, float | None]) -> str:
    """'relu', or 'leaky_relu(0.2)' for a slope other than the usual 0.01."""
    name, p = act
    return f"{name}({p:g})" if name == "leaky_relu" and p != LEAKY_SLOPE else name


def _differ(learner: Learner, layout: Layout, acts: list, other: list) -> bool:
    """Whether two activation lists that give the same output have different derivatives
    on these examples (relu and identity, where every Z > 0, do not: no need to say)."""
    ws = [learner.W(l) for l in range(1, learner.layers + 1)]
    bs = [learner.b(l) for l in range(1, learner.layers + 1)]
    net = Net(layout, acts, "mse", 0.0, "lambda/(2m)", False, ws, bs, learner.X, learner.Y)
    zs, as_ = net.forward()
    return any(a != b and (a[0] == "softmax" or b[0] == "softmax" or not np.allclose(
        derivative(a, zs[l], as_[l]), derivative(b, zs[l], as_[l])))
        for l, (a, b) in enumerate(zip(acts, other, strict=True), 1))


def infer_loss(net: Net, cost_value: float | None, declared: str | None) -> tuple[str, str,
                                                                                  bool]:
    """(loss, penalty, penalty_in_cost) whose value equals the learner's cost."""
    names = list(LOSSES)
    if declared is not None:
        key = str(declared).strip().lower().replace("_", "-")
        key = {"bce": "binary-cross-entropy", "ce": "cross-entropy"}.get(key, key)
        if key not in LOSSES:
            raise CheckFileError(f"unknown LOSS {declared!r}: use one of {', '.join(LOSSES)}")
        names = [key]
    penalties = [(p, inside) for inside in (False, True) for p in PENALTIES
                 if inside or p == "lambda/(2m)"] if net.lambd else [("lambda/(2m)", False)]
    if cost_value is None:  # no cost function: the declared loss, the course's L2 term
        return names[0], "lambda/(2m)", False
    a_out = net.forward()[1][-1]
    reg = sum(float((w * w).sum()) for w in net.Ws)
    with np.errstate(all="ignore"):
        for name in names:
            data = float(LOSSES[name][0](a_out, net.Y, net.m, net.n_out))
            for penalty, inside in penalties:
                k = PENALTIES[penalty](net.lambd, net.m) if inside else 0.0
                if close(cost_value, data + k * reg, 1e-6, 1e-10):
                    return name, penalty, inside
    raise CheckFileError(f"the cost {cost_value:.6g} matches no loss check knows "
                         f"({', '.join(names)}"
                         + (", with or without an L2 term" if net.lambd else "")
                         + "); check cost, or declare LOSS = \"...\"")
