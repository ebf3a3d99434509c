"""The words of ``chainrule check``: one message table per language, the right formula of
every quantity in numpy (in the learner's layout), and the report as text, Markdown or
HTML."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.explainer.check_diagnosis import Diagnosis, Mistake
from chainrule.explainer.check_network import Net, activation_backward, activation_name
from chainrule.explainer.render import NUMERIC_ROUND_OFF, ROUND_OFF, difference_text

if TYPE_CHECKING:
    from chainrule.explainer.check import CheckReport, Quantity

MESSAGES: dict[str, dict[str, str]] = {"en": {
    "title": "chainrule check: {file}",
    "network": "network: {layers} layer(s), sizes {sizes}; m = {m} examples as {layout}",
    "layout.rows": "rows: Z = A @ W.T + b",
    "layout.rows_xw": "rows: Z = A @ W + b",
    "layout.columns": "columns: Z = W @ A + b",
    "activations": "activations: {acts} ({source})",
    "loss": "loss: {loss} ({source})",
    "l2": "L2: lambda = {lambd:g}, J += {penalty} * sum of W**2 ({where})",
    "l2.inside": "in your cost",
    "l2.outside": "your cost leaves it out; check adds it",
    "source.inferred.forward": "inferred from your forward",
    "source.inferred.cost": "inferred from your cost",
    "source.declared": "declared",
    "source.default": "no cost function: declared LOSS",
    "also": "note: {acts} fit your forward output as well",
    "truth": "true gradients: chainrule autograd, and central differences on your own forward "
             "and cost",
    "truth.disagree": "note: autograd and central differences disagree on {names} (max "
                      "{diff:.2g}); the results below use autograd",
    "ignored": "note: not checked (not a gradient check knows): {names}",
    "ok": "{name} correct (max error {error}, numerical {numeric})",
    "ok.convention": "{name} correct as dJ/d{var} (max error {error}): the 1/m is already "
                     "in it",
    "wrong": "{name} WRONG (max error {error:.3g}, numerical {numeric:.3g})",
    "wrong.shape": "{name} WRONG: shape {got}, the right value has shape {want}",
    "first": "the first wrong one",
    "summary.ok": "all {n} quantities correct",
    "summary.wrong": "{k} of {n} quantities wrong; the first wrong one is {first}",
    "fix": "correct: {formula}",
    "inherited": "inherits the error of {source}: its own formula is right",
    "inherited.found": "inherits the mistake in {source} found above: its own formula is right",
    "upstream": "fits a mistake in {site}, which backward did not return: {text}",
    "explains": "this also explains {names}",
    "unknown": "no usual mistake fits; the entries that differ most (index: yours, right):",
    "entry": "  {index}: {got:.6g}, {want:.6g}",
    "kind.sign": "{site} has the wrong sign (it is -1 times the right value)",
    "kind.factor": "{site} is {factor} times the right value",
    "factor.m": "{site} is m = {m} times the right value: the 1/m is missing",
    "factor.1/m": "{site} is 1/m times the right value: an extra 1/m (or the 1/m twice)",
    "factor.2": "{site} is twice the right value",
    "factor.1/2": "{site} is half the right value (a factor 2 is missing)",
    "kind.activation-derivative": "{site} uses the derivative of {used} ({used_formula}), but "
                                  "layer {layer} is {actual}",
    "kind.missing-derivative": "{site} leaves out the derivative of layer {layer}'s "
                               "activation ({actual})",
    "kind.derivative-of-z": "{site} writes the derivative of {actual} with Z{layer} where "
                            "A{layer} belongs",
    "kind.output-formula": "{site} is (A{layer} - Y) * {used_formula}, with the derivative of "
                           "{used}",
    "kind.output-missing-derivative": "{site} is A{layer} - Y, without the derivative of the "
                                      "output activation {actual}",
    "kind.transpose": "{site} is transposed (it is the right value's .T)",
    "kind.no-sum": "{site} is not summed over the examples (it is dZ{layer} / m)",
    "kind.sum-all": "{site} sums over every entry (np.sum without axis), giving one number",
    "kind.sum-axis": "{site} sums over the wrong axis: over the units instead of the examples",
    "kind.shape": "{site} has the right values in the wrong shape: {got} where {param} has "
                  "shape {want}",
    "kind.l2-missing": "{site} lacks the L2 term {term}",
    "kind.l2-scale": "{site} adds the L2 term {used} instead of {term}",
    "kind.l2-sign": "{site} subtracts the L2 term {term} instead of adding it",
    "kind.l2-bias": "{site} adds an L2 term to the bias: L2 regularizes the weights only",
    "kind.extra-term": "{site} has an extra term {c} * W{layer}",
    "kind.w-not-transposed": "{site} multiplies by W{next} where W{next}.T belongs",
    "loss.cross-entropy": "cross-entropy, -sum(Y * log(A)) / m",
    "loss.binary-cross-entropy": "binary cross-entropy, -sum(Y * log(A) + (1 - Y) * "
                                 "log(1 - A)) / m",
    "loss.mse/2": "squared error, sum((A - Y)**2) / (2 m)",
    "loss.mse": "squared error, sum((A - Y)**2) / m",
    "loss.mse-mean": "mean squared error, sum((A - Y)**2) / (m n)",
}}
LANGUAGES = tuple(MESSAGES)


def messages(lang: str) -> dict[str, str]:
    if lang not in MESSAGES:
        raise ValueError(f"check: language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return MESSAGES[lang]


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


def mistake_text(mistake: Mistake, net: Net, msg: dict[str, str]) -> str:
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
        return msg["kind.output-missing-derivative"].format(**args)
    if mistake.kind == "factor" and f"factor.{args['factor']}" in msg:
        return msg[f"factor.{args['factor']}"].format(**args)
    return msg[f"kind.{mistake.kind}"].format(**args)


def diagnosis_lines(q: Quantity, report: CheckReport, msg: dict[str, str]) -> list[str]:
    """What is wrong with q, in words, then the corrected formula."""
    d: Diagnosis = q.diagnosis
    net = report.net
    if d.kind == "inherited":
        key = "inherited" if d.source in report.returned else "inherited.found"
        return [msg[key].format(source=d.source)]
    if d.kind == "mistake":
        text = mistake_text(d.mistake, net, msg)
        if d.mistake.site != q.name:
            text = msg["upstream"].format(site=d.mistake.site, text=text)
        lines = [text, msg["fix"].format(formula=formula(d.mistake.site, net,
                                                         report.convention == 1))]
        others = [n for n in d.explains if n != q.name]
        if others:
            lines.append(msg["explains"].format(names=", ".join(others)))
        return lines
    lines = [msg["unknown"]]
    got, want = np.asarray(q.value), q.autograd
    fix = msg["fix"].format(formula=formula(q.name, net, report.convention == 1))
    if got.shape != want.shape:
        return [fix]
    diff = np.abs(got - want)
    for index in np.argsort(-diff, axis=None)[:5]:
        at = np.unravel_index(index, diff.shape)
        lines.append(msg["entry"].format(index=tuple(int(i) for i in at), got=got[at],
                                         want=want[at]))
    lines.append(fix)
    return lines


def quantity_line(q: Quantity, msg: dict[str, str]) -> str:
    # a passed check prints round-off as a bound: its digits change with the BLAS kernel
    error = difference_text(q.error, ROUND_OFF)
    if q.ok and q.convention != 1:
        return msg["ok.convention"].format(name=q.name, var=q.name[1:], error=error)
    if q.ok:
        return msg["ok"].format(name=q.name, error=error,
                                numeric=difference_text(q.error_numeric, NUMERIC_ROUND_OFF))
    if np.shape(q.value) != q.autograd.shape:
        return msg["wrong.shape"].format(name=q.name, got=np.shape(q.value),
                                         want=q.autograd.shape)
    return msg["wrong"].format(name=q.name, error=q.error, numeric=q.error_numeric)


def header_lines(report: CheckReport, msg: dict[str, str]) -> list[str]:
    net = report.net
    lines = [msg["network"].format(layers=net.L, sizes=" -> ".join(map(str, report.sizes)),
                                   m=net.m, layout=msg[f"layout.{net.layout.name}"]),
             msg["activations"].format(acts=", ".join(map(activation_name, net.acts)),
                                       source=msg[report.sources["activations"]]),
             msg["loss"].format(loss=msg[f"loss.{net.loss}"],
                                source=msg[report.sources["loss"]])]
    if net.lambd:
        where = msg["l2.inside" if net.penalty_in_cost else "l2.outside"]
        lines.append(msg["l2"].format(lambd=net.lambd, penalty=net.penalty, where=where))
    lines.append(msg["truth"])
    lines += report.notes
    return lines


def render(report: CheckReport, fmt: str = "text") -> str:
    """The report as 'text', 'markdown' or 'html'."""
    if fmt not in ("text", "markdown", "html"):
        raise ValueError(f"check: format must be text, markdown or html, got {fmt!r}")
    msg = messages(report.lang)
    title = msg["title"].format(file=report.file)
    head = header_lines(report, msg)
    rows = []
    for q in report.quantities:
        details = [] if q.ok else diagnosis_lines(q, report, msg)
        if q.name == report.first_wrong:
            details.insert(0, msg["first"])
        rows.append((q.ok, quantity_line(q, msg), details))
    wrong = report.wrong
    summary = (msg["summary.ok"].format(n=len(rows)) if not wrong else
               msg["summary.wrong"].format(k=len(wrong), n=len(rows), first=report.first_wrong))
    return {"text": _text, "markdown": _markdown, "html": _html}[fmt](title, head, rows,
                                                                      summary)


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
        out += [f"    - {_code_after(d, ': ')}" for d in details]
    return "\n".join([*out, "", f"**{summary}**"]) + "\n"


def _code_after(line: str, sep: str) -> str:
    """'correct: dZ1 = ...' -> 'correct: `dZ1 = ...`' (a formula as code); others as they are."""
    head, found, formula_text = line.partition(sep)
    return f"{head}{sep}`{formula_text}`" if found and " = " in formula_text and \
        " " not in head else line


def _html(title: str, head: list[str], rows: list, summary: str) -> str:
    e = html.escape
    items = []
    for ok, line, details in rows:
        inner = "".join(f"<li>{e(d)}</li>" for d in details)
        items.append(f"<li class='{'ok' if ok else 'wrong'}'>{'✓' if ok else '✗'} {e(line)}"
                     + (f"<ul>{inner}</ul>" if inner else "") + "</li>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:auto}"
             ".ok{color:#1a7f37}.wrong{color:#c62828}.wrong li{color:#222}"
             "li{margin:0.2em 0;font-family:monospace}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
            f"<style>{style}</style></head><body><h1>{e(title)}</h1><p>"
            + "<br>".join(e(h) for h in head) + "</p><ul>" + "".join(items) + "</ul>"
            f"<p><b>{e(summary)}</b></p></body></html>\n")
