"""The tutorials in docs/notebooks/: stored without outputs, exactly as
tools/make_notebooks.py writes them from tools/notebooks/, and each one run top to bottom
in a real Jupyter kernel (tests/notebooks.py), failing on any cell that raises (the
notebooks assert their own numbers with np.testing) and checking what each one shows."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from notebooks import execute, rich_data, stream_text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
PNG = b"\x89PNG\r\n\x1a\n"


def _make_notebooks() -> Any:
    spec = importlib.util.spec_from_file_location("make_notebooks",
                                                  ROOT / "tools" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_at_least_five_tutorials_and_the_readme_lists_each():
    assert len(PATHS) >= 5
    readme = (NOTEBOOKS / "README.md").read_text("utf-8")
    for path in PATHS:
        assert f"({path.name})" in readme, f"docs/notebooks/README.md does not link {path.name}"
    assert "docs/notebooks/" in (ROOT / "README.md").read_text("utf-8")


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_stored_as_plain_nbformat_4_without_outputs(path):
    notebook = json.loads(path.read_text("utf-8"))
    assert notebook["nbformat"] == 4
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    for cell in code:
        assert cell["outputs"] == [], f"{path.name}: a cell has stored outputs"
        assert cell["execution_count"] is None, f"{path.name}: a cell has an execution count"
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.reads(path.read_text("utf-8"), as_version=4))


def test_the_stored_notebooks_are_what_the_script_makes():
    expected = _make_notebooks().expected()
    assert sorted(expected) == PATHS, "a notebook without a source in tools/notebooks/ or " \
                                      "a source whose notebook was not written"
    for path, text in expected.items():
        assert path.read_text("utf-8") == text, (f"{path.name} differs from its source: run "
                                                 f"python tools/make_notebooks.py")


def test_the_script_splits_cells_and_refuses_stray_text():
    make = _make_notebooks()
    cells = make.split_cells("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n", "t")
    assert cells == [("markdown", "# Title\n\ntext"), ("code", "x = 1")]
    nb = make.notebook("# %%\na = 1\nb = 2\n", "t")
    assert nb["cells"][0]["source"] == ["a = 1\n", "b = 2"]
    assert nb["cells"][0]["id"] == "cell-01" and nb["cells"][0]["outputs"] == []
    with pytest.raises(ValueError, match="text before the first"):
        make.split_cells("x = 1\n# %%\ny = 2\n", "t")
    with pytest.raises(ValueError, match="must be comments"):
        make.split_cells("# %% [markdown]\nnot a comment\n", "t")


# -- running them ---------------------------------------------------------------------------

@pytest.fixture
def run(tmp_path):
    """Execute a tutorial (by file name) in a scratch folder; the notebook with outputs."""
    def run(name: str) -> Any:
        nbformat = pytest.importorskip("nbformat")
        return execute(nbformat.read(NOTEBOOKS / name, as_version=4), tmp_path)

    return run


def outputs_of(notebook: Any, fragment: str) -> list[dict[str, Any]]:
    """The outputs of the first code cell whose source contains ``fragment``."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and fragment in cell.source:
            return cell.outputs
    raise AssertionError(f"no code cell contains {fragment!r}")


def last_outputs(notebook: Any) -> list[dict[str, Any]]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"][-1].outputs


def _png(outputs: list[dict[str, Any]]) -> bytes:
    return base64.b64decode(rich_data(outputs)["image/png"])


def test_two_layer_network_by_hand_and_by_explain(run):
    nb = run("01_two_layer_by_hand.ipynb")
    printed = stream_text(outputs_of(nb, "report = cr.explain("))
    assert "m = 5 examples as columns" in printed
    assert "dW^(1) = delta^(1) A^(0)T / m" in printed
    assert "7 gradients checked against autograd and central differences: all match ✓" \
        in printed
    assert "all equal to autograd's" in stream_text(outputs_of(nb, "cr.grad(tJ"))
    before, after = map(float, re.findall(r"\d+\.\d+", stream_text(outputs_of(nb, "J_new ="))))
    assert after < before
    assert "<math" in rich_data(last_outputs(nb))["text/html"]  # the interactive page


def test_computational_graph_drawn_with_values_and_gradients(run):
    nb = run("02_computational_graph.ipynb")
    reused = outputs_of(nb, "g = x * y + x")
    text = stream_text(reused)
    # x feeds the product (edge -2) and the sum (edge 1); its total is their sum, -1
    assert "x: value 3, grad -1  (edge grad -2)" in text
    assert "x: value 3, grad -1  (edge grad 1)" in text
    assert "[-2.0, 1.0]" in text
    product = stream_text(outputs_of(nb, "p = x * y"))
    assert "x: value 2, grad -5  (edge grad -5)" in product  # the multiply node swaps
    # a picture with or without Graphviz (dot's, or the built-in layout)
    assert rich_data(reused)["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    autograd, numerical = re.findall(r"-?\d+\.\d{8}", stream_text(last_outputs(nb)))
    assert autograd == numerical


def test_scalar_graph_up_to_a_moons_classifier(run):
    nb = run("03_scalars_to_moons.ipynb")
    assert "nodes in its graph" in stream_text(outputs_of(nb, "net = ScalarNet("))
    assert "the gradients of all 105 weights agree" in stream_text(
        outputs_of(nb, "scalar_version.backward()"))
    accuracy = stream_text(outputs_of(nb, "train_accuracy, test_accuracy ="))
    test = float(re.search(r"test (\d\.\d+)", accuracy).group(1))
    assert test >= 0.95
    assert _png(outputs_of(nb, "plt.scatter(X[:, 0]")).startswith(PNG)
    assert _png(last_outputs(nb)).startswith(PNG)  # the curve and the decision boundary


def test_digits_training_shows_summary_progress_and_curves(run):
    nb = run("04_digits_training.ipynb")
    summary = rich_data(outputs_of(nb, "model.summary((32, 64))"))
    assert "<table" in summary["text/html"] and "(Linear)</td>" in summary["text/html"]
    assert "Total params: 4,810" in summary["text/plain"]  # 64*64 + 64 + 64*10 + 10
    training = outputs_of(nb, "history = fit(")
    data = rich_data(training)
    if "application/vnd.jupyter.widget-view+json" not in data:  # tqdm's text bars
        assert "epoch 15/15: 100%" in stream_text(training, "stderr")
        assert "IProgress not found" not in stream_text(training, "stderr")  # no tqdm warning
    assert _png(outputs_of(nb, "history.plot(")).startswith(PNG)
    scores = stream_text(outputs_of(nb, "evaluate(model"))
    assert float(re.search(r"test accuracy (\d+\.\d+)%", scores).group(1)) > 90


def test_check_backprop_names_both_mistakes_and_passes_the_fix(run):
    nb = run("05_check_backprop.ipynb")
    first = stream_text(outputs_of(nb, "report = cr.check_backprop(learner(backward))"))
    assert "3 of 4 quantities wrong; the first wrong one is db2" in first
    assert "db2 is m = 8 times the right value: the 1/m is missing" in first
    assert "dZ1 writes the derivative of tanh with Z1 where A1 belongs" in first
    located = stream_text(outputs_of(nb, "learner(backward_with_intermediates)"))
    assert "✗ dZ1 WRONG" in located and "✓ dA1 correct" in located
    fixed = stream_text(outputs_of(nb, "learner(backward_fixed)"))
    assert "all 7 quantities correct" in fixed and "WRONG" not in fixed
    assert "dW1" in rich_data(last_outputs(nb))["text/html"]


def test_bptt_by_hand_against_the_explainer_and_nn_rnn(run):
    nb = run("06_bptt.ipynb")
    assert re.search(r"29 gradients checked .*: all match ✓",
                     stream_text(outputs_of(nb, "d = derive_bptt(")))
    assert "nn.RNN's gradients equal" in stream_text(outputs_of(nb, "rnn = nn.RNN("))
    norms = stream_text(outputs_of(nb, "long_xs ="))
    assert "|dL_30/dh_1 |" in norms
    assert "<math" in rich_data(last_outputs(nb))["text/html"]
