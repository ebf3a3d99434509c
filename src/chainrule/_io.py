"""Atomic file writes: a crash or an error mid-write never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it over ``path`` at the end.

    The rename is atomic on POSIX and Windows, so readers see either the old file
    or the complete new one. On an exception the temporary file is removed and
    the old file is left untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_or_print(text: str, path: str | os.PathLike | None, label: str) -> None:
    """The commands' output: to ``path`` atomically (then say "label: path"), or to
    stdout when no path is given."""
    import sys

    if path:
        with atomic_write(path, "w") as f:
            f.write(text)
        print(f"{label}: {path}")
    else:
        sys.stdout.write(text)
