"""The `chainrule` command end to end, in subprocesses, and its one-line errors."""

from __future__ import annotations

import json
import os
import re
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
    """The README's promise: bad input ends with ONE line on stderr (no usage text, no
    warnings before it) and a non-zero exit code."""
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    assert result.stderr.startswith("chainrule: error:"), result.stderr
    assert pattern in result.stderr, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The default `chainrule train`, run once for the module."""
    out = tmp_path_factory.mktemp("run")
    result = run("train", "--out", str(out))
    return out, result


@pytest.mark.slow  # the default run: 60 epochs of the 256-unit MLP
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


@pytest.mark.slow  # uses the 60-epoch run
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


def train_in_process(capsys, *args: str) -> tuple[int, str, str]:
    """`chainrule train ARGS` run by cli.main in this process (no interpreter start-up):
    (exit code, stdout, stderr)."""
    from chainrule.cli import main

    code = main(["train", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("line, message", [
    ('epochs = "ten"', 'epochs must be a positive integer, got "ten"'),
    ("epochs = 2.5", "epochs must be a positive integer, got 2.5"),  # used to fail mid-run
    ("seed = 1.0", "seed must be an integer, got 1.0"),
    ("batch-size = true", "batch-size must be a positive integer, got true"),
    ('lr = "0.1"', 'lr must be a number, got "0.1"'),
    ('until_converged = "no"', 'until_converged must be true or false, got "no"'),  # was true
    ("standardize = 0", "standardize must be true or false, got 0"),
    ("hidden = 128", 'hidden must be a list of positive integers like [128, 64] (or a string '
                     '"128,64"), got 128'),
    ("hidden = [64, 0]", "hidden must be a list of positive integers like [128, 64] (or a "
                         'string "128,64"), got [64, 0]'),
    ('layers = "64,x,10"', 'layers must be a list of positive integers like [128, 64] (or a '
                           'string "128,64"), got "64,x,10"'),
    ("activation = 3", "activation must be a string, got 3"),
    ("data_dir = [1]", "data_dir must be a string, got [1]"),
    ("threads = 1.5", "threads must be a positive integer, got 1.5"),
    ("train = 5", "train must be a table ([train] followed by options), got 5"),
])
def test_config_values_of_the_wrong_type_are_named(line, message, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(line + "\n")
    code, out, err = train_in_process(capsys, "--config", str(config), "--out",
                                      str(tmp_path / "o"))
    assert (code, out) == (2, "")  # refused before any output
    assert err == f"chainrule: error: --config {config}: {message}\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_tol_must_be_at_least_0(value, tmp_path, capsys):
    # a negative tol counted every epoch as an improvement; NaN none
    code, out, err = train_in_process(capsys, "--until-converged", "--tol", value, "--out",
                                      str(tmp_path / "o"))
    assert (code, out) == (2, "")
    assert err == f"chainrule: error: --tol must be >= 0, got {float(value)}\n"


def test_config_sizes_as_a_string_and_quiet_are_accepted(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('layers = "64,8,10"\nepochs = 1\nquiet = true\nlr = 1\n')  # int lr
    code, out, err = train_in_process(capsys, "--config", str(config), "--out",
                                      str(tmp_path / "o"))
    assert code == 0, err
    assert err == ""  # quiet: no progress lines
    assert "model 64 -> 8 -> 10 (relu)" in out and "adam lr 1," in out
    meta = cr.load_metadata(tmp_path / "o" / "model.safetensors")
    assert meta["config"]["layers"] == [64, 8, 10] and meta["config"]["lr"] == 1.0
    assert meta["config"]["quiet"] is True


@pytest.mark.parametrize("optimizer, given, expected", [
    ("adamw", None, 0.01),  # PyTorch's default
    ("adamw", 0, 0.0),  # an explicit 0 used to become 0.01
    ("adamw", 0.1, 0.1),
    ("adam", None, 0.0),
    ("sgd", 1e-3, 1e-3),
])
def test_weight_decay_default_and_explicit_zero_on_the_weights_only(optimizer, given, expected):
    from chainrule.train.run import TrainConfig, build_model, build_optimizer

    options = {"optimizer": optimizer} | ({} if given is None else {"weight_decay": given})
    config = TrainConfig.from_mapping(options)
    model = build_model(config, 64, 10)
    decay = {id(p): group["weight_decay"] for group in build_optimizer(config, model).param_groups
             for p in group["params"]}
    for name, p in model.named_parameters():  # biases are not decayed, as with --l2
        assert decay[id(p)] == (expected if name.endswith("weight") else 0.0), name


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_weight_decay_lambda_over_n_takes_the_steps_of_l2_lambda(optimizer, tmp_path):
    from chainrule.train.run import TrainConfig, run_training

    common = {"optimizer": optimizer, "hidden": [16], "epochs": 2, "dropout": 0.0, "seed": 1}
    if optimizer == "sgd":
        common["momentum"] = 0.9
    lam, n = 5.0, 1437  # n: the digits' training examples
    runs = [run_training(TrainConfig.from_mapping({**common, **options,
                                                   "out": str(tmp_path / str(k))}),
                         progress=False).model.state_dict()
            for k, options in enumerate([{"l2": lam}, {"l2": 0, "weight_decay": lam / n}])]
    for name, value in runs[0].items():  # decaying the biases too moved them by 1e-3 or more
        np.testing.assert_allclose(runs[1][name], value, rtol=0, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "adagrad"])
def test_momentum_is_refused_for_optimizers_without_it(optimizer, tmp_path, capsys):
    code, out, err = train_in_process(capsys, "--optimizer", optimizer, "--momentum", "0.9",
                                      "--out", str(tmp_path / "o"))
    assert (code, out) == (2, "")
    assert err == (f"chainrule: error: --momentum is an option of sgd and rmsprop only; "
                   f"--optimizer {optimizer} has no momentum setting, so it would be "
                   f"ignored\n")


def test_header_shows_momentum_and_weight_decay_in_effect(tmp_path, capsys):
    code, out, err = train_in_process(capsys, "--optimizer", "sgd", "--momentum", "0.9",
                                      "--weight-decay", "0.001", "--hidden", "8", "--epochs",
                                      "1", "--quiet", "--out", str(tmp_path / "sgd"))
    assert code == 0, err
    assert "; sgd lr 0.1, momentum 0.9, weight decay 0.001, batch 32," in out
    code, out, err = train_in_process(capsys, "--optimizer", "adamw", "--hidden", "8",
                                      "--epochs", "1", "--quiet", "--out", str(tmp_path / "w"))
    assert code == 0, err
    assert "; adamw lr 0.001, weight decay 0.01, batch 32," in out


@pytest.mark.parametrize("patience, stopped", [
    (3, "early stopping: val_loss did not improve for 3 epochs (best at epoch 2)"),
    (10, "reached the maximum of 6 epochs; restored the weights of epoch 2, the best val_loss"),
])
def test_early_stopping_saves_the_best_epochs_weights_and_metrics(patience, stopped, tmp_path):
    from chainrule.train.run import TrainConfig, run_training

    # with this seed and learning rate the validation loss is lowest at epoch 2
    common = {"optimizer": "adam", "lr": 0.05, "hidden": [16], "dropout": 0.0, "l2": 0,
              "seed": 1, "epochs": 6}
    result = run_training(TrainConfig.from_mapping(
        {**common, "early_stopping": True, "patience": patience, "out": str(tmp_path / "es")}),
        progress=False)
    h = result.history
    assert h.stopped_reason == stopped
    assert len(h) == (5 if patience == 3 else 6) and h.best_epoch == 2
    # the same run stopped at epoch 2 by --epochs (the same validation split, seed, steps)
    best = run_training(TrainConfig.from_mapping(
        {**common, "epochs": 2, "val_fraction": 0.1, "out": str(tmp_path / "two")}),
        progress=False)
    saved = cr.load(tmp_path / "es" / "model.safetensors")
    for name, value in best.model.state_dict().items():
        assert np.array_equal(saved.state_dict()[name], value), name
    assert saved.metadata["epoch"] == 2 and saved.metadata["stopped_reason"] == stopped
    assert saved.metadata["metrics"] == h.epochs[1]
    assert saved.metadata["test"] == result.test == best.test
    metrics = json.loads((tmp_path / "es" / "metrics.json").read_text())
    assert metrics["test"] == best.test and metrics["best_epoch"] == 2


@pytest.mark.parametrize("args, message", [
    (["train", "--lr", "abc"], "argument --lr: invalid float value: 'abc' "
                               "(see chainrule train --help)"),
    (["train", "--layers", "64,x,10"], "argument --layers: expected comma-separated integers"),
    (["train", "--epochs", "3", "--bogus"], "unrecognized arguments: --bogus "
                                            "(see chainrule train --help)"),
    (["evaluate"], "the following arguments are required: model "
                   "(see chainrule evaluate --help)"),
    (["fit"], "invalid choice: 'fit'"),
    ([], "the following arguments are required: COMMAND (see chainrule --help)"),
])
def test_argparse_errors_are_one_line(args, message):
    assert_one_line_error(run(*args), message)


def test_csv_with_non_numeric_cell(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    assert_one_line_error(run("train", "--data", f"csv:{path}", "--out", str(tmp_path / "o")),
                          "row 2 (line 3), column 'b': the cell 'oops' is not a finite number")


def test_csv_too_small_for_a_stratified_test_split(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 3}\n" for i in range(8)))
    assert_one_line_error(run("train", "--data", f"csv:{path}", "--out", str(tmp_path / "o")),
                          r"8 rows are too few to hold out 20% as a test split with each of "
                          r"the 3 classes on both sides")


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


DIVERGE_IN_EPOCH_1 = ("train", "--lr", "1e30", "--optimizer", "sgd", "--epochs", "3", "--quiet")


def test_nan_loss_stops_with_message(tmp_path):
    # the overflows before the NaN must not print numpy RuntimeWarnings before the error line
    result = run(*DIVERGE_IN_EPOCH_1, "--out", str(tmp_path))
    assert_one_line_error(result, "the loss became nan at epoch 1, batch ", code=1)
    assert "lower learning rate" in result.stderr
    assert "No epoch completed with finite weights, so nothing was saved" in result.stderr
    assert not (tmp_path / "model.safetensors").exists()


def test_divergence_in_epoch_1_does_not_present_an_earlier_model(trained, tmp_path):
    earlier, _ = trained
    stale = tmp_path / "model.safetensors"
    stale.write_bytes((earlier / "model.safetensors").read_bytes())
    result = run(*DIVERGE_IN_EPOCH_1, "--out", str(tmp_path))
    assert_one_line_error(result, "No epoch completed with finite weights, so nothing was "
                                  f"saved; {stale} is from an earlier run", code=1)
    assert "last good" not in result.stderr
    assert stale.read_bytes() == (earlier / "model.safetensors").read_bytes()


def test_divergence_after_some_epochs_keeps_this_runs_last_good_model(trained, tmp_path):
    earlier, _ = trained
    path = tmp_path / "model.safetensors"
    path.write_bytes((earlier / "model.safetensors").read_bytes())  # must be replaced
    # with seed 0 this learning rate grows the loss for two epochs, then overflows
    result = run("train", "--lr", "3", "--optimizer", "sgd", "--epochs", "8", "--quiet",
                 "--out", str(tmp_path))
    assert_one_line_error(result, "training diverged", code=1)
    saved = re.search(r"The model of epoch (\d+), the last good one, is in (.+)$",
                      result.stderr.strip())
    assert saved and saved[2] == str(path), result.stderr
    model = cr.load(path)
    assert model.metadata["epoch"] == int(saved[1]) >= 1
    assert model.metadata["config"]["lr"] == 3 and model.metadata["config"]["optimizer"] == "sgd"
    assert all(np.isfinite(p.data).all() for p in model.parameters())


# -- evaluate and predict on CSV files ---------------------------------------------------------


def write_digits_csv(path: Path, count: int, labels: np.ndarray | None = None,
                     header: bool = True, label_column: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` bundled digits as a CSV: 64 pixel columns, then 'label' (their
    true labels unless ``labels`` is given); returns the rows and labels written."""
    from chainrule.data import load_digits

    x, y = load_digits()
    x = x[:count]
    y = y[:count] if labels is None else labels
    names = [f"p{i}" for i in range(64)] + (["label"] if label_column else [])
    lines = [",".join(names)] if header else []
    for row, label in zip(x, y, strict=True):
        cells = [f"{v:g}" for v in row] + ([str(label)] if label_column else [])
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return x, y


def test_evaluate_refuses_more_classes_than_the_model_has(trained, tmp_path):
    out, _ = trained
    labels = np.arange(60) % 15  # 0..14 against a model of 0..9
    write_digits_csv(tmp_path / "d.csv", 60, labels)
    result = run("evaluate", str(out / "model.safetensors"), "--data", f"csv:{tmp_path / 'd.csv'}")
    assert_one_line_error(result, "the data has 15 classes but the model was trained on 10; "
                                  "labels 10, 11, 12, 13, 14 are not among the model's classes "
                                  "(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)")


def test_evaluate_refuses_labels_the_model_does_not_know(trained, tmp_path):
    out, _ = trained
    _, y = write_digits_csv(tmp_path / "d.csv", 100)
    labels = np.where(y == 0, -1, y)  # {-1, 1..9}: ten classes, but not the model's ten
    write_digits_csv(tmp_path / "d.csv", 100, labels)
    result = run("evaluate", str(out / "model.safetensors"), "--data", f"csv:{tmp_path / 'd.csv'}")
    assert_one_line_error(result, "column 'label': label -1 is not among the model's classes")


def test_evaluate_scores_every_row_of_a_given_csv(trained, tmp_path):
    out, _ = trained
    path = tmp_path / "twenty.csv"  # too small to split; it must be scored whole
    write_digits_csv(path, 20)
    result = run("evaluate", str(out / "model.safetensors"), "--data", f"csv:{path}", "--out",
                 str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"{path} (all rows): 20 examples, accuracy" in result.stdout
    confusion = np.loadtxt(tmp_path / "confusion.csv", delimiter=",")
    assert confusion.shape == (10, 10) and confusion.sum() == 20


def test_evaluate_on_the_training_csv_says_it_scores_all_rows(tmp_path):
    path = tmp_path / "d.csv"
    write_digits_csv(path, 300)
    result = run("train", "--data", f"csv:{path}", "--epochs", "3", "--quiet", "--out",
                 str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    model = str(tmp_path / "o" / "model.safetensors")
    whole = run("evaluate", model, "--data", f"csv:{path}")
    assert whole.returncode == 0, whole.stderr
    assert (f"{path} (all rows; the model was trained on this file, so most of them were its "
            f"training data" in whole.stdout)
    assert "300 examples" in whole.stdout
    held_out = run("evaluate", model)  # the model's own test split, as at the end of training
    assert held_out.returncode == 0, held_out.stderr
    assert f"csv:{path} test set: 60 examples" in held_out.stdout


def test_predict_reads_a_csv_file(trained, tmp_path):
    out, _ = trained
    model = str(out / "model.safetensors")
    x, _ = write_digits_csv(tmp_path / "labelled.csv", 5)  # header, label ignored
    write_digits_csv(tmp_path / "bare.csv", 5, header=False, label_column=False)
    np.save(tmp_path / "x.npy", x)
    expected = run("predict", model, str(tmp_path / "x.npy"))
    assert expected.returncode == 0, expected.stderr
    assert len(expected.stdout.strip().splitlines()) == 6
    for name in ("labelled.csv", "bare.csv"):
        result = run("predict", model, str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected.stdout


def test_predict_csv_error_names_row_and_column(trained, tmp_path):
    out, _ = trained
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n\n3,oops\n")
    result = run("predict", str(out / "model.safetensors"), str(path))
    assert_one_line_error(result, f"{path}: row 2 (line 4), column 'b': 'oops' is not a number")


# -- the command layer ------------------------------------------------------------------------


@pytest.mark.parametrize("rnn", [False, True])
def test_explain_exit_status_comes_from_the_derivations_checks(rnn, monkeypatch, capsys):
    # not from searching the text for "FAILED": a derivation whose checks fail exits 1
    # however it is rendered
    from chainrule.cli import main
    from chainrule.explainer.bptt import BPTT
    from chainrule.explainer.derivation import Derivation

    args = ["explain", "--format", "html"] + (["--rnn"] if rnn else [])
    assert main(args) == 0
    monkeypatch.setattr(BPTT if rnn else Derivation, "all_ok", property(lambda self: False))
    assert main(args) == 1
    assert "<html" in capsys.readouterr().out.lower()


@pytest.mark.parametrize("setting, tuned", [(None, True), ("0", False), ("off", False)])
def test_the_command_tunes_the_allocator_unless_told_not_to(setting, tuned):
    # `import chainrule` leaves malloc alone; the chainrule command opts in
    code = ("import chainrule, sys; from chainrule.cli import main; "
            "main(['graph', 'x * y', '--values', 'x=1,y=2', '--format', 'text']); "
            "print(bool(chainrule.allocator_settings()), file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if k != "CHAINRULE_MALLOC_TUNING"}
    if setting is not None:
        env["CHAINRULE_MALLOC_TUNING"] = setting
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == str(tuned)


def test_every_command_module_registers_its_run_function():
    from chainrule.cli import COMMANDS, build_parser

    parser = build_parser()
    assert sorted(parser.commands) == ["check", "evaluate", "explain", "graph", "predict", "sample",
                                       "train", "train-text"]
    for module in COMMANDS:
        name = module.__name__.rsplit(".", 1)[1].replace("_", "-")
        assert parser.commands[name].get_default("func") is module.run
