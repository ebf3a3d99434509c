"""What a new user trips over on the command line (issue 17), each in a subprocess run:
--version, --until-converged without --epochs, Ctrl-C, epoch times, train-text's steps
and help, "did you mean", stdin, graph's DOT, predict's formats, label errors, grammar,
explain's large matrices, the graph's labels and curves.png."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

TINY = ("--hidden", "8", "--quiet")  # a small, fast network on the bundled digits


def run(*args: str, stdin: str | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=timeout, input=stdin, cwd=cwd)


def one_line_error(result: subprocess.CompletedProcess, code: int = 2) -> str:
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("chainrule: error:"), result.stderr
    return result.stderr


# -- --version ---------------------------------------------------------------------------


def test_version_prints_the_package_version_and_the_blas():
    result = run("--version")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == f"chainrule {cr.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", cr.__version__)
    assert "numpy" in second and "matrix products:" in second


def test_the_package_metadata_takes_its_version_from_chainrule():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text
    # read from _version.py, which setuptools parses without importing chainrule (and numpy)
    assert 'version = { attr = "chainrule._version.__version__" }' in text
    from importlib.metadata import version

    import chainrule

    assert version("chainrule") == chainrule.__version__


# -- training runs -------------------------------------------------------------------------


def test_until_converged_without_epochs_runs_past_60_under_a_stated_cap(tmp_path):
    # --tol 0.05 --patience 1 converges within a few epochs; the header states the cap
    result = run("train", "--until-converged", "--tol", "0.05", "--patience", "1", *TINY,
                 "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "until converged (at most 1000 epochs, the safety cap without --epochs)" \
        in result.stdout
    assert "stopped: converged" in result.stdout
    meta = cr.load(tmp_path / "model.safetensors").metadata
    assert meta["config"]["epochs"] is None and meta["config"]["until_converged"] is True


def test_until_converged_with_epochs_keeps_them_as_the_maximum(tmp_path):
    result = run("train", "--until-converged", "--epochs", "2", *TINY, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "up to 2 epochs" in result.stdout
    assert "stopped: reached the maximum of 2 epochs (2 epochs, " in result.stdout


def test_the_convergence_cap_is_what_fit_gets(monkeypatch, tmp_path):
    from chainrule.train import run as run_module
    from chainrule.train.config import CONVERGENCE_MAX_EPOCHS, TrainConfig

    seen = {}

    def fake_fit(*args, epochs, **kwargs):
        seen["epochs"] = epochs
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "fit", fake_fit)
    config = TrainConfig(until_converged=True, hidden=[4], quiet=True, out=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        run_module.run_training(config)
    assert seen["epochs"] == CONVERGENCE_MAX_EPOCHS
    assert TrainConfig().max_epochs == 60 and TrainConfig(epochs=7).max_epochs == 7


def test_one_epoch_is_singular_and_epoch_times_are_in_milliseconds(tmp_path):
    result = run("train", "--epochs", "1", "--hidden", "8", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "up to 1 epoch\n" in result.stdout
    assert "stopped: reached the maximum of 1 epoch (1 epoch, " in result.stdout
    assert "1 epochs" not in result.stdout + result.stderr
    # an epoch of the small digits network takes well under a second: shown in ms
    assert re.search(r"^epoch 1/1  loss \d\.\d{4}  accuracy \d\.\d{4}  \(\d+(\.\d)? ms\)$",
                     result.stderr, re.M), result.stderr


def test_format_seconds_keeps_meaningful_digits():
    from chainrule.train.progress import counted, format_seconds

    assert format_seconds(0.0042) == "4.2 ms"
    assert format_seconds(0.0456) == "46 ms"
    assert format_seconds(1.74) == "1.7 s"
    assert format_seconds(75.2) == "75 s"
    assert (counted(1, "epoch"), counted(2, "epoch"), counted(1000, "step")) == \
        ("1 epoch", "2 epochs", "1,000 steps")


def _interruptible() -> None:
    """In the child before it starts: SIGINT as a terminal gives it. A shell's background
    job (``cmd &`` without job control) inherits SIGINT ignored, and Python then leaves it
    ignored, so without this the test would depend on how its runner was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_and_says_what_it_saved(tmp_path):
    """SIGINT once the second epoch's line is out: exit 130, one line naming the model
    file and its epoch, and the finished epochs' metrics written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", "--epochs", "1000", "--hidden", "64",
         "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_interruptible)
    try:
        for line in process.stderr:
            if line.startswith("epoch 2/"):
                process.send_signal(signal.SIGINT)
                break
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    match = re.search(r"chainrule: interrupted after (\d+) finished epochs?: (\S+) holds "
                      r"epoch (\d+); their metrics are in (\S+) and (\S+)\n", err)
    assert match, err
    done, model, held = int(match[1]), Path(match[2]), int(match[3])
    assert done >= 2 and held == done  # between epochs: the last finished one is saved
    assert cr.load(model).metadata["epoch"] == held
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(rows) == done + 1 and rows[0].startswith("epoch,loss,accuracy")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] is True and len(metrics["epochs"]) == done
    assert metrics["stopped_reason"].startswith("interrupted (Ctrl-C)")
    assert "Traceback" not in err


def test_curves_have_integer_epoch_ticks_and_the_test_result(tmp_path):
    import matplotlib.pyplot as plt

    from chainrule.train.history import History

    history = History()
    for epoch in (1, 2, 3):
        history.append({"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5 + epoch / 10})
    fig = history.figure(test={"loss": 0.25, "accuracy": 0.875})
    try:
        loss_ax, acc_ax = fig.axes
        fig.canvas.draw()
        ticks = [t for t in loss_ax.get_xticks() if 1 <= t <= 3]
        assert ticks == [1, 2, 3]
        assert "test 0.2500" in [t.get_text() for t in loss_ax.get_legend().get_texts()]
        assert "test 87.50%" in [t.get_text() for t in acc_ax.get_legend().get_texts()]
    finally:
        plt.close(fig)
    result = run("train", "--epochs", "2", *TINY, "--out", str(tmp_path))
    assert result.returncode == 0 and (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


# -- train-text -------------------------------------------------------------------------------


def test_train_text_reports_steps_not_epochs(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 200)
    result = run("train-text", str(corpus), "--steps", "6", "--sample-every", "3",
                 "--sample-length", "5", "--hidden", "8", "--embedding", "4", "--seq-len",
                 "8", "--batch-size", "2", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "epoch" not in result.stderr
    assert re.search(r"^step 6/6  loss \d\.\d{4}  \(", result.stderr, re.M), result.stderr


@pytest.mark.parametrize("command, options", [
    ("train-text", ["--cell", "--hidden", "--layers", "--embedding", "--seq-len",
                    "--batch-size", "--steps", "--lr", "--clip", "--sample-every",
                    "--sample-length", "--temperature", "--seed", "--out", "--threads",
                    "--quiet"]),
    ("train", ["--tol", "--patience", "--val-fraction"]),
])
def test_every_option_has_help_text(command, options):
    from chainrule.cli import build_parser

    sub = build_parser().commands[command]
    helps = {a.option_strings[0]: a.help for a in sub._actions if a.option_strings}
    for option in options:
        assert helps[option] and len(helps[option]) > 10, option


# -- did you mean ---------------------------------------------------------------------------


def test_data_naming_an_existing_file_suggests_the_csv_prefix(tmp_path):
    (tmp_path / "iris.csv").write_text("a,label\n1,0\n")
    error = one_line_error(run("train", "--data", "iris.csv", cwd=tmp_path))
    assert "did you mean --data csv:iris.csv?" in error
    assert "did you mean --data mnist?" in one_line_error(run("train", "--data", "mnsit"))


@pytest.mark.parametrize("args, suggestion", [
    (["train", "--activaton", "tanh"], "did you mean --activation?"),
    (["train", "--optimizer", "adan"], "did you mean adam?"),
    (["train", "--activation", "rleu"], "did you mean relu?"),
    (["train", "--loss", "cross_entropy"], "did you mean cross-entropy?"),
    (["evaluate", "m.safetensors", "--lable-column", "y"], "did you mean --label-column?"),
    (["train-text", "c.txt", "--cell", "lstn"], "did you mean lstm?"),
    (["explain", "--activation", "sigmod"], "did you mean sigmoid?"),
    (["graph", "x", "--format", "pgn"], "did you mean png?"),
])
def test_misspellings_get_the_close_match(args, suggestion):
    assert suggestion in one_line_error(run(*args))


def test_no_suggestion_when_nothing_is_close():
    error = one_line_error(run("train", "--optimizer", "xyz"))
    assert "did you mean" not in error and "is not one of sgd, adam" in error


# -- pipes: graph's DOT, predict's formats, - for standard input -----------------------------


def test_graph_dot_prints_the_source_unless_out_is_given(tmp_path):
    result = run("graph", "(x + y) * z", "--values", "x=1,y=2,z=3", "--format", "dot",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph chainrule {") and result.stdout.endswith("}\n")
    assert not list(tmp_path.iterdir())  # no graph.dot written
    result = run("graph", "x * y", "--values", "x=1,y=2", "--format", "dot", "--out",
                 str(tmp_path / "g.dot"))
    assert result.returncode == 0 and result.stdout == f"graph: {tmp_path / 'g.dot'}\n"
    assert (tmp_path / "g.dot").read_text().startswith("digraph chainrule {")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    result = run("train", "--epochs", "1", *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out / "model.safetensors"


def digits_csv(count: int = 3) -> str:
    from chainrule.data import load_digits

    x, _ = load_digits()
    return "\n".join(",".join(f"{v:g}" for v in row) for row in x[:count]) + "\n"


def test_predict_refuses_an_unknown_output_extension(tiny_model, tmp_path):
    (tmp_path / "x.csv").write_text(digits_csv())
    error = one_line_error(run("predict", str(tiny_model), str(tmp_path / "x.csv"), "-o",
                               str(tmp_path / "p.xlsx")))
    assert ".xlsx is not .csv or .json" in error and "--format" in error
    assert not (tmp_path / "p.xlsx").exists()
    result = run("predict", str(tiny_model), str(tmp_path / "x.csv"), "-o",
                 str(tmp_path / "p.txt"), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads((tmp_path / "p.txt").read_text())) == 3


def test_predict_reads_standard_input(tiny_model):
    result = run("predict", str(tiny_model), "-", stdin=digits_csv(4))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("class,p_0") and len(lines) == 5


def iris_like_csv(rows: int = 60) -> str:
    """Three separable classes in 4 features, with a column of measurements (size)."""
    rng = np.random.default_rng(0)
    lines = ["size,a,b,c,species"]
    for i in range(rows):
        k = i % 3
        a, b, c = rng.normal(k * 3, 0.3, 3)
        lines.append(f"{rng.uniform(4, 8):.1f},{a:.3f},{b:.3f},{c:.3f},{'xyz'[k]}")
    return "\n".join(lines) + "\n"


def test_train_and_evaluate_read_csv_from_standard_input(tmp_path):
    table = iris_like_csv()
    result = run("train", "--data", "csv:-", "--label-column", "species", "--epochs", "2",
                 *TINY, "--out", str(tmp_path), stdin=table)
    assert result.returncode == 0, result.stderr
    assert "data csv:-: 48 training, 0 validation, 12 test examples, 4 features, 3 classes" \
        in result.stdout
    model = str(tmp_path / "model.safetensors")
    result = run("evaluate", model, "--data", "csv:-", "--out", str(tmp_path), stdin=table)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("- (all rows): 60 examples")
    error = one_line_error(run("evaluate", model, stdin=""))
    assert "trained on standard input" in error and "--data" in error


# -- the label column ---------------------------------------------------------------------------


def test_a_column_of_measurements_as_the_label_is_one_short_line(tmp_path):
    (tmp_path / "t.csv").write_text(iris_like_csv(300))
    error = one_line_error(run("train", "--data", f"csv:{tmp_path / 't.csv'}",
                               "--label-column", "size", "--quiet"))
    assert "the label column 'size' holds non-integer values (" in error
    assert len(error) < 300, error
    assert re.search(r"values \(\d\.\d, \d\.\d, \d\.\d, \.\.\.\)", error), error


def test_integer_and_name_labels_are_still_classes():
    from chainrule.data.tabular import _check_not_measurements

    for labels in (["0", "1", "2"], ["-1", "1"], ["1.0", "2.0"], ["cat", "5.5"]):
        _check_not_measurements(Path("t.csv"), "label", labels)  # no error
    with pytest.raises(ValueError, match="holds non-integer values \\(0.5\\)"):
        _check_not_measurements(Path("t.csv"), "label", ["1", "0.5"])


# -- explain ------------------------------------------------------------------------------


def test_explain_summarizes_large_matrices_unless_full(tmp_path):
    (tmp_path / "t.csv").write_text(iris_like_csv(150))
    args = ("explain", "--csv", str(tmp_path / "t.csv"), "--label-column", "species")
    short, full = run(*args), run(*args, "--full")
    assert short.returncode == 0 and full.returncode == 0, short.stderr + full.stderr
    assert len(short.stdout.splitlines()) < 150 < len(full.stdout.splitlines())
    assert "(150 x 4: the first 5 rows shown; --full shows all)" in short.stdout
    assert "--full shows all" not in full.stdout
    x_block = short.stdout.split("X = ", 1)[1].split("\nY = ", 1)[0]
    assert x_block.count("\n") == 5  # 5 rows, then the note
    markdown = run(*args, "--format", "markdown")
    assert r"\vdots" in markdown.stdout and "--full shows all" in markdown.stdout


def test_explain_steps_start_before_the_first_step(tmp_path):
    result = run("explain", "--steps", "2")
    assert result.returncode == 0, result.stderr
    assert "before the first step: L = " in result.stdout and "after step 0" not in \
        result.stdout
    assert "after step 2: L = " in result.stdout


# -- the graph drawing ----------------------------------------------------------------------


def test_graph_dot_uses_one_font_source_order_and_functional_names():
    result = run("graph", "sigmoid(w0*x0 + w1*x1 + w2)", "--values",
                 "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--format", "dot")
    assert result.returncode == 0, result.stderr
    dot = result.stdout
    assert 'node [fontname="Helvetica"];' in dot and 'edge [fontname="Helvetica"];' in dot
    assert 'ordering="in";' in dot
    leaves = re.findall(r'label="(\w+)\\nvalue[^\]]*shape=box', dot)
    assert leaves == ["w0", "x0", "w1", "x1", "w2"], leaves  # the expression's order


def test_op_names_are_the_functional_apis():
    import chainrule.functional as F
    from chainrule.viz.graph import build_graph, op_label

    assert op_label("BinaryCrossEntropy") == "binary_cross_entropy"
    assert op_label("CrossEntropy") == "cross_entropy"
    assert op_label("LeakyReLU") == "leaky_relu" and op_label("LogSoftmax") == "log_softmax"
    assert op_label("BCEWithLogits") == "binary_cross_entropy_with_logits"
    p = cr.tensor([0.3, 0.8], requires_grad=True, dtype=cr.float64)
    loss = F.binary_cross_entropy(F.sigmoid(p), cr.tensor([0.0, 1.0], dtype=cr.float64))
    labels = [n.label for n in build_graph(loss) if n.op]
    assert labels == ["sigmoid", "binary_cross_entropy", "mean"]
    assert all(hasattr(F, name) or hasattr(cr, name) for name in labels)


def test_standard_input_is_refused_for_a_distributed_run():
    from chainrule.train.config import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match="csv:- \\(standard input\\) reaches one process"):
        TrainConfig(data="csv:-", distributed=True).validate()


# -- the docs ---------------------------------------------------------------------------------

ROOT = Path(__file__).parents[1]


def test_docs_use_placeholders_and_reproducible_times():
    training = (ROOT / "docs" / "training.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in training and "DIR" in training
    for text in (training, readme):
        assert "(0.0s)" not in text and "17.1 s" not in text and "1.7 s)" not in text
        assert "benchmarks/cli_times.py" in text
    script = (ROOT / "benchmarks" / "cli_times.py").read_text()
    assert "machine()" in script and '"train", "--out"' in script
    explain = (ROOT / "docs" / "explain.md").read_text()
    assert "after step 0" not in explain and "have one name each" not in explain
    assert "--full" in explain
