"""chainrule: backpropagation you can read, check and run fast.

The top level holds the autograd core: ``Tensor`` and its factories, the
differentiable ops as functions, ``backward``/``grad``, the grad-mode switches
and gradient checking. Activations and losses are in ``chainrule.functional``.
"""

from typing import Any as _Any

import numpy as _np

from chainrule._version import __version__
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
from chainrule.backend import blas_info, set_blas
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
from chainrule.memory import allocator_settings, tune_allocator
from chainrule.nn.serialization import load, register_module, save
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
from chainrule.safetensors import ModelFileError, load_file, load_metadata, save_file
from chainrule.threads import get_num_threads, set_num_threads

float32 = _np.float32
float64 = _np.float64
clamp = clip
cat = concatenate


def explain(model: _Any, x: _Any, y: _Any, loss: str = "cross-entropy", *, lr: float = 0.5,
            l1: float = 0.0, l2: float = 0.0, columns: bool = False, format: str = "text",
            steps: int = 1) -> str:
    """The backpropagation derivation of ``model`` on (x, y) as text, Markdown or HTML:
    ``chainrule.explainer.render(chainrule.explainer.derive(...))`` (see docs/explain.md)."""
    from chainrule.explainer import derive, render  # on first use: import chainrule stays light

    return render(derive(model, x, y, loss, lr, l1, l2, steps), format, columns)
