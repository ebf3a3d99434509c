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


class Optimizer:
    """Base class: subclasses implement ``update(p, grad, group, state)`` for one parameter.

    ``params`` is an iterable of Tensors, or of dicts (parameter groups) each with a
    ``"params"`` list and any options overriding the defaults, e.g. no weight decay
    for the biases::

        decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
        rest = [p for n, p in model.named_parameters() if n.endswith("bias")]
        SGD([{"params": decay, "weight_decay": 1e-4}, {"params": rest}], lr=0.1)
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        # state is keyed by the parameter itself (Tensors hash by identity), not by id()
        self.state: dict[Tensor, dict[str, Any]] = {}
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
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {"step": 0}
                    state["step"] += 1
                    self.update(p, p.grad.data, group, state)
                    p.bump_version()
        return loss

    def update(self, p: Tensor, grad: np.ndarray, group: dict[str, Any],
               state: dict[str, Any]) -> None:
        raise NotImplementedError

    @staticmethod
    def _scalar(value: float, like: np.ndarray) -> np.ndarray:
        """A constant in the parameter's dtype: numpy 2 would upcast float32 by a float64."""
        return np.asarray(value, like.dtype)

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
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {k: (np.array(v, p.dtype) if isinstance(v, np.ndarray) else v)
                             for k, v in s.items()}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{self.name}({opts})"
