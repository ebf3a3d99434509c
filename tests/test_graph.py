"""`chainrule graph` and viz.draw_graph: exact values and gradients, fan-out, safe parsing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.viz import build_graph, draw_graph
from chainrule.viz.expression import ExpressionError, evaluate, parse, parse_values


def graph_of(expr: str, values: str):
    out, leaves = evaluate(parse(expr), parse_values(values))
    nodes = build_graph(out, leaves)
    return out, {n.label: n for n in nodes if not n.op}, nodes


def test_add_multiply_example():
    out, leaves, nodes = graph_of("(x + y) * z", "x=-2,y=5,z=-4")
    assert out.item() == -12
    assert {k: float(v.grad) for k, v in leaves.items()} == {"x": -4, "y": -4, "z": 3}
    text = draw_graph(out, "text")
    assert "value -12" in text and "grad -4" in text and "grad 3" in text


def test_shopping_example():
    out, leaves, _ = graph_of("price * count * tax", "price=100,count=2,tax=1.1")
    assert out.item() == pytest.approx(220)
    grads = {k: float(v.grad) for k, v in leaves.items()}
    assert grads == pytest.approx({"price": 2.2, "count": 110, "tax": 200})


def test_sigmoid_neuron_against_hand_derivation():
    out, leaves, _ = graph_of("sigmoid(w0*x0 + w1*x1 + w2)", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3")
    s = 1 / (1 + np.exp(-1.0))  # w0 x0 + w1 x1 + w2 = 1
    local = s * (1 - s)  # the sigmoid's derivative, sent to every input of the sum
    assert out.item() == pytest.approx(s)
    want = {"w0": -1 * local, "x0": 2 * local, "w1": -2 * local, "x1": -3 * local, "w2": local}
    assert {k: float(v.grad) for k, v in leaves.items()} == pytest.approx(want)


def test_fan_out_edges_sum_to_the_total():
    out, leaves, nodes = graph_of("x * x + x", "x=3")
    x = leaves["x"]
    edges = [float(g) for n in nodes for key, g in n.inputs if key == x.key]
    assert sorted(edges) == [1.0, 3.0, 3.0]
    assert float(x.grad) == sum(edges) == 7.0


@pytest.mark.parametrize("expr, message", [
    ("__import__('os')", "only these functions can be called"),
    ("os.system('ls')", "only these functions can be called"),
    ("x.grad", "attribute access is not allowed"),
    ("(lambda: 1)()", "only these functions"),
    ("x[0]", "indexing is not allowed"),
    ("[i for i in y]", "comprehensions are not allowed"),
    ("9**9**9", "nested powers"),
    ("x ** 100000", "exponent .* too large"),
    ("10**100000", "too large"),
    ("x + 1e300", "too large"),
    ("'a' + x", "only numbers"),
    ("x if y else z", "conditional expressions"),
    ("exp(x, base=2)", "keyword arguments"),
    ("+".join(["x"] * 2000), "characters long"),
])
def test_refuses_unsafe_expressions_quickly(expr, message):
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match=message):
        parse(expr)
    assert time.perf_counter() - start < 0.1


def test_missing_values_and_bad_value_syntax():
    with pytest.raises(ExpressionError, match="no value for z"):
        evaluate(parse("x * z"), parse_values("x=1"))
    with pytest.raises(ExpressionError, match="not a number"):
        parse_values("x=abc")
    with pytest.raises(ExpressionError, match="name=number pairs"):
        parse_values("x")
    assert parse_values("w=[1,2,3],b=-1")["w"].tolist() == [1.0, 2.0, 3.0]


def test_arrays_and_model_loss_graph(tmp_path):
    out, leaves, _ = graph_of("sum(w * x)", "w=[1,2,3],x=[4,5,6]")
    assert out.item() == 32
    assert leaves["w"].grad.tolist() == [4, 5, 6]
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1))
    loss = nn.MSELoss()(model(cr.randn(3, 2)), cr.zeros(3, 1))
    text = draw_graph(loss, "text", names=dict(model.named_parameters()))
    assert "0.weight" in text and "2.bias" in text and "linear" in text
    dot = draw_graph(loss, "dot", names=dict(model.named_parameters()))
    assert dot.startswith("digraph chainrule {") and "->" in dot


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot program is not installed (apt-get install graphviz)")
def test_renders_svg_and_capped_png(tmp_path):
    out, leaves = evaluate(parse("(x + y) * z"), parse_values("x=-2,y=5,z=-4"))
    draw_graph(out, "svg", tmp_path / "g.svg", names=leaves)
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "-12" in svg
    big = cr.tensor(1.0, requires_grad=True, dtype=np.float64)
    y = big
    for _ in range(200):
        y = y * 1.001
    draw_graph(y, "png", tmp_path / "g.png")
    png = (tmp_path / "g.png").read_bytes()
    width = int.from_bytes(png[16:20], "big")
    assert png[:4] == b"\x89PNG" and width <= 2100


def test_cli_graph(tmp_path):
    run = subprocess.run([sys.executable, "-m", "chainrule", "graph", "(x + y) * z",
                          "--values", "x=-2,y=5,z=-4", "--format", "text"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "value -12" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "chainrule", "graph", "os.system('ls')"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("chainrule: error: graph:")
    assert "Traceback" not in bad.stderr
    dot = subprocess.run([sys.executable, "-m", "chainrule", "graph", "x * y", "--values",
                          "x=2,y=3", "--format", "dot", "--out", str(tmp_path / "g.dot")],
                         capture_output=True, text=True, timeout=60)
    assert dot.returncode == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")


def _graph_cli(tmp_path, path_dirs: str) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PATH": path_dirs}
    return subprocess.run([sys.executable, "-m", "chainrule", "graph", "x * y", "--values",
                           "x=2,y=3", "--format", "svg", "--out", str(tmp_path / "g.svg")],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)


def test_without_dot_the_dot_file_is_written_with_how_to_render_it(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    run = _graph_cli(tmp_path, str(empty))
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "'dot' program is not installed" in run.stderr and "dot -Tsvg" in run.stderr
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not (tmp_path / "g.svg").exists()


def test_a_failing_dot_is_one_line_not_a_traceback(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 3\n")
    (fake / "dot").chmod(0o755)
    run = _graph_cli(tmp_path, str(fake))
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("chainrule: error: graph: Graphviz's dot failed (exit 3): "
                                 "Error: syntax error")
    assert not (tmp_path / "g.svg").exists()


def test_every_registered_activation_is_callable_in_an_expression():
    """The graph whitelist reads the one activation registry: a parameter goes positionally."""
    from chainrule.nn.activation import ACTIVATIONS

    with pytest.raises(ExpressionError, match="only these functions can be called") as refused:
        parse("swish(x)")
    listed = str(refused.value).split(": ")[2].split("; ")[0].split(", ")
    for name in ACTIVATIONS:
        assert name in listed, name
        parse(f"{name}(x)")
    out, leaves = evaluate(parse("leaky_relu(x, 0.2) + elu(x)"), parse_values("x=-2"))
    out.backward()
    assert out.item() == pytest.approx(-0.4 + np.expm1(-2.0))
    assert leaves["x"].grad.item() == pytest.approx(0.2 + np.exp(-2.0))


def test_html_page_of_the_graph(tmp_path):
    """The interactive page: the leaves, each op forward, the backward pass with each edge's
    gradient; self-contained (inline script, nothing fetched)."""
    import json
    import re

    out, leaves, nodes = graph_of("(x + y) * z", "x=-2,y=5,z=-4")
    page = draw_graph(out, "html", tmp_path / "g.html")
    assert (tmp_path / "g.html").read_text() == page and page.startswith("<!DOCTYPE html>")
    assert re.search(r"\s(src|href)=", page) is None and "http" not in page
    data = json.loads(re.search(r"class='crx-data'>(.*?)</script>", page).group(1))
    titles = [s["t"] for s in data["steps"]]
    assert titles == ["the inputs", "forward: +", "forward: *",
                      "backward: the output's gradient is 1", "backward through *",
                      "backward through +"]
    last = data["steps"][-1]["val"]
    assert sorted(v[1][0] for v in last.values()) == [-4, -4, -4, -4]  # x, y and their edges
    with pytest.raises(ValueError, match="text, dot, svg, png or html"):
        draw_graph(out, "pdf")
