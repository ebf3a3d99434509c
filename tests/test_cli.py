"""The `chainrule` command end to end, in subprocesses, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def assert_one_line_error(result: subprocess.CompletedProcess, pattern: str,
                          code: int = 2) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("chainrule: error:"), result.stderr
    assert pattern in result.stderr, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The default `chainrule train`, run once for the module."""
    out = tmp_path_factory.mktemp("run")
    result = run("train", "--out", str(out))
    return out, result


def test_default_train_reaches_97_percent(trained):
    out, result = trained
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("test accuracy"))
    acc = float(line.split(":")[1].split("%")[0])
    assert acc >= 97.0, result.stdout
    for name in ("model.safetensors", "metrics.csv", "metrics.json", "curves.png"):
        assert (out / name).is_file()
        assert str(out / name) in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] * 100 == pytest.approx(acc, abs=0.01)
    assert "\r" not in result.stderr  # not a terminal: plain progress lines
    assert "epoch 1/" in result.stderr


def test_same_seed_same_results(tmp_path):
    args = ("train", "--epochs", "3", "--seed", "7", "--quiet")
    a = run(*args, "--out", str(tmp_path / "a"))
    b = run(*args, "--out", str(tmp_path / "b"))
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ma, mb = cr.load(tmp_path / "a" / "model.safetensors"), cr.load(tmp_path / "b" /
                                                                     "model.safetensors")
    for p, q in zip(ma.parameters(), mb.parameters(), strict=True):
        assert np.array_equal(p.data, q.data)


def test_evaluate_and_predict(trained, tmp_path):
    out, _ = trained
    model = out / "model.safetensors"
    result = run("evaluate", str(model), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "precision" in result.stdout and "confusion matrix" in result.stdout
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    from chainrule.data import load_digits

    x, _ = load_digits()
    np.save(tmp_path / "x.npy", x[:5])
    result = run("predict", str(model), str(tmp_path / "x.npy"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("class,p_0")
    assert len(lines) == 6
    probs = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    result = run("predict", str(model), str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.json"))
    assert result.returncode == 0
    records = json.loads((tmp_path / "p.json").read_text())
    assert len(records) == 5 and set(records[0]) == {"class", "probabilities"}


def test_config_file_and_cli_override(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[train]\nhidden = [16]\nepochs = 50\noptimizer = "sgd"\nlr = 0.1\n')
    result = run("train", "--config", str(config), "--epochs", "1", "--quiet", "--out",
                 str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    meta = cr.load_metadata(tmp_path / "o" / "model.safetensors")
    assert meta["config"]["hidden"] == [16]
    assert meta["config"]["epochs"] == 1
    assert meta["config"]["optimizer"] == "sgd"


@pytest.mark.parametrize("args, message", [
    (["--layers", "10,5"], "the first layer must take 64 inputs"),
    (["--layers", "64,32,7"], "the last layer must have 10 outputs"),
    (["--activation", "swish"], "--activation 'swish' is not one of"),
    (["--optimizer", "lbfgs"], "--optimizer 'lbfgs' is not one of"),
    (["--lr", "-1"], "--lr must be positive"),
    (["--data", "imagenet"], "--data 'imagenet' is not one of"),
    (["--data", "mnist", "--data-dir", "/nonexistent-dir"], "/nonexistent-dir"),
])
def test_bad_options_one_line(args, message, tmp_path):
    assert_one_line_error(run("train", *args, "--out", str(tmp_path)), message)


def test_bad_config_key(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("learning_rate = 0.1\n")
    assert_one_line_error(run("train", "--config", str(config)), "unknown option 'learning_rate'")


def test_csv_with_non_numeric_cell(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    assert_one_line_error(run("train", "--data", f"csv:{path}", "--out", str(tmp_path / "o")),
                          "oops")


def test_csv_training_works(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    lines = ["f1,f2,f3,target"] + [f"{a:.4f},{b:.4f},{c:.4f},{t}" for (a, b, c), t in zip(x, y,
                                                                                         strict=True)]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(lines) + "\n")
    result = run("train", "--data", f"csv:{path}", "--label-column", "target", "--epochs", "30",
                 "--quiet", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    acc = float(next(x for x in result.stdout.splitlines()
                     if x.startswith("test accuracy")).split(":")[1].split("%")[0])
    assert acc > 90


def test_not_a_model_file(tmp_path):
    bogus = tmp_path / "x.safetensors"
    bogus.write_bytes(b"hello, this is not a model")
    assert_one_line_error(run("evaluate", str(bogus)), "not a")
    assert_one_line_error(run("predict", str(tmp_path / "missing.safetensors"),
                              str(bogus)), "no model file")


def test_truncated_model_file(trained, tmp_path):
    out, _ = trained
    blob = (out / "model.safetensors").read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(blob[: len(blob) // 2])
    assert_one_line_error(run("evaluate", str(path)), "truncated")


def test_nan_loss_stops_with_message(tmp_path):
    result = run("train", "--lr", "1e30", "--optimizer", "sgd", "--epochs", "3", "--quiet",
                 "--out", str(tmp_path))
    assert_one_line_error(result, "lower learning rate", code=1)
    assert "epoch" in result.stderr and "batch" in result.stderr
