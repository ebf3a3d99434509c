"""``Module``: the base of every layer and network, holding parameters and sub-modules."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor, to_arguments
from chainrule.nn.parameter import Parameter, clear_grads


class Module:
    """A layer or a network: ``forward`` computes the output; parameters are found by name.

    Attributes that are Parameters or Modules are registered when assigned, in
    order, so ``named_parameters()`` walks the network like PyTorch's
    (``"0.weight"``, ``"0.bias"``, ``"2.weight"`` ... inside a Sequential).

    A module that can be saved and rebuilt without its Python source lists its
    constructor arguments in ``config_fields`` (see ``chainrule.save``).
    """

    training: bool
    # Names of the constructor arguments, stored as attributes of the same names, that
    # rebuild this module; None means it cannot be rebuilt from a saved file by name.
    config_fields: tuple[str, ...] | None = None

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               f"assigning attributes")
        if name in self._buffers and not isinstance(value, Parameter | Module):
            # a registered buffer stays one (BatchNorm's `self.running_mean = new`), as in PyTorch
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign a "
                                f"{type(value).__name__} to buffer {name!r} (a Tensor or None "
                                f"expected)")
            self._buffers[name] = value
            return
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for table in ("_parameters", "_modules", "_buffers"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._modules, self._buffers):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: Tensor | None, persistent: bool = True) -> None:
        """A Tensor that belongs to the state but is not trained (running statistics, say).

        It is in ``state_dict()`` and saved files unless ``persistent=False``, is cast by
        ``to(dtype)``, and assigning to the name later replaces the buffer (PyTorch's rules).
        """
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: the name must be a non-empty string without "
                           f"'.', got {name!r}")
        if name in self._parameters or name in self._modules or \
                (name in self.__dict__ and name not in self._buffers):
            raise KeyError(f"register_buffer: {type(self).__name__} already has an attribute "
                           f"{name!r}")
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got a "
                            f"{type(value).__name__} (wrap an array with chainrule.tensor)")
        self._buffers[name] = value
        transient = self.__dict__.setdefault("_non_persistent_buffers", set())
        if persistent:
            transient.discard(name)
        else:
            transient.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        self._modules[name] = module

    # -- running ---------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) or, with False, evaluation mode."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    # -- walking the tree -------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and every descendant, depth first; a module
        reachable twice is listed once unless ``remove_duplicate=False`` (PyTorch's)."""
        if remove_duplicate:
            memo = set() if memo is None else memo
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                       remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, each parameter once even if shared between layers."""
        seen: set[int] = set()
        tree = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for mod_name, m in tree:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        tree = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for mod_name, m in tree:
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _persistent_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """The buffers that belong in state_dict (not those registered persistent=False)."""
        for mod_name, m in self.named_modules():
            transient = m.__dict__.get("_non_persistent_buffers", ())
            for name, b in m._buffers.items():
                if b is not None and name not in transient:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.data.size for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module and then on this one (e.g. custom init)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients (set them to None, or to zeros)."""
        clear_grads(self.parameters(), set_to_none)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Cast every floating parameter and buffer to ``dtype`` in place (PyTorch's
        ``module.to(dtype)``); gradients are dropped, since they no longer match.

        As in PyTorch, ``to("cpu")``, ``to(device="cpu", dtype=...)`` and ``to(tensor)``
        work too; chainrule runs on the CPU only, so other devices are refused.
        """
        dtype = to_arguments(f"{type(self).__name__}.to", args, kwargs)
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: parameters must stay floating point, "
                            f"got dtype {dtype}")
        tensors = [p for p in self.parameters()] + [b for _, b in self.named_buffers()]
        for t in tensors:
            if t.data.dtype.kind == "f" and t.data.dtype != dtype:
                t.data = t.data.astype(dtype)
                t.grad = None
                t.bump_version()
        return self

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64 (for gradcheck, say)."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32, the default."""
        return self.to(np.float32)

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Every parameter and buffer by name, as arrays (shared with the model, not copied),
        in PyTorch's order: each module's parameters, then its buffers, then its children's.
        Buffers registered with ``persistent=False`` are left out."""
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        params = dict(self.named_parameters())
        buffers = dict(self._persistent_buffers())
        for mod_name, m in self.named_modules():
            for table, found in ((m._parameters, params), (m._buffers, buffers)):
                for name in table:
                    key = f"{mod_name}.{name}" if mod_name else name
                    if key in found:
                        state[key] = found[key].data
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy values into this module's parameters and buffers, checking names and shapes.

        With ``strict`` the names must match exactly; a shape mismatch is always an
        error. Values are cast to each parameter's dtype and copied (the model
        never shares memory with ``state``).
        """
        own = dict(self.named_parameters())
        own.update(self._persistent_buffers())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unexpected:
                parts.append(f"unexpected {unexpected}")
            raise KeyError(f"load_state_dict: the state does not match "
                           f"{type(self).__name__}: {'; '.join(parts)}")
        with no_grad():
            for name, target in own.items():
                if name not in state:
                    continue
                value = state[name]
                value = value.data if isinstance(value, Tensor) else np.asarray(value)
                if value.shape != target.shape:
                    raise ValueError(f"load_state_dict: {name} has shape {value.shape} in the "
                                     f"state but {target.shape} in the model")
                target.copy_(value)

    # -- description --------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def extra_config(self) -> dict[str, Any] | None:
        """Constructor arguments that rebuild this module (None: not rebuildable by name)."""
        if self.config_fields is None:
            return None
        return {name: getattr(self, name) for name in self.config_fields}

    def summary(self, input_size: Any = None, *, input_data: Any = None, dtype: Any = None,
                depth: int | None = None) -> Any:
        """The layers, their output shapes for an input of ``input_size`` (batch first, as
        torchinfo's ``summary(model, input_size=...)``; or an example array or Tensor) and
        their parameter counts, as a report that prints as a text table and shows as an
        HTML table in a notebook (Keras' ``model.summary()``); see ``chainrule.nn.summary``.
        """
        from chainrule.nn.summary import summary  # the report is not needed to train

        return summary(self, input_size, input_data=input_data, dtype=dtype, depth=depth)

    def __repr__(self) -> str:
        lines = []
        for name, m in self.named_children():
            child = repr(m).replace("\n", "\n  ")
            own = m.num_parameters()
            if own and not m._modules:  # a leaf layer: show its own count
                child += f"  # {own:,} parameters"
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        count = self.num_parameters()
        return head + "\n" + "\n".join(lines) + f"\n)  # {count:,} parameters"
