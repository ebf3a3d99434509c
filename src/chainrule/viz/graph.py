"""Drawing the computational graph with every value and every gradient.

Each op node shows its symbol and the value it produced; each edge shows the
gradient flowing back along it: the upstream gradient times the node's local
derivative with respect to that input. Where a value feeds several nodes its
total gradient, the sum over its outgoing edges, is shown on the value itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._io import atomic_write
from chainrule.autograd.engine import grad
from chainrule.autograd.function import DRAWN_ELEMENTS, Function
from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.viz.svg import Box, depths, to_svg

# Operators are shown as their symbol; every other op by its name in chainrule's
# functional API (chainrule.functional, the top level): op_label("BinaryCrossEntropy") is
# "binary_cross_entropy". The names snake_case does not give are listed here.
SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Neg": "neg", "PowScalar": "**",
           "Pow": "**", "MatMul": "@", "ReLU": "relu", "LeakyReLU": "leaky_relu",
           "ELU": "elu", "BCEWithLogits": "binary_cross_entropy_with_logits",
           "LogSumExp": "logsumexp", "Conv": "convolution", "MaxPool": "max_pool2d",
           "GetItem": "getitem", "FusedLSTM": "lstm", "FusedGRU": "gru", "FusedRNN": "rnn"}
FONT = "Helvetica"  # nodes and edges alike (Graphviz's default for edges is Times)


def op_label(name: str) -> str:
    """What a node of the op ``name`` (its Function class) shows: a symbol or the
    functional API's name ("CrossEntropy" -> "cross_entropy", "Maximum" -> "maximum")."""
    if name in SYMBOLS:
        return SYMBOLS[name]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
PNG_MAX_INCHES = 20  # caps a rendered PNG near 2,000 pixels wide at 100 dpi


@dataclass(frozen=True)
class Dropped:
    """An array that backward freed: a drawing knows only its shape (it had more elements
    than a drawing prints, ``chainrule.autograd.function.DRAWN_ELEMENTS``)."""

    shape: tuple[int, ...]


@dataclass
class Node:
    """A value in the graph: a leaf (named input or parameter) or an op's output."""

    key: Hashable
    label: str
    value: np.ndarray | Dropped | None
    grad: np.ndarray | Dropped | None
    op: str | None = None
    # (key, edge grad) per input
    inputs: list[tuple[Hashable, np.ndarray | Dropped | None]] = field(default_factory=list)


def _fmt(a: np.ndarray | Dropped | None) -> str:
    if a is None:
        return "-"
    if isinstance(a, Dropped):
        return f"array{a.shape}"
    a = np.asarray(a)
    if a.size == 1:
        return f"{float(a.reshape(())):.4g}"
    if a.size <= DRAWN_ELEMENTS:
        return np.array2string(a, precision=3, separator=", ").replace("\n", "")
    return f"array{a.shape}"


@dataclass
class _Value:
    """One value of the graph as the walk finds it: ``tensor`` is None where the Tensor is
    gone (backward released its node and nothing else holds it); ``fn`` made it (None: a
    leaf); a gone constant leaves only ``shape``."""

    key: Hashable
    tensor: Tensor | None
    fn: Function | None
    index: int = 0
    shape: tuple[int, ...] | None = None


def _value(handle: Any) -> _Value:
    """A Tensor, or an entry of a released node's ``trace.inputs``, as a ``_Value``. An op's
    output is keyed by (its node, output index), the same whichever way it is reached."""
    if isinstance(handle, Tensor):
        fn = handle.grad_fn
        if fn is None:
            return _Value(id(handle), handle, None)
        return _Value((id(fn), handle._out_index), handle, fn, handle._out_index)
    first, second = (handle, 0) if isinstance(handle, Function) else handle
    if isinstance(first, Function):
        return _Value((id(first), second), first.outputs[second](), first, second)
    t = first()  # a weak reference to a large constant, and its shape
    return _value(t) if t is not None else _Value(id(first), None, None, shape=second)


def _inputs(v: _Value) -> list[Any]:
    """The inputs of ``v``'s node: its Tensors, or what backward kept of them."""
    fn = v.fn
    if fn is None:
        return []
    if fn.inputs is not None:
        return list(fn.inputs)
    trace = getattr(fn, "trace", None)
    if trace is None:
        raise ValueError(f"draw_graph: the node {fn.name} was released without a trace; "
                         f"build the graph again or call backward(retain_graph=True)")
    return list(trace.inputs)


def _collect(root: Tensor) -> list[tuple[_Value, list[Hashable]]]:
    """Every value reachable from ``root`` with its inputs' keys, inputs before outputs."""
    order, seen, stack = [], set(), [(_value(root), False)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append((v, [c.key for c in map(_value, _inputs(v))]))
            continue
        if v.key in seen:
            continue
        seen.add(v.key)
        stack.append((v, True))
        # pushed last to first, so the first input is visited (and listed) first: the
        # drawing keeps the expression's order of operands
        for c in reversed([_value(h) for h in _inputs(v)]):
            if c.key not in seen:
                stack.append((c, False))
    return order


def build_graph(output: Tensor, names: Mapping[str, Tensor] | None = None) -> list[Node]:
    """The nodes of ``output``'s graph with values and gradients.

    ``names`` labels leaves (e.g. ``dict(model.named_parameters())``); other leaves
    are labelled by shape. Before ``backward()`` (or after ``backward(retain_graph=True)``)
    the gradients are computed here, of ``output`` (its gradient is 1), and no ``.grad`` is
    touched. After a ``backward()`` that released the graph, they are the ones that
    backward computed: the leaves' ``.grad``, and for every other value and edge the
    gradient that passed through it (arrays larger than a drawing prints keep only their
    shape, as do values whose tensors are gone).
    """
    if output.grad_fn is None:
        raise ValueError("draw_graph: the tensor has no graph (it was not computed from "
                         "tensors that require grad)")
    values = _collect(output)
    released = [v.fn.name for v, _ in values if v.fn is not None and v.fn.inputs is None]
    if not released:
        return _computed(values, names)
    if output.grad_fn.inputs is not None:
        raise ValueError(
            f"draw_graph: part of this graph ({released[0]}) was released by the backward() "
            f"of another tensor, so its gradients cannot be computed again; draw before that "
            f"backward, or call it with retain_graph=True")
    return _recorded(values, names)


def _leaf(v: _Value, label_of: dict[int, str]) -> str:
    t = v.tensor
    if t is None:
        return "const"
    return label_of.get(id(t), "const" if not t.requires_grad else f"x{t.shape}")


def _computed(values: list[tuple[_Value, list[Hashable]]],
              names: Mapping[str, Tensor] | None) -> list[Node]:
    """The nodes, gradients computed by ``grad`` on the intact graph (every tensor alive)."""
    label_of = {id(t): n for n, t in (names or {}).items()}
    wanted = [v for v, _ in values if v.tensor.requires_grad]
    output = values[-1][0].tensor
    seed = np.ones(output.shape, output.dtype)
    grads = grad(output, [v.tensor for v in wanted], seed, retain_graph=True,
                 allow_unused=True)
    grad_of = {v.key: (None if g is None else g.data) for v, g in zip(wanted, grads, strict=True)}
    nodes = []
    for v, inputs in values:
        t, fn = v.tensor, v.fn
        if fn is None:
            nodes.append(Node(v.key, _leaf(v, label_of), t.data, grad_of.get(v.key)))
            continue
        node = Node(v.key, op_label(fn.name), t.data, grad_of.get(v.key), op=fn.name)
        node.inputs = list(zip(inputs, _edge_grads(fn, grad_of), strict=True))
        nodes.append(node)
    return nodes


def _recorded(values: list[tuple[_Value, list[Hashable]]],
              names: Mapping[str, Tensor] | None) -> list[Node]:
    """The nodes after a backward released the graph: values from the live tensors or the
    nodes' traces, gradients from the leaves' ``.grad`` and the traces."""
    label_of = {id(t): n for n, t in (names or {}).items()}
    nodes = []
    for v, inputs in values:
        t, fn = v.tensor, v.fn
        if fn is None:
            value = t.data if t is not None else Dropped(v.shape)
            g = None if t is None or t.grad is None else t.grad.data
            nodes.append(Node(v.key, _leaf(v, label_of), value, g))
            continue
        trace = getattr(fn, "trace", None) if fn.inputs is None else None
        value = t.data if t is not None else None if trace is None else _kept(
            trace.values[v.index])
        g = None if trace is None else _kept(trace.grads[v.index])
        edges = [None] * len(inputs) if trace is None else map(_kept, trace.input_grads)
        nodes.append(Node(v.key, op_label(fn.name), value, g, op=fn.name,
                          inputs=list(zip(inputs, edges, strict=True))))
    return nodes


def _kept(a: np.ndarray | tuple[int, ...] | None) -> np.ndarray | Dropped | None:
    """What a trace kept (a small array, the shape of a larger one, or None) as a value."""
    return Dropped(a) if isinstance(a, tuple) else a


def _edge_grads(fn: Function, grad_of: dict) -> list[np.ndarray | None]:
    """What the node sends back along each input edge: its upstream gradient times its
    local derivative for that input (the node's own backward, applied once). Two edges
    from the same value (x * x) each get their own share."""
    upstream = []
    for i in range(len(fn.outputs)):
        g = grad_of.get((id(fn), i))
        upstream.append(None if g is None else Tensor.constant(np.asarray(g)))
    if all(g is None for g in upstream):
        return [None] * len(fn.inputs)
    with no_grad():
        gxs = fn.backward(*upstream)
    gxs = gxs if isinstance(gxs, tuple) else (gxs,)
    return [None if g is None or not x.requires_grad else g.data
            for g, x in zip(gxs, fn.inputs, strict=True)]


def to_text(nodes: list[Node]) -> str:
    """An indented tree from the output down, with value and gradient per node."""
    by_key = {n.key: n for n in nodes}
    lines: list[str] = []

    def walk(key: int, depth: int, edge: np.ndarray | None) -> None:
        n = by_key[key]
        via = "" if edge is None or depth == 0 else f"  (edge grad {_fmt(edge)})"
        lines.append(f"{'  ' * depth}{n.label}: value {_fmt(n.value)}, grad {_fmt(n.grad)}{via}")
        for child, g in n.inputs:
            walk(child, depth + 1, g)

    walk(nodes[-1].key, 0, None)
    return "\n".join(lines)


def boxes(nodes: list[Node]) -> list[Box]:
    """The nodes as drawn (their text only): what both the DOT and the built-in SVG show."""
    return [Box(n.key, (n.label, f"value {_fmt(n.value)}", f"grad {_fmt(n.grad)}"),
                n.op is not None, [(child, _fmt(g)) for child, g in n.inputs]) for n in nodes]


def to_dot(nodes: list[Node]) -> str:
    """Graphviz DOT: values in the boxes, gradients on the edges."""
    return _dot(boxes(nodes))


def _dot(drawn: list[Box]) -> str:
    # ordering=in: each node's inputs drawn in the order of its in-edges, the operands' order
    lines = ["digraph chainrule {", '  rankdir="LR";', '  ordering="in";',
             f'  node [fontname="{FONT}"];', f'  edge [fontname="{FONT}"];']
    number = {b.key: i for i, b in enumerate(drawn)}  # stable names, not memory addresses
    for b in drawn:
        shape = "ellipse" if b.op else "box"
        text = "\\n".join(b.lines).replace('"', "'")
        lines.append(f'  n{number[b.key]} [label="{text}", shape={shape}];')
    for b in drawn:
        for child, label in b.inputs:
            lines.append(f'  n{number[child]} -> n{number[b.key]} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot: str, path: str | os.PathLike, fmt: str) -> Path:
    """Write the DOT text, or render it to SVG/PNG with Graphviz's ``dot`` program."""
    path = Path(path)
    if fmt == "dot":
        with atomic_write(path, "w") as f:
            f.write(dot)
        return path
    exe = shutil.which("dot")
    if exe is None:
        dot_path = path.with_suffix(".dot")
        with atomic_write(dot_path, "w") as f:
            f.write(dot)
        raise FileNotFoundError(
            f"Graphviz's 'dot' program is not installed, so {fmt.upper()} cannot be drawn; "
            f"wrote {dot_path} instead (render it with `dot -T{fmt} {dot_path} -o {path}` "
            f"after `apt-get install graphviz`)")
    output = run_dot(exe, dot, fmt)
    with atomic_write(path, "wb") as f:
        f.write(output)
    return path


def run_dot(exe: str, dot: str, fmt: str) -> bytes:
    """What Graphviz's ``dot`` program at ``exe`` renders of ``dot`` as ``fmt``; an OSError
    in one line if it fails or takes more than a minute."""
    args = [exe, f"-T{fmt}"]
    if fmt == "png":  # a large graph at default size makes a huge, slow image
        args += [f"-Gsize={PNG_MAX_INCHES},{PNG_MAX_INCHES}", "-Gdpi=100"]
    try:
        result = subprocess.run(args, input=dot.encode(), capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise OSError(f"graph: Graphviz's dot did not finish {fmt.upper()} within 60 s; "
                      f"try --format dot and render it yourself") from None
    if result.returncode != 0:  # an OSError, so the command line reports it in one line
        raise OSError(f"graph: Graphviz's dot failed (exit {result.returncode}): "
                      f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _graph_diagram(nodes: list[Node], number: dict[int, int]) -> Any:
    from chainrule.explainer.page import Diagram

    depth = depths(nodes)
    columns: dict[int, list[Node]] = {}
    for n in nodes:
        columns.setdefault(depth[n.key], []).append(n)
    tallest = max(len(c) for c in columns.values())
    diagram = Diagram(170 * len(columns) + 60, 80 * tallest + 40)
    for col, members in columns.items():
        top = (diagram.height - 80 * len(members)) / 2 + 30
        for row, n in enumerate(members):
            diagram.nodes.append((f"g{number[n.key]}", n.label, 80 + 170 * col, top + 80 * row,
                                  "circle" if n.op else "box"))
    for n in nodes:
        for slot, (child, _) in enumerate(n.inputs):
            diagram.edges.append((f"g{number[child]}-{number[n.key]}-{slot}",
                                  f"{by_label(nodes, child)} -> {n.label}", f"g{number[child]}",
                                  f"g{number[n.key]}"))
    return diagram


def by_label(nodes: list[Node], key: int) -> str:
    return next(n.label for n in nodes if n.key == key)


def _values(a: np.ndarray | Dropped | None) -> list[float]:
    if a is None or isinstance(a, Dropped):
        return []
    return [float(f"{v:.6g}") for v in np.asarray(a).reshape(-1)]


def graph_steps(nodes: list[Node]) -> tuple[Any, list[Any]]:
    """The diagram and the steps of the graph page: the leaves, each op forward in order,
    then the backward pass from the output (gradient 1) through each op in reverse; a value
    that feeds several nodes gets its gradient, the sum of its edges', at its last one."""
    from chainrule.explainer.page import Step, panel

    number = {n.key: i for i, n in enumerate(nodes)}
    gid = {n.key: f"g{number[n.key]}" for n in nodes}
    edge = {(c, n.key, s): f"g{number[c]}-{number[n.key]}-{s}" for n in nodes
            for s, (c, _) in enumerate(n.inputs)}
    leaves = [n for n in nodes if not n.op]
    steps = [Step("the inputs", [gid[n.key] for n in leaves],
                  {gid[n.key]: ("", _values(n.value)) for n in leaves},
                  panel(lambda doc: [doc.line(f"{n.label} = {_fmt(n.value)}") for n in leaves]))]
    for n in nodes:
        if n.op:
            steps.append(Step(f"forward: {n.label}", [gid[n.key]] + [
                edge[c, n.key, s] for s, (c, _) in enumerate(n.inputs)],
                {gid[n.key]: ("", _values(n.value))},
                panel(lambda doc, n=n: doc.line(
                    f"{n.label}({', '.join(by_label(nodes, c) for c, _ in n.inputs)}) = "
                    f"{_fmt(n.value)}"))))
    out = nodes[-1]
    steps.append(Step("backward: the output's gradient is 1", [gid[out.key]],
                      {gid[out.key]: ("grad", _values(out.grad))},
                      panel(lambda doc: doc.line("dL/dL = 1"))))
    users: dict[int, int] = {}
    for n in nodes:
        for c, _ in n.inputs:
            users[c] = users.get(c, 0) + 1
    for n in reversed([n for n in nodes if n.op]):
        done: dict[str, tuple[str, list[float]]] = {}
        lines = []
        for s, (c, g) in enumerate(n.inputs):
            done[edge[c, n.key, s]] = ("grad", _values(g))
            lines.append(f"edge {by_label(nodes, c)} <- {n.label}: upstream gradient "
                         f"{_fmt(n.grad)} times the local derivative = {_fmt(g)}")
            users[c] -= 1
            if users[c] == 0:
                child = next(m for m in nodes if m.key == c)
                done[gid[c]] = ("grad", _values(child.grad))
                shared = sum(1 for m in nodes for k, _ in m.inputs if k == c)
                lines.append(f"{child.label}: gradient {_fmt(child.grad)}" + (
                    f" (the sum over the {shared} edges it feeds)" if shared > 1 else ""))
        steps.append(Step(f"backward through {n.label}", [gid[n.key]] + [
            edge[c, n.key, s] for s, (c, _) in enumerate(n.inputs)] + [
            gid[c] for c, _ in n.inputs], done,
            panel(lambda doc, lines=lines: [doc.line(t) for t in lines])))
    return _graph_diagram(nodes, number), steps


def to_html(nodes: list[Node]) -> str:
    """The interactive page of the graph (see chainrule.explainer.page)."""
    from chainrule.explainer.page import fragment_html, full_page

    diagram, steps = graph_steps(nodes)
    title = "The computational graph, step by step"
    return full_page(title, fragment_html(title, diagram, steps, "values and gradients from "
                                          "chainrule's autograd engine"))


class Drawing(str):
    """What ``draw_graph`` returns: the text it returns as a ``str`` (print it, compare it,
    write it), which Jupyter also draws as a picture (``_repr_svg_``): through Graphviz's
    ``dot`` where it is on the PATH, otherwise through the built-in layout of
    ``chainrule.viz.svg``, so a notebook without Graphviz shows the graph too.

    ``boxes``: the nodes as drawn (their text only, not their arrays, so a drawing kept in
    a notebook's history does not keep a model's activations alive)."""

    boxes: list[Box]

    def __new__(cls, text: str, nodes: list[Node]) -> Drawing:
        self = super().__new__(cls, text)
        self.boxes = boxes(nodes)
        self._svg: str | None = None
        return self

    def svg(self, graphviz: bool | None = None) -> str:
        """The SVG picture: with Graphviz's ``dot`` (``graphviz=True``, an error without
        it), with the built-in layout (False), or with dot where it is installed and works
        (None, what a notebook gets)."""
        if graphviz is False:
            return to_svg(self.boxes)
        exe = shutil.which("dot")
        if exe is None and graphviz:
            raise FileNotFoundError("Graphviz's 'dot' program is not installed "
                                    "(apt-get install graphviz); svg(graphviz=False) draws "
                                    "without it")
        if exe is not None:
            try:
                return run_dot(exe, _dot(self.boxes), "svg").decode()
            except OSError:
                if graphviz:
                    raise  # asked for Graphviz: say why it failed; else draw it ourselves
        return to_svg(self.boxes)

    def _repr_svg_(self) -> str:
        if self._svg is None:  # drawn once: a notebook may ask again on every redisplay
            self._svg = self.svg()
        return self._svg

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's plain-text view: the text itself, not the quoted repr of a str."""
        p.text(str(self))


def draw_graph(output: Tensor, format: str = "text", path: str | os.PathLike | None = None,
               names: Mapping[str, Tensor] | None = None) -> Drawing:
    """The graph of ``output`` as text, DOT or an interactive HTML page (returned, a
    ``Drawing``: a str that Jupyter shows as an SVG picture), or written as
    SVG/PNG/DOT/HTML to ``path``.

    ``names`` labels leaves, e.g. ``dict(model.named_parameters())``. It works before and
    after ``backward()`` (see ``build_graph`` for which gradients are shown).
    """
    if format not in ("text", "dot", "svg", "png", "html"):
        raise ValueError(f"draw_graph: format must be text, dot, svg, png or html; got "
                         f"{format!r}")
    nodes = build_graph(output, names)
    if format in ("text", "html"):
        text = to_text(nodes) if format == "text" else to_html(nodes)
    else:
        text = to_dot(nodes)
    if path is not None:
        if format in ("text", "html"):
            with atomic_write(path, "w") as f:
                f.write(text if format == "html" else text + "\n")
        else:
            render(text, path, format)
    return Drawing(text, nodes)
