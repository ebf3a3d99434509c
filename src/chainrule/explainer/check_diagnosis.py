"""Which usual mistake explains a wrong gradient, for ``chainrule check``.

The backward pass is written once here, in the learner's layout and the course
convention (dZ = m dJ/dZ), as a chain of named quantities

    dA_L, dZ_L, dW_L, db_L, dA_(L-1), dZ_(L-1), dW_(L-1), ..., db_1, dA_0

in which any quantity can be replaced by a *mistake* (a wrong formula from the values
it is computed from) or *overridden* by the learner's own returned value. A wrong
quantity q is diagnosed by:

1. recomputing q with the right formula from the learner's own upstream values (and the
   mistakes already found upstream): if that gives the learner's q, q only inherits an
   error from upstream;
2. otherwise trying every mistake of the catalogue at q and at the upstream quantities
   the learner did not return (a wrong dZ1 shows only in dW1 and db1 when dZ1 is not
   returned), keeping the one that reproduces q and agrees with the most of the
   learner's other quantities;
3. otherwise: no usual mistake fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.explainer.check_network import (
    HIDDEN,
    Net,
    activation_backward,
    derivative,
    parse_activation,
)

MATCH_RTOL, MATCH_ATOL = 1e-5, 1e-9


def matches(learner: Any, value: Any) -> bool:
    """The learner's array equals ``value`` (same shape, within 1e-5 of its largest entry)."""
    if value is None or np.shape(learner) != np.shape(value):
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(np.asarray(learner) - value).max(initial=0)
    return bool(diff <= MATCH_RTOL * np.abs(value).max(initial=0) + MATCH_ATOL)


@dataclass(eq=False)
class Mistake:
    """A wrong formula for the quantity ``site``: ``apply(context)`` is the wrong value;
    ``kind`` and ``args`` choose and fill its message (check_render.MESSAGES)."""

    site: str
    kind: str
    apply: Callable[[dict[str, Any]], np.ndarray]
    args: dict[str, Any] = field(default_factory=dict)


def order(L: int) -> list[str]:
    """Every quantity, in the order backward computes them."""
    names = [f"dA{L}"]
    for l in range(L, 0, -1):
        names += [f"dZ{l}", f"dW{l}", f"db{l}", f"dA{l - 1}"]
    return names


def chain(L: int) -> list[str]:
    """The quantities the later ones are computed from: dA_L, dZ_L, dA_(L-1), ..., dA_0."""
    return [n for n in order(L) if n[1] in "ZA"]


def upstream(q: str, L: int) -> list[str]:
    """The chain quantities q is computed from, nearest last."""
    c = chain(L)
    if q[1] in "Wb":
        return c[:c.index("dZ" + q[2:]) + 1]
    return c[:c.index(q)]


def backward(net: Net, zs: list, as_: list, mistakes: dict[str, Mistake] | None = None,
             overrides: dict[str, np.ndarray] | None = None) -> tuple[dict, dict]:
    """Every quantity by the right formulas, except where ``mistakes`` put a wrong one or
    ``overrides`` the learner's value; also each quantity's context (what it is made of)."""
    mistakes, overrides = mistakes or {}, overrides or {}
    values: dict[str, Any] = {}
    contexts: dict[str, dict[str, Any]] = {}

    def put(name: str, value: np.ndarray, **context: Any) -> np.ndarray:
        context["value"] = value
        contexts[name] = context
        if name in overrides:
            value = overrides[name]
        elif name in mistakes:
            try:
                value = mistakes[name].apply(context)
            except ValueError:  # shapes that do not multiply: this mistake cannot be it
                value = None
        values[name] = value
        return value

    try:
        _chain(net, zs, as_, put)
    except ValueError:  # a mistake upstream gave a shape the later formulas cannot take
        pass
    return values, contexts


def _chain(net: Net, zs: list, as_: list, put: Callable[..., Any]) -> None:
    """The right formulas, dA_L down to dA_0, each quantity handed to ``put``."""
    lay, L, m = net.layout, net.L, net.m
    da = put(f"dA{L}", net.dA_out(as_[L]), A=as_[L])
    dz = put(f"dZ{L}", activation_backward(net.acts[-1], da, zs[L], as_[L], lay),
             dA=da, Z=zs[L], A=as_[L], layer=L)
    for l in range(L, 0, -1):
        if dz is None:
            break
        w, b, a_prev = net.Ws[l - 1], net.bs[l - 1], as_[l - 1]
        data = lay.dw(dz, a_prev, m)
        put(f"dW{l}", data + 2 * net.k * w, data=data, W=w, layer=l)
        put(f"db{l}", lay.db(dz, b, m), dZ=dz, b=b, layer=l)
        da = put(f"dA{l - 1}", lay.da(dz, w), dZ=dz, W=w, layer=l)
        if l > 1 and da is not None:
            dz = put(f"dZ{l - 1}", activation_backward(net.acts[l - 2], da, zs[l - 1],
                                                       as_[l - 1], lay),
                     dA=da, Z=zs[l - 1], A=as_[l - 1], layer=l - 1)


FACTORS = (("m", lambda m: m), ("1/m", lambda m: 1 / m), ("2", lambda m: 2.0),
           ("1/2", lambda m: 0.5))
# L2 terms a learner may write instead of the right one: text -> coefficient of W
L2_TERMS = (("lambd * W", lambda lam, m: lam),
            ("lambd / (2 * m) * W", lambda lam, m: lam / (2 * m)),
            ("2 * lambd / m * W", lambda lam, m: 2 * lam / m),
            ("lambd / m * W", lambda lam, m: lam / m))


def _scaled(site: str, c: float) -> Callable[[dict], np.ndarray]:
    """The value times c (for dW, only the data part: the L2 term is written apart)."""
    if site[1] == "W":
        return lambda ctx: c * ctx["data"] + (ctx["value"] - ctx["data"])
    return lambda ctx: c * ctx["value"]


def _generic(site: str, m: int) -> list[Mistake]:
    out = [Mistake(site, "sign", _scaled(site, -1.0))]
    out += [Mistake(site, "factor", _scaled(site, f(m)), {"factor": text}) for text, f in FACTORS]
    return out


def _dz_mistakes(site: str, net: Net) -> list[Mistake]:
    l = int(site[2:])
    act = net.acts[l - 1]
    out: list[Mistake] = []
    others = [parse_activation(g) for g in HIDDEN if g != act[0]]
    for g in others:
        kind = "missing-derivative" if g[0] == "identity" else "activation-derivative"
        out.append(Mistake(site, kind, lambda ctx, g=g: ctx["dA"] * derivative(g, ctx["Z"],
                                                                               ctx["A"]),
                           {"used": g[0]}))
    if act[0] in ("sigmoid", "tanh"):  # the derivative written with Z where A belongs
        out.append(Mistake(site, "derivative-of-z",
                           lambda ctx: ctx["dA"] * derivative(act, None, ctx["Z"])))
    if l == net.L:  # dZ_L = (A - Y) * g'(Z) for some g, including none
        y = net.Y
        for g in [parse_activation(g) for g in HIDDEN]:
            out.append(Mistake(site, "output-formula",
                               lambda ctx, g=g: (ctx["A"] - y) * derivative(g, ctx["Z"],
                                                                            ctx["A"]),
                               {"used": g[0]}))
    return out


def _db_mistakes(site: str, net: Net) -> list[Mistake]:
    lay, m = net.layout, net.m
    out = [Mistake(site, "no-sum", lambda ctx: ctx["dZ"] / m),
           Mistake(site, "sum-all", lambda ctx: np.asarray(ctx["dZ"].sum() / m))]
    for keep in (True, False):
        out.append(Mistake(site, "sum-axis", lambda ctx, keep=keep: ctx["dZ"].sum(
            axis=lay.feature_axis, keepdims=keep) / m))
    if net.lambd:
        out.append(Mistake(site, "l2-bias", lambda ctx: ctx["value"] + 2 * net.k * ctx["b"]))
    return out


def _dw_mistakes(site: str, net: Net) -> list[Mistake]:
    out = [Mistake(site, "transpose", lambda ctx: ctx["value"].T)]
    if net.lambd:
        out.append(Mistake(site, "l2-missing", lambda ctx: ctx["data"]))
        out.append(Mistake(site, "l2-sign", lambda ctx: 2 * ctx["data"] - ctx["value"]))
        for text, coefficient in L2_TERMS:
            c = coefficient(net.lambd, net.m)
            if not np.isclose(c, 2 * net.k):
                out.append(Mistake(site, "l2-scale", lambda ctx, c=c: ctx["data"] + c * ctx["W"],
                                   {"used": text + site[2:]}))
    return out


def _da_mistakes(site: str, net: Net) -> list[Mistake]:
    lay = net.layout
    if lay.name == "columns":
        return [Mistake(site, "w-not-transposed", lambda ctx: ctx["W"] @ ctx["dZ"])]
    return [Mistake(site, "w-not-transposed", lambda ctx: ctx["dZ"] @ (
        ctx["W"] if lay.name == "rows_xw" else ctx["W"].T))]


def catalogue(site: str, net: Net) -> list[Mistake]:
    """The usual mistakes in the formula of ``site``."""
    specific = {"Z": _dz_mistakes, "b": _db_mistakes, "W": _dw_mistakes, "A": _da_mistakes}
    return _generic(site, net.m) + specific[site[1]](site, net)


def fitted(site: str, learner: np.ndarray, context: dict[str, Any]) -> list[Mistake]:
    """Mistakes fitted to the learner's own value of ``site``: any constant factor, an
    extra multiple of W (dW), the right values in another shape."""
    value = context["value"]
    out = []
    if np.shape(learner) != np.shape(value):
        if np.size(learner) == np.size(value):
            out.append(Mistake(site, "shape", lambda ctx: ctx["value"].reshape(learner.shape),
                               {"got": np.shape(learner), "want": np.shape(value)}))
        return out
    part = context["data"] if site[1] == "W" else value
    rest = value - part
    denominator = float((part * part).sum())
    if denominator > 0:
        c = float(((learner - rest) * part).sum()) / denominator
        out.append(Mistake(site, "factor", _scaled(site, c), {"factor": f"{c:.4g}"}))
    if site[1] == "W":
        w = context["W"]
        c = float(((learner - value) * w).sum() / max((w * w).sum(), 1e-300))
        out.append(Mistake(site, "extra-term", lambda ctx: ctx["value"] + c * ctx["W"],
                           {"c": f"{c:.4g}"}))
    return out


@dataclass
class Diagnosis:
    """Why a quantity is wrong: ``kind`` 'inherited', 'mistake' or 'unknown'; for a
    mistake, which one and at which quantity (``mistake.site``, maybe not q itself)."""

    kind: str
    source: str | None = None  # inherited: the upstream quantity the error comes from
    mistake: Mistake | None = None
    explains: list[str] = field(default_factory=list)  # the quantities the mistake explains


def _search_sites(q: str, L: int, returned: set[str]) -> list[str]:
    """q, then the chain quantities above it that the learner did not return, nearest
    first, up to the nearest one it did return (dA_L, a mere 1/m dJ/dA, is not searched)."""
    sites = [q]
    for name in reversed(upstream(q, L)):
        if name in returned or name == f"dA{L}":
            break
        if name != q:
            sites.append(name)
    return sites


def _source(q: str, L: int, wrong: set[str], found: dict[str, Mistake]) -> str | None:
    for name in reversed(upstream(q, L)):
        if name in wrong or name in found:
            return name
    return None


def diagnose(net: Net, learner: dict[str, np.ndarray], wrong: list[str]) -> dict[str, Diagnosis]:
    """A Diagnosis for each wrong quantity (learner: the returned values, intermediates in
    the m dJ/dZ convention), in backward order."""
    zs, as_ = net.forward()
    L, names = net.L, order(net.L)
    found: dict[str, Mistake] = {}
    result: dict[str, Diagnosis] = {}
    returned, wrong_set = set(learner), set(wrong)
    for q in [n for n in names if n in wrong_set]:
        ov = {n: learner[n] for n in upstream(q, L) if n in learner and n != q}
        values, contexts = backward(net, zs, as_, found, ov)
        if matches(learner[q], values.get(q)):
            result[q] = Diagnosis("inherited", _source(q, L, wrong_set, found))
            continue
        later = [n for n in names[names.index(q):] if n in wrong_set]
        best, best_score, best_explains = None, 0, []
        for site in _search_sites(q, L, returned):
            candidates = catalogue(site, net)
            if site == q:
                candidates += fitted(q, learner[q], contexts[q])
            for mistake in candidates:
                trial, _ = backward(net, zs, as_, {**found, site: mistake}, ov)
                if not matches(learner[q], trial.get(q)):
                    continue
                # the first of the mistakes that agrees with most of what the learner returned wins
                score = sum(matches(value, trial.get(n)) for n, value in learner.items())
                if score > best_score:
                    best, best_score = mistake, score
                    best_explains = [n for n in later if matches(learner[n], trial.get(n))]
        if best is None:
            result[q] = Diagnosis("unknown")
        else:
            found[best.site] = best
            result[q] = Diagnosis("mistake", mistake=best, explains=best_explains)
    return result
