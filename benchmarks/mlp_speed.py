"""One epoch of MLP training, chainrule beside PyTorch, scikit-learn and hand-written numpy.

    python benchmarks/mlp_speed.py [--reps 3]   # = python benchmarks/run.py --only mlp

MLP 784-256-256-10, ReLU, softmax cross-entropy, plain SGD lr 0.1, one epoch over
Fashion-MNIST's 60,000 training images (float32, 2 threads). Every entry runs in its
own fresh process (so peak memory is per library), the median of --reps epochs.
Columns: seconds per epoch; "matmul only" is the time of the matrix products alone
(the floor), "numpy BP" a hand-written backprop. Ratios: chainrule / PyTorch and
chainrule / numpy BP (the engine's own overhead).
"""

from __future__ import annotations

import os
import sys
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


def epoch_numpy(x, y, batch: int, matmul_only: bool = False, mm=np.matmul) -> None:
    """Backprop written by hand: Z = A W^T + b, A = relu(Z); dZ_L = (softmax - Y)/m;
    dW = dZ^T A_prev; db = sum dZ; dA_prev = dZ W; dZ = dA * [Z > 0]. ``mm`` multiplies
    (numpy's BLAS, or MKL's gemm through chainrule.backend).

    ``matmul_only`` keeps the 8 products of a step and drops the rest, the weight update
    included: the products' "gradients" are not gradients (no softmax, no ReLU masks), and
    descending along them took the weights to inf and NaN within the epoch, and an Intel
    Xeon multiplied those at half speed (batch 32: 1.72 s for the epoch's products
    against 0.91 s with the weights kept finite)."""
    ws = init_weights()
    eye = np.eye(10, dtype=np.float32)
    for i in range(0, len(x), batch):
        a, ys = x[i:i + batch], y[i:i + batch]
        acts = [a]
        for k in range(0, len(ws), 2):
            z = mm(acts[-1], ws[k].T)
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
            dw = mm(dz.T, acts[k // 2])
            db = None if matmul_only else dz.sum(axis=0)
            if k:
                da = mm(dz, ws[k])
                dz = da if matmul_only else da * (acts[k // 2] > 0)
            if matmul_only:
                continue  # see below
            ws[k] -= LR * dw
            ws[k + 1] -= LR * db


def epoch_jax(x, y, batch: int) -> None:
    """The same step as one jax.jit-compiled function (forward, grad, SGD update), called
    once per batch from Python; the last, smaller batch compiles once more."""
    import jax
    import jax.numpy as jnp

    def loss(ws, a, ys):
        for k in range(0, len(ws), 2):
            a = a @ ws[k].T + ws[k + 1]
            if k < len(ws) - 2:
                a = jax.nn.relu(a)
        logp = jax.nn.log_softmax(a)
        return -jnp.take_along_axis(logp, ys[:, None], axis=1).mean()

    @jax.jit
    def step(ws, a, ys):
        grads = jax.grad(loss)(ws, a, ys)
        return [w - LR * g for w, g in zip(ws, grads, strict=True)]

    ws = [jnp.asarray(w) for w in init_weights()]
    for i in range(0, len(x), batch):
        ws = step(ws, x[i:i + batch], y[i:i + batch].astype(np.int32))
    jax.block_until_ready(ws)


def epoch_sklearn(x, y, batch: int) -> None:
    import warnings

    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=SIZES[1:-1], activation="relu", solver="sgd",
                        learning_rate_init=LR, momentum=0.0, batch_size=batch, alpha=0.0,
                        max_iter=1, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x, y)


def prepare(peer: str) -> None:
    """Import the peer's library before the clock starts: an epoch is timed, not an
    import (`import torch` alone takes over a second here, scikit-learn's MLP more)."""
    if peer == "torch":
        import torch

        torch.set_num_threads(2)
    elif peer == "sklearn":
        from sklearn.neural_network import MLPClassifier  # noqa: F401
    elif peer == "jax jit":
        import jax  # noqa: F401  (its CPU backend uses every core, as the others do)
    elif peer.startswith("chainrule"):
        from chainrule import backend, nn, optim  # noqa: F401

        backend.blas_info()  # the automatic choice (and its calibration) before the clock
    elif peer == "PyTorch GEMM only":
        import torch

        torch.set_num_threads(2)
    elif "MKL" in peer:
        _mkl_matmul()


def _mkl_matmul():
    """MKL's gemm as chainrule.backend binds it (ImportError where the wheel is missing, so
    the column reads 'skipped')."""
    from chainrule import backend

    mkl = backend._load_mkl()
    if mkl is None:
        raise ImportError(name="mkl")
    return mkl.matmul


def epoch_torch_products(x, y, batch: int) -> None:
    """The same 8 products per step as "matmul only", through PyTorch's GEMM."""
    import torch

    torch.set_num_threads(2)
    ws = [torch.from_numpy(w) for w in init_weights()]
    xt = torch.from_numpy(x)
    for i in range(0, len(x), batch):
        acts = [xt[i:i + batch]]
        for k in range(0, len(ws), 2):
            acts.append(acts[-1] @ ws[k].T)
        dz = acts[-1]
        for k in range(len(ws) - 2, -1, -2):
            dz.T @ acts[k // 2]  # dW, dropped as in epoch_numpy's matmul_only
            if k:
                dz = dz @ ws[k]


def epoch_chainrule_on(blas: str):
    def run(x, y, batch: int) -> None:
        from chainrule import backend

        backend.set_blas(blas)
        epoch_chainrule(x, y, batch)
    return run


RUNNERS = {"matmul only": lambda x, y, b: epoch_numpy(x, y, b, matmul_only=True),
           "matmul only (MKL)": lambda x, y, b: epoch_numpy(x, y, b, matmul_only=True,
                                                            mm=_mkl_matmul()),
           "PyTorch GEMM only": epoch_torch_products,
           "chainrule (numpy BLAS)": epoch_chainrule_on("numpy"),
           "chainrule (MKL)": epoch_chainrule_on("mkl"),
           "numpy BP": epoch_numpy, "chainrule": epoch_chainrule, "torch": epoch_torch,
           "sklearn": epoch_sklearn, "jax jit": epoch_jax}


def main() -> None:
    """Measure in fresh processes, beside the peers, through benchmarks/run.py."""
    from run import main as run_main

    run_main(["--only", "mlp", "--no-write", *sys.argv[1:]])


if __name__ == "__main__":
    main()
