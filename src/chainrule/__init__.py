"""chainrule: backpropagation you can read, check and run fast.

The top level holds the autograd core: ``Tensor`` and its factories, the
differentiable ops as functions, ``backward``/``grad``, the grad-mode switches
and gradient checking. Activations and losses are in ``chainrule.functional``.
"""

from typing import Any as _Any

import numpy as _np

from chainrule.autograd import (
    Function,
    Tensor,
    backward,
    detect_anomaly,
    enable_grad,
    grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.creation import (
    arange,
    default_generator,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.gradcheck import GradcheckError, gradcheck, gradgradcheck
from chainrule.memory import _tune_on_import, allocator_settings, tune_allocator
from chainrule.ops.elementwise import (
    abs,
    add,
    cast,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    where,
)
from chainrule.ops.linalg import matmul
from chainrule.ops.reductions import max, mean, min, std, sum, var
from chainrule.ops.shape import (
    broadcast_to,
    concatenate,
    flatten,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    swapaxes,
    transpose,
    unsqueeze,
)
from chainrule.serialization import (
    ModelFileError,
    load,
    load_file,
    load_metadata,
    register_module,
    save,
    save_file,
)
from chainrule.threads import get_num_threads, set_num_threads

_tune_on_import()  # keep freed arrays for reuse: see chainrule/memory.py for the measurements

float32 = _np.float32
float64 = _np.float64
clamp = clip
cat = concatenate

__version__ = "0.1.0"


def explain(model: _Any, x: _Any, y: _Any = None, loss: _Any = None, *, lr: float = 0.5,
            l1: float = 0.0, l2: float = 0.0, columns: bool = False, format: str = "text",
            steps: int = 1, per_example: bool = False) -> str:
    """The backpropagation derivation of ``model`` on (x, y) as text, Markdown or HTML:
    ``chainrule.explainer.render(chainrule.explainer.derive(...))`` (see docs/explain.md).
    ``model`` may be the path of a saved model (``explainer.derive_model_file``); ``loss``
    is then the one it was trained with unless given, otherwise 'cross-entropy'. The text
    displays in Jupyter as the interactive page (``_repr_html_``)."""
    from chainrule.explainer.report import report  # on first use: import stays light

    return report(model, x, y, loss, lr=lr, l1=l1, l2=l2, columns=columns, format=format,
                  steps=steps, per_example=per_example)
