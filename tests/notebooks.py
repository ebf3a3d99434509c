"""Executing notebooks in a real Jupyter kernel (nbclient + ipykernel), for the tests.

``run_notebook(cells)`` runs code cells given as strings and returns each cell's
outputs; ``execute(notebook)`` runs a notebook (an ``nbformat`` node, e.g. one of
docs/notebooks/) in place. Both fail on the first cell that raises, with its traceback,
and skip the test, saying why, where nbclient, nbformat or ipykernel is missing or a
kernel cannot start. The kernel imports this checkout's chainrule (``src/`` first on its
PYTHONPATH), whichever copy is installed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
TIMEOUT = 60  # seconds per cell


def _modules() -> tuple[Any, Any]:
    """nbformat and nbclient's NotebookClient, or a skip naming what is missing."""
    try:
        import ipykernel  # noqa: F401 - the kernel nbclient starts
        import nbformat
        from nbclient import NotebookClient
    except ImportError as e:
        pytest.skip(f"executing notebooks needs nbclient, nbformat and ipykernel (the test "
                    f"extra: pip install -e '.[test]'): {e}")
    return nbformat, NotebookClient


def kernel_env() -> dict[str, str]:
    """The environment of the kernel: this process's, with ``src/`` first on PYTHONPATH,
    and matplotlib left to pick its own backend (the inline one in a kernel)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env.pop("MPLBACKEND", None)  # the kernel picks matplotlib's inline backend itself
    return env


def execute(notebook: Any, cwd: str | os.PathLike | None = None, timeout: int = TIMEOUT
            ) -> Any:
    """Run every cell of ``notebook`` (an nbformat node, changed in place: outputs are
    filled in) in a fresh kernel started in ``cwd``; the notebook."""
    _, NotebookClient = _modules()
    resources = {"metadata": {"path": str(cwd)}} if cwd is not None else {}
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources=resources)
    client.reset_execution_trackers()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(client.setup_kernel(env=kernel_env()))
        except Exception as e:  # no kernelspec, a port or a process that will not start
            pytest.skip(f"a Jupyter kernel could not start here: {type(e).__name__}: {e}")
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
    return notebook


def run_notebook(cells: list[str], cwd: str | os.PathLike | None = None,
                 timeout: int = TIMEOUT) -> list[list[dict[str, Any]]]:
    """Run ``cells`` (Python source, one string per code cell) as a notebook; the outputs
    of each cell (nbformat's dicts: ``output_type`` "stream", "display_data",
    "execute_result" with their ``data`` by MIME type)."""
    nbformat, _ = _modules()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    execute(notebook, cwd, timeout)
    return [cell.outputs for cell in notebook.cells]


def rich_data(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The MIME bundles a cell displayed or returned, merged: {"image/png": ..., ...}."""
    data: dict[str, Any] = {}
    for output in outputs:
        if output["output_type"] in ("display_data", "execute_result"):
            data.update(output["data"])
    return data


def stream_text(outputs: list[dict[str, Any]], name: str = "stdout") -> str:
    """What a cell printed on ``name`` ("stdout" or "stderr")."""
    return "".join(o["text"] for o in outputs
                   if o["output_type"] == "stream" and o["name"] == name)
