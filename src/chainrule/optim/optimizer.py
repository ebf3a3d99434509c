"""``Optimizer``: parameter groups, per-parameter state, zero_grad, state_dict.

Every optimizer updates the parameters in place (``p.data``), outside the graph,
and bumps each tensor's version counter, so a retained graph that still needs an
old value notices the change. Gradients are read, never modified: a gradient
array may be shared by two tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.parameter import clear_grads
from chainrule.optim.flat import FlatGroup

# fused=None packs parameters with fewer values than this into one flat buffer: measured
# by benchmarks/optimizer_step.py (docs/performance.md), the flat step of Adam is about 2x
# the loop's speed over tensors of 4,096 values, about level at 16,384, slower from 65,536.
FLAT_BELOW = 16384


def scalar(value: float, like: np.ndarray) -> np.ndarray:
    """A constant as a 0-d array of ``like``'s dtype: float32 stays float32 even for a
    numpy float64 value (numpy 2 would upcast), and a ufunc takes it in half the time of a
    Python float (numpy 2's weak-scalar promotion: benchmarks/numpy_calls.py)."""
    return np.asarray(value, like.dtype)


class Optimizer:
    """Base class: subclasses implement ``update(g, state, group, out)``, the change of the
    weights for a gradient, written once and run per parameter or over a flat group.

    ``params`` is an iterable of Tensors, or of dicts (parameter groups) each with a
    ``"params"`` list and any options overriding the defaults, e.g. no weight decay
    for the biases::

        decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
        rest = [p for n, p in model.named_parameters() if n.endswith("bias")]
        SGD([{"params": decay, "weight_decay": 1e-4}, {"params": rest}], lr=0.1)

    ``fused`` (PyTorch's name) chooses how a step runs, always with the same numbers:
    True runs each group over flat buffers of all its parameters at once (optim/flat.py);
    False runs the per-parameter loop; None, the default, packs the small parameters
    (below FLAT_BELOW values) and loops over the large ones, which measures fastest.
    """

    # AdamW's weight decay acts on the weights, not through the gradient
    decoupled = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        # state is keyed by the parameter itself (Tensors hash by identity), not by id()
        self.state: dict[Tensor, dict[str, Any]] = {}
        # the flat buffers of each group that runs fused, by the group's index
        self._flat: dict[int, FlatGroup] = {}
        params = list(params)
        if not params:
            raise ValueError(f"{self.name}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    @property
    def name(self) -> str:
        return type(self).__name__

    def add_param_group(self, group: dict[str, Any]) -> None:
        params = group.get("params")
        if params is None:
            raise ValueError(f"{self.name}: a parameter group needs a 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self.name}: parameter {i} is a {type(p).__name__}, not a "
                                f"Tensor")
            if not p.requires_grad:
                raise ValueError(f"{self.name}: parameter {i} (shape {p.shape}) does not "
                                 f"require grad, so it would never be updated")
            if id(p) in seen:
                raise ValueError(f"{self.name}: parameter {i} (shape {p.shape}) appears in "
                                 f"more than one place")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"{self.name}: unknown option(s) {sorted(unknown)}; known: "
                             f"{sorted(self.defaults)}")
        full = {**self.defaults, **group, "params": params}
        self.check(full)
        self.param_groups.append(full)

    def check(self, group: dict[str, Any]) -> None:
        """Validate a group's options (subclasses add their own checks)."""
        if group["lr"] < 0:
            raise ValueError(f"{self.name}: learning rate must be >= 0, got {group['lr']}")
        if group.get("weight_decay", 0) < 0:
            raise ValueError(f"{self.name}: weight_decay must be >= 0, got "
                             f"{group['weight_decay']}")
        if group.get("fused") not in (None, True, False):
            raise ValueError(f"{self.name}: fused must be True, False or None, got "
                             f"{group['fused']!r}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter this optimizer updates."""
        clear_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` recomputes the loss."""
        loss = None
        if closure is not None:
            from chainrule.autograd.mode import enable_grad

            with enable_grad():
                loss = closure()
        with no_grad():
            for index, group in enumerate(self.param_groups):
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                terms = self._weight_terms(group)
                flat, rest = self._split(index, group, params)
                if flat is not None:
                    self._step_flat(flat, group, terms)
                for p in rest:
                    self._step_parameter(p, group, terms)
                for p in params:
                    p.bump_version()
        return loss

    def update(self, g: np.ndarray, state: dict[str, Any], group: dict[str, Any],
               out: np.ndarray) -> None:
        """Write into ``out`` the change of the weights for gradient ``g``: W <- W - out.

        ``g`` already holds the L2 weight-decay term (and the sign of ``maximize``);
        ``state`` holds ``"step"`` (t, counted from 1) and the arrays this method keeps
        in it, all of g's shape; ``out`` may serve as scratch space until the end. The
        same method runs per parameter and once over a whole flat group (optim/flat.py),
        so it must be elementwise and must not keep references to ``g``.
        """
        raise NotImplementedError

    def _weight_terms(self, group: dict[str, Any]) -> tuple[bool, float, float]:
        """What the base class does around ``update``, once per group and step: whether
        to negate the gradient (maximize), the L2 coefficient added to it (g + wd W), and
        the factor a decoupled decay multiplies the weights by (1 - lr wd; 1 for none)."""
        wd = float(group.get("weight_decay", 0))
        l2, keep = (0.0, 1 - float(group["lr"]) * wd) if self.decoupled else (wd, 1.0)
        return bool(group.get("maximize")), l2, keep

    def _new_state(self, p: Tensor) -> dict[str, Any]:
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {"step": 0}
        return state

    def _step_parameter(self, p: Tensor, group: dict[str, Any],
                        terms: tuple[bool, float, float]) -> None:
        """One parameter's step on its own arrays: the reference for the flat path."""
        state = self._new_state(p)
        state["step"] += 1
        maximize, l2, keep = terms
        w, g = p.data, p.grad.data
        if maximize:
            g = -g
        if l2:
            g = g + scalar(l2, w) * w  # a new array: the gradient itself is never modified
        out = np.empty_like(g)
        self.update(g, state, group, out)
        if keep != 1.0:
            w *= scalar(keep, w)
        w -= out

    def _split(self, index: int, group: dict[str, Any],
               params: list[Tensor]) -> tuple[FlatGroup | None, list[Tensor]]:
        """This step's flat buffers (or None) and the parameters updated one by one.

        ``fused=None`` packs the parameters below FLAT_BELOW values, where a numpy call's
        own cost outweighs its work, and leaves the large ones to the loop, where the
        flat path's extra pass (copying the gradient in) would cost more than it saves.
        """
        fused = group.get("fused")
        if fused is None and not self._packs(group):
            fused = False
        packed = params if fused else [] if fused is False else [
            p for p in params if p.grad.data.size < FLAT_BELOW]
        if len(packed) < 2 and not fused:
            self._flat.pop(index, None)
            return None, params
        states = [self._new_state(p) for p in packed]
        flat = self._flat.get(index)
        if flat is None or not flat.holds(packed, states):
            flat = FlatGroup.pack(packed, states)
            if flat is None:
                self._flat.pop(index, None)
                return None, params
            self._flat[index] = flat
        rest = [] if len(packed) == len(params) else [
            p for p in params if p.grad.data.size >= FLAT_BELOW]
        return flat, rest

    def _packs(self, group: dict[str, Any]) -> bool:
        """Whether ``fused=None`` packs this group: only where ``update`` is several array
        passes, so that one pass over the group saves numpy calls."""
        return True

    def _step_flat(self, flat: FlatGroup, group: dict[str, Any],
                   terms: tuple[bool, float, float]) -> None:
        """The whole group's step at once, bitwise equal to ``_step_parameter`` on each."""
        maximize, l2, keep = terms
        g = flat.gather()
        if maximize:
            np.negative(g, out=g)
        if l2:
            for p, gv, scratch in zip(flat.params, flat.grad_views, flat.out_views,
                                      strict=True):
                np.multiply(p.data, scalar(l2, p.data), out=scratch)
                gv += scratch
        flat.state["step"] += 1
        for s in flat.states:
            s["step"] = flat.state["step"]
        self.update(g, flat.state, group, flat.out)
        if len(flat.linked) != sum(isinstance(v, np.ndarray) for v in flat.state.values()):
            flat.link()
        for p, change in zip(flat.params, flat.out_views, strict=True):
            w = p.data
            if keep != 1.0:
                w *= scalar(keep, w)
            w -= change

    def state_dict(self) -> dict[str, Any]:
        """Options of every group and the state of every parameter, by position."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[p] = len(index)
                ids.append(index[p])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[p]: {k: (v.copy() if isinstance(v, np.ndarray) else v)
                            for k, v in s.items()} for p, s in self.state.items() if p in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"])
                for g, own in zip(groups, self.param_groups, strict=True)):
            raise ValueError(f"{self.name}.load_state_dict: the saved groups do not match this "
                             f"optimizer's parameter groups")
        params = [p for g in self.param_groups for p in g["params"]]
        for g, own in zip(groups, self.param_groups, strict=True):
            own.update({k: v for k, v in g.items() if k != "params"})
        self.state = {}
        self._flat = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {k: (np.array(v, p.dtype) if isinstance(v, np.ndarray) else v)
                             for k, v in s.items()}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{self.name}({opts})"
