"""A small built-in layout of the computational graph as SVG, for where Graphviz is not
installed (a notebook still shows a picture).

The layout is layered like Graphviz's ``rankdir=LR``: each op one column right of its
deepest input, each leaf one column left of its first user. Within a column the boxes are
ordered by the mean height of their neighbours (a barycentre pass each way), which
removes most crossings of small expression graphs. Each edge is a curve from the input's
right side to the op's left side, one end point per operand (so the two edges of
``x * x`` stay apart), with its gradient written just before its arrow. No ids and no
style sheet: several drawings in one page cannot clash.
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

CHAR_WIDTH = 7.0  # px per character at FONT_SIZE in a sans-serif font (a generous average)
FONT_SIZE = 12
LINE_HEIGHT = 16
PAD = 8  # inside a box, around the text
ROW_GAP = 24  # between boxes of a column
MIN_COLUMN_GAP = 60  # between columns; widened to fit the longest edge label
MARGIN = 12


@dataclass
class Box:
    """One node as drawn: its text lines (label, value, gradient), whether it is an op
    (rounded) or a value (square), and per input the input's key and the edge's label."""

    key: Hashable
    lines: tuple[str, ...]
    op: bool
    inputs: list[tuple[Hashable, str]] = field(default_factory=list)


def depths(nodes: Sequence) -> dict[Hashable, int]:
    """Each node's column: leaves 0, an op one right of its deepest input (``nodes`` lists
    inputs before the nodes that use them; each has ``key`` and ``inputs`` of (key, ...))."""
    depth: dict[Hashable, int] = {}
    for n in nodes:
        depth[n.key] = 1 + max((depth[k] for k, _ in n.inputs), default=-1)
    return depth


def _columns(boxes: Sequence[Box]) -> list[list[Box]]:
    """The boxes by column: an op at its ``depths``, a leaf just left of its first user."""
    depth = depths(boxes)
    users: dict[Hashable, list[Hashable]] = {}
    for b in boxes:
        for k, _ in b.inputs:
            users.setdefault(k, []).append(b.key)
    for b in boxes:
        if not b.inputs and b.key in users:  # like Graphviz: not far left of its use
            depth[b.key] = min(depth[u] for u in users[b.key]) - 1
    columns: list[list[Box]] = [[] for _ in range(max(depth.values()) + 1)]
    for b in boxes:
        columns[depth[b.key]].append(b)
    return [c for c in columns if c]


def _order(columns: list[list[Box]], height: float, total: float) -> dict[Hashable, float]:
    """Order each column to keep edges short and few crossing, and return each box's top.

    Left to right, an op goes to the mean height of its inputs; then right to left, a
    leaf goes to the mean height of its users (an op keeps its place). Sorting is
    stable, so ties keep the expression's order."""
    top: dict[Hashable, float] = {}
    users: dict[Hashable, list[Hashable]] = {}

    def place(column: list[Box]) -> None:
        y = (total - len(column) * height - (len(column) - 1) * ROW_GAP) / 2
        for b in column:
            top[b.key] = y
            y += height + ROW_GAP

    for column in columns:
        column.sort(key=lambda b: sum(top[k] for k, _ in b.inputs) / len(b.inputs)
                    if b.inputs else float("inf"))
        place(column)
        for b in column:
            for k, _ in b.inputs:
                users.setdefault(k, []).append(b.key)
    for column in reversed(columns[:-1]):
        column.sort(key=lambda b: top[b.key] if b.inputs or b.key not in users else
                    sum(top[u] for u in users[b.key]) / len(users[b.key]))
        place(column)
    return top


def _text_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def to_svg(boxes: Sequence[Box]) -> str:
    """The SVG document of the graph (see the module docstring for the layout)."""
    columns = _columns(boxes)
    height = 2 * PAD + LINE_HEIGHT * max(len(b.lines) for b in boxes)
    tallest = max(len(c) for c in columns)
    total_h = 2 * MARGIN + tallest * height + (tallest - 1) * ROW_GAP
    top = _order(columns, height, total_h)
    # a column holding an op is wider by its rounded ends; a gap fits its edges' labels
    widths = [2 * PAD + max(_text_width(t) for b in c for t in b.lines)
              + (height / 2 if any(b.op for b in c) else 0) for c in columns]
    gaps = [max([MIN_COLUMN_GAP] + [_text_width(t) + 2 * PAD for b in c for _, t in b.inputs])
            for c in columns[1:]] + [0]
    place: dict[Hashable, tuple[float, float, float]] = {}  # key: left, top, width
    left = MARGIN
    for column, width, gap in zip(columns, widths, gaps, strict=True):
        for b in column:
            place[b.key] = (left, top[b.key], width)
        left += width + gap
    total_w = left + MARGIN
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" '
             f'height="{total_h:.0f}" viewBox="0 0 {total_w:.0f} {total_h:.0f}" '
             f'font-family="Helvetica, Arial, sans-serif" font-size="{FONT_SIZE}">',
             "<title>computational graph: values and gradients</title>",
             f'<rect width="{total_w:.0f}" height="{total_h:.0f}" fill="white"/>']
    for b in boxes:
        parts += _edges(b, place, height)
    for b in boxes:
        parts += _box(b, place[b.key], height)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _edges(b: Box, place: dict, height: float) -> list[str]:
    """The curves into ``b``, one end point per operand, each labelled with its gradient."""
    left, top, _ = place[b.key]
    out = []
    for slot, (key, label) in enumerate(b.inputs):
        x0 = place[key][0] + place[key][2]
        y0 = place[key][1] + height / 2
        x1, y1 = left, top + height * (slot + 1) / (len(b.inputs) + 1)
        bend = (x1 - x0) / 2
        out.append(f'<path d="M{x0:.1f},{y0:.1f} C{x0 + bend:.1f},{y0:.1f} '
                   f'{x1 - bend:.1f},{y1:.1f} {x1 - 7:.1f},{y1:.1f}" fill="none" '
                   f'stroke="#555"/>')
        out.append(f'<polygon points="{x1:.1f},{y1:.1f} {x1 - 8:.1f},{y1 - 4:.1f} '
                   f'{x1 - 8:.1f},{y1 + 4:.1f}" fill="#555"/>')
        # above the curve's last, level stretch, where the operands' end points are apart
        out.append(f'<text x="{x1 - 10:.1f}" y="{y1 - 4:.1f}" text-anchor="end" '
                   f'fill="#a33">{html.escape(label)}</text>')
    return out


def _box(b: Box, at: tuple[float, float, float], height: float) -> list[str]:
    left, top, width = at
    corner = height / 2 if b.op else 2
    fill = "#eef4fb" if b.op else "#fdf6e3"
    out = [f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" '
           f'rx="{corner:.1f}" fill="{fill}" stroke="#333"/>']
    first = top + PAD + LINE_HEIGHT - 4  # the baseline of the first line
    for i, line in enumerate(b.lines):
        weight = ' font-weight="bold"' if i == 0 else ""
        out.append(f'<text x="{left + width / 2:.1f}" y="{first + i * LINE_HEIGHT:.1f}" '
                   f'text-anchor="middle"{weight}>{html.escape(line)}</text>')
    return out
