"""``Parameter``: a Tensor that a Module registers as trainable."""

from __future__ import annotations

from typing import Any

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
