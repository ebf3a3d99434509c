"""``Function``: one node of the computational graph, its forward and its local derivative.

Every differentiable op is a subclass with two methods:

* ``forward(*arrays) -> array`` computes the value with numpy;
* ``backward(*grad_outputs) -> grads`` applies the chain rule locally: given the
  gradient of the final output with respect to this op's output (the *upstream*
  gradient), it returns the gradient with respect to each input, i.e. the upstream
  gradient times the local derivative.

``backward`` is written with chainrule's own differentiable ops on ``self.inputs``
(Tensors, not arrays). Normally it runs with graph recording off, so it costs no
more than numpy; with ``create_graph=True`` the engine turns recording on and the
backward pass is itself recorded, which is how second and higher derivatives work
without any extra code per op.

A few hot ops also define ``backward_arrays(*grad_output_arrays) -> arrays``: the same
derivative on plain numpy arrays (in place where it can, without building a Tensor per
temporary). The engine calls it instead of ``backward`` when no graph is recorded (the
usual ``create_graph=False``); ``backward`` stays the definition, used for higher
derivatives, and a test asserts that the two agree for every op that has both.

Memory: an output holds its creator (``grad_fn``) strongly, the creator holds its
outputs weakly and its inputs strongly, so the graph has no reference cycles and
arrays are freed by reference counting as soon as nothing needs them.

A backward without ``retain_graph`` releases each node once it has run: its inputs and
every buffer the op kept for its backward are dropped, so the activations are freed as
the pass goes. What a drawing of the graph needs survives, in a small ``Trace``: which
node made each input, and the values and gradients of up to ``DRAWN_ELEMENTS`` elements
(the ones a drawing prints in full; larger arrays are drawn by their shape). That is how
``loss.backward(); draw_graph(loss)`` works, while a loop that keeps last step's loss
until the next one holds kilobytes of it, not its activations.
"""

from __future__ import annotations

import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from chainrule.autograd.mode import mode

if TYPE_CHECKING:
    from chainrule.autograd.tensor import Tensor

# A drawing prints an array of up to this many elements in full and a larger one by its
# shape (chainrule.viz.graph), so that is all of a value a released node keeps.
DRAWN_ELEMENTS = 6


class Function:
    """Base class of every differentiable op (see the module docstring).

    Subclasses declare ``__slots__`` for their parameters (axis, exponent, ...) so
    a node costs no per-instance dict. Class flags say what ``backward`` reads,
    which is what the in-place modification check guards:
    ``needs_inputs`` (the inputs' values) and ``needs_outputs`` (the output's value).
    ``name`` is what errors, graph pictures and ``grad_fn`` reprs print: the class name,
    unless the class sets another (``SigmoidOp`` prints as ``Sigmoid``, the op's name,
    while ``nn.Sigmoid`` is the Module).
    """

    __slots__ = ("inputs", "outputs", "generation", "versions", "saved", "output_hooks",
                 "created_at", "trace", "__weakref__")
    needs_inputs: ClassVar[bool] = True
    needs_outputs: ClassVar[bool] = False
    name: ClassVar[str] = "Function"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    # -- what subclasses write -------------------------------------------------
    def forward(self, *xs: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        raise NotImplementedError

    def backward(self, *gys: Tensor) -> Tensor | None | tuple[Tensor | None, ...]:
        raise NotImplementedError(f"{self.name} has no backward")

    # Optional fast path, a method in the ops that have one (see the module docstring):
    # backward_arrays(*gys: np.ndarray | None) -> np.ndarray | None | tuple[np.ndarray | None]
    backward_arrays: ClassVar[Callable[..., Any] | None] = None

    # -- the machinery ---------------------------------------------------------
    def __repr__(self) -> str:
        return f"<{self.name}>"

    def __call__(self, *inputs: Tensor) -> Tensor | tuple[Tensor, ...]:
        """Run forward on the inputs' arrays; record this node if any input needs a gradient."""
        ys = self.forward(*[x.data for x in inputs])
        if mode.anomaly:
            self.created_at = _user_frame()
            check_finite(self, ys if isinstance(ys, tuple) else (ys,), "forward")
        record = False
        if mode.grad_enabled:
            for x in inputs:
                if x._requires_grad:  # the slot: this loop runs for every op
                    record = True
                    break
        if not record:
            if isinstance(ys, tuple):
                return tuple(Tensor.constant(y) for y in ys)
            return Tensor.constant(ys)

        self.inputs = inputs
        gen = 0
        for x in inputs:
            f = x.grad_fn
            if f is not None and f.generation >= gen:
                gen = f.generation + 1
        self.generation = gen
        if self.needs_inputs:
            self.versions = tuple([x._version for x in inputs])
        if isinstance(ys, tuple):
            outs = tuple(Tensor._make(y, True, self, i) for i, y in enumerate(ys))
            self.outputs = tuple(weakref.ref(y) for y in outs)
            return outs
        out = Tensor._make(ys, True, self, 0)
        self.outputs = (weakref.ref(out),)
        return out

    def output(self, index: int = 0) -> Tensor:
        """The ``index``-th output Tensor (backward of exp, sigmoid, ... reuses it)."""
        return self.outputs[index]()

    def check_versions(self) -> None:
        """Raise if a tensor that backward reads was modified in place after forward."""
        if self.needs_inputs:
            for i, (x, v) in enumerate(zip(self.inputs, self.versions, strict=True)):
                if x._version != v:
                    raise RuntimeError(
                        f"{self.name}: input {i} (shape {x.shape}) was modified in place after "
                        f"{self.name} used it (its version went from {v} to {x._version}), but "
                        f"the backward pass needs its old value. Use an out-of-place op instead "
                        f"(e.g. x = x + 1 rather than x += 1).")
        if self.needs_outputs:
            for i, ref in enumerate(self.outputs):
                y = ref()
                if y is not None and y._version != 0:
                    raise RuntimeError(
                        f"{self.name}: output {i} (shape {y.shape}) was modified in place, but "
                        f"the backward pass of {self.name} needs its value.")

    def release(self) -> None:
        """Drop what backward needed; a second backward through this node is then refused.

        Besides the inputs and ``saved``, every attribute the op itself declares (its
        ``__slots__`` or ``__dict__``: masks, indices, statistics) goes: the graph's
        structure now lives on in ``trace`` as long as its output does, so what a node
        kept for its backward must not.
        """
        self.inputs = None
        self.saved = None
        names, has_dict = _op_attributes(type(self))
        for name in names:
            setattr(self, name, None)
        if has_dict:
            self.__dict__.clear()


class Trace:
    """What a drawing needs of a node that backward released (``Function.trace``).

    Each field is a list. ``inputs``: per input, its creator for an op's (first) output,
    ``(creator, output index)`` for a later output of a multi-output op; the Tensor itself
    for a leaf that requires grad (as PyTorch's graph keeps it) or a constant of at most
    ``DRAWN_ELEMENTS`` elements; ``(weakref, shape)`` for a larger constant (a batch of
    data is not kept alive). ``values`` and ``grads``: per output, its value and the
    gradient backward brought it; ``input_grads``: per input, the gradient sent back along
    that edge (None where it needs none). Each is a small array (a private copy, for a
    gradient), the shape of a larger one, or None.
    """

    __slots__ = ("inputs", "values", "grads", "input_grads")

    def __init__(self, fn: Function, grads: Sequence[Tensor | None],
                 input_grads: Sequence[Tensor | None]) -> None:
        # Plain loops and inline tests: this runs once per node of every backward (about a
        # microsecond). A small gradient is copied since it may be a leaf's .grad, changed
        # in place later (by clipping, or zero_grad(set_to_none=False)); a larger array is
        # kept as its shape. The engine has checked that the lengths match.
        small = DRAWN_ELEMENTS
        inputs = []
        sent = []
        for x, g in zip(fn.inputs, input_grads):  # noqa: B905
            f = x.grad_fn
            if f is not None:  # a tuple only for a later output: one allocation less
                inputs.append(f if x._out_index == 0 else (f, x._out_index))
            elif x._requires_grad or x.data.size <= small:
                inputs.append(x)
            else:
                inputs.append((weakref.ref(x), x.data.shape))
            if g is None or not x._requires_grad:
                sent.append(None)
            else:
                a = g.data
                sent.append(a.copy() if a.size <= small else a.shape)
        values = []
        received = []
        for ref, g in zip(fn.outputs, grads):  # noqa: B905
            y = ref()
            if y is None:
                values.append(None)
            else:  # the value as it is (a live tensor would show any later change too)
                a = y.data
                values.append(a if a.size <= small else a.shape)
            if g is None:
                received.append(None)
            else:
                a = g.data
                received.append(a.copy() if a.size <= small else a.shape)
        self.inputs, self.input_grads = inputs, sent
        self.values, self.grads = values, received


_ATTRIBUTES: dict[type, tuple[tuple[str, ...], bool]] = {}


def _op_attributes(cls: type) -> tuple[tuple[str, ...], bool]:
    """The slots that ``cls`` and its bases below Function declare, and whether its
    instances have a ``__dict__`` (cached per class: release runs once per node)."""
    found = _ATTRIBUTES.get(cls)
    if found is None:
        names = []
        for c in cls.__mro__[:cls.__mro__.index(Function)]:
            slots = c.__dict__.get("__slots__", ())
            for name in [slots] if isinstance(slots, str) else slots:
                if name.startswith("__") and not name.endswith("__"):  # stored mangled
                    name = f"_{c.__name__.lstrip('_')}{name}"
                if name not in ("__dict__", "__weakref__"):
                    names.append(name)
        found = _ATTRIBUTES[cls] = (tuple(names), hasattr(cls, "__dictoffset__") and
                                    cls.__dictoffset__ != 0)
    return found


def _user_frame() -> str:
    """'file:line in function' of the innermost frame outside chainrule itself."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/chainrule/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "<unknown>"


def check_finite(fn: Function, arrays: tuple, where: str) -> None:
    for i, a in enumerate(arrays):
        if a is None:
            continue
        a = a.data if isinstance(a, Tensor) else a
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            what = "NaN" if np.isnan(a).any() else "Inf"
            try:
                created = fn.created_at
            except AttributeError:
                created = None
            raise FloatingPointError(
                f"detect_anomaly: {fn.name} {where} produced {what} in its "
                f"{'output' if where == 'forward' else 'gradient for input'} {i} "
                f"(shape {a.shape}); {fn.name} was created at {created or '<unknown>'}")


from chainrule.autograd.tensor import Tensor  # noqa: E402  (Tensor imports this module too)
