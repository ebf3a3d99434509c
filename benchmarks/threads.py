"""How the BLAS thread count changes chainrule's speed: 1 thread vs the machine's default.

Two measurements, each in a fresh process whose thread count is set by
``chainrule.set_num_threads`` (so the numbers say what ``--threads`` does):

1. float32 matrix products of the shapes an MLP's training step multiplies, microseconds
   (median of 7 runs of 200 products);
2. ``chainrule train`` wall time on the bundled digits (the default run) and for two epochs
   of a 784-256-10 MLP on Fashion-MNIST at batch 32 and 128, once on a quiet machine and
   once with one core kept busy by another process (what a shared machine looks like).

Usage: python benchmarks/threads.py [--data-dir ../shared/data] [--reps 3] [--no-write]
Writes the "threads" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from _report import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(32, 784, 256), (128, 784, 256), (1024, 784, 256), (256, 32, 784), (32, 256, 10)]

MATMUL = """
import sys, time, numpy as np, chainrule as cr
cr.set_num_threads(int(sys.argv[1]))
for m, k, n in {shapes}:
    a = np.random.rand(m, k).astype(np.float32); b = np.random.rand(k, n).astype(np.float32)
    out = np.empty((m, n), np.float32)
    for _ in range(20):
        np.matmul(a, b, out=out)
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(200):
            np.matmul(a, b, out=out)
        runs.append((time.perf_counter() - t) / 200 * 1e6)
    print(sorted(runs)[3])
"""


def matmul_times(threads: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", MATMUL.format(shapes=SHAPES), str(threads)],
                         capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.split()]


@contextmanager
def busy_core(on: bool):
    """Keep one core busy with a pure-Python loop while the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        if spinner:
            time.sleep(0.5)
        yield
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()


def train_seconds(args: list[str], threads: int, out_dir: Path) -> float:
    cmd = [sys.executable, "-m", "chainrule", "train", "--quiet", "--threads", str(threads),
           "--out", str(out_dir), *args]
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    default = os.cpu_count() or 1
    counts = [1, default] if default > 1 else [1]

    lines = [f"Measured {machine()}; each figure the median of {args.reps} fresh processes.",
             "", "float32 matrix products (microseconds, lower is better):", "",
             "| m x k x n | " + " | ".join(f"{t} thread(s)" for t in counts) + " |",
             "| --- |" + " --- |" * len(counts)]
    per_threads = {t: [matmul_times(t) for _ in range(args.reps)] for t in counts}
    for i, shape in enumerate(SHAPES):
        cells = [f"{statistics.median(r[i] for r in per_threads[t]):.0f}" for t in counts]
        lines.append(f"| {' x '.join(map(str, shape))} | " + " | ".join(cells) + " |")
    print("\n".join(lines))

    runs = [("digits (default run)", [])]
    if (Path(args.data_dir) / "fashion-mnist.npz").exists():
        for batch in (32, 128):
            runs.append((f"Fashion-MNIST 784-256-10, 2 epochs, batch {batch}",
                         ["--data", "fashion-mnist", "--data-dir", args.data_dir,
                          "--epochs", "2", "--batch-size", str(batch)]))
    lines += ["", "`chainrule train` wall time (seconds, lower is better):", "",
              "| run | machine | " + " | ".join(f"{t} thread(s)" for t in counts) + " |",
              "| --- | --- |" + " --- |" * len(counts)]
    out_dir = ROOT / "runs" / "bench-threads"
    for label, extra in runs:
        for loaded in (False, True):
            with busy_core(loaded):
                times = {t: [] for t in counts}
                for _ in range(args.reps):
                    for t in counts:  # interleaved, so drift hits both alike
                        times[t].append(train_seconds(extra, t, out_dir))
            cells = [f"{statistics.median(times[t]):.1f}" for t in counts]
            row = (f"| {label} | {'one core busy' if loaded else 'quiet'} | "
                   + " | ".join(cells) + " |")
            lines.append(row)
            print(row, flush=True)
    body = "## BLAS threads (benchmarks/threads.py)\n\n" + "\n".join(lines)
    if not args.no_write:
        write_section("threads", body)


if __name__ == "__main__":
    main()
