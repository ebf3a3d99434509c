"""``chainrule.check_backprop``: check a learner's hand-written backpropagation.

The learner's file (numpy only; the protocol is in check_load and docs/check.md) gives a
forward pass, a backward pass, a cost, weights and examples. check

1. runs the file and calls its functions by the names of their parameters;
2. rebuilds the network: the layout (examples as rows or as columns) from the shapes of
   X and W1, the activations and the loss by matching the learner's own forward output
   and cost against candidates (or from ACTIVATIONS / LOSS declared in the file);
3. computes the true gradients two independent ways: chainrule's autograd on the rebuilt
   network, and central differences on the learner's own forward and cost;
4. compares every quantity backward returned (dW, db, and any dZ, dA), in the order
   backward computes them (dZ_L, dW_L, db_L, dA_(L-1), dZ_(L-1), ...), and names the
   first wrong one; intermediates follow the course convention dZ = m dJ/dZ (dJ/dZ, with
   the 1/m already in it, is accepted too);
5. diagnoses each wrong quantity (check_diagnosis): inherited from a wrong one upstream,
   or which usual mistake fits, with the corrected formula.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.explainer.check_diagnosis import Diagnosis, backward, diagnose, matches, order
from chainrule.explainer.check_load import (
    CheckFileError,
    Learner,
    bind,
    load,
    time_limit,
)
from chainrule.explainer.check_network import Net, infer_loss, infer_network, layouts_for
from chainrule.explainer.check_render import render
from chainrule.explainer.check_truth import autograd, numeric
from chainrule.explainer.messages import Message, check_language

# central differences call the learner's forward twice per weight: keep examples small
MAX_PARAMETERS, MAX_EXAMPLES = 5_000, 500
NUMERIC_RTOL, NUMERIC_ATOL = 1e-4, 1e-6  # central differences are good to about 1e-9
_GRAD_KEY = re.compile(r"^(?:d([WBZA])|([WB]))_?(\d+)$", re.IGNORECASE)


@dataclass
class Quantity:
    """One quantity the learner's backward returned, checked.

    value: the learner's; autograd, numeric: the true value two ways, in the learner's
    convention (convention 1 for m dJ/dZ, 1/m for dJ/dZ; dW and db: 1); error: max
    |value - autograd| (inf when the shapes differ)."""

    name: str
    value: np.ndarray
    autograd: np.ndarray
    numeric: np.ndarray
    convention: float
    ok: bool
    error: float
    error_numeric: float
    diagnosis: Diagnosis | None = None


@dataclass
class CheckReport:
    """The result of check_backprop: print it, or display it in Jupyter."""

    file: str
    net: Net
    sizes: list[int]
    quantities: list[Quantity]
    sources: dict[str, str]
    notes: list[str] = field(default_factory=list)
    lang: str = "en"

    @property
    def all_ok(self) -> bool:
        return all(q.ok for q in self.quantities)

    @property
    def wrong(self) -> list[str]:
        return [q.name for q in self.quantities if not q.ok]

    @property
    def first_wrong(self) -> str | None:
        return next(iter(self.wrong), None)

    @property
    def convention(self) -> float:
        """The learner's intermediates: 1 for dZ = m dJ/dZ (the course's), 1/m for dJ/dZ."""
        return next((q.convention for q in self.quantities
                     if q.ok and q.name[1] in "ZA"), 1.0)

    @property
    def returned(self) -> set[str]:
        return {q.name for q in self.quantities}

    def __getitem__(self, name: str) -> Quantity:
        for q in self.quantities:
            if q.name == name:
                return q
        raise KeyError(f"check: backward returned no {name}")

    def render(self, fmt: str = "text", lang: str | None = None) -> str:
        """The report as 'text', 'markdown' or 'html', in ``lang`` (default: its own)."""
        return render(self, fmt, lang)

    def __str__(self) -> str:
        return render(self, "text")

    def _repr_markdown_(self) -> str:
        return render(self, "markdown")

    def _repr_html_(self) -> str:  # one <div>, its own id: several fit in one notebook
        return render(self, "html", embedded=True)


def _values(learner: Learner) -> dict[str, Any]:
    """What the learner's functions may ask for, by role (check_load.ARGUMENT_NAMES)."""
    values: dict[str, Any] = {"X": learner.X, "Y": learner.Y, "lambd": learner.lambd,
                              **learner.params}
    if learner.from_dict:
        values["params"] = learner.params
    return values


def _split_forward(out: Any, L: int) -> tuple[np.ndarray, Any]:
    """forward's result as (A_L, cache): an array, (A_L, cache), or a cache dict."""
    if isinstance(out, Mapping):
        a = out.get(f"A{L}", out.get("AL"))
        if a is None:
            raise CheckFileError(f"forward returned a dict without A{L} (or AL): return A{L}, "
                                 f"or (A{L}, cache)")
        return np.asarray(a, np.float64), out
    if isinstance(out, tuple | list) and len(out) >= 2:
        return np.asarray(out[0], np.float64), out[1] if len(out) == 2 else out[1:]
    if isinstance(out, np.ndarray):
        return out.astype(np.float64), None
    raise CheckFileError(f"forward returned {type(out).__name__}: return A{L}, or (A{L}, "
                         f"cache)")


class _Calls:
    """The learner's forward and cost, bound by parameter names, callable again and again
    (central differences move the weights in place between calls)."""

    def __init__(self, learner: Learner) -> None:
        self.learner, self.values = learner, _values(learner)
        self.fwd = bind(learner.forward, self.values, "forward")
        self.cost_fn = learner.cost

    def forward(self) -> tuple[np.ndarray, Any]:
        args, kwargs = self.fwd
        with self.learner.run("forward"):
            out = self.learner.forward(*args, **kwargs)
        return _split_forward(out, self.learner.layers)

    def cost(self, a_out: np.ndarray) -> float | None:
        if self.cost_fn is None:
            return None
        args, kwargs = bind(self.cost_fn, {**self.values, "AL": a_out}, "cost", first="AL")
        with self.learner.run("cost"):
            out = self.cost_fn(*args, **kwargs)
        try:
            return float(np.asarray(out, np.float64).reshape(()))
        except (TypeError, ValueError):
            raise CheckFileError(f"cost returned {out!r}, not one number") from None

    def backward(self, a_out: np.ndarray, cache: Any) -> Any:
        fn = self.learner.backward
        args, kwargs = bind(fn, {**self.values, "AL": a_out, "cache": cache}, "backward")
        with self.learner.run("backward"):
            return fn(*args, **kwargs)


def _gradients(out: Any, L: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """backward's result as {canonical name: array}, and the keys it does not know."""
    if isinstance(out, tuple | list):
        if len(out) != 2 * L:
            raise CheckFileError(f"backward returned {len(out)} values; a tuple must be (dW1, "
                                 f"db1, ..., dW{L}, db{L}): {2 * L} values (or return a dict)")
        out = {f"d{'Wb'[i % 2]}{i // 2 + 1}": v for i, v in enumerate(out)}
    if not isinstance(out, Mapping):
        raise CheckFileError(f"backward returned {type(out).__name__}: return a dict "
                             f"{{'dW1': ..., 'db1': ..., ...}} or a tuple (dW1, db1, ...)")
    grads, ignored = {}, []
    for key, value in out.items():
        match = _GRAD_KEY.match(str(key))
        name = None
        if match:
            letter = (match[1] or match[2]).upper()
            name = f"d{'b' if letter == 'B' else letter}{match[3]}"
        if str(key) == "dX":
            name = "dA0"
        if name not in order(L):
            ignored.append(str(key))
            continue
        try:
            grads[name] = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise CheckFileError(f"backward's {key} is not an array of numbers") from None
    missing = [n for n in order(L) if n[1] in "Wb" and n not in grads]
    if missing:
        raise CheckFileError(f"backward returned no {', '.join(missing)} (it returned "
                             f"{', '.join(map(str, out)) or 'nothing'}): return every dW and db")
    return grads, ignored


def _check_size(learner: Learner) -> None:
    n = sum(p.size for p in learner.params.values())
    if n > MAX_PARAMETERS or learner.X.size > 20 * MAX_EXAMPLES:
        raise CheckFileError(f"the network has {n:,} weights and X {learner.X.size:,} entries; "
                             f"check differentiates numerically every one, so give a small "
                             f"example (at most {MAX_PARAMETERS:,} weights, a few examples)")


def _compare(name: str, value: np.ndarray, true: np.ndarray, num: np.ndarray, m: int,
             convention: float) -> Quantity:
    """Whether the learner's value is the true one; intermediates in either convention."""
    if name[1] in "Wb":
        convention = 1.0
    for c in sorted((1.0, 1 / m) if name[1] in "ZA" else (1.0,), key=lambda c: c != convention):
        if matches(value, c * true):
            convention = c
            break
    right, right_num = convention * true, convention * num
    if value.shape == right.shape:
        error = float(np.abs(value - right).max(initial=0))
        error_num = float(np.abs(value - right_num).max(initial=0))
    else:
        error = error_num = float("inf")
    ok = (matches(value, right) and error_num
          <= NUMERIC_RTOL * float(np.abs(right).max(initial=0)) + NUMERIC_ATOL)
    return Quantity(name, value, right, right_num, convention, ok, error, error_num)


def _truth_notes(net: Net, true: dict, num: dict, names: list[str]) -> list[str]:
    """Say so if autograd and central differences disagree (the rebuilt network is not the
    learner's), or the formulas of check_diagnosis disagree with autograd (a bug in check)."""
    bad = [n for n in names if not matches(num[n], true[n]) and not np.allclose(
        num[n], true[n], rtol=NUMERIC_RTOL, atol=NUMERIC_ATOL)]
    if not bad:
        return []
    diff = max(float(np.abs(num[n] - true[n]).max()) for n in bad)
    return [Message("check.truth.disagree", names=", ".join(bad), diff=diff)]


def check_backprop(source: Any, *, layout: str | None = None,
                   activations: list[str] | None = None, loss: str | None = None,
                   lambd: float | None = None, lang: str = "en", timeout: float = 30.0
                   ) -> CheckReport:
    """Check the backward pass of the learner's file (a path, a module or a dict).

    layout: 'rows' or 'columns' to force (default: from the shapes); activations, loss,
    lambd: override what the file declares (ACTIVATIONS, LOSS, LAMBDA) or check infers.
    Raises CheckFileError (a ValueError) for a file it cannot use, saying why.
    """
    check_language(lang, "check")
    if layout not in (None, "rows", "columns"):
        raise ValueError(f"check: layout must be 'rows' or 'columns', got {layout!r}")
    learner = load(source, timeout, lambd)
    _check_size(learner)
    with time_limit(timeout, f"checking {learner.name}"):
        return _check(learner, layout, activations, loss, lang)


def _check(learner: Learner, layout: str | None, activations: list[str] | None,
           loss: str | None, lang: str) -> CheckReport:
    calls, L = _Calls(learner), learner.layers
    declared = learner.declared
    layout = layout or declared.get("LAYOUT")
    if layout not in (None, "rows", "columns"):
        raise CheckFileError(f"LAYOUT must be \"rows\" or \"columns\", got {layout!r}")
    layouts_for(learner, layout)  # the shapes before forward runs: a clearer message
    a_out, cache = calls.forward()
    if a_out.shape != learner.Y.shape:
        raise CheckFileError(f"forward returned an output of shape {a_out.shape}, but Y has "
                             f"shape {learner.Y.shape}")
    if not all(matches(calls.forward()[0], a_out) for _ in range(3)):  # random: seen soon
        raise CheckFileError("forward gives different outputs for the same weights (dropout? "
                             "random noise?): make it deterministic to check it")
    acts_given = activations if activations is not None else declared.get("ACTIVATIONS")
    lay, acts, others = infer_network(learner, a_out, layout, acts_given)
    ws = [learner.W(l).copy() for l in range(1, L + 1)]
    bs = [learner.b(l).copy() for l in range(1, L + 1)]
    net = Net(lay, acts, "mse", learner.lambd, "lambda/(2m)", False, ws, bs,
              learner.X.copy(), learner.Y.copy())
    cost_value = calls.cost(a_out)
    loss_given = loss if loss is not None else declared.get("LOSS")
    if cost_value is None and loss_given is None:
        raise CheckFileError(f"{learner.name} defines no cost function: define cost(AL, Y) "
                             f"(or compute_cost), or declare LOSS = \"cross-entropy\" (or "
                             f"\"binary-cross-entropy\", \"mse\", \"mse/2\")")
    net.loss, net.penalty, net.penalty_in_cost = infer_loss(net, cost_value, loss_given)
    grads, ignored = _gradients(calls.backward(a_out, cache), L)

    def objective() -> float:
        out, _ = calls.forward()
        j = calls.cost(out) if cost_value is not None else float(net.data_loss(out))
        if not net.penalty_in_cost:
            j += net.k * sum(float((learner.W(l) ** 2).sum()) for l in range(1, L + 1))
        return j

    true = autograd(net)
    num = numeric(net, objective, learner.params, learner.keys, learner.X)
    names = [n for n in order(L) if n in grads]
    quantities = _quantities(names, grads, true, num, net)
    notes = _truth_notes(net, true, num, names)
    if others:
        notes.append(Message("check.also", acts="; ".join(others)))
    if ignored:
        notes.append(Message("check.ignored", names=", ".join(ignored)))
    sources = {"activations": "source.declared" if acts_given is not None
               else "source.inferred.forward",
               "loss": ("source.default" if cost_value is None else "source.declared"
                        if loss_given is not None else "source.inferred.cost")}
    sizes = [learner.X.shape[lay.feature_axis]] + [lay.out_units(w) for w in ws]
    return CheckReport(learner.name, net, sizes, quantities, sources, notes, lang)


def _quantities(names: list[str], grads: dict, true: dict, num: dict, net: Net
                ) -> list[Quantity]:
    """Each returned quantity compared, then each wrong one diagnosed."""
    quantities, convention = [], 1.0
    for name in names:
        q = _compare(name, grads[name], true[name], num[name], net.m, convention)
        if q.ok and name[1] in "ZA":
            convention = q.convention  # the learner's convention, for the wrong ones
        quantities.append(q)
    # the diagnosis works in the course convention, m dJ/dZ
    learner = {q.name: q.value / q.convention for q in quantities}
    wrong = [q.name for q in quantities if not q.ok]
    if wrong:
        found = diagnose(net, learner, wrong)
        for q in quantities:
            q.diagnosis = found.get(q.name)
    return quantities


def reference(net: Net) -> dict[str, np.ndarray]:
    """The quantities by check's own formulas (what the diagnosis perturbs): equal to
    autograd's, which the tests assert."""
    zs, as_ = net.forward()
    return backward(net, zs, as_)[0]
