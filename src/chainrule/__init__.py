"""chainrule: backpropagation you can read, check and run fast.

The top level holds the autograd core: ``Tensor`` and its factories, the
differentiable ops as functions, ``backward``/``grad``, the grad-mode switches
and gradient checking. Activations and losses are in ``chainrule.functional``.

The subpackages (``nn``, ``optim``, ``data``, ``train``, ``functional``, ``viz``,
``distributed``) are attributes too, as ``torch.nn`` is, but imported on first
use, so ``import chainrule`` stays fast.
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
from chainrule.safetensors import ModelFileError, load_file, load_metadata, save_file
from chainrule.threads import get_num_threads, set_num_threads

float16 = _np.float16
float32 = _np.float32
float64 = _np.float64
int32 = _np.int32
int64 = _np.int64
bool_ = _np.bool_
clamp = clip
cat = concatenate


def explain(model: _Any, x: _Any, y: _Any = None, loss: _Any = None, *, lr: float = 0.5,
            l1: float = 0.0, l2: float = 0.0, columns: bool = False, format: str = "text",
            steps: int = 1, per_example: bool = False, lang: str = "en") -> str:
    """The backpropagation derivation of ``model`` on (x, y) as text, Markdown or HTML, its
    words in language ``lang`` ('en', 'zh'):
    ``chainrule.explainer.render(chainrule.explainer.derive(...))`` (see docs/explain.md).
    ``model`` may be the path of a saved model (``explainer.derive_model_file``); ``loss``
    is then the one it was trained with unless given, otherwise 'cross-entropy'. The text
    displays in Jupyter as the interactive page (``_repr_html_``)."""
    from chainrule.explainer.report import report  # on first use: import stays light

    return report(model, x, y, loss, lr=lr, l1=l1, l2=l2, columns=columns, format=format,
                  steps=steps, per_example=per_example, lang=lang)


class inference_mode(set_grad_enabled):  # noqa: N801  (PyTorch's name)
    """``with chainrule.inference_mode():`` (also a decorator): PyTorch's name for running
    without recording the graph; here the same as ``no_grad()``. ``inference_mode(False)``
    records again."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__(not mode)


_LAZY_SUBPACKAGES = ("data", "distributed", "explainer", "functional", "nn", "optim", "train",
                     "viz")


# Model files are nn-level (a model is a Module); these names load that layer on first use.
def save(obj: _Any, path: _Any, metadata: dict[str, _Any] | None = None) -> None:
    """Save a model (weights, architecture, ``metadata``) or a state dict (weights only) to
    a safetensors file, atomically: ``chainrule.nn.serialization.save``."""
    from chainrule.nn.serialization import save as _save

    _save(obj, path, metadata)


def load(path: _Any, *args: _Any, **kwargs: _Any) -> _Any:
    """Read a file written by ``save``: ``chainrule.nn.serialization.load``."""
    from chainrule.nn.serialization import load as _load

    return _load(path, *args, **kwargs)


def register_module(cls: _Any) -> _Any:
    """Let ``load`` rebuild a Module class by name: ``chainrule.nn.serialization``'s."""
    from chainrule.nn.serialization import register_module as _register

    return _register(cls)


def __getattr__(name: str):  # noqa: ANN202  (PEP 562: a module or an AttributeError)
    # Imported on first use: `chainrule.nn` works after a bare `import chainrule`, and
    # programs that use only the core do not pay for importing every layer and loader.
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"chainrule.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBPACKAGES))


def check_backprop(source: _Any, **options: _Any) -> _Any:
    """Check a learner's hand-written numpy backprop (a file path or module) against the true
    gradients, naming the first wrong quantity and the likely mistake: see docs/check.md."""
    from chainrule.explainer.check import check_backprop as _check_backprop

    return _check_backprop(source, **options)
