"""A character-level language model trained by truncated backpropagation through time.

The corpus is one long sequence of characters. It is cut into ``batch_size``
parallel streams; each training step takes the next ``seq_len`` characters of
every stream, predicts each following character, and backpropagates through
those steps only. The recurrent state is carried to the next chunk but detached
(truncated BPTT), so the model sees the whole text as one sequence while each
backward pass stays short.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import IO, Any

import numpy as np

import chainrule.functional as F
from chainrule.autograd.mode import no_grad
from chainrule.creation import default_generator, manual_seed
from chainrule.nn.recurrent import CharRNN
from chainrule.serialization import save
from chainrule.threads import set_num_threads
from chainrule.train.history import History
from chainrule.train.progress import Progress, line_printer
from chainrule.train.step import check_loss, train_step


class Vocabulary:
    """The characters of a corpus, in sorted order, and the maps to and from indices."""

    def __init__(self, chars: str) -> None:
        self.chars = "".join(sorted(set(chars)))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {''.join(unknown)!r}")
        return np.fromiter((self.index[c] for c in text), np.int64, len(text))

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def __len__(self) -> int:
        return len(self.chars)


def _detach(state: Any) -> Any:
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def draw(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
         generator: np.random.Generator | None = None) -> np.ndarray:
    """One token per row of ``logits`` (n, vocab), drawn from softmax(logits / temperature)
    restricted to the row's ``top_k`` largest logits (None: all of them)."""
    rng = generator or default_generator()
    z = np.asarray(logits, np.float64) / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k][:, None]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max(-1, keepdims=True))
    cdf = np.cumsum(p, -1)
    u = rng.random((len(z), 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(-1), z.shape[-1] - 1)


def sample(model: CharRNN, vocab: Vocabulary, prime: str, length: int,
           temperature: float = 0.8, generator: np.random.Generator | None = None,
           top_k: int | None = None) -> str:
    """Generate ``length`` characters after ``prime``, drawing each from
    softmax(logits / temperature) (``draw``), the recurrent state carried along."""
    model.eval()
    try:
        with no_grad():
            ids = vocab.encode(prime or vocab.chars[0])
            logits, state = model(ids[None, :])
            out = []
            for _ in range(length):
                nxt = int(draw(logits.data[:, -1], temperature, top_k, generator)[0])
                out.append(nxt)
                logits, state = model(np.array([[nxt]]), state)
    finally:
        model.train()
    return vocab.decode(out)


@dataclass
class TextConfig:
    """Options of ``chainrule train-text``. ``model`` None: today's char-RNN of ``cell`` on
    one stream; a zoo model (``chainrule.train.zoo``) on one item a line (``lines`` True,
    or None and the file looks like items) or on one stream. ``lr`` and ``clip`` None: the
    char-RNN's 2e-3 and 5, the zoo's (makemore's) 5e-4 and no clipping."""

    path: str
    model: str | None = None
    lines: bool | None = None  # True: one item a line; False: one stream; None: detect
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64
    n_embd2: int = 64
    block_size: int | None = None  # None: the longest item + 1 (lines), --seq-len (stream)
    weight_decay: float = 0.01  # AdamW's, zoo models only
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    embedding: int = 32
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 1000
    lr: float | None = None
    clip: float | None = None  # largest gradient norm (clip_grad_norm_); 0: no clipping
    sample_every: int = 200
    sample_length: int = 200
    temperature: float = 0.8
    val_fraction: float = 0.05
    seed: int = 0
    out: str | None = None
    threads: int | None = None  # BLAS threads (chainrule.set_num_threads); None: the default


# the options that must be whole numbers of at least 1
_COUNTS = ("hidden", "layers", "embedding", "seq_len", "batch_size", "steps", "sample_every",
           "sample_length", "n_layer", "n_head", "n_embd", "n_embd2")
_OPTIONAL_COUNTS = ("threads", "block_size")  # None: the default (the BLAS's, the data's)
CHAR_RNN_LR, CHAR_RNN_CLIP, ZOO_LR = 2e-3, 5.0, 5e-4


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _whole(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def check_config(config: TextConfig) -> None:
    """Refuse bad options with one clear line, before anything is read or written."""
    for key in (*_COUNTS, *_OPTIONAL_COUNTS):
        value = getattr(config, key)
        if value is None and key in _OPTIONAL_COUNTS:
            continue
        if not _whole(value) or value < 1:
            raise ValueError(f"train-text: {_option(key)} must be a whole number of at least 1, "
                             f"got {value!r}")
    for key in ("lr", "temperature"):
        value = getattr(config, key)
        if value is not None and (not _finite(value) or value <= 0):  # lr None: the default
            raise ValueError(f"train-text: {_option(key)} must be a positive number, "
                             f"got {value!r}")
    clip = config.clip
    if clip is not None and (not _finite(clip) or clip < 0):
        raise ValueError(f"train-text: --clip must be a positive gradient norm, or 0 for no "
                         f"clipping; got {clip!r}")
    vf = config.val_fraction
    if not _finite(vf) or not 0 <= vf <= 0.5:
        raise ValueError(f"train-text: val_fraction must be from 0 to 0.5, got {vf!r}")
    if not _whole(config.seed) or config.seed < 0:
        raise ValueError(f"train-text: --seed must be a whole number of at least 0, "
                         f"got {config.seed!r}")
    if config.cell not in ("lstm", "gru", "rnn"):
        raise ValueError(f"train-text: --cell must be lstm, gru or rnn, got {config.cell!r}")
    if config.out is not None and Path(config.out).exists() and not Path(config.out).is_dir():
        raise ValueError(f"train-text: --out {config.out} is a file; give a directory")
    _check_zoo(config)


def _check_zoo(config: TextConfig) -> None:
    """The options of the zoo's models."""
    from chainrule.train.zoo import MODELS

    if config.model is not None and config.model not in MODELS:
        raise ValueError(f"train-text: --model must be one of {', '.join(MODELS)}, got "
                         f"{config.model!r}")
    if config.model == "transformer" and config.n_embd % config.n_head:
        raise ValueError(f"train-text: --n-embd ({config.n_embd}) must be divisible by "
                         f"--n-head ({config.n_head}): each head gets n_embd / n_head channels")
    wd = config.weight_decay
    if not _finite(wd) or wd < 0:
        raise ValueError(f"train-text: --weight-decay must be a number of at least 0, got "
                         f"{wd!r}")
    if config.lines and config.model is None:
        raise ValueError("train-text: --lines reads one item a line for a --model of the zoo "
                         "(bigram, mlp, rnn, gru, lstm, bow, transformer); give --model")


def with_defaults(config: TextConfig) -> TextConfig:
    """``config`` with ``lr`` and ``clip`` filled in: the char-RNN's or the zoo's (makemore's
    AdamW at 5e-4, no clipping)."""
    from dataclasses import replace

    zoo = config.model is not None
    lr = config.lr if config.lr is not None else (ZOO_LR if zoo else CHAR_RNN_LR)
    clip = config.clip if config.clip is not None else (0.0 if zoo else CHAR_RNN_CLIP)
    return replace(config, lr=lr, clip=clip)


def read_corpus(path: Path) -> str:
    """The text of a UTF-8 file; anything else is refused with the file's name."""
    if not path.is_file():
        raise FileNotFoundError(f"train-text: no text file at {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"train-text: {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} "
                         f"at offset {e.start} is invalid); give a UTF-8 text file") from None


def _streams(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut a sequence into batch_size equal, parallel streams (batch_size, length)."""
    length = len(ids) // batch_size
    return ids[:length * batch_size].reshape(batch_size, length)


@dataclass
class Corpus:
    """A text file read for training: its vocabulary, the training streams and the held-out
    tail (``val_fraction`` of the characters)."""

    path: Path
    vocab: Vocabulary
    ids: np.ndarray
    streams: np.ndarray
    val_ids: np.ndarray


def load_corpus(config: TextConfig) -> Corpus:
    """Read and encode the text of ``config.path`` and cut it into ``batch_size`` streams;
    a file too short for the options is refused."""
    path = Path(config.path)
    text = read_corpus(path)
    # every stream needs seq_len + 1 characters (inputs and next-character targets) after
    # the validation tail (at most half the text) is held out
    need = 2 * (config.seq_len + 1) * config.batch_size
    if len(text) < need:
        raise ValueError(f"train-text: {path} has {len(text):,} characters; need at least "
                         f"{need:,} for --seq-len {config.seq_len} and --batch-size "
                         f"{config.batch_size}")
    vocab = Vocabulary(text)
    ids = vocab.encode(text)
    n_val = int(len(ids) * config.val_fraction)
    train_ids, val_ids = ids[:len(ids) - n_val], ids[len(ids) - n_val:]
    return Corpus(path, vocab, ids, _streams(train_ids, config.batch_size), val_ids)


def train_text(config: TextConfig, progress: bool = True, log: IO[str] | None = None
               ) -> dict[str, Any]:
    """Train a language model on a text file; write model, metrics, curve and samples.

    Without ``config.model``, or with a recurrent one on a text that is one stream, a
    CharRNN by truncated BPTT; otherwise a zoo model (``chainrule.train.language``)."""
    config = with_defaults(config)
    check_config(config)
    if config.model is not None:
        from chainrule.train.language import train_zoo
        from chainrule.train.lines import looks_like_items
        from chainrule.train.zoo import RECURRENT

        text = read_corpus(Path(config.path))
        lines = config.lines if config.lines is not None else looks_like_items(text)
        if lines or config.model not in RECURRENT:
            return train_zoo(config, text, lines, progress, log)
        from dataclasses import replace

        config = replace(config, cell=config.model)
    return _train_char_rnn(config, progress, log)


def _train_char_rnn(config: TextConfig, progress: bool, log: IO[str] | None
                    ) -> dict[str, Any]:
    from chainrule.optim import Adam

    say = line_printer(log)
    corpus = load_corpus(config)
    if config.threads is not None:
        set_num_threads(config.threads)
    manual_seed(config.seed)
    model = CharRNN(len(corpus.vocab), config.embedding, config.hidden, config.layers,
                    config.cell)
    optimizer = Adam(list(model.parameters()), lr=config.lr)
    out_dir = output_dir(config)
    say(f"corpus {corpus.path}: {len(corpus.ids):,} characters, vocabulary "
        f"{len(corpus.vocab)}; model {config.cell.upper()} {config.layers}x{config.hidden}, "
        f"{model.num_parameters():,} parameters; {config.steps} steps of "
        f"{config.batch_size}x{config.seq_len} characters")
    started = time.perf_counter()
    history, samples = _train_steps(model, optimizer, corpus, config, progress)
    files = write_run(out_dir, model, {"config": asdict(config),
                                       "vocabulary": corpus.vocab.chars},
                      history, samples, f"char-{config.cell} on {corpus.path.name}", started)
    return {"history": history, "files": files, "model": model, "vocab": corpus.vocab,
            "seconds": time.perf_counter() - started}


def output_dir(config: TextConfig) -> Path:
    """``--out``, or runs/text-<time>, created."""
    out_dir = Path(config.out or f"runs/text-{time.strftime('%Y%m%d-%H%M%S')}")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def write_run(out_dir: Path, model: Any, metadata: dict[str, Any], history: History,
              samples: list[str], title: str, started: float) -> dict[str, Path]:
    """Write the model (safetensors, with ``metadata``), the metrics, the loss curve and
    the samples into ``out_dir``; their paths by label."""
    from chainrule._io import atomic_write

    files = {"model": out_dir / "model.safetensors", "curve": out_dir / "loss.png",
             "metrics": out_dir / "metrics.json", "samples": out_dir / "samples.txt"}
    save(model, files["model"], metadata)
    history.save_json(files["metrics"], seconds=time.perf_counter() - started)
    history.plot(files["curve"], title=title, xlabel="step")
    with atomic_write(files["samples"], "w") as f:
        f.write("\n".join(samples))
    return files


def _train_steps(model: CharRNN, optimizer: Any, corpus: Corpus, config: TextConfig,
                 progress: bool) -> tuple[History, list[str]]:
    """``config.steps`` steps of truncated BPTT, sampling every ``sample_every``: the
    history (one entry per sample) and the samples."""
    streams, vocab = corpus.streams, corpus.vocab
    history = History()
    reporter = Progress.for_steps(config.steps, enabled=progress)
    reporter.start_epoch(1)
    state = None
    position = 0
    started = time.perf_counter()
    samples = []
    prime = "\n" if "\n" in vocab.index else ""  # a sample starts a line if the text has lines
    advice = f"try a lower --lr (now {config.lr})" + ("" if config.clip else " or --clip 5")
    for step in range(1, config.steps + 1):
        if position + config.seq_len + 1 > streams.shape[1]:
            position, state = 0, None  # start the streams over
        chunk = streams[:, position:position + config.seq_len + 1]
        position += config.seq_len
        logits, state = model(chunk[:, :-1], state)
        state = _detach(state)  # truncated BPTT: the next chunk does not backprop into this
        loss = F.sequence_cross_entropy(logits, chunk[:, 1:])
        value = float(loss.data)
        check_loss(value, f"step {step}", advice, prefix="train-text: ")
        train_step(model, loss, optimizer, clip_grad_norm=config.clip or None)  # 0: no clip
        reporter.batch(step - 1, value)
        if step % config.sample_every == 0 or step == config.steps:
            val = _validation_loss(model, corpus.val_ids, config)
            history.append({"epoch": step, "loss": value, "val_loss": val,
                            "time": time.perf_counter() - started})
            text_sample = sample(model, vocab, prime, config.sample_length, config.temperature)
            samples.append(f"--- step {step}, loss {value:.3f}, val_loss {val:.3f} ---\n"
                           f"{text_sample}\n")
            reporter.message(samples[-1])
    reporter.end_epoch({"loss": history["loss"][-1]})
    reporter.close()
    return history, samples


def _validation_loss(model: CharRNN, ids: np.ndarray, config: TextConfig) -> float:
    """Mean next-character loss over the held-out tail of the corpus."""
    if len(ids) < config.seq_len + 1:
        return float("nan")
    streams = _streams(ids, min(config.batch_size, max(1, len(ids) // (config.seq_len + 1))))
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        with no_grad():
            for pos in range(0, streams.shape[1] - 1, config.seq_len):
                chunk = streams[:, pos:pos + config.seq_len + 1]
                if chunk.shape[1] < 2:
                    break
                logits, state = model(chunk[:, :-1], state)
                n = chunk[:, 1:].size
                total += float(F.sequence_cross_entropy(logits, chunk[:, 1:]).data) * n
                count += n
    finally:
        model.train()
    return total / max(count, 1)
