"""Loss functions L(prediction, target), each with ``reduction='mean'|'sum'|'none'``.

'mean' averages over the examples (over every element for the elementwise losses,
as PyTorch does), 'sum' adds them up, 'none' returns one loss per example/element.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Function
from chainrule.autograd.tensor import Tensor
from chainrule.ops.activations import log_softmax, sigmoid, softmax, softplus
from chainrule.ops.elementwise import as_tensor, log, maximum
from chainrule.ops.kernels import logsumexp_array, sigmoid_array
from chainrule.ops.reductions import sum as _sum

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of 'mean', 'sum', 'none'; "
                         f"got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_shape(name: str, input: Tensor, target: Tensor) -> None:
    """Elementwise losses refuse to broadcast: (N, 1) against (N,) would silently compare
    every prediction with every target."""
    if input.shape != target.shape:
        raise ValueError(f"{name}: input has shape {input.shape} but target has shape "
                         f"{target.shape}; they must be equal (reshape one of them)")


def _broadcasts_to(name: str, option: str, shape: tuple[int, ...], input: Tensor) -> None:
    """An elementwise loss's array option must broadcast to the input's shape: a larger
    result would silently change what the loss sums over."""
    try:
        fits = np.broadcast_shapes(shape, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: {option} of shape {shape} does not broadcast to the input's "
                         f"shape {input.shape}; give one value per element or per class, shape "
                         f"{input.shape} or ({input.shape[-1] if input.shape else 1},)")


def _weighted(name: str, loss: Tensor, weight: Any) -> Tensor:
    if weight is None:
        return loss
    weight = as_tensor(weight, loss)
    _broadcasts_to(name, "weight", weight.shape, loss)
    return loss * weight


# -- regression -------------------------------------------------------------------------


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: L = mean((input - target)**2);  dL/dinput = 2 (input - target) / n."""
    _check_reduction("mse_loss", reduction)
    target = as_tensor(target, input)
    _same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


# -- binary classification ---------------------------------------------------------------

_LOG_FLOOR = -100.0  # log(p) is clamped here, so p = 0 or 1 gives a finite loss (PyTorch's bound)
_EPS = 1e-12


class BinaryCrossEntropy(Function):
    """L = -(t log p + (1 - t) log(1 - p)) elementwise;  dL/dp = (p - t) / (p (1 - p)),
    dL/dt = log(1 - p) - log(p). The logs are clamped at -100 and the denominator at
    1e-12, so probabilities of exactly 0 or 1 give finite values and gradients."""

    __slots__ = ()

    def forward(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), _LOG_FLOOR)
            log_q = np.maximum(np.log1p(-p), _LOG_FLOOR)
        return -(t * log_p + (1 - t) * log_q)

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor | None]:
        p, t = self.inputs
        gp = gy * (p - t) / maximum(p * (1.0 - p), _EPS)
        gt = None
        if t.requires_grad:
            with np.errstate(divide="ignore"):  # log 0 = -inf, clamped as in forward
                gt = gy * (maximum(log(1.0 - p), _LOG_FLOOR) - maximum(log(p), _LOG_FLOOR))
        return gp, gt


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Cross-entropy between probabilities ``input`` in [0, 1] and targets in [0, 1]."""
    _check_reduction("binary_cross_entropy", reduction)
    target = as_tensor(target, input)
    _same_shape("binary_cross_entropy", input, target)
    p = input.data
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1]; "
                         f"found values from {np.nanmin(p):.4g} to {np.nanmax(p):.4g}. For raw "
                         f"scores use binary_cross_entropy_with_logits")
    return _reduce(_weighted("binary_cross_entropy", BinaryCrossEntropy()(input, target),
                             weight), reduction)


class BCEWithLogits(Function):
    """L = -(w t log s(x) + (1 - t) log(1 - s(x))) with s the sigmoid and w the positive
    class's weight (``pos_weight``, 1 when not given), computed stably as
    (1 - t) x + c softplus(-x) with c = 1 + (w - 1) t and softplus(-x) = max(-x, 0) +
    log(1 + e^-|x|);  dL/dx = c s(x) - w t,  dL/dt = (w - 1) softplus(-x) - x.
    With w = 1 these are max(x, 0) - x t + log(1 + e^-|x|), s(x) - t and -x."""

    __slots__ = ("pos_weight",)

    def __init__(self, pos_weight: np.ndarray | None = None) -> None:
        self.pos_weight = pos_weight  # a constant, as PyTorch's weight and pos_weight are here

    def forward(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        tail = np.log1p(np.exp(-np.abs(x)))
        if self.pos_weight is None:
            return np.maximum(x, 0) - x * t + tail
        return (1 - t) * x + (1 + (self.pos_weight - 1) * t) * (np.maximum(-x, 0) + tail)

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor | None]:
        x, t = self.inputs
        w = self.pos_weight
        if w is None:
            return gy * (sigmoid(x) - t), (-gy * x if t.requires_grad else None)
        gx = gy * ((1 + (w - 1) * t) * sigmoid(x) - w * t)
        return gx, (gy * ((w - 1) * softplus(-x) - x) if t.requires_grad else None)

    def backward_arrays(self, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x, t = self.inputs[0].data, self.inputs[1]
        w, s = self.pos_weight, sigmoid_array(x)
        if w is None:
            return gy * (s - t.data), (-gy * x if t.requires_grad else None)
        gx = gy * ((1 + (w - 1) * t.data) * s - w * t.data)
        if not t.requires_grad:
            return gx, None
        softplus_neg = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
        return gx, gy * ((w - 1) * softplus_neg - x)


def _positive_weight(pos_weight: Any, input: Tensor) -> np.ndarray | None:
    """``pos_weight`` as a constant array of the input's dtype that broadcasts to the
    input's shape (one weight per class along the last axis, as PyTorch uses it)."""
    if pos_weight is None:
        return None
    w = np.asarray(pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"binary_cross_entropy_with_logits: pos_weight must hold real numbers; "
                        f"got an array of {w.dtype}")
    _broadcasts_to("binary_cross_entropy_with_logits", "pos_weight", w.shape, input)
    return w.astype(input.dtype, copy=False)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of sigmoid(input), fused so large logits stay finite. ``weight``
    scales each element's loss; ``pos_weight`` scales the positive term only (w > 1 favours
    recall), both broadcast to the input's shape as in PyTorch."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    target = as_tensor(target, input)
    _same_shape("binary_cross_entropy_with_logits", input, target)
    loss = BCEWithLogits(_positive_weight(pos_weight, input))(input, target)
    return _reduce(_weighted("binary_cross_entropy_with_logits", loss, weight), reduction)


# -- multi-class classification ----------------------------------------------------------


def _class_targets(name: str, target: np.ndarray, n: int, classes: int,
                   ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-index targets checked against the batch: (indices safe to gather, valid mask)."""
    if target.shape != (n,):
        raise ValueError(f"{name}: class-index target must have shape ({n},) to match the "
                         f"input's {n} examples; got shape {target.shape}")
    valid = target != ignore_index
    bad = valid & ((target < 0) | (target >= classes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: target {int(target[i])} at position {i} is out of range "
                         f"for {classes} classes (expected 0..{classes - 1}"
                         f"{f' or ignore_index {ignore_index}' if ignore_index >= 0 else ''})")
    return np.where(valid, target, 0), valid


class CrossEntropy(Function):
    """L_n = -sum_c K_nc log softmax(x_n)_c, softmax cross-entropy from logits, fused;
    dL_n/dx_n = softmax(x_n) * sum_c K_nc - K_n (softmax - target when K's rows sum to 1).

    K is the target written as a matrix: one row per example, a one-hot row for
    class-index targets, the probabilities for soft targets, times class weights
    and label smoothing when given. Averaged over m examples the gradient is
    (softmax - Y) / m, as in the matrix derivation of backprop. A class whose K is 0
    contributes 0 even when its logit is -inf (0 log 0 = 0), so masking a logit with
    -inf leaves the loss and its gradient finite, as in PyTorch.
    """

    __slots__ = ("coef", "denominator", "reduction", "probs")

    def __init__(self, coef: np.ndarray, denominator: float, reduction: str) -> None:
        self.coef, self.denominator, self.reduction = coef, denominator, reduction

    def forward(self, x: np.ndarray) -> np.ndarray:
        lse = logsumexp_array(x, 1)
        self.probs = np.exp(x - lse)
        nll = lse - x
        if np.isfinite(nll).all():
            terms = self.coef * nll
        else:
            # a -inf logit gives nll = inf; where K is 0 (not the target, no smoothing) the
            # term is 0 * log 0 = 0, the limit (PyTorch's loss is finite too), not NaN
            with np.errstate(invalid="ignore"):
                terms = np.where(self.coef == 0, 0, self.coef * nll).astype(x.dtype)
        losses = terms.sum(axis=1)
        if self.reduction == "none":
            return losses
        total = losses.sum()
        if self.reduction == "mean":
            total = total / self.denominator if self.denominator else np.nan
        return np.asarray(total, x.dtype)

    def backward(self, gy: Tensor) -> Tensor:
        g = self._upstream(gy)
        weight_sum = self.coef.sum(axis=1, keepdims=True)
        return g * (softmax(self.inputs[0], 1) * weight_sum - self.coef)

    def backward_arrays(self, gy: np.ndarray) -> np.ndarray:
        local = self.probs * self.coef.sum(axis=1, keepdims=True) - self.coef  # forward's softmax
        return (self._upstream(gy) * local).astype(self.probs.dtype, copy=False)

    def _upstream(self, gy: Any) -> Any:
        """The gradient of each example's loss (a Tensor or an array): gy spread over the
        rows, divided by the denominator for 'mean'."""
        if self.reduction == "mean":
            gy = gy * _per_counted(self.denominator)
        return gy if self.reduction != "none" else gy[:, None]

    def release(self) -> None:
        super().release()
        self.probs = None


def _per_counted(denominator: float) -> float:
    """The factor of a 'mean': 1 / the summed weights of the counted examples. With nothing
    counted (every target ignored) the mean is 0 / 0 = NaN, as in PyTorch, and every term is
    0, so the factor of the gradient is 0: no example gets one (PyTorch's, for ignored
    targets), where 1 / 0 would raise or turn the zeros into NaN."""
    return 1.0 / denominator if denominator else 0.0


def _as_logits_2d(name: str, input: Tensor) -> tuple[Tensor, bool]:
    if input.ndim == 1:
        return input.reshape(1, -1), True
    if input.ndim != 2:
        raise ValueError(f"{name}: input must have shape (batch, classes) or (classes,); got "
                         f"{input.shape}. For sequences, reshape to (-1, classes) first")
    return input, False


def cross_entropy(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between logits ``input`` (batch, classes) and ``target``.

    ``target`` is either class indices (batch,) of an integer dtype, or a
    probability / one-hot matrix (batch, classes) of a floating dtype. ``weight``
    gives each class a weight; targets equal to ``ignore_index`` contribute
    nothing; ``label_smoothing`` mixes the target with the uniform distribution.
    'mean' divides by the summed weights of the counted examples (the batch size
    when there are no weights), as PyTorch does; with none counted it is NaN, with a
    zero gradient. A probability target that requires grad gets its gradient too.
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    x, single = _as_logits_2d(name, input)
    n, classes = x.shape
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if single and t.ndim == (0 if t.dtype.kind in "iu" else 1):
        t = t[None]
    w = None if weight is None else _class_weights(name, weight, classes, x.dtype)
    dtype = x.dtype
    if t.dtype.kind in "iu":
        safe, valid = _class_targets(name, t, n, classes, ignore_index)
        coef = np.zeros((n, classes), dtype)
        coef[np.arange(n), safe] = 1.0 - label_smoothing
        if label_smoothing:
            coef += label_smoothing / classes
        coef *= valid[:, None]
        picked = valid.astype(dtype) if w is None else w[safe] * valid
        if w is not None:
            coef *= w
        denominator = float(picked.sum())
    elif t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(f"{name}: a probability target must have the input's shape "
                             f"{x.shape}; got {t.shape}")
        if isinstance(target, Tensor) and target.requires_grad:
            loss = _soft_cross_entropy(x, target.reshape(x.shape), w, label_smoothing,
                                       reduction)
            return loss.reshape(()) if single and reduction == "none" else loss
        coef = t.astype(dtype) * (1.0 - label_smoothing) + label_smoothing / classes
        if w is not None:
            coef = coef * w
        denominator = float(n)
    else:
        raise TypeError(f"{name}: target must hold class indices (integers) or "
                        f"probabilities (floats); got dtype {t.dtype}")
    loss = CrossEntropy(coef.astype(dtype, copy=False), denominator, reduction)(x)
    if single and reduction == "none":
        loss = loss.reshape(())
    return loss


def _soft_cross_entropy(x: Tensor, target: Tensor, w: np.ndarray | None, smoothing: float,
                        reduction: str) -> Tensor:
    """L_n = -sum_c K_nc log softmax(x_n)_c with K = (target (1 - smoothing) + smoothing / C) w
    for a probability target that needs a gradient too, dL_n/dt_nc = -(1 - smoothing) w_c
    log softmax(x_n)_c: composed of recorded ops (the fused node treats K as a constant)."""
    k = target * (1.0 - smoothing) + smoothing / x.shape[1]
    if w is not None:
        k = k * w
    return _reduce(-_sum(k * log_softmax(x, 1), 1), reduction)


def _class_weights(name: str, weight: Any, classes: int, dtype: np.dtype) -> np.ndarray:
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype)
    if w.shape != (classes,):
        raise ValueError(f"{name}: weight must have one entry per class, shape ({classes},); "
                         f"got {w.shape}")
    return w


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities ``input``
    (batch, classes): L_n = -w[t_n] input[n, t_n]. Use it after log_softmax;
    log_softmax + nll_loss equals cross_entropy."""
    name = "nll_loss"
    _check_reduction(name, reduction)
    x, single = _as_logits_2d(name, input)
    n, classes = x.shape
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if single and t.ndim == 0:
        t = t[None]
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold class indices (integers); got dtype "
                        f"{t.dtype}")
    safe, valid = _class_targets(name, t, n, classes, ignore_index)
    scale = valid.astype(x.dtype)
    if weight is not None:
        scale = scale * _class_weights(name, weight, classes, x.dtype)[safe]
    losses = -x[np.arange(n), safe] * scale
    if reduction == "mean":
        counted = float(scale.sum())
        mean = _sum(losses) * _per_counted(counted)
        return mean if counted else mean + np.nan  # 0 / 0, with a zero gradient
    if reduction == "sum":
        return _sum(losses)
    return losses.reshape(()) if single else losses


def sequence_mask(lengths: Any, steps: int) -> np.ndarray:
    """mask[b, t] = t < lengths[b]: True on the real steps of each padded sequence."""
    lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"sequence_mask: lengths must be a 1-D integer array, got shape "
                         f"{lengths.shape} and dtype {lengths.dtype}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > steps):
        raise ValueError(f"sequence_mask: lengths must be between 0 and {steps}, got "
                         f"{lengths.min()}..{lengths.max()}")
    return np.arange(steps)[None, :] < lengths[:, None]


def sequence_cross_entropy(logits: Tensor, target: Any, mask: Any = None, lengths: Any = None,
                           reduction: str = "mean") -> Tensor:
    """Cross-entropy of per-step logits (batch, time, classes) against class indices
    (batch, time), counting only the real steps of padded sequences.

    The real steps are given by a boolean ``mask`` (batch, time) or by ``lengths``
    (batch,); padded steps contribute neither loss nor gradient. 'mean' averages
    over the counted steps (not over batch * time), 'sum' adds them, 'none' returns
    (batch, time) with zeros on padded steps.
    """
    name = "sequence_cross_entropy"
    _check_reduction(name, reduction)
    if logits.ndim != 3:
        raise ValueError(f"{name}: logits must have shape (batch, time, classes), got "
                         f"{logits.shape}")
    b, steps, classes = logits.shape
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.shape != (b, steps):
        raise ValueError(f"{name}: target must have shape ({b}, {steps}) to match the logits, "
                         f"got {t.shape}")
    if mask is not None and lengths is not None:
        raise ValueError(f"{name}: give mask or lengths, not both")
    if lengths is not None:
        mask = sequence_mask(lengths, steps)
    if mask is not None:
        mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        if mask.shape != (b, steps):
            raise ValueError(f"{name}: mask must have shape ({b}, {steps}), got {mask.shape}")
        if mask.dtype != bool:
            # a 0.5 or a 2 is no "real step or not": refuse it rather than count it as True
            ok = np.isin(mask, (0, 1)) if mask.dtype.kind in "iuf" else np.zeros(mask.shape, bool)
            if not ok.all():
                bad = mask[~ok][0].item()
                raise ValueError(f"{name}: mask must be bool or hold only 0 and 1 (1 marks a "
                                 f"real step), got the value {bad!r} (dtype {mask.dtype})")
            mask = mask.astype(bool)
        # padded steps become ignored targets, so they add no loss and no gradient
        t = np.where(mask, t, -100)
    losses = cross_entropy(logits.reshape(b * steps, classes), t.reshape(-1), ignore_index=-100,
                           reduction="none" if reduction == "none" else reduction)
    return losses.reshape(b, steps) if reduction == "none" else losses
