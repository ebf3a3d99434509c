"""The report of ``chainrule check``: the right formula of every quantity in numpy (in the
learner's layout), the mistakes in words (the ``check.*`` messages of
``chainrule.explainer.messages``), and the report as text, Markdown or HTML."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.explainer.check_diagnosis import Diagnosis, Mistake
from chainrule.explainer.check_network import Net, activation_backward, activation_name
from chainrule.explainer.messages import Words, words
from chainrule.explainer.render import NUMERIC_ROUND_OFF, ROUND_OFF, difference_text

if TYPE_CHECKING:
    from chainrule.explainer.check import CheckReport, Quantity


def _a(l: int) -> str:
    return "X" if l == 0 else f"A{l}"


def derivative_text(act: tuple[str, float | None], l: int) -> str | None:
    """f'(Z^(l)) in numpy (None for the identity, whose derivative is 1)."""
    name, p = act
    if name == "leaky_relu":
        return f"np.where(Z{l} > 0, 1, {p if p is not None else 0.01:g})"
    return {"sigmoid": f"A{l} * (1 - A{l})", "tanh": f"1 - A{l} ** 2",
            "relu": f"(Z{l} > 0)", "identity": None, "softmax": None}[name]


def _times(factor: str | None) -> str:
    """' * f'(Z)' (in parentheses when it is a difference), or nothing for f' = 1."""
    if factor is None:
        return ""
    return f" * ({factor})" if factor.startswith("1 - ") else f" * {factor}"


def _dA_out_text(net: Net) -> str:
    L = net.L
    return {"cross-entropy": f"-Y / A{L}", "binary-cross-entropy":
            f"-(Y / A{L} - (1 - Y) / (1 - A{L}))", "mse/2": f"(A{L} - Y)",
            "mse": f"2 * (A{L} - Y)", "mse-mean": f"2 / n * (A{L} - Y)"}[net.loss]


def _dz_out(net: Net) -> str:
    L, act = net.L, net.acts[-1]
    zs, as_ = net.forward()
    with np.errstate(all="ignore"):
        dz = activation_backward(act, net.dA_out(as_[L]), zs[L], as_[L], net.layout)
    if np.allclose(dz, as_[L] - net.Y):
        return f"dZ{L} = A{L} - Y"
    if act[0] == "softmax":
        axis = net.layout.feature_axis
        return (f"dZ{L} = A{L} * (dA{L} - np.sum(A{L} * dA{L}, axis={axis}, keepdims=True)), "
                f"dA{L} = {_dA_out_text(net)}")
    factor = derivative_text(act, L)
    return f"dZ{L} = {_dA_out_text(net)}" + _times(factor)


def formula(site: str, net: Net, per_example: bool = True) -> str:
    """The right formula of a quantity, in numpy and the learner's layout; per_example:
    dZ = m dJ/dZ (the course convention: dW and db divide by m), else dZ = dJ/dZ (the
    output's dZ divides by m, dW and db do not)."""
    text = _formula(site, net)
    if per_example:
        return text
    if site[1] in "Wb":
        return text.replace(" / m", "", 1)
    return text + " / m" if int(site[2:]) == net.L else text


def _formula(site: str, net: Net) -> str:
    kind, l, lay = site[1], int(site[2:]), net.layout.name
    if kind == "Z":
        if l == net.L:
            return _dz_out(net)
        factor = derivative_text(net.acts[l - 1], l)
        return f"dZ{l} = dA{l}" + _times(factor)
    if kind == "A":
        if l == net.L:
            return f"dA{l} = {_dA_out_text(net)}"
        return {"columns": f"dA{l} = W{l + 1}.T @ dZ{l + 1}", "rows":
                f"dA{l} = dZ{l + 1} @ W{l + 1}", "rows_xw": f"dA{l} = dZ{l + 1} @ W{l + 1}.T"}[lay]
    if kind == "b":
        keep = ", keepdims=True" if np.ndim(net.bs[l - 1]) == 2 else ""
        return f"db{l} = np.sum(dZ{l}, axis={net.layout.example_axis}{keep}) / m"
    product = {"columns": f"dZ{l} @ {_a(l - 1)}.T", "rows": f"dZ{l}.T @ {_a(l - 1)}",
               "rows_xw": f"{_a(l - 1)}.T @ dZ{l}"}[lay]
    return f"dW{l} = {product} / m" + (f" + {l2_term(net, l)}" if net.lambd else "")


def l2_term(net: Net, l: int) -> str:
    """2 k W in the words of the learner's penalty (k = lambda/(2m): lambd / m * W)."""
    coefficient = {"lambda/(2m)": "lambd / m", "lambda/m": "2 * lambd / m",
                   "lambda/2": "lambd", "lambda": "2 * lambd"}[net.penalty]
    return f"{coefficient} * W{l}"


def mistake_text(mistake: Mistake, net: Net, msg: Words) -> str:
    """The mistake in words."""
    site, l = mistake.site, int(mistake.site[2:])
    act = net.acts[l - 1] if 1 <= l <= net.L else ("identity", None)
    args: dict[str, Any] = {"site": site, "layer": l, "next": l + 1, "m": net.m,
                            "actual": act[0], "term": l2_term(net, l) if net.lambd else "",
                            "param": f"b{l}", **mistake.args}
    if "used" in args and mistake.kind not in ("l2-scale",):
        used = derivative_text((args["used"], None), l)
        args["used_formula"] = used or "1"
    if mistake.kind == "output-formula" and args["used"] == "identity":
        return msg("check.kind.output-missing-derivative", **args)
    if mistake.kind == "factor" and f"check.factor.{args['factor']}" in msg.table:
        return msg(f"check.factor.{args['factor']}", **args)
    return msg(f"check.kind.{mistake.kind}", **args)


def diagnosis_lines(q: Quantity, report: CheckReport, msg: Words) -> list[str]:
    """What is wrong with q, in words, then the corrected formula."""
    d: Diagnosis = q.diagnosis
    net = report.net
    if d.kind == "inherited":
        key = "inherited" if d.source in report.returned else "inherited.found"
        return [msg("check." + key, source=d.source)]
    if d.kind == "mistake":
        text = mistake_text(d.mistake, net, msg)
        if d.mistake.site != q.name:
            text = msg("check.upstream", site=d.mistake.site, text=text)
        lines = [text, msg("check.fix", formula=formula(d.mistake.site, net,
                                                      report.convention == 1))]
        others = [n for n in d.explains if n != q.name]
        if others:
            lines.append(msg("check.explains", names=", ".join(others)))
        return lines
    lines = [msg("check.unknown")]
    got, want = np.asarray(q.value), q.autograd
    fix = msg("check.fix", formula=formula(q.name, net, report.convention == 1))
    if got.shape != want.shape:
        return [fix]
    diff = np.abs(got - want)
    for index in np.argsort(-diff, axis=None)[:5]:
        at = np.unravel_index(index, diff.shape)
        lines.append(msg("check.entry", index=tuple(int(i) for i in at), got=got[at],
                         want=want[at]))
    lines.append(fix)
    return lines


def quantity_line(q: Quantity, msg: Words) -> str:
    # a passed check prints round-off as a bound: its digits change with the BLAS kernel
    error = difference_text(q.error, ROUND_OFF)
    if q.ok and q.convention != 1:
        return msg("check.ok.convention", name=q.name, var=q.name[1:], error=error)
    if q.ok:
        return msg("check.ok", name=q.name, error=error,
                   numeric=difference_text(q.error_numeric, NUMERIC_ROUND_OFF))
    if np.shape(q.value) != q.autograd.shape:
        return msg("check.wrong.shape", name=q.name, got=np.shape(q.value),
                   want=q.autograd.shape)
    return msg("check.wrong", name=q.name, error=q.error, numeric=q.error_numeric)


def header_lines(report: CheckReport, msg: Words) -> list[str]:
    net = report.net
    lines = [msg("check.network", layers=net.L, sizes=" -> ".join(map(str, report.sizes)),
                 m=net.m, layout=msg(f"check.layout.{net.layout.name}")),
             msg("check.activations", acts=", ".join(map(activation_name, net.acts)),
                 source=msg("check." + report.sources["activations"])),
             msg("check.loss", loss=msg(f"check.loss.{net.loss}"),
                 source=msg("check." + report.sources["loss"]))]
    if net.lambd:
        where = msg("check.l2.inside" if net.penalty_in_cost else "check.l2.outside")
        lines.append(msg("check.l2", lambd=net.lambd, penalty=net.penalty, where=where))
    lines.append(msg("check.truth"))
    lines += [msg.text(note) for note in report.notes]
    return lines


def render(report: CheckReport, fmt: str = "text", lang: str | Words | None = None,
           embedded: bool = False) -> str:
    """The report as 'text', 'markdown' or 'html' (a page; with ``embedded``, one <div>
    for a notebook cell), in language ``lang`` (default: the report's own)."""
    if fmt not in ("text", "markdown", "html"):
        raise ValueError(f"check: format must be text, markdown or html, got {fmt!r}")
    msg = words(report.lang if lang is None else lang)
    title = msg("check.title", file=report.file)
    head = header_lines(report, msg)
    rows = []
    for q in report.quantities:
        details = [] if q.ok else diagnosis_lines(q, report, msg)
        if q.name == report.first_wrong:
            details.insert(0, msg("check.first"))
        rows.append((q.ok, quantity_line(q, msg), details))
    wrong = report.wrong
    summary = (msg("check.summary.ok", n=len(rows)) if not wrong else
               msg("check.summary.wrong", k=len(wrong), n=len(rows),
                   first=report.first_wrong))
    if fmt == "html":
        from chainrule.explainer.page import full_page

        div = _html(title, head, rows, summary, _math(report.net))
        return div if embedded else full_page(title, div)
    return {"text": _text, "markdown": _markdown}[fmt](title, head, rows, summary)


def _text(title: str, head: list[str], rows: list, summary: str) -> str:
    out = [title, *head, ""]
    for ok, line, details in rows:
        out.append(("✓ " if ok else "✗ ") + line)
        out += ["    " + d for d in details]
    return "\n".join([*out, "", summary]) + "\n"


def _markdown(title: str, head: list[str], rows: list, summary: str) -> str:
    out = [f"# {title}", "", *[f"- {h}" for h in head], ""]
    for ok, line, details in rows:
        out.append(f"- ✓ {line}" if ok else f"- ✗ **{line}**")
        out += [f"    - {_code_after(d)}" for d in details]
    return "\n".join([*out, "", f"**{summary}**"]) + "\n"


def _code_after(line: str) -> str:
    """'correct: dZ1 = ...' -> 'correct: `dZ1 = ...`' (a formula as code; the Chinese colon
    '：' too); others as they are."""
    for sep in (": ", "："):
        head, found, formula_text = line.partition(sep)
        if found and " = " in formula_text and " " not in head:
            return f"{head}{sep}`{formula_text}`"
    return line


# the network check rebuilt, as formulas (in the course's notation, layer l in brackets)
FORWARD_LATEX = {
    "rows": r"Z^{[l]} = A^{[l-1]} W^{[l]\top} + b^{[l]}",
    "rows_xw": r"Z^{[l]} = A^{[l-1]} W^{[l]} + b^{[l]}",
    "columns": r"Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}",
}
LOSS_LATEX = {
    "cross-entropy": r"J = -\frac{1}{m}\sum Y \log A^{[L]}",
    "binary-cross-entropy": r"J = -\frac{1}{m}\sum \left[Y \log A^{[L]} + (1 - Y)\log(1 - "
                            r"A^{[L]})\right]",
    "mse/2": r"J = \frac{1}{2m}\sum (A^{[L]} - Y)^2",
    "mse": r"J = \frac{1}{m}\sum (A^{[L]} - Y)^2",
    "mse-mean": r"J = \frac{1}{mn}\sum (A^{[L]} - Y)^2",
}
PENALTY_LATEX = {"lambda/(2m)": r"\frac{\lambda}{2m}", "lambda/m": r"\frac{\lambda}{m}",
                 "lambda/2": r"\frac{\lambda}{2}", "lambda": r"\lambda"}


def _math(net: Net) -> list[str]:
    """The forward pass and the cost as MathML."""
    from chainrule.explainer.mathml import to_mathml

    forward = FORWARD_LATEX[net.layout.name] + r",\quad A^{[l]} = f_l(Z^{[l]}),\quad A^{[0]} = X"
    cost = LOSS_LATEX[net.loss]
    if net.lambd:
        cost += rf" + {PENALTY_LATEX[net.penalty]}\sum_l \lVert W^{{[l]}}\rVert^2"
    return [to_mathml(forward), to_mathml(cost)]


# scoped to the report's root, so that a report in a notebook styles nothing else
STYLE = (".crc{font-family:sans-serif;max-width:60em;margin:1em auto}"
         ".crc .ok{color:#1a7f37}.crc .wrong{color:#c62828}.crc .wrong li{color:#222}"
         ".crc li{margin:0.2em 0;font-family:monospace}.crc .f{margin:.4em 0}")


def _html(title: str, head: list[str], rows: list, summary: str, math: list[str]) -> str:
    """The report as one <div> with its own id and its scoped style."""
    from chainrule.explainer.page import new_id

    e = html.escape
    items = []
    for ok, line, details in rows:
        inner = "".join(f"<li>{e(d)}</li>" for d in details)
        items.append(f"<li class='{'ok' if ok else 'wrong'}'>{'✓' if ok else '✗'} {e(line)}"
                     + (f"<ul>{inner}</ul>" if inner else "") + "</li>")
    formulas = "".join(f"<div class='f'>{m}</div>" for m in math)
    return (f"<div class='crc' id='{new_id()}'><style>{STYLE}</style><h1>{e(title)}</h1><p>"
            + "<br>".join(e(h) for h in head) + f"</p>{formulas}<ul>" + "".join(items)
            + f"</ul><p><b>{e(summary)}</b></p></div>")
