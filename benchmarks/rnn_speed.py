"""Recurrent training step, chainrule beside PyTorch (fused nn.RNN/nn.LSTM/nn.GRU and a
Python loop over the cells) and a hand-written numpy BPTT, measured in the same run.

    python benchmarks/rnn_speed.py [--repeats 30]

Setting: input 64, hidden 128, sequence 50, batch 32, loss = softmax cross-entropy
of a linear head on the last hidden state; one step = forward + backward (the
optimizer update is excluded on both sides). float32, 2 threads. Milliseconds
per step, the best of 3 timing rounds.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

B, T, I, H, C = 32, 50, 64, 128, 10


def best_ms(step, repeats: int) -> float:
    for _ in range(3):
        step()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        best = min(best, (time.perf_counter() - start) / repeats * 1e3)
    return best


def chainrule_step(kind: str, x: np.ndarray, y: np.ndarray, fused: bool = True):
    import chainrule.functional as F
    from chainrule import nn

    layer, head = getattr(nn, kind)(I, H), nn.Linear(H, C)
    layer.fused = fused
    params = list(layer.parameters()) + list(head.parameters())

    def step():
        _, state = layer(x)
        h = state[0] if isinstance(state, tuple) else state
        loss = F.cross_entropy(head(h[-1]), y)
        for p in params:
            p.grad = None
        loss.backward()
    return step


def torch_steps(kind: str, x: np.ndarray, y: np.ndarray):
    import torch

    torch.manual_seed(0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    layer = getattr(torch.nn, kind)(I, H, batch_first=True)
    cell = getattr(torch.nn, kind + "Cell")(I, H)
    head = torch.nn.Linear(H, C)

    def fused():
        _, state = layer(xt)
        h = state[0] if isinstance(state, tuple) else state
        loss = torch.nn.functional.cross_entropy(head(h[-1]), yt)
        layer.zero_grad()
        head.zero_grad()
        loss.backward()

    def loop():
        h = torch.zeros(B, H)
        c = torch.zeros(B, H)
        for t in range(T):
            if kind == "LSTM":
                h, c = cell(xt[:, t], (h, c))
            else:
                h = cell(xt[:, t], h)
        loss = torch.nn.functional.cross_entropy(head(h), yt)
        cell.zero_grad()
        head.zero_grad()
        loss.backward()
    return fused, loop


def numpy_rnn_step(x: np.ndarray, y: np.ndarray):
    """Hand-written tanh-RNN BPTT in numpy: the floor an engine can aim for."""
    rng = np.random.default_rng(0)
    w_ih = (rng.standard_normal((H, I)) * 0.1).astype(np.float32)
    w_hh = (rng.standard_normal((H, H)) * 0.1).astype(np.float32)
    b = np.zeros(H, np.float32)
    w_out = (rng.standard_normal((C, H)) * 0.1).astype(np.float32)
    onehot = np.eye(C, dtype=np.float32)[y]

    def step():
        xp = (x.reshape(B * T, I) @ w_ih.T).reshape(B, T, H) + b
        hs = np.empty((T + 1, B, H), np.float32)
        hs[0] = 0
        for t in range(T):
            hs[t + 1] = np.tanh(xp[:, t] + hs[t] @ w_hh.T)
        z = hs[T] @ w_out.T
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / B
        dh = dz @ w_out
        dw_hh = np.zeros_like(w_hh)
        dw_ih = np.zeros_like(w_ih)
        for t in range(T, 0, -1):
            da = dh * (1 - hs[t] * hs[t])
            dw_hh += da.T @ hs[t - 1]
            dw_ih += da.T @ x[:, t - 1]
            dh = da @ w_hh
        return dz.T @ hs[T], dw_ih, dw_hh
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    y = rng.integers(0, C, B)
    try:
        import torch

        torch.set_num_threads(2)
        peer = f"torch {torch.__version__}"
    except ImportError:
        torch = None
        peer = "torch not installed (pip install -e .[bench]): PyTorch columns skipped"
    print(f"numpy {np.__version__}, {peer}, {os.cpu_count()} CPUs; batch {B}, sequence {T}, "
          f"input {I}, hidden {H}; ms per training step (forward + backward)")
    print(f"{'layer':6} {'chainrule':>10} {'unrolled':>9} {'torch fused':>12} "
          f"{'torch loop':>11} {'numpy BPTT':>11} {'ratio vs fused':>15}")
    for kind in ("RNN", "LSTM", "GRU"):
        ours = best_ms(chainrule_step(kind, x, y), args.repeats)
        unrolled = best_ms(chainrule_step(kind, x, y, fused=False), max(5, args.repeats // 5))
        fused = loop = float("nan")
        if torch is not None:
            f, lp = torch_steps(kind, x, y)
            fused, loop = best_ms(f, args.repeats), best_ms(lp, max(5, args.repeats // 3))
        hand = best_ms(numpy_rnn_step(x, y), args.repeats) if kind == "RNN" else float("nan")
        print(f"{kind:6} {ours:10.2f} {unrolled:9.2f} {fused:12.2f} {loop:11.2f} {hand:11.2f} "
              f"{ours / fused:15.2f}")


if __name__ == "__main__":
    main()
