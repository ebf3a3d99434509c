"""What the command modules share: exit codes, the parser class, argument types."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C

THREADS_HELP = ("threads for numpy's matrix products (default: the BLAS default, usually one "
                "per core); 1 is faster when the cores are shared")


class UsageError(Exception):
    """A bad command line, as the one line to print."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option ends like every other error of the command: one line on
    stderr and exit code 2 (argparse's default prints the whole usage first), reported by
    ``main``. Subparsers are of the same class, since add_subparsers makes them of its
    parser's type."""

    commands: dict[str, argparse.ArgumentParser]  # set on the main parser: name -> subparser

    def error(self, message: str) -> NoReturn:
        root = self.prog.split()[0]  # the prog of "chainrule train" is "chainrule train"
        one_line = " ".join(message.split()) + _choice_hint(message)
        raise UsageError(f"{root}: error: {one_line} (see {self.prog} --help)")


def _choice_hint(message: str) -> str:
    """"; did you mean lstm?" for argparse's "invalid choice: 'lstn' (choose from ...)"."""
    import re

    from chainrule._suggest import did_you_mean

    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not found:
        return ""
    return did_you_mean(found[1], re.findall(r"'([^']*)'", found[2]))


def int_list(text: str) -> list[int]:
    """An argparse type: layer sizes "64,128,10", parsed as a config file's are."""
    from chainrule.train.config import parse_sizes

    try:
        return parse_sizes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def load_trained(path: str) -> tuple[Any, dict[str, Any]]:
    """A model written by ``chainrule train`` and its metadata (classes, preprocessing)."""
    import chainrule
    from chainrule.train.run import check_trained_metadata

    model = chainrule.load(path)
    meta = getattr(model, "metadata", {})
    if "classes" not in meta:
        raise ValueError(f"{path} is a chainrule model but not one written by 'chainrule train' "
                         f"(its metadata has no class names or preprocessing)")
    check_trained_metadata(meta, path)
    return model, meta
