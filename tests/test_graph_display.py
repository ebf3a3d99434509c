"""Drawing the graph after backward() (what a released node keeps, and that a training
loop keeps no more than before), and draw_graph's picture in Jupyter (SVG through Graphviz
or the built-in layout)."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn
from chainrule.autograd.function import DRAWN_ELEMENTS, Function


def _mlp(seed: int = 0) -> tuple[nn.Module, cr.Tensor, cr.Tensor]:
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10))
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((128, 20)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 10, 128))
    return model, x, y


def _live_functions() -> int:
    gc.collect()
    return sum(issubclass(type(o), Function) for o in gc.get_objects())  # no __class__ lookups


# -- what backward releases and what it keeps ----------------------------------------------

def test_backward_frees_the_activations_but_keeps_the_structure():
    """An intermediate nothing else holds is freed by backward, as before; its node keeps
    which node made each input, and the value's shape."""
    w = cr.tensor(np.ones((4, 8), np.float32), requires_grad=True)
    x = cr.tensor(np.ones((3, 4), np.float32))
    h = F.relu(x @ w)
    gone = weakref.ref(h)
    relu = h.grad_fn
    loss = h.sum()
    del h
    assert gone() is not None  # held by the graph until backward
    loss.backward()
    assert gone() is None  # the activation went with the pass, as it always did
    assert relu.inputs is None and relu.saved is None
    trace = loss.grad_fn.trace
    assert trace.inputs == [relu]
    assert relu.trace.values == [(3, 8)] and 3 * 8 > DRAWN_ELEMENTS  # the shape only
    assert trace.values[0] == pytest.approx(96.0) and trace.grads[0] == 1.0
    matmul = relu.trace.inputs[0]
    assert matmul.name == "MatMul" and matmul.trace.inputs[1] is w


def test_release_drops_the_ops_own_buffers():
    """Slots an op fills in forward for its backward (masks, indices) go with the release,
    since a released node now lives as long as the output that leads to it."""
    x = cr.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), requires_grad=True)
    out = F.max_pool2d(x, 2)
    pool = out.grad_fn
    assert pool.saved is not None
    out.sum().backward()
    slots = [s for c in type(pool).__mro__ if c is not Function
             for s in c.__dict__.get("__slots__", ())]
    assert slots and all(getattr(pool, s) is None for s in slots), slots


def test_a_large_constant_is_not_kept_alive_and_a_small_one_is():
    w = cr.tensor(np.ones(5, np.float32), requires_grad=True)
    batch = cr.tensor(np.ones((10, 5), np.float32))
    two = cr.tensor(2.0)
    loss = (batch * w * two).sum()
    gone = weakref.ref(batch)
    del batch
    loss.backward()
    assert gone() is None
    mul_two = loss.grad_fn.trace.inputs[0]
    assert mul_two.trace.inputs[1] is two


def test_a_second_backward_is_still_refused_clearly():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="a second time.*retain_graph=True"):
        y.backward()


def test_kept_gradients_are_copies():
    """A gradient changed in place later (clipping, zero_grad(set_to_none=False)) does not
    change what the trace recorded: (x + y) hands its upstream gradient to x's .grad as is."""
    x = cr.tensor(1.0, requires_grad=True)
    y = cr.tensor(2.0, requires_grad=True)
    s = x + y
    add = s.grad_fn
    (s * 3).backward()
    x.grad.data[...] = 100
    assert add.trace.grads[0] == 3 and add.trace.input_grads == [3, 3]


# -- memory and the training loop ----------------------------------------------------------

def test_a_released_graph_holds_its_nodes_not_its_activations():
    """A fit loop keeps `loss` until the next step builds the next one: what that released
    graph holds is its nodes and small traces, not its activations (128 x 64 floats each,
    about 32 KB)."""
    model, x, y = _mlp()
    F.cross_entropy(model(x), y).backward()  # the parameters' .grad exist from here on
    tracemalloc.start()
    try:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        with_graph = tracemalloc.get_traced_memory()[0]
        assert loss.grad_fn.trace is not None
        del loss
        held = with_graph - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert 0 < held < 128 * 64 * 4 / 4, held


def test_memory_and_live_nodes_stay_bounded_over_a_long_loop():
    model, x, y = _mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    counts, sizes = [], []
    tracemalloc.start()
    try:
        for step in range(200):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)  # the last step's graph goes out of scope
            loss.backward()
            opt.step()
            if step in (20, 199):
                counts.append(_live_functions())
                sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert counts[1] <= counts[0] < 30, counts  # one step's graph, not 200
    assert sizes[1] - sizes[0] < 64 * 1024, sizes


# -- drawing after backward ----------------------------------------------------------------

EXPRESSIONS = [("(x + y) * z", "x=-2,y=5,z=-4"), ("x * x + x * 2", "x=3"),
               ("sigmoid(w0*x0 + w1*x1 + w2)", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"),
               ("sum(w * x) / 3", "w=[1,2,3],x=[4,5,6]"), ("tanh(x) * exp(x)", "x=0.5")]


@pytest.mark.parametrize("expr, values", EXPRESSIONS)
def test_drawing_after_backward_is_the_drawing_before(expr, values):
    """micrograd's `L.backward(); draw_dot(L)`: the same values and gradients, in every
    format, whether the graph was drawn before backward or after it released the graph."""
    from chainrule.viz import build_graph, draw_graph
    from chainrule.viz.expression import evaluate, parse, parse_values

    out, leaves = evaluate(parse(expr), parse_values(values))
    import re

    def draw(f: str) -> str:  # each page has its own ids, so that several fit in a notebook
        return re.sub(r"crx-[0-9a-f]{12}", "crx-ID", draw_graph(out, f, names=leaves))

    before = {f: draw(f) for f in ("text", "dot", "html")}
    out.backward()
    assert out.grad_fn.inputs is None  # released: drawn from the traces
    for f, text in before.items():
        assert draw(f) == text, f
    for n in build_graph(out, leaves):
        if n.label in leaves:
            np.testing.assert_array_equal(n.grad, leaves[n.label].grad.data)


def test_a_model_loss_after_backward_shows_shapes_for_large_arrays():
    from chainrule.viz import draw_graph

    model, x, y = _mlp()
    names = dict(model.named_parameters())
    loss = F.cross_entropy(model(x), y)
    before = draw_graph(loss, names=names)
    loss.backward()
    after = draw_graph(loss, names=names)
    assert after == before  # every array here is larger than a drawing prints
    assert "0.weight: value array(64, 20), grad array(64, 20)" in after
    assert "relu: value array(128, 64), grad array(128, 64)" in after
    assert after.splitlines()[0].startswith(f"cross_entropy: value {loss.item():.4g}, grad 1")


def test_a_later_output_of_a_multi_output_op_after_backward():
    """The fused LSTM node has several outputs; the cell state is a later one."""
    from chainrule.viz import draw_graph

    cr.manual_seed(0)
    out, (_, c) = nn.LSTM(2, 3)(cr.randn(4, 1, 2))
    loss = out.sum() + c.sum()
    before = draw_graph(loss)
    loss.backward()
    [(lstm, index)] = c.grad_fn.trace.inputs  # c is a reshape of a later output
    assert lstm.name == "FusedLSTM" and index > 0
    assert draw_graph(loss) == before and before.count("lstm: value") == 2


def test_after_backward_with_retain_graph_the_gradients_are_computed_again():
    from chainrule.viz import draw_graph
    from chainrule.viz.expression import evaluate, parse, parse_values

    out, leaves = evaluate(parse("x * y"), parse_values("x=2,y=3"))
    out.backward(retain_graph=True)
    out.backward(retain_graph=True)  # .grad accumulated twice; the drawing is of one pass
    assert leaves["x"].grad.item() == 6
    assert "x: value 2, grad 3" in draw_graph(out, names=leaves)


def test_after_backward_the_leaves_show_their_grad():
    from chainrule.viz import draw_graph
    from chainrule.viz.expression import evaluate, parse, parse_values

    out, leaves = evaluate(parse("x * y"), parse_values("x=2,y=3"))
    out.backward()
    leaves["x"].grad = None
    assert "x: value 2, grad -" in draw_graph(out, names=leaves)
    assert "y: value 3, grad 2" in draw_graph(out, names=leaves)


def test_a_graph_partly_released_by_another_backward_is_refused_in_one_message():
    from chainrule.viz import draw_graph

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    with pytest.raises(ValueError, match=r"part of this graph \(Mul\) was released by the "
                                         r"backward\(\) of another tensor"):
        draw_graph((h * 3).sum())


def test_a_gone_large_constant_is_drawn_by_its_shape_and_a_live_one_by_its_name():
    from chainrule.viz import draw_graph

    w = cr.tensor(np.ones(7), requires_grad=True)
    batch = cr.tensor(np.arange(7.0))
    loss = (w * batch).sum()
    loss.backward()
    assert "    batch: value array(7,), grad -" in draw_graph(loss, names={"batch": batch})
    del batch
    assert "    const: value array(7,), grad -" in draw_graph(loss)


# -- the picture in a notebook -------------------------------------------------------------

def _labels(svg: str) -> set[str]:
    """The text of every <text> element of an SVG document (which must parse as XML)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return {"".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")}


def _drawing(names: bool = True):
    from chainrule.viz import build_graph, draw_graph

    a = cr.tensor(2.0, requires_grad=True)
    b = cr.tensor(-3.0, requires_grad=True)
    out = F.sigmoid(a * b + a)
    leaves = {"a<1> & 'b'": a, 'say "b"': b} if names else None
    return draw_graph(out, names=leaves), build_graph(out, leaves)


def _no_dot(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no dot to be found
    import shutil

    assert shutil.which("dot") is None


def test_draw_graph_returns_todays_text_as_a_str():
    from chainrule.viz import Drawing
    from chainrule.viz.graph import to_text

    drawing, nodes = _drawing()
    assert isinstance(drawing, Drawing) and isinstance(drawing, str)
    assert drawing == to_text(nodes) and type(str(drawing)) is str
    assert str(drawing) == to_text(nodes) and f"{drawing}" == to_text(nodes)


def test_without_graphviz_the_built_in_layout_draws_every_label_escaped(monkeypatch, tmp_path):
    drawing, nodes = _drawing()
    _no_dot(monkeypatch, tmp_path)
    svg = drawing._repr_svg_()
    assert "computational graph: values and gradients" in svg  # the built-in one
    texts = _labels(svg)
    for n in nodes:
        assert n.label in texts, n.label
    assert "a<1> & 'b'" in texts and 'say "b"' in texts
    assert "&lt;1&gt; &amp;" in svg
    assert drawing._repr_svg_() is svg  # drawn once


@pytest.mark.skipif(__import__("shutil").which("dot") is None,
                    reason="Graphviz's dot program is not installed (apt-get install graphviz)")
def test_with_graphviz_dot_draws_it():
    from chainrule.viz.graph import _fmt

    drawing, nodes = _drawing(names=False)
    svg = drawing._repr_svg_()
    assert "computational graph: values and gradients" not in svg  # Graphviz's, not ours
    texts = _labels(svg)
    for n in nodes:  # Graphviz writes each line of a node as a <text> of its own
        assert {n.label, f"value {_fmt(n.value)}", f"grad {_fmt(n.grad)}"} <= texts, n.label
    assert "value 0.01799" in texts  # sigmoid(2 * -3 + 2)


def test_a_failing_dot_falls_back_to_the_built_in_layout(tmp_path, monkeypatch):
    drawing, _ = _drawing()
    (tmp_path / "dot").write_text("#!/bin/sh\necho 'Error: broken' >&2\nexit 3\n")
    (tmp_path / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "computational graph: values and gradients" in drawing._repr_svg_()
    with pytest.raises(OSError, match=r"dot failed \(exit 3\): Error: broken"):
        drawing.svg(graphviz=True)


def test_asking_for_graphviz_without_it_says_so(monkeypatch, tmp_path):
    drawing, _ = _drawing()
    _no_dot(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError, match="svg\\(graphviz=False\\) draws without it"):
        drawing.svg(graphviz=True)


def test_the_built_in_layout_places_each_box_right_of_its_inputs():
    """Columns: every edge goes left to right, and the two edges of x * x end apart."""
    import re

    from chainrule.viz import draw_graph

    x = cr.tensor(3.0, requires_grad=True)
    svg = draw_graph(x * x + x, names={"x": x}).svg(graphviz=False)
    ends = []
    for d in re.findall(r'<path d="([^"]+)"', svg):
        x0, y0, *_, x1, y1 = map(float, re.findall(r"-?[\d.]+", d))
        assert x1 > x0
        ends.append((x1, y1))
    assert len(ends) == 4 and len(set(ends)) == 4


def test_ipython_shows_the_svg_and_the_plain_text():
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    drawing, nodes = _drawing(names=False)
    data, _ = DisplayFormatter().format(drawing)
    assert data["text/plain"] == str(drawing)  # the text, not a quoted str repr
    assert {n.label for n in nodes} <= _labels(data["image/svg+xml"])


def test_the_drawing_holds_text_not_the_graphs_arrays():
    from chainrule.viz import draw_graph

    w = cr.tensor(np.ones((50, 50)), requires_grad=True)
    h = w * 2
    gone = weakref.ref(h)
    drawing = draw_graph(h.sum())
    del h
    gc.collect()
    assert gone() is None and drawing.boxes[-1].lines[0] == "sum"


@pytest.mark.parametrize("graphviz", [True, False])
def test_a_notebook_shows_the_graph_as_svg(graphviz, tmp_path, monkeypatch):
    """In a real kernel (tests/notebooks.py: nbclient + ipykernel, skipping where they are
    missing), after backward: image/svg+xml with every label, through Graphviz's dot or,
    with a PATH that has no dot, through the built-in layout; text/plain is the text."""
    import os
    import shutil
    import sys

    notebooks = pytest.importorskip(
        "notebooks", reason="tests/notebooks.py, which runs the kernels, is not in this checkout")
    if graphviz and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed (apt-get install graphviz)")
    if not graphviz:  # the kernel finds python, and no dot
        real = notebooks.kernel_env
        path = os.pathsep.join([str(tmp_path), os.path.dirname(sys.executable)])
        assert shutil.which("dot", path=path) is None
        monkeypatch.setattr(notebooks, "kernel_env", lambda: {**real(), "PATH": path})
    outputs = notebooks.run_notebook([
        "from chainrule.viz import draw_graph\n"
        "from chainrule.viz.expression import evaluate, parse, parse_values\n"
        "L, leaves = evaluate(parse('(x + y) * z'), parse_values('x=-2,y=5,z=-4'))\n"
        "L.backward()\n"
        "draw_graph(L, names=leaves)"])
    data = notebooks.rich_data(outputs[0])
    svg = data["image/svg+xml"]
    assert ("computational graph: values and gradients" in svg) is not graphviz
    assert {"*", "+", "x", "y", "z", "value -12", "grad -4", "grad 3"} <= _labels(svg)
    assert data["text/plain"].startswith("*: value -12, grad 1\n  +: value 3, grad -4")
