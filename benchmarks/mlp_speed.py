"""One epoch of MLP training, chainrule beside PyTorch, scikit-learn and hand-written numpy.

    python benchmarks/mlp_speed.py [--batches 32 128 1024] [--rounds 2]

MLP 784-256-256-10, ReLU, softmax cross-entropy, plain SGD lr 0.1, one epoch over
Fashion-MNIST's 60,000 training images (float32, 2 threads). Every entry runs in its
own fresh process (so peak memory is per library), the best of --rounds epochs.
Columns: seconds per epoch; "matmul only" is the time of the matrix products alone
(the floor), "numpy BP" a hand-written backprop. Ratios: chainrule / PyTorch and
chainrule / numpy BP (the engine's own overhead).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("CHAINRULE_DATA", Path(__file__).resolve().parents[2] / "shared" /
                           "data"))
SIZES = (784, 256, 256, 10)
LR = 0.1


def load() -> tuple[np.ndarray, np.ndarray]:
    from chainrule.data import load_fashion_mnist

    (x, y), _ = load_fashion_mnist(DATA, flatten=True, scale=True)
    return x, y


def init_weights(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ws = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        bound = 1 / np.sqrt(n_in)
        ws += [rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
               rng.uniform(-bound, bound, n_out).astype(np.float32)]
    return ws


def epoch_chainrule(x, y, batch: int) -> None:
    import chainrule as cr
    from chainrule import nn, optim

    model = nn.mlp(list(SIZES), "relu")
    with cr.no_grad():
        for p, w in zip(model.parameters(), init_weights(), strict=True):
            p.copy_(w)
    opt = optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    for i in range(0, len(x), batch):
        loss = loss_fn(model(cr.from_numpy(x[i:i + batch])), y[i:i + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()


def epoch_torch(x, y, batch: int) -> None:
    import torch

    torch.set_num_threads(2)
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    with torch.no_grad():
        for p, w in zip(model.parameters(), init_weights(), strict=True):
            p.copy_(torch.from_numpy(w))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for i in range(0, len(x), batch):
        loss = torch.nn.functional.cross_entropy(model(xt[i:i + batch]), yt[i:i + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()


def epoch_numpy(x, y, batch: int, matmul_only: bool = False) -> None:
    """Backprop written by hand: Z = A W^T + b, A = relu(Z); dZ_L = (softmax - Y)/m;
    dW = dZ^T A_prev; db = sum dZ; dA_prev = dZ W; dZ = dA * [Z > 0]."""
    ws = init_weights()
    eye = np.eye(10, dtype=np.float32)
    for i in range(0, len(x), batch):
        a, ys = x[i:i + batch], y[i:i + batch]
        acts = [a]
        for k in range(0, len(ws), 2):
            z = acts[-1] @ ws[k].T
            if not matmul_only:
                z += ws[k + 1]
                if k < len(ws) - 2:
                    np.maximum(z, 0, out=z)
            acts.append(z)
        dz = acts[-1]
        if not matmul_only:
            dz = np.exp(dz - dz.max(axis=1, keepdims=True))
            dz /= dz.sum(axis=1, keepdims=True)
            dz -= eye[ys]
            dz /= len(ys)
        for k in range(len(ws) - 2, -1, -2):
            dw = dz.T @ acts[k // 2]
            db = None if matmul_only else dz.sum(axis=0)
            if k:
                da = dz @ ws[k]
                dz = da if matmul_only else da * (acts[k // 2] > 0)
            ws[k] -= LR * dw
            if db is not None:
                ws[k + 1] -= LR * db


def epoch_sklearn(x, y, batch: int) -> None:
    import warnings

    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=SIZES[1:-1], activation="relu", solver="sgd",
                        learning_rate_init=LR, momentum=0.0, batch_size=batch, alpha=0.0,
                        max_iter=1, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x, y)


RUNNERS = {"matmul only": lambda x, y, b: epoch_numpy(x, y, b, matmul_only=True),
           "numpy BP": epoch_numpy, "chainrule": epoch_chainrule, "torch": epoch_torch,
           "sklearn": epoch_sklearn}


def _child(name: str, batch: int, rounds: int, queue: mp.Queue) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    try:
        x, y = load()
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            RUNNERS[name](x, y, batch)
            best = min(best, time.perf_counter() - start)
        queue.put((best, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    except ImportError as e:
        queue.put((float("nan"), f"skipped: {e}"))


def measure(name: str, batch: int, rounds: int) -> tuple[float, float | str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, batch, rounds, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="*", default=[32, 128, 1024])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=list(RUNNERS))
    args = parser.parse_args()
    import sys

    print(f"MLP {'-'.join(map(str, SIZES))}, ReLU, softmax CE, SGD lr {LR}, one epoch of "
          f"Fashion-MNIST (60,000), float32; {os.cpu_count()} CPUs; Python "
          f"{sys.version.split()[0]}, numpy {np.__version__}; seconds per epoch (best of "
          f"{args.rounds}), peak RSS in MB")
    names = [n for n in RUNNERS if n not in args.skip]
    print("| batch | " + " | ".join(names) + " | chainrule / torch | chainrule / numpy BP |")
    print("| --- " * (len(names) + 3) + "|")
    rss: dict[str, float | str] = {}
    for batch in args.batches:
        times = {}
        for name in names:
            times[name], rss[name] = measure(name, batch, args.rounds)
        ratio_t = times.get("chainrule", np.nan) / times.get("torch", np.nan)
        ratio_n = times.get("chainrule", np.nan) / times.get("numpy BP", np.nan)
        print(f"| {batch} | " + " | ".join(f"{times[n]:.2f}" for n in names) +
              f" | {ratio_t:.2f} | {ratio_n:.2f} |", flush=True)
    print("peak RSS (MB, last batch size): " + ", ".join(
        f"{n} {v:.0f}" if isinstance(v, float) else f"{n} {v}" for n, v in rss.items()))


if __name__ == "__main__":
    main()
