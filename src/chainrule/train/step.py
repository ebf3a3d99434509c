"""One training step, shared by ``fit``, ``train_text`` and the scikit-learn estimators:

    optimizer.zero_grad(); loss.backward(); [on_gradients()]; [clip]; optimizer.step()

``on_gradients`` is where the callers differ: data-parallel training averages the
gradients over the ranks there, the estimators add their penalties' gradients. A loss
that became NaN or infinite ends training with ``TrainingDiverged`` (``check_loss``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module

T = TypeVar("T")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message says where and what to try."""


def check_loss(value: float, where: str, advice: str, prefix: str = "") -> None:
    """Raise ``TrainingDiverged("<prefix>the loss became <value> at <where>; <advice>")``
    if ``value`` is NaN or infinite."""
    if not math.isfinite(value):
        raise TrainingDiverged(f"{prefix}the loss became {value} at {where}; {advice}")


def train_step(model: Module, loss: Tensor, optimizer: Any, *,
               on_gradients: Callable[[], T] | None = None,
               clip_grad_norm: float | None = None) -> T | None:
    """Backpropagate ``loss`` into fresh gradients, call ``on_gradients`` (its result is
    returned), rescale the gradients of ``model`` to a joint L2 norm of at most
    ``clip_grad_norm`` (None: no clipping) and take one optimizer step."""
    optimizer.zero_grad()
    loss.backward()
    result = on_gradients() if on_gradients is not None else None
    if clip_grad_norm is not None:
        from chainrule.optim import clip_grad_norm_

        clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()
    return result
