"""Which BLAS runs the stacked products of convolution and attention: numpy or MKL.

    python benchmarks/blas_models.py [--reps 5] [--steps 30] [--threads 2] [--no-write]

Convolutions and attention multiply stacks of matrices (a kernel by every sample's
windows, every head's Q K^T), which chainrule.backend sends to MKL as one
``cblas_?gemm_batch_strided`` call when the optional mkl wheel is installed and the
calibration finds it faster. This measures what that choice buys, on whole training steps
(forward, backward and an SGD step, float32), each BLAS path in its own fresh process, the
repetitions interleaved, the median step of each:

- lenet5 and wide: the convolutional networks of benchmarks/cnn.py on random MNIST-shaped
  images, batch 64;
- gpt: makemore's default Transformer (4 layers, 4 heads, 64 channels, block 16, 27
  tokens) on random token ids, batch 32;

for ``CHAINRULE_BLAS=numpy`` (the default install), ``mkl`` (forced) and ``auto`` (what a
user with the extra gets). Without the mkl wheel the MKL columns say so and ``auto`` is
numpy. The table goes to docs/benchmarks.md (section "blas-models").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import cpu_kind, machine, write_section  # noqa: E402

MODELS = ("lenet5", "wide", "gpt")
PATHS = ("numpy", "mkl", "auto")


def _model_and_batch(name: str):
    import chainrule as cr
    from chainrule import nn

    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    if name == "gpt":
        model = nn.GPT(vocab_size=27, block_size=16)
        x = rng.integers(0, 27, (32, 16))
        y = rng.integers(0, 27, (32, 16))
        return model, x, y.reshape(-1), lambda out: out.reshape(-1, 27)
    import cnn

    model = nn.Sequential(*cnn.layers(nn, name))
    x = cr.from_numpy(rng.random((64, 1, 28, 28), dtype=np.float32))
    return model, x, rng.integers(0, 10, 64), lambda out: out


def child(name: str, steps: int, threads: int) -> dict:
    """The median training step of ``name`` in ms, on the BLAS chosen by CHAINRULE_BLAS."""
    import chainrule as cr
    from chainrule import backend, nn, optim

    cr.set_num_threads(threads)
    model, x, y, flat = _model_and_batch(name)
    opt = optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for i in range(steps + 5):
        start = time.perf_counter()
        loss = loss_fn(flat(model(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 5:  # warm-up steps first (allocator, calibration on the first product)
            times.append((time.perf_counter() - start) * 1e3)
    info = backend.blas_info()
    stacks = info["blas"] == "mkl" and backend._state.mkl.batched
    return {"ms": statistics.median(times), "blas": info["blas"], "stacks_on_mkl": stacks,
            "reason": info["reason"]}


def measure(name: str, path: str, steps: int, threads: int) -> dict:
    env = {**os.environ, "CHAINRULE_BLAS": path}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps([name, steps,
                                                                             threads])],
                          env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"skipped": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(reps: int, steps: int, threads: int) -> dict[str, dict[str, list[dict]]]:
    raw: dict[str, dict[str, list[dict]]] = {m: {p: [] for p in PATHS} for m in MODELS}
    for rep in range(reps):
        for name in MODELS:
            for path in PATHS:
                r = measure(name, path, steps, threads)
                raw[name][path].append(r)
                print(f"  [{rep + 1}/{reps}] {name} {path}: {r.get('ms', r.get('skipped'))}",
                      file=sys.stderr, flush=True)
    return raw


def _cell(runs: list[dict]) -> str:
    good = [r["ms"] for r in runs if "ms" in r]
    return f"{statistics.median(good):.2f}" if good else "n/a"


def _ratio(runs: list[dict], base: list[dict]) -> str:
    a, b = ([r["ms"] for r in x if "ms" in r] for x in (runs, base))
    return f"{statistics.median(a) / statistics.median(b):.2f}" if a and b else "n/a"


def report(raw: dict, reps: int, steps: int, threads: int) -> str:
    rows = ["| model | numpy (ms) | MKL forced (ms) | automatic (ms) | MKL / numpy | "
            "automatic / numpy |", "| --- " * 6 + "|"]
    for name in MODELS:
        r = raw[name]
        rows.append(f"| {name} | {_cell(r['numpy'])} | {_cell(r['mkl'])} | "
                    f"{_cell(r['auto'])} | {_ratio(r['mkl'], r['numpy'])} | "
                    f"{_ratio(r['auto'], r['numpy'])} |")
    auto = next((x for x in raw["gpt"]["auto"] if "reason" in x), {})
    skipped = next((x["skipped"] for x in raw["gpt"]["mkl"] if "skipped" in x), None)
    return (f"Measured {machine()}; median training step (forward, backward, SGD) of "
            f"{steps} after 5 warm-up steps, each path in a fresh process, {reps} "
            f"repetitions interleaved (the median of their medians), {threads} BLAS "
            f"threads, float32.\n\n" + "\n".join(rows) +
            f"\n\nThe automatic choice: {auto.get('blas', 'n/a')} ({auto.get('reason', '')})."
            + (f" MKL forced was skipped: {skipped}." if skipped else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return 0
    text = report(run(args.reps, args.steps, args.threads), args.reps, args.steps,
                  args.threads)
    print(text)
    if not args.no_write:
        slug, cpu = cpu_kind()  # one table per CPU kind, as benchmarks/run.py keeps
        write_section(f"blas-models-{slug}",
                      f"## Stacked products on numpy or MKL, {cpu}: convolution and attention "
                      "(benchmarks/blas_models.py)\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
