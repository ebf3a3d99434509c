"""makemore's default Transformer trained by chainrule under a few training recipes, on
names.txt, towards makemore's published test loss (~1.92 nats per character).

    python benchmarks/makemore_recipes.py dropout-cosine       # one recipe (RECIPES below)
    python benchmarks/makemore_recipes.py --report-only        # re-render the stored runs

benchmarks/makemore.py holds the model fixed and asks whether chainrule trains it as
PyTorch does (it does: the same test loss to the fourth decimal); this script holds the
framework fixed and asks what the recipe is worth. Each recipe trains the same model
(nn.GPT at makemore's sizes: 4 layers, 4 heads, 64 channels, block 16) on the same split,
from the same seed and the same batches as benchmarks/makemore.py (its data, its
``score``), chainrule only, one thread, and records the test loss every 1,000 steps. The
runs go to benchmarks/results/makemore_recipes.json and their table to docs/sequences.md
(section "makemore-recipes"). One run takes 10-30 minutes on this 2-core machine.

The recipes:
- ``makemore``: makemore's zoo defaults (PyTorch's default initialization, AdamW lr 5e-4
  constant, betas 0.9/0.99, weight decay 0.01, no clipping), the long run of makemore.py;
- ``makemore-gpt``: the settings of the earlier, Transformer-only makemore whose README
  gives the ~1.92: the same optimizer, weights drawn from N(0, 0.02) with zero biases
  (GPT-2's initialization) and the gradient norm clipped to 1;
- ``dropout-cosine``: dropout 0.1 (attention weights, residual branches, embeddings), lr
  1e-3 decayed to 0 along a half cosine over 20,000 steps;
- ``dropout-cosine-long``: dropout 0.2, lr 1e-3 on a half cosine over 40,000 steps, the
  gradient norm clipped to 1.

The split: by default chainrule's own (``train-text --lines``: a numpy permutation under
seed 3407, the first min(1000, 10%) names held out). ``--split makemore`` holds out the
names makemore itself holds out, the last 1,000 of ``torch.randperm(32033)`` under
``torch.manual_seed(3407)`` (the first random draw of makemore.py, so the split its ~1.92
was measured on; needs PyTorch, the benchmarks' optional peer, for that permutation only).
The test loss differs between random splits of 1,000 names by a few hundredths, the size
of the gap this script is after, so the table says which split each run used.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import makemore as mm  # noqa: E402
from _report import ROOT, machine, write_section  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "makemore_recipes.json"
EVAL_EVERY = 1000
RECIPES: dict[str, dict] = {
    "makemore": {"steps": 60000, "lr": 5e-4, "decay": "none", "dropout": 0.0,
                 "init": "pytorch", "clip": None},
    "makemore-gpt": {"steps": 25000, "lr": 5e-4, "decay": "none", "dropout": 0.0,
                     "init": "gpt2", "clip": 1.0},
    "dropout-cosine": {"steps": 20000, "lr": 1e-3, "decay": "cosine", "dropout": 0.1,
                       "init": "pytorch", "clip": None},
    "dropout-cosine-long": {"steps": 40000, "lr": 1e-3, "decay": "cosine", "dropout": 0.2,
                            "init": "pytorch", "clip": 1.0},
}


def learning_rate(recipe: dict, step: int) -> float:
    """Constant, or a half cosine from lr at step 1 down to (almost) 0 at the last step."""
    if recipe["decay"] == "cosine":
        return recipe["lr"] * 0.5 * (1 + math.cos(math.pi * (step - 1) / recipe["steps"]))
    return recipe["lr"]


def build(recipe: dict, vocab_size: int, block_size: int) -> object:
    """nn.GPT at makemore's sizes from makemore.py's seed, re-initialized as GPT-2 is
    (weights N(0, 0.02), biases 0; norms stay ones and zeros) when the recipe says."""
    import chainrule
    from chainrule.nn import GPT, Embedding, Linear, init

    chainrule.manual_seed(mm.SEED)
    model = GPT(vocab_size, block_size, 4, 4, 64, dropout=recipe["dropout"])
    if recipe["init"] == "gpt2":
        for module in model.modules():
            if isinstance(module, (Linear, Embedding)):
                init.normal_(module.weight, 0.0, 0.02)
                if getattr(module, "bias", None) is not None:
                    init.zeros_(module.bias)
    return model


SPLITS = ("chainrule", "makemore")


def makemore_split(path: Path) -> dict[str, np.ndarray]:
    """names.txt encoded as chainrule encodes items, split as makemore.py splits it: the
    permutation of ``torch.randperm`` right after ``torch.manual_seed(3407)``, its last
    min(1000, 10%) names held out."""
    import torch

    from chainrule.train.lines import encode_items, read_items
    from chainrule.train.text import Vocabulary

    items = read_items(path.read_text(encoding="utf-8"))
    torch.manual_seed(mm.SEED)
    order = torch.randperm(len(items)).tolist()
    n_test = min(1000, int(len(items) * 0.1))
    vocab, block_size = Vocabulary("".join(items)), max(map(len, items)) + 1
    train_x, train_y = encode_items([items[i] for i in order[:-n_test]], vocab, block_size)
    test_x, test_y = encode_items([items[i] for i in order[-n_test:]], vocab, block_size)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y,
            "vocab_size": len(vocab) + 1, "block_size": block_size}


def load_split(split: str) -> dict:
    """The arrays of ``split`` (SPLITS) with the vocabulary size and block size."""
    if split == "makemore":
        return makemore_split(mm.DATA)
    with tempfile.TemporaryDirectory() as tmp:
        shape = mm.write_data(mm.DATA, Path(tmp) / "names.npz")
        return {**dict(np.load(Path(tmp) / "names.npz")), **shape}


def stored_key(name: str, split: str) -> str:
    """Where a run is kept in the results file: the recipe's name, tagged with the split
    unless it is the default one (so the earlier runs keep their keys)."""
    return name if split == "chainrule" else f"{name}@{split}"


def run(name: str, stop_after: int | None = None, split: str = "chainrule") -> dict:
    """Train recipe ``name`` (its first ``stop_after`` steps only, if given: a check); its
    curve [(step, test loss)] and mean ms per step."""
    from chainrule import no_grad, set_num_threads
    from chainrule.optim import AdamW
    from chainrule.train.language import next_token_loss
    from chainrule.train.step import train_step
    from chainrule.train.zoo import logits_of

    recipe = RECIPES[name]
    set_num_threads(1)
    data = load_split(split)
    model = build(recipe, data["vocab_size"], data["block_size"])
    optimizer = AdamW(list(model.parameters()), lr=recipe["lr"], betas=(0.9, 0.99), eps=1e-8,
                      weight_decay=0.01)

    def logits(x: np.ndarray) -> np.ndarray:
        model.eval()  # no dropout while scoring
        with no_grad():
            z = logits_of(model, x).data
        model.train()
        return z

    rng = np.random.default_rng(mm.SEED)
    curve, started = [[0, mm.score(logits, data["test_x"], data["test_y"])]], time.perf_counter()
    for step in range(1, (stop_after or recipe["steps"]) + 1):
        rows = rng.integers(0, len(data["train_x"]), 32)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(recipe, step)
        loss = next_token_loss(model, data["train_x"][rows], data["train_y"][rows])
        train_step(model, loss, optimizer, clip_grad_norm=recipe["clip"])
        if step % EVAL_EVERY == 0 or step == recipe["steps"]:
            curve.append([step, mm.score(logits, data["test_x"], data["test_y"])])
            print(f"{name}: step {step}, train batch {float(loss.data):.4f}, test "
                  f"{curve[-1][1]:.4f}", file=sys.stderr, flush=True)
    ms = (time.perf_counter() - started) * 1e3 / step
    return {"recipe": recipe, "split": split, "curve": curve, "ms_per_step": ms,
            "machine": machine()}


def report(stored: dict) -> str:
    rows = ["| recipe | split | steps | lr | decay | dropout | init | clip | best test loss "
            "(step) | final | <= 1.92 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    runs = [(name, split) for split in SPLITS for name in RECIPES
            if stored_key(name, split) in stored]
    for name, split in runs:
        entry = stored[stored_key(name, split)]
        r, curve = entry["recipe"], entry["curve"]
        best_step, best = min(curve, key=lambda point: point[1])
        rows.append(f"| {name} | {split} | {r['steps']:,} | {r['lr']:g} | {r['decay']} "
                    f"| {r['dropout']:g} "
                    f"| {r['init']} | {r['clip'] or 'none'} | {best:.4f} ({best_step:,}) | "
                    f"{curve[-1][1]:.4f} | {'yes' if best <= mm.MAKEMORE_TARGET else 'no'} |")
    machines = sorted({run["machine"] for run in stored.values()})
    return ("### The default Transformer under other recipes (benchmarks/makemore_recipes.py)"
            f"\n\nMeasured {'; '.join(machines)}; chainrule, 1 thread; the model, seed and "
            "batches of the tables above, AdamW betas 0.9/0.99, weight decay 0.01, batch 32; "
            "test loss every 1,000 steps. Split: chainrule's (the tables above) or "
            "makemore's own (`--split makemore`, the 1,000 names makemore.py holds out).\n\n"
            + "\n".join(rows))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("recipe", nargs="?", choices=sorted(RECIPES))
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--stop-after", type=int, help="train this many steps, print, store nothing")
    p.add_argument("--split", choices=SPLITS, default="chainrule",
                   help="which names are held out (module docstring)")
    args = p.parse_args()
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.report_only:
        if args.recipe is None:
            p.error("name a recipe, or give --report-only")
        if args.stop_after:
            print(run(args.recipe, args.stop_after, args.split)["curve"])
            return 0
        stored[stored_key(args.recipe, args.split)] = run(args.recipe, split=args.split)
        tmp = RESULTS.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=1))
        tmp.replace(RESULTS)
    write_section("makemore-recipes", report(stored), mm.DOC)
    print(report(stored))
    return 0


if __name__ == "__main__":
    sys.exit(main())
