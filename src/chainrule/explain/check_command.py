"""``chainrule check FILE``: the arguments and the run, for the command line to register
(``add_arguments(parser)`` on the command's subparser, then ``run(args)``).

Exit status: 0 every quantity correct, 1 something wrong, 2 a file check cannot use
(one line on stderr saying why).
"""

from __future__ import annotations

import argparse
import sys

from chainrule.explain.check_render import LANGUAGES

EXIT_OK, EXIT_WRONG, EXIT_UNUSABLE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE",
                        help="a Python file (numpy only) with forward, backward, cost, the "
                             "weights and the examples; see docs/check.md")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--columns", action="store_true",
                        help="the examples are the columns of X (default: from the shapes)")
    layout.add_argument("--rows", action="store_true",
                        help="the examples are the rows of X (default: from the shapes)")
    parser.add_argument("--format", default="text", choices=["text", "markdown", "html"])
    parser.add_argument("--lang", default="en", choices=list(LANGUAGES),
                        help="the language of the report")


def run(args: argparse.Namespace) -> int:
    """Check the file and print the report; the exit status says what it found."""
    from chainrule.explain.check import check_backprop
    from chainrule.explain.check_load import CheckFileError

    layout = "columns" if args.columns else "rows" if args.rows else None
    try:
        report = check_backprop(args.file, layout=layout, lang=args.lang)
    except CheckFileError as e:
        print(f"chainrule check: {e}", file=sys.stderr)
        return EXIT_UNUSABLE
    sys.stdout.write(report.render(args.format))
    return EXIT_OK if report.all_ok else EXIT_WRONG


def main(argv: list[str] | None = None) -> int:
    """``python -m chainrule.explain.check_command FILE``, until the command line registers
    the command."""
    parser = argparse.ArgumentParser(prog="chainrule check")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
