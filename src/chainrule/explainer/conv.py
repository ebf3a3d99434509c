"""Backpropagation through a convolution and a max pooling, derived for a tiny network.

One 1-channel image X (H x W), one k x k kernel K with a bias b, stride 1, then 2 x 2
max pooling (stride 2), flattened, a linear layer to the classes and softmax
cross-entropy against the class y:

    forward   Z = X (star) K + b:  Z[i, j] = sum_{p,q} X[i + p, j + q] K[p, q] + b
              P[u, v] = max of the window Z[2u:2u+2, 2v:2v+2]    (its arg-max remembered)
              f = flatten(P),  o = V f + c,  p = softmax(o),  L = -log p[y]
    backward  do = p - onehot(y),  dV = do f^T,  dc = do
              dP = reshape(V^T do)                   (delta of the pooled output)
              dZ = dP routed to each window's arg-max, 0 elsewhere   (delta of Z)
              dK = X (star) dZ: dK[p, q] = sum_{i,j} X[i + p, j + q] dZ[i, j]
                                             (the correlation of the input with delta)
              db = sum_{i,j} dZ[i, j]
              dX = dZ (*) K, the full convolution: dX[a, c] = sum_{p,q} dZ[a - p, c - q] K[p, q]
                 = the full correlation of dZ (zero-padded by k - 1) with the flipped kernel

Every printed gradient is compared with the autograd engine's (the same network built
from ``conv2d``, ``max_pool2d``, ``linear`` and ``cross_entropy``, with do, dP and dZ the
retained gradients of o, P and Z) and with central differences (float64): for do, dP
and dZ each entry of o, P or Z is perturbed and the rest of the network runs forward
from it; for dV, dc, dK, db and dX each entry of the parameter or the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.explainer.derivation import Check, intermediate_differences
from chainrule.explainer.messages import Message, Words
from chainrule.explainer.render import Document, SectionsReport, write_sections
from chainrule.gradcheck import central_differences

POOL = 2  # the pooling window and stride
INTERMEDIATES = ("do", "dP", "dZ")  # the deltas checked at o, P and Z
PARAMETERS = ("dV", "dc", "dK", "db", "dX")
FLIPPED = Message("check_name.flipped")  # the check of dX the second way


@dataclass
class ConvDerivation(SectionsReport):
    """The numbers of the derivation, for tests to check one by one; ``str()`` is the
    derivation as text, ``render(fmt)`` in 'text', 'markdown' or 'html'."""

    X: np.ndarray
    K: np.ndarray
    b: float
    V: np.ndarray
    c: np.ndarray
    y: int
    Z: np.ndarray = field(default=None)
    winners: np.ndarray = field(default=None)  # 1 at each window's arg-max in Z
    P: np.ndarray = field(default=None)
    o: np.ndarray = field(default=None)
    p: np.ndarray = field(default=None)
    loss: float = 0.0
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    dX_flipped: np.ndarray = field(default=None)  # dX the second way
    checks: list[Check] = field(default_factory=list)

    def render(self, fmt: str = "text", lang: str = "en", embedded: bool = False) -> str:
        return render_conv(self, fmt, lang, embedded)


def default_conv() -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, int]:
    """A fixed tiny example: a 5 x 5 image, a 2 x 2 kernel and bias (Z is 4 x 4, pooled to
    2 x 2), 3 classes, target class 2. The largest value of each pooling window of Z
    leads the next by at least 0.02, so the arg-max stays put under central differences
    (steps of 1e-6)."""
    X = np.array([[0.2, -0.5, 0.1, 0.7, -0.3],
                  [0.9, 0.4, -0.8, 0.0, 0.6],
                  [-0.2, 0.3, 0.5, -0.6, 0.8],
                  [0.1, -0.9, 0.7, 0.2, -0.4],
                  [0.6, 0.0, -0.3, 0.9, 0.5]])
    K = np.array([[0.4, -0.2], [0.3, 0.6]])
    V = np.array([[0.5, -0.4, 0.3, 0.2], [-0.3, 0.6, -0.1, 0.4], [0.2, 0.1, 0.5, -0.6]])
    return X, K, 0.1, V, np.array([0.0, 0.1, -0.1]), 2


# -- the formulas (module-level seams, so that tests can plant a wrong one) --------------------


def correlate(X: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The valid cross-correlation X (star) K: out[i, j] = sum_{p,q} X[i + p, j + q] K[p, q]."""
    kh, kw = K.shape
    out = np.zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for p in range(kh):
        for q in range(kw):
            out += K[p, q] * X[p:p + out.shape[0], q:q + out.shape[1]]
    return out


def max_pool(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P (the maximum of each POOL x POOL window of Z) and the 0/1 map of the arg-maxes."""
    h, w = Z.shape[0] // POOL, Z.shape[1] // POOL
    P, winners = np.zeros((h, w)), np.zeros(Z.shape)
    for u in range(h):
        for v in range(w):
            window = Z[u * POOL:(u + 1) * POOL, v * POOL:(v + 1) * POOL]
            i, j = np.unravel_index(np.argmax(window), window.shape)
            P[u, v] = window[i, j]
            winners[u * POOL + i, v * POOL + j] = 1.0
    return P, winners


def route(dP: np.ndarray, winners: np.ndarray) -> np.ndarray:
    """dZ: each dP[u, v] sent to the arg-max of its window (the only Z it depends on), 0
    to the other elements of the window."""
    return np.where(winners > 0, np.kron(dP, np.ones((POOL, POOL))), 0.0)


def full_convolution(dZ: np.ndarray, K: np.ndarray) -> np.ndarray:
    """dX[a, c] = sum_{p,q} dZ[a - p, c - q] K[p, q] (dZ zero outside): every dZ[i, j] sent
    back through each kernel tap K[p, q] to the input X[i + p, j + q] it read."""
    kh, kw = K.shape
    dX = np.zeros((dZ.shape[0] + kh - 1, dZ.shape[1] + kw - 1))
    for p in range(kh):
        for q in range(kw):
            dX[p:p + dZ.shape[0], q:q + dZ.shape[1]] += K[p, q] * dZ
    return dX


def flipped_correlation(dZ: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The same dX the second way: dZ zero-padded by k - 1 on every side, correlated with
    the kernel rotated by 180 degrees."""
    kh, kw = K.shape
    return correlate(np.pad(dZ, ((kh - 1, kh - 1), (kw - 1, kw - 1))), K[::-1, ::-1])


# -- the two independent checks ----------------------------------------------------------------


def section_loss(d: ConvDerivation, X: np.ndarray, K: np.ndarray, b: float, V: np.ndarray,
          c: np.ndarray, at: tuple[str, np.ndarray] | None = None) -> float:
    """L of the network with these values; ``at`` = ('Z' | 'P' | 'o', value) puts value in
    place of that intermediate and runs the rest forward from it."""
    def put(name: str, value: np.ndarray) -> np.ndarray:
        return at[1] if at is not None and at[0] == name else value

    Z = put("Z", correlate(X, K) + b)
    P = put("P", max_pool(Z)[0])
    o = put("o", V @ P.reshape(-1) + c)
    return float(np.log(np.exp(o - o.max()).sum()) + o.max() - o[d.y])


def _numeric(d: ConvDerivation) -> dict[str, np.ndarray]:
    """Central differences of L for every checked quantity."""
    values = {"X": d.X.copy(), "K": d.K.copy(), "b": np.array(d.b), "V": d.V.copy(),
              "c": d.c.copy()}

    def loss(at: tuple[str, np.ndarray] | None = None) -> float:
        return section_loss(d, values["X"], values["K"], values["b"], values["V"], values["c"], at)

    out = {f"d{k}": central_differences(loss, values[k]) for k in ("V", "c", "K", "X")}
    out["db"] = central_differences(loss, values["b"].reshape(1)).reshape(())
    return {**out, **intermediate_differences(loss, {"o": d.o, "P": d.P, "Z": d.Z})}


def _autograd(d: ConvDerivation) -> dict[str, np.ndarray]:
    """The engine's gradients: the network built from chainrule's own ops."""
    X, K, b, V, c = (Tensor(np.array(a, np.float64), requires_grad=True)
                     for a in (d.X, d.K, [d.b], d.V, d.c))
    Z = F.conv2d(X.reshape(1, 1, *d.X.shape), K.reshape(1, 1, *d.K.shape), b)
    P = F.max_pool2d(Z, POOL)
    o = F.linear(P.reshape(1, -1), V, c)
    for t in (Z, P, o):
        t.retain_grad()
    F.cross_entropy(o, np.array([d.y])).backward()
    return {"do": o.grad.data[0], "dP": P.grad.data[0, 0], "dZ": Z.grad.data[0, 0],
            "dV": V.grad.data, "dc": c.grad.data, "dK": K.grad.data,
            "db": b.grad.data.reshape(()), "dX": X.grad.data}


def derive_conv(X: np.ndarray, K: np.ndarray, b: float, V: np.ndarray, c: np.ndarray,
                y: int) -> ConvDerivation:
    """The forward pass, the backward formulas of the module docstring, and every printed
    gradient checked against autograd and central differences."""
    X, K, V, c = (np.array(a, np.float64) for a in (X, K, V, c))
    _check_shapes(X, K, V, c, y)
    d = ConvDerivation(X, K, float(b), V, c, int(y))
    d.Z = correlate(X, K) + d.b
    d.P, d.winners = max_pool(d.Z)
    f = d.P.reshape(-1)
    d.o = V @ f + c
    e = np.exp(d.o - d.o.max())
    d.p = e / e.sum()
    d.loss = float(-np.log(d.p[d.y]))
    g = d.grads
    g["do"] = d.p - np.eye(len(c))[d.y]
    g["dV"], g["dc"] = np.outer(g["do"], f), g["do"]
    g["dP"] = (V.T @ g["do"]).reshape(d.P.shape)
    g["dZ"] = route(g["dP"], d.winners)
    g["dK"] = correlate(X, g["dZ"])
    g["db"] = np.array(g["dZ"].sum())
    g["dX"] = full_convolution(g["dZ"], K)
    d.dX_flipped = flipped_correlation(g["dZ"], K)
    auto, numeric = _autograd(d), _numeric(d)
    for name in INTERMEDIATES + PARAMETERS:
        d.checks.append(Check(name, g[name], auto[name], numeric[name]))
    d.checks.append(Check(FLIPPED, d.dX_flipped, auto["dX"], numeric["dX"]))
    return d


def _check_shapes(X: np.ndarray, K: np.ndarray, V: np.ndarray, c: np.ndarray, y: int) -> None:
    """One clear error for inputs the derivation cannot take."""
    if X.ndim != 2 or K.ndim != 2 or K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError(f"explain --conv: the image must be 2-D and at least as large as the "
                         f"2-D kernel, got image {X.shape} and kernel {K.shape}")
    pooled = tuple((n - k + 1) // POOL for n, k in zip(X.shape, K.shape, strict=True))
    if min(pooled) < 1 or V.shape != (len(c), pooled[0] * pooled[1]):
        raise ValueError(f"explain --conv: the pooled map has {pooled[0] * pooled[1]} values "
                         f"{pooled}, so V must be ({len(c)}, {pooled[0] * pooled[1]}), got "
                         f"{V.shape}")
    if not 0 <= int(y) < len(c):
        raise ValueError(f"explain --conv: the class y must be in 0..{len(c) - 1}, got {y}")


# -- writing it out ----------------------------------------------------------------------------


def render_conv(d: ConvDerivation, fmt: str = "text", lang: str | Words = "en",
                embedded: bool = False) -> str:
    """The derivation in ``fmt`` ('text', 'markdown' or 'html': a page, or with ``embedded``
    one <div>), in language ``lang``."""
    return write_sections(fmt, Message("conv.title"),
                          [lambda doc: _forward(doc, d), lambda doc: _backward(doc, d)],
                          d.checks, Message("conv.summary", deltas=len(INTERMEDIATES),
                                            parameters=len(PARAMETERS) - 1), lang, embedded)


def _forward(doc: Document, d: ConvDerivation) -> None:
    w, (kh, kw) = doc.words, d.K.shape
    doc.heading(w("heading.notation"))
    doc.line(w("conv.notation", h=d.X.shape[0], w=d.X.shape[1], kh=kh, kw=kw, pool=POOL,
               classes=len(d.c), y=d.y))
    doc.heading(w("heading.forward"))
    doc.matrix("X", "X", d.X)
    doc.matrix("K", "K", d.K)
    doc.line(f"b = {d.b:.4f}")
    doc.line(w("conv.z"), r"Z_{ij} = \sum_{p,q} X_{i+p,\,j+q} K_{pq} + b")
    doc.matrix("Z", "Z", d.Z)
    doc.line(w("conv.pool", pool=POOL),
             rf"P_{{uv}} = \max_{{0 \le r, s < {POOL}}} Z_{{{POOL}u+r,\,{POOL}v+s}}")
    doc.matrix(w("conv.argmax_map"), rf"\text{{{w('conv.argmax_map')}}}", d.winners)
    doc.matrix("P", "P", d.P)
    doc.line(w("conv.output"),
             r"o = V\,\mathrm{vec}(P) + c,\quad p = \mathrm{softmax}(o),\quad L = -\log p_y")
    doc.matrix("V", "V", d.V)
    doc.matrix("c", "c", d.c[:, None])
    doc.matrix("o", "o", d.o[:, None])
    doc.matrix("p", "p", d.p[:, None])
    doc.line(f"L = {d.loss:.6f}")


def _show(doc: Document, d: ConvDerivation, name: str, latex: str, value: np.ndarray,
          check: str | None = None) -> None:
    doc.matrix(doc.words.text(name), latex, value)
    doc.check(d.check(check or name))


def _backward(doc: Document, d: ConvDerivation) -> None:
    w, g = doc.words, d.grads
    doc.heading(w("heading.backward"))
    doc.line(w("conv.checks"))
    doc.line(w("conv.do"), r"do = p - e_y")
    _show(doc, d, "do", "do", g["do"][:, None])
    doc.line("dV = do f^T,  dc = do", r"dV = do\,f^\top,\quad dc = do")
    _show(doc, d, "dV", "dV", g["dV"])
    _show(doc, d, "dc", "dc", g["dc"][:, None])
    doc.line(w("conv.dp"), r"dP = \mathrm{reshape}(V^\top do)")
    _show(doc, d, "dP", "dP", g["dP"])
    doc.line(w("conv.dz"), w("conv.dz.latex"))
    _show(doc, d, "dZ", "dZ", g["dZ"])
    doc.line(w("conv.dk"), r"dK_{pq} = \sum_{i,j} X_{i+p,\,j+q}\, dZ_{ij}")
    _show(doc, d, "dK", "dK", g["dK"])
    doc.line(w("conv.db"), r"db = \sum_{i,j} dZ_{ij}")
    doc.line(f"db = {float(g['db']):.4f}")
    doc.check(d.check("db"))
    doc.line(w("conv.dx"), r"dX_{ac} = \sum_{p,q} dZ_{a-p,\,c-q}\, K_{pq}")
    _show(doc, d, "dX", "dX", g["dX"])
    doc.line(w("conv.flipped", pad=d.K.shape[0] - 1, kernel=np.round(d.K[::-1, ::-1], 4).tolist()),
             r"dX = \mathrm{pad}(dZ) \star \mathrm{rot}_{180}(K)")
    _show(doc, d, FLIPPED, rf"dX_{{\text{{{w('conv.flipped.latex')}}}}}", d.dX_flipped)
