"""The layers of benchmarks/cnn.py one op at a time: chainrule beside PyTorch, milliseconds.

    python benchmarks/conv_ops.py [--reps 3] [--threads 1] [--clock cpu]

For each convolution of the two networks (float32, batch 64) it times the forward pass
(no graph recorded), and the backward pass (the gradients of the input, when a layer
below needs it, of the weight and of the bias, for a given upstream gradient) as
"forward + backward" minus "forward"; the same for the 2x2 max pooling that follows the
convolution. Each library runs in its own fresh process (the two thread pools never
meet), the peers interleaved ``--reps`` times; each figure is the median over processes
of the median over 20 calls. The ratio chainrule / PyTorch is what to read on a shared
machine: absolute times move with the load, the ratio of peers measured alike much less.
The default clock is the process's CPU time with one thread, which leaves out the time
spent waiting for a core when other work loads the machine; ``--clock wall`` for the
wall clock (the one that matters with several threads on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

# name: (input shape, weight shape, padding, whether the input needs a gradient)
LAYERS = {
    "lenet5 conv1": ((64, 1, 28, 28), (6, 1, 5, 5), 2, False),
    "lenet5 conv2": ((64, 6, 14, 14), (16, 6, 5, 5), 0, True),
    "wide conv1": ((64, 1, 28, 28), (32, 1, 3, 3), 1, False),
    "wide conv2": ((64, 32, 14, 14), (64, 32, 3, 3), 1, True),
}
PEERS = ("chainrule", "torch")
CALLS = 20


CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}


def median_ms(fn: Callable[[], object], now: Callable[[], float]) -> float:
    fn()
    times = []
    for _ in range(CALLS):
        started = now()
        fn()
        times.append(now() - started)
    return statistics.median(times) * 1e3


def layer_times(now: Callable, leaf: Callable, conv: Callable, pool: Callable,
                no_grad: Callable, xs: tuple, ws: tuple, pad: int, x_grad: bool) -> list[float]:
    """[conv forward, conv backward, pool forward, pool backward] of one layer, in ms, for
    a library given as ``leaf(array, requires_grad)``, its conv2d, max_pool2d, no_grad."""
    rng = np.random.default_rng(0)
    x = leaf(rng.standard_normal(xs, dtype=np.float32), x_grad)
    w = leaf(rng.standard_normal(ws, dtype=np.float32), True)
    b = leaf(rng.standard_normal(ws[0], dtype=np.float32), True)
    g = leaf(rng.standard_normal(conv(x, w, b, padding=pad).shape, dtype=np.float32), False)
    with no_grad():
        conv_fwd = median_ms(lambda: conv(x, w, b, padding=pad), now)
    conv_both = median_ms(lambda: conv(x, w, b, padding=pad).backward(g), now)
    a = leaf(np.maximum(rng.standard_normal(g.shape, dtype=np.float32), 0), True)
    gp = leaf(rng.standard_normal(pool(a, 2).shape, dtype=np.float32), False)
    with no_grad():
        pool_fwd = median_ms(lambda: pool(a, 2), now)
    pool_both = median_ms(lambda: pool(a, 2).backward(gp), now)
    return [conv_fwd, conv_both - conv_fwd, pool_fwd, pool_both - pool_fwd]


def times(peer: str, threads: int, clock: str) -> dict[str, list[float]]:
    if peer == "chainrule":
        import chainrule as cr
        import chainrule.functional as F

        cr.set_num_threads(threads)
        lib = (lambda a, grad: cr.tensor(a, requires_grad=grad), F.conv2d, F.max_pool2d,
               cr.no_grad)
    else:
        import torch

        torch.set_num_threads(threads)
        lib = (lambda a, grad: torch.from_numpy(a).requires_grad_(grad),
               torch.nn.functional.conv2d, torch.nn.functional.max_pool2d, torch.no_grad)
    return {name: layer_times(CLOCK[clock], *lib, *layer) for name, layer in LAYERS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=tuple(CLOCK), default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(times(args.child, args.threads, args.clock)))
        return
    runs: dict[str, list[dict]] = {p: [] for p in PEERS}
    for _ in range(args.reps):
        for peer in PEERS:
            out = subprocess.run([sys.executable, __file__, "--child", peer, "--threads",
                                  str(args.threads), "--clock", args.clock],
                                 capture_output=True, text=True, check=True)
            runs[peer].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.threads} thread(s), {args.clock} clock, median of {args.reps} processes; "
          f"ms, chainrule / PyTorch")
    print("| layer | conv forward | conv backward | max pool forward | max pool backward |")
    print("| --- | --- | --- | --- | --- |")
    for name in LAYERS:
        cells = []
        for i in range(4):
            ours, theirs = (statistics.median(r[name][i] for r in runs[p]) for p in PEERS)
            cells.append(f"{ours:.2f} / {theirs:.2f} = {ours / theirs:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
