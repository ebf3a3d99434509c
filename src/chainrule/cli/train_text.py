"""``chainrule train-text``: a character-level language model trained by BPTT."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli.common import EXIT_OK, THREADS_HELP, positive_int


def add_parser(sub: Any) -> None:
    from chainrule.train.text import TextConfig

    d = TextConfig("")
    p = sub.add_parser("train-text", help="train a character-level language model (BPTT)",
                       description="Train a character-level recurrent language model on a "
                                   "text file by truncated backpropagation through time, "
                                   "printing sampled text as it learns.")
    p.add_argument("path", help="a UTF-8 text file, e.g. tinyshakespeare.txt")
    p.add_argument("--cell", default=d.cell, choices=["lstm", "gru", "rnn"])
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--embedding", type=int, default=d.embedding)
    p.add_argument("--seq-len", type=int, default=d.seq_len, help="BPTT length (characters)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--clip", type=float, default=d.clip,
                   help=f"clip the gradients' joint norm to this (default {d.clip}); 0: no "
                        f"clipping")
    p.add_argument("--sample-every", type=int, default=d.sample_every)
    p.add_argument("--sample-length", type=int, default=d.sample_length)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=None, help="output directory (default runs/text-<time>)")
    p.add_argument("--threads", type=positive_int, default=None, help=THREADS_HELP)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainrule.train.text import TextConfig, train_text

    values = {k: v for k, v in vars(args).items() if k not in ("command", "quiet", "func")}
    # train_text checks every option before it reads the corpus or creates --out
    result = train_text(TextConfig(**values), progress=not args.quiet, log=sys.stdout)
    h = result["history"]
    print(f"final loss {h['loss'][-1]:.4f}, validation loss {h['val_loss'][-1]:.4f} "
          f"({result['seconds']:.1f} s)")
    for label, path in result["files"].items():
        print(f"{label + ':':9}{path}")
    return EXIT_OK
