"""The interactive derivation page: one self-contained HTML fragment per report.

A page is a diagram (SVG: the network's units, the unrolled RNN, or a computational
graph), a list of steps (forward, loss, backward, update), and per step the formulas
(MathML), the matrices and the check lines that the text report prints. The reader steps
with the buttons or the arrow keys; the current step's nodes and edges are highlighted and
every node shows its current value (details in its tooltip). ``#step=N`` in the URL opens
the page at step N (1-based).

Every number on the page is the derivation's own (already checked against autograd and
central differences), embedded as JSON; nothing is fetched. Several reports on one page do
not clash: each has its own id (its other ids start with it), its script finds its own
root by that id and listens for keys on that root only. Embedded in a notebook cell
(``_repr_html_``, ``embedded=True``) it also leaves the address, the focus and the window
alone; ``#step=N`` is the standalone page's. Without scripts every step is shown, one
after the other. The words come from ``chainrule.explainer.messages`` (``lang``).
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.explainer.derivation import Derivation, LayerMath
from chainrule.explainer.messages import Words, words
from chainrule.explainer.render import (
    HtmlDocument,
    in_layout,
    loss_label,
    render,
    section_delta,
    section_loss,
    section_notation,
    section_per_example,
    section_update,
    section_weight_gradients,
    summary,
    vector_in_layout,
)

MAX_UNITS = 12  # units drawn per layer; more are summarized as "+k more"


@dataclass
class Step:
    """One step of a page: its title, the diagram ids it highlights, the values it puts on
    diagram items (id -> (symbol, values)), and its panel's HTML."""

    title: str
    highlight: list[str]
    values: dict[str, tuple[str, list[float]]] = field(default_factory=dict)
    panel: str = ""


@dataclass
class Diagram:
    """The SVG items: nodes (id, name, x, y, shape 'circle' or 'box') and edges (id, name,
    from id, to id)."""

    width: int
    height: int
    nodes: list[tuple[str, str, float, float, str]] = field(default_factory=list)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[tuple[float, float, str]] = field(default_factory=list)


def _numbers(a: Any) -> list[float]:
    """Values for the page's JSON, to 6 significant digits (the display shows 4)."""
    return [float(f"{v:.6g}") for v in np.asarray(a, np.float64).reshape(-1)]


def panel(fill: Callable[[HtmlDocument], None], lang: str | Words = "en") -> str:
    """The HTML that ``fill`` writes into a fresh document in language ``lang``."""
    doc = HtmlDocument(lang)
    fill(doc)
    return doc.render("")


STYLE = """
.crx{font-family:sans-serif;max-width:64em;margin:1em auto;outline:none}
.crx:focus-visible{outline:2px solid #8ab}
.crx h1{font-size:1.4em}.crx h2{font-size:1.1em;margin:.2em 0}
.crx .bar{position:sticky;top:0;background:#fff;padding:.3em 0;z-index:1}
.crx .bar button{font-size:1em;margin-right:.2em}
.crx .at{margin:0 .6em;font-weight:bold}
.crx svg{display:block;margin:.5em 0;max-width:100%;height:auto}
.crx svg .e{stroke:#bbb;stroke-width:1.2}
.crx svg .e.on{stroke:#e8590c;stroke-width:3}
.crx svg .n circle,.crx svg .n rect{fill:#f4f6f8;stroke:#789;stroke-width:1.5}
.crx svg .n.on circle,.crx svg .n.on rect{fill:#ffe8cc;stroke:#e8590c;stroke-width:3}
.crx svg text{font-size:12px;text-anchor:middle;font-family:monospace}
.crx svg .v{fill:#1c5d99;font-size:11px}
.crx .steps{list-style:none;padding:0}
.crx .step{border-left:4px solid #ddd;padding:.2em .8em;margin:.4em 0}
.crx .step.now{border-left-color:#e8590c}
.crx table{border-collapse:collapse;display:inline-table;margin:.3em;vertical-align:middle}
.crx td{border:1px solid #ccc;padding:2px 6px;text-align:right;font-family:monospace}
.crx .m math{vertical-align:middle}.crx .f{margin:.4em 0}
.crx .ok{color:green}.crx .bad{color:#c00;font-weight:bold}
"""

# The page's behaviour, scoped to one report: it finds its root by id, keeps its state in
# this closure, and listens for keys on the root only (several reports never clash). Only a
# standalone page (``page`` true) also reads #step=N from the address, follows its changes
# and writes it back while one report is shown, and takes the keyboard focus: a report
# embedded in a notebook touches nothing outside its own root (not the notebook's address,
# focus or window).
SCRIPT = """(function(id,page){
var root=document.getElementById(id);
if(!root||root.getAttribute('data-ready'))return;
root.setAttribute('data-ready','1');
var data=JSON.parse(root.querySelector('script.crx-data').textContent);
var steps=data.steps,n=steps.length,k=0,ex=0;
var items=root.querySelectorAll('.step'),marks=root.querySelectorAll('[data-id]');
var at=root.querySelector('.at'),sel=root.querySelector('select.ex');
var single=page&&document.querySelectorAll('.crx').length===1;
function fmt(v){if(v!==0&&(Math.abs(v)>=1e4||Math.abs(v)<1e-3))return v.toExponential(2);
return String(+v.toFixed(4));}
function shown(v){if(!data.examples)return v.length===1?fmt(v[0]):'['+v.map(fmt).join(', ')+']';
return fmt(v.length>1?v[Math.min(ex,v.length-1)]:v[0]);}
function show(i,keep){k=Math.max(0,Math.min(n-1,i));var s=steps[k],state={},j,key;
for(j=0;j<=k;j++){for(key in steps[j].val)state[key]=steps[j].val[key];}
for(j=0;j<items.length;j++){items[j].hidden=j!==k;
items[j].classList.toggle('now',j===k);}
for(j=0;j<marks.length;j++){var el=marks[j],name=el.getAttribute('data-id'),v=state[name];
el.classList.toggle('on',s.hl.indexOf(name)>=0);
var t=el.querySelector('.v'),tip=el.querySelector('title');
if(t)t.textContent=v?v[0]+' '+shown(v[1]):'';
if(tip)tip.textContent=el.getAttribute('data-name')+
(v?': '+v[0]+' = '+v[1].map(fmt).join(', '):'');}
root.setAttribute('data-step',String(k+1));
at.textContent=data.at.replace('{k}',k+1).replace('{n}',n)
.replace('{t}',function(){return s.t;});
if(single&&!keep){try{history.replaceState(null,'','#step='+(k+1));}catch(e){}}}
function fromHash(){if(!page)return null;
var m=/(?:^#|[&;])step=(\\d+)/.exec(location.hash);return m?+m[1]-1:null;}
var go={first:function(){show(0);},prev:function(){show(k-1);},next:function(){show(k+1);},
last:function(){show(n-1);}};
var buttons=root.querySelectorAll('[data-go]');
for(var b=0;b<buttons.length;b++){buttons[b].addEventListener('click',function(e){
go[e.currentTarget.getAttribute('data-go')]();});}
if(sel)sel.addEventListener('change',function(){ex=+sel.value;show(k,true);});
root.addEventListener('keydown',function(e){if(e.target.tagName==='SELECT')return;
var move={ArrowRight:'next',ArrowDown:'next',ArrowLeft:'prev',ArrowUp:'prev',
Home:'first',End:'last'}[e.key];if(move){go[move]();e.preventDefault();}});
if(page)window.addEventListener('hashchange',function(){var h=fromHash();
if(h!==null)show(h,true);});
var start=fromHash();show(start===null?0:start,true);
if(single&&document.activeElement===document.body)root.focus({preventScroll:true});
})"""


def _svg(diagram: Diagram) -> str:
    """The diagram: edges first (under the nodes), each item with its data-id."""
    nodes = {node_id: (x, y) for node_id, _, x, y, _ in diagram.nodes}
    parts = [f"<svg class='net' width='{diagram.width}' height='{diagram.height}' "
             f"viewBox='0 0 {diagram.width} {diagram.height}' role='img'>"]
    for edge_id, name, a, b in diagram.edges:
        (x1, y1), (x2, y2) = nodes[a], nodes[b]
        parts.append(f"<line class='e' data-id='{edge_id}' data-name='{html.escape(name)}' "
                     f"x1='{x1:.0f}' y1='{y1:.0f}' x2='{x2:.0f}' y2='{y2:.0f}'><title>"
                     f"{html.escape(name)}</title></line>")
    for node_id, name, x, y, shape in diagram.nodes:
        body = (f"<circle cx='{x:.0f}' cy='{y:.0f}' r='17'/>" if shape == "circle" else
                f"<rect x='{x - 34:.0f}' y='{y - 15:.0f}' width='68' height='30' rx='5'/>")
        label = html.escape(name.split(" ")[0])
        parts.append(f"<g class='n' data-id='{node_id}' data-name='{html.escape(name)}'>"
                     f"<title>{html.escape(name)}</title>{body}<text x='{x:.0f}' "
                     f"y='{y + 4:.0f}'>{label}</text><text class='v' x='{x:.0f}' "
                     f"y='{y + 31:.0f}'></text></g>")
    for x, y, text in diagram.notes:
        parts.append(f"<text x='{x:.0f}' y='{y:.0f}'>{html.escape(text)}</text>")
    return "".join(parts) + "</svg>"


def _bar(n: int, examples: int, w: Words) -> str:
    """The controls: first, back, where we are, forward, last, [which example]."""
    def e(key: str, **args: Any) -> str:
        return html.escape(w(key, **args))

    choose = ""
    if examples > 1:
        options = "".join(f"<option value='{k}'>{k + 1}</option>" for k in range(examples))
        choose = f" <label>{e('page.example')} <select class='ex'>{options}</select></label>"
    return (f"<div class='bar'><button data-go='first' title='{e('page.first.tip')}'>"
            f"{e('page.first')}</button><button data-go='prev' title='{e('page.back.tip')}'>"
            f"{e('page.back')}</button><span class='at'>{e('page.steps', n=n)}</span>"
            f"<button data-go='next' title='{e('page.forward.tip')}'>{e('page.forward')}"
            f"</button><button data-go='last' title='{e('page.last.tip')}'>{e('page.last')}"
            f"</button>{choose}</div>")


def new_id() -> str:
    """A fresh id for one report's root: its other ids start with it, so that two reports
    (or two renders of one) on a page or in a notebook never share an id."""
    return "crx-" + uuid.uuid4().hex[:12]


def fragment_html(title: str, diagram: Diagram, steps: Sequence[Step], summary: str,
                  examples: int = 0, lang: str | Words = "en", embedded: bool = False) -> str:
    """The report as one <div>: its style, controls, diagram, steps, data and script.
    ``examples`` > 1 adds a choice of which example's values the nodes show; the controls
    are labelled in language ``lang``; ``embedded``: for a notebook cell, whose script
    leaves the address, the focus and the window alone (see SCRIPT)."""
    uid = new_id()
    w = words(lang)
    # where we are, for the script to fill in: "step {k} of {n}: {t}" in the page's language
    data = {"examples": examples, "at": w("page.at", k="{k}", n="{n}", t="{t}"), "steps": [
        {"t": s.title, "hl": s.highlight, "val": {k: [sym, v] for k, (sym, v) in
                                                   s.values.items()}} for s in steps]}
    bar = _bar(len(steps), examples, w)
    items = "".join(f"<li class='step' id='{uid}-step-{k + 1}' data-k='{k + 1}'><h2>"
                    f"{k + 1}. {html.escape(s.title)}</h2>{s.panel}</li>"
                    for k, s in enumerate(steps))
    # readable (Chinese as it is); "</" escaped so that no string can end the script
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    return (f"<div class='crx' id='{uid}' tabindex='0'><style>{STYLE}</style>"
            f"<h1>{html.escape(title)}</h1>{bar}{_svg(diagram)}<ol class='steps'>{items}</ol>"
            f"<p class='summary'>{html.escape(summary)}</p>"
            f"<script type='application/json' class='crx-data'>{payload}</script>"
            f"<script>{SCRIPT}('{uid}',{'false' if embedded else 'true'});</script></div>")


def static_fragment(title: str, body: str) -> str:
    """A report without steps (the convolution's, the attention head's) as one <div> with
    the page's style and its own id; no script."""
    return (f"<div class='crx' id='{new_id()}'><style>{STYLE}</style><h1>{html.escape(title)}"
            f"</h1>{body}</div>")


def full_page(title: str, body: str) -> str:
    """A fragment as a standalone HTML document."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body>{body}</body></html>\n")


# -- the MLP derivation ----------------------------------------------------------------------


def _shown(n: int) -> int:
    return min(n, MAX_UNITS)


def mlp_diagram(d: Derivation, w: Words | None = None) -> Diagram:
    """Units in columns, input layer first, the loss last; edges between drawn units."""
    w = w or words()
    sizes = [d.X.shape[1]] + [layer.W.shape[0] for layer in d.layers]
    tallest = max(_shown(s) for s in sizes)
    diagram = Diagram(150 * len(sizes) + 120, 58 * tallest + 50)
    for l, size in enumerate(sizes):
        x = 60 + 150 * l
        top = (diagram.height - 58 * _shown(size)) / 2 + 24
        for j in range(_shown(size)):
            what = "x" if l == 0 else ("out" if l == len(sizes) - 1 else "h")
            name = (w("page.unit", name=f"{what}{j + 1}", layer=l, unit=j + 1) if l else
                    w("page.input", name=f"x{j + 1}", unit=j + 1))
            diagram.nodes.append((f"n{l}-{j}", name, x, top + 58 * j, "circle"))
        if size > MAX_UNITS:
            diagram.notes.append((x, diagram.height - 4, w("page.more", n=size - MAX_UNITS)))
        if l:
            for j in range(_shown(size)):
                for i in range(_shown(sizes[l - 1])):
                    diagram.edges.append((f"e{l}-{j}-{i}", f"W^({l})[{j + 1},{i + 1}]",
                                          f"n{l - 1}-{i}", f"n{l}-{j}"))
    last = len(sizes) - 1
    diagram.nodes.append(("loss", f"L ({loss_label(d)})", 60 + 150 * len(sizes) - 40,
                          diagram.height / 2, "box"))
    for j in range(_shown(sizes[-1])):
        diagram.edges.append((f"eL-{j}", w("page.to_loss", unit=j + 1), f"n{last}-{j}", "loss"))
    return diagram


def _units(l: int, n: int) -> list[str]:
    return [f"n{l}-{j}" for j in range(_shown(n))]


def _edges(l: int, w: np.ndarray) -> list[str]:
    return [f"e{l}-{j}-{i}" for j in range(_shown(w.shape[0])) for i in range(_shown(w.shape[1]))]


def _per_unit(l: int, sym: str, a: np.ndarray) -> dict[str, tuple[str, list[float]]]:
    """A (m, n) matrix of layer l as each unit's values over the examples (a vector of n:
    one value per unit)."""
    a = np.atleast_2d(a)
    return {f"n{l}-{j}": (sym, _numbers(a[:, j])) for j in range(_shown(a.shape[1]))}


def _per_edge(l: int, sym: str, w: np.ndarray) -> dict[str, tuple[str, list[float]]]:
    return {f"e{l}-{j}-{i}": (sym, [float(f"{w[j, i]:.6g}")])
            for j in range(_shown(w.shape[0])) for i in range(_shown(w.shape[1]))}


def _layer_forward_steps(d: Derivation, layer: LayerMath, columns: bool, w: Words
                         ) -> list[Step]:
    """Layer i's two forward steps: Z^(i) (from W, b and the layer below), A^(i)."""
    i, n = layer.index, layer.W.shape[0]
    rows = rf"A^{{({i - 1})}} W^{{({i})\top}} + b^{{({i})}}"
    cols = rf"W^{{({i})}} A^{{({i - 1})}} + b^{{({i})}}"
    formula = (f"Z^({i}) = " + (f"W^({i}) A^({i - 1}) + b^({i})" if columns else
                               f"A^({i - 1}) W^({i})T + b^({i})"),
               f"Z^{{({i})}} = " + (cols if columns else rows))

    def z_panel(doc: HtmlDocument) -> None:
        doc.line(*formula)
        doc.matrix(f"W^({i})", f"W^{{({i})}}", layer.W)
        doc.matrix(f"b^({i})", f"b^{{({i})}}", vector_in_layout(layer.b, columns))
        doc.matrix(f"Z^({i})", f"Z^{{({i})}}", in_layout(layer.Z, columns))

    def a_panel(doc: HtmlDocument) -> None:
        doc.matrix(f"A^({i}) = {layer.activation}(Z^({i}))",
                   f"A^{{({i})}} = \\mathrm{{{layer.activation}}}(Z^{{({i})}})",
                   in_layout(layer.A, columns))

    return [Step(w("page.step.z", i=i), _units(i, n) + _edges(i, layer.W),
                 {**_per_unit(i, "z", layer.Z), **_per_edge(i, "w", layer.W)},
                 panel(z_panel, w)),
            Step(w("page.step.a", i=i, activation=layer.activation), _units(i, n),
                 _per_unit(i, "a", layer.A), panel(a_panel, w))]


def _forward_steps(d: Derivation, columns: bool, w: Words) -> list[Step]:
    steps = [Step(w("page.step.inputs"), _units(0, d.X.shape[1]),
                  _per_unit(0, "x", d.X),
                  panel(lambda doc: (section_notation(doc, d, columns),
                                     doc.matrix("X", "X", in_layout(d.X, columns)),
                                     doc.matrix("Y", "Y", in_layout(d.Y, columns))), w))]
    for layer in d.layers:
        steps += _layer_forward_steps(d, layer, columns, w)
    n_out = d.layers[-1].W.shape[0]
    steps.append(Step(w("page.step.loss"), ["loss"] + [f"eL-{j}" for j in range(_shown(n_out))],
                      {"loss": ("L", [float(f"{d.loss:.6g}")])},
                      panel(lambda doc: section_loss(doc, d), w)))
    return steps


def _layer_backward_steps(d: Derivation, layer: LayerMath, columns: bool, w: Words
                          ) -> list[Step]:
    """Layer i's backward steps: delta^(i); dW^(i) and db^(i); dA^(i-1) below layer 1."""
    i, n = layer.index, layer.W.shape[0]
    checks = {c.name.split("^")[0]: c for c in layer.checks}

    def delta_panel(doc: HtmlDocument) -> None:
        section_delta(doc, d, layer)
        doc.matrix(f"delta^({i})", rf"\delta^{{({i})}}", in_layout(layer.delta, columns))
        doc.check(checks["delta"])

    def dw_panel(doc: HtmlDocument) -> None:
        section_weight_gradients(doc, d, i, columns)
        doc.matrix(f"dW^({i})", f"dW^{{({i})}}", layer.dW)
        doc.matrix(f"db^({i})", f"db^{{({i})}}", vector_in_layout(layer.db, columns))
        doc.check(checks["dW"])
        doc.check(checks["db"])

    def da_panel(doc: HtmlDocument) -> None:
        doc.line(f"dA^({i - 1}) = W^({i})T delta^({i})" if columns else
                 f"dA^({i - 1}) = delta^({i}) W^({i})",
                 (rf"dA^{{({i - 1})}} = W^{{({i})\top}} \delta^{{({i})}}" if columns
                  else rf"dA^{{({i - 1})}} = \delta^{{({i})}} W^{{({i})}}"))
        doc.line(doc.words("page.da_sums"))
        doc.matrix(f"dA^({i - 1})", f"dA^{{({i - 1})}}", in_layout(layer.dA_prev, columns))
        doc.check(checks["dA"])

    steps = [Step(w("page.step.delta", i=i), _units(i, n), _per_unit(i, "δ", layer.delta),
                  panel(delta_panel, w)),
             Step(w("page.step.dw", i=i), _edges(i, layer.W) + _units(i, n),
                  {**_per_edge(i, "dw", layer.dW), **{
                      f"n{i}-{j}": ("db", [float(f"{layer.db[j]:.6g}")])
                      for j in range(_shown(n))}}, panel(dw_panel, w))]
    if i > 1:
        steps.append(Step(w("page.step.da", i=i, below=i - 1),
                          _units(i - 1, layer.W.shape[1]) + _edges(i, layer.W),
                          _per_unit(i - 1, "dA", layer.dA_prev), panel(da_panel, w)))
    return steps


def _backward_steps(d: Derivation, columns: bool, w: Words) -> list[Step]:
    return [step for layer in reversed(d.layers)
            for step in _layer_backward_steps(d, layer, columns, w)]


def mlp_steps(d: Derivation, columns: bool = False, lang: str | Words = "en") -> list[Step]:
    """The steps of the MLP page: inputs, Z and A per layer, the loss, delta, dW/db and dA
    per layer from the output down, [the per-example form], the update."""
    w = words(lang)
    steps = _forward_steps(d, columns, w) + _backward_steps(d, columns, w)
    every_edge = [e for layer in d.layers for e in _edges(layer.index, layer.W)]
    if d.per_example is not None:
        steps.append(Step(w("page.step.per_example"), every_edge, {},
                          panel(lambda doc: section_per_example(doc, d, columns), w)))

    def update(doc: HtmlDocument) -> None:
        section_update(doc, d, columns)
        if len(d.losses) > 2:
            for k, value in enumerate(d.losses):
                doc.line(w("mlp.after_step", k=k, loss=value))

    new = {}
    for layer in d.layers:
        new.update(_per_edge(layer.index, "w", layer.W_new))
    steps.append(Step(w("page.step.update"), every_edge, new, panel(update, w)))
    return steps


def mlp_fragment(d: Derivation, columns: bool = False, lang: str | Words = "en",
                 embedded: bool = False) -> str:
    """The interactive page of an MLP derivation as one <div> (see fragment_html)."""
    w = words(lang)
    return fragment_html(w("mlp.title"), mlp_diagram(d, w), mlp_steps(d, columns, w),
                         summary(d.checks, "", w), examples=len(d.X), lang=w,
                         embedded=embedded)


def mlp_page(d: Derivation, columns: bool = False, lang: str | Words = "en") -> str:
    """The interactive page of an MLP derivation (what ``render(d, 'html')`` returns)."""
    w = words(lang)
    return full_page(w("mlp.title"), mlp_fragment(d, columns, w))


# -- BPTT ------------------------------------------------------------------------------------


def bptt_diagram(d: Any, w: Words | None = None) -> Diagram:
    """The RNN unrolled: per time step x_t, h_t, o_t in a column; h_0 at the left; the
    loss on the right."""
    w = w or words()
    steps = len(d.xs)
    diagram = Diagram(170 * steps + 200, 300)
    diagram.nodes.append(("h0", w("rnn.node.h0"), 50, 150, "box"))
    for t in range(1, steps + 1):
        x = 50 + 170 * t
        diagram.nodes += [(f"x{t}", f"x_{t}", x, 250, "box"), (f"h{t}", f"h_{t}", x, 150, "box"),
                          (f"o{t}", f"o_{t} (p_{t} = softmax(o_{t}))", x, 50, "box")]
        diagram.edges += [(f"eU{t}", w("rnn.edge", weight="U", t=t), f"x{t}", f"h{t}"),
                          (f"eW{t}", w("rnn.edge", weight="W", t=t), f"h{t - 1}", f"h{t}"),
                          (f"eV{t}", w("rnn.edge", weight="V", t=t), f"h{t}", f"o{t}"),
                          (f"eL{t}", f"-log p_{t}[y_{t}]", f"o{t}", "loss")]
    diagram.nodes.append(("loss", "L", 50 + 170 * (steps + 1) - 40, 50, "box"))
    return diagram


def _bptt_backward_steps(d: Any, w: Words) -> list[Step]:
    """Backward per time step, from T down to 1."""
    from chainrule.explainer import bptt as B

    T, steps = len(d.xs), []
    for t in range(T - 1, -1, -1):
        s = t + 1
        back = [f"o{s}", f"h{s}", f"eV{s}", f"eL{s}"] + ([f"eW{s + 1}"] if s < T else [])

        def fill(doc: HtmlDocument, t: int = t) -> None:
            if t == T - 1:
                B.write_backward_rule(doc)
            B.write_backward(doc, d, t)

        steps.append(Step(w("rnn.step.backward", t=s), back,
                          {f"o{s}": ("do", _numbers(d.do[t])), f"h{s}": ("dh", _numbers(d.dh[t]))},
                          panel(fill, w)))
    return steps


def bptt_steps(d: Any, lang: str | Words = "en") -> list[Step]:
    """Weights; forward per time step; the loss; backward per time step from T down; each
    shared weight's sum over time."""
    from chainrule.explainer import bptt as B

    w, T = words(lang), len(d.xs)
    steps = [Step(w("rnn.step.weights"), [f"e{k}{t}" for k in "UWV" for t in range(1, T + 1)],
                  {}, panel(lambda doc: B.write_notation(doc, d), w))]
    for t in range(T):
        s = t + 1
        steps.append(Step(w("rnn.step.forward", t=s), [f"x{s}", f"h{s}", f"o{s}", f"eU{s}",
                                                       f"eW{s}", f"eV{s}"],
                          {f"x{s}": ("x", _numbers(d.xs[t])), f"h{s}": ("h", _numbers(d.h[s])),
                           f"o{s}": ("p", _numbers(d.p[t]))},
                          panel(lambda doc, t=t: B.write_forward(doc, d, t), w)))
    steps.append(Step(w("page.step.loss"), ["loss"] + [f"eL{t}" for t in range(1, T + 1)],
                      {"loss": ("L", [float(f"{d.loss:.6g}")])},
                      panel(lambda doc: B.write_loss(doc, d), w)))
    steps += _bptt_backward_steps(d, w)
    for k in B.NAMES:
        edge = {"U": "eU", "W": "eW", "V": "eV", "b": "eU", "c": "eV"}[k]
        shares = {f"{edge}{t + 1}": (w("rnn.share", weight=k), _numbers(d.per_step[k][t]))
                  for t in range(T)}
        steps.append(Step(w("rnn.step.sum", weight=k), [f"{edge}{t}" for t in range(1, T + 1)],
                          shares, panel(lambda doc, k=k: B.write_weight_sum(doc, d, k), w)))
    return steps


def bptt_fragment(d: Any, lang: str | Words = "en", embedded: bool = False) -> str:
    """The interactive page of the BPTT derivation as one <div> (see fragment_html)."""
    from chainrule.explainer.bptt import bptt_summary

    w = words(lang)
    return fragment_html(w("rnn.title"), bptt_diagram(d, w), bptt_steps(d, w),
                         bptt_summary(d, w), lang=w, embedded=embedded)


def bptt_page(d: Any, lang: str | Words = "en") -> str:
    """The interactive page of the BPTT derivation (``render_bptt(d, 'html')``)."""
    w = words(lang)
    return full_page(w("rnn.title"), bptt_fragment(d, w))


# -- any report ------------------------------------------------------------------------------


def write(d: Any, fmt: str, columns: bool = False, full: bool = False,
          lang: str | Words = "en") -> str:
    """The report ``d`` (a Derivation or a BPTT) as text, markdown or html (``full``: every
    entry of large matrices in text and markdown), in language ``lang``."""
    from chainrule.explainer.bptt import BPTT, render_bptt

    if isinstance(d, BPTT):
        return render_bptt(d, fmt, lang)
    return render(d, fmt, columns, full, lang)


def fragment(d: Any, columns: bool = False, lang: str | Words = "en") -> str:
    """The interactive page of ``d`` as one <div> for embedding (Jupyter's _repr_html_)."""
    from chainrule.explainer.bptt import BPTT

    if isinstance(d, BPTT):
        return bptt_fragment(d, lang, embedded=True)
    return mlp_fragment(d, columns, lang, embedded=True)
