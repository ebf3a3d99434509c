"""``chainrule graph``: the computational graph of an expression, with values and
gradients."""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli.common import EXIT_OK


def add_parser(sub: Any) -> None:
    p = sub.add_parser("graph", help="draw the computational graph of an expression with "
                                     "every value and gradient",
                       description="Draw the computational graph of an expression over named "
                                   "values, with each node's value and each edge's gradient "
                                   "(upstream gradient times local derivative).")
    p.add_argument("expression", help='e.g. "(x + y) * z" or "sigmoid(w0*x0 + w1*x1 + w2)"')
    p.add_argument("--values", default="", help="x=-2,y=5,z=-4 (lists allowed: w=[1,2,3])")
    p.add_argument("--format", default="svg", choices=["svg", "png", "dot", "text", "html"],
                   help="svg and png need Graphviz's dot; html is an interactive page that steps "
                        "through the forward and backward pass; text needs nothing")
    p.add_argument("--out", help="output file (default graph.svg or graph.png; text and dot "
                                 "print to standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainrule.viz.expression import evaluate, parse, parse_values
    from chainrule.viz.graph import draw_graph

    out, leaves = evaluate(parse(args.expression), parse_values(args.values))
    if args.format in ("text", "dot") and not args.out:  # sources print, for a pipe
        text = draw_graph(out, args.format, names=leaves)
        print(text.rstrip("\n"))
        return EXIT_OK
    path = args.out or f"graph.{args.format}"
    draw_graph(out, args.format, path, names=leaves)
    print(f"graph: {path}")
    return EXIT_OK
