"""makemore's model zoo trained by chainrule beside the same models written in PyTorch.

A benchmark, not a test: the full run takes most of an hour on 2 cores.

    python benchmarks/makemore.py                          # the zoo, 5,000 steps each, and
                                                           # the microgpt-sized model
    python benchmarks/makemore.py --quick                  # a few steps each, writes nothing
    python benchmarks/makemore.py --models none --microgpt-steps 0 --long-steps 60000
                                                           # chainrule's Transformer towards 1.92
    python benchmarks/makemore.py --report-only            # re-render the stored results

What both frameworks share, so that the only difference left is the framework:

- data: names.txt read as chainrule.train.lines reads it (one name a line, token 0 the
  start/end token, block size = the longest name + 1 = 16), makemore's split (a held-out
  test set of min(1000, 10%) names, a fixed seed); the parent writes the arrays once and
  both processes load them;
- models: ``chainrule.train.zoo`` at makemore's defaults (n_layer 4, n_head 4, n_embd 64,
  n_embd2 64) and their twins in benchmarks/makemore_torch.py, which carry the same
  parameter names: PyTorch loads chainrule's initial weights by name (strict);
- batches: one numpy Generator of the same seed in each process draws the 32 rows of
  every step (with replacement, as makemore's sampler), so both see the same batches;
- optimizer: makemore's AdamW (betas 0.9/0.99, eps 1e-8, lr 5e-4 constant, weight decay
  0.01) on the mean next-character cross-entropy, padding ignored;
- scoring: the same numpy code turns either framework's logits into the test loss, nats
  per character over every character and end token of the 1,000 held-out names (makemore
  averages 10 batch means instead; the two differ by a few 1e-4).

The microgpt-sized model is nn.GPT with 1 layer, 4 heads, 16 channels, block 16, RMSNorm,
a ReLU MLP and no biases, trained as microgpt trains: one name a step, Adam (betas
0.85/0.99, no weight decay), lr 0.01 decayed linearly to 0 over the 1,000 steps.

Each framework trains each model in a fresh process (so its peak RSS, ru_maxrss, is its
own) with the same number of threads (OpenBLAS for numpy, torch.set_num_threads for
PyTorch; one by default). The two processes take turns of TURN steps, one training while
the other waits, which goes first alternating from model to model: both see the same load
of a shared machine, and neither takes a core from the other. A step is timed from the batch
to the updated weights (the evaluations are not); the table gives the median step after
the first WARMUP steps. The tables go to docs/sequences.md (section "makemore"), the
curves to docs/makemore_curves.png and the numbers to benchmarks/results/makemore.json,
to which each run adds what it measured (runs of the zoo, the long Transformer and the
microgpt model can be made separately).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import (  # noqa: E402
    ROOT,
    child_env,
    machine,
    save_figure,
    tune_allocator_unless_peer,
    write_section,
)

DATA = Path(os.environ.get("CHAINRULE_DATA", ROOT.parent / "shared" / "data")) / "names.txt"
RESULTS = ROOT / "benchmarks" / "results" / "makemore.json"
FIGURE = ROOT / "docs" / "makemore_curves.png"
DOC = ROOT / "docs" / "sequences.md"
FRAMEWORKS = ("chainrule", "torch")
NAMES = {"chainrule": "chainrule", "torch": "PyTorch"}
ZOO = ("bigram", "mlp", "rnn", "gru", "lstm", "bow", "transformer")  # chainrule.train.zoo's
SEED = 3407  # makemore's default seed: the split, the initial weights, the batches
# One thread each: on this 2-core machine shared with other work, two threads per
# framework stalled both (a quick check: the Transformer step 29 ms chainrule, 184 ms
# PyTorch with 2 threads; 24 and 24 ms with 1).
THREADS = 1
WARMUP = 20  # steps left out of the median step time
MAKEMORE = {"n_layer": 4, "n_head": 4, "n_embd": 64, "n_embd2": 64}
ADAMW = {"name": "adamw", "lr": 5e-4, "betas": [0.9, 0.99], "eps": 1e-8, "weight_decay": 0.01}
MICROGPT = {"model": {"n_layer": 1, "n_head": 4, "n_embd": 16},
            "gpt": {"bias": False, "norm": "rmsnorm", "activation": "relu"},
            "optimizer": {"name": "adam", "lr": 0.01, "betas": [0.85, 0.99], "eps": 1e-8,
                          "weight_decay": 0.0},
            "batch_size": 1, "decay": "linear"}
MAKEMORE_TARGET = 1.92  # makemore's README: the default Transformer's test loss


# -- what both processes share: batches, the loop, the score ------------------------------

def learning_rate(spec: dict, step: int) -> float:
    """The learning rate of (1-based) ``step``: constant, or microgpt's linear decay
    lr (1 - (step - 1) / steps), which reaches lr / steps at the last step."""
    lr = spec["optimizer"]["lr"]
    return lr * (1 - (step - 1) / spec["steps"]) if spec["decay"] == "linear" else lr


def score(logits_of: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray,
              batch: int = 100) -> float:
    """Nats per character: the mean of -log softmax(logits)[target] over every target
    that is not padding (-1), in float64, whichever framework made the logits."""
    total, count = 0.0, 0
    for i in range(0, len(x), batch):
        z = np.asarray(logits_of(x[i:i + batch]), np.float64)
        t = y[i:i + batch]
        keep = t >= 0
        z = z[keep]
        z -= z.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        total -= float(logp[np.arange(len(z)), t[keep]].sum())
        count += int(keep.sum())
    return total / count


def train(step_fn: Callable, logits_of: Callable, data: Any, spec: dict) -> dict:
    """``spec['steps']`` steps on batches drawn by one seeded Generator; the test loss at
    step 0, every ``eval_every`` steps and at the end, the time of every step."""
    rng = np.random.default_rng(spec["seed"])
    train_x, train_y, test_x, test_y = (data[k] for k in ("train_x", "train_y", "test_x",
                                                          "test_y"))
    curve = [[0, score(logits_of, test_x, test_y)]]
    step_ms, losses = [], []
    for step in range(1, spec["steps"] + 1):
        if (step - 1) % TURN == 0:
            wait_for_turn()
        rows = rng.integers(0, len(train_x), spec["batch_size"])
        x, y = train_x[rows], train_y[rows]
        start = time.perf_counter()
        losses.append(step_fn(x, y, learning_rate(spec, step)))
        step_ms.append((time.perf_counter() - start) * 1e3)
        if step % spec["eval_every"] == 0 or step == spec["steps"]:
            curve.append([step, score(logits_of, test_x, test_y)])
            print(f"  {spec['framework']} {spec['name']}: step {step}, loss {losses[-1]:.4f}, "
                  f"test {curve[-1][1]:.4f}, median step "
                  f"{statistics.median(step_ms[-spec['eval_every']:]):.2f} ms", file=sys.stderr,
                  flush=True)
    steps = [s for s, _ in curve]
    return {"curve": curve,
            "median_ms": statistics.median(step_ms[min(WARMUP, len(step_ms) - 1):]),
            "window_ms": [statistics.median(step_ms[a:b]) for a, b in pairwise(steps)],
            "window_loss": [statistics.fmean(losses[a:b]) for a, b in pairwise(steps)]}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- one process per framework and model --------------------------------------------------

def build_chainrule(spec: dict) -> Any:
    """The chainrule model of a run: a zoo model, or nn.GPT with the run's options."""
    if spec.get("gpt"):
        from chainrule.nn import GPT

        m = spec["model"]
        return GPT(m["vocab_size"], m["block_size"], m["n_layer"], m["n_head"], m["n_embd"],
                   **spec["gpt"])
    from chainrule.train.zoo import make_model

    return make_model(spec["kind"], **spec["model"])


def child_chainrule(spec: dict) -> dict:
    from chainrule import no_grad, set_num_threads
    from chainrule.optim import Adam, AdamW
    from chainrule.train.language import next_token_loss
    from chainrule.train.step import train_step
    from chainrule.train.zoo import logits_of

    set_num_threads(spec["threads"])
    data = dict(np.load(spec["data"]))
    imported = rss_mb()
    model = build_chainrule(spec)
    with np.load(spec["init"]) as init:
        model.load_state_dict({k: init[k] for k in init.files})
    o = spec["optimizer"]
    optimizer = (AdamW if o["name"] == "adamw" else Adam)(
        list(model.parameters()), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
        weight_decay=o["weight_decay"])

    def step(x: np.ndarray, y: np.ndarray, lr: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = next_token_loss(model, x, y)
        train_step(model, loss, optimizer)
        return float(loss.data)

    def logits(x: np.ndarray) -> np.ndarray:
        with no_grad():
            return logits_of(model, x).data

    result = train(step, logits, data, spec)
    return {**result, "n_params": model.num_parameters(), "import_rss_mb": imported,
            "peak_rss_mb": rss_mb()}


def child_torch(spec: dict) -> dict:
    import makemore_torch
    import torch

    torch.set_num_threads(spec["threads"])
    data = dict(np.load(spec["data"]))
    imported = rss_mb()
    model = makemore_torch.make_model(spec["kind"], **spec["model"], **spec.get("gpt", {}))
    with np.load(spec["init"]) as init:
        model.load_state_dict({k: torch.from_numpy(init[k]) for k in init.files})
    o = spec["optimizer"]
    optimizer = (torch.optim.AdamW if o["name"] == "adamw" else torch.optim.Adam)(
        model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
        weight_decay=o["weight_decay"])

    def step(x: np.ndarray, y: np.ndarray, lr: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits = model(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 torch.from_numpy(y).reshape(-1),
                                                 ignore_index=-1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    def logits(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    result = train(step, logits, data, spec)
    return {**result, "import_rss_mb": imported, "peak_rss_mb": rss_mb()}


TURN = 100  # steps a child trains before the other framework's child takes its turn


def wait_for_turn() -> None:
    """In a child: say "ready" to the parent and block until it says go."""
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("makemore: the parent process went away")


def run_interleaved(specs: list[dict]) -> dict[str, dict]:
    """Train the frameworks of ``specs`` each in a fresh interpreter, taking turns of TURN
    steps (one child trains while the other waits), so that both see the same load of a
    shared machine and never compete for its cores; what each measured, by framework."""
    procs = {spec["framework"]: subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(spec)], text=True,
        env=child_env(spec["framework"], spec["threads"]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE) for spec in specs}
    results: dict[str, dict] = {}
    lines = {f: p.stdout.readline() for f, p in procs.items()}  # set up, evaluated step 0
    while len(results) < len(procs):
        for framework, proc in procs.items():
            if framework in results:
                continue
            if lines[framework].strip() != "ready":
                proc.wait()
                raise SystemExit(f"makemore: the {framework} process for "
                                 f"{specs[0]['name']} failed (exit {proc.returncode}); its "
                                 f"error is above")
            proc.stdin.write("go\n")
            proc.stdin.flush()
            lines[framework] = proc.stdout.readline()
            if lines[framework].startswith("{"):
                results[framework] = json.loads(lines[framework])
                proc.stdin.close()
                proc.wait()
    return results


# -- the parent: data, initial weights, the runs ------------------------------------------

def write_data(path: Path, out: Path) -> dict:
    """names.txt as chainrule reads items, split as makemore splits; the arrays to ``out``."""
    from chainrule.train.lines import line_data

    data = line_data(path.read_text(encoding="utf-8"), None, SEED, str(path))
    np.savez(out, train_x=data.train_x, train_y=data.train_y, test_x=data.test_x,
             test_y=data.test_y)
    return {"vocab_size": data.vocab_size, "block_size": data.block_size,
            "train": len(data.train_x), "test": len(data.test_x)}


def run_pair(spec: dict, order: int, tmp: Path) -> dict:
    """The frameworks of a run (both unless it says) from chainrule's initial weights
    (seed SEED)."""
    import chainrule

    chainrule.manual_seed(SEED)
    spec = {**spec, "init": str(tmp / f"{spec['name']}.npz")}
    np.savez(spec["init"], **build_chainrule(spec).state_dict())
    frameworks = spec.get("frameworks", FRAMEWORKS)
    print(f"{spec['name']}: {spec['steps']} steps, {', '.join(frameworks)} in turns of {TURN}",
          file=sys.stderr, flush=True)
    first = frameworks if order % 2 == 0 else frameworks[::-1]
    results = run_interleaved([{**spec, "framework": f} for f in first])
    entry = {k: v for k, v in spec.items() if k not in ("data", "init", "framework")}
    return {**entry, "turn": TURN, "machine": machine(), "results": results}


def runs(args: argparse.Namespace, shape: dict) -> list[dict]:
    """The runs this invocation makes: the zoo models, the long Transformer, microgpt."""
    base = {"seed": SEED, "threads": args.threads, "batch_size": 32, "optimizer": ADAMW,
            "decay": "none"}
    out = [{**base, "name": kind, "kind": kind, "model": {**shape, **MAKEMORE},
            "steps": args.steps, "eval_every": args.eval_every} for kind in args.models]
    if args.long_steps:
        out.append({**base, "name": "long", "kind": "transformer",
                    "model": {**shape, **MAKEMORE}, "steps": args.long_steps,
                    "eval_every": args.long_eval_every, "frameworks": args.long_frameworks})
    if args.microgpt_steps:
        out.append({**base, **MICROGPT, "name": "microgpt", "kind": "transformer",
                    "model": {**shape, **MICROGPT["model"]}, "steps": args.microgpt_steps,
                    "eval_every": max(1, args.microgpt_steps // 10)})
    return out


def measure(args: argparse.Namespace) -> dict:
    from importlib.metadata import version

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "names.npz"
        split = write_data(Path(args.data), data)
        shape = {"vocab_size": split["vocab_size"], "block_size": split["block_size"]}
        measured = {spec["name"]: run_pair({**spec, "data": str(data)}, i, Path(tmp))
                    for i, spec in enumerate(runs(args, shape))}
    return {"data": {"path": str(args.data), **split}, "torch": version("torch"),
            "runs": measured}


# -- the report ---------------------------------------------------------------------------

def summary(result: dict) -> dict:
    """One framework's numbers of one run."""
    return {"loss": result["curve"][-1][1], "initial": result["curve"][0][1],
            "best": min(v for _, v in result["curve"]), "ms": result["median_ms"],
            "rss": result["peak_rss_mb"],
            "import_rss": result["import_rss_mb"]}


def gap(run: dict) -> float:
    """The largest test-loss difference between the frameworks at any evaluated step."""
    a, b = (run["results"][f]["curve"] for f in FRAMEWORKS)
    return max(abs(u - v) for (_, u), (_, v) in zip(a, b, strict=True))


def paired(run: dict) -> float:
    """The median over the evaluation stretches of chainrule's median step / PyTorch's in
    the same stretch: the two took turns within it, so each ratio compares steps made
    under the same load."""
    a, b = (run["results"][f]["window_ms"] for f in FRAMEWORKS)
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def first_below(curve: list, target: float) -> str:
    return next((f"first at step {step:,}" for step, loss in curve if loss <= target),
                "not reached")


def _row(label: str, run: dict) -> str:
    ours, peer = (summary(run["results"][f]) for f in FRAMEWORKS)
    n_params = run["results"]["chainrule"]["n_params"]
    return (f"| {label} | {n_params:,} | {run['steps']:,} | {ours['loss']:.4f} | "
            f"{peer['loss']:.4f} | {ours['loss'] - peer['loss']:+.4f} | {gap(run):.4f} | "
            f"{ours['ms']:.2f} | {peer['ms']:.2f} | {ours['ms'] / peer['ms']:.2f}x | "
            f"{paired(run):.2f}x | {ours['rss']:.0f} | "
            f"{peer['rss']:.0f} |")


HEADER = ("| model | parameters | steps | test loss, chainrule | PyTorch | difference | largest "
          "gap on the curve | ms/step, chainrule | PyTorch | ratio | ratio, paired "
          "stretches | peak RSS MB, chainrule | PyTorch |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def _machines(runs: list[dict]) -> str:
    lines = sorted({run["machine"] for run in runs})
    threads = sorted({run["threads"] for run in runs})
    turns = (f", the two taking turns of {runs[0]['turn']} steps"
             if all(len(run["results"]) > 1 and "turn" in run for run in runs) else "")
    return (f"Measured {'; '.join(lines)}, {'/'.join(map(str, threads))} "
            f"thread{'s' if max(threads) > 1 else ''} per framework{turns}")


def _imported(runs: list[dict], framework: str) -> str:
    sizes = [run["results"][framework]["import_rss_mb"] for run in runs]
    low, high = f"{min(sizes):.0f}", f"{max(sizes):.0f}"
    return f"{low} MB" if low == high else f"{low}-{high} MB"


def report(stored: dict) -> str:
    """The markdown of docs/sequences.md's "makemore" section, from the stored results."""
    runs, parts = stored["runs"], ["## Measured: the zoo beside PyTorch (benchmarks/makemore.py)"]
    zoo = [runs[k] for k in ZOO if k in runs]
    if zoo:
        d = stored["data"]
        parts.append(f"{_machines(zoo)}, torch {stored['torch']}. {Path(d['path']).name}: "
                     f"{d['train']:,} training and {d['test']:,} test names, vocabulary "
                     f"{d['vocab_size']}, block size {d['block_size']}; batch 32, AdamW lr "
                     f"5e-4 (betas 0.9/0.99, weight decay 0.01), makemore's sizes (n_layer 4, "
                     f"n_head 4, n_embd 64, n_embd2 64). Test loss in nats per character on the "
                     f"held-out names; ms/step the median step after the first {WARMUP}, "
                     f"\"paired stretches\" the median over the {zoo[0]['eval_every']}-step "
                     f"stretches of the ratio of the two frameworks' median steps in the same "
                     f"stretch. Peak RSS counts the whole "
                     f"process: after its imports and the data it held "
                     f"{_imported(zoo, 'chainrule')} (chainrule) and {_imported(zoo, 'torch')} "
                     f"(PyTorch).\n\n{HEADER}\n"
                     + "\n".join(_row(run["name"], run) for run in zoo))
    if "long" in runs:
        parts.append(_long(runs["long"]))
    if "microgpt" in runs:
        run = runs["microgpt"]
        parts.append(f"### The microgpt-sized model\n\n{_machines([run])}. nn.GPT with 1 layer, "
                     f"4 heads, 16 channels, block 16, RMSNorm, ReLU MLP, no biases; one name "
                     f"a step, Adam betas 0.85/0.99, lr 0.01 decayed linearly to 0.\n\n"
                     f"{HEADER}\n{_row('microgpt', run)}")
    return "\n\n".join(parts) + "\n\n![test-loss curves of both frameworks](makemore_curves.png)"


def _long(run: dict) -> str:
    """The long Transformer run: when it reached makemore's figure, and its curve (of one
    framework or both) beside chainrule's mean training-batch loss since the last row."""
    curves = {f: run["results"][f]["curve"] for f in FRAMEWORKS if f in run["results"]}
    both = len(curves) == len(FRAMEWORKS)
    batches = [None, *run["results"]["chainrule"]["window_loss"]]
    rows = []
    for points, batch in zip(zip(*curves.values(), strict=True), batches, strict=True):
        losses = [loss for _, loss in points]
        extra = [f"{losses[0] - losses[1]:+.4f}"] if both else []
        cells = [f"{points[0][0]:,}", *(f"{v:.4f}" for v in losses), *extra,
                 "" if batch is None else f"{batch:.4f}"]
        rows.append("| " + " | ".join(cells) + " |")
    reached = "; ".join(f"{NAMES[f]} {first_below(c, MAKEMORE_TARGET)} "
                        f"(best {min(v for _, v in c):.4f})" for f, c in curves.items())
    times = "; ".join(f"{NAMES[f]} {summary(run['results'][f])['ms']:.2f} ms/step, peak RSS "
                      f"{summary(run['results'][f])['rss']:.0f} MB" for f in curves)
    head = ["step", *(f"test loss, {NAMES[f]}" for f in curves),
            *(["difference"] if both else []), "training batches, chainrule"]
    table = "| " + " | ".join(head) + " |\n|" + " --- |" * len(head)
    return (f"### The default Transformer towards makemore's {MAKEMORE_TARGET}\n\n"
            f"{_machines([run])}. The same Transformer, data and optimizer as above (lr 5e-4 "
            f"constant, as makemore trains), {run['steps']:,} steps ({times}). Test loss <= "
            f"{MAKEMORE_TARGET}: {reached}. The last column is the mean loss of the training "
            f"batches since the row before.\n\n{table}\n" + "\n".join(rows))


def plot(stored: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = stored["runs"]
    panels = [("the zoo, makemore's sizes", [k for k in ZOO if k in runs])]
    panels += [(title, [k]) for k, title in (("long", f"Transformer, towards "
                                                      f"{MAKEMORE_TARGET}"),
                                             ("microgpt", "microgpt-sized")) if k in runs]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels, strict=True):
        for i, key in enumerate(keys):
            # PyTorch as markers only: its curve lies on chainrule's line
            for framework, style in zip(FRAMEWORKS, ("-", "x"), strict=True):
                if framework not in runs[key]["results"]:
                    continue
                steps, losses = zip(*runs[key]["results"][framework]["curve"][1:], strict=True)
                ax.plot(steps, losses, style, color=f"C{i}",
                        label=f"{runs[key]['kind'] if key != 'microgpt' else key}, "
                              f"{NAMES[framework]}")
        if keys == ["long"]:
            ax.axhline(MAKEMORE_TARGET, color="grey", lw=0.8, ls=":", label="makemore's 1.92")
        ax.set(title=f"{title} (chainrule lines, PyTorch crosses)", xlabel="training step",
               ylabel="test loss (nats per character)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def _cli() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DATA),
                        help="one item a line (default names.txt in $CHAINRULE_DATA or in "
                             "../shared/data next to the repository)")
    parser.add_argument("--models", default=",".join(ZOO),
                        help="comma-separated zoo models, or none (default: all seven)")
    parser.add_argument("--steps", type=int, default=5000, help="steps per zoo model")
    parser.add_argument("--eval-every", type=int, default=500, help="steps between test losses")
    parser.add_argument("--long-steps", type=int, default=0,
                        help="also train the default Transformer this long (0: not)")
    parser.add_argument("--long-eval-every", type=int, default=2000)
    parser.add_argument("--long-frameworks", default="chainrule",
                        help="who trains the long run: chainrule (the default: its curve at "
                             "5,000 steps is PyTorch's) or chainrule,torch")
    parser.add_argument("--microgpt-steps", type=int, default=1000,
                        help="steps of the microgpt-sized model (0: skip it)")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads of each framework (OpenBLAS / torch.set_num_threads)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke check: 30 steps a model, nothing written")
    parser.add_argument("--no-write", action="store_true", help="write neither docs/ nor results")
    parser.add_argument("--report-only", action="store_true",
                        help="re-render the docs from benchmarks/results/makemore.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.models = [] if args.models == "none" else args.models.split(",")
    args.long_frameworks = args.long_frameworks.split(",")
    if not args.long_frameworks or set(args.long_frameworks) - set(FRAMEWORKS):
        parser.error(f"--long-frameworks: choose from {', '.join(FRAMEWORKS)}")
    unknown = sorted(set(args.models) - set(ZOO))
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(ZOO)}")
    if args.quick:
        args.steps, args.eval_every, args.no_write, args.long_steps = 30, 15, True, 0
        args.microgpt_steps = min(args.microgpt_steps, 30)
    if min(args.steps, args.eval_every, args.long_eval_every, args.threads) < 1:
        parser.error("--steps, --eval-every, --long-eval-every and --threads must be positive")
    if not (args.child or args.report_only or Path(args.data).is_file()):
        parser.error(f"no file at {args.data} (give --data)")
    return args


def merge(stored: dict, new: dict) -> dict:
    """The stored runs with the new ones in their place; a new run of the same settings as
    a stored one but other frameworks (the long run, trained by one framework and later
    the other) adds its frameworks' results to the stored ones."""
    out = dict(stored)
    for name, run in new.items():
        old = stored.get(name)
        settings = ("kind", "model", "gpt", "steps", "eval_every", "optimizer", "batch_size",
                    "seed", "decay")
        if old and all(old.get(k) == run.get(k) for k in settings) and \
                not set(old["results"]) & set(run["results"]):
            run = {**run, "results": {**old["results"], **run["results"]},
                   "machine": old["machine"] if old["machine"] == run["machine"]
                   else f"{old['machine']} and {run['machine']}"}
            run.pop("turn", None)  # trained one after the other, not in turns
        out[name] = run
    return out


def main() -> int:
    args = _cli()
    if args.child:
        tune_allocator_unless_peer()
        spec = json.loads(args.child)
        run = child_chainrule if spec["framework"] == "chainrule" else child_torch
        print(json.dumps(run(spec)))
        return 0
    new = None if args.report_only else measure(args)
    # read only now, after the training, so that separate runs made at the same time each
    # keep the others' entries: a run replaces its own and leaves the rest
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    if new is not None:
        stored = new if args.no_write else {**stored, **new,
                                            "runs": merge(stored["runs"], new["runs"])}
    body = report(stored)
    print(body)
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(stored, indent=1))
        write_section("makemore", body, DOC)
        plot(stored, FIGURE)
        print(f"wrote {DOC.relative_to(ROOT)}, {FIGURE.relative_to(ROOT)} and "
              f"{RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
