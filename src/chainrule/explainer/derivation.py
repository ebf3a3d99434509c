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
from chainrule.explainer.messages import Message
from chainrule.gradcheck import central_differences
from chainrule.nn.activation import (
    ACTIVATIONS,
    Activation,
    Derivative,
    Softmax,
    get_activation,
)
from chainrule.nn.container import Sequential
from chainrule.nn.layers import Dropout
from chainrule.nn.linear import Linear

TOLERANCE = 1e-6  # formula vs autograd: the same float64 arithmetic, in another order
NUMERIC_TOLERANCE = 1e-5  # vs central differences, whose error is about eps^2 + 1e-16/eps


LOSS_NAMES = ("mse", "bce", "cross-entropy")
# the activation a loss applies to raw scores itself (nn.CrossEntropyLoss, BCEWithLogitsLoss)
LOGIT_ACTIVATION = {"cross-entropy": "softmax", "bce": "sigmoid"}


@dataclass(frozen=True)
class Loss:
    """The loss explain derives: one of the textbook losses, and how the model meets it.

    name: mse (1/(2m) sum ||A - Y||^2), bce or cross-entropy (both averaged over the
    examples); scale: what the loss actually minimized is, over the textbook one
    (nn.MSELoss's mean over all m n entries is 2/n of it, nn.BCELoss's 1/n: every delta
    is scaled the same); logits: the model ends with raw scores Z^(L) and the loss applies
    softmax (cross-entropy) or sigmoid (bce) itself, as ``nn.mlp``'s models and
    ``nn.CrossEntropyLoss`` / ``nn.BCEWithLogitsLoss`` do; label: how the caller named it.
    """

    name: str
    scale: float = 1.0
    logits: bool = False
    label: str = ""

    def value(self, a: np.ndarray, y: np.ndarray) -> float:
        """The data loss of outputs A (after the loss's own softmax/sigmoid) and targets Y."""
        return self.scale * _loss_value(a, y, self.name)


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


def intermediate_differences(loss: Any, intermediates: dict[str, np.ndarray]
                             ) -> dict[str, np.ndarray]:
    """dL/d(name) by central differences for each forward intermediate: ``loss((name, v))``
    recomputes the loss from ``v`` put in place of that intermediate (the layers before it
    left out), so each entry of ``v`` is perturbed on its own. Keys are ``"d" + name``."""
    out = {}
    for name, value in intermediates.items():
        perturbed = np.array(value, np.float64)  # a copy, perturbed in place
        out[f"d{name}"] = central_differences(lambda v=perturbed, n=name: loss((n, v)),
                                              perturbed)
    return out


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
class ExampleStep:
    """Example k of the per-example loop: its error delta^(l) at each layer l = 1..L,
    its contributions delta^(l) a^(l-1)T (weights) and delta^(l) (biases), and the running
    sums Delta^(l) and Delta_b^(l) after it."""

    k: int
    x: np.ndarray
    y: np.ndarray
    deltas: list[np.ndarray]
    contributions: list[np.ndarray]
    running: list[np.ndarray]
    running_b: list[np.ndarray]


@dataclass
class PerExample:
    """The per-example form: for k = 1..m, Delta^(l) += delta^(l) a^(l-1)T; finally
    D^(l) = Delta^(l) / m + lambda/m W^(l) and D_b^(l) = Delta_b^(l) / m (bias not
    regularized). ``matrix_diff[l]``: max |D^(l) - dW^(l)| against the matrix form."""

    examples: list[ExampleStep]
    D: list[np.ndarray]
    Db: list[np.ndarray]
    matrix_diff: list[float]
    checks: list[Check]


class CheckedReport:
    """What every derivation shares (MLP, BPTT, convolution): its ``checks``, whether they
    all passed, and one of them by name."""

    checks: list[Check]

    @property
    def all_ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, name: str) -> Check:
        """The check called ``name`` (e.g. 'dW^(2)', 'da_2', 'dK'); KeyError if none is."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)


class PageReport(CheckedReport):
    """A derivation the interactive page draws (MLP, BPTT): Jupyter displays the page."""

    def _repr_html_(self) -> str:  # Jupyter: the interactive page
        from chainrule.explainer.page import fragment

        return fragment(self)

    def _repr_markdown_(self) -> str:
        from chainrule.explainer.page import write

        return write(self, "markdown")


@dataclass
class Derivation(PageReport):
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
    spec: Loss = None  # the loss in full (loss_name is its textbook name)
    # where the model and data came from (Messages: each report writes them in its language)
    notes: list[str] = field(default_factory=list)

    per_example: PerExample | None = None

    @property
    def checks(self) -> list[Check]:
        extra = self.per_example.checks if self.per_example is not None else []
        return [c for layer in self.layers for c in layer.checks] + extra


def _activation_of(i: int, module: Activation) -> Act:
    """The Act of the activation module at position i of the Sequential."""
    if isinstance(module, Softmax) and module.axis not in (-1, 1):
        raise ValueError(f"explain: layer {i} (Softmax(axis={module.axis})) must normalize "
                         f"each example's outputs: use axis=-1")
    if getattr(module, "approximate", "none") != "none":  # GELU's tanh form
        raise ValueError(f"explain: layer {i} (GELU(approximate={module.approximate!r})): the "
                         f"explainer derives the exact GELU only; use GELU()")
    attribute = module.parameter
    return Act(module.name, None if attribute is None else float(getattr(module, attribute)))


def layers_of(model: Sequential) -> list[tuple[Linear, Act]]:
    """(Linear, activation) pairs; a Linear without an activation gets the identity.
    Dropout layers are left out: explain derives the network as it predicts."""
    pairs: list[tuple[Linear, Act]] = []
    for i, m in enumerate(model):
        if isinstance(m, Dropout):
            continue  # the identity when the network predicts (evaluation mode)
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


def _string_loss(loss: str, output: str) -> Loss:
    """'mse', 'bce', 'bce-with-logits' or 'cross-entropy' for a model whose last activation
    is ``output``: cross-entropy of raw scores (identity) applies softmax itself."""
    name = loss.replace("_", "-").lower()
    logits = name == "bce-with-logits" or (name == "cross-entropy" and output == "identity")
    name = "bce" if name == "bce-with-logits" else name
    if name not in LOSS_NAMES:
        raise ValueError(f"explain: loss must be mse, bce, bce-with-logits or cross-entropy "
                         f"(or nn.MSELoss(), nn.BCELoss(), nn.BCEWithLogitsLoss(), "
                         f"nn.CrossEntropyLoss()), got {loss!r}")
    if logits and output != "identity":
        raise ValueError(f"explain: loss {loss} applies sigmoid to raw scores itself, so the "
                         f"model must end with a Linear layer, not {output}")
    if name == "cross-entropy" and output not in ("softmax", "identity"):
        raise ValueError(f"explain: loss cross-entropy needs a softmax output layer or raw "
                         f"scores (a Linear layer last, as nn.mlp builds), not {output}")
    if name == "bce" and not logits and output != "sigmoid":
        raise ValueError(f"explain: loss bce needs a sigmoid output layer, not {output} (for "
                         f"raw scores use bce-with-logits)")
    if name == "mse" and output == "softmax":
        raise ValueError("explain: loss mse needs an elementwise output activation (sigmoid, "
                         "identity, ...), not softmax; a softmax output goes with loss "
                         "cross-entropy")
    return Loss(name, logits=logits, label=name if not logits else loss)


def _module_loss(loss: Any, output: str, n_out: int) -> Loss:
    """A loss module as its textbook loss: nn.CrossEntropyLoss and nn.BCEWithLogitsLoss
    take raw scores; nn.MSELoss and nn.BCELoss average over the n outputs as well as the
    examples, 2/n and 1/n of the textbook mse and bce."""
    from chainrule.nn import loss as modules

    label = f"nn.{type(loss).__name__}()"
    if getattr(loss, "reduction", "mean") != "mean":
        raise ValueError(f"explain: {label[:-1]}reduction={loss.reduction!r}): explain derives "
                         f"the mean over the examples; use reduction='mean'")
    if isinstance(loss, modules.CrossEntropyLoss) and (loss.weight is not None
                                                       or loss.label_smoothing):
        raise ValueError("explain: nn.CrossEntropyLoss with class weights or label smoothing "
                         "is beyond the textbook formulas; use nn.CrossEntropyLoss()")
    # weights rescale each term of the sum, which the textbook's delta^(L) leaves out
    weighted = [option for option in ("weight", "pos_weight")
                if getattr(loss, option, None) is not None]
    if isinstance(loss, (modules.BCELoss, modules.BCEWithLogitsLoss)) and weighted:
        raise ValueError(f"explain: {label[:-1]}{weighted[0]}=...) weighs the examples or the "
                         f"positive class, which is beyond the textbook formulas; use {label}")
    logit_losses = {modules.CrossEntropyLoss: "cross-entropy", modules.BCEWithLogitsLoss: "bce"}
    name = logit_losses.get(type(loss))
    if name is not None:
        if output != "identity":
            raise ValueError(f"explain: {label} applies {LOGIT_ACTIVATION[name]} to raw scores "
                             f"itself, so the model must end with a Linear layer, not {output} "
                             f"(remove the last {output}, or pass loss='{name}')")
        return Loss(name, 1.0 if name == "cross-entropy" else 1 / n_out, True, label)
    if type(loss) is modules.BCELoss:
        _string_loss("bce", output)
        return Loss("bce", 1 / n_out, False, label)
    if type(loss) is modules.MSELoss:
        _string_loss("mse", output)
        return Loss("mse", 2 / n_out, False, label)
    raise ValueError(f"explain: loss must be mse, bce, bce-with-logits or cross-entropy, or "
                     f"one of nn.MSELoss(), nn.BCELoss(), nn.BCEWithLogitsLoss(), "
                     f"nn.CrossEntropyLoss(); got {loss!r}")


def loss_of(loss: Any, output: str, n_out: int) -> Loss:
    """The ``Loss`` that ``loss`` (a name, a loss module or a Loss) means for a model whose
    output activation is ``output`` and which has ``n_out`` outputs."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        return _string_loss(loss, output)
    return _module_loss(loss, output, n_out)


def _targets(y: Any, loss: Loss, m: int, n_out: int) -> np.ndarray:
    """y as an (m, n_out) float64 array: class indices (a vector, or one column when there
    are several outputs) become one-hot rows for cross-entropy; a vector is one column for
    a single output."""
    y = np.asarray(getattr(y, "data", y))
    indices = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and n_out > 1)
    if indices and loss.name == "cross-entropy" and len(y) == m:
        k = y.reshape(-1)
        bad = (k < 0) | (k >= n_out) | (k != np.round(k))
        if bad.any():
            raise ValueError(f"explain: class indices in y must be whole numbers 0..{n_out - 1} "
                             f"(the network has {n_out} outputs, one per class), got "
                             f"{k[bad][0]:g}")
        return np.eye(n_out)[k.astype(int)]
    if y.ndim == 1 and n_out == 1:
        y = y.reshape(-1, 1)
    if y.shape != (m, n_out):
        raise ValueError(f"explain: y must have shape ({m}, {n_out}) (one row per example, one "
                         f"column per output; or class indices for cross-entropy), got "
                         f"{y.shape}")
    return y.astype(np.float64)


def _check_targets(y: np.ndarray, loss: str) -> None:
    """bce needs targets in [0, 1]; softmax cross-entropy's delta A - Y needs rows of Y
    that sum to 1 (in general delta = A sum(Y) - Y)."""
    if loss == "bce" and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"explain: loss bce needs targets between 0 and 1, got values from "
                         f"{y.min():g} to {y.max():g}")
    sums = y.sum(axis=1)
    if loss == "cross-entropy" and not np.allclose(sums, 1):
        k = int(np.argmax(~np.isclose(sums, 1)))
        raise ValueError(f"explain: loss cross-entropy needs a softmax output (a distribution "
                         f"over the classes) and rows of y that sum to 1 too (one-hot or "
                         f"probabilities), or class indices; row {k} sums to {sums[k]:g}")


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
                y: np.ndarray, loss: Loss, l1: float, l2: float) -> float:
    a = _forward(params, x)[-1][1]
    return loss.value(a, y) + _reg_value([w for w, _, _ in params], len(x), l1, l2)


def _loss_from(params: list, l: int, value: np.ndarray, is_z: bool, y: np.ndarray,
               loss: Loss) -> float:
    """The data loss computed from layer l's Z^(l) (is_z) or A^(l) = ``value``: apply f_l
    if needed, then run layers l+1..L forward. (The L1/L2 terms depend on the weights
    only, so their derivative with respect to Z or A is zero and they are left out.)"""
    a = params[l][2](value) if is_z else value
    if l + 1 < len(params):
        a = _forward(params[l + 1:], a)[-1][1]
    return loss.value(a, y)


def _numeric_weights(params: list, x: np.ndarray, y: np.ndarray, loss: Loss, l1: float,
                     l2: float, target: np.ndarray) -> np.ndarray:
    """Central differences of the total loss (with L1/L2) for a W or b in ``params``."""
    return central_differences(lambda: _total_loss(params, x, y, loss, l1, l2), target)


def _numeric_intermediate(params: list, l: int, value: np.ndarray, is_z: bool,
                          y: np.ndarray, loss: Loss) -> np.ndarray:
    """m dJ/dZ^(l) (is_z) or m dJ/dA^(l) by central differences: delta and dA are the
    errors of single examples, m times the gradient of the mean loss."""
    value = value.copy()  # perturbed in place
    return len(y) * central_differences(lambda: _loss_from(params, l, value, is_z, y, loss),
                                        value)


def _engine_loss(a: Tensor, y: np.ndarray, loss: Loss) -> Tensor:
    """The data loss on the engine, by the library's loss functions: cross-entropy and
    bce with logits take the raw scores ``a`` = Z^(L) (softmax and sigmoid fused in)."""
    m, t = len(y), Tensor(y)
    if loss.name == "mse":
        return F.mse_loss(a, t, reduction="sum") * (loss.scale / (2 * m))
    if loss.name == "cross-entropy":
        return F.cross_entropy(a, t) * loss.scale
    bce = F.binary_cross_entropy_with_logits if loss.logits else F.binary_cross_entropy
    return bce(a, t, reduction="sum") * (loss.scale / m)


def _autograd(params: list, x: np.ndarray, y: np.ndarray, loss: Loss, l1: float, l2: float
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
        if len(zs) == len(params) and (loss.logits or loss.name == "cross-entropy"):
            a = z  # the fused loss below takes the logits
        else:
            a = act.engine(z)
        if a is not z:
            a.retain_grad()
        acts.append(a)
    m = len(x)
    total = _engine_loss(a, y, loss)
    for w in ws:
        if l2:
            total = total + (w * w).sum() * (l2 / (2 * m))
        if l1:
            total = total + w.abs().sum() * (l1 / m)
    total.backward()
    return ([w.grad.data for w in ws], [b.grad.data for b in bs],
            [(z.grad.data, None if t.grad is None else t.grad.data)
             for z, t in zip(zs, acts[:-1], strict=True)])


def derive(model: Sequential, x: Any, y: Any, loss: Any = "cross-entropy", lr: float = 0.5,
           l1: float = 0.0, l2: float = 0.0, steps: int = 1, per_example: bool = False
           ) -> Derivation:
    """Compute the derivation (step 1 in full, then the loss after each of ``steps``).

    ``loss``: 'mse', 'bce', 'bce-with-logits', 'cross-entropy' or a loss module
    (nn.MSELoss(), nn.BCELoss(), nn.BCEWithLogitsLoss(), nn.CrossEntropyLoss()); a model
    ending with raw scores (``nn.mlp``'s) takes cross-entropy as softmax + cross-entropy.
    ``y``: one row per example, or class indices for cross-entropy. ``per_example``: also
    the per-example form (a loop over the examples accumulating Delta^(l)), checked."""
    pairs = layers_of(model)
    n_in, n_out = pairs[0][0].in_features, pairs[-1][0].out_features
    spec = loss_of(loss, pairs[-1][1].name, n_out)
    if spec.logits:  # the loss's own softmax or sigmoid is the output layer's activation
        pairs[-1] = (pairs[-1][0], Act(LOGIT_ACTIVATION[spec.name]))
    x = np.asarray(getattr(x, "data", x), np.float64)
    if x.ndim != 2 or x.shape[1] != n_in or len(x) == 0:
        raise ValueError(f"explain: x must have shape (examples, {n_in}) with at least one "
                         f"example, got {x.shape}")
    y = _targets(y, spec, len(x), n_out)
    _check_targets(y, spec.name)
    params = [(lin.weight.data.astype(np.float64).copy(),
               (lin.bias.data if lin.bias is not None else np.zeros(lin.out_features))
               .astype(np.float64).copy(), act) for lin, act in pairs]
    d = Derivation(x, y, spec.name, lr, l1, l2, [], spec=spec)
    if any(isinstance(m, Dropout) for m in model):
        d.notes.append(Message("note.dropout"))
    for step in range(steps):
        d.losses.append(_total_loss(params, x, y, spec, l1, l2))
        if step == 0:
            _first_step(d, params)
            if per_example:
                d.per_example = per_example_form(d, params)
        params = _apply_update(params, x, y, spec, lr, l1, l2)
    d.losses.append(_total_loss(params, x, y, spec, l1, l2))
    return d


def _gradients(params: list, x: np.ndarray, y: np.ndarray, loss: Loss, l1: float, l2: float
               ) -> tuple[list, list]:
    """Forward values and the formula's (delta, dW, db, dA_prev) per layer."""
    m = len(x)
    fwd = _forward(params, x)
    back: list[tuple] = [None] * len(params)
    z_l, a_l = fwd[-1]
    act = params[-1][2]
    delta = loss.scale * (a_l - y)
    if loss.name == "mse":  # the output's own f' stays; softmax/sigmoid's cancels
        delta = delta * act.derivative(z_l, a_l)
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


def per_example_form(d: Derivation, params: list) -> PerExample:
    """The loop of course derivations over the examples, one at a time (each is the matrix
    form with m = 1: a forward pass, its delta^(L), back through the layers), summing
    Delta^(l) += delta^(l) a^(l-1)T; then D^(l) = Delta^(l)/m + the regularization terms.
    Checked against autograd and central differences of the whole batch (the D's against
    dJ/dW, each example's delta^(l) against row k of m dJ/dZ^(l)) and the matrix form."""
    m = len(d.X)
    running = [np.zeros_like(w) for w, _, _ in params]
    running_b = [np.zeros_like(b) for _, b, _ in params]
    examples = []
    for k in range(m):
        _, back = _gradients(params, d.X[k:k + 1], d.Y[k:k + 1], d.spec, 0.0, 0.0)
        deltas = [delta[0] for delta, _, _, _ in back]
        parts = [dw for _, dw, _, _ in back]  # delta^(l) a^(l-1)T: dW with m = 1
        running = [r + c for r, c in zip(running, parts, strict=True)]
        running_b = [r + g for r, g in zip(running_b, deltas, strict=True)]
        examples.append(ExampleStep(k + 1, d.X[k], d.Y[k], deltas, parts, running, running_b))
    D = [r / m + d.l2 / m * w + d.l1 / m * np.sign(w)
         for r, (w, _, _) in zip(running, params, strict=True)]
    Db = [r / m for r in running_b]
    checks = []
    for l, layer in enumerate(d.layers):
        delta_check, dw_check, db_check = layer.checks[:3]
        checks += [Check(Message("check_name.example_delta", l=l + 1, k=e.k), e.deltas[l],
                         delta_check.autograd[e.k - 1], delta_check.numeric[e.k - 1])
                   for e in examples]
        checks += [Check(f"D^({l + 1})", D[l], dw_check.autograd, dw_check.numeric),
                   Check(f"D_b^({l + 1})", Db[l], db_check.autograd, db_check.numeric)]
    diffs = [float(np.abs(Dl - layer.dW).max(initial=0)) for Dl, layer in
             zip(D, d.layers, strict=True)]
    return PerExample(examples, D, Db, diffs, checks)


def _apply_update(params: list, x: np.ndarray, y: np.ndarray, loss: Loss, lr: float, l1: float,
                  l2: float) -> list:
    _, back = _gradients(params, x, y, loss, l1, l2)
    return [(w - lr * dw, b - lr * db, act)
            for (w, b, act), (_, dw, db, _) in zip(params, back, strict=True)]


def _first_step(d: Derivation, params: list) -> None:
    """Layer by layer: the formula's numbers and, for each gradient, autograd's and the
    central differences' (delta^(l), dW^(l), db^(l), and dA^(l-1) from layer 2 on)."""
    x, y, m = d.X, d.Y, len(d.X)
    loss = d.spec
    fwd, back = _gradients(params, x, y, loss, d.l1, d.l2)
    grads_w, grads_b, grads_z = _autograd(params, x, y, loss, d.l1, d.l2)
    d.data_loss = loss.value(fwd[-1][1], y)
    d.loss = d.losses[0]
    for l, ((w, b, act), (z, a), (delta, dw, db, da_prev)) in enumerate(
            zip(params, fwd, back, strict=True)):
        layer = LayerMath(l + 1, act.name, w.copy(), b.copy(), z, a, delta, dw, db, da_prev,
                          w - d.lr * dw, b - d.lr * db, param=act.param)
        layer.checks = [
            Check(f"delta^({l + 1})", delta, grads_z[l][0] * m,
                  _numeric_intermediate(params, l, z, True, y, loss)),
            Check(f"dW^({l + 1})", dw, grads_w[l],
                  _numeric_weights(params, x, y, loss, d.l1, d.l2, params[l][0])),
            Check(f"db^({l + 1})", db, grads_b[l],
                  _numeric_weights(params, x, y, loss, d.l1, d.l2, params[l][1])),
        ]
        if l > 0:  # dA^(l) = dJ/dA^(l) m, the input of layer l + 1 (dA^(0) = dX is not shown)
            layer.checks.append(Check(f"dA^({l})", da_prev, grads_z[l][1] * m,
                                      _numeric_intermediate(params, l - 1, fwd[l - 1][1],
                                                            False, y, loss)))
        d.layers.append(layer)
