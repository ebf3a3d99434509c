"""``CurvesFigure``: the Figure that ``History.plot`` draws, displayed by Jupyter by itself.

A module of its own so that matplotlib is imported only when a picture is asked for
(``chainrule.train.history`` imports this lazily).
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


class CurvesFigure(Figure):
    """A matplotlib Figure drawn by Agg, outside pyplot, with ``_repr_png_``.

    Jupyter shows a Figure as image/png through a printer that matplotlib's inline backend
    registers only once pyplot has been imported; this one is made without pyplot (so it
    never changes the user's backend, is never shown twice by the inline backend's
    end-of-cell display, and needs no ``plt.close``), so it carries its own PNG.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)  # draws without any display

    def _repr_png_(self) -> bytes:
        """The PNG that ``History.plot(path)`` writes: 100 dpi, the figure's own size."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()
