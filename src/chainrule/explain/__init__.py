"""The BP explainer: the derivation of a small network's gradients, with numbers, checked."""

from __future__ import annotations

import sys
import types
from typing import Any

from chainrule.explain.derivation import Check, Derivation, LayerMath, derive
from chainrule.explain.render import render


def default_example(hidden: str = "sigmoid", output: str = "softmax") -> tuple[Any, Any, Any]:
    """A fixed tiny example: 2 features, 2 hidden units, 3 one-hot classes, 2 examples,
    fixed weights; sigmoid hidden units and a softmax output (for cross-entropy) unless
    other activation names are given."""
    import numpy as np

    from chainrule.autograd.mode import no_grad
    from chainrule.nn import Linear, Sequential
    from chainrule.nn.builders import activation

    model = Sequential(Linear(2, 2, dtype=np.float64), activation(hidden),
                       Linear(2, 3, dtype=np.float64), activation(output))
    weights = [[[0.15, 0.20], [0.25, 0.30]], [0.35, 0.35],
               [[0.40, 0.45], [0.50, 0.55], [0.60, 0.65]], [0.60, 0.60, 0.60]]
    with no_grad():
        for p, w in zip(model.parameters(), weights, strict=True):
            p.copy_(np.array(w))
    x = np.array([[0.05, 0.10], [0.20, 0.30]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return model, x, y


def explain(model: Any, x: Any, y: Any, loss: str = "cross-entropy", *, lr: float = 0.5,
            l1: float = 0.0, l2: float = 0.0, columns: bool = False, format: str = "text",
            steps: int = 1) -> str:
    """The backpropagation derivation of ``model`` on (x, y) as text, Markdown or HTML."""
    return render(derive(model, x, y, loss, lr, l1, l2, steps), format, columns)


__all__ = ["Check", "Derivation", "LayerMath", "default_example", "derive", "explain", "render"]


class _CallablePackage(types.ModuleType):
    """``chainrule.explain`` is both this package and the function ``explain``.

    ``import chainrule.explain`` (which ``chainrule.explain(...)`` itself triggers on first
    use) makes Python bind the package to the attribute ``chainrule.explain``, replacing
    the top-level function. Calling the package calls the function, so
    ``chainrule.explain(model, x, y)`` works however many times and in whatever order.
    """

    def __call__(self, model: Any, x: Any, y: Any, loss: str = "cross-entropy",
                 **options: Any) -> str:
        return explain(model, x, y, loss, **options)


sys.modules[__name__].__class__ = _CallablePackage
