"""chainrule: backpropagation you can read, check and run fast.

The top level holds the autograd core: ``Tensor`` and its factories, the
differentiable ops as functions, ``backward``/``grad``, the grad-mode switches
and gradient checking. Activations and losses are in ``chainrule.functional``.

The subpackages (``nn``, ``optim``, ``data``, ``train``, ``functional``, ``viz``,
``distributed``) are attributes too, as ``torch.nn`` is, but imported on first
use, so ``import chainrule`` stays fast.
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
from chainrule.ops.activations import logsumexp
from chainrule.ops.elementwise import (
    abs,
    acos,
    add,
    arccos,
    arcsin,
    arctan,
    asin,
    atan,
    cast,
    ceil,
    clip,
    cos,
    cosh,
    div,
    exp,
    expm1,
    floor,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    remainder,
    round,
    sign,
    sin,
    sinh,
    sqrt,
    sub,
    tan,
    where,
)
from chainrule.ops.linalg import (
    diag,
    diagonal,
    dot,
    einsum,
    inner,
    matmul,
    outer,
    tensordot,
    trace,
    tril,
    triu,
)
from chainrule.ops.reductions import (
    argmax,
    argmin,
    cumprod,
    cumsum,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from chainrule.ops.shape import (
    argsort,
    broadcast_to,
    chunk,
    concatenate,
    flatten,
    flip,
    gather,
    index_select,
    masked_fill,
    pad,
    permute,
    repeat,
    repeat_interleave,
    reshape,
    roll,
    scatter_add,
    sort,
    split,
    squeeze,
    stack,
    sum_to,
    swapaxes,
    take_along_axis,
    tile,
    topk,
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

float16 = _np.float16
float32 = _np.float32
float64 = _np.float64
int32 = _np.int32
int64 = _np.int64
bool_ = _np.bool_
clamp = clip
cat = concatenate

__version__ = "0.1.0"


def explain(model, x, y, loss="cross-entropy", **options):  # noqa: ANN001, ANN003, ANN201
    """The backpropagation derivation of ``model`` on (x, y); see chainrule.explain.explain."""
    from chainrule.explain import explain as _explain

    return _explain(model, x, y, loss, **options)


class inference_mode(set_grad_enabled):  # noqa: N801  (PyTorch's name)
    """``with chainrule.inference_mode():`` (also a decorator): PyTorch's name for running
    without recording the graph; here the same as ``no_grad()``. ``inference_mode(False)``
    records again."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__(not mode)


_LAZY_SUBPACKAGES = ("data", "distributed", "functional", "nn", "optim", "train", "viz")


def __getattr__(name: str):  # noqa: ANN202  (PEP 562: a module or an AttributeError)
    # Imported on first use: `chainrule.nn` works after a bare `import chainrule`, and
    # programs that use only the core do not pay for importing every layer and loader.
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"chainrule.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBPACKAGES))
