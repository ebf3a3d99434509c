"""The backward engine: the chain rule applied over the whole recorded graph.

Reverse-mode differentiation visits the graph's nodes from the outputs back to
the inputs. A node may run only once the gradient of its output is complete,
i.e. once every op that consumed that output has sent its share back (a value
used in several places gets the *sum* of the gradients along every path).

The order comes from generation numbers: a node's generation is one more than
the largest generation among the nodes that made its inputs, so every consumer
of a tensor has a higher generation than the tensor's creator. Taking nodes from
a max-heap on generation therefore finishes all consumers first. The walk is a
loop, not a recursion, so a chain of any length backpropagates.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.function import Function, Trace, check_finite
from chainrule.autograd.mode import mode
from chainrule.autograd.tensor import Tensor


def backward(tensors: Sequence[Tensor], grad_tensors: Sequence[Any] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate d(tensors)/d(leaf), weighted by ``grad_tensors``, into each leaf's ``.grad``."""
    seeds = _seeds("backward", tensors, grad_tensors)
    _run(tensors, seeds, create_graph if retain_graph is None else retain_graph,
         create_graph, None)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    ``grad_outputs`` weights each output (the vector in a vector-Jacobian
    product); it may be omitted for one-element outputs. With
    ``create_graph=True`` the results are themselves differentiable (for
    Hessian-vector products and higher derivatives). An input that the outputs do
    not depend on is an error unless ``allow_unused=True``, which returns None
    for it.
    """
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    if isinstance(grad_outputs, Tensor | np.ndarray):
        grad_outputs = (grad_outputs,)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"grad: input {i} is a {type(x).__name__}, expected a Tensor")
        if not x.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {x.shape}) does not require grad")
    seeds = _seeds("grad", outputs, grad_outputs)
    capture = {id(x): i for i, x in enumerate(inputs)}
    found = _run(outputs, seeds, create_graph if retain_graph is None else retain_graph,
                 create_graph, capture)
    result = tuple(found[i] if i in found else None for i in range(len(inputs)))
    if not allow_unused:
        for i, g in enumerate(result):
            if g is None:
                raise RuntimeError(f"grad: input {i} (shape {inputs[i].shape}) was not used to "
                                   f"compute the outputs; pass allow_unused=True to get None")
    return result


def _seeds(caller: str, tensors: Sequence[Tensor], grads: Sequence[Any] | None) -> list[Tensor]:
    """The starting gradients: given ones checked, or 1 for one-element outputs."""
    if grads is not None and len(grads) != len(tensors):
        raise ValueError(f"{caller}: got {len(grads)} gradients for {len(tensors)} outputs")
    seeds = []
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{caller}: output {i} is a {type(t).__name__}, expected a Tensor")
        if not t.requires_grad:
            raise RuntimeError(
                f"{caller}: output {i} does not require grad and has no grad_fn: nothing it "
                f"was computed from requires grad (or it was computed under no_grad)")
        g = None if grads is None else grads[i]
        if g is None:
            if t.data.size != 1:
                raise RuntimeError(
                    f"{caller}: the output has shape {t.shape}; a gradient can be implied only "
                    f"for a one-element output. Pass grad= with shape {t.shape} (or reduce "
                    f"the output to a scalar first, e.g. with .sum())")
            seeds.append(Tensor.constant(np.ones(t.shape, t.dtype)))
            continue
        g = g if isinstance(g, Tensor) else Tensor.constant(np.asarray(g, t.dtype))
        if g.shape != t.shape:
            raise ValueError(f"{caller}: gradient {i} has shape {g.shape} but the output it "
                             f"belongs to has shape {t.shape}")
        seeds.append(g)
    return seeds


def _add(a: Tensor, b: Tensor, create_graph: bool) -> Tensor:
    """Sum two gradient contributions, never in place (one gradient may be shared)."""
    if create_graph:
        return a + b
    return Tensor.constant(a.data + b.data)


def _owned(g: Tensor, owned: set[int]) -> Tensor:
    """``g`` itself if its array may become a ``.grad`` as it is, else a private copy.

    A backward may hand the very same array to two inputs (the add node passes its
    upstream gradient through unchanged) or return a read-only broadcast view; a
    ``.grad`` must be a writable array that no other tensor shares, so that
    changing one tensor's gradient in place never changes another's.
    """
    a = g.data
    if id(a) in owned or a.base is not None or not a.flags.writeable:
        a = a.copy()
        g = Tensor.constant(a)
    owned.add(id(a))
    return g


def _run_hooks(hooks: list, g: Tensor) -> Tensor:
    for hook in hooks:
        new = hook(g)
        if new is not None:
            if not isinstance(new, Tensor) or new.shape != g.shape:
                raise ValueError(f"a gradient hook returned {type(new).__name__} "
                                 f"{getattr(new, 'shape', '')}; expected None or a Tensor of "
                                 f"shape {g.shape}")
            g = new
    return g


def _backward_arrays(fn: Function, grads: list[Tensor | None]) -> tuple[Tensor | None, ...]:
    """The node's array-level backward (no graph is recorded), its results as Tensors."""
    gxs = fn.backward_arrays(*[None if g is None else g.data for g in grads])
    if not isinstance(gxs, tuple):
        gxs = (gxs,)
    return tuple(None if g is None else Tensor.constant(g) for g in gxs)


def _run(roots: Sequence[Tensor], seeds: list[Tensor], retain_graph: bool, create_graph: bool,
         capture: dict[int, int] | None) -> dict[int, Tensor]:
    """Backpropagate ``seeds`` from ``roots``.

    Without ``capture`` the leaves' ``.grad`` are accumulated (``backward``); with
    it, the gradients of the tensors whose ids are its keys are returned by
    position and no ``.grad`` is touched (``grad``).
    """
    found: dict[int, Tensor] = {}
    # ids of the arrays handed out as .grad in this pass, so no two tensors share one
    owned: set[int] = {id(s.data) for s in seeds}
    # pending[node] = [gradient per output, the output Tensors (kept alive until the node runs)]
    pending: dict[Function, list[list]] = {}
    heap: list[tuple[int, int, Function]] = []
    order = 0  # tie-breaker so the heap never compares Functions

    def deliver(x: Tensor, g: Tensor) -> None:
        nonlocal order
        if g.shape != x.shape:
            raise RuntimeError(f"internal error: a gradient of shape {g.shape} reached a tensor "
                               f"of shape {x.shape}")
        if g.dtype != x.dtype:
            g = g.astype(x.dtype) if create_graph else Tensor.constant(
                g.data.astype(x.dtype))
        fn = x.grad_fn
        if fn is None:  # a leaf
            if capture is not None:
                slot = capture.get(id(x))
                if slot is not None:
                    found[slot] = g if slot not in found else _add(found[slot], g, create_graph)
                return
            if x._hooks:
                g = _run_hooks(x._hooks, g)
            if x.grad is not None:
                x.grad = _add(x.grad, g, create_graph)
            elif create_graph:
                x.grad = g
            else:
                x.grad = _owned(g, owned)
            return
        entry = pending.get(fn)
        if entry is None:
            n = len(fn.outputs)
            entry = pending[fn] = [[None] * n, [None] * n]
            order += 1
            heapq.heappush(heap, (-fn.generation, order, fn))
        i = x._out_index
        grads = entry[0]
        grads[i] = g if grads[i] is None else _add(grads[i], g, create_graph)
        entry[1][i] = x

    saved_mode = mode.grad_enabled
    mode.grad_enabled = create_graph
    try:
        for root, seed in zip(roots, seeds, strict=True):
            deliver(root, seed)
        while heap:
            fn = heapq.heappop(heap)[2]
            grads, outs = pending.pop(fn)
            if fn.inputs is None:
                raise RuntimeError(
                    f"backward through {fn.name} a second time: its saved values were freed "
                    f"by the first backward. Pass retain_graph=True to the first backward() "
                    f"if you need to backpropagate through the same graph twice.")
            hooks = getattr(fn, "output_hooks", None)
            for i, g in enumerate(grads):
                if g is None:
                    continue
                if hooks and hooks.get(i):
                    g = grads[i] = _run_hooks(hooks[i], g)
                out = outs[i]
                if out is not None:
                    if capture is not None and id(out) in capture:
                        found[capture[id(out)]] = g
                    if out._retains_grad and capture is None:
                        out.grad = (_add(out.grad, g, create_graph) if out.grad is not None
                                    else g if create_graph else _owned(g, owned))
            fn.check_versions()
            anomaly = mode.anomaly
            # the ops a backward runs are checked as that node's backward, not one by one
            mode.anomaly = False
            try:
                if create_graph or fn.backward_arrays is None:
                    gxs = fn.backward(*grads) if len(grads) > 1 else fn.backward(grads[0])
                else:
                    gxs = _backward_arrays(fn, grads)
            finally:
                mode.anomaly = anomaly
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            if anomaly:
                check_finite(fn, gxs, "backward")
            inputs = fn.inputs
            if len(gxs) != len(inputs):
                raise RuntimeError(f"{fn.name}.backward returned {len(gxs)} gradients for "
                                   f"{len(inputs)} inputs")
            if not retain_graph:  # what a drawing needs is kept, what backward needed goes
                fn.trace = Trace(fn, grads, gxs)
                fn.release()
            for x, gx in zip(inputs, gxs, strict=True):
                if gx is not None and x._requires_grad:  # the slot: once per edge
                    deliver(x, gx)
    finally:
        mode.grad_enabled = saved_mode
    return found
