"""Small layers without weights of their own: Dropout, Dropout2d and Flatten."""

from __future__ import annotations

import chainrule.functional as F
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.ops.shape import flatten


class Dropout(Module):
    """Zero each unit with probability p in training mode (inverted dropout: the kept
    units are scaled by 1/(1-p)); the identity in evaluation mode."""

    config_fields = ("p",)

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge axes start_axis..end_axis into one (default: everything but the batch axis)."""

    config_fields = ("start_axis", "end_axis")

    def __init__(self, start_axis: int = 1, end_axis: int = -1) -> None:
        super().__init__()
        self.start_axis, self.end_axis = int(start_axis), int(end_axis)

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_axis, self.end_axis)


class Dropout2d(Dropout):
    """Zero each whole channel of (N, C, H, W) with probability p in training mode (the
    kept channels scaled by 1/(1-p)); the identity in evaluation mode."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)
