"""chainrule train-text and examples/char_rnn.py: a character-level language model learns a
tiny corpus, writes what it promises, and refuses bad input with one line before it
creates anything; Vocabulary and sample()."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import main
from chainrule.train.text import TextConfig, Vocabulary, sample, train_text

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "char_rnn.py"
LINES = ("the cat sat on the mat.\n", "a dog ran to the log.\n", "one fish, two fish.\n")
# small and quick: 60 steps of 8 streams x 16 characters
SMALL = ["--steps", "60", "--hidden", "32", "--embedding", "16", "--seq-len", "16",
         "--batch-size", "8", "--lr", "0.01", "--sample-every", "20", "--sample-length",
         "40", "--seed", "0"]
FILES = {"model": "model.safetensors", "curve": "loss.png", "metrics": "metrics.json",
         "samples": "samples.txt"}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("".join(LINES) * 60, encoding="utf-8")  # about 4 KB
    return path


def _check_run(run: subprocess.CompletedProcess, out: Path, corpus: Path) -> None:
    """Exit 0; the files it lists exist; samples printed as they came; the loss went down;
    the model reloads and writes text."""
    assert run.returncode == 0, run.stderr
    for label, name in FILES.items():
        assert f"{label + ':':9}{out / name}" in run.stdout
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "final loss" in run.stdout and "vocabulary" in run.stdout
    # every 20 steps a sample, printed while training and kept in samples.txt
    blocks = (out / "samples.txt").read_text(encoding="utf-8").split("--- step ")[1:]
    assert [b.split(",")[0] for b in blocks] == ["20", "40", "60"]
    for block in blocks:
        header, text = block.split(" ---\n", 1)
        assert f"--- step {header} ---" in run.stderr
        assert text.strip() and text.strip() in run.stderr
        assert set(text.strip()) <= set("".join(LINES))
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [20, 40, 60]
    vocab_size = len(set("".join(LINES)))
    losses = [e["loss"] for e in epochs]
    assert losses[-1] < losses[0] and losses[-1] < math.log(vocab_size) - 1.0, losses
    assert epochs[-1]["val_loss"] < math.log(vocab_size) - 1.0
    model = chainrule.load(out / "model.safetensors")
    assert model.metadata["config"]["hidden"] == 32
    vocab = Vocabulary(model.metadata["vocabulary"])
    assert vocab.chars == "".join(sorted(set(corpus.read_text(encoding="utf-8"))))
    text = sample(model, vocab, "the ", 30, generator=np.random.default_rng(0))
    assert len(text) == 30 and set(text) <= set(vocab.chars)


def test_cli_trains_writes_its_files_and_prints_samples(tmp_path, corpus):
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "chainrule", "train-text", str(corpus), *SMALL,
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    _check_run(run, out, corpus)


def test_example_script_does_the_same(tmp_path, corpus):
    out = tmp_path / "example"
    run = subprocess.run([sys.executable, str(EXAMPLE), str(corpus), *SMALL, "--out", str(out)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    _check_run(run, out, corpus)


def _config(corpus: Path, out: Path, **changes) -> TextConfig:
    values = dict(hidden=16, embedding=8, seq_len=8, batch_size=4, steps=6, lr=0.01,
                  sample_every=3, sample_length=10, cell="rnn")
    return TextConfig(str(corpus), out=str(out), **{**values, **changes})


def test_saved_model_reloads_to_the_same_outputs(tmp_path, corpus):
    result = train_text(_config(corpus, tmp_path / "run"), progress=False)
    loaded = chainrule.load(result["files"]["model"])
    ids = result["vocab"].encode("the cat")[None, :]
    with chainrule.no_grad():
        np.testing.assert_array_equal(loaded(ids)[0].data, result["model"](ids)[0].data)
    assert loaded.metadata["vocabulary"] == result["vocab"].chars


def test_a_corpus_without_newlines_samples_too(tmp_path):
    """The samples start from '\\n' when the text has lines, else from its first character."""
    path = tmp_path / "one_line.txt"
    path.write_text("abcabd " * 200, encoding="utf-8")
    result = train_text(_config(path, tmp_path / "run"), progress=False)
    text = (tmp_path / "run" / "samples.txt").read_text(encoding="utf-8")
    assert text.count("--- step ") == 2 and set(text.split("---\n")[-1].strip()) <= set("abcd ")
    assert result["history"]["loss"]


def test_clip_zero_means_no_clipping(tmp_path, corpus, monkeypatch):
    import chainrule.optim as optim

    calls = []
    real = optim.clip_grad_norm_
    monkeypatch.setattr(optim, "clip_grad_norm_",
                        lambda params, norm, *a, **k: calls.append(norm) or real(params, norm))
    train_text(_config(corpus, tmp_path / "off", clip=0), progress=False)
    assert calls == []
    train_text(_config(corpus, tmp_path / "on", clip=1.5), progress=False)
    assert calls == [1.5] * 6


def _one_error_line(capsys, argv: list[str], code: int = 2) -> str:
    try:
        result = main(argv)
    except SystemExit as e:  # argparse refuses what its types reject (e.g. --threads 0)
        result = e.code
    assert result == code
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("option, value", [
    ("--clip", "-1"), ("--clip", "nan"), ("--clip", "inf"), ("--lr", "0"), ("--lr", "-0.1"),
    ("--lr", "nan"), ("--lr", "inf"), ("--temperature", "0"), ("--hidden", "0"),
    ("--layers", "0"), ("--embedding", "-2"), ("--seq-len", "0"), ("--batch-size", "0"),
    ("--steps", "0"), ("--sample-every", "0"), ("--sample-length", "0"), ("--seed", "-1"),
    ("--threads", "0")])
def test_bad_numbers_are_refused_before_anything_is_created(capsys, tmp_path, corpus, option,
                                                            value):
    out = tmp_path / "run"
    line = _one_error_line(capsys, ["train-text", str(corpus), "--quiet", "--out", str(out),
                                    option, value])
    assert option in line
    assert not out.exists()
    assert capsys.readouterr().out == ""


def test_clip_message_says_what_is_allowed(capsys, tmp_path, corpus):
    line = _one_error_line(capsys, ["train-text", str(corpus), "--clip", "-1", "--out",
                                    str(tmp_path / "run")])
    assert line == ("chainrule: error: train-text: --clip must be a positive gradient norm, "
                    "or 0 for no clipping; got -1.0")


def test_a_file_that_is_not_utf8_is_named(capsys, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait\n".encode("latin-1") * 300)
    out = tmp_path / "run"
    line = _one_error_line(capsys, ["train-text", str(bad), "--out", str(out)])
    assert str(bad) in line and "not UTF-8 text" in line and "0xe9 at offset 3" in line
    assert not out.exists()


def test_missing_short_and_misplaced_inputs(capsys, tmp_path, corpus):
    line = _one_error_line(capsys, ["train-text", str(tmp_path / "nope.txt")])
    assert "no text file at" in line and "nope.txt" in line
    short = tmp_path / "short.txt"
    short.write_text("hello\n" * 10, encoding="utf-8")
    line = _one_error_line(capsys, ["train-text", str(short), "--out", str(tmp_path / "r")])
    assert "has 60 characters; need at least 4,160 for --seq-len 64 and --batch-size 32" in line
    assert not (tmp_path / "r").exists()
    taken = tmp_path / "file"
    taken.write_text("x")
    line = _one_error_line(capsys, ["train-text", str(corpus), "--out", str(taken)])
    assert "is a file; give a directory" in line


def test_a_diverging_run_ends_with_one_line_and_exit_1(capsys, tmp_path, corpus):
    line = _one_error_line(capsys, ["train-text", str(corpus), "--quiet", "--lr", "1e300",
                                    "--clip", "0", "--steps", "5", "--hidden", "8",
                                    "--seq-len", "8", "--batch-size", "4", "--out",
                                    str(tmp_path / "run")], code=1)
    assert "train-text: the loss became nan at step" in line
    assert line.endswith("try a lower --lr (now 1e+300) or --clip 5")


def test_vocabulary_round_trip_and_unknown_characters():
    vocab = Vocabulary("hello, world\n")
    assert vocab.chars == "\n ,dehlorw" and len(vocab) == 10
    ids = vocab.encode("world, hello\n")
    assert ids.dtype == np.int64 and ids.tolist()[:2] == [vocab.index["w"], vocab.index["o"]]
    assert vocab.decode(ids) == "world, hello\n"
    assert vocab.decode(vocab.encode("")) == ""
    with pytest.raises(ValueError, match=r"characters not in the vocabulary: 'XZ'"):
        vocab.encode("hello ZX")


def test_sample_is_reproducible_with_a_seed():
    from chainrule.nn import CharRNN

    chainrule.manual_seed(0)
    vocab = Vocabulary("abcdefgh \n")
    model = CharRNN(len(vocab), 4, 8, cell="gru")
    one = sample(model, vocab, "abc", 50, generator=np.random.default_rng(7))
    two = sample(model, vocab, "abc", 50, generator=np.random.default_rng(7))
    other = sample(model, vocab, "abc", 50, generator=np.random.default_rng(8))
    assert one == two and one != other
    assert len(one) == 50 and set(one) <= set(vocab.chars)
    chainrule.manual_seed(3)  # the default generator, seeded
    three = sample(model, vocab, "", 20)
    chainrule.manual_seed(3)
    assert sample(model, vocab, "", 20) == three
    # a low temperature all but picks the most likely character every time
    cold = {sample(model, vocab, "ab", 10, 1e-3, np.random.default_rng(s)) for s in range(3)}
    assert len(cold) == 1
    assert model.training  # sample() leaves the model in training mode
    with pytest.raises(ValueError, match="not in the vocabulary"):
        sample(model, vocab, "xyz", 5)
