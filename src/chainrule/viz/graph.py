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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._io import atomic_write
from chainrule.autograd.engine import grad
from chainrule.autograd.function import Function
from chainrule.autograd.mode import no_grad
from chainrule.autograd.tensor import Tensor

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


@dataclass
class Node:
    """A value in the graph: a leaf (named input or parameter) or an op's output."""

    key: int
    label: str
    value: np.ndarray
    grad: np.ndarray | None
    op: str | None = None
    inputs: list[tuple[int, np.ndarray | None]] = field(default_factory=list)  # (key, edge grad)


def _fmt(a: np.ndarray | None) -> str:
    if a is None:
        return "-"
    a = np.asarray(a)
    if a.size == 1:
        return f"{float(a.reshape(())):.4g}"
    if a.size <= 6:
        return np.array2string(a, precision=3, separator=", ").replace("\n", "")
    return f"array{a.shape}"


def _collect(root: Tensor) -> list[Tensor]:
    """Every tensor reachable from ``root`` through grad_fn, inputs before outputs."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t.grad_fn is not None and t.grad_fn.inputs is not None:
            # pushed last to first, so the first input is visited (and listed) first: the
            # drawing keeps the expression's order of operands
            for x in reversed(t.grad_fn.inputs):
                if id(x) not in seen:
                    stack.append((x, False))
    return order


def build_graph(output: Tensor, names: Mapping[str, Tensor] | None = None) -> list[Node]:
    """The nodes of ``output``'s graph with values and gradients (output's gradient is 1).

    ``names`` labels leaves (e.g. ``dict(model.named_parameters())``); other leaves
    are labelled by shape. The graph must not have been released by a backward.
    """
    if output.grad_fn is None:
        raise ValueError("draw_graph: the tensor has no graph (it was not computed from "
                         "tensors that require grad)")
    if output.grad_fn.inputs is None:
        raise ValueError("draw_graph: the graph was released by backward(); build it again "
                         "or call backward(retain_graph=True)")
    tensors = _collect(output)
    label_of = {id(t): n for n, t in (names or {}).items()}
    wanted = [t for t in tensors if t.requires_grad]
    seed = np.ones(output.shape, output.dtype)
    grads = grad(output, wanted, seed, retain_graph=True, allow_unused=True)
    grad_of = {id(t): (None if g is None else g.data) for t, g in zip(wanted, grads, strict=True)}
    nodes = []
    for t in tensors:
        fn: Function | None = t.grad_fn
        if fn is None:
            label = label_of.get(id(t), "const" if not t.requires_grad else f"x{t.shape}")
            nodes.append(Node(id(t), label, t.data, grad_of.get(id(t))))
            continue
        node = Node(id(t), op_label(fn.name), t.data, grad_of.get(id(t)), op=fn.name)
        edges = _edge_grads(fn, grad_of)
        node.inputs = [(id(x), g) for x, g in zip(fn.inputs, edges, strict=True)]
        nodes.append(node)
    return nodes


def _edge_grads(fn: Function, grad_of: dict) -> list[np.ndarray | None]:
    """What the node sends back along each input edge: its upstream gradient times its
    local derivative for that input (the node's own backward, applied once). Two edges
    from the same value (x * x) each get their own share."""
    upstream = []
    for ref in fn.outputs:
        out = ref()
        g = None if out is None else grad_of.get(id(out))
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


def to_dot(nodes: list[Node]) -> str:
    """Graphviz DOT: values in the boxes, gradients on the edges."""
    # ordering=in: each node's inputs drawn in the order of its in-edges, the operands' order
    lines = ["digraph chainrule {", '  rankdir="LR";', '  ordering="in";',
             f'  node [fontname="{FONT}"];', f'  edge [fontname="{FONT}"];']
    number = {n.key: i for i, n in enumerate(nodes)}  # stable names, not memory addresses
    for n in nodes:
        shape = "ellipse" if n.op else "box"
        text = f"{n.label}\\nvalue {_fmt(n.value)}\\ngrad {_fmt(n.grad)}".replace('"', "'")
        lines.append(f'  n{number[n.key]} [label="{text}", shape={shape}];')
    for n in nodes:
        for child, g in n.inputs:
            lines.append(f'  n{number[child]} -> n{number[n.key]} [label="{_fmt(g)}"];')
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
    with atomic_write(path, "wb") as f:
        f.write(result.stdout)
    return path


def _depths(nodes: list[Node]) -> dict[int, int]:
    """Each node's column: leaves 0, an op one right of its deepest input."""
    depth: dict[int, int] = {}
    for n in nodes:  # inputs come before the nodes that use them
        depth[n.key] = 1 + max((depth[k] for k, _ in n.inputs), default=-1)
    return depth


def _graph_diagram(nodes: list[Node], number: dict[int, int]) -> Any:
    from chainrule.explainer.page import Diagram

    depth = _depths(nodes)
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


def _values(a: np.ndarray | None) -> list[float]:
    return [] if a is None else [float(f"{v:.6g}") for v in np.asarray(a).reshape(-1)]


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


def draw_graph(output: Tensor, format: str = "text", path: str | os.PathLike | None = None,
               names: Mapping[str, Tensor] | None = None) -> str:
    """The graph of ``output`` as text, DOT or an interactive HTML page (returned), or
    written as SVG/PNG/DOT/HTML to ``path``.

    ``names`` labels leaves, e.g. ``dict(model.named_parameters())``.
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
    return text
