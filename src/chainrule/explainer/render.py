"""Writing a ``Derivation`` out as plain text, Markdown with LaTeX, or one HTML page."""

from __future__ import annotations

import html
import unicodedata
from typing import Any

import numpy as np

from chainrule.explainer.derivation import Check, CheckedReport, Derivation, LayerMath
from chainrule.explainer.messages import Words, words
from chainrule.nn.activation import get_activation

# (text, LaTeX, text, LaTeX) of the loss and delta^(L), and the words after delta^(L)
LOSS_TEXT = {
    "mse": ("L = 1/(2m) sum ||A^(L) - Y||^2", r"L = \frac{1}{2m}\sum \lVert A^{(L)} - Y\rVert^2",
            "delta^(L) = (A^(L) - Y) * f'(Z^(L))",
            r"\delta^{(L)} = (A^{(L)} - Y) \odot f'(Z^{(L)})"),
    "bce": ("L = -1/m sum [Y log A^(L) + (1 - Y) log(1 - A^(L))]",
            r"L = -\frac{1}{m}\sum \left[Y \log A^{(L)} + (1 - Y)\log(1 - A^{(L)})\right]",
            "delta^(L) = A^(L) - Y", r"\delta^{(L)} = A^{(L)} - Y"),
    "cross-entropy": ("L = -1/m sum Y log A^(L),  A^(L) = softmax(Z^(L))",
                      r"L = -\frac{1}{m}\sum Y \log A^{(L)},\quad A^{(L)} = "
                      r"\mathrm{softmax}(Z^{(L)})",
                      "delta^(L) = A^(L) - Y", r"\delta^{(L)} = A^{(L)} - Y"),
}
DELTA_NOTE = {"bce": "loss.bce_cancels", "cross-entropy": "loss.softmax_cross_entropy"}


def loss_formulas(d: Derivation, w: Words | None = None) -> tuple[str, str, str, str]:
    """The loss and delta^(L) formulas (text, LaTeX, text, LaTeX) of the derivation's loss:
    the textbook ones, scaled as nn.MSELoss and nn.BCELoss average over the n outputs too,
    and naming the softmax/sigmoid the loss applies to raw scores; in the words of ``w``."""
    w = w or words()
    spec = d.spec
    if spec is None or (spec.scale == 1 and not spec.logits):
        texts = list(LOSS_TEXT[d.loss_name])
        if d.loss_name in DELTA_NOTE:
            texts[2] += w(DELTA_NOTE[d.loss_name])
        return tuple(texts)
    name, per_entry = d.loss_name, spec.scale != 1
    if name == "mse":
        mean, mean_tex = ("1/(m n)", r"\frac{1}{mn}") if per_entry else ("1/(2m)", r"\frac{1}{2m}")
        texts = [f"L = {mean} sum ||A^(L) - Y||^2",
                 mean_tex.join([r"L = ", r"\sum \lVert A^{(L)} - Y\rVert^2"]),
                 f"delta^(L) = {'2/n ' if per_entry else ''}(A^(L) - Y) * f'(Z^(L))",
                 r"\delta^{(L)} = " + (r"\frac{2}{n}" if per_entry else "")
                 + r"(A^{(L)} - Y) \odot f'(Z^{(L)})"]
    elif name == "bce":
        mean, mean_tex = ("1/(m n)", r"\frac{1}{mn}") if per_entry else ("1/m", r"\frac{1}{m}")
        texts = [f"L = -{mean} sum [Y log A^(L) + (1 - Y) log(1 - A^(L))]",
                 rf"L = -{mean_tex}\sum \left[Y \log A^{{(L)}} + (1 - Y)\log(1 - A^{{(L)}})"
                 r"\right]",
                 "delta^(L) = (A^(L) - Y)" + (" / n" if per_entry else ""),
                 (r"\delta^{(L)} = \frac{1}{n}(A^{(L)} - Y)" if per_entry else
                  r"\delta^{(L)} = A^{(L)} - Y")]
    else:
        texts = ["L = -1/m sum Y log A^(L)", r"L = -\frac{1}{m}\sum Y \log A^{(L)}",
                 "delta^(L) = A^(L) - Y", r"\delta^{(L)} = A^{(L)} - Y"]
    if per_entry:
        n = d.Y.shape[1]
        texts[0] += w("loss.per_entry", label=spec.label, n=n)
        texts[1] += rf",\quad n = {n}"
    if spec.logits:
        f = "softmax" if name == "cross-entropy" else "sigmoid"
        texts[0] += w("loss.logits", f=f)
        texts[1] += rf",\quad A^{{(L)}} = \mathrm{{{f}}}(Z^{{(L)}})"
        texts[2] += w("loss.logits_delta", f=f,
                      loss="cross-entropy" if f == "softmax" else "bce")
    return tuple(texts)


def _parameter(layer: LayerMath) -> tuple[str, str]:
    """The activation's parameter as text and LaTeX, e.g. ', s = 0.01' (none: empty)."""
    if layer.param is None:
        return "", ""
    text, latex = get_activation(layer.activation).symbol
    return f", {text} = {layer.param:g}", rf",\ {latex} = {layer.param:g}"


def _derivative(layer: LayerMath, w: Words) -> tuple[str, str]:
    """f'(Z) of the layer's activation in text and LaTeX, with its parameter's value."""
    cls = get_activation(layer.activation)
    text, latex = cls.derivative_text, cls.derivative_latex
    p_text, p_latex = _parameter(layer)
    return (w("mlp.derivative", formula=text, activation=layer.activation, param=p_text),
            rf"f'(Z) = {latex}{p_latex}")


def in_layout(a: np.ndarray, columns: bool) -> np.ndarray:
    """A matrix with one example per row (X, Y, Z, A, delta, dA), transposed for columns."""
    return a.T if columns else a


def vector_in_layout(a: np.ndarray, columns: bool) -> np.ndarray:
    """A bias or db vector: a row in the rows layout, a column in the columns layout."""
    return a.reshape(-1, 1) if columns else a.reshape(1, -1)


# Text and Markdown show a matrix of more rows (columns) than this as its first
# SHOWN_ROWS rows (SHOWN_COLUMNS columns) and its shape, unless asked for every entry
# (--full): 150 examples would otherwise print each of X, Y, Z, A, delta in full.
MAX_ROWS, SHOWN_ROWS, MAX_COLUMNS, SHOWN_COLUMNS = 10, 5, 12, 8


def summarized(a: np.ndarray, full: bool = False, w: Words | None = None
               ) -> tuple[np.ndarray, str]:
    """The part of the 2-D ``a`` to print and a note saying what was left out ("" when
    all of it is shown, always with ``full``), in the words of ``w``."""
    a = np.atleast_2d(a)
    rows, cols = a.shape
    cut_rows = not full and rows > MAX_ROWS
    cut_cols = not full and cols > MAX_COLUMNS
    if not (cut_rows or cut_cols):
        return a, ""
    shown = a[:SHOWN_ROWS if cut_rows else rows, :SHOWN_COLUMNS if cut_cols else cols]
    w = w or words()
    parts = ([w("matrix.first_rows", n=SHOWN_ROWS)] if cut_rows else []) + (
        [w("matrix.first_columns", n=SHOWN_COLUMNS)] if cut_cols else [])
    return shown, w("matrix.cut", rows=rows, columns=cols, parts=w("matrix.and").join(parts))


def display_width(text: str) -> int:
    """The columns ``text`` takes in a terminal: wide (CJK) characters take two, so the
    rows of a matrix named in Chinese line up under its first one."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# Differences below these are round-off (a few units in the last place of float64, and
# for central differences the eps/h of their subtraction): their digits change with the
# BLAS kernel and the order of the sums, so a passed check prints the bound, not the digits.
ROUND_OFF = 1e-12  # formula vs autograd
NUMERIC_ROUND_OFF = 1e-8  # formula vs central differences


def difference_text(diff: float, round_off: float) -> str:
    """``diff`` as '< 1e-12' when it is round-off, else with two significant digits."""
    return f"< {round_off:.0e}" if diff < round_off else f"{diff:.1e}"


def check_text(c: Check, w: Words | None = None) -> str:
    """One check's verdict: '✓ ... matches autograd ...' or '✗ FAILED: ...'."""
    w = w or words()
    if c.ok:
        return w("verdict.ok", name=c.name, autograd=difference_text(c.diff_autograd, ROUND_OFF),
                 numeric=difference_text(c.diff_numeric, NUMERIC_ROUND_OFF))
    return w("verdict.failed", name=c.name, autograd=c.diff_autograd, numeric=c.diff_numeric)


class Document:
    """Collects the blocks of a derivation (headings, lines with an optional LaTeX form,
    named matrices, check verdicts) and writes them out; one subclass per format."""

    def __init__(self, lang: str | Words = "en") -> None:
        self.parts: list[str] = []
        self.full = False  # every entry of large matrices (text and markdown summarize)
        self.words = words(lang)

    def heading(self, text: str) -> None:
        self.parts.append(f"\n== {text} ==")

    def line(self, text: str, latex: str | None = None) -> None:
        self.parts.append(text)

    def matrix(self, name: str, latex_name: str, a: np.ndarray) -> None:
        shown, note = summarized(a, self.full, self.words)
        body = np.array2string(shown, precision=4, floatmode="fixed", suppress_small=True,
                               max_line_width=120, threshold=shown.size + 1)
        pad = " " * (display_width(name) + 3)
        self.parts.append(f"{name} = " + body.replace("\n", "\n" + pad)
                          + (f"\n{pad}{note}" if note else ""))

    def check(self, c: Check) -> None:
        self.parts.append(check_text(c, self.words))

    def render(self, title: str) -> str:
        return title + "\n" + "\n".join(self.parts) + "\n"


class MarkdownDocument(Document):
    """Markdown with the formulas and matrices as LaTeX ($$ ... $$)."""

    def heading(self, text: str) -> None:
        self.parts.append(f"\n## {text}\n")

    def line(self, text: str, latex: str | None = None) -> None:
        self.parts.append(f"$$ {latex} $$" if latex else text + "\n")

    def matrix(self, name: str, latex_name: str, a: np.ndarray) -> None:
        shown, note = summarized(a, self.full, self.words)
        cells = [[f"{v:.4f}" for v in row] for row in shown]
        if shown.shape[1] < np.atleast_2d(a).shape[1]:
            cells = [row + [r"\cdots"] for row in cells]
        if shown.shape[0] < np.atleast_2d(a).shape[0]:
            cells.append([r"\vdots"] * len(cells[0]))
        rows = r" \\ ".join(" & ".join(row) for row in cells)
        self.parts.append(f"$$ {latex_name} = \\begin{{bmatrix}} {rows} \\end{{bmatrix}} $$"
                          + (f"\n{note}\n" if note else ""))

    def check(self, c: Check) -> None:
        bold = "" if c.ok else "**"
        self.parts.append(bold + check_text(c, self.words) + bold + "\n")

    def render(self, title: str) -> str:
        return f"# {title}\n" + "\n".join(self.parts) + "\n"


class HtmlDocument(Document):
    """HTML blocks: formulas typeset as MathML (the text form kept as a tooltip), matrices
    as tables; ``render`` of a whole derivation makes them the interactive page
    (explainer.page)."""

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def line(self, text: str, latex: str | None = None) -> None:
        from chainrule.explainer.mathml import to_mathml

        self.parts.append(f"<div class='f' title='{html.escape(text)}'>{to_mathml(latex)}</div>"
                          if latex else f"<p>{html.escape(text)}</p>")

    def matrix(self, name: str, latex_name: str, a: np.ndarray) -> None:
        from chainrule.explainer.mathml import to_mathml

        cells = "".join("<tr>" + "".join(f"<td>{v:.4f}</td>" for v in row) + "</tr>"
                        for row in np.atleast_2d(a))
        self.parts.append(f"<div class='m' title='{html.escape(name)}'>"
                          f"{to_mathml(latex_name + ' =', display=False)}"
                          f"<table>{cells}</table></div>")

    def check(self, c: Check) -> None:
        kind = "ok" if c.ok else "bad"
        self.parts.append(f"<p class='{kind}'>{html.escape(check_text(c, self.words))}</p>")

    def render(self, title: str) -> str:
        return "\n".join(self.parts)


FORMATS: dict[str, type[Document]] = {"text": Document, "markdown": MarkdownDocument,
                                      "html": HtmlDocument}


def document(fmt: str, lang: str | Words = "en") -> Document:
    """An empty document in ``fmt`` ('text', 'markdown' or 'html') and language ``lang``."""
    if fmt not in FORMATS:
        raise ValueError(f"explain: format must be text, markdown or html, got {fmt!r}")
    return FORMATS[fmt](lang)


def write_sections(fmt: str, title: str, sections: list, checks: list[Check],
                   detail: str, lang: str | Words = "en", embedded: bool = False) -> str:
    """A fixed small derivation (the convolution's, the attention head's) in ``fmt``: each of
    ``sections`` writes into one document, then the summary of ``checks``; html is a
    standalone page, as every derivation's html is, or with ``embedded`` one <div> for a
    notebook cell. ``title`` and ``detail`` (the words after the count of checks) are
    written in ``lang`` when they are Messages."""
    doc = document(fmt, lang)
    title = doc.words.text(title)
    for write in sections:
        write(doc)
    doc.heading(doc.words("heading.summary"))
    doc.line(summary(checks, doc.words.text(detail), doc.words))
    if fmt == "html":
        from chainrule.explainer.page import full_page, static_fragment

        div = static_fragment(title, doc.render(title))
        return div if embedded else full_page(title, div)
    return doc.render(title)


class SectionsReport(CheckedReport):
    """A fixed small derivation that ``write_sections`` writes (the convolution's, the
    attention head's): ``str()`` is its text; Jupyter shows its HTML or its Markdown."""

    def render(self, fmt: str = "text", lang: str = "en", embedded: bool = False) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render("text")

    def _repr_markdown_(self) -> str:
        return self.render("markdown")

    def _repr_html_(self) -> str:  # one <div>, its own id: several fit in one notebook
        return self.render("html", embedded=True)


def render(d: Derivation, fmt: str = "text", columns: bool = False, full: bool = False,
           lang: str | Words = "en") -> str:
    """The derivation in ``fmt`` ('text', 'markdown' or 'html': the interactive page),
    samples as rows or columns; text and markdown show large matrices as their first rows
    and shape unless ``full``; the words in language ``lang``."""
    if fmt == "html":
        from chainrule.explainer.page import mlp_page

        return mlp_page(d, columns, lang)
    doc = document(fmt, lang)
    w = doc.words
    doc.full = full
    section_notation(doc, d, columns)
    _forward(doc, d, columns)
    section_loss(doc, d)
    doc.heading(w("heading.backward"))
    for layer in reversed(d.layers):
        _backward(doc, d, layer, columns)
    if d.per_example is not None:
        section_per_example(doc, d, columns)
    section_update(doc, d, columns)
    if len(d.losses) > 2:
        doc.heading(w("mlp.steps", n=len(d.losses) - 1))
        for k, value in enumerate(d.losses):
            doc.line(w("mlp.after_step", k=k, loss=value) if k else
                     w("mlp.before_first_step", loss=value))
    doc.heading(w("heading.summary"))
    doc.line(summary(d.checks, "", w))
    return doc.render(w("mlp.title"))


def section_notation(doc: Document, d: Derivation, columns: bool) -> None:
    """The sizes, the layout, the hyperparameters and the forward equations."""
    w, layers = doc.words, d.layers
    sizes = [d.X.shape[1]] + [layer.W.shape[0] for layer in layers]
    doc.heading(w("heading.notation"))
    doc.line(w("mlp.sizes", layers=len(layers), sizes=" -> ".join(map(str, sizes)), m=len(d.X),
               layout=w("mlp.layout.columns" if columns else "mlp.layout.rows"),
               loss=loss_label(d), lr=d.lr)
             + (w("mlp.l2", l2=d.l2) if d.l2 else "") + (w("mlp.l1", l1=d.l1) if d.l1 else "")
             + ("" if d.l1 or d.l2 else w("mlp.no_regularization")))
    if columns:
        doc.line("Z^(l) = W^(l) A^(l-1) + b^(l),  A^(l) = f(Z^(l)),  A^(0) = X",
                 r"Z^{(l)} = W^{(l)} A^{(l-1)} + b^{(l)},\quad A^{(l)} = f(Z^{(l)})")
    else:
        doc.line("Z^(l) = A^(l-1) W^(l)T + b^(l),  A^(l) = f(Z^(l)),  A^(0) = X",
                 r"Z^{(l)} = A^{(l-1)} W^{(l)\top} + b^{(l)},\quad A^{(l)} = f(Z^{(l)})")
    raw = d.spec is not None and d.spec.logits
    for layer in layers:
        what = (w("mlp.activation", activation=layer.activation, param=_parameter(layer)[0])
                if not (raw and layer is layers[-1]) else
                w("mlp.raw_scores", activation=layer.activation))
        doc.line(w("mlp.layer", i=layer.index, shape=layer.W.shape, what=what))
    for note in d.notes:
        doc.line(w.text(note))


def loss_label(d: Derivation) -> str:
    """The loss as the caller gave it: 'cross-entropy', 'nn.MSELoss() (mse)', ..."""
    label = d.spec.label if d.spec is not None else d.loss_name
    return label if label in (d.loss_name, "") else f"{label} ({d.loss_name})"


def _forward(doc: Document, d: Derivation, columns: bool) -> None:
    """X, Y, then every layer's W, b, Z and A."""
    doc.heading(doc.words("heading.forward"))
    doc.matrix("X", "X", in_layout(d.X, columns))
    doc.matrix("Y", "Y", in_layout(d.Y, columns))
    for layer in d.layers:
        i = layer.index
        doc.matrix(f"W^({i})", f"W^{{({i})}}", layer.W)
        doc.matrix(f"b^({i})", f"b^{{({i})}}", vector_in_layout(layer.b, columns))
        doc.matrix(f"Z^({i})", f"Z^{{({i})}}", in_layout(layer.Z, columns))
        doc.matrix(f"A^({i}) = {layer.activation}(Z^({i}))",
                   f"A^{{({i})}} = \\mathrm{{{layer.activation}}}(Z^{{({i})}})",
                   in_layout(layer.A, columns))


def section_loss(doc: Document, d: Derivation) -> None:
    """The loss formula, its regularization terms, and its value."""
    w = doc.words
    loss_text, loss_tex, _, _ = loss_formulas(d, w)
    doc.heading(w("heading.loss"))
    doc.line(loss_text, loss_tex)
    terms = ([(f"lambda2/(2m) sum W^2 (lambda2 = {d.l2:g})", r"\frac{\lambda_2}{2m}\sum W^2")]
             if d.l2 else []) + \
            ([(f"lambda1/m sum |W| (lambda1 = {d.l1:g})", r"\frac{\lambda_1}{m}\sum |W|")]
             if d.l1 else [])
    if terms:
        doc.line(w("mlp.regularization", terms=" + ".join(t for t, _ in terms)),
                 r"+\ " + " + ".join(tex for _, tex in terms))
    doc.line(f"L = {d.loss:.6f}" + (w("mlp.data_term", loss=d.data_loss) if terms else ""))


def section_delta(doc: Document, d: Derivation, layer: LayerMath) -> None:
    """How delta^(i) is computed: from the loss at the output, by the recursion below it."""
    i = layer.index
    _, _, delta_text, delta_tex = loss_formulas(d, doc.words)
    if i == len(d.layers) and d.loss_name == "mse":  # the output's f' is in the formula
        f_text, f_tex = _derivative(layer, doc.words)
        doc.line(f"{delta_text},  {f_text}", rf"{delta_tex},\quad {f_tex}")
    elif i == len(d.layers):
        doc.line(delta_text, delta_tex)
    else:
        f_text, f_tex = _derivative(layer, doc.words)
        doc.line(f"delta^({i}) = dA^({i}) * f'(Z^({i})),  {f_text}",
                 rf"\delta^{{({i})}} = dA^{{({i})}} \odot f'(Z^{{({i})}}),\quad {f_tex}")


def section_weight_gradients(doc: Document, d: Derivation, i: int, columns: bool) -> None:
    """The formula of dW^(i) and db^(i), with the regularization terms that are on."""
    reg = (" + lambda2/m W" if d.l2 else "") + (" + lambda1/m sign(W)" if d.l1 else "")
    reg_tex = (rf" + \frac{{\lambda_2}}{{m}} W^{{({i})}}" if d.l2 else "") + \
              (rf" + \frac{{\lambda_1}}{{m}}\,\mathrm{{sign}}(W^{{({i})}})" if d.l1 else "")
    axis = "columns" if columns else "rows"
    text_sum, tex_sum = doc.words(f"mlp.sum_{axis}"), doc.words(f"mlp.sum_{axis}.latex")
    if columns:
        doc.line(f"dW^({i}) = delta^({i}) A^({i - 1})T / m{reg},  db^({i}) = "
                 f"{text_sum} delta^({i}) / m",
                 rf"dW^{{({i})}} = \frac{{1}}{{m}} \delta^{{({i})}} A^{{({i - 1})\top}}"
                 rf"{reg_tex},\quad db^{{({i})}} = \frac{{1}}{{m}} \sum_{{\text{{{tex_sum}}}}}"
                 rf" \delta^{{({i})}}")
    else:
        doc.line(f"dW^({i}) = delta^({i})T A^({i - 1}) / m{reg},  db^({i}) = "
                 f"{text_sum} delta^({i}) / m",
                 rf"dW^{{({i})}} = \frac{{1}}{{m}} \delta^{{({i})\top}} A^{{({i - 1})}}"
                 rf"{reg_tex},\quad db^{{({i})}} = \frac{{1}}{{m}} \sum_{{\text{{{tex_sum}}}}}"
                 rf" \delta^{{({i})}}")


def _backward(doc: Document, d: Derivation, layer: LayerMath, columns: bool) -> None:
    """Layer i's delta, dW and db with their checks, then dA^(i-1) for the layer below."""
    i = layer.index
    doc.line(doc.words("mlp.layer_heading", i=i))
    section_delta(doc, d, layer)
    doc.matrix(f"delta^({i})", rf"\delta^{{({i})}}", in_layout(layer.delta, columns))
    section_weight_gradients(doc, d, i, columns)
    doc.matrix(f"dW^({i})", f"dW^{{({i})}}", layer.dW)
    doc.matrix(f"db^({i})", f"db^{{({i})}}", vector_in_layout(layer.db, columns))
    for c in layer.checks:
        if not c.name.startswith("dA"):
            doc.check(c)
    if i > 1:
        doc.line(f"dA^({i - 1}) = W^({i})T delta^({i})" if columns else
                 f"dA^({i - 1}) = delta^({i}) W^({i})")
        doc.matrix(f"dA^({i - 1})", f"dA^{{({i - 1})}}", in_layout(layer.dA_prev, columns))
        for c in layer.checks:
            if c.name.startswith("dA"):
                doc.check(c)


def _per_example_step(doc: Document, d: Derivation, e: Any, columns: bool) -> None:
    """Example k of the per-example loop: its input and target, then per layer its delta
    (checked), its contribution and the running sums."""
    k, pe = e.k, d.per_example
    doc.line(doc.words("mlp.example", k=k))
    doc.matrix(f"x_{k}", f"x_{{{k}}}", vector_in_layout(e.x, columns))
    doc.matrix(f"y_{k}", f"y_{{{k}}}", vector_in_layout(e.y, columns))
    for l in range(len(d.layers), 0, -1):
        doc.matrix(f"delta^({l})_{k}", rf"\delta^{{({l})}}_{{{k}}}",
                   vector_in_layout(e.deltas[l - 1], columns))
        doc.check(next(c for c in pe.checks if c.name == f"delta^({l}) of example {k}"))
        doc.matrix(f"delta^({l})_{k} a^({l - 1})_{k}T",
                   rf"\delta^{{({l})}}_{{{k}}}\, a^{{({l - 1})\top}}_{{{k}}}",
                   e.contributions[l - 1])
        doc.matrix(f"Delta^({l})", rf"\Delta^{{({l})}}", e.running[l - 1])
        doc.matrix(f"Delta_b^({l})", rf"\Delta_b^{{({l})}}",
                   vector_in_layout(e.running_b[l - 1], columns))


def section_per_example(doc: Document, d: Derivation, columns: bool) -> None:
    """The course form: the examples one at a time, each one's deltas and contributions
    to the running Delta^(l), then D^(l) = Delta^(l)/m + regularization, checked."""
    w, pe, L = doc.words, d.per_example, len(d.layers)
    doc.heading(w("heading.per_example"))
    doc.line(w("mlp.per_example_loop"),
             r"\Delta^{(l)} \mathrel{+}= \delta^{(l)}_k\, a^{(l-1)\top}_k,\quad "
             r"\Delta_b^{(l)} \mathrel{+}= \delta^{(l)}_k")
    for e in pe.examples:
        _per_example_step(doc, d, e, columns)
    reg = (" + lambda2/m W^(l)" if d.l2 else "") + (" + lambda1/m sign(W^(l))" if d.l1 else "")
    reg_tex = (r" + \frac{\lambda_2}{m} W^{(l)}" if d.l2 else "") + \
        (r" + \frac{\lambda_1}{m}\,\mathrm{sign}(W^{(l)})" if d.l1 else "")
    doc.line(w("mlp.per_example_finally", reg=reg),
             rf"D^{{(l)}} = \frac{{1}}{{m}}\Delta^{{(l)}}{reg_tex},\quad D_b^{{(l)}} = "
             r"\frac{1}{m}\Delta_b^{(l)}")
    for l in range(L, 0, -1):
        doc.matrix(f"D^({l})", f"D^{{({l})}}", pe.D[l - 1])
        doc.matrix(f"D_b^({l})", f"D_b^{{({l})}}", vector_in_layout(pe.Db[l - 1], columns))
        for name in (f"D^({l})", f"D_b^({l})"):
            doc.check(next(c for c in pe.checks if c.name == name))
        doc.line(w("mlp.per_example_same", l=l,
                   diff=difference_text(pe.matrix_diff[l - 1], ROUND_OFF)))


def section_update(doc: Document, d: Derivation, columns: bool) -> None:
    """One step of gradient descent: every layer's new W and b."""
    w = doc.words
    doc.heading(w("heading.update"))
    sub = w("mlp.new.latex")
    for layer in d.layers:
        i = layer.index
        doc.line(f"W^({i}) <- W^({i}) - {d.lr} dW^({i}),  b^({i}) <- b^({i}) - {d.lr} db^({i})")
        doc.matrix(w("mlp.new", name=f"W^({i})"), f"W^{{({i})}}_{{{sub}}}", layer.W_new)
        doc.matrix(w("mlp.new", name=f"b^({i})"), f"b^{{({i})}}_{{{sub}}}",
                   vector_in_layout(layer.b_new, columns))


def summary(checks: list[Check], detail: str = "", w: Words | None = None) -> str:
    """How many gradients were checked (every printed one, both ways) and how many match;
    ``detail`` follows the count, e.g. ' (9 per-step errors ...)'."""
    w = w or words()
    n, good = len(checks), sum(c.ok for c in checks)
    if good == n:
        return w("summary.all_match", n=n, detail=detail)
    return w("summary.mismatch", n=n, detail=detail, bad=n - good)
