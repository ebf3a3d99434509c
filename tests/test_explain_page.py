"""The interactive derivation pages in a real browser (headless Chromium): what ``#step=N``
highlights and shows, the keys and buttons of several reports on one page, a screenshot
that is not blank. Skipped, saying why, where Chromium is not installed (.ci/run installs
Debian's chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.explainer import default_example, derive
from chainrule.explainer.bptt import default_rnn, derive_bptt
from chainrule.explainer.page import bptt_fragment, full_page, mlp_fragment, mlp_steps

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get "
                                                          "install chromium), so the pages "
                                                          "cannot be rendered")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
         "--window-size=1100,900"]


def browse(path: Path, fragment: str = "", *extra: str) -> str:
    """The DOM of the page after its scripts ran (or, with --screenshot, Chromium's log)."""
    url = path.resolve().as_uri() + fragment
    run = subprocess.run([CHROMIUM, *FLAGS, *extra, url], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


class Elements(HTMLParser):
    """Every element's tag and attributes; per data-id'd diagram item, the value it shows
    (``shown``) and its tooltip (``tip``)."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.items: list[tuple[str, dict[str, str]]] = []
        self.shown: dict[str, str] = {}
        self.tip: dict[str, str] = {}
        self._open: list[tuple[str, str | None, str]] = []
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        self.items.append((tag, a))
        if tag not in ("br", "meta", "input", "img", "hr", "link"):  # the void elements
            self._open.append((tag, a.get("data-id"), a.get("class", "")))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        owner = next((key for _, key, _ in reversed(self._open) if key), None)
        if owner is None or not self._open:
            return
        tag, _, cls = self._open[-1]
        if tag == "title":
            self.tip[owner] = self.tip.get(owner, "") + data
        elif cls == "v":
            self.shown[owner] = self.shown.get(owner, "") + data

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.items if name in a.get("class", "").split()]

    def highlighted(self) -> set[str]:
        return {a["data-id"] for a in self.with_class("on") if "data-id" in a}


def js(v: float) -> str:
    """A number as the page's script shows it (4 decimals, no trailing zeros)."""
    return f"{round(float(v), 4):g}"


def page_file(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_text(full_page("test", body))
    return path


def test_mlp_page_opens_at_the_step_in_the_url(tmp_path):
    model, x, y = default_example()
    path = tmp_path / "bp.html"
    path.write_text(cr.explain(model, x, y, format="html"))
    dom = Elements(browse(path, "#step=11", "--dump-dom"))
    root = dom.with_class("crx")[0]
    assert root["data-step"] == "11"
    assert dom.highlighted() == {f"e1-{j}-{i}" for j in range(2) for i in range(2)} | {
        "n1-0", "n1-1"}  # dW^(1): the edges into layer 1, db^(1): its units
    steps = [a for tag, a in dom.items if tag == "li" and "step" in a.get("class", "")]
    assert [("hidden" in a) for a in steps].count(False) == 1  # only step 11 shows
    assert "now" in steps[10]["class"] and "hidden" not in steps[10]
    # each node shows its current value: db^(1) on the hidden units, x on the inputs,
    # the loss on the loss node (all from the derivation)
    d = derive(model, x, y)
    assert dom.shown["n1-0"] == f"db {js(d.layers[0].db[0])}"
    assert dom.shown["n0-0"] == "x 0.05" and dom.shown["loss"] == f"L {js(d.loss)}"
    # the tooltips: a weight edge's value at this step, dW^(1)[1,2]; a unit's over examples
    assert dom.tip["e1-0-1"] == f"W^(1)[1,2]: dw = {js(d.layers[0].dW[0, 1])}"
    assert dom.tip["n0-1"] == "x2 (input 2): x = 0.1, 0.3"


def test_bptt_page_highlights_the_backward_step(tmp_path):
    d = derive_bptt(*default_rnn())
    path = page_file(tmp_path, bptt_fragment(d))
    # steps: weights, forward t=1..3, loss, backward t=3 (step 6)
    dom = Elements(browse(path, "#step=6", "--dump-dom"))
    assert dom.with_class("crx")[0]["data-step"] == "6"
    assert dom.highlighted() == {"o3", "h3", "eV3", "eL3"}
    assert dom.shown["o3"] == "do [0.3759, -0.3759]"
    assert dom.shown["h3"] == "dh [0.4135, -0.2631]"
    assert dom.shown["o1"].startswith("p [")  # earlier forward values stay on their nodes


def test_graph_page_shows_edge_gradients_summing_at_a_shared_value(tmp_path):
    from chainrule.viz.expression import evaluate, parse, parse_values
    from chainrule.viz.graph import draw_graph

    out, leaves = evaluate(parse("x * x + x"), parse_values("x=3"))
    path = tmp_path / "graph.html"
    draw_graph(out, "html", path, names=leaves)
    html = path.read_text()
    n = int(re.search(r"(\d+) steps</span>", html).group(1))
    dom = Elements(browse(path, f"#step={n}", "--dump-dom"))  # the last: backward through *
    assert dom.with_class("crx")[0]["data-step"] == str(n)
    x = next(a["data-id"] for a in dom.with_class("n") if a["data-name"] == "x")
    assert dom.shown[x] == "grad 7"  # 3 + 3 + 1 over its three edges
    assert "the sum over the 3 edges it feeds" in html


def test_several_reports_on_one_page_keep_their_own_state(tmp_path):
    """Two reports and a script pressing keys in the first and clicking 'back' in the
    second: each moves alone; their ids differ; #step=3 opened both at step 3."""
    model, x, y = default_example()
    d = derive(model, x, y)
    body = mlp_fragment(d) + bptt_fragment(derive_bptt(*default_rnn()))
    driver = ("<script>var r=document.querySelectorAll('.crx');"
              "function key(el,k){el.dispatchEvent(new KeyboardEvent('keydown',"
              "{key:k,bubbles:true}));}"
              "key(r[0],'ArrowRight');key(r[0],'ArrowRight');key(r[0].querySelector('button'),"
              "'ArrowRight');r[1].querySelector('[data-go=prev]').click();"
              "document.body.setAttribute('data-math',"
              "String(r[0].querySelector('.now math').getBoundingClientRect().height));</script>")
    path = page_file(tmp_path, body + driver)
    dom = Elements(browse(path, "#step=3", "--dump-dom"))
    roots = dom.with_class("crx")
    assert len({r["id"] for r in roots}) == 2
    assert [r["data-step"] for r in roots] == ["6", "2"]
    body_attrs = next(a for tag, a in dom.items if tag == "body")
    assert float(body_attrs["data-math"]) > 10  # MathML typeset with a real height


@pytest.mark.slow  # a full-window screenshot: several seconds on a loaded machine
def test_the_screenshot_is_not_blank_and_shows_the_highlight(tmp_path):
    from matplotlib.image import imread

    model, x, y = default_example()
    path = tmp_path / "bp.html"
    path.write_text(cr.explain(model, x, y, format="html"))
    png = tmp_path / "shot.png"
    browse(path, "#step=3", f"--screenshot={png}")
    image = imread(png)[..., :3]
    assert image.std() > 0.05  # not a uniform picture
    orange = np.array([0xE8, 0x59, 0x0C]) / 255  # the highlighted edges and nodes
    assert (np.abs(image - orange).max(axis=-1) < 0.05).sum() > 50


def test_reports_in_a_notebook_leave_the_address_alone(tmp_path):
    """Reports as Jupyter embeds them (``_repr_html_``, inside the cells' own elements):
    #step=N in the address opens none of them, stepping one writes no address, each moves
    alone, and the Chinese one says where it is in Chinese."""
    model, x, y = default_example()
    cells = "".join(f"<div class='cell'><div class='output'>{r._repr_html_()}</div></div>"
                    for r in (cr.explain(model, x, y), cr.explain(model, x, y, lang="zh")))
    driver = ("<script>var r=document.querySelectorAll('.crx');"
              "r[0].querySelector('[data-go=next]').click();"
              "r[1].querySelector('[data-go=last]').click();"
              "document.body.setAttribute('data-hash',location.hash);"
              "document.body.setAttribute('data-at',r[1].querySelector('.at').textContent);"
              "</script>")
    dom = Elements(browse(page_file(tmp_path, cells + driver), "#step=5", "--dump-dom"))
    roots = dom.with_class("crx")
    n = len(mlp_steps(derive(model, x, y)))
    assert [r["data-step"] for r in roots] == ["2", str(n)]
    body = next(a for tag, a in dom.items if tag == "body")
    assert body["data-hash"] == "#step=5"
    assert body["data-at"] == f"第 {n} 步，共 {n} 步：更新：W <- W - alpha dW，b <- b - alpha db"
