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

Every printed gradient is compared with the autograd engine's and with central
differences (float64):

- do_t, dh_t, da_t = dL/do_t, dL/dh_t, dL/da_t: the engine's retained gradients of
  o_t, h_t and a_t; numerically, each entry of o_t, h_t or a_t at step t is perturbed
  and the rest of the unrolled network (steps t+1..T included) runs forward from it.
- step t's share of a weight gradient (e.g. da_t x_t^T of dU) is the gradient with
  respect to the copy of that weight used at step t alone: in the engine, a per-step
  node U_t = U + 0; numerically, perturbing that copy while the other steps keep U.
- the sums dU, dW, dV, db, dc: the engine's gradients of the shared (tied) weights;
  numerically, perturbing each shared weight, which every step uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.explainer.derivation import Check, PageReport
from chainrule.explainer.messages import Message, Words, words
from chainrule.explainer.render import document, summary
from chainrule.gradcheck import central_differences

NAMES = ("U", "W", "V", "b", "c")
ERRORS = ("do", "dh", "da")  # the per-step errors dL/do_t, dL/dh_t, dL/da_t


@dataclass
class BPTT(PageReport):
    """The numbers of the derivation, for tests to check one by one."""

    params: dict[str, np.ndarray]
    xs: np.ndarray  # (T, input)
    ys: np.ndarray  # (T,)
    h: list[np.ndarray] = field(default_factory=list)  # h_0..h_T
    a: list[np.ndarray] = field(default_factory=list)  # a_1..a_T
    o: list[np.ndarray] = field(default_factory=list)  # o_1..o_T
    p: list[np.ndarray] = field(default_factory=list)
    loss: float = 0.0
    do: list[np.ndarray] = field(default_factory=list)
    dh: list[np.ndarray] = field(default_factory=list)
    da: list[np.ndarray] = field(default_factory=list)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    per_step: dict[str, list[np.ndarray]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)


def default_rnn() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A fixed tiny RNN (2 inputs, 2 hidden units, 2 classes) over 3 time steps."""
    params = {"U": np.array([[0.5, -0.3], [0.2, 0.4]]), "W": np.array([[0.1, 0.6], [-0.5, 0.3]]),
              "V": np.array([[0.7, -0.2], [-0.4, 0.5]]), "b": np.array([0.05, -0.1]),
              "c": np.array([0.0, 0.1])}
    xs = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 1.0]])
    ys = np.array([0, 1, 1])
    return params, xs, ys


def step_name(k: str, t: int) -> str:
    """The name of step t's (0-based) share of dk, e.g. 'dW (step 1)'."""
    return Message("check_name.step_share", weight=k, t=t + 1)


def dtanh(h: np.ndarray) -> np.ndarray:
    """tanh'(a) from h = tanh(a) (a seam for tests that plant a wrong derivative)."""
    return 1 - h * h


def backward_through_time(V: np.ndarray, W: np.ndarray, do: list[np.ndarray],
                          h: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """dh_t = V^T do_t + W^T da_(t+1) and da_t = dh_t * tanh'(a_t), from t = T down to 1
    (da_(T+1) = 0); h is h_0..h_T. (A seam for tests that plant a wrong recursion.)"""
    steps = len(do)
    dh: list[np.ndarray] = [None] * steps
    da: list[np.ndarray] = [None] * steps
    da_next = np.zeros(W.shape[0])
    for t in range(steps - 1, -1, -1):
        dh[t] = V.T @ do[t] + W.T @ da_next
        da[t] = dh[t] * dtanh(h[t + 1])
        da_next = da[t]
    return dh, da


def _unrolled_loss(step_params: list[dict[str, np.ndarray]], xs: np.ndarray, ys: np.ndarray,
                   at: tuple[str, int, np.ndarray] | None = None) -> float:
    """L of the network unrolled over the steps, step t using the weights step_params[t]
    (the same dict at every step: shared weights). ``at`` = (name, t, value) puts value in
    place of a_t, h_t or o_t (name 'a', 'h' or 'o'; t 0-based) and runs the rest forward
    from it."""
    def put(name: str, t: int, value: np.ndarray) -> np.ndarray:
        return at[2] if at is not None and at[:2] == (name, t) else value

    h = np.zeros(step_params[0]["W"].shape[0])
    total = 0.0
    for t, (x, y) in enumerate(zip(xs, ys, strict=True)):
        w = step_params[t]
        a = put("a", t, w["U"] @ x + w["W"] @ h + w["b"])
        h = put("h", t, np.tanh(a))
        o = put("o", t, w["V"] @ h + w["c"])
        total += float(np.log(np.exp(o - o.max()).sum()) + o.max() - o[y])
    return total


def _numeric_weight(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray, name: str,
                    step: int | None = None) -> np.ndarray:
    """Central differences of L for every entry of params[name]: the shared weight, used
    by every step (step None), or the copy used at ``step`` alone."""
    steps = [params] * len(xs)
    if step is not None:
        steps = list(steps)
        steps[step] = {**params, name: params[name].copy()}
    return central_differences(lambda: _unrolled_loss(steps, xs, ys), steps[step or 0][name])


def _numeric_intermediate(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray,
                          name: str, step: int, value: np.ndarray) -> np.ndarray:
    """dL/d(name)_t by central differences: each entry of a_t, h_t or o_t perturbed, the
    rest of the unrolled network run forward from it."""
    value = np.array(value, np.float64)  # perturbed in place
    return central_differences(
        lambda: _unrolled_loss([params] * len(xs), xs, ys, (name, step, value)), value)


def _autograd(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray
              ) -> dict[Any, np.ndarray]:
    """The engine's gradients over the unrolled graph: of the shared weights ('U', ...),
    of each step's use of them ((name, t): the node name_t = name + 0 that step t reads)
    and of the intermediates (('do' | 'dh' | 'da', t): o_t, h_t, a_t retained)."""
    shared = {k: Tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    h = Tensor(np.zeros(params["W"].shape[0]))
    total = None
    kept: dict[Any, Tensor] = {}
    for t, (x, y) in enumerate(zip(xs, ys, strict=True)):
        w = {k: v + 0.0 for k, v in shared.items()}  # step t's own node of each weight
        a = w["U"] @ Tensor(x) + w["W"] @ h + w["b"]
        h = F.tanh(a)
        o = w["V"] @ h + w["c"]
        for k, v in [*w.items(), ("da", a), ("dh", h), ("do", o)]:
            v.retain_grad()
            kept[k, t] = v
        step = F.cross_entropy(o, np.array(y))
        total = step if total is None else total + step
    total.backward()
    return {**{k: v.grad.data for k, v in shared.items()},
            **{key: v.grad.data for key, v in kept.items()}}


def derive_bptt(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray) -> BPTT:
    """Forward through time, then the BPTT recursion; every printed gradient checked."""
    params = {k: np.asarray(v, np.float64).copy() for k, v in params.items()}
    d = BPTT(params, np.asarray(xs, np.float64), np.asarray(ys))
    U, W, V, b, c = (params[k] for k in NAMES)
    d.h = [np.zeros(W.shape[0])]
    for x, y in zip(d.xs, d.ys, strict=True):
        d.a.append(U @ x + W @ d.h[-1] + b)
        d.h.append(np.tanh(d.a[-1]))
        d.o.append(V @ d.h[-1] + c)
        e = np.exp(d.o[-1] - d.o[-1].max())
        d.p.append(e / e.sum())
        d.loss += float(-np.log(d.p[-1][y]))
    steps = len(d.xs)
    d.do = [d.p[t] - np.eye(len(c))[d.ys[t]] for t in range(steps)]
    d.dh, d.da = backward_through_time(V, W, d.do, d.h)
    d.per_step = {
        "V": [np.outer(d.do[t], d.h[t + 1]) for t in range(steps)],
        "c": [d.do[t] for t in range(steps)],
        "U": [np.outer(d.da[t], d.xs[t]) for t in range(steps)],
        "W": [np.outer(d.da[t], d.h[t]) for t in range(steps)],
        "b": [d.da[t] for t in range(steps)],
    }
    d.grads = {k: sum(v) for k, v in d.per_step.items()}
    auto = _autograd(params, d.xs, d.ys)
    values = {"do": d.o, "dh": d.h[1:], "da": d.a}
    formulas = {"do": d.do, "dh": d.dh, "da": d.da}
    for t in range(steps):
        for e in ERRORS:
            d.checks.append(Check(f"{e}_{t + 1}", formulas[e][t], auto[e, t],
                                  _numeric_intermediate(params, d.xs, d.ys, e[1:], t,
                                                        values[e][t])))
    for k in NAMES:
        for t in range(steps):
            d.checks.append(Check(step_name(k, t), d.per_step[k][t], auto[k, t],
                                  _numeric_weight(params, d.xs, d.ys, k, t)))
        d.checks.append(Check(f"d{k}", d.grads[k], auto[k],
                              _numeric_weight(params, d.xs, d.ys, k)))
    return d


def _column(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 2 else a[:, None]


def render_bptt(d: BPTT, fmt: str = "text", lang: str | Words = "en") -> str:
    """The derivation in ``fmt`` ('text', 'markdown' or 'html': the interactive page), in
    language ``lang``."""
    if fmt == "html":
        from chainrule.explainer.page import bptt_page

        return bptt_page(d, lang)
    doc = document(fmt, lang)
    w = doc.words
    steps = len(d.xs)
    write_notation(doc, d)
    doc.heading(w("rnn.heading.forward"))
    for t in range(steps):
        write_forward(doc, d, t)
    write_loss(doc, d)
    doc.heading(w("rnn.heading.backward"))
    write_backward_rule(doc)
    for t in range(steps - 1, -1, -1):
        write_backward(doc, d, t)
    doc.heading(w("rnn.heading.shared"))
    doc.line(w("rnn.shares"))
    for k in NAMES:
        write_weight_sum(doc, d, k)
    doc.heading(w("heading.summary"))
    doc.line(bptt_summary(d, w))
    return doc.render(w("rnn.title"))


def write_notation(doc: Any, d: BPTT) -> None:
    """The model's equations and its weights."""
    doc.heading(doc.words("heading.notation"))
    doc.line(doc.words("rnn.notation", T=len(d.xs)),
             r"a_t = U x_t + W h_{t-1} + b,\ h_t = \tanh(a_t),\ o_t = V h_t + c,\ "
             r"L = -\sum_t \log \mathrm{softmax}(o_t)_{y_t}")
    for k in NAMES:
        doc.matrix(k, k, _column(d.params[k]))


def write_forward(doc: Any, d: BPTT, t: int) -> None:
    """Step t (0-based) of the forward pass: a_t, h_t, o_t, p_t."""
    doc.line(doc.words("rnn.forward", t=t + 1, x=np.round(d.xs[t], 4).tolist(),
                       y=int(d.ys[t])))
    for name, values in (("a", d.a[t]), ("h", d.h[t + 1]), ("o", d.o[t]), ("p", d.p[t])):
        doc.matrix(f"{name}_{t + 1}", f"{name}_{{{t + 1}}}", values[:, None])


def write_loss(doc: Any, d: BPTT) -> None:
    doc.line(f"L = {d.loss:.6f}")


def write_backward_rule(doc: Any) -> None:
    """The recursion of the backward pass, and how each of its numbers is checked."""
    doc.line("do_t = p_t - onehot(y_t);  dh_t = V^T do_t + W^T da_(t+1);  "
             "da_t = dh_t * (1 - h_t^2);  da_(T+1) = 0",
             r"do_t = p_t - e_{y_t},\ dh_t = V^\top do_t + W^\top da_{t+1},\ "
             r"da_t = dh_t \odot (1 - h_t^2)")
    doc.line(doc.words("rnn.backward_checks"))


def write_backward(doc: Any, d: BPTT, t: int) -> None:
    """Step t (0-based) of the backward pass: do_t, dh_t, da_t and their checks."""
    doc.line(f"t = {t + 1}")
    for e, values in zip(ERRORS, (d.do, d.dh, d.da), strict=True):
        doc.matrix(f"{e}_{t + 1}", f"{e}_{{{t + 1}}}", values[t][:, None])
        doc.check(d.check(f"{e}_{t + 1}"))


SUM_FORMULAS = {"V": "dV = sum_t do_t h_t^T", "c": "dc = sum_t do_t",
                "U": "dU = sum_t da_t x_t^T", "W": "dW = sum_t da_t h_(t-1)^T",
                "b": "db = sum_t da_t"}


def write_weight_sum(doc: Any, d: BPTT, k: str) -> None:
    """Shared weight k's gradient: each step's share, checked, and their sum, checked."""
    w = doc.words
    doc.line(SUM_FORMULAS[k])
    for t, part in enumerate(d.per_step[k]):
        doc.matrix(w("rnn.step_matrix", t=t + 1), w("rnn.step_matrix.latex", t=t + 1),
                   _column(part))
        doc.check(d.check(step_name(k, t)))
    doc.matrix(f"d{k}", f"d{k}", _column(d.grads[k]))
    doc.check(d.check(f"d{k}"))


def bptt_summary(d: BPTT, w: Words | None = None) -> str:
    """The check count, split into the per-step errors, the per-step shares and the sums."""
    w = w or words()
    steps = len(d.xs)
    return summary(d.checks, w("rnn.summary", errors=len(ERRORS) * steps,
                               shares=len(NAMES) * steps, sums=len(NAMES)), w)
