"""``chainrule train-text``: a character-level language model trained by BPTT."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli.common import EXIT_OK, THREADS_HELP, positive_int


def add_parser(sub: Any) -> None:
    from chainrule.train.text import CHAR_RNN_CLIP, CHAR_RNN_LR, ZOO_LR, TextConfig
    from chainrule.train.zoo import MODELS

    d = TextConfig("")
    p = sub.add_parser("train-text", help="train a character-level language model",
                       description="Train a character-level language model on a text file: "
                                   "a recurrent net on one stream by truncated "
                                   "backpropagation through time, or (--model) one of "
                                   "makemore's models on one item a line, printing "
                                   "sampled text as it learns.")
    p.add_argument("path", help="a UTF-8 text file, e.g. tinyshakespeare.txt or names.txt")
    p.add_argument("--model", default=None, choices=MODELS,
                   help="makemore's model zoo: bigram, mlp, rnn, gru, lstm, bow or "
                        "transformer (default: the char-RNN of --cell on one stream)")
    lines = p.add_mutually_exclusive_group()
    lines.add_argument("--lines", action="store_const", const=True, dest="lines",
                       default=None, help="one item a line, with a start/end token (the "
                                          "default for a --model when every line is short)")
    lines.add_argument("--stream", action="store_const", const=False, dest="lines",
                       help="the text as one stream of characters, even of short lines")
    p.add_argument("--n-layer", type=int, default=d.n_layer,
                   help=f"Transformer blocks or LSTM layers (default {d.n_layer})")
    p.add_argument("--n-head", type=int, default=d.n_head,
                   help=f"attention heads of the transformer (default {d.n_head})")
    p.add_argument("--n-embd", type=int, default=d.n_embd,
                   help=f"channels of the embeddings (default {d.n_embd})")
    p.add_argument("--n-embd2", type=int, default=d.n_embd2,
                   help=f"hidden units of the mlp, rnn, gru, lstm and bow (default "
                        f"{d.n_embd2})")
    p.add_argument("--block-size", type=int, default=None,
                   help="context length of a --model (default: the longest item + 1, or "
                        "--seq-len on one stream)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help=f"AdamW's weight decay of a --model (default {d.weight_decay:g})")
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
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {CHAR_RNN_LR:g} for the char-RNN's Adam, "
                        f"{ZOO_LR:g} for a --model's AdamW)")
    p.add_argument("--clip", type=float, default=None,
                   help=f"clip the gradients' joint norm to this (default {CHAR_RNN_CLIP:g} "
                        f"for the char-RNN, none for a --model); 0: no clipping")
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
    if "test_loss" in result:
        print(f"final loss {h['loss'][-1]:.4f}, test loss {result['test_loss']:.4f} nats per "
              f"character ({result['seconds']:.1f} s)")
    else:
        print(f"final loss {h['loss'][-1]:.4f}, validation loss {h['val_loss'][-1]:.4f} "
              f"({result['seconds']:.1f} s)")
    for label, path in result["files"].items():
        print(f"{label + ':':9}{path}")
    return EXIT_OK
