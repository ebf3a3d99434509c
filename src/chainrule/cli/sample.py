"""``chainrule sample``: generate text from a model saved by ``chainrule train-text``."""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli.common import EXIT_OK


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sample", help="generate text from a saved text model",
                       description="Generate text from a model saved by chainrule "
                                   "train-text: items (names, words) from a model of one "
                                   "item a line, or characters from a model of one stream.")
    p.add_argument("model", help="a model.safetensors written by chainrule train-text")
    p.add_argument("--n", type=int, default=20, help="how many samples (default 20)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="divide the logits by this: below 1 safer, above 1 more varied "
                        "(default 1)")
    p.add_argument("--top-k", type=int, default=None,
                   help="draw only from the k most likely next characters (default: all)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (same seed, same samples; default: fresh)")
    p.add_argument("--prime", default="",
                   help="the text every sample starts with (default: none)")
    p.add_argument("--block-size", type=int, default=None,
                   help="context the model sees, at most its trained block size (default: "
                        "the trained one)")
    p.add_argument("--length", type=int, default=200,
                   help="characters per sample of a model of one stream (default 200)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainrule.train.language import sample_file

    samples = sample_file(args.model, args.n, args.temperature, args.top_k, args.seed,
                          args.prime, args.block_size, args.length)
    for text in samples:
        print(text)
    return EXIT_OK
