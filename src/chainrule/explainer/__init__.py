"""The BP explainer: the derivation of a small network's gradients, with numbers, checked.

``derive`` computes the numbers (a ``Derivation``), ``render`` writes them as text,
Markdown or HTML; ``chainrule.explain(model, x, y, ...)`` is the two in one call.
``derive_model_file`` / ``explain_model_file`` do it for a saved model, on its inputs
prepared as its training data was.
``bptt`` does the same for backpropagation through time in a tiny RNN.
Every report's words come from one table per language (``messages``: English, and
Simplified Chinese with ``lang="zh"``); the numbers are the same in every language.
"""

from __future__ import annotations

from typing import Any

from chainrule.explainer.derivation import Check, Derivation, LayerMath, Loss, derive
from chainrule.explainer.model_file import derive_model_file, explain_model_file
from chainrule.explainer.render import render


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


__all__ = ["Check", "Derivation", "LayerMath", "Loss", "default_example", "derive",
           "derive_model_file", "explain_model_file", "render"]
