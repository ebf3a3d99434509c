"""Forward + backward time of small and medium ops: chainrule beside raw numpy doing the same
arithmetic by hand, and beside PyTorch, all measured in the same run.

    python benchmarks/ops_overhead.py [--quick]   # = python benchmarks/run.py --only ops

Microseconds per forward+backward (median of timing rounds, float32, 2 threads), and the
ratios chainrule / numpy (the engine's overhead over the bare arithmetic) and
chainrule / torch, each library in its own process.
"""

from __future__ import annotations

import statistics
import sys
import timeit

import numpy as np

rng = np.random.default_rng(0)


def arr(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def us(fn, quick: bool) -> float:
    """Median microseconds per call over several rounds of an auto-sized loop."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    rounds = [t / number * 1e6 for t in timer.repeat(3 if quick else 7, number)]
    return statistics.median(rounds)


def cases():
    """(name, chainrule fn, numpy fn, torch fn) for each benchmark case."""
    import chainrule as cr
    import chainrule.functional as F

    out = []

    def abc(n):
        a_, b_, c_ = arr(n, n), arr(n, n), arr(n, n)
        a, b, c = (cr.tensor(v, requires_grad=True) for v in (a_, b_, c_))

        def ours():
            (a * b + c).sum().backward()
            a.grad = b.grad = c.grad = None

        def numpy():  # y = sum(a*b + c): da = b, db = a, dc = 1
            _ = (a_ * b_ + c_).sum()
            ones = np.ones_like(a_)
            return ones * b_, ones * a_, ones

        return ours, numpy, ("abc", (a_, b_, c_))

    for n in (4, 256):
        o, nfn, spec = abc(n)
        out.append((f"(a*b + c).sum(), {n}x{n}", o, nfn, spec))

    x_, w_, b_ = arr(128, 784), arr(256, 784) * 0.05, arr(256)
    x = cr.tensor(x_)
    w, b = cr.tensor(w_, requires_grad=True), cr.tensor(b_, requires_grad=True)

    def linear_ours():
        F.relu(F.linear(x, w, b)).sum().backward()
        w.grad = b.grad = None

    def linear_numpy():
        z = x_ @ w_.T + b_
        a = np.maximum(z, 0)
        _ = a.sum()
        dz = (z > 0).astype(np.float32)
        return dz.T @ x_, dz.sum(axis=0)

    out.append(("relu(x @ W.T + b).sum(), 128x784 @ 784x256", linear_ours, linear_numpy,
                ("linear", (x_, w_, b_))))

    z_ = arr(128, 10)
    labels = rng.integers(0, 10, 128)
    z = cr.tensor(z_, requires_grad=True)

    def ce_ours():
        F.cross_entropy(z, labels).backward()
        z.grad = None

    def ce_numpy():
        e = np.exp(z_ - z_.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        _ = -np.log(p[np.arange(128), labels]).mean()
        p[np.arange(128), labels] -= 1
        return p / 128

    out.append(("cross_entropy, 128x10 logits", ce_ours, ce_numpy, ("ce", (z_, labels))))

    h_ = arr(128, 256)
    h = cr.tensor(h_, requires_grad=True)
    for name, fn, npf in (("tanh", F.tanh, np.tanh),
                          ("sigmoid", F.sigmoid, lambda v: 1 / (1 + np.exp(-v)))):
        def act_ours(fn=fn):
            fn(h).sum().backward()
            h.grad = None

        def act_numpy(npf=npf, name=name):
            a = npf(h_)
            return 1 - a * a if name == "tanh" else a * (1 - a)

        out.append((f"{name}(x).sum(), 128x256", act_ours, act_numpy, (name, (h_,))))

    def mean_ours():
        h.mean(axis=0).sum().backward()
        h.grad = None

    def mean_numpy():
        _ = h_.mean(axis=0).sum()
        return np.full_like(h_, 1 / 128)

    out.append(("x.mean(axis=0).sum(), 128x256", mean_ours, mean_numpy, ("mean", (h_,))))

    idx = rng.integers(0, 128, 64)

    def index_ours():
        h[idx].sum().backward()
        h.grad = None

    def index_numpy():
        _ = h_[idx].sum()
        g = np.zeros_like(h_)
        np.add.at(g, idx, 1.0)
        return g

    out.append(("x[int array].sum(), 64 of 128 rows", index_ours, index_numpy,
                ("index", (h_, idx))))
    out.extend(transformer_cases())
    return out


def transformer_cases():
    """The Transformer's own ops at makemore's sizes (batch 32, 16 tokens, 64 channels,
    4 heads): GELU on the MLP's hidden layer, layer norm, causal attention."""
    import chainrule as cr
    import chainrule.functional as F

    out = []
    u_ = arr(512, 256)
    u = cr.tensor(u_, requires_grad=True)
    for approximate in ("none", "tanh"):
        def gelu_ours(approximate=approximate):
            F.gelu(u, approximate=approximate).sum().backward()
            u.grad = None

        def gelu_numpy():  # a = x h, h = (1 + tanh v) / 2, da/dx = h + x h (1 - h) 2 v'
            u2 = u_ * u_  # not u_ ** 3: np.power is a slow general loop
            h = 0.5 * (1 + np.tanh(0.7978845608 * u_ * (1 + 0.044715 * u2)))
            _ = (u_ * h).sum()
            return h + u_ * h * (1 - h) * 2 * 0.7978845608 * (1 + 3 * 0.044715 * u2)

        # numpy has no erf: the exact form has no by-hand column
        out.append((f"gelu(x, approximate={approximate!r}).sum(), 512x256", gelu_ours,
                    gelu_numpy if approximate == "tanh" else None,
                    ("gelu", (u_, approximate))))

    x_, w_, b_ = arr(32, 16, 64), arr(64), arr(64)
    x, w, b = (cr.tensor(a, requires_grad=True) for a in (x_, w_, b_))

    def norm_ours():
        F.layer_norm(x, (64,), w, b).sum().backward()
        x.grad = w.grad = b.grad = None

    def norm_numpy():  # dy = 1: g = w, dx = r (g - mean g - xhat mean(g xhat))
        mean = x_.mean(-1, keepdims=True)
        xc = x_ - mean
        r = 1 / np.sqrt((xc * xc).mean(-1, keepdims=True) + 1e-5)
        xhat = xc * r
        _ = (xhat * w_ + b_).sum()
        g = np.broadcast_to(w_, x_.shape)
        dx = r * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
        return dx, xhat.sum((0, 1)), np.full(64, 512.0, np.float32)

    out.append(("layer_norm(x).sum(), 32x16x64", norm_ours, norm_numpy,
                ("layer_norm", (x_, w_, b_))))

    q_, k_, v_ = arr(32, 4, 16, 16), arr(32, 4, 16, 16), arr(32, 4, 16, 16)
    q, k, v = (cr.tensor(a, requires_grad=True) for a in (q_, k_, v_))

    def attention_ours():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
        q.grad = k.grad = v.grad = None

    allowed = np.tri(16, 16, dtype=bool)

    def attention_numpy():  # dO = 1; the backward of ops/attention.py's docstring
        s = np.where(allowed, q_ @ k_.swapaxes(-1, -2) * 0.25, -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        o = p @ v_
        go = np.ones_like(o)
        dv = p.swapaxes(-1, -2) @ go
        dp = go @ v_.swapaxes(-1, -2)
        ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * 0.25
        return ds @ k_, ds.swapaxes(-1, -2) @ q_, dv

    out.append(("causal attention, 32x4 heads of 16x16", attention_ours, attention_numpy,
                ("attention", (q_, k_, v_))))
    return out


def torch_fn(spec):
    """The same case in PyTorch, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    kind, arrays = spec
    t = [torch.from_numpy(a) for a in arrays if isinstance(a, np.ndarray)]
    if kind == "abc":
        a, b, c = (v.clone().requires_grad_() for v in t)

        def run():
            (a * b + c).sum().backward()
            a.grad = b.grad = c.grad = None
    elif kind == "linear":
        x, w, b = t[0], t[1].clone().requires_grad_(), t[2].clone().requires_grad_()

        def run():
            torch.relu(torch.nn.functional.linear(x, w, b)).sum().backward()
            w.grad = b.grad = None
    elif kind == "ce":
        z, labels = t[0].clone().requires_grad_(), t[1]

        def run():
            torch.nn.functional.cross_entropy(z, labels).backward()
            z.grad = None
    elif kind == "gelu":
        u, approximate = t[0].clone().requires_grad_(), arrays[1]

        def run():
            torch.nn.functional.gelu(u, approximate=approximate).sum().backward()
            u.grad = None
    elif kind == "layer_norm":
        x, w, b = (v.clone().requires_grad_() for v in t)

        def run():
            torch.nn.functional.layer_norm(x, (64,), w, b).sum().backward()
            x.grad = w.grad = b.grad = None
    elif kind == "attention":
        q, k, v = (a.clone().requires_grad_() for a in t)

        def run():
            torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True
                                                             ).sum().backward()
            q.grad = k.grad = v.grad = None
    elif kind in ("tanh", "sigmoid", "mean", "index"):
        h = t[0].clone().requires_grad_()
        idx = t[1] if kind == "index" else None

        def run():
            if kind == "mean":
                out = h.mean(dim=0)
            elif kind == "index":
                out = h[idx]
            else:
                out = getattr(torch, kind)(h)
            out.sum().backward()
            h.grad = None
    return run


def main() -> None:
    """Measure in fresh processes, beside the peers, through benchmarks/run.py."""
    from run import main as run_main

    run_main(["--only", "ops", "--no-write", *sys.argv[1:]])


if __name__ == "__main__":
    main()
