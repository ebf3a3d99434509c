"""Writing any report (an MLP ``Derivation`` or a ``BPTT``) in a format."""

from __future__ import annotations

from typing import Any

from chainrule.explainer.render import render


def write(d: Any, fmt: str, columns: bool = False) -> str:
    """The report ``d`` as text, markdown or html."""
    from chainrule.explainer.bptt import BPTT, render_bptt

    if isinstance(d, BPTT):
        return render_bptt(d, fmt)
    return render(d, fmt, columns)


def fragment(d: Any, columns: bool = False) -> str:
    """The html of ``d`` for embedding (Jupyter)."""
    return write(d, "html", columns)
