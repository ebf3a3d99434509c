"""A strict reader for the IDX format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by the raw array:

    magic   4 bytes: 0, 0, type code (0x08 = uint8, ...), number of dimensions d
    sizes   d unsigned 32-bit integers
    data    prod(sizes) items of the type, row-major

So MNIST images have magic 0x00000803 = 2051 (uint8, 3 dims: N x 28 x 28) and
labels 0x00000801 = 2049 (uint8, 1 dim: N). The reader checks every part and
names the file and the expected and found values when something is off: a
truncated download must fail loudly, never train on half a dataset.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# IDX type codes; multi-byte types are stored big-endian.
_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


# deflate (gzip, zip) cannot expand data more than this: a bound on what a compressed file
# can hold, checked before allocating what its header claims
DEFLATE_MAX_RATIO = 1032


class IDXFormatError(ValueError):
    """An IDX file is malformed: wrong magic number, bad header or wrong payload length."""


def _open(path: Path) -> BinaryIO:
    """The file's bytes, decompressed if it is gzip (detected by content, not by name)."""
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f.seek(0)
    return f


def read_exact(f: BinaryIO, out: memoryview) -> int:
    """Fill ``out`` from ``f``; the number of bytes read (less than len(out) at end of file)."""
    filled = 0
    while filled < len(out):
        n = f.readinto(out[filled:])
        if not n:
            break
        filled += n
    return filled


def read_idx(path: str | os.PathLike, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a numpy array.

    Args:
        path: the file.
        magic: the magic number the file must have (``IMAGES_MAGIC`` = 2051 or
            ``LABELS_MAGIC`` = 2049 for MNIST); None accepts any valid IDX type.

    Returns:
        A writable array with the header's shape, in native byte order.

    Raises:
        FileNotFoundError: the file does not exist.
        IDXFormatError: wrong magic number, unknown type, truncated file or trailing
            bytes, or a corrupt gzip stream; the message names the file and what was
            expected and found.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    try:
        with _open(path) as f:
            header = f.read(4)
            if len(header) < 4:
                raise IDXFormatError(f"{path}: not an IDX file: expected a 4-byte magic number, "
                                     f"found only {len(header)} bytes")
            found = struct.unpack(">I", header)[0]
            if magic is not None and found != magic:
                raise IDXFormatError(f"{path}: wrong magic number: expected {magic} "
                                     f"({_describe(magic)}), found {found}")
            zeros, code, ndim = header[:2], header[2], header[3]
            if zeros != b"\0\0" or code not in _TYPES or ndim == 0:
                raise IDXFormatError(f"{path}: not an IDX file: magic number {found} "
                                     f"(0x{found:08x}) has no valid type code and dimension count")
            raw = f.read(4 * ndim)
            if len(raw) < 4 * ndim:
                raise IDXFormatError(f"{path}: truncated header: expected {ndim} dimension "
                                     f"sizes ({4 * ndim} bytes), found {len(raw)} bytes")
            shape = struct.unpack(f">{ndim}I", raw)
            dtype = _TYPES[code]
            expected = math.prod(shape) * dtype.itemsize
            _check_size(path, f, shape, dtype, expected, 4 + 4 * ndim)
            out = np.empty(shape, dtype=dtype)
            got = read_exact(f, memoryview(out).cast("B")) if expected else 0
            if got < expected:
                raise IDXFormatError(f"{path}: truncated data: the header declares shape "
                                     f"{shape} of {dtype.name}, i.e. {expected} bytes after the "
                                     f"header, but the file holds only {got}")
            extra = len(f.read(1 << 16))
            if extra:
                raise IDXFormatError(f"{path}: {extra if extra < 1 << 16 else 'many'} unexpected "
                                     f"bytes after the {expected} data bytes the header "
                                     f"declares (shape {shape})")
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise IDXFormatError(f"{path}: corrupt or truncated gzip stream ({e})") from None
    return out.astype(dtype.newbyteorder("="), copy=False)


def _check_size(path: Path, f: BinaryIO, shape: tuple[int, ...], dtype: np.dtype,
                expected: int, header: int) -> None:
    """Refuse a header whose shape needs more bytes than the file can hold, before the array
    is allocated: a plain file's size is known, and a gzip file can hold at most
    ``DEFLATE_MAX_RATIO`` times its size."""
    size = path.stat().st_size
    if isinstance(f, gzip.GzipFile):
        if expected > size * DEFLATE_MAX_RATIO:
            raise IDXFormatError(f"{path}: the header declares shape {shape} of {dtype.name}, "
                                 f"i.e. {expected} bytes, more than a {size}-byte gzip file "
                                 f"can hold (deflate expands at most {DEFLATE_MAX_RATIO}x)")
    elif expected > size - header:
        raise IDXFormatError(f"{path}: truncated data: the header declares shape {shape} of "
                             f"{dtype.name}, i.e. {expected} bytes after the header, but the "
                             f"file holds only {size - header}")


def _describe(magic: int) -> str:
    return {IMAGES_MAGIC: "IDX images: uint8, 3 dimensions",
            LABELS_MAGIC: "IDX labels: uint8, 1 dimension"}.get(magic, f"0x{magic:08x}")
