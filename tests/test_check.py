"""chainrule check / check_backprop: learner files under tests/learners/, correct ones, and
the usual mistakes planted in them one line at a time (as learners make them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import main
from chainrule.explainer.check import check_backprop, reference
from chainrule.explainer.check_diagnosis import fitted
from chainrule.explainer.check_load import CheckFileError
from chainrule.explainer.check_truth import autograd

LEARNERS = Path(__file__).parent / "learners"
CORRECT = {  # file -> (layout, activations, loss, lambda)
    "columns_tanh_sigmoid.py": ("columns", ["tanh", "sigmoid"], "binary-cross-entropy", 0.0),
    "rows_relu_softmax.py": ("rows_xw", ["relu", "softmax"], "cross-entropy", 0.0),
    "rows_sigmoid_mse.py": ("rows", ["sigmoid", "tanh", "identity"], "mse/2", 0.0),
    "columns_l2.py": ("columns", ["relu", "relu", "sigmoid"], "binary-cross-entropy", 0.7),
    "rows_declared.py": ("rows", ["leaky_relu", "tanh"], "mse", 0.3),
}


def planted(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    """A copy of a learner file with lines replaced (each must occur)."""
    text = (LEARNERS / name).read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"planted_{name}"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_files_are_all_correct(name):
    report = check_backprop(LEARNERS / name)
    layout, acts, loss, lambd = CORRECT[name]
    assert report.all_ok, str(report)
    assert report.first_wrong is None and report.wrong == []
    assert report.net.layout.name == layout
    assert [a for a, _ in report.net.acts] == acts
    assert report.net.loss == loss and report.net.lambd == lambd
    for q in report.quantities:  # both ways of the truth agree with the learner
        assert q.error < 1e-12 and q.error_numeric < 1e-6
    # the formulas the diagnosis perturbs are autograd's, quantity by quantity
    ref, true = reference(report.net), autograd(report.net)
    for key, value in ref.items():
        np.testing.assert_allclose(value, true[key], rtol=1e-10, atol=1e-12, err_msg=key)
    assert "all" in str(report).splitlines()[-1] and "correct" in str(report)


def test_true_gradients_match_pytorch():
    """autograd's dW, db on a rebuilt network equal torch's on the same numbers."""
    torch = pytest.importorskip("torch")
    report = check_backprop(LEARNERS / "columns_tanh_sigmoid.py")
    net = report.net
    ws = [torch.tensor(w, requires_grad=True) for w in net.Ws]
    bs = [torch.tensor(b, requires_grad=True) for b in net.bs]
    x, y = torch.tensor(net.X), torch.tensor(net.Y)
    a2 = torch.sigmoid(ws[1] @ torch.tanh(ws[0] @ x + bs[0]) + bs[1])
    j = torch.nn.functional.binary_cross_entropy(a2, y, reduction="sum") / x.shape[1]
    j.backward()
    for l in (1, 2):
        np.testing.assert_allclose(report[f"dW{l}"].autograd, ws[l - 1].grad.numpy(),
                                   rtol=1e-10)
        np.testing.assert_allclose(report[f"db{l}"].autograd, bs[l - 1].grad.numpy(),
                                   rtol=1e-10)


def test_intermediates_in_either_convention():
    """rows_relu_softmax returns dZ2 = dJ/dZ2 (1/m inside): correct, and said so."""
    report = check_backprop(LEARNERS / "rows_relu_softmax.py")
    q = report["dZ2"]
    assert q.ok and q.convention == pytest.approx(1 / report.net.m)
    assert "1/m is already in it" in str(report)
    assert [q.name for q in report.quantities] == ["dZ2", "dW2", "db2", "dW1", "db1"]


def test_fixes_follow_the_learners_convention(tmp_path):
    """With dZ = dJ/dZ (1/m already in it), the corrected db has no / m."""
    report = check_backprop(planted(tmp_path, "rows_relu_softmax.py",
                                    ('dscores.sum(axis=0)}', 'dscores.sum(axis=1)}')))
    assert "correct: db2 = np.sum(dZ2, axis=0)\n" in str(report)
    report = check_backprop(planted(tmp_path, TANH, ("db1 = np.sum(dZ1, axis=1, keepdims=True)"
                                                     " / m", "db1 = np.sum(dZ1, axis=0) / m")))
    assert "correct: db1 = np.sum(dZ1, axis=1, keepdims=True) / m\n" in str(report)


def test_fixes_are_in_the_course_convention_when_no_intermediate_is_returned(tmp_path):
    """Nothing tells the convention when backward returns only dW and db: m dJ/dZ, the
    course's, so the fix divides by m."""
    report = check_backprop(planted(tmp_path, TANH, ("db2 = np.sum(dZ2, axis=1, keepdims=True)"
                                                     " / m", "db2 = dZ2 / m"),
                                    (RETURN_ALL, RETURN_DW_DB)))
    assert report.first_wrong == "db2"
    assert "correct: db2 = np.sum(dZ2, axis=1, keepdims=True) / m\n" in str(report)


def test_a_forward_that_returns_only_its_output(tmp_path):
    """A bare array A_L (here rows, so it has several rows) is the output, not (A_L, cache)."""
    recompute = ('    cache = {"Z1": X @ params["W1"].T + params["b1"]}\n'
                 '    cache["A1"] = np.where(cache["Z1"] > 0, cache["Z1"], 0.2 * cache["Z1"])\n'
                 '    cache["A2"] = np.tanh(cache["A1"] @ params["W2"].T + params["b2"])\n')
    path = planted(tmp_path, "rows_declared.py",
                   ('    return A2, {"Z1": Z1, "A1": A1, "A2": A2}', "    return A2"),
                   ("def backward(params, cache, X, Y, lambd):",
                    "def backward(params, X, Y, lambd):"),
                   ("    m = len(X)\n", "    m = len(X)\n" + recompute))
    assert check_backprop(path).all_ok


RETURN_ALL = 'return {"dZ2": dZ2, "dW2": dW2, "db2": db2, "dA1": dA1, "dZ1": dZ1,'
RETURN_DW_DB = 'return {"dW2": dW2, "db2": db2,'
TANH = "columns_tanh_sigmoid.py"
# (file, edits, first wrong, site of the mistake, kind, words in the report)
MISTAKES = {
    "sigmoid derivative under tanh": (
        TANH, [("dZ1 = dA1 * (1 - A1 ** 2)", "dZ1 = dA1 * A1 * (1 - A1)")],
        "dZ1", "dZ1", "activation-derivative", "uses the derivative of sigmoid"),
    "the same, dZ1 not returned": (
        TANH, [("dZ1 = dA1 * (1 - A1 ** 2)", "dZ1 = dA1 * A1 * (1 - A1)"),
               (RETURN_ALL, RETURN_DW_DB)],
        "dW1", "dZ1", "activation-derivative", "which backward did not return"),
    "tanh derivative under sigmoid": (
        "rows_sigmoid_mse.py", [("dZ1 = dA1 * A1 * (1 - A1)", "dZ1 = dA1 * (1 - A1 ** 2)")],
        "dW1", "dZ1", "activation-derivative", "uses the derivative of tanh"),
    "sigmoid derivative under relu": (
        "columns_l2.py", [("dZ1 = dA1 * (A1 > 0)", "dZ1 = dA1 * A1 * (1 - A1)")],
        "dZ1", "dZ1", "activation-derivative", "but layer 1 is relu"),
    "relu derivative left out": (
        "rows_relu_softmax.py", [("    dhidden[hidden <= 0] = 0\n", "")],
        "dW1", "dZ1", "missing-derivative", "leaves out the derivative"),
    "missing 1/m": (
        TANH, [("dW2 = dZ2 @ A1.T / m", "dW2 = dZ2 @ A1.T")],
        "dW2", "dW2", "factor", "the 1/m is missing"),
    "extra 1/m": (
        "rows_relu_softmax.py", [('grads["W1"] = X.T @ dhidden',
                                  'grads["W1"] = X.T @ dhidden / len(X)')],
        "dW1", "dW1", "factor", "an extra 1/m"),
    "factor 2 of the squared error": (
        "rows_sigmoid_mse.py", [("/ (2 * len(Y))", "/ len(Y)")],
        "dW3", "dZ3", "factor", "a factor 2 is missing"),
    "transpose": (
        TANH, [("dW1 = dZ1 @ X.T / m", "dW1 = X @ dZ1.T / m")],
        "dW1", "dW1", "transpose", "transposed"),
    "db over the wrong axis": (
        TANH, [("db1 = np.sum(dZ1, axis=1, keepdims=True) / m",
                "db1 = np.sum(dZ1, axis=0, keepdims=True) / m")],
        "db1", "db1", "sum-axis", "wrong axis"),
    "db over the wrong axis, rows": (
        "rows_relu_softmax.py", [('dscores.sum(axis=0)}', 'dscores.sum(axis=1)}')],
        "db2", "db2", "sum-axis", "wrong axis"),
    "db not summed": (
        TANH, [("db2 = np.sum(dZ2, axis=1, keepdims=True) / m", "db2 = dZ2 / m")],
        "db2", "db2", "no-sum", "not summed"),
    "db without keepdims": (
        TANH, [("db1 = np.sum(dZ1, axis=1, keepdims=True) / m", "db1 = np.sum(dZ1, axis=1) / m")],
        "db1", "db1", "shape", "wrong shape"),
    "sign flip": (
        TANH, [("dZ2 = A2 - Y", "dZ2 = Y - A2"), (RETURN_ALL, RETURN_DW_DB)],
        "dW2", "dZ2", "sign", "wrong sign"),
    "sign flip in dA": (
        TANH, [("dA1 = W2.T @ dZ2", "dA1 = -W2.T @ dZ2")],
        "dA1", "dA1", "sign", "wrong sign"),
    "output derivative that cancels": (
        TANH, [("dZ2 = A2 - Y", "dZ2 = (A2 - Y) * A2 * (1 - A2)")],
        "dZ2", "dZ2", "output-formula", "with the derivative of sigmoid"),
    "L2 missing": (
        "columns_l2.py", [("dW2 = 1. / m * dZ2 @ A1.T + lambd / m * W2",
                           "dW2 = 1. / m * dZ2 @ A1.T")],
        "dW2", "dW2", "l2-missing", "lacks the L2 term lambd / m * W2"),
    "L2 lambda instead of lambda/m": (
        "columns_l2.py", [("dW3 = 1. / m * dZ3 @ A2.T + lambd / m * W3",
                           "dW3 = 1. / m * dZ3 @ A2.T + lambd * W3")],
        "dW3", "dW3", "l2-scale", "adds the L2 term lambd * W3 instead of lambd / m * W3"),
    "L2 lambda/m where the cost's term is lambda/2": (
        "columns_l2.py", [("lambd / (2 * m) * sum", "lambd / 2 * sum"),
                          ("+ lambd / m * W2", "+ lambd * W2"),
                          ("+ lambd / m * W1", "+ lambd * W1")],
        "dW3", "dW3", "l2-scale", "adds the L2 term lambd / m * W3 instead of lambd * W3"),
    "missing 1/m beside a right L2 term": (
        "columns_l2.py", [("dW3 = 1. / m * dZ3 @ A2.T + lambd / m * W3",
                           "dW3 = dZ3 @ A2.T + lambd / m * W3")],
        "dW3", "dW3", "factor", "the 1/m is missing"),
    "db summed over every entry": (
        TANH, [("db1 = np.sum(dZ1, axis=1, keepdims=True) / m", "db1 = np.sum(dZ1) / m")],
        "db1", "db1", "sum-all", "sums over every entry"),
    "any factor on dW's data part, beside a right L2 term": (
        "columns_l2.py", [("dW2 = 1. / m * dZ2 @ A1.T + lambd / m * W2",
                           "dW2 = 3. / m * dZ2 @ A1.T + lambd / m * W2")],
        "dW2", "dW2", "factor", "dW2 is 3 times the right value"),
    "an extra multiple of W": (
        "columns_l2.py", [("dW2 = 1. / m * dZ2 @ A1.T + lambd / m * W2",
                           "dW2 = 1. / m * dZ2 @ A1.T + lambd / m * W2 + 0.37 * W2")],
        "dW2", "dW2", "extra-term", "dW2 has an extra term 0.37 * W2"),
    "L2 on the bias": (
        "columns_l2.py", [("db1 = 1. / m * np.sum(dZ1, axis=1, keepdims=True)",
                           "db1 = 1. / m * np.sum(dZ1, axis=1, keepdims=True) + lambd / m * b1")],
        "db1", "db1", "l2-bias", "L2 regularizes the weights only"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_planted_mistakes_are_named(case, tmp_path):
    name, edits, first, site, kind, words = MISTAKES[case]
    report = check_backprop(planted(tmp_path, name, *edits))
    assert not report.all_ok
    assert report.first_wrong == first, str(report)
    d = report[first].diagnosis
    assert d.kind == "mistake" and d.mistake.site == site and d.mistake.kind == kind, str(report)
    text = str(report)
    assert words in text and "correct: " in text
    # every later wrong quantity is either explained by a mistake or said to inherit one
    for q in report.quantities:
        assert q.ok or q.diagnosis.kind in ("mistake", "inherited"), str(report)


def test_a_dw_whose_data_part_is_zero_is_fitted_by_its_extra_term_alone():
    """Dead units make dW's data part 0: no factor can be fitted to it (and none is divided
    by its zero norm), the extra multiple of W still is."""
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    context = {"value": 0.1 * w, "data": np.zeros_like(w), "W": w}
    learner = 0.1 * w + 0.25 * w
    (mistake,) = fitted("dW1", learner, context)
    assert mistake.kind == "extra-term" and mistake.args == {"c": "0.25"}
    np.testing.assert_allclose(mistake.apply(context), learner, rtol=1e-15)


def test_the_fix_is_the_right_formula(tmp_path):
    report = check_backprop(planted(tmp_path, TANH, ("dZ1 = dA1 * (1 - A1 ** 2)",
                                                     "dZ1 = dA1 * A1 * (1 - A1)")))
    text = str(report)
    assert "correct: dZ1 = dA1 * (1 - A1 ** 2)" in text
    assert "inherits the error of dZ1" in text  # dW1 and db1
    assert report.wrong == ["dZ1", "dW1", "db1"]
    assert [report[n].diagnosis.kind for n in ("dW1", "db1")] == ["inherited", "inherited"]


def test_nothing_fits_shows_the_entries(tmp_path):
    report = check_backprop(planted(tmp_path, TANH, ("dZ1 = dA1 * (1 - A1 ** 2)",
                                                     "dZ1 = dA1 * (1 - np.tanh(A1) ** 2)")))
    assert report.first_wrong == "dZ1" and report["dZ1"].diagnosis.kind == "unknown"
    text = str(report)
    assert "no usual mistake fits" in text and "(0, " in text


def test_formats(tmp_path):
    report = check_backprop(planted(tmp_path, TANH, ("dW2 = dZ2 @ A1.T / m", "dW2 = dZ2 @ A1.T")))
    md, page = report._repr_markdown_(), report.render("html")
    assert md.startswith("# chainrule check") and "**dW2 WRONG" in md
    assert "`dW2 = dZ2 @ A1.T / m`" in md
    assert page.startswith("<!DOCTYPE html>") and "class='wrong'" in page
    assert "dW2 = dZ2 @ A1.T / m" in page and "<script" not in page
    # in a notebook: the same report as one <div> (its style scoped to it), with MathML
    cell = report._repr_html_()
    assert cell.startswith("<div class='crc' id='crx-")
    assert re.sub(r"crx-\w+", "", cell) in re.sub(r"crx-\w+", "", page)
    assert cell.count("<math") == 2 and "body{" not in cell
    with pytest.raises(ValueError, match="format"):
        report.render("pdf")
    with pytest.raises(ValueError, match="language"):
        check_backprop(LEARNERS / TANH, lang="xx")


def test_a_module_and_forced_layout():
    import importlib.util

    spec = importlib.util.spec_from_file_location("learner_mod", LEARNERS / TANH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert chainrule.check_backprop(module).all_ok
    with pytest.raises(CheckFileError, match="do not chain up as rows"):
        check_backprop(LEARNERS / TANH, layout="rows")


UNUSABLE = {
    "syntax error": ([("def backward_propagation(parameters, cache, X, Y):",
                       "def backward_propagation(parameters, cache, X, Y)")],
                     "syntax error on line"),
    "no backward": ([("def backward_propagation", "def something_else")],
                    "defines no backward function"),
    "shapes that do not chain": ([("rng.normal(size=(3, 2))", "rng.normal(size=(3, 4))")],
                                 "the shapes do not chain up"),
    "wrong output shape": ([("A2 = sigmoid(Z2)", "A2 = sigmoid(Z2).T")],
                           "forward returned an output of shape (5, 1)"),
    "a gradient missing": ([('"dW2": dW2,', '"dWW": dW2,')], "backward returned no dW2"),
    "backward raises": ([("dA1 = W2.T @ dZ2", "dA1 = W2 @ dZ2")],
                        "backward raised ValueError"),
    "random forward": ([("A1 = np.tanh(Z1)",
                         "A1 = np.tanh(Z1) * (np.random.rand(*Z1.shape) > 0.5)")],
                       "different outputs"),
    "no cost": ([("def compute_cost", "def not_a_cost")], "defines no cost function"),
    "unknown parameter": ([("def forward_propagation(X, parameters):",
                            "def forward_propagation(X, parameters, keep_prob):")],
                          "'keep_prob'"),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_files_say_why(case, tmp_path):
    edits, words = UNUSABLE[case]
    with pytest.raises(CheckFileError, match=None) as e:
        check_backprop(planted(tmp_path, TANH, *edits))
    assert words in str(e.value)


def test_an_endless_loop_is_stopped(tmp_path):
    path = planted(tmp_path, TANH, ("    Z1 = parameters", "    while True:\n        pass\n"
                                                          "    Z1 = parameters"))
    with pytest.raises(CheckFileError, match="did not finish within 0.5 s"):
        check_backprop(path, timeout=0.5)


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_command_exit_status(tmp_path, capsys):
    code, out, err = _run([str(LEARNERS / "columns_l2.py")], capsys)
    assert code == 0 and "all 11 quantities correct" in out and err == ""
    bad = planted(tmp_path, TANH, ("dW2 = dZ2 @ A1.T / m", "dW2 = dZ2 @ A1.T"))
    code, out, err = _run([str(bad), "--format", "markdown"], capsys)
    assert code == 1 and out.startswith("# chainrule check") and "the 1/m is missing" in out
    broken = planted(tmp_path, TANH, ("def backward_propagation", "def nope"))
    code, out, err = _run([str(broken)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("chainrule: error: ")
    code, out, _ = _run([str(LEARNERS / "rows_declared.py"), "--rows"], capsys)
    assert code == 0


def test_command_runs_as_a_module(tmp_path):
    """The learner's own prints do not reach the report; its __main__ block does not run."""
    path = planted(tmp_path, TANH, ("def sigmoid(z):", 'print("hello")\nif __name__ == '
                                    '"__main__":\n    raise SystemExit(5)\n\n\ndef sigmoid(z):'))
    done = subprocess.run([sys.executable, "-m", "chainrule", "check", str(path),
                           "--columns"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "hello" not in done.stdout and "all 7 quantities correct" in done.stdout


def test_docs_session_is_a_real_run(tmp_path):
    """docs/check.md's buggy file, run, prints exactly the report the page shows."""
    doc = (Path(__file__).parent.parent / "docs" / "check.md").read_text()
    source = doc.split("```python\n", 1)[1].split("```", 1)[0]
    shown = doc.split("$ chainrule check two_layer.py\n", 1)[1].split("$ echo $?", 1)[0]
    path = tmp_path / "two_layer.py"
    path.write_text(source)
    report = check_backprop(path)
    assert str(report) == shown
    path.write_text(source.replace("dZ1 = dA1 * A1 * (1 - A1)", "dZ1 = dA1 * (1 - A1 ** 2)"))
    fixed = doc.split("$ chainrule check two_layer.py\n", 2)[2].split("$ echo $?", 1)[0]
    assert str(check_backprop(path)) == fixed
