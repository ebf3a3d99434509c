"""``summary(model, input_size)``: a network's layers, their output shapes for one input,
and their parameter counts, as Keras' ``model.summary()`` and torchinfo's ``summary``.

The output shapes come from one forward pass, in evaluation mode under ``no_grad`` (so
BatchNorm's running statistics and the random state of dropout are left as they were),
with every module's ``forward`` wrapped for the duration of the call to record what it
returned. Parameters are counted once each, in the first row that reaches them (a
weight tied between two layers is counted at its first), so the rows add up to the
total, which is ``sum(p.size for p in model.parameters())``. Buffers (running
statistics) are state, not parameters, and are not counted (PyTorch's convention).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor

if TYPE_CHECKING:
    from chainrule.nn.module import Module

__all__ = ["LayerRow", "ModelSummary", "summary"]


@dataclass(frozen=True)
class LayerRow:
    """One module of the summary.

    ``name`` is its dotted name as in ``state_dict`` ("" for the model itself),
    ``output_shape`` what its forward returned ("--": never called; None: no input was
    given), ``calls`` how many times the forward pass called it (a recurrent cell: once
    per step), ``params`` the parameters counted in this row (its own; at the depth
    limit, its whole subtree's) of which ``trainable`` require a gradient.
    """

    name: str
    kind: str
    depth: int
    output_shape: str | None
    calls: int
    params: int
    trainable: int

    @property
    def label(self) -> str:
        """"0 (Linear)" indented by depth, or the class name for the model itself."""
        local = self.name.rsplit(".", 1)[-1]
        return "  " * self.depth + (f"{local} ({self.kind})" if self.name else self.kind)


class ModelSummary:
    """The report ``summary`` returns: ``print`` it for an aligned text table; a notebook
    shows it as an HTML table. ``rows`` are ``LayerRow``s; the totals are attributes."""

    def __init__(self, rows: list[LayerRow], total_bytes: int, inputs: str | None) -> None:
        self.rows = rows
        self.total_params = sum(r.params for r in rows)
        self.trainable_params = sum(r.trainable for r in rows)
        self.non_trainable_params = self.total_params - self.trainable_params
        self.total_bytes = total_bytes
        self.inputs = inputs  # "[1, 784] float32", or None without an input

    def _columns(self) -> list[tuple[str, Callable[[LayerRow], str], bool]]:
        """(header, cell, right-aligned) for each column shown: the shapes only with an
        input, the non-trainable counts only when some parameter is frozen."""
        columns = [("Layer (type)", lambda r: r.label, False)]
        if self.inputs is not None:
            columns.append(("Output shape", _shape_cell, False))
        columns.append(("Param #", lambda r: _count(r.params), True))
        if self.non_trainable_params:
            columns.append(("Non-trainable", lambda r: _count(r.params - r.trainable), True))
        return columns

    def _totals(self) -> list[str]:
        lines = [f"Total params: {self.total_params:,} ({_bytes(self.total_bytes)})",
                 f"Trainable params: {self.trainable_params:,}",
                 f"Non-trainable params: {self.non_trainable_params:,}"]
        if self.inputs is not None:
            lines.append(f"Input: {self.inputs}")
        return lines

    def __str__(self) -> str:
        columns = self._columns()
        table = [[header for header, _, _ in columns]]
        table += [[cell(row) for _, cell, _ in columns] for row in self.rows]
        widths = [max(len(cells[i]) for cells in table) for i in range(len(columns))]

        def line(cells: list[str]) -> str:
            # names and shapes read left to right; counts line up on their last digit
            return "   ".join(c.rjust(w) if right else c.ljust(w) for c, w, (_, _, right)
                              in zip(cells, widths, columns, strict=True)).rstrip()

        rule = "=" * (sum(widths) + 3 * (len(widths) - 1))
        return "\n".join([line(table[0]), rule, *map(line, table[1:]), rule, *self._totals()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """The same table as HTML (every name escaped), for Jupyter."""
        columns = self._columns()

        def cell(tag: str, text: str, right: bool, indent: int = 0) -> str:
            style = "text-align:right" if right else "text-align:left"
            if indent:
                style += f";padding-left:{1.5 * indent:g}em"
            return f'<{tag} style="{style}">{html.escape(text)}</{tag}>'

        head = "".join(cell("th", header, right) for header, _, right in columns)
        body = []
        for row in self.rows:
            cells = [cell("td", text(row).strip(), right, row.depth if i == 0 else 0)
                     for i, (_, text, right) in enumerate(columns)]
            body.append(f"<tr>{''.join(cells)}</tr>")
        totals = "<br>".join(html.escape(t) for t in self._totals())
        return (f'<div class="chainrule-summary"><table><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table><p>{totals}</p></div>")


def _shape_cell(row: LayerRow) -> str:
    shape = row.output_shape or "--"
    return shape if row.calls <= 1 else f"{shape} ({row.calls} calls)"


def _count(n: int) -> str:
    return f"{n:,}" if n else "--"


def _bytes(n: float) -> str:
    """795 bytes as "795 B", 814,120 as "795.04 KiB", more as MiB."""
    if n < 1024:
        return f"{int(n)} B"
    n /= 1024
    return f"{n:.2f} KiB" if n < 1024 else f"{n / 1024:.2f} MiB"


# -- the walk and the forward pass -------------------------------------------------------------

def _walk(module: Module, depth: int | None) -> Iterator[tuple[str, Module, int, bool]]:
    """(name, module, depth, folded) for the model and its descendants down to ``depth``,
    depth first, each module once (as ``named_modules``); ``folded``: a row at the depth
    limit whose children are not shown, so it counts their parameters."""
    seen: set[int] = set()

    def visit(name: str, m: Module, level: int) -> Iterator[tuple[str, Module, int, bool]]:
        if id(m) in seen:
            return
        seen.add(id(m))
        at_limit = depth is not None and level >= depth
        yield name, m, level, at_limit and any(True for _ in m.named_children())
        if not at_limit:
            for child_name, child in m.named_children():
                yield from visit(f"{name}.{child_name}" if name else child_name, child,
                                 level + 1)

    yield from visit("", module, 0)


def _count_params(m: Module, folded: bool, counted: set[int]) -> tuple[int, int]:
    """(all, trainable) parameters of ``m`` (its subtree's when ``folded``) not counted in
    an earlier row."""
    total = trainable = 0
    for p in m.parameters(recurse=folded):
        if id(p) not in counted:
            counted.add(id(p))
            total += p.data.size
            trainable += p.data.size if p.requires_grad else 0
    return total, trainable


def _shape_text(value: Any, nested: bool = False) -> str:
    """What a forward returned, as shapes: "[1, 10]"; a tuple "[1, 8, 65], ([1, 1, 128],
    [1, 1, 128])" (an LSTM's output and state); None as "None"."""
    if isinstance(value, tuple | list):
        inner = ", ".join(_shape_text(v, True) for v in value)
        return f"({inner})" if nested else inner
    shape = getattr(value, "shape", None)
    if shape is not None:
        return "[" + ", ".join(str(int(n)) for n in shape) + "]"
    return "None" if value is None else type(value).__name__


class _Recorder:
    """Wraps the ``forward`` of each module for one pass, noting the first output's shapes
    and the number of calls; ``restore`` puts every module back as it was."""

    def __init__(self, modules: Sequence[Module]) -> None:
        self.shapes: dict[int, str] = {}
        self.calls: dict[int, int] = {}
        self._saved: list[tuple[Module, Any]] = []
        for m in modules:
            own = m.__dict__.get("forward")  # a forward assigned on the instance, if any
            self._saved.append((m, own))
            object.__setattr__(m, "forward", self._wrap(m, m.forward))

    def _wrap(self, m: Module, forward: Callable[..., Any]) -> Callable[..., Any]:
        def recording(*args: Any, **kwargs: Any) -> Any:
            out = forward(*args, **kwargs)
            key = id(m)
            self.calls[key] = self.calls.get(key, 0) + 1
            self.shapes.setdefault(key, _shape_text(out))
            return out

        return recording

    def restore(self) -> None:
        for m, own in self._saved:
            if own is None:
                m.__dict__.pop("forward", None)
            else:
                object.__setattr__(m, "forward", own)


def _run(model: Module, modules: Sequence[Module], inputs: list[Any]) -> _Recorder:
    """One forward pass on ``inputs`` recording ``modules``, in evaluation mode under
    no_grad; the model's modes and forwards are restored whatever happens."""
    modes = [(m, m.training) for m in model.modules()]
    recorder = _Recorder(modules)
    try:
        model.eval()
        with no_grad():
            model(*inputs)
    except Exception as e:
        raise ValueError(
            f"summary: {type(model).__name__}'s forward failed on an input of "
            f"{_describe(inputs)}: {e}. Give the shape and dtype its forward expects "
            f"(token ids: dtype=np.int64) or an example input (input_data=...)") from e
    finally:
        recorder.restore()
        for m, training in modes:
            object.__setattr__(m, "training", training)
    return recorder


# -- the input ----------------------------------------------------------------------------------

def _is_data(value: Any) -> bool:
    """An example input (an array or Tensor, or a tuple or list holding one) rather than
    a shape."""
    if isinstance(value, tuple | list):
        return any(isinstance(v, np.ndarray | Tensor) for v in value)
    return isinstance(value, np.ndarray | Tensor)


def _shapes(input_size: Any) -> list[tuple[int, ...]]:
    """``input_size`` as a list of shapes: (1, 784) is one input, [(1, 8), (1, 8)] two."""
    def is_shape(value: Any) -> bool:
        return isinstance(value, tuple | list) and len(value) > 0 and all(
            isinstance(n, int | np.integer) and not isinstance(n, bool) and n > 0
            for n in value)

    if is_shape(input_size):
        return [tuple(int(n) for n in input_size)]
    if isinstance(input_size, tuple | list) and input_size and all(map(is_shape, input_size)):
        return [tuple(int(n) for n in shape) for shape in input_size]
    raise ValueError(f"summary: input_size must be a shape of positive whole numbers, batch "
                     f"first, such as (1, 784), or a list of shapes, one per argument of "
                     f"forward; got {input_size!r}")


def _as_argument(value: Any, index: int) -> Any:
    """An example input as forward takes it: floating arrays as Tensors, integer arrays
    (token ids, class indices) as they are."""
    if isinstance(value, Tensor):
        return value
    if not isinstance(value, np.ndarray):
        raise TypeError(f"summary: input {index} must be a numpy array or a Tensor, got a "
                        f"{type(value).__name__} (for a shape, pass input_size=(1, 784))")
    return Tensor(value) if value.dtype.kind == "f" else value


def _inputs(model: Module, input_size: Any, input_data: Any, dtype: Any) -> list[Any] | None:
    """The positional arguments of the forward pass, or None without an input."""
    if input_size is not None and input_data is not None:
        raise ValueError("summary: give input_size (a shape) or input_data (an example), not "
                         "both")
    if _is_data(input_size):
        input_size, input_data = None, input_size
    if input_data is not None:
        items = input_data if isinstance(input_data, tuple | list) else [input_data]
        return [_as_argument(v, i) for i, v in enumerate(items)]
    if input_size is None:
        return None
    if dtype is None:
        floating = (p.data.dtype for p in model.parameters() if p.data.dtype.kind == "f")
        dtype = next(floating, np.dtype(np.float32))
    dtype = np.dtype(dtype)
    # zeros: a valid token id for every embedding, and finite through every layer
    return [_as_argument(np.zeros(shape, dtype), i) for i, shape in enumerate(_shapes(input_size))]


def _describe(inputs: list[Any]) -> str:
    """"[1, 784] float32" (one input), "[2, 8] int64, [2, 8] float32" (two)."""
    return ", ".join(f"{_shape_text(v)} {v.dtype}" for v in inputs)


def summary(model: Module, input_size: Any = None, *, input_data: Any = None,
            dtype: Any = None, depth: int | None = None) -> ModelSummary:
    """The layers of ``model``, their output shapes for one input and their parameter
    counts (see the module docstring), as a ``ModelSummary`` that prints as a text table
    and shows as an HTML table in a notebook.

    Args:
        input_size: the shape of the input, batch first (``(1, 784)``), or a list of
            shapes, one per argument of ``forward``; the input is zeros of ``dtype``
            (default: the model's parameter dtype; token ids need an integer dtype). An
            array or Tensor here is taken as ``input_data``. Without an input the table
            lists the layers and their parameters only.
        input_data: an example input (an array or Tensor, or a tuple of them, one per
            argument of ``forward``).
        depth: show modules down to this depth (0: the model alone; None: all); a row at
            the limit counts its hidden children's parameters.

    Raises:
        ValueError: a malformed ``input_size`` or ``depth``, or a forward pass that
            failed on the input (the message names the input it was given).
    """
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool)
                              or depth < 0):
        raise ValueError(f"summary: depth must be a whole number >= 0 or None, got {depth!r}")
    inputs = _inputs(model, input_size, input_data, dtype)
    walk = list(_walk(model, depth))
    recorder = _run(model, [m for _, m, _, _ in walk], inputs) if inputs is not None else None
    counted: set[int] = set()
    rows = []
    for name, m, level, folded in walk:
        total, trainable = _count_params(m, folded, counted)
        shape, calls = None, 0
        if recorder is not None:
            shape, calls = recorder.shapes.get(id(m), "--"), recorder.calls.get(id(m), 0)
        rows.append(LayerRow(name, type(m).__name__, level, shape, calls, total, trainable))
    total_bytes = sum(p.data.nbytes for p in model.parameters())
    return ModelSummary(rows, total_bytes, None if inputs is None else _describe(inputs))
