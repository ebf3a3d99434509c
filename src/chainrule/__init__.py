"""chainrule: backpropagation you can read, check and run fast.

The top level holds the autograd core: ``Tensor`` and its factories, the
differentiable ops as functions, ``backward``/``grad``, the grad-mode switches
and gradient checking. Activations and losses are in ``chainrule.functional``.
"""

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


def explain(model, x, y, loss="cross-entropy", **options):  # noqa: ANN001, ANN003, ANN201
    """The backpropagation derivation of ``model`` on (x, y); see chainrule.explain.explain."""
    from chainrule.explain import explain as _explain

    return _explain(model, x, y, loss, **options)


def check_backprop(source, **options):  # noqa: ANN001, ANN003, ANN201
    """Check a learner's hand-written backprop file; see chainrule.explain.check."""
    from chainrule.explain.check import check_backprop as _check_backprop

    return _check_backprop(source, **options)
