"""Containers: ``Sequential`` (layers applied one after another, a = f_L(... f_1(x))),
and PyTorch's ``ModuleList``, ``ModuleDict``, ``ParameterList`` and ``ParameterDict``,
which only hold and register what they are given (state_dict names "layers.0.weight",
"blocks.enc.weight", "scales.0" as in PyTorch)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter


class Sequential(Module):
    """Apply the given modules in order; they are named "0", "1", ... as in PyTorch."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
            self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Module:
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]



def _check_module(value: Any) -> Module:
    if not isinstance(value, Module):
        raise TypeError(f"expected a Module, got a {type(value).__name__}")
    return value


def _as_parameter(value: Any) -> Parameter:
    """A Parameter as given, or a tensor or array made into one (as PyTorch's lists do)."""
    if isinstance(value, Parameter):
        return value
    return Parameter(value.data if isinstance(value, Tensor) else value, requires_grad=True)


class _Holder(Module):
    """What the list and dict containers share: their items live in one registry of
    Module (``_modules`` or ``_parameters``), so names and state_dict keys come for free."""

    _registry = "_modules"

    def _table(self) -> dict[str, Any]:
        return self.__dict__[self._registry]

    def _convert(self, value: Any) -> Any:
        return _check_module(value) if self._registry == "_modules" else _as_parameter(value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} only holds its items; call them in "
                                  f"your own forward (e.g. `for layer in self.layers: "
                                  f"x = layer(x)`)")

    def __len__(self) -> int:
        return len(self._table())

    def extra_repr(self) -> str:
        if self._registry == "_modules":
            return ""
        return ", ".join(f"({k}): shape {p.shape}" for k, p in self._table().items())


class _ListHolder(_Holder):
    """Items named "0", "1", ... in order, renumbered when one is inserted or deleted."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _position(self, index: int) -> int:
        n = len(self._table())
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index} is out of range for {n} "
                             f"item(s)")
        return index % n

    def _renumber(self, items: list[Any]) -> None:
        table = self._table()
        table.clear()
        for i, v in enumerate(items):
            table[str(i)] = v

    def append(self, value: Any) -> Any:
        table = self._table()
        table[str(len(table))] = self._convert(value)
        return self

    def extend(self, values: Iterable[Any]) -> Any:
        for v in values:
            self.append(v)
        return self

    def insert(self, index: int, value: Any) -> None:
        items = list(self._table().values())
        items.insert(index, self._convert(value))
        self._renumber(items)

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._table().values())
        if isinstance(index, slice):
            return type(self)(items[index])
        return items[self._position(index)]

    def __setitem__(self, index: int, value: Any) -> None:
        self._table()[str(self._position(index))] = self._convert(value)

    def __delitem__(self, index: int | slice) -> None:
        items = list(self._table().values())
        del items[index if isinstance(index, slice) else self._position(index)]
        self._renumber(items)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._table().values()))

    def __iadd__(self, values: Iterable[Any]) -> Any:
        return self.extend(values)


class _DictHolder(_Holder):
    """Items by string name, in insertion order."""

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None
                 ) -> None:
        super().__init__()
        if values is not None:
            self.update(values)

    def __getitem__(self, key: str) -> Any:
        return self._table()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"{type(self).__name__}: keys must be non-empty strings without "
                           f"'.', got {key!r}")
        self._table()[key] = self._convert(value)

    def __delitem__(self, key: str) -> None:
        del self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._table()))

    def __contains__(self, key: object) -> bool:
        return key in self._table()

    def keys(self) -> list[str]:
        return list(self._table())

    def values(self) -> list[Any]:
        return list(self._table().values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._table().items())

    def update(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        for key, v in (values.items() if isinstance(values, Mapping) else values):
            self[key] = v

    def pop(self, key: str) -> Any:
        return self._table().pop(key)

    def clear(self) -> None:
        self._table().clear()


class ModuleList(_ListHolder):
    """A list of modules, registered as "0", "1", ... (PyTorch's ``nn.ModuleList``)."""


class ModuleDict(_DictHolder):
    """Modules by name, in insertion order (PyTorch's ``nn.ModuleDict``)."""


class ParameterList(_ListHolder):
    """A list of parameters, registered as "0", "1", ... (PyTorch's ``nn.ParameterList``);
    tensors and arrays given to it become Parameters, so they are trained."""

    _registry = "_parameters"


class ParameterDict(_DictHolder):
    """Parameters by name, in insertion order (PyTorch's ``nn.ParameterDict``)."""

    _registry = "_parameters"
