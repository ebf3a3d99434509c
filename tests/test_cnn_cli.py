"""`chainrule train --model cnn`: the convolutional network from the command line and TOML,
its saved model evaluated and used by `evaluate` and `predict`, and its bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import load_digits
from chainrule.nn.builders import cnn, cnn_feature_shapes
from chainrule.train.config import ConfigError, TrainConfig
from chainrule.train.run import prepare_inputs


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=timeout)


def in_process(capsys, *args: str) -> tuple[int, str, str]:
    """`chainrule ARGS` by cli.main in this process: (exit code, stdout, stderr)."""
    from chainrule.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, pattern: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("chainrule: error:"), err
    assert pattern in err, err


# A small, fast CNN (2 epochs, 8 and 16 channels): about a second of training.
SMALL = ("--model", "cnn", "--channels", "8,16", "--hidden", "32", "--epochs", "2", "--quiet")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("cnn")
    return out, run("train", *SMALL, "--out", str(out))


def test_train_cnn_end_to_end(trained):
    out, result = trained
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("model cnn 1x8x8 -> conv 3x3 -> 8x4x4 -> conv 3x3 -> 16x2x2 -> "
                               "dense 32 -> 10 (relu, batch norm, max pooling 2x2, dropout "
                               "0.2), "), lines[1]
    model = cr.load(out / "model.safetensors")
    assert f"{model.num_parameters():,} parameters" in lines[1]
    accuracy = float(next(x for x in lines if x.startswith("test accuracy")).split()[2][:-1])
    assert accuracy > 85.0, result.stdout  # two epochs of a CNN on the 8x8 digits
    # rebuilt without the script: a Sequential of registered layers, the input shape saved
    assert [type(m).__name__ for m in model][:4] == ["Conv2d", "BatchNorm2d", "ReLU",
                                                     "MaxPool2d"]
    assert model.metadata["input_shape"] == [1, 8, 8]
    assert model.metadata["config"]["model"] == "cnn"
    assert model.metadata["config"]["channels"] == [8, 16]
    # the test accuracy of the saved model, as evaluate computes it
    assert json.loads((out / "metrics.json").read_text())["test"]["accuracy"] * 100 == \
        pytest.approx(accuracy, abs=0.01)


def test_evaluate_and_predict_image_model(trained, tmp_path, capsys):
    out, result = trained
    assert result.returncode == 0, result.stderr
    path = str(out / "model.safetensors")
    printed = next(x for x in result.stdout.splitlines() if x.startswith("test accuracy"))
    code, text, err = in_process(capsys, "evaluate", path, "--out", str(tmp_path))
    assert code == 0, err
    assert f"accuracy {printed.split()[2]}" in text.splitlines()[0]
    x, _ = load_digits()
    rows = tmp_path / "x.csv"
    np.savetxt(rows, x[:5], delimiter=",", fmt="%g")
    outputs = {}
    for name, array in (("rows", x[:5]), ("images", x[:5].reshape(5, 1, 8, 8)),
                        ("no channel axis", x[:5].reshape(5, 8, 8))):
        np.save(tmp_path / "x.npy", array)
        code, text, err = in_process(capsys, "predict", path, str(tmp_path / "x.npy"))
        assert code == 0, err
        outputs[name] = text
    code, text, err = in_process(capsys, "predict", path, str(rows))
    assert code == 0, err
    assert text == outputs["rows"] == outputs["images"] == outputs["no channel axis"]
    # the same as the model on the images standardized as in training
    model = cr.load(path)
    model.eval()
    scores = model(prepare_inputs(x[:5], model.metadata)).data
    classes = [line.split(",")[0] for line in text.splitlines()[1:]]
    assert classes == [str(k) for k in scores.argmax(axis=1)]
    np.save(tmp_path / "one.npy", x[0].reshape(8, 8))  # one image, (H, W)
    code, text, err = in_process(capsys, "predict", path, str(tmp_path / "one.npy"))
    assert code == 0, err
    # the first image's row, alone and in a batch of 5: the same class, and scores equal
    # within float32 rounding (a product of one row and of five may round differently:
    # with OpenBLAS on an Intel Xeon one class's score printed as 0.081079 in one and
    # 0.081078 in the other)
    alone, batched = (out.splitlines()[1].split(",") for out in (text, outputs["rows"]))
    assert alone[0] == batched[0]
    np.testing.assert_allclose(np.array(alone[1:], float), np.array(batched[1:], float),
                               atol=2e-6, rtol=0)


def test_predict_refuses_a_wrong_image_size(trained, tmp_path, capsys):
    out, _ = trained
    np.save(tmp_path / "bad.npy", np.zeros((3, 60), np.float32))
    code, _, err = in_process(capsys, "predict", str(out / "model.safetensors"),
                              str(tmp_path / "bad.npy"))
    assert_one_line(code, err, "the input's examples have shape 60 (60 values) but the model "
                               "takes 1x8x8 images: give rows of 64 pixels")
    np.save(tmp_path / "bad.npy", np.zeros((3, 1, 7, 7), np.float32))
    code, _, err = in_process(capsys, "predict", str(out / "model.safetensors"),
                              str(tmp_path / "bad.npy"))
    assert_one_line(code, err, "examples have shape 1x7x7 (49 values)")


def test_toml_and_image_shape_of_a_csv(tmp_path, capsys):
    """The TOML path, with a CSV of pixel columns given its shape (--image-shape)."""
    x, y = load_digits()
    table = tmp_path / "pixels.csv"
    header = ",".join([f"p{i}" for i in range(64)] + ["digit"])
    np.savetxt(table, np.column_stack([x, y]), delimiter=",", fmt="%g", header=header,
               comments="")
    config = tmp_path / "cnn.toml"
    config.write_text(f'[train]\nmodel = "cnn"\ndata = "csv:{table}"\nlabel_column = "digit"\n'
                      f'image_shape = [1, 8, 8]\nchannels = [4]\nkernel_size = 5\n'
                      f'pooling = "avg"\nbatch_norm = false\nhidden = [16]\nepochs = 1\n'
                      f'quiet = true\nout = "{tmp_path / "run"}"\n')
    code, text, err = in_process(capsys, "train", "--config", str(config))
    assert code == 0, err
    assert "model cnn 1x8x8 -> conv 5x5 -> 4x4x4 -> dense 16 -> 10 (relu, avg pooling 2x2, " \
           "dropout 0.2)" in text
    model = cr.load(tmp_path / "run" / "model.safetensors")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "AvgPool2d", "Flatten", "Linear", "ReLU", "Dropout",
                     "Linear"]
    assert model[0].kernel_size == (5, 5) and model[0].bias is not None  # no batch norm
    assert model.metadata["input_shape"] == [1, 8, 8]
    code, text, err = in_process(capsys, "evaluate", str(tmp_path / "run" / "model.safetensors"),
                                 "--data", f"csv:{table}", "--label-column", "digit")
    assert code == 0, err
    assert text.startswith(f"{table} (all rows; the model was trained on this file")


@pytest.mark.parametrize("args, message", [
    (("--model", "cnn", "--data", "csv:{csv}"),
     "--model cnn needs images, and --data csv:{csv} has no known image shape; if its "
     "columns are pixels, give --image-shape C,H,W"),
    (("--model", "cnn", "--data", "csv:{csv}", "--image-shape", "1,2,2"),
     "--image-shape 1,2,2 has 4 values, but the rows of --data csv:{csv} have 2 features"),
    (("--model", "cnn", "--image-shape", "1,8"), "--image-shape must be three sizes C,H,W"),
    (("--model", "cnn", "--kernel-size", "5"),
     "--kernel-size 5 --channels 32,64 on the 1x8x8 images of --data digits: a 5x5 kernel is "
     "larger than the 4x4 input of convolution 2 (the 32x4x4 output of block 1)"),
    (("--model", "cnn", "--channels", "4,4,4"),
     "a 3x3 kernel is larger than the 2x2 input of convolution 3"),
    (("--model", "cnn", "--kernel-size", "9", "--pooling", "none"),
     "a 9x9 kernel is larger than the 8x8 input of convolution 1"),
    (("--model", "cnn", "--channels", "32,x"),
     "argument --channels: expected comma-separated integers"),
    (("--model", "cnn", "--channels", "32,0"), "argument --channels: expected positive sizes"),
    (("--model", "cnn", "--kernel-size", "0"), "argument --kernel-size: expected a positive "
                                               "integer, got 0"),
    (("--model", "cnn", "--pooling", "min"), "--pooling 'min' is not one of max, avg, none"),
    (("--model", "cnn", "--layers", "64,10"), "--layers lists an MLP's sizes"),
    (("--model", "rnn"), "--model 'rnn' is not one of mlp, cnn"),
    (("--channels", "32",), "--channels is an option of --model cnn only"),
    (("--model", "mlp", "--kernel-size", "3"), "--kernel-size is an option of --model cnn only"),
    (("--pooling", "avg"), "--pooling is an option of --model cnn only"),
    (("--no-batch-norm",), "--batch-norm is an option of --model cnn only"),
    (("--image-shape", "1,8,8"), "--image-shape is an option of --model cnn only"),
])
def test_bad_inputs_one_line(capsys, tmp_path, args, message):
    csv = tmp_path / "t.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(10)))
    code, text, err = in_process(capsys, "train", *[a.format(csv=csv) for a in args],
                                 "--epochs", "1", "--quiet", "--out", str(tmp_path / "run"))
    assert_one_line(code, err, message.format(csv=csv))
    assert text == "" and not (tmp_path / "run").exists()  # refused before anything ran


def test_bad_toml_values(tmp_path):
    with pytest.raises(ConfigError, match=r"--config f.toml: channels must be a list of "
                                          r"positive integers"):
        TrainConfig.from_mapping({"model": "cnn", "channels": "32,x"}, source="--config f.toml")
    with pytest.raises(ConfigError, match="batch_norm must be true or false"):
        TrainConfig.from_mapping({"model": "cnn", "batch_norm": "yes"}, source="--config f.toml")
    with pytest.raises(ConfigError, match="--channels is an option of --model cnn only"):
        TrainConfig.from_mapping({"channels": [8]})
    with pytest.raises(ConfigError, match="--distributed with batch normalization: each rank "
                                          "would keep the batch-norm statistics of its own "
                                          "shard"):
        TrainConfig.from_mapping({"model": "cnn", "distributed": True})
    config = TrainConfig.from_mapping({"model": "cnn", "distributed": True, "batch_norm": False})
    assert config.cnn_options["batch_norm"] is False


def test_cnn_builder_shapes_and_checks():
    assert cnn_feature_shapes((1, 28, 28), [32, 64]) == [(32, 14, 14), (64, 7, 7)]
    assert cnn_feature_shapes((3, 7, 9), [4, 5], 3, "none") == [(4, 7, 9), (5, 7, 9)]
    assert cnn_feature_shapes((1, 7, 7), [4, 4], 3) == [(4, 3, 3), (4, 1, 1)]
    with pytest.raises(ValueError, match="too small for 2x2 pooling"):
        cnn_feature_shapes((1, 1, 8), [4], 1)
    with pytest.raises(ValueError, match="pooling must be one of max, avg, none"):
        cnn_feature_shapes((1, 8, 8), [4], 3, "sum")
    cr.manual_seed(0)
    model = cnn((3, 12, 10), 5, [6, 7], 3, "max", True, [11], dropout=0.1)
    # a batch-normalized convolution needs no bias (the normalization's shift is one)
    assert model[0].bias is None and isinstance(model[1], nn.BatchNorm2d)
    assert model[9].in_features == 7 * 3 * 2
    assert model(np.zeros((2, 3, 12, 10), np.float32)).shape == (2, 5)
    he = cnn((1, 8, 8), 10, [64], init_scheme="scaled_normal")
    # N(0, 1/fan-in): fan-in 1 x 3 x 3 for the convolution
    assert he[0].weight.data.std() == pytest.approx(1 / 3, rel=0.2)
