"""``Parameter``: a Tensor that a Module registers as trainable."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and that ``Module`` collects.

    Assigning a Parameter as an attribute of a Module (``self.weight = Parameter(...)``)
    registers it, so it appears in ``parameters()`` and ``state_dict()``.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def clear_grads(parameters: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Forget accumulated gradients: set them to None (the default: the next backward
    allocates fresh ones, and no pass is spent writing zeros) or to zeros; what
    ``Module.zero_grad`` and ``Optimizer.zero_grad`` both do."""
    for p in parameters:
        if set_to_none or p.grad is None:
            p.grad = None
        else:
            p.grad = Tensor.constant(np.zeros_like(p.data))
