"""How MKL's threads wait between products, and what that costs a training step.

chainrule.backend sets two things about MKL's OpenMP threads that only a measurement can
settle (docs/performance.md, "Where the matrix products run"):

1. the block time, how long an idle thread spins for the next product before it sleeps:
   the MLP 784-256-256-10's training epoch (Fashion-MNIST, SGD, float32, 2 threads) with
   the products on MKL, at block times of 0, 1 (chainrule's default), 10 and 200 ms
   (OpenMP's default), through KMP_BLOCKTIME, each in a fresh process;
2. the calibration's order: one 128x784x256 float32 product on MKL, alone and right after
   a few of numpy's (OpenBLAS's threads go on spinning after their products), microseconds
   per product, as chainrule.backend's calibration would see them if it alternated.

Usage: python benchmarks/mkl_threads.py [--reps 3] [--no-write]
Needs the optional mkl wheel (pip install "chainrule[mkl]"); writes the section
"mkl-threads-<CPU kind>" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import cpu_kind, machine, run_child, write_section  # noqa: E402

BLOCK_TIMES_MS = (0, 1, 10, 200)
BATCHES = (32, 128, 1024)
EPOCH_IMAGES = {32: 12_000, 128: 12_000, 1024: 30_000}  # timed, then scaled to 60,000


def child_epoch(batch: int) -> dict:
    """Seconds per 60,000-image epoch of chainrule's MLP on MKL (the best of 3 runs over a
    slice of the data, after a warm-up)."""
    import time

    import mlp_speed

    x, y = mlp_speed.load()
    mlp_speed.prepare("chainrule (MKL)")
    run = mlp_speed.RUNNERS["chainrule (MKL)"]
    run(x[:20 * batch], y[:20 * batch], batch)
    n = EPOCH_IMAGES[batch]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        run(x[:n], y[:n], batch)
        best = min(best, time.perf_counter() - started)
    return {"seconds": best * 60_000 / n}


def child_after_numpy() -> dict:
    """Microseconds of an MKL product alone and right after numpy's."""
    import time

    import numpy as np

    from chainrule import backend

    backend.set_blas("mkl")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 784), dtype=np.float32)
    b = rng.standard_normal((784, 256), dtype=np.float32)

    def per_product(before_each_block) -> float:
        runs = []
        for _ in range(20):
            before_each_block()
            started = time.perf_counter()
            for _ in range(10):
                backend.matmul(a, b)
            runs.append((time.perf_counter() - started) / 10 * 1e6)
        return statistics.median(runs)

    for _ in range(20):
        backend.matmul(a, b)  # MKL's threads started, its code paged in
    alone = per_product(lambda: None)
    after = per_product(lambda: [np.matmul(a, b) for _ in range(5)])
    return {"alone_us": alone, "after_numpy_us": after}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="fresh processes per figure")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        result = child_epoch(spec["batch"]) if "batch" in spec else child_after_numpy()
        print(json.dumps(result))
        return 0
    from chainrule import backend

    if backend._mkl_library() is None:
        raise SystemExit('mkl_threads: needs the mkl wheel: pip install "chainrule[mkl]"')
    import os

    epochs: dict[tuple[int, int], list[float]] = {}
    for rep in range(args.reps):  # interleaved, so a slow minute hits every setting alike
        for batch in BATCHES:
            for ms in BLOCK_TIMES_MS:
                os.environ["KMP_BLOCKTIME"] = str(ms)
                r = run_child(__file__, {"batch": batch}, "chainrule", 2,
                              f"epoch at batch {batch}, block time {ms} ms")
                epochs.setdefault((batch, ms), []).append(r["seconds"])
                print(f"  [{rep + 1}/{args.reps}] batch {batch}, block time {ms} ms: "
                      f"{r['seconds']:.3f} s", file=sys.stderr, flush=True)
    os.environ.pop("KMP_BLOCKTIME", None)
    spins = [run_child(__file__, {}, "chainrule", 2, "products after numpy's")
             for _ in range(args.reps)]
    rows = ["| batch | " + " | ".join(f"block time {ms} ms" for ms in BLOCK_TIMES_MS) +
            " | 0 ms / 1 ms |", "| --- " * (len(BLOCK_TIMES_MS) + 2) + "|"]
    for batch in BATCHES:
        med = {ms: statistics.median(epochs[batch, ms]) for ms in BLOCK_TIMES_MS}
        rows.append(f"| {batch} | " + " | ".join(f"{med[ms]:.3f}" for ms in BLOCK_TIMES_MS)
                    + f" | {med[0] / med[1]:.2f} |")
    alone = statistics.median(s["alone_us"] for s in spins)
    after = statistics.median(s["after_numpy_us"] for s in spins)
    slug, cpu = cpu_kind()
    text = (f"## MKL's threads between products, {cpu} (benchmarks/mkl_threads.py)\n\n"
            f"Measured {machine()}; mkl {backend._mkl_version()}, 2 threads, medians of "
            f"{args.reps} fresh processes.\n\n"
            "MLP 784-256-256-10 epoch with the products on MKL, seconds, by the block time "
            "of MKL's OpenMP threads (KMP_BLOCKTIME):\n\n" + "\n".join(rows) +
            f"\n\nOne 128x784x256 float32 product on MKL: {alone:.0f} us alone, "
            f"{after:.0f} us right after five of numpy's ({after / alone:.2f}x: OpenBLAS's "
            "threads still spinning).")
    print(text)
    if not args.no_write:
        write_section(f"mkl-threads-{slug}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
