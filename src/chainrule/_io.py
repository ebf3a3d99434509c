"""Atomic file writes: a crash or an error mid-write never leaves a half-written file."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_STALE_SECONDS = 600  # a temporary file untouched this long belongs to a killed writer


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it over ``path`` at the end.

    The rename is atomic on POSIX and Windows, so readers see either the old file
    or the complete new one. On an exception the temporary file is removed and
    the old file is left untouched. The file gets the mode any other tool would give
    it (the old file's, else 0666 less the umask: mkstemp's 0600 would otherwise survive
    the rename), and temporaries of ``path`` that a killed writer left are removed.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    remove_stale_temporaries(path)


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
        os.umask(mask)
        return 0o666 & ~mask


def remove_stale_temporaries(path: str | os.PathLike) -> None:
    """Remove the temporary files of ``atomic_write(path)`` left by a killed writer: those
    not modified for ``_STALE_SECONDS`` (a live writer's file is being written to)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    now = time.time()
    for tmp in directory.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > _STALE_SECONDS:
                tmp.unlink()


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
