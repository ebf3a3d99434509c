"""Backpropagation through one causal attention head, derived on a tiny fixed input.

Three tokens, head size d = 2: queries Q, keys K and values V (each 3 x 2), a causal
mask (query i sees keys 0..i), and the loss L = 1/2 sum (O - T)^2 against a fixed
target T, so that the upstream gradient is dO = O - T:

    forward   S = Q K^T / sqrt(d)                       the scores
              S~ = S with S[i, j] = -inf for j > i      the causal mask
              P = softmax(S~) row by row                 each row sums to 1, P = 0 above
                                                         the diagonal
              O = P V,  L = 1/2 sum (O - T)^2
    backward  dO = O - T
              dV = P^T dO
              dP = dO V^T
              dS = P * (dP - rowsum(dP * P))            the softmax's vector-Jacobian
                                                         product, row by row; 0 where masked
              dQ = dS K / sqrt(d),  dK = dS^T Q / sqrt(d)

Every printed gradient is compared with the autograd engine's and with central
differences (float64). dO, dP and dS are the retained gradients of O, P and S in the
head built from chainrule's explicit ops (matmul, masked_fill, softmax); dQ, dK and dV
come from ``scaled_dot_product_attention(..., is_causal=True)``, the fused node, so the
derivation checks that too. Numerically, dO, dP and dS perturb each entry of O, P or S
and run the rest forward from it; dQ, dK and dV each entry of the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.explainer.derivation import Check, intermediate_differences
from chainrule.explainer.messages import Message, Words
from chainrule.explainer.render import Document, SectionsReport, write_sections
from chainrule.gradcheck import central_differences

INTERMEDIATES = ("dO", "dP", "dS")  # the gradients checked at O, P and S
INPUTS = ("dV", "dQ", "dK")


@dataclass
class AttentionDerivation(SectionsReport):
    """The numbers of the derivation, for tests to check one by one; ``str()`` is the
    derivation as text, ``render(fmt)`` in 'text', 'markdown' or 'html'."""

    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    T: np.ndarray
    S: np.ndarray = field(default=None)
    S_masked: np.ndarray = field(default=None)
    P: np.ndarray = field(default=None)
    O: np.ndarray = field(default=None)  # noqa: E741 (the name of the formulas)
    loss: float = 0.0
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(self.Q.shape[1])

    def render(self, fmt: str = "text", lang: str = "en", embedded: bool = False) -> str:
        return render_attention(self, fmt, lang, embedded)


def default_attention() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed tiny example: Q, K, V for 3 tokens with d = 2, and the target T."""
    Q = np.array([[0.5, -0.2], [0.1, 0.8], [-0.6, 0.3]])
    K = np.array([[0.4, 0.7], [-0.3, 0.2], [0.9, -0.5]])
    V = np.array([[1.0, -0.4], [0.2, 0.6], [-0.7, 0.3]])
    T = np.array([[0.5, 0.0], [0.0, 0.5], [0.3, -0.2]])
    return Q, K, V, T


# -- the formulas (module-level seams, so that tests can plant a wrong one) --------------------


def causal_mask(n: int) -> np.ndarray:
    """True where query i may see key j (j <= i): the lower triangle."""
    return np.tri(n, dtype=bool)


def masked_softmax(S: np.ndarray) -> np.ndarray:
    """P: the causal mask (-inf above the diagonal), then softmax row by row."""
    S_masked = np.where(causal_mask(len(S)), S, -np.inf)
    e = np.exp(S_masked - S_masked.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_backward(P: np.ndarray, dP: np.ndarray) -> np.ndarray:
    """dS = P * (dP - rowsum(dP * P)): for one row, dS_j = sum_k dP_k P_k (delta_jk - P_j).
    P is 0 at the masked positions, so dS is 0 there (written as +0, not -0)."""
    return np.where(P > 0, P * (dP - (dP * P).sum(axis=1, keepdims=True)), 0.0)


# -- the two independent checks ----------------------------------------------------------------


def section_loss(d: AttentionDerivation, Q: np.ndarray, K: np.ndarray, V: np.ndarray,
                 at: tuple[str, np.ndarray] | None = None) -> float:
    """L of the head with these inputs; ``at`` = ('S' | 'P' | 'O', value) puts value in
    place of that intermediate and runs the rest forward from it."""
    def put(name: str, value: np.ndarray) -> np.ndarray:
        return at[1] if at is not None and at[0] == name else value

    S = put("S", Q @ K.T * d.scale)
    P = put("P", masked_softmax(S))
    O = put("O", P @ V)  # noqa: E741
    return float(0.5 * ((O - d.T) ** 2).sum())


def _numeric(d: AttentionDerivation) -> dict[str, np.ndarray]:
    """Central differences of L for every checked quantity."""
    values = {"Q": d.Q.copy(), "K": d.K.copy(), "V": d.V.copy()}

    def loss(at: tuple[str, np.ndarray] | None = None) -> float:
        return section_loss(d, values["Q"], values["K"], values["V"], at)

    out = {f"d{k}": central_differences(loss, values[k]) for k in values}
    return {**out, **intermediate_differences(loss, {"O": d.O, "P": d.P, "S": d.S})}


def _autograd(d: AttentionDerivation) -> dict[str, np.ndarray]:
    """The engine's gradients: dO, dP, dS from the head built of explicit ops (their
    retained gradients), dQ, dK, dV from the fused scaled_dot_product_attention."""
    Q, K, V = (Tensor(np.array(a, np.float64), requires_grad=True) for a in (d.Q, d.K, d.V))
    S = (Q @ K.transpose(1, 0)) * d.scale
    P = S.masked_fill(~causal_mask(len(d.Q)), -np.inf).softmax(-1)
    O = P @ V  # noqa: E741
    for t in (S, P, O):
        t.retain_grad()
    (((O - d.T) ** 2).sum() * 0.5).backward()
    out = {"dO": O.grad.data, "dP": P.grad.data, "dS": S.grad.data}
    Q, K, V = (Tensor(np.array(a, np.float64), requires_grad=True) for a in (d.Q, d.K, d.V))
    fused = F.scaled_dot_product_attention(Q, K, V, is_causal=True)
    (((fused - d.T) ** 2).sum() * 0.5).backward()
    out.update(dQ=Q.grad.data, dK=K.grad.data, dV=V.grad.data)
    return out


def derive_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray,
                     T: np.ndarray) -> AttentionDerivation:
    """The forward pass, the backward formulas of the module docstring, and every printed
    gradient checked against autograd and central differences."""
    Q, K, V, T = (np.array(a, np.float64) for a in (Q, K, V, T))
    _check_shapes(Q, K, V, T)
    d = AttentionDerivation(Q, K, V, T)
    d.S = Q @ K.T * d.scale
    d.S_masked = np.where(causal_mask(len(Q)), d.S, -np.inf)
    d.P = masked_softmax(d.S)
    d.O = d.P @ V
    d.loss = float(0.5 * ((d.O - T) ** 2).sum())
    g = d.grads
    g["dO"] = d.O - T
    g["dV"] = d.P.T @ g["dO"]
    g["dP"] = g["dO"] @ V.T
    g["dS"] = softmax_backward(d.P, g["dP"])
    g["dQ"] = g["dS"] @ K * d.scale
    g["dK"] = g["dS"].T @ Q * d.scale
    auto, numeric = _autograd(d), _numeric(d)
    for name in INTERMEDIATES + INPUTS:
        d.checks.append(Check(name, g[name], auto[name], numeric[name]))
    return d


def _check_shapes(Q: np.ndarray, K: np.ndarray, V: np.ndarray, T: np.ndarray) -> None:
    """One clear error for inputs the derivation cannot take."""
    if Q.ndim != 2 or Q.shape[1] < 1 or K.shape != Q.shape:
        raise ValueError(f"explain --attention: Q and K must be the same (tokens, d) matrix "
                         f"shape, got Q {Q.shape} and K {K.shape}")
    if V.ndim != 2 or len(V) != len(Q) or T.shape != V.shape:
        raise ValueError(f"explain --attention: V must be (tokens, dv) with {len(Q)} tokens "
                         f"and T the shape of V, got V {V.shape} and T {T.shape}")


# -- writing it out ----------------------------------------------------------------------------


def render_attention(d: AttentionDerivation, fmt: str = "text", lang: str | Words = "en",
                     embedded: bool = False) -> str:
    """The derivation in ``fmt`` ('text', 'markdown' or 'html': a page, or with ``embedded``
    one <div>), in language ``lang``."""
    detail = Message("attention.summary", intermediates=len(INTERMEDIATES), inputs=len(INPUTS))
    return write_sections(fmt, Message("attention.title"),
                          [lambda doc: _forward(doc, d), lambda doc: _backward(doc, d)],
                          d.checks, detail, lang, embedded)


def _forward(doc: Document, d: AttentionDerivation) -> None:
    w, (n, k) = doc.words, d.Q.shape
    doc.heading(w("heading.notation"))
    doc.line(w("attention.notation", n=n, d=k))
    doc.heading(w("heading.forward"))
    doc.matrix("Q", "Q", d.Q)
    doc.matrix("K", "K", d.K)
    doc.matrix("V", "V", d.V)
    doc.line(w("attention.scores", d=k, scale=d.scale), r"S = \frac{Q K^\top}{d^{1/2}}")
    doc.matrix("S", "S", d.S)
    doc.line(w("attention.mask"), r"S'_{ij} = S_{ij}\ (j \le i),\quad -\mathrm{inf}\ (j > i)")
    doc.matrix(w("attention.masked"), r"S'", d.S_masked)
    doc.line(w("attention.softmax"), r"P_{ij} = \frac{\exp S'_{ij}}{\sum_k \exp S'_{ik}}")
    doc.matrix("P", "P", d.P)
    doc.line(w("attention.output"), r"O = P V")
    doc.matrix("O", "O", d.O)
    doc.matrix("T", "T", d.T)
    doc.line("L = 1/2 sum (O - T)^2", r"L = \frac{1}{2}\sum_{i,j} (O_{ij} - T_{ij})^2")
    doc.line(f"L = {d.loss:.6f}")


def _show(doc: Document, d: AttentionDerivation, name: str, latex: str) -> None:
    doc.matrix(name, latex, d.grads[name])
    doc.check(d.check(name))


def _backward(doc: Document, d: AttentionDerivation) -> None:
    w = doc.words
    doc.heading(w("heading.backward"))
    doc.line(w("attention.checks"))
    doc.line(w("attention.do"), r"dO = O - T")
    _show(doc, d, "dO", "dO")
    doc.line(w("attention.dv"), r"dV = P^\top dO")
    _show(doc, d, "dV", "dV")
    doc.line("dP = dO V^T", r"dP = dO\, V^\top")
    _show(doc, d, "dP", "dP")
    doc.line(w("attention.ds"), r"dS_{ij} = P_{ij}\left(dP_{ij} - \sum_k dP_{ik} P_{ik}\right)")
    _show(doc, d, "dS", "dS")
    doc.line("dQ = dS K / sqrt(d)", r"dQ = \frac{dS\, K}{d^{1/2}}")
    _show(doc, d, "dQ", "dQ")
    doc.line("dK = dS^T Q / sqrt(d)", r"dK = \frac{dS^\top Q}{d^{1/2}}")
    _show(doc, d, "dK", "dK")
