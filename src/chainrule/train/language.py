"""Training, evaluating, saving, loading and sampling the zoo's language models
(``chainrule.train.zoo``) on the text of ``chainrule.train.lines``.

Each step draws ``batch_size`` examples, computes the next-token cross-entropy over every
position whose target is not padding, and takes one AdamW step (makemore's: betas 0.9 and
0.99, lr 5e-4, weight decay 0.01). The test loss is the same cross-entropy averaged over
every target character of the held-out items (or of the held-out tail): nats per character.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.mode import no_grad
from chainrule.creation import manual_seed
from chainrule.nn.module import Module
from chainrule.safetensors import load_metadata
from chainrule.serialization import ModelFileError, load
from chainrule.threads import set_num_threads
from chainrule.train.history import History
from chainrule.train.lines import IGNORE, LineData, StreamData, line_data, stream_data
from chainrule.train.progress import Progress, line_printer
from chainrule.train.step import check_loss, train_step
from chainrule.train.text import (
    TextConfig,
    Vocabulary,
    draw,
    output_dir,
    sample,
    write_run,
)
from chainrule.train.zoo import logits_of, make_model

TextData = LineData | StreamData


def next_token_loss(model: Module, x: np.ndarray, y: np.ndarray) -> Any:
    """Mean cross-entropy of the next tokens ``y`` (padding -1 ignored), a Tensor."""
    logits = logits_of(model, x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                           ignore_index=IGNORE)


def test_loss(model: Module, data: TextData) -> float:
    """Nats per character over the held-out part (NaN if it holds no whole window)."""
    total, count = 0.0, 0
    model.eval()
    try:
        with no_grad():
            for x, y in data.test_batches():
                n = int((y != IGNORE).sum())
                total += float(next_token_loss(model, x, y).data) * n
                count += n
    finally:
        model.train()
    return total / count if count else float("nan")


def read_data(config: TextConfig, text: str, lines: bool) -> TextData:
    source = str(config.path)
    if lines:
        return line_data(text, config.block_size, config.seed, source)
    return stream_data(text, config.block_size or config.seq_len, config.val_fraction, source)


def model_spec(config: TextConfig, data: TextData) -> dict[str, Any]:
    """What rebuilds the model and reads its tokens: saved in the file's metadata."""
    return {"model": config.model, "format": data.mode, "vocab_size": data.vocab_size,
            "block_size": data.block_size, "n_layer": config.n_layer,
            "n_head": config.n_head, "n_embd": config.n_embd, "n_embd2": config.n_embd2}


def build_model(spec: dict[str, Any]) -> Module:
    keys = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "n_embd2")
    return make_model(spec["model"], **{k: spec[k] for k in keys})


def train_zoo(config: TextConfig, text: str, lines: bool, progress: bool = True,
              log: IO[str] | None = None) -> dict[str, Any]:
    """Train ``config.model`` on ``text`` (items one a line if ``lines``); write the run."""
    from chainrule.optim import AdamW

    say = line_printer(log)
    data = read_data(config, text, lines)
    if config.threads is not None:
        set_num_threads(config.threads)
    manual_seed(config.seed)
    spec = model_spec(config, data)
    model = build_model(spec)
    optimizer = AdamW(list(model.parameters()), lr=config.lr, betas=(0.9, 0.99), eps=1e-8,
                      weight_decay=config.weight_decay)
    out_dir = output_dir(config)
    what = (f"{data.items:,} items, one a line" if lines
            else f"{len(data.train_ids) + len(data.test_ids):,} characters as one stream")
    say(f"text {config.path}: {what}, vocabulary {len(data.vocab)}; model {config.model}, "
        f"{model.num_parameters():,} parameters, block size {data.block_size}; "
        f"{config.steps} steps of {config.batch_size}")
    started = time.perf_counter()
    history, samples = _zoo_steps(model, optimizer, data, config, progress)
    metadata = {"config": asdict(config), "vocabulary": data.vocab.chars, "text_model": spec,
                "test_loss": history["val_loss"][-1]}
    files = write_run(out_dir, model, metadata, history, samples,
                      f"{config.model} on {Path(config.path).name}", started)
    return {"history": history, "files": files, "model": model, "vocab": data.vocab,
            "test_loss": history["val_loss"][-1], "seconds": time.perf_counter() - started}


def _zoo_steps(model: Module, optimizer: Any, data: TextData, config: TextConfig,
               progress: bool) -> tuple[History, list[str]]:
    """``config.steps`` AdamW steps; every ``sample_every`` the test loss and samples."""
    rng = np.random.default_rng(config.seed)
    history, samples = History(), []
    reporter = Progress.for_steps(config.steps, enabled=progress)
    reporter.start_epoch(1)
    started = time.perf_counter()
    text_model = TextModel(model, data.vocab, data.mode, data.block_size)
    for step in range(1, config.steps + 1):
        loss = next_token_loss(model, *data.batch(rng, config.batch_size))
        value = float(loss.data)
        check_loss(value, f"step {step}", f"try a lower --lr (now {config.lr})",
                   prefix="train-text: ")
        train_step(model, loss, optimizer, clip_grad_norm=config.clip or None)
        reporter.batch(step - 1, value)
        if step % config.sample_every == 0 or step == config.steps:
            test = test_loss(model, data)
            history.append({"epoch": step, "loss": value, "val_loss": test,
                            "time": time.perf_counter() - started})
            drawn = text_model.generate(5, config.temperature, length=config.sample_length,
                                        generator=rng)
            samples.append(f"--- step {step}, loss {value:.3f}, test loss {test:.3f} ---\n"
                           + "\n".join(drawn) + "\n")
            reporter.message(samples[-1])
    reporter.end_epoch({"loss": history["loss"][-1]})
    reporter.close()
    return history, samples


@dataclass
class TextModel:
    """A saved text model, ready to generate: the network, its vocabulary, whether it reads
    items one a line ("lines") or one stream ("stream", and "char-rnn" for the stateful
    CharRNN of ``chainrule train-text`` without --model), and its trained block size."""

    model: Module
    vocab: Vocabulary
    mode: str
    block_size: int | None

    def generate(self, n: int, temperature: float = 1.0, top_k: int | None = None,
                 prime: str = "", length: int = 200,
                 generator: np.random.Generator | None = None,
                 block_size: int | None = None) -> list[str]:
        """``n`` samples: items (lines: until the end token, at most block_size - 1
        characters) or ``length`` characters after ``prime`` (streams)."""
        if self.mode == "char-rnn":
            start = prime or ("\n" if "\n" in self.vocab.index else "")
            return [sample(self.model, self.vocab, start, length, temperature, generator,
                           top_k) for _ in range(n)]
        context = block_size or self.block_size
        lines = self.mode == "lines"
        ids = self.vocab.encode(prime) + (1 if lines else 0)
        if lines:
            ids = np.concatenate([[0], ids])
        elif not len(ids):
            ids = self.vocab.encode("\n" if "\n" in self.vocab.index else self.vocab.chars[0])
        steps = max(self.block_size - len(ids), 0) if lines else length
        rows = self._extend(np.tile(ids, (n, 1)), steps, context, temperature, top_k, generator)
        return [self._decode(row, len(ids), lines) for row in rows]

    def _extend(self, idx: np.ndarray, steps: int, context: int, temperature: float,
                top_k: int | None, generator: np.random.Generator | None) -> np.ndarray:
        self.model.eval()
        try:
            with no_grad():
                for _ in range(steps):
                    logits = logits_of(self.model, idx[:, -context:]).data[:, -1]
                    idx = np.concatenate([idx, draw(logits, temperature, top_k,
                                                    generator)[:, None]], 1)
        finally:
            self.model.train()
        return idx

    def _decode(self, row: np.ndarray, skip: int, lines: bool) -> str:
        if not lines:
            return self.vocab.decode(row[skip:])
        tokens = list(row[1:])  # after the start token, the prime included
        end = tokens.index(0) if 0 in tokens else len(tokens)
        return self.vocab.decode(np.asarray(tokens[:end]) - 1)


def load_text_model(path: str | Path) -> TextModel:
    """A model saved by ``chainrule train-text`` (a zoo model or a CharRNN)."""
    metadata = load_metadata(path)
    if not isinstance(metadata.get("vocabulary"), str):
        raise ModelFileError(f"{path} is not a text model saved by chainrule train-text (its "
                             f"metadata has no vocabulary)")
    vocab = Vocabulary(metadata["vocabulary"])
    spec = metadata.get("text_model")
    if spec is None:  # a CharRNN of train-text without --model
        return TextModel(load(path), vocab, "char-rnn", None)
    try:
        model = build_model(spec)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: the text model's description cannot be built: "
                             f"{e}") from None
    return TextModel(load(path, model=model), vocab, spec["format"], spec["block_size"])


def sample_file(path: str | Path, n: int = 20, temperature: float = 1.0,
                top_k: int | None = None, seed: int | None = None, prime: str = "",
                block_size: int | None = None, length: int = 200) -> list[str]:
    """``n`` samples of the text model saved at ``path`` (``chainrule sample``); bad
    options and files are refused with one line before anything is generated."""
    if n < 1 or length < 1:
        raise ValueError(f"sample: --n and --length must be at least 1, got {n} and {length}")
    if not temperature > 0 or not np.isfinite(temperature):
        raise ValueError(f"sample: --temperature must be a positive number, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample: --top-k must be at least 1, got {top_k}")
    text_model = load_text_model(path)
    unknown = sorted(set(prime) - set(text_model.vocab.index))
    if unknown:
        raise ValueError(f"sample: --prime has characters the model never saw: "
                         f"{''.join(unknown)!r}; its vocabulary is {text_model.vocab.chars!r}")
    trained = text_model.block_size
    if block_size is not None:
        if trained is None:
            raise ValueError("sample: --block-size is for models of a fixed context; this "
                             "char-RNN carries its state over any length")
        if not 1 <= block_size <= trained:
            raise ValueError(f"sample: --block-size {block_size} is beyond the model's trained "
                             f"block size {trained}; give 1 to {trained}")
    if text_model.mode == "lines" and len(prime) >= trained:
        raise ValueError(f"sample: --prime has {len(prime)} characters; the model's items are "
                         f"at most {trained - 1}")
    rng = np.random.default_rng(seed)
    return text_model.generate(n, temperature, top_k, prime, length, rng, block_size)
