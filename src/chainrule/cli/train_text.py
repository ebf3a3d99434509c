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
    p.add_argument("--cell", default=d.cell, choices=["lstm", "gru", "rnn"],
                   help=f"recurrent cell (default {d.cell})")
    p.add_argument("--hidden", type=int, default=d.hidden,
                   help=f"hidden units per recurrent layer (default {d.hidden})")
    p.add_argument("--layers", type=int, default=d.layers,
                   help=f"stacked recurrent layers (default {d.layers})")
    p.add_argument("--embedding", type=int, default=d.embedding,
                   help=f"size of each character's embedding vector (default {d.embedding})")
    p.add_argument("--seq-len", type=int, default=d.seq_len,
                   help=f"BPTT length: characters per step, backpropagated through "
                        f"(default {d.seq_len})")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help=f"parallel streams the text is cut into, one sequence each per "
                        f"step (default {d.batch_size})")
    p.add_argument("--steps", type=int, default=d.steps,
                   help=f"training steps (default {d.steps}); the streams start over when "
                        f"they reach the end of the text")
    p.add_argument("--lr", type=float, default=d.lr,
                   help=f"Adam's learning rate (default {d.lr:g})")
    p.add_argument("--clip", type=float, default=d.clip,
                   help=f"clip the gradients' joint norm to this (default {d.clip}); 0: no "
                        f"clipping")
    p.add_argument("--sample-every", type=int, default=d.sample_every,
                   help=f"every this many steps, measure the validation loss and print "
                        f"sampled text (default {d.sample_every})")
    p.add_argument("--sample-length", type=int, default=d.sample_length,
                   help=f"characters per sample (default {d.sample_length})")
    p.add_argument("--temperature", type=float, default=d.temperature,
                   help=f"sampling temperature: below 1 safer, above 1 more varied text "
                        f"(default {d.temperature:g})")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="random seed of the weights and the samples (same seed, same run)")
    p.add_argument("--out", default=None, help="output directory (default runs/text-<time>)")
    p.add_argument("--threads", type=positive_int, default=None, help=THREADS_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress or sample output")
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
