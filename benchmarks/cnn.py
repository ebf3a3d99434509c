"""Convolutional networks on MNIST: chainrule beside PyTorch, seconds per epoch at batch 64.

    python benchmarks/cnn.py [--reps 3] [--steps 150] [--threads 2] [--clock wall] [--no-write]

Two networks (float32, plain SGD lr 0.05, softmax cross-entropy, 2 BLAS threads unless
``--threads`` says otherwise; one thread is the steadier choice on a shared machine):
- lenet5: Conv(1->6, 5x5, pad 2) ReLU MaxPool(2) Conv(6->16, 5x5) ReLU MaxPool(2)
  Linear(400->120) ReLU Linear(120->84) ReLU Linear(84->10), as LeCun et al. 1998 with
  ReLU and max pooling;
- wide: Conv(1->32, 3x3, pad 1) ReLU MaxPool(2) Conv(32->64, 3x3, pad 1) ReLU MaxPool(2)
  Linear(3136->128) ReLU Linear(128->10).

Both libraries start from the same weights (chainrule's init, copied into PyTorch by
name) and see the same batches. Every measurement runs in its own fresh process (so the
peak RSS is the library's own, and the two thread pools never meet), the repetitions of
the two peers interleaved; each figure is the median. An epoch's time is the time of
``--steps`` timed steps (after 10 warm-up steps) scaled to the 938 steps of 60,000 images,
so the table takes minutes, not an hour. ``--clock cpu`` times the process's CPU time
instead of the wall clock: on a machine other sessions load, with ``--threads 1``, it
leaves out the time spent waiting for a core (with more threads it would add up every
thread's time, idle spinning included). The parity column is the largest difference of
the first 20 losses between the two libraries (float32 rounding, about 1e-6 relative).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import machine, write_section  # noqa: E402

DATA = Path(os.environ.get("CHAINRULE_DATA", HERE.parents[1] / "shared" / "data"))
BATCH, LR, WARMUP, PARITY_STEPS = 64, 0.05, 10, 20
STEPS_PER_EPOCH = -(-60000 // BATCH)
MODELS = ("lenet5", "wide")
PEERS = ("chainrule", "torch")


def layers(nn, name: str) -> list:
    """The network ``name`` built from ``nn`` (chainrule.nn or torch.nn: the same names)."""
    if name == "lenet5":
        return [nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                nn.Linear(84, 10)]
    return [nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10)]


def load(steps: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(DATA / "mnist.npz", allow_pickle=False) as f:
        n = (steps + WARMUP + PARITY_STEPS) * BATCH
        x = (f["x_train"][:n].astype(np.float32) / 255.0)[:, None]  # (N, 1, 28, 28)
        return np.ascontiguousarray(x), f["y_train"][:n].astype(np.int64)


def initial_weights(name: str) -> dict[str, np.ndarray]:
    import chainrule as cr
    from chainrule import nn

    cr.manual_seed(0)
    return {k: np.array(v) for k, v in nn.Sequential(*layers(nn, name)).state_dict().items()}


def chainrule_steps(name: str, x: np.ndarray, y: np.ndarray, weights: dict, threads: int
                    ) -> Callable[[int], float]:
    import chainrule as cr
    from chainrule import nn, optim

    cr.set_num_threads(threads)
    model = nn.Sequential(*layers(nn, name))
    model.load_state_dict(weights)
    opt = optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()

    def step(i: int) -> float:
        s = slice(i * BATCH, (i + 1) * BATCH)
        loss = loss_fn(model(cr.from_numpy(x[s])), y[s])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def torch_steps(name: str, x: np.ndarray, y: np.ndarray, weights: dict, threads: int
                ) -> Callable[[int], float]:
    import torch

    torch.set_num_threads(threads)
    model = torch.nn.Sequential(*layers(torch.nn, name))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step(i: int) -> float:
        s = slice(i * BATCH, (i + 1) * BATCH)
        loss = loss_fn(model(tx[s]), ty[s])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def child(peer: str, name: str, steps: int, threads: int, clock: str) -> dict:
    x, y = load(steps)
    weights = initial_weights(name)
    step = (chainrule_steps if peer == "chainrule" else torch_steps)(name, x, y, weights, threads)
    losses = [step(i) for i in range(PARITY_STEPS)]  # the parity run doubles as a warm-up
    for i in range(PARITY_STEPS, PARITY_STEPS + WARMUP):
        step(i)
    now = time.process_time if clock == "cpu" else time.perf_counter
    started = now()
    for i in range(PARITY_STEPS + WARMUP, PARITY_STEPS + WARMUP + steps):
        step(i)
    seconds = (now() - started) / steps * STEPS_PER_EPOCH
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"epoch_s": seconds, "rss_mb": rss, "losses": losses}


def run_child(peer: str, name: str, steps: int, threads: int, clock: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", peer, name, str(steps),
                          str(threads), clock],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: dict) -> str:
    rows = ["| network | chainrule s/epoch | PyTorch s/epoch | chainrule / PyTorch | "
            "peak RSS chainrule / PyTorch (MB) | first 20 losses, max difference |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name in MODELS:
        runs = results[name]
        ours = statistics.median(r["epoch_s"] for r in runs["chainrule"])
        theirs = statistics.median(r["epoch_s"] for r in runs["torch"])
        rss = [max(r["rss_mb"] for r in runs[p]) for p in PEERS]
        parity = max(abs(a - b) for a, b in zip(runs["chainrule"][0]["losses"],
                                                 runs["torch"][0]["losses"], strict=True))
        rows.append(f"| {name} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} | "
                    f"{rss[0]:.0f} / {rss[1]:.0f} | {parity:.1e} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        peer, name, steps, threads, clock = args.child
        print(json.dumps(child(peer, name, int(steps), int(threads), clock)))
        return
    results = {name: {p: [] for p in PEERS} for name in MODELS}
    for _ in range(args.reps):
        for name in MODELS:
            for peer in PEERS:
                results[name][peer].append(run_child(peer, name, args.steps, args.threads,
                                                     args.clock))
    body = (f"Measured {machine()}; {args.threads} thread(s), {args.clock} clock, batch "
            f"{BATCH}, {args.steps} timed steps scaled to "
            f"{STEPS_PER_EPOCH} per epoch, median of {args.reps} fresh processes per peer "
            f"(`python benchmarks/cnn.py`).\n\n{table(results)}")
    print(body)
    if not args.no_write:
        write_section("cnn", "## Convolutional networks (MNIST, batch 64)\n\n" + body)


if __name__ == "__main__":
    main()
