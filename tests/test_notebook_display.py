"""In a real Jupyter kernel (nbclient + ipykernel): a training run shows tqdm.auto progress,
its history's plot() displays as image/png (with and without matplotlib's inline backend,
once), and Module.summary() as an HTML table."""

from __future__ import annotations

import base64

import pytest
from notebooks import SRC, rich_data, run_notebook, stream_text

PNG = b"\x89PNG\r\n\x1a\n"

CELLS = [
    # 0: this checkout's chainrule, and the progress display a kernel gets
    "import sys\n"
    "import chainrule as cr\n"
    "from chainrule import nn, optim\n"
    "from chainrule.data import load_digits\n"
    "from chainrule.train import fit\n"
    "from chainrule.train.progress import Progress\n"
    "print(cr.__file__)\n"
    "print(Progress(1, 1).display)",
    # 1: a short training run
    "X, y = load_digits(scale=True)\n"
    "cr.manual_seed(0)\n"
    "model = nn.mlp([64, 32, 10])\n"
    "history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5),\n"
    "              (X[:400], y[:400]), (X[400:500], y[400:500]), epochs=2, batch_size=50,\n"
    "              seed=0)",
    # 2: the curves before pyplot is imported: no inline backend printer is registered yet
    "print('matplotlib.pyplot' in sys.modules)\n"
    "history.plot()",
    # 3: and with the inline backend active: still shown once, not twice
    "import matplotlib.pyplot as plt\n"
    "history.plot()",
    # 4: the summary, as a notebook shows it and as print shows it
    "model.summary((1, 64))",
    "print(model.summary((1, 64)))",
]


@pytest.fixture(scope="module")
def outputs() -> list[list[dict]]:
    return run_notebook(CELLS)


def _png(outputs: list[dict]) -> bytes:
    return base64.b64decode(rich_data(outputs)["image/png"])


def test_the_kernel_runs_this_checkout_and_picks_notebook_progress(outputs):
    printed = stream_text(outputs[0]).splitlines()
    assert printed[0].startswith(str(SRC))
    assert printed[1] == "notebook"


def test_training_shows_progress_bars_in_the_cell(outputs):
    err, data = stream_text(outputs[1], "stderr"), rich_data(outputs[1])
    if "application/vnd.jupyter.widget-view+json" in data:  # ipywidgets: tqdm's widgets
        texts = [o["data"].get("text/plain", "") for o in outputs[1] if "data" in o]
        assert any("epochs" in t for t in texts) and any("epoch 2" in t for t in texts)
    else:  # tqdm's text bar, one kept per epoch with its metrics, no cursor movements
        assert "epoch 1/2: 100%" in err and "epoch 2/2: 100%" in err and "val_loss" in err
        assert "\x1b[" not in err
    assert "epoch 1/2  loss" not in err  # not the plain lines of a log


@pytest.mark.parametrize("cell", [2, 3], ids=["without-inline-backend", "inline-backend"])
def test_history_plot_displays_as_one_png(outputs, cell):
    images = [o for o in outputs[cell] if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert _png(outputs[cell]).startswith(PNG)
    if cell == 2:
        assert stream_text(outputs[2]).strip() == "False"


def test_summary_displays_as_an_html_table_and_prints_as_text(outputs):
    data = rich_data(outputs[4])
    assert "<table" in data["text/html"] and "(Linear)</td>" in data["text/html"]
    assert "Total params: 2,410" in data["text/plain"]  # 64*32 + 32 + 32*10 + 10
    printed = stream_text(outputs[5])
    assert printed.splitlines()[0].startswith("Layer (type)") and "<table" not in printed


def test_without_the_notebook_packages_the_tests_skip_saying_why(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nbclient", None)  # as if not installed
    with pytest.raises(pytest.skip.Exception, match="needs nbclient, nbformat and ipykernel"):
        run_notebook(["1"])


def test_a_kernel_that_cannot_start_skips_saying_why(monkeypatch):
    nbclient = pytest.importorskip("nbclient")

    def no_kernel(self, **kwargs):
        raise RuntimeError("no ports left")

    monkeypatch.setattr(nbclient.NotebookClient, "setup_kernel", no_kernel)
    with pytest.raises(pytest.skip.Exception, match="could not start here: RuntimeError: no"):
        run_notebook(["1"])


def test_a_cell_that_raises_fails_the_test():
    nbclient = pytest.importorskip("nbclient")
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="ZeroDivisionError"):
        run_notebook(["x = 1", "1 / 0", "x"])


GRAPH_CELLS = [
    "import os, shutil, tempfile\n"
    "import chainrule as cr\n"
    "a = cr.tensor(2.0, requires_grad=True)\n"
    "L = (a * a + a) * 3\n"
    "L.backward()\n"
    "print(shutil.which('dot') is not None)",
    "cr.viz.draw_graph(L)",
    # no Graphviz: an empty directory as the kernel's whole PATH
    "os.environ['PATH'] = tempfile.mkdtemp()\n"
    "print(shutil.which('dot'))\n"
    "cr.viz.draw_graph(L)",
]


def test_a_graph_displays_as_svg_with_and_without_graphviz():
    """The drawing after backward() is an image/svg+xml in the cell: through dot where the
    kernel finds it, and through the built-in layout where it does not."""
    setup, with_path, without = run_notebook(GRAPH_CELLS)
    for outputs in (with_path, without):
        svg = rich_data(outputs)["image/svg+xml"]
        assert svg.lstrip().startswith(("<?xml", "<svg")) and "grad 15" in svg  # dL/da = 3(2a+1)
    assert stream_text(without).strip() == "None"
    assert "graphviz" not in rich_data(without)["image/svg+xml"].lower()
    if stream_text(setup).strip() == "True":
        assert "graphviz" in rich_data(with_path)["image/svg+xml"].lower()
