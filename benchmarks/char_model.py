"""The character-level LSTM of ``chainrule train-text`` beside the same model in PyTorch.

A benchmark, not a test: at the full budget it takes several minutes.

    python benchmarks/char_model.py                       # 2,000 steps each, writes docs/
    python benchmarks/char_model.py --steps 50 --no-write # a quick look
    python benchmarks/char_model.py path/to/corpus.txt    # another text (or CHAINRULE_DATA=dir)
    python benchmarks/char_model.py --report-only         # re-render from the stored results

Both frameworks train the same model on the same batches from the same initial weights:

- data: ``chainrule.train.text``'s pipeline (sorted-character Vocabulary, the last 5% of
  the corpus held out, the rest cut into ``batch`` parallel streams, consecutive chunks
  of ``seq_len + 1`` characters, streams restarted with a zero state when they run out);
- model: Embedding(vocab, 32) -> 1-layer LSTM(hidden 256) -> Linear(256, vocab), i.e.
  ``CharRNN``; PyTorch runs torch.nn.Embedding + torch.nn.LSTM(batch_first=True) +
  torch.nn.Linear, whose parameters carry the same names and gate order, loaded from
  chainrule's initial parameters (saved by the chainrule process, seed 0);
- training: truncated BPTT over each chunk with the state carried detached, mean
  cross-entropy, gradient norm clipped to 5, Adam lr 2e-3 (``TextConfig``'s defaults);
- validation: chainrule's own ``_validation_loss`` scores both models (nats per
  character over the held-out tail, streams carried from chunk to chunk), the PyTorch
  model wrapped so that its logits reach the same chainrule code.

Each framework runs in its own fresh process, one after the other, with 2 threads
(OpenBLAS for numpy, torch.set_num_threads(2) for PyTorch): PyTorch's OpenMP threads and
numpy's OpenBLAS threads slow each other down when they share a process. Training time is
the sum of the training steps (validation excluded); the median step is reported too,
since a shared machine stalls some steps.

The table goes to docs/benchmarks.md (section "char-model"), the validation curves to
docs/char_model_curves.png and the raw numbers to benchmarks/results/char_model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _report  # noqa: E402
from _report import (  # noqa: E402
    ROOT,
    machine,
    save_figure,
    tune_allocator_unless_peer,
    write_section,
)

DATA = Path(os.environ.get("CHAINRULE_DATA", ROOT.parent / "shared" / "data"))
THREADS = 2  # per framework, as the performance benchmarks
FRAMEWORKS = ("chainrule", "torch")
# the fixed budget of the recurrent-nets issue; everything else is TextConfig's default
BUDGET = {"hidden": 256, "seq_len": 100, "batch_size": 32, "steps": 2000}


# -- what both processes share: the data and the training loop --------------------------

def corpus(config: Any) -> tuple[Any, Any, Any]:
    """(vocabulary, training streams (batch, length), validation ids), as train_text cuts them."""
    from chainrule.train.text import Vocabulary, _streams

    text = Path(config.path).read_text(encoding="utf-8")
    vocab = Vocabulary(text)
    ids = vocab.encode(text)
    n_val = int(len(ids) * config.val_fraction)
    return vocab, _streams(ids[:len(ids) - n_val], config.batch_size), ids[len(ids) - n_val:]


def chunks(streams: Any, seq_len: int, steps: int) -> Iterator[tuple[int, Any, bool]]:
    """train_text's batches: (step, chunk of seq_len + 1 characters per stream, restart),
    where restart means the streams started over and the carried state is dropped."""
    position = 0
    for step in range(1, steps + 1):
        restart = position + seq_len + 1 > streams.shape[1]
        if restart:
            position = 0
        yield step, streams[:, position:position + seq_len + 1], restart
        position += seq_len


def train(name: str, step_fn: Callable, validate: Callable[[], float], streams: Any,
          config: Any, eval_every: int) -> dict:
    """Run the training steps, timing each one; validate at step 0, every eval_every
    steps and at the end."""
    curve = [[0, validate()]]
    step_ms, losses, eval_s = [], [], 0.0
    state = None
    for step, chunk, restart in chunks(streams, config.seq_len, config.steps):
        if restart:
            state = None
        start = time.perf_counter()
        loss, state = step_fn(chunk, state)
        step_ms.append((time.perf_counter() - start) * 1e3)
        losses.append(loss)
        if step % eval_every == 0 or step == config.steps:
            start = time.perf_counter()
            curve.append([step, validate()])
            eval_s += time.perf_counter() - start
            print(f"  {name}: step {step}, loss {loss:.4f}, val_loss {curve[-1][1]:.4f}, "
                  f"median step {statistics.median(step_ms):.1f} ms", file=sys.stderr,
                  flush=True)
    return {"curve": curve, "step_ms": [round(t, 3) for t in step_ms],
            "train_loss": [round(v, 5) for v in losses], "eval_seconds": eval_s}


# -- one process per framework ----------------------------------------------------------

def child_chainrule(config: Any, init: str, eval_every: int, threads: int) -> dict:
    """chainrule's side; its threads were set in the environment before numpy loaded."""
    import numpy as np

    import chainrule.functional as F
    from chainrule import manual_seed
    from chainrule.nn import CharRNN
    from chainrule.optim import Adam, clip_grad_norm_
    from chainrule.train.text import _detach, _validation_loss

    manual_seed(config.seed)  # as train_text: the seed, then the model
    vocab, streams, val_ids = corpus(config)
    model = CharRNN(len(vocab), config.embedding, config.hidden, config.layers, config.cell)
    np.savez(init, **model.state_dict())  # the initial weights PyTorch starts from
    params = list(model.parameters())
    optimizer = Adam(params, lr=config.lr)

    def step(chunk: Any, state: Any) -> tuple[float, Any]:
        logits, state = model(chunk[:, :-1], state)
        loss = F.sequence_cross_entropy(logits, chunk[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(params, config.clip)
        optimizer.step()
        return float(loss.data), _detach(state)

    result = train("chainrule", step, lambda: _validation_loss(model, val_ids, config),
                   streams, config, eval_every)
    return {**result, "n_vocab": len(vocab), "n_params": model.num_parameters()}


def child_torch(config: Any, init: str, eval_every: int, threads: int) -> dict:
    import numpy as np
    import torch

    import chainrule as cr
    from chainrule.train.text import _validation_loss

    torch.set_num_threads(threads)
    vocab, streams, val_ids = corpus(config)

    class CharModel(torch.nn.Module):
        """CharRNN's layers under CharRNN's attribute names, so the state dicts match."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(len(vocab), config.embedding)
            self.rnn = torch.nn.LSTM(config.embedding, config.hidden, config.layers,
                                     batch_first=True)
            self.head = torch.nn.Linear(config.hidden, len(vocab))

        def forward(self, ids: Any, state: Any = None) -> tuple:
            out, state = self.rnn(self.embed(torch.from_numpy(ids)), state)
            return self.head(out), state

    class Scored:
        """The torch model as _validation_loss calls a CharRNN (numpy ids in, chainrule
        logits out), so that one piece of code scores both frameworks."""

        def eval(self) -> None:
            model.eval()

        def train(self) -> None:
            model.train()

        def __call__(self, ids: Any, state: Any) -> tuple:
            with torch.no_grad():
                logits, state = model(ids, state)
            return cr.tensor(logits.numpy()), state

    model = CharModel()
    with np.load(init) as weights:
        model.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files})
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    def step(chunk: Any, state: Any) -> tuple[float, Any]:
        logits, state = model(chunk[:, :-1], state)
        target = torch.from_numpy(chunk[:, 1:])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)),
                                                 target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        return loss.item(), tuple(s.detach() for s in state)

    return train("torch", step, lambda: _validation_loss(Scored(), val_ids, config), streams,
                 config, eval_every)


def run_child(framework: str, config: Any, init: str, eval_every: int, threads: int) -> dict:
    """Train one framework in a fresh interpreter; return what it measured."""
    spec = {"framework": framework, "config": asdict(config), "init": init,
            "eval_every": eval_every, "threads": threads}
    return _report.run_child(__file__, spec, framework, threads, f"{framework} process")


def _child(spec: dict) -> dict:
    from chainrule.train.text import TextConfig

    run = child_chainrule if spec["framework"] == "chainrule" else child_torch
    return run(TextConfig(**spec["config"]), spec["init"], spec["eval_every"], spec["threads"])


# -- the report ---------------------------------------------------------------------------

def summary(r: dict) -> dict:
    ms = r["step_ms"]
    return {"val_loss": r["curve"][-1][1], "initial_val_loss": r["curve"][0][1],
            "train_seconds": sum(ms) / 1e3, "mean_ms": statistics.fmean(ms),
            "median_ms": statistics.median(ms),
            "quietest_ms": min(windows(r)), "noisiest_ms": max(windows(r))}


def windows(r: dict) -> list[float]:
    """The median step (ms) of each stretch between two validations: a stretch in which
    other work took the cores stands out from the rest."""
    steps = [step for step, _ in r["curve"]]
    return [statistics.median(r["step_ms"][a:b]) for a, b in pairwise(steps)]


def stalls(r: dict) -> str:
    """The stretches of steps whose median step is over twice the quietest ("none" if none)."""
    steps, medians = [step for step, _ in r["curve"]], windows(r)
    slow = [f"{a + 1}-{b}" for (a, b), m in zip(pairwise(steps), medians, strict=True)
            if m > 2 * min(medians)]
    return f"steps {', '.join(slow)}" if slow else "none"


def report(stored: dict) -> str:
    config, results = stored["config"], stored["results"]
    ours, peer = summary(results["chainrule"]), summary(results["torch"])
    rows = [("validation loss after the last step (nats/char)", "val_loss", "{:.4f}"),
            ("validation loss at step 0 (same weights)", "initial_val_loss", "{:.4f}"),
            ("training time (s, validation excluded)", "train_seconds", "{:.1f}"),
            ("ms per step, mean", "mean_ms", "{:.1f}"),
            ("ms per step, median", "median_ms", "{:.1f}"),
            (f"ms per step, median of the quietest {stored['eval_every']} steps",
             "quietest_ms", "{:.1f}"),
            (f"ms per step, median of the noisiest {stored['eval_every']} steps",
             "noisiest_ms", "{:.1f}")]
    lines = ["| | chainrule | PyTorch | chainrule / PyTorch |", "| --- | --- | --- | --- |"]
    for label, key, fmt in rows:
        last = (f"{ours[key] - peer[key]:+.4f} (difference)" if key.endswith("loss")
                else "" if key == "noisiest_ms" else f"{ours[key] / peer[key]:.2f}x")
        lines.append(f"| {label} | {fmt.format(ours[key])} | {fmt.format(peer[key])} | "
                     f"{last} |")
    curve = ["| step | chainrule | PyTorch | difference | chainrule ms/step | PyTorch ms/step |",
             "| --- | --- | --- | --- | --- | --- |"]
    ms = [[""] + [f"{t:.1f}" for t in windows(results[f])] for f in FRAMEWORKS]
    for (step, a), (_, b), ms_a, ms_b in zip(results["chainrule"]["curve"],
                                             results["torch"]["curve"], *ms, strict=True):
        curve.append(f"| {step} | {a:.4f} | {b:.4f} | {a - b:+.4f} | {ms_a} | {ms_b} |")
    gap = max(abs(a - b) for (_, a), (_, b) in zip(results["chainrule"]["curve"],
                                                  results["torch"]["curve"], strict=True))
    slowed = "; ".join(f"{name} {stalls(results[f])}"
                       for f, name in zip(FRAMEWORKS, ("chainrule", "PyTorch"), strict=True))
    n_vocab, n_params = results["chainrule"]["n_vocab"], results["chainrule"]["n_params"]
    return (f"## Character-level LSTM beside PyTorch (benchmarks/char_model.py)\n\n"
            f"Measured {stored['machine']}, torch {stored['torch']}. "
            f"{Path(config['path']).name} (vocabulary {n_vocab}, last "
            f"{config['val_fraction']:.0%} held out), Embedding({n_vocab}, "
            f"{config['embedding']}) -> LSTM {config['layers']}x{config['hidden']} -> "
            f"Linear, {n_params:,} parameters; {config['steps']:,} steps of "
            f"{config['batch_size']} streams x {config['seq_len']} characters, truncated "
            f"BPTT with the state carried detached, Adam lr {config['lr']:g}, gradient norm "
            f"clipped to {config['clip']:g}, float32, seed {config['seed']}. Both start "
            f"from chainrule's initial weights (copied into torch.nn.Embedding/LSTM/Linear "
            f"by name), see the same batches in the same order and are scored by the same "
            f"validation code; each runs alone in a fresh process with {stored['threads']} "
            f"threads.\n\n"
            f"{chr(10).join(lines)}\n\n"
            f"The two validation curves agree to {gap:.1e} nats at every point (not "
            f"bit-identical: float32 sums run in a different order). The machine is shared "
            f"with other work and the two frameworks ran one after the other, so the times "
            f"are noisy and each saw a different load: compare the medians, best those of the "
            f"quietest stretches, rather than the totals and means. Stretches slowed to more "
            f"than twice the quietest median step: {slowed}.\n\n"
            f"Validation loss (nats per character) during training, and the median step of "
            f"the steps since the previous row:\n\n"
            f"{chr(10).join(curve)}\n\n![validation curves](char_model_curves.png)")


def plot(stored: dict, path: Path) -> None:
    results = stored["results"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for framework, label, style in (("chainrule", "chainrule", "-o"),
                                    ("torch", "PyTorch", "--s")):
        steps, losses = zip(*results[framework]["curve"], strict=True)
        ax.plot(steps, losses, style, markersize=4, label=f"{label} (validation)")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss (nats per character)")
    ax.set_title(f"char-LSTM on {Path(stored['config']['path']).name}, same initial weights "
                 f"and batches")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", default=str(DATA / "tinyshakespeare.txt"),
                        help="the corpus (default $CHAINRULE_DATA or ../shared/data, "
                             "tinyshakespeare.txt)")
    parser.add_argument("--steps", type=int, default=BUDGET["steps"],
                        help="training steps per framework (a quick look: --steps 50)")
    parser.add_argument("--eval-every", type=int, default=200,
                        help="steps between validation losses")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="OpenBLAS threads for chainrule, torch.set_num_threads for PyTorch")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the section and figure from benchmarks/results/"
                             "char_model.json without training")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tune_allocator_unless_peer()
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    if not args.report_only and not Path(args.path).is_file():
        parser.error(f"no text file at {args.path} (give a path or set CHAINRULE_DATA)")
    if args.steps < 1 or args.eval_every < 1:
        parser.error("--steps and --eval-every must be positive")
    store = ROOT / "benchmarks" / "results" / "char_model.json"
    if args.report_only:
        stored = json.loads(store.read_text())
    else:
        stored = measure(args)
    body = report(stored)
    print(body)
    if not args.no_write:
        if not args.report_only:
            store.parent.mkdir(exist_ok=True)
            store.write_text(json.dumps(stored, indent=1))
        write_section("char-model", body)
        plot(stored, ROOT / "docs" / "char_model_curves.png")
        print(f"wrote docs/benchmarks.md, docs/char_model_curves.png and {store.name}")
    return 0


def measure(args: argparse.Namespace) -> dict:
    """Train both frameworks, one fresh process each; everything the report needs."""
    from importlib.metadata import version

    from chainrule.train.text import TextConfig, with_defaults

    # lr and clip None in TextConfig mean the char-RNN's defaults: filled in as train_text does
    config = with_defaults(replace(TextConfig(args.path, **BUDGET), steps=args.steps))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        init = str(Path(tmp) / "initial.npz")
        for framework in FRAMEWORKS:  # chainrule first: it writes the initial weights
            print(f"{framework}: {config.steps} steps", file=sys.stderr, flush=True)
            results[framework] = run_child(framework, config, init, args.eval_every,
                                           args.threads)
    return {"config": asdict(config), "machine": machine(), "torch": version("torch"),
            "threads": args.threads, "eval_every": args.eval_every, "results": results,
            "summary": {f: summary(r) for f, r in results.items()}}


if __name__ == "__main__":
    sys.exit(main())
