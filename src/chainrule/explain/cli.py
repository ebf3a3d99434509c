"""``chainrule explain``: arguments to a model and data, then the derivation."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np


def add_explain_parser(sub: Any) -> None:
    p = sub.add_parser("explain", help="print the backpropagation derivation of a small "
                                       "network, every number checked",
                       description="Print the BP derivation (forward values, deltas, dW, db, "
                                   "the update) for a small network, each gradient checked "
                                   "against autograd and numerical differentiation. Without "
                                   "options: a fixed 2-2-3 sigmoid/softmax example.")
    p.add_argument("--layers", help="layer sizes, e.g. 2,2,3 (random weights, --weights-seed)")
    p.add_argument("--activation", default="sigmoid",
                   help="hidden activation, or one per layer: sigmoid,softmax")
    p.add_argument("--loss", default="cross-entropy", choices=["mse", "bce", "cross-entropy"])
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--l1", type=float, default=0.0)
    p.add_argument("--l2", type=float, default=0.0)
    p.add_argument("--x", help='inputs, rows separated by ";": "0.05,0.1;0.2,0.3"')
    p.add_argument("--y", help='one-hot targets "1,0,0;0,1,0" or class indices "0;1"')
    p.add_argument("--csv", help="a CSV file of examples (header row, numeric features)")
    p.add_argument("--label-column", default="label")
    p.add_argument("--weights-seed", type=int, default=0)
    p.add_argument("--format", default="text", choices=["text", "markdown", "html"])
    p.add_argument("--steps", type=int, default=1, help="gradient-descent steps to show")
    p.add_argument("--columns", action="store_true",
                   help="samples as columns (the W X + b layout of textbook derivations)")
    p.add_argument("--rnn", action="store_true",
                   help="the BPTT derivation of a tiny tanh RNN over 3 time steps instead")
    p.add_argument("--out", help="write to this file instead of printing")


def _matrix(text: str, what: str) -> np.ndarray:
    try:
        rows = [[float(v) for v in row.split(",")] for row in text.split(";") if row.strip()]
        a = np.array(rows, dtype=np.float64)
    except ValueError:
        raise ValueError(f"explain: --{what} must be numbers, rows separated by ';' and "
                         f"values by ',' (e.g. \"0.05,0.1;0.2,0.3\"); got {text!r}") from None
    if a.ndim != 2:
        raise ValueError(f"explain: --{what} rows must all have the same length")
    return a


def _targets(y: np.ndarray, n_out: int, loss: str) -> np.ndarray:
    """Class indices (one per row) become one-hot rows for classification losses."""
    if y.shape[1] == 1 and n_out > 1 and loss != "mse":
        if np.any(y < 0) or np.any(y >= n_out) or np.any(y != np.round(y)):
            raise ValueError(f"explain: class indices in --y must be 0..{n_out - 1}")
        return np.eye(n_out)[y[:, 0].astype(int)]
    return y


def build(args: argparse.Namespace) -> tuple[Any, np.ndarray, np.ndarray]:
    from chainrule.autograd.mode import no_grad
    from chainrule.explain import default_example
    from chainrule.nn import Linear, Sequential
    from chainrule.nn.builders import activation

    if not (args.layers or args.x or args.csv):
        return default_example()
    if args.csv:
        from chainrule.data import load_csv

        table = load_csv(args.csv, args.label_column)
        x, labels = table.X.astype(np.float64), table.y
        y = labels.reshape(-1, 1).astype(np.float64)
    else:
        if not (args.x and args.y):
            raise ValueError("explain: give both --x and --y (or --csv), or neither for the "
                             "default example")
        x, y = _matrix(args.x, "x"), _matrix(args.y, "y")
    if len(x) != len(y):
        raise ValueError(f"explain: --x has {len(x)} examples but --y has {len(y)}")
    if args.layers:
        sizes = [int(s) for s in args.layers.split(",")]
    else:
        classes = int(y.max()) + 1 if y.shape[1] == 1 and args.loss != "mse" else y.shape[1]
        sizes = [x.shape[1], 2, classes]
    if sizes[0] != x.shape[1]:
        raise ValueError(f"explain: --layers starts with {sizes[0]} inputs but the examples "
                         f"have {x.shape[1]} features")
    y = _targets(y, sizes[-1], args.loss)
    if y.shape[1] != sizes[-1]:
        raise ValueError(f"explain: --layers ends with {sizes[-1]} outputs but --y has "
                         f"{y.shape[1]} columns")
    acts = args.activation.split(",")
    n = len(sizes) - 1
    if len(acts) == 1:
        output = {"cross-entropy": "softmax", "bce": "sigmoid"}.get(args.loss, acts[0])
        acts = [acts[0]] * (n - 1) + [output]
    if len(acts) != n:
        raise ValueError(f"explain: --activation needs 1 or {n} names, got {len(acts)}")
    rng = np.random.default_rng(args.weights_seed)
    layers: list[Any] = []
    for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts, strict=True):
        lin = Linear(n_in, n_out, dtype=np.float64)
        with no_grad():
            lin.weight.copy_(rng.normal(0, 0.5, (n_out, n_in)))
            lin.bias.copy_(rng.normal(0, 0.1, n_out))
        layers += [lin, activation(act)]
    return Sequential(*layers), x, y


def run_explain(args: argparse.Namespace) -> int:
    from chainrule.explain import explain

    if args.steps < 1:
        raise ValueError(f"explain: --steps must be at least 1, got {args.steps}")
    if args.rnn:
        from chainrule.explain.bptt import default_rnn, derive_bptt, render_bptt

        text = render_bptt(derive_bptt(*default_rnn()), args.format)
    else:
        model, x, y = build(args)
        text = explain(model, x, y, args.loss, lr=args.lr, l1=args.l1, l2=args.l2,
                       columns=args.columns, format=args.format, steps=args.steps)
    if args.out:
        from chainrule._io import atomic_write

        with atomic_write(args.out, "w") as f:
            f.write(text)
        print(f"explain: {args.out}")
    else:
        sys.stdout.write(text)
    return 0 if "FAILED" not in text else 1
