"""How long the README's `chainrule` commands take, on a machine named by its CPU: the
figures README.md and docs/training.md point to, which anyone can reproduce. Each command
runs in a fresh process (what a user types), wall time from launch to exit, the median of
``--reps`` runs.

Measured:

1. ``chainrule --version``: the start-up cost every command pays (Python, numpy, chainrule);
2. ``chainrule train`` with no options (the default run: 60 epochs of the 64-256-10 MLP on the
   bundled digits), and the part of it spent in the 60 epochs (the sum of the per-epoch
   times in its metrics.json);
3. ``chainrule evaluate`` of that model, and ``chainrule explain`` (the fixed example).

Usage: python benchmarks/cli_times.py [--reps 3] [--threads N] [--no-write]
Prints a table and writes the "cli-times" section of docs/benchmarks.md. Run it on a quiet
machine: other work on the cores makes every figure larger.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import machine, write_section


def timed(args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``python -m chainrule ARGS`` in a fresh process (which must succeed)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "chainrule", *args], env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"chainrule {' '.join(args)} failed: {result.stderr.strip()}")
    return seconds


def measure(reps: int, env: dict[str, str]) -> list[tuple[str, float]]:
    """(what, median seconds) for each command of the module docstring."""
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "digits"
        for _ in range(reps):
            times.setdefault("chainrule --version (start-up)", []).append(
                timed(["--version"], env))
            times.setdefault("chainrule train (the default run)", []).append(
                timed(["train", "--out", str(out), "--force"], env))  # one run dir, replaced
            epochs = json.loads((out / "metrics.json").read_text())["epochs"]
            times.setdefault("  of which its 60 epochs", []).append(
                sum(e["time"] for e in epochs))
            times.setdefault("chainrule evaluate (that model)", []).append(
                timed(["evaluate", str(out / "model.safetensors"), "--out", tmp], env))
            times.setdefault("chainrule explain (the fixed example)", []).append(
                timed(["explain"], env))
    return [(what, statistics.median(values)) for what, values in times.items()]


def table(rows: list[tuple[str, float]], reps: int, threads: str) -> str:
    lines = [f"Machine: {machine()}; BLAS threads: {threads}; the median of {reps} runs, each "
             f"command in a fresh process (wall time, launch to exit).", "",
             "| command | seconds |", "| --- | ---: |"]
    lines += [f"| {what} | {seconds:.2f} |" for what, seconds in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, help="--threads for every command (via "
                                                    "OMP_NUM_THREADS/OPENBLAS_NUM_THREADS)")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    env = dict(os.environ)
    threads = "the BLAS default"
    if args.threads:
        threads = str(args.threads)
        env.update(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads)
    text = table(measure(args.reps, env), args.reps, threads)
    print(text)
    if not args.no_write:
        write_section("cli-times", "## The command line (benchmarks/cli_times.py)\n\n" + text)


if __name__ == "__main__":
    main()
