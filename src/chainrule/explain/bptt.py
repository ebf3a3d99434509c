"""Backpropagation through time, derived step by step for a tiny RNN, every number checked.

One sequence x_1..x_T (column vectors), targets y_t (class indices):

    forward   a_t = U x_t + W h_{t-1} + b,   h_t = tanh(a_t),   h_0 = 0
              o_t = V h_t + c,   p_t = softmax(o_t),   L = sum_t -log p_t[y_t]
    backward  do_t = p_t - onehot(y_t)
              dh_t = V^T do_t + W^T da_{t+1}         (the error flowing back in time)
              da_t = dh_t * (1 - h_t^2)
    shared weights: their gradients are sums over the time steps
              dV = sum_t do_t h_t^T,  dc = sum_t do_t
              dU = sum_t da_t x_t^T,  dW = sum_t da_t h_{t-1}^T,  db = sum_t da_t
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.explain.derivation import Check, central_difference
from chainrule.explain.render import _Doc

NAMES = ("U", "W", "V", "b", "c")


@dataclass
class BPTT:
    """The numbers of the derivation, for tests to check one by one."""

    params: dict[str, np.ndarray]
    xs: np.ndarray  # (T, input)
    ys: np.ndarray  # (T,)
    h: list[np.ndarray] = field(default_factory=list)  # h_0..h_T
    p: list[np.ndarray] = field(default_factory=list)
    loss: float = 0.0
    do: list[np.ndarray] = field(default_factory=list)
    dh: list[np.ndarray] = field(default_factory=list)
    da: list[np.ndarray] = field(default_factory=list)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    per_step: dict[str, list[np.ndarray]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def all_ok(self) -> bool:
        return all(c.ok for c in self.checks)


def default_rnn() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A fixed tiny RNN (2 inputs, 2 hidden units, 2 classes) over 3 time steps."""
    params = {"U": np.array([[0.5, -0.3], [0.2, 0.4]]), "W": np.array([[0.1, 0.6], [-0.5, 0.3]]),
              "V": np.array([[0.7, -0.2], [-0.4, 0.5]]), "b": np.array([0.05, -0.1]),
              "c": np.array([0.0, 0.1])}
    xs = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 1.0]])
    ys = np.array([0, 1, 1])
    return params, xs, ys


def _loss(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray) -> float:
    h = np.zeros(params["W"].shape[0])
    total = 0.0
    for x, y in zip(xs, ys, strict=True):
        h = np.tanh(params["U"] @ x + params["W"] @ h + params["b"])
        o = params["V"] @ h + params["c"]
        total += float(np.log(np.exp(o - o.max()).sum()) + o.max() - o[y])
    return total


def _numeric(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray, name: str
             ) -> np.ndarray:
    """Central differences of the loss with respect to every entry of params[name]."""
    return central_difference(lambda: _loss(params, xs, ys), params[name])


def _autograd(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray
              ) -> dict[str, np.ndarray]:
    t = {k: Tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    h = Tensor(np.zeros(params["W"].shape[0]))
    total = None
    for x, y in zip(xs, ys, strict=True):
        h = F.tanh(t["U"] @ Tensor(x) + t["W"] @ h + t["b"])
        o = t["V"] @ h + t["c"]
        step = F.cross_entropy(o, np.array(y))
        total = step if total is None else total + step
    total.backward()
    return {k: v.grad.data for k, v in t.items()}


def derive_bptt(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray) -> BPTT:
    """Forward through time, then the BPTT recursion; every sum checked."""
    params = {k: np.asarray(v, np.float64).copy() for k, v in params.items()}
    d = BPTT(params, np.asarray(xs, np.float64), np.asarray(ys))
    U, W, V, b, c = (params[k] for k in NAMES)
    d.h = [np.zeros(W.shape[0])]
    for x, y in zip(d.xs, d.ys, strict=True):
        d.h.append(np.tanh(U @ x + W @ d.h[-1] + b))
        o = V @ d.h[-1] + c
        d.p.append(np.exp(o - o.max()) / np.exp(o - o.max()).sum())
        d.loss += float(-np.log(d.p[-1][y]))
    steps = len(d.xs)
    d.do = [d.p[t] - np.eye(len(c))[d.ys[t]] for t in range(steps)]
    da_next = np.zeros(W.shape[0])
    d.dh, d.da = [None] * steps, [None] * steps
    for t in range(steps - 1, -1, -1):
        d.dh[t] = V.T @ d.do[t] + W.T @ da_next
        d.da[t] = d.dh[t] * (1 - d.h[t + 1] ** 2)
        da_next = d.da[t]
    d.per_step = {
        "V": [np.outer(d.do[t], d.h[t + 1]) for t in range(steps)],
        "c": [d.do[t] for t in range(steps)],
        "U": [np.outer(d.da[t], d.xs[t]) for t in range(steps)],
        "W": [np.outer(d.da[t], d.h[t]) for t in range(steps)],
        "b": [d.da[t] for t in range(steps)],
    }
    d.grads = {k: sum(v) for k, v in d.per_step.items()}
    auto = _autograd(params, d.xs, d.ys)
    d.checks = [Check(f"d{k}", d.grads[k], auto[k], _numeric(params, d.xs, d.ys, k))
                for k in NAMES]
    return d


def render_bptt(d: BPTT, fmt: str = "text") -> str:
    doc = _Doc(fmt)
    steps = len(d.xs)
    doc.heading("Notation")
    doc.line(f"a tanh RNN over T = {steps} steps: a_t = U x_t + W h_(t-1) + b, h_t = tanh(a_t), "
             f"o_t = V h_t + c, p_t = softmax(o_t), L = sum_t -log p_t[y_t]; h_0 = 0",
             r"a_t = U x_t + W h_{t-1} + b,\ h_t = \tanh(a_t),\ o_t = V h_t + c,\ "
             r"L = -\sum_t \log \mathrm{softmax}(o_t)_{y_t}")
    for k in NAMES:
        doc.matrix(k, k, d.params[k] if d.params[k].ndim == 2 else d.params[k][:, None])
    doc.heading("Forward through time")
    for t in range(steps):
        doc.line(f"t = {t + 1}: x_{t + 1} = {np.round(d.xs[t], 4).tolist()}, target "
                 f"y_{t + 1} = {int(d.ys[t])}")
        doc.matrix(f"h_{t + 1}", f"h_{{{t + 1}}}", d.h[t + 1][:, None])
        doc.matrix(f"p_{t + 1}", f"p_{{{t + 1}}}", d.p[t][:, None])
    doc.line(f"L = {d.loss:.6f}")
    doc.heading("Backward through time (t = T down to 1)")
    doc.line("do_t = p_t - onehot(y_t);  dh_t = V^T do_t + W^T da_(t+1);  "
             "da_t = dh_t * (1 - h_t^2)",
             r"do_t = p_t - e_{y_t},\ dh_t = V^\top do_t + W^\top da_{t+1},\ "
             r"da_t = dh_t \odot (1 - h_t^2)")
    for t in range(steps - 1, -1, -1):
        doc.line(f"t = {t + 1}")
        doc.matrix(f"do_{t + 1}", f"do_{{{t + 1}}}", d.do[t][:, None])
        doc.matrix(f"dh_{t + 1}", f"dh_{{{t + 1}}}", d.dh[t][:, None])
        doc.matrix(f"da_{t + 1}", f"da_{{{t + 1}}}", d.da[t][:, None])
    doc.heading("Shared weights: sums over time")
    formulas = {"V": "dV = sum_t do_t h_t^T", "c": "dc = sum_t do_t",
                "U": "dU = sum_t da_t x_t^T", "W": "dW = sum_t da_t h_(t-1)^T",
                "b": "db = sum_t da_t"}
    for k, check in zip(NAMES, d.checks, strict=True):
        doc.line(formulas[k])
        for t, part in enumerate(d.per_step[k]):
            doc.matrix(f"  step {t + 1}", rf"\text{{step }}{t + 1}",
                       part if part.ndim == 2 else part[:, None])
        total = d.grads[k]
        doc.matrix(f"d{k}", f"d{k}", total if total.ndim == 2 else total[:, None])
        doc.check(check)
    doc.heading("Summary")
    doc.line(f"{sum(c.ok for c in d.checks)} of {len(d.checks)} weight gradients checked "
             f"against autograd and central differences: "
             + ("all match ✓" if d.all_ok else "MISMATCH ✗"))
    return doc.render("Backpropagation through time, step by step")
