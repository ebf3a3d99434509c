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
    assert 'version = { attr = "chainrule.__version__" }' in text


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


def test_ctrl_c_exits_130_and_says_what_it_saved(tmp_path):
    """SIGINT once the second epoch's line is out: exit 130, one line naming the model
    file and its epoch, and the finished epochs' metrics written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", "--epochs", "1000", "--hidden", "64",
         "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    (["graph", "x", "--format", "pgn"], "did you mean png?"),
])
def test_misspellings_get_the_close_match(args, suggestion):
    assert suggestion in one_line_error(run(*args))


def test_no_suggestion_when_nothing_is_close():
    error = one_line_error(run("train", "--optimizer", "xyz"))
    assert "did you mean" not in error and "is not one of sgd, adam" in error
