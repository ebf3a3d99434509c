"""Write the tutorials in docs/notebooks/ from their sources in tools/notebooks/.

Each source is a Python file in the "percent" format that editors and jupytext read: a
line ``# %%`` starts a code cell, ``# %% [markdown]`` a Markdown cell whose lines are
comments (the leading ``# `` is removed). The notebooks are written as plain nbformat 4.5
JSON without outputs or execution counts, with cell ids numbered in order, so the same
sources always give the same bytes: tests/test_tutorials.py checks that every stored
notebook is what this script makes, and runs each one in a Jupyter kernel.

    python tools/make_notebooks.py           # (re)write docs/notebooks/*.ipynb
    python tools/make_notebooks.py --check   # exit 1 naming each notebook that differs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "tools" / "notebooks"
NOTEBOOKS = ROOT / "docs" / "notebooks"
MARKER = "# %%"
METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def _lines(text: str) -> list[str]:
    """nbformat's form of a cell's source: its lines, each but the last ending in \\n."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]] if text else []


def _markdown(lines: list[str], where: str) -> str:
    out = []
    for line in lines:
        if line != "#" and not line.startswith("# "):
            raise ValueError(f"{where}: a Markdown cell's lines must be comments: {line!r}")
        out.append(line[2:])
    return "\n".join(out)


def split_cells(source: str, where: str) -> list[tuple[str, str]]:
    """The (kind, text) of each cell of a percent-format source; ``where`` names it in
    errors. Blank lines around a cell are dropped; text before the first marker is an
    error (it would belong to no cell)."""
    cells: list[tuple[str, list[str]]] = []
    for number, line in enumerate(source.splitlines(), 1):
        if line.startswith(MARKER):
            tag = line[len(MARKER):].strip()
            if tag not in ("", "[markdown]"):
                raise ValueError(f"{where}:{number}: unknown cell marker {line!r}")
            cells.append(("markdown" if tag else "code", []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"{where}:{number}: text before the first {MARKER!r} marker")
    result = []
    for kind, lines in cells:
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            text = _markdown(text.split("\n"), where) if text else ""
        if not text.strip():
            raise ValueError(f"{where}: an empty {kind} cell")
        result.append((kind, text))
    return result


def notebook(source: str, where: str) -> dict[str, Any]:
    """The nbformat 4.5 notebook of a percent-format source, without outputs."""
    cells = []
    for i, (kind, text) in enumerate(split_cells(source, where), 1):
        cell: dict[str, Any] = {"cell_type": kind, "id": f"cell-{i:02d}", "metadata": {},
                                "source": _lines(text)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"cells": cells, "metadata": METADATA, "nbformat": 4, "nbformat_minor": 5}


def dumps(nb: dict[str, Any]) -> str:
    """The JSON text as nbformat writes it (one-space indent, sorted keys, a final
    newline), so saving the notebook from Jupyter unchanged leaves the file alone."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def expected() -> dict[Path, str]:
    """Each notebook's path and the text this script writes there."""
    return {NOTEBOOKS / f"{src.stem}.ipynb": dumps(notebook(src.read_text("utf-8"),
                                                           str(src.relative_to(ROOT))))
            for src in sorted(SOURCES.glob("*.py"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a notebook differs from its source")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected().items():
        current = path.read_text("utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
    for path in stale:
        verb = "differs from its source" if args.check else "written"
        print(f"{path.relative_to(ROOT)}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
