"""Loss modules: ``loss = CrossEntropyLoss()(logits, target)``, wrapping chainrule.functional."""

from __future__ import annotations

from typing import Any

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module


class _Loss(Module):
    config_fields: tuple[str, ...] | None = ("reduction",)
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or "
                             f"'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"



class MSELoss(_Loss):
    """mean((input - target)^2)."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class _WeightedLoss(_Loss):
    """A loss with array-valued options (PyTorch's ``weight``, ``pos_weight``): weight comes
    first, as in PyTorch, so ``BCELoss(w)`` weights and ``BCELoss(reduction="sum")`` sums."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        if isinstance(weight, str):  # BCELoss("sum"): PyTorch would take "sum" as the weight
            raise TypeError(f"{type(self).__name__}: the first argument is the weight; pass "
                            f"the reduction by name: reduction={weight!r}")
        super().__init__(reduction)
        self.weight = weight

    def extra_config(self) -> dict[str, Any] | None:
        # arrays are not constructor arguments a file can hold: such a loss is not saved
        arrays = (getattr(self, name, None) for name in ("weight", "pos_weight"))
        return None if any(a is not None for a in arrays) else super().extra_config()


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities, each element's loss scaled by ``weight``."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of sigmoid(logits), fused and stable; ``weight`` scales each
    element's loss and ``pos_weight`` the positive term (one weight per class)."""

    def __init__(self, weight: Any = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(weight, reduction)
        self.pos_weight = pos_weight

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy from logits; targets are class indices or probabilities."""

    config_fields = ("ignore_index", "reduction", "label_smoothing")

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices given log-probabilities."""

    config_fields = ("ignore_index", "reduction")

    def __init__(self, weight: Any = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)
