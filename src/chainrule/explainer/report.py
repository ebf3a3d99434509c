"""What ``chainrule.explain`` returns: the text, which also knows its derivation, so that
Jupyter shows the interactive page (``_repr_html_``) or the Markdown (``_repr_markdown_``)
while ``str()``, printing and comparisons stay the plain text."""

from __future__ import annotations

import os
from typing import Any


class Report(str):
    """The rendered text (a ``str``) and the checked numbers it was written from.

    ``derivation``: a ``Derivation`` or a ``BPTT``; ``columns``: the layout it was
    written in; ``lang``: the language of its words."""

    derivation: Any
    columns: bool
    lang: str

    def __new__(cls, text: str, derivation: Any, columns: bool = False, lang: str = "en"
                ) -> Report:
        self = super().__new__(cls, text)
        self.derivation, self.columns, self.lang = derivation, columns, lang
        return self

    def _repr_html_(self) -> str:
        from chainrule.explainer.page import fragment

        return fragment(self.derivation, self.columns, self.lang)

    def _repr_markdown_(self) -> str:
        from chainrule.explainer.page import write

        return write(self.derivation, "markdown", self.columns, lang=self.lang)


def report(model: Any, x: Any, y: Any = None, loss: Any = None, *, lr: float = 0.5,
           l1: float = 0.0, l2: float = 0.0, columns: bool = False, format: str = "text",
           steps: int = 1, per_example: bool = False, lang: str = "en") -> Report:
    """``chainrule.explain``: derive (a model, or the path of a saved one), then write in
    language ``lang`` (``messages.LANGUAGES``)."""
    from chainrule.explainer.derivation import derive
    from chainrule.explainer.messages import check_language
    from chainrule.explainer.model_file import derive_model_file
    from chainrule.explainer.page import write

    check_language(lang, "explain")

    options: dict[str, Any] = {"lr": lr, "l1": l1, "l2": l2, "steps": steps,
                               "per_example": per_example}
    if isinstance(model, (str, os.PathLike)):
        d = derive_model_file(model, x, y, loss, **options)
    else:
        if y is None:
            raise ValueError("explain: give the targets y (one row per example, or class "
                             "indices); only a saved model file can do without them")
        d = derive(model, x, y, "cross-entropy" if loss is None else loss, **options)
    return Report(write(d, format, columns, lang=lang), d, columns, lang)
