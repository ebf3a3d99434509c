"""``chainrule check FILE``: check a learner's hand-written numpy backprop against the true
gradients (``chainrule.check_backprop``; the protocol is in docs/check.md).

Exit status: 0 every quantity correct, 1 something wrong, 2 a file check cannot use (one
line on stderr saying why).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli.common import EXIT_FAILED, EXIT_OK


def add_parser(sub: Any) -> None:
    from chainrule.explainer.messages import LANGUAGES

    p = sub.add_parser("check", help="check a hand-written numpy backprop: every gradient "
                                     "right or wrong, the first mistake named",
                       description="Check a learner's numpy forward and backward pass against "
                                   "chainrule's autograd and central differences, name the "
                                   "first wrong quantity and the mistake that explains it.")
    p.add_argument("file", metavar="FILE",
                   help="a Python file (numpy only) with forward, backward, cost, the weights "
                        "and the examples; see docs/check.md")
    layout = p.add_mutually_exclusive_group()
    layout.add_argument("--columns", action="store_true",
                        help="the examples are the columns of X (default: from the shapes)")
    layout.add_argument("--rows", action="store_true",
                        help="the examples are the rows of X (default: from the shapes)")
    p.add_argument("--format", default="text", choices=["text", "markdown", "html"])
    p.add_argument("--lang", default="en", choices=LANGUAGES,
                   help="the language of the report (zh: Simplified Chinese)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the file and print the report; a file it cannot use raises CheckFileError (a
    ValueError: one line, exit 2)."""
    from chainrule.explainer.check import check_backprop

    layout = "columns" if args.columns else "rows" if args.rows else None
    report = check_backprop(args.file, layout=layout, lang=args.lang)
    sys.stdout.write(report.render(args.format))
    return EXIT_OK if report.all_ok else EXIT_FAILED
