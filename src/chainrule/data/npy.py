"""A strict reader for numpy's ``.npy`` format, alone or as members of an ``.npz`` archive:
the header's shape and dtype are checked against the bytes actually there before the
array is allocated (``np.load`` allocates what the header claims first, so a 100-byte
file claiming 60000 x 28 x 28000 asks for 47 GB), and pickled objects are refused.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from chainrule.data.idx import DEFLATE_MAX_RATIO, read_exact

_MAX_HEADER = 10_000  # bytes of a .npy header (numpy's own default limit)


class NpyFormatError(ValueError):
    """A .npy or .npz file is malformed, truncated or holds objects."""


def _header(f: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(f, max_header_size=_MAX_HEADER)
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        raise NpyFormatError(f"{where} is not a .npy array ({e})") from None
    if dtype.hasobject:
        raise NpyFormatError(f"{where} holds Python objects (dtype {dtype}), which are read "
                             f"only by unpickling; expected numbers")
    return shape, fortran, dtype


def read_npy_stream(opener: Callable[[], IO[bytes]], available: int, where: str) -> np.ndarray:
    """The array in the .npy stream ``opener()`` whose data may be at most ``available``
    bytes long (the file's size, or what a zip member can hold)."""
    with opener() as f:
        shape, fortran, dtype = _header(f, where)
        count = math.prod(shape)
        need = count * dtype.itemsize
        if need > available:
            raise NpyFormatError(f"{where}: its header declares shape {shape} of {dtype}, "
                                 f"{need} bytes, but the file holds at most {available}")
        flat = np.empty(count, dtype)
        got = read_exact(f, memoryview(flat.view(np.uint8))) if need else 0
    if got != need:
        raise NpyFormatError(f"{where} is truncated: its header declares shape {shape} of "
                             f"{dtype}, {need} bytes, but only {got} follow")
    return flat.reshape(shape, order="F" if fortran else "C")


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """The array of a .npy file, checked as ``read_npy_stream`` checks."""
    path = Path(path)
    return read_npy_stream(lambda: path.open("rb"), path.stat().st_size, str(path))


def read_npz(path: str | os.PathLike, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an .npz archive; a missing key, a file that is not a zip
    archive, or a malformed member is an NpyFormatError naming the file."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            missing = [k for k in keys if k not in members]
            if missing:
                raise NpyFormatError(f"{path}: missing arrays {missing}; expected keys "
                                     f"{list(keys)}, found {sorted(members)}")
            arrays = {}
            for key in keys:
                info = archive.getinfo(members[key])
                most = info.file_size if info.compress_type == zipfile.ZIP_STORED else min(
                    info.file_size, info.compress_size * DEFLATE_MAX_RATIO)
                arrays[key] = read_npy_stream(lambda i=info: archive.open(i), most,
                                              f"{path} (array {key!r})")
            return arrays
    except zipfile.BadZipFile as e:
        raise NpyFormatError(f"{path} is not an .npz archive (not a zip file: {e})") from None
    except (OSError, EOFError, RuntimeError, NotImplementedError) as e:
        raise NpyFormatError(f"{path}: a corrupt .npz archive ({e})") from None
