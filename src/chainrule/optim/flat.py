"""One parameter group's optimizer state laid end to end in flat buffers (``fused=True``).

Why: an optimizer step is a dozen array passes per parameter (Adam: scale m, add the
scaled gradient, the same for v, a square root, two scalings, a division, the subtraction),
each a numpy call with its own temporary. Over a model's few large and many small
parameters, the per-call cost and the allocations add up: docs/performance.md measures
the per-parameter loop beside this flat one. Here the same passes run once over the
whole group, on preallocated buffers.

How: every state array of every parameter (Adam's m and v, SGD's momentum buffer, ...) is
a view into one flat buffer per state key, so ``optimizer.state[p]`` still holds arrays of
p's shape. A step copies the group's gradients into one flat gradient buffer, runs the
optimizer's ``update`` once over the flat arrays, writing the change of the weights
into one flat output buffer, and subtracts each parameter's slice of it from that
parameter's own array. The parameters' arrays are never moved, so code holding
``p.data`` keeps seeing the weights change.

Exactness: every operation is elementwise and runs in the same order as in the
per-parameter loop, so both give bitwise the same weights and state (tests/test_fused.py).

Guard: the flat buffers are used only while they still are the state: the same
parameters have gradients, all of one dtype and shape as when packed, and every
parameter's state entry is still the view made here. Anything else (a parameter without
a gradient this step, ``load_state_dict``, a state entry replaced by hand) sends that step
through the per-parameter loop, which is always correct, and the next step packs again
from whatever the state then is (parameters whose step counts or state keys differ stay
on the per-parameter loop).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor


class FlatGroup:
    """The flat gradient, output and state buffers of one parameter group."""

    def __init__(self, params: list[Tensor], states: list[dict[str, Any]],
                 dtype: np.dtype) -> None:
        self.params = params
        self.states = states
        self.shapes = [p.grad.data.shape for p in params]
        bounds = np.cumsum([0] + [int(np.prod(s)) for s in self.shapes]).tolist()
        self.slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.grad = np.empty(bounds[-1], dtype)
        self.out = np.empty(bounds[-1], dtype)
        self.grad_views = self._views(self.grad)
        self.out_views = self._views(self.out)
        # the group's state in the same layout as one parameter's: the step count and
        # one flat array per key, copied from the parameters' own arrays
        self.state: dict[str, Any] = {"step": states[0]["step"]}
        for key, value in states[0].items():
            if isinstance(value, np.ndarray):
                self.state[key] = np.concatenate([s[key].reshape(-1) for s in states])
        self.linked: list[tuple[str, list[np.ndarray]]] = []
        self.link()

    @classmethod
    def pack(cls, params: list[Tensor], states: list[dict[str, Any]]) -> FlatGroup | None:
        """Flat buffers for these parameters, or None where their state cannot be packed
        (mixed dtypes, different step counts or state keys, state of another dtype or
        shape)."""
        dtype = params[0].grad.data.dtype
        step, keys = states[0]["step"], sorted(states[0])
        for p, s in zip(params, states, strict=True):
            g = p.grad.data
            if g.dtype != dtype or s["step"] != step or sorted(s) != keys:
                return None
            if any(isinstance(v, np.ndarray) and (v.dtype != dtype or v.shape != g.shape)
                   for v in s.values()):
                return None
        return cls(params, states, dtype)

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        return [flat[sl].reshape(shape) for sl, shape in zip(self.slices, self.shapes,
                                                             strict=True)]

    def link(self) -> None:
        """Make every parameter's state entries views of the flat state (after ``update``
        created a new key on the first step)."""
        self.linked = []
        for key, flat in self.state.items():
            if isinstance(flat, np.ndarray):
                views = self._views(flat)
                for s, view in zip(self.states, views, strict=True):
                    s[key] = view
                self.linked.append((key, views))

    def holds(self, params: list[Tensor], states: list[dict[str, Any]]) -> bool:
        """Whether these buffers still are the state of exactly these parameters."""
        if len(params) != len(self.params):
            return False
        for p, own, s, own_s, shape in zip(params, self.params, states, self.states,
                                           self.shapes, strict=True):
            g = p.grad.data
            if p is not own or s is not own_s or g.shape != shape or g.dtype != self.grad.dtype:
                return False
        return all(s.get(key) is view for key, views in self.linked
                   for s, view in zip(states, views, strict=True))

    def gather(self) -> np.ndarray:
        """Copy the parameters' gradients into the flat gradient buffer."""
        np.concatenate([p.grad.data.reshape(-1) for p in self.params], out=self.grad)
        return self.grad
