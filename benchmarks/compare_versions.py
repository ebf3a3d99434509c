"""Training steps of two checkouts of chainrule side by side: what a change bought.

    git worktree add /tmp/before <commit>
    python benchmarks/compare_versions.py /tmp/before/src src [--reps 5] [--cases mlp32,gpt]

Each repetition runs every case in a fresh process of each source tree in turn (which one
goes first alternates), so the load of a shared machine falls on both alike; a process
times STEPS training steps after WARMUP and reports the median step. The table gives
the median over the repetitions, per case, and the ratio second / first. Only APIs that
both trees have are used (``nn``, ``optim``, ``train.step.train_step``, the zoo).

Cases (float32, 2 threads, random data of the right shapes, since only time is measured):
- mlp32: the MLP of benchmarks/mlp_speed.py (784-256-256-10, ReLU, SGD lr 0.1), batch 32;
- digits: scikit-learn's default MLP on the digits' shapes (64-100-10, ReLU, Adam 1e-3),
  batch 200, as benchmarks/sklearn_compare.py trains it;
- gpt: makemore's default Transformer (4 layers, 4 heads, 64 channels, block 16, 27
  tokens), batch 32, makemore's AdamW (betas 0.9/0.99, lr 5e-4, weight decay 0.01);
- lstm: the zoo's LSTM at makemore's sizes, same batches and optimizer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

STEPS, WARMUP = 200, 20
CASES = ("mlp32", "digits", "gpt", "lstm")


def make_case(case: str):
    """(model, optimizer, a function that builds one step's loss) for ``case``."""
    import numpy as np

    import chainrule as cr
    from chainrule import nn, optim

    rng = np.random.default_rng(0)
    cr.manual_seed(0)
    if case in ("mlp32", "digits"):
        sizes, batch = ([784, 256, 256, 10], 32) if case == "mlp32" else ([64, 100, 10], 200)
        model = nn.mlp(sizes, "relu")
        opt = (optim.SGD(model.parameters(), lr=0.1) if case == "mlp32"
               else optim.Adam(model.parameters(), lr=1e-3))
        x = rng.standard_normal((batch * 10, sizes[0])).astype(np.float32)
        y = rng.integers(0, sizes[-1], batch * 10)
        loss_fn = nn.CrossEntropyLoss()

        def loss(k: int):
            i = (k % 10) * batch
            return loss_fn(model(cr.from_numpy(x[i:i + batch])), y[i:i + batch])
        return model, opt, loss
    from chainrule.train.language import next_token_loss
    from chainrule.train.zoo import make_model

    model = make_model("transformer" if case == "gpt" else "lstm", 27, 16)
    opt = optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.99), eps=1e-8,
                      weight_decay=0.01)
    tokens = rng.integers(0, 27, (320, 17))

    def loss(k: int):
        rows = tokens[(k % 10) * 32:(k % 10) * 32 + 32]
        return next_token_loss(model, rows[:, :-1], rows[:, 1:])
    return model, opt, loss


def child(case: str) -> dict:
    import chainrule as cr
    from chainrule.train.step import train_step

    cr.tune_allocator()
    model, opt, loss = make_case(case)
    times = []
    for k in range(WARMUP + STEPS):
        started = time.perf_counter()
        train_step(model, loss(k), opt)
        times.append(time.perf_counter() - started)
    return {"ms": statistics.median(times[WARMUP:]) * 1e3, "where": cr.__file__}


def run(src: str, case: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src), "OPENBLAS_NUM_THREADS": "2",
           "OMP_NUM_THREADS": "2", "CHAINRULE_BLAS": os.environ.get("CHAINRULE_BLAS", "numpy")}
    proc = subprocess.run([sys.executable, __file__, "--child", case], env=env,
                          stdout=subprocess.PIPE, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not result["where"].startswith(os.path.abspath(src)):
        raise SystemExit(f"compare_versions: {src} did not provide chainrule "
                         f"(imported {result['where']})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", nargs="?", help="the 'before' tree's src directory")
    parser.add_argument("second", nargs="?", help="the 'after' tree's src directory")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    if not (args.first and args.second):
        parser.error("give two src directories (before, after)")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _report import machine

    cases = args.cases.split(",")
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    times = {(case, src): [] for case in cases for src in (args.first, args.second)}
    for rep in range(args.reps):
        for case in cases:
            order = [args.first, args.second][::1 if rep % 2 == 0 else -1]
            for src in order:
                ms = run(src, case)["ms"]
                times[case, src].append(ms)
                print(f"  [{rep + 1}/{args.reps}] {case} {src}: {ms:.3f} ms", flush=True)
    print(f"\nMeasured {machine()}; median training step (ms) of {args.reps} fresh processes "
          f"each, {STEPS} steps after {WARMUP}\n")
    print(f"| case | {args.first} | {args.second} | second / first |\n| --- | --- | --- | --- |")
    for case in cases:
        a = statistics.median(times[case, args.first])
        b = statistics.median(times[case, args.second])
        print(f"| {case} | {a:.3f} | {b:.3f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
