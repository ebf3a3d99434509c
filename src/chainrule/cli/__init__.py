"""The ``chainrule`` command: parse arguments, call the library, report.

One module per command (``chainrule.cli.train``, ``evaluate``, ``predict``,
``train_text``, ``sample``, ``explain``, ``check``, ``graph``), each with
``add_parser(subparsers)``, which
registers its ``run(args) -> exit code`` with ``set_defaults(func=run)``. Adding a
command is one such module and one line in ``COMMANDS``.

Bad input ends with one line on stderr ("chainrule: error: ...") and exit code 2
(bad options or data) or 1 (training diverged, or the ranks of a distributed run
ended with different weights); never a traceback. In a distributed run, an error that
every rank finds alike is printed once, by rank 0, and every rank exits with its code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from chainrule.cli import check, evaluate, explain, graph, predict, sample, train, train_text
from chainrule.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    UsageError,
)

# in the order of --help
COMMANDS = (train, evaluate, train_text, sample, explain, check, graph, predict)

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def build_parser() -> Parser:
    parser = Parser(
        prog="chainrule", description="Train neural networks by backpropagation and see how "
                                      "it works.")
    parser.add_argument("--version", action=_Version, nargs=0, default=argparse.SUPPRESS,
                        help="print chainrule's version and the library doing the matrix "
                             "products, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.commands = sub.choices
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def version_text() -> str:
    """What ``chainrule --version`` prints: the version, then numpy's and which library runs
    the matrix products (``chainrule.backend.blas_info``: a cached verdict, so cheap)."""
    import chainrule
    from chainrule.backend import blas_info

    info = blas_info()
    return (f"chainrule {chainrule.__version__}\n"
            f"numpy {info['numpy']}; matrix products: {info['blas']} ({info['reason']})")


class _Version(argparse.Action):
    """--version, computed only when asked for (argparse's version action would format
    it at every start)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object
                 ) -> None:
        print(version_text())
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # argparse would blame the main parser; the command's --help lists them
            command = parser.commands[args.command]
            command.error(f"unrecognized arguments: {' '.join(unknown)}"
                          f"{_suggest_option(unknown, command)}")
    except UsageError as e:
        if not _another_rank_reports(argv):
            print(e, file=sys.stderr)
        return EXIT_USAGE
    # Keep freed arrays for reuse in this process (chainrule/memory.py says why and what it
    # measured): the library leaves the allocator alone, the command opts in.
    from chainrule.memory import tune_allocator_unless_disabled

    tune_allocator_unless_disabled()
    return _run(args)


def _suggest_option(unknown: list[str], command: argparse.ArgumentParser) -> str:
    """"; did you mean --activation?" for the first unknown option close to a real one."""
    from chainrule._suggest import did_you_mean

    # compared without the leading "--", which every option shares ("--bogus" is not
    # close to "--out")
    names = [s[2:] for action in command._actions for s in action.option_strings
             if s.startswith("--")]
    for word in unknown:
        if word.startswith("--"):
            hint = did_you_mean(word[2:].split("=", 1)[0], names, "--{}")
            if hint:
                return hint
    return ""


def _run(args: argparse.Namespace) -> int:
    """The command's exit code, its errors reported as one line (see the module docstring)."""
    import numpy as np

    from chainrule.distributed.collectives import DistributedError
    from chainrule.distributed.context import DistributedUnavailable
    from chainrule.serialization import ModelFileError
    from chainrule.train.step import TrainingDiverged

    try:
        # A diverging run overflows before its loss turns NaN, and numpy would print a
        # RuntimeWarning per overflow before the one error line. The library checks the
        # loss and weights itself (TrainingDiverged), so the warnings add nothing here.
        with np.errstate(all="ignore"):
            return args.func(args)
    except TrainingDiverged as e:
        return _report(e, EXIT_FAILED)
    except DistributedError as e:
        # ranks given different data or settings (also a ValueError): bad input; ranks whose
        # weights differ after training: a failed run, like a diverged one
        return _report(e, EXIT_USAGE if isinstance(e, ValueError) else EXIT_FAILED)
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return EXIT_OK
    except (ValueError, KeyError, TypeError, OSError, ModelFileError,
            DistributedUnavailable) as e:
        return _report(e, EXIT_USAGE)
    except KeyboardInterrupt as e:  # Ctrl-C; training says what it saved (TrainingInterrupted)
        print(f"chainrule: {e or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _another_rank_reports(argv: list[str]) -> bool:
    """Whether this process is a rank other than 0 of an MPI launch of a --distributed
    command, whose ranks all parse the same command line: rank 0 reports its errors."""
    if "--distributed" not in argv:
        return False
    from chainrule.distributed import DistributedUnavailable, init

    try:
        return not init().is_main
    except DistributedUnavailable:  # several processes but no MPI: each one says so
        return False


def _report(error: Exception, code: int) -> int:
    """Print "chainrule: error: <error>" and return the exit code ``code``. An error that
    every rank of a distributed run raised alike (``raised_on_every_rank``) is printed by
    rank 0 alone; the other ranks exit with the same code."""
    from chainrule.distributed.collectives import is_raised_on_every_rank

    if is_raised_on_every_rank(error):
        from chainrule.distributed import init

        if not init().is_main:  # marked errors come from a run that joined already
            return code
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    print(f"chainrule: error: {message}", file=sys.stderr)
    return code
