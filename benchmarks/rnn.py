"""Recurrent training step, chainrule beside PyTorch (fused nn.RNN/nn.LSTM/nn.GRU and a
Python loop over the cells) and a hand-written numpy BPTT, measured in the same run.

    python benchmarks/rnn.py [--reps 3]   # = python benchmarks/run.py --only rnn

Setting: input 64, hidden 128, sequence 50, batch 32, loss = softmax cross-entropy
of a linear head on the last hidden state; one step = forward + backward through time +
a plain SGD update (lr 0.01) of every parameter, on every side. float32, the BLAS
default of 2 threads. Milliseconds per step: the median step, the median over
repetitions, each library in its own process.
"""

from __future__ import annotations

import sys

import numpy as np

B, T, I, H, C = 32, 50, 64, 128, 10
LR = 0.01


def chainrule_step(kind: str, x: np.ndarray, y: np.ndarray, fused: bool = True):
    import chainrule.functional as F
    from chainrule import nn, optim

    layer, head = getattr(nn, kind)(I, H), nn.Linear(H, C)
    layer.fused = fused
    sgd = optim.SGD(list(layer.parameters()) + list(head.parameters()), lr=LR)

    def step():
        _, state = layer(x)
        h = state[0] if isinstance(state, tuple) else state
        loss = F.cross_entropy(head(h[-1]), y)
        sgd.zero_grad()
        loss.backward()
        sgd.step()
    return step


def torch_steps(kind: str, x: np.ndarray, y: np.ndarray):
    import torch

    torch.manual_seed(0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    layer = getattr(torch.nn, kind)(I, H, batch_first=True)
    cell = getattr(torch.nn, kind + "Cell")(I, H)
    head = torch.nn.Linear(H, C)
    sgd_fused = torch.optim.SGD([*layer.parameters(), *head.parameters()], lr=LR)
    sgd_loop = torch.optim.SGD([*cell.parameters(), *head.parameters()], lr=LR)

    def fused():
        _, state = layer(xt)
        h = state[0] if isinstance(state, tuple) else state
        loss = torch.nn.functional.cross_entropy(head(h[-1]), yt)
        sgd_fused.zero_grad()
        loss.backward()
        sgd_fused.step()

    def loop():
        h = torch.zeros(B, H)
        c = torch.zeros(B, H)
        for t in range(T):
            if kind == "LSTM":
                h, c = cell(xt[:, t], (h, c))
            else:
                h = cell(xt[:, t], h)
        loss = torch.nn.functional.cross_entropy(head(h), yt)
        sgd_loop.zero_grad()
        loss.backward()
        sgd_loop.step()
    return fused, loop


def numpy_rnn_step(x: np.ndarray, y: np.ndarray):
    """Hand-written tanh-RNN BPTT in numpy: the floor an engine can aim for."""
    rng = np.random.default_rng(0)
    w_ih = (rng.standard_normal((H, I)) * 0.1).astype(np.float32)
    w_hh = (rng.standard_normal((H, H)) * 0.1).astype(np.float32)
    b = np.zeros(H, np.float32)
    w_out = (rng.standard_normal((C, H)) * 0.1).astype(np.float32)
    b_out = np.zeros(C, np.float32)
    onehot = np.eye(C, dtype=np.float32)[y]

    def step():
        xp = (x.reshape(B * T, I) @ w_ih.T).reshape(B, T, H) + b
        hs = np.empty((T + 1, B, H), np.float32)
        hs[0] = 0
        for t in range(T):
            hs[t + 1] = np.tanh(xp[:, t] + hs[t] @ w_hh.T)
        z = hs[T] @ w_out.T + b_out
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / B
        dh = dz @ w_out
        dw_hh = np.zeros_like(w_hh)
        dw_ih = np.zeros_like(w_ih)
        db = np.zeros_like(b)
        for t in range(T, 0, -1):
            da = dh * (1 - hs[t] * hs[t])
            dw_hh += da.T @ hs[t - 1]
            dw_ih += da.T @ x[:, t - 1]
            db += da.sum(axis=0)
            dh = da @ w_hh
        grads = (dz.T @ hs[T], dz.sum(axis=0), dw_ih, dw_hh, db)
        for w, g in zip((w_out, b_out, w_ih, w_hh, b), grads, strict=True):
            w -= np.float32(LR) * g
    return step


GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def products_step(kind: str):
    """Only the BLAS products of one fused training step of ``kind``, in numpy: the
    input projection of all steps, one recurrent product per step each way, and dW_ih,
    dW_hh over the whole sequence. Every implementation computes these (PyTorch's fused
    layers included), so chainrule's step minus this is its elementwise and Python work."""
    rng = np.random.default_rng(0)
    g = GATES[kind] * H
    x = rng.standard_normal((T * B, I)).astype(np.float32)
    w_ih = rng.standard_normal((g, I)).astype(np.float32)
    w_hh_t = rng.standard_normal((H, g)).astype(np.float32)
    w_hh = np.ascontiguousarray(w_hh_t.T)
    h = rng.standard_normal((B, H)).astype(np.float32)
    dz = rng.standard_normal((T * B, g)).astype(np.float32)
    hs = rng.standard_normal((T * B, H)).astype(np.float32)
    recurrent = np.empty((B, g), np.float32)

    def step():
        _ = x @ w_ih.T
        for _t in range(T):
            np.matmul(h, w_hh_t, out=recurrent)
        for t in range(T):
            _ = dz[t * B:(t + 1) * B] @ w_hh
        return dz.T @ x, dz.T @ hs
    return step


def main() -> None:
    """Measure in fresh processes, beside the peers, through benchmarks/run.py."""
    from run import main as run_main

    run_main(["--only", "rnn", "--no-write", *sys.argv[1:]])


if __name__ == "__main__":
    main()
