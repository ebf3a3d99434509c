"""chainrule train-text --model ... (makemore's zoo) and chainrule sample, end to end in
subprocesses on tiny files the tests write."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.train.language import load_text_model, next_token_loss
from chainrule.train.lines import encode_items, line_data, looks_like_items
from chainrule.train.text import Vocabulary
from chainrule.train.zoo import MODELS, make_model

TINY = ["--steps", "3", "--sample-every", "3", "--n-embd", "8", "--n-embd2", "8",
        "--n-layer", "1", "--n-head", "2", "--batch-size", "4", "--quiet"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def names(tmp_path_factory) -> Path:
    rng = random.Random(0)
    words = ["".join(rng.choice("abcde") for _ in range(rng.randint(2, 6))) for _ in range(120)]
    path = tmp_path_factory.mktemp("zoo") / "names.txt"
    path.write_text("\n".join(words) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(names, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runs")
    models = {}
    for model in MODELS:
        result = run("train-text", str(names), "--model", model, *TINY, "--out",
                     str(out / model))
        assert result.returncode == 0, result.stderr
        assert "test loss" in result.stdout and "nats per character" in result.stdout
        models[model] = out / model / "model.safetensors"
    return models


def test_every_model_trains_saves_and_samples(trained, names):
    items = set(names.read_text().split())
    for model, path in trained.items():
        metadata = chainrule.load_metadata(path)
        assert metadata["text_model"]["model"] == model
        assert metadata["text_model"]["format"] == "lines"  # detected: 120 short lines
        assert metadata["text_model"]["block_size"] == 7  # the longest item + 1
        assert metadata["vocabulary"] == "abcde"
        assert np.isfinite(metadata["test_loss"])
        result = run("sample", str(path), "--n", "4", "--seed", "1", "--prime", "a")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert len(lines) == 4 and all(s.startswith("a") and set(s) <= set("abcde")
                                       and len(s) <= 6 for s in lines), (model, lines)
        again = run("sample", str(path), "--n", "4", "--seed", "1", "--prime", "a")
        assert again.stdout == result.stdout  # same seed, same samples
    assert items  # the fixture wrote items


def test_the_saved_model_reloads_to_the_same_loss(trained, names):
    data = line_data(names.read_text(), None, seed=0)
    for path in trained.values():
        loaded = load_text_model(path)
        metadata = chainrule.load_metadata(path)
        with chainrule.no_grad():
            total = float(next_token_loss(loaded.model, data.test_x, data.test_y).data)
        assert total == pytest.approx(metadata["test_loss"], rel=1e-5)


def test_a_long_text_trains_as_a_stream(tmp_path):
    corpus = tmp_path / "prose.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog and runs away. " * 40)
    for model in ("transformer", "gru"):
        out = tmp_path / model
        result = run("train-text", str(corpus), "--model", model, *TINY, "--block-size", "8",
                     "--seq-len", "8", "--hidden", "8", "--out", str(out))
        assert result.returncode == 0, result.stderr
        sampled = run("sample", str(out / "model.safetensors"), "--n", "2", "--length", "12",
                      "--seed", "0", "--prime", "the ")
        assert sampled.returncode == 0, sampled.stderr
        assert all(len(s) >= 12 for s in sampled.stdout.split("\n\n") if s)
    # on one stream a recurrent --model is today's char-RNN (truncated BPTT)
    assert "config" in chainrule.load_metadata(tmp_path / "gru" / "model.safetensors")
    assert "text_model" not in chainrule.load_metadata(tmp_path / "gru" / "model.safetensors")


def test_lines_and_stream_force_the_reading(names, tmp_path):
    result = run("train-text", str(names), "--model", "bigram", "--stream", *TINY,
                 "--block-size", "8", "--out", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    spec = chainrule.load_metadata(tmp_path / "s" / "model.safetensors")["text_model"]
    assert spec["format"] == "stream" and spec["vocab_size"] == 6  # a..e and the newline


def test_items_become_makemore_examples():
    vocab = Vocabulary("abc")
    x, y = encode_items(["ab", "c"], vocab, 4)
    np.testing.assert_array_equal(x, [[0, 1, 2, 0], [0, 3, 0, 0]])
    np.testing.assert_array_equal(y, [[1, 2, 0, -1], [3, 0, -1, -1]])
    assert looks_like_items("ab\n" * 100) and not looks_like_items("ab\n" * 99)
    assert not looks_like_items(("x" * 65 + "\n") * 200)


def test_the_models_see_only_the_past():
    """Changing token t changes no logits before t (every model is causal)."""
    rng = np.random.default_rng(0)
    for kind in MODELS:
        chainrule.manual_seed(0)
        model = make_model(kind, 6, 5, n_layer=1, n_head=2, n_embd=8, n_embd2=8)
        for p in model.parameters():  # the bigram's table and the start state begin at 0
            p.data[...] = rng.normal(size=p.shape)
        ids = rng.integers(0, 6, (2, 5))
        changed = ids.copy()
        changed[:, 3] = (ids[:, 3] + 1) % 6
        with chainrule.no_grad():
            a, b = (np.asarray(getattr(m, "data", m)) for m in
                    (_logits(model, ids), _logits(model, changed)))
        np.testing.assert_array_equal(a[:, :3], b[:, :3], err_msg=kind)
        assert not np.allclose(a[:, 3], b[:, 3]), kind  # ... and does change logits at t


def _logits(model, ids):
    from chainrule.train.zoo import logits_of

    return logits_of(model, ids).data


def test_bad_training_input_is_one_line(names, tmp_path):
    error = one_line_error(run("train-text", str(names), "--model", "transformer",
                               "--n-embd", "10", "--n-head", "4", "--out", str(tmp_path / "a")))
    assert "--n-embd (10) must be divisible by --n-head (4)" in error
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\n")
    error = one_line_error(run("train-text", str(empty), "--model", "mlp", "--lines",
                               "--out", str(tmp_path / "b")))
    assert "has 0 non-empty lines; --lines needs at least 2 items" in error
    error = one_line_error(run("train-text", str(names), "--model", "mlp", "--block-size", "3",
                               "--out", str(tmp_path / "c")))
    assert "--block-size 3 is too short for the longest item (6 characters)" in error
    assert "invalid choice" in run("train-text", str(names), "--model", "cnn").stderr


@pytest.mark.parametrize("options, message", [
    (["--top-k", "0"], "sample: --top-k must be at least 1, got 0"),
    (["--temperature", "0"], "sample: --temperature must be a positive number"),
    (["--prime", "xyz"], "sample: --prime has characters the model never saw: 'xyz'"),
    (["--block-size", "8"], "sample: --block-size 8 is beyond the model's trained block size 7"),
])
def test_bad_sampling_input_is_one_line(trained, options, message):
    assert message in one_line_error(run("sample", str(trained["mlp"]), *options))


def test_sample_refuses_a_file_that_is_not_a_text_model(tmp_path):
    model = chainrule.nn.Linear(2, 2)
    chainrule.save(model, tmp_path / "linear.safetensors", {"note": "not text"})
    error = one_line_error(run("sample", str(tmp_path / "linear.safetensors")))
    assert "is not a text model saved by chainrule train-text" in error
    (tmp_path / "notes.txt").write_text(json.dumps({"a": 1}))
    assert "not a chainrule model" in one_line_error(run("sample", str(tmp_path / "notes.txt")))


def test_sample_generates_from_a_char_rnn_of_train_text(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world. " * 100)
    out = tmp_path / "rnn"
    result = run("train-text", str(corpus), "--steps", "2", "--hidden", "8", "--seq-len", "8",
                 "--batch-size", "2", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    sampled = run("sample", str(out / "model.safetensors"), "--n", "1", "--length", "15",
                  "--top-k", "1", "--prime", "hel")
    assert sampled.returncode == 0, sampled.stderr
    assert len(sampled.stdout.rstrip("\n")) == 15 and set(sampled.stdout) <= set("helo wrd.\n")
