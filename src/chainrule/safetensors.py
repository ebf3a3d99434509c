"""The safetensors file format, written and read without pickle and without nn.

A safetensors file is: 8 bytes (little-endian u64) giving the header length N,
N bytes of JSON header, then the raw tensor bytes. The header maps each tensor
name to its dtype, shape and byte range, plus a ``__metadata__`` table of
strings. chainrule writes that format itself (no dependency). A chainrule model
file (``chainrule.nn.serialization.save``) also puts in the metadata:

- ``format``: "chainrule", and the chainrule version;
- ``architecture``: the model as JSON (layer types and constructor arguments), so
  ``load`` rebuilds it without the original script;
- ``metadata``: the caller's JSON (training configuration, metrics, ...);
- ``parameter_order`` and ``sha256`` of every tensor's bytes (``checksums``).
  safetensors itself has no checksum, so without these a flipped byte would load
  silently; ``load_file`` verifies them;
- ``metadata_sha256``: one sha256 over the canonical JSON of every other metadata
  entry (``metadata_digest``): the architecture, the caller's metadata (for a
  trained model its preprocessing, class names and configuration), the tensor
  names and their digests. A changed digit of a stored mean is refused like a
  flipped weight byte. Files written before the digest existed load with a
  ``ModelFileWarning`` (their metadata is unverified; saving them again adds it).

Reading is validation first, allocation second: the header is parsed under explicit
limits (``MAX_HEADER_BYTES``, ``MAX_DEPTH``, ``MAX_TENSORS``, ``MAX_NDIM``,
``MAX_ELEMENTS``) and its byte ranges must tile the data exactly, as the safetensors
library requires (no overlap, no gap, no trailing bytes), so no array is allocated
that the file's own bytes do not back. Every malformed file raises ``ModelFileError``
naming the file and what is wrong.

Every array is written C-contiguous and little-endian (a transposed parameter
is copied first), and every write is atomic.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from chainrule._io import atomic_write

_DTYPES = {
    "F16": np.float16, "F32": np.float32, "F64": np.float64,
    "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64,
    "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}

# What a header may describe. The header limit is the safetensors library's; the others
# are far above any model chainrule trains and far below what would exhaust a machine.
MAX_HEADER_BYTES = 100_000_000
MAX_DEPTH = 64  # JSON nesting, of the header and of the JSON held in its metadata
MAX_TENSORS = 100_000
MAX_NDIM = 32  # dimensions of one tensor (numpy allows 64)
MAX_ELEMENTS = 2**36  # elements of one tensor, and of all of them together
_TENSOR_KEYS = {"dtype", "shape", "data_offsets"}
_JSON_ENTRIES = ("architecture", "metadata", "parameter_order", "sha256")


class ModelFileError(ValueError):
    """The file is not a (complete, uncorrupted) chainrule or safetensors model file."""


class ModelFileWarning(UserWarning):
    """A model file loads but part of it cannot be verified (written by an older chainrule)."""


# -- writing ---------------------------------------------------------------------------------


def save_file(tensors: dict[str, np.ndarray], path: str | os.PathLike,
              metadata: dict[str, str] | None = None) -> None:
    """Write named arrays to ``path`` in the safetensors format, atomically."""
    arrays = OrderedDict()
    for name, value in tensors.items():
        a = np.asarray(getattr(value, "data", value))
        if a.dtype not in _CODES:
            raise TypeError(f"save: tensor {name!r} has dtype {a.dtype}, which safetensors "
                            f"cannot store")
        # contiguous, little-endian bytes; a transposed or strided array is copied here
        # (reshape: ascontiguousarray makes a 0-d array, e.g. a step counter, 1-d)
        arrays[name] = np.ascontiguousarray(a, a.dtype.newbyteorder("<")).reshape(a.shape)
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, a in arrays.items():
        header[name] = {"dtype": _CODES[a.dtype.newbyteorder("=")],
                        "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # pad so the data starts 8-byte aligned
    with atomic_write(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for a in arrays.values():
            f.write(memoryview(a).cast("B") if a.size else b"")


def checksums(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """The metadata entries ``load_file`` verifies for a chainrule file: the tensor names in
    order and the sha256 of each tensor's bytes (both JSON)."""
    return {"parameter_order": json.dumps(list(arrays)),
            "sha256": json.dumps({k: hashlib.sha256(np.ascontiguousarray(v).tobytes())
                                  .hexdigest() for k, v in arrays.items()})}


def metadata_digest(info: dict[str, str]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of every metadata entry but the
    digest itself, the JSON entries (``architecture``, ``metadata``, ...) parsed first, so the
    digest covers their values, not their spelling."""
    canonical = {key: (json.loads(value) if key in _JSON_ENTRIES else value)
                 for key, value in info.items() if key != "metadata_sha256"}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


# -- JSON under limits -------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice")
            seen.add(key)
    return result


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (iteratively: no recursion limit)."""
    if not isinstance(value, dict | list):
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            children = item.values() if isinstance(item, dict) else item
            stack.extend((v, level + 1) for v in children if isinstance(v, dict | list))
    return deepest


def parse_json(text: str | bytes, where: str, what: str, constants: bool = False,
               measure: bool = True) -> Any:
    """``text`` parsed as strict JSON (no repeated keys; ``NaN``/``Infinity`` only if
    ``constants``), nested at most ``MAX_DEPTH`` deep, or a ModelFileError naming ``where``
    (the file) and ``what`` (which part of it). Without ``measure`` only the parser's
    recursion limit bounds the depth (for JSON whose schema is checked after, as deep as
    it allows)."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates,
                           parse_constant=None if constants else _refuse_constant)
    except RecursionError:
        raise ModelFileError(f"{where}: {what} is nested deeper than the limit of {MAX_DEPTH} "
                             f"levels (MAX_DEPTH)") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise ModelFileError(f"{where}: {what} is not valid JSON ({e})") from None
    if measure and _depth(value) > MAX_DEPTH:
        raise ModelFileError(f"{where}: {what} is nested deeper than the limit of {MAX_DEPTH} "
                             f"levels (MAX_DEPTH)")
    return value


# -- reading: the header ----------------------------------------------------------------------


class TensorInfo(NamedTuple):
    """One entry of the tensor table: dtype, shape and byte range [begin, end) of the data."""

    dtype: np.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


class Header(NamedTuple):
    """A checked safetensors header: the tensors in file order, the string metadata, and
    where the data starts in the file."""

    path: Path
    tensors: OrderedDict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int


def read_header(path: str | os.PathLike) -> Header:
    """The header of the safetensors file ``path``, checked against the file's size, without
    reading (or allocating) any tensor data.

    Raises:
        FileNotFoundError: no such file.
        ModelFileError: anything malformed, naming the file, what is wrong and the limit
            broken, if any.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    size = path.stat().st_size
    with path.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ModelFileError(f"{path} is not a model file: it has only {len(prefix)} bytes")
        (n,) = struct.unpack("<Q", prefix)
        if n > MAX_HEADER_BYTES:
            raise ModelFileError(f"{path} is not a chainrule model: its header claims {n} "
                                 f"bytes, over the limit of {MAX_HEADER_BYTES} "
                                 f"(MAX_HEADER_BYTES)")
        if 8 + n > size:
            raise ModelFileError(f"{path} is not a chainrule model or is truncated: its header "
                                 f"claims {n} bytes but the file has {size}")
        raw = f.read(n)
    if not raw.startswith(b"{"):
        raise ModelFileError(f"{path} is not a chainrule model (not a safetensors file: its "
                             f"header does not start with '{{')")
    # the table's schema (checked below) is 3 levels deep: no need to measure
    header = parse_json(raw, str(path), "the header", measure=False)
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} is not a safetensors file (header is not a JSON object)")
    metadata = _string_table(path, header.pop("__metadata__", {}))
    if len(header) > MAX_TENSORS:
        raise ModelFileError(f"{path}: the header lists {len(header)} tensors, over the limit "
                             f"of {MAX_TENSORS} (MAX_TENSORS)")
    tensors = OrderedDict(sorted(((name, _tensor_info(path, name, entry))
                                  for name, entry in header.items()),
                                 key=lambda item: (item[1].begin, item[1].end)))
    _check_tiling(path, tensors, size - 8 - n)
    return Header(path, tensors, metadata, 8 + n)


def _string_table(path: Path, metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFileError(f"{path}: __metadata__ must be a JSON object of strings, got "
                             f"{_kind(metadata)}")
    return metadata


def _kind(value: Any) -> str:
    """What a JSON value is, for messages: 'a list', 'null', 'the string "..."'."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    names = {dict: "an object", list: "a list", bool: "a boolean", int: "an integer",
             float: "a number"}
    return names.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return type(value) is int  # not bool, not float: 1e400 and 2.0 are not sizes


def _tensor_info(path: Path, name: str, entry: Any) -> TensorInfo:
    where = f"{path}: tensor {name!r}"
    if not isinstance(entry, dict) or set(entry) != _TENSOR_KEYS:
        found = sorted(entry) if isinstance(entry, dict) else _kind(entry)
        raise ModelFileError(f"{where} must be an object with exactly the keys dtype, shape "
                             f"and data_offsets, got {found}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in _DTYPES:
        raise ModelFileError(f"{where} has unknown dtype {code!r}; expected one of "
                             f"{', '.join(_DTYPES)}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise ModelFileError(f"{where}: shape must be a list of non-negative integers, got "
                             f"{json.dumps(shape)[:80]}")
    if len(shape) > MAX_NDIM:
        raise ModelFileError(f"{where} has {len(shape)} dimensions, over the limit of "
                             f"{MAX_NDIM} (MAX_NDIM)")
    elements = math.prod(shape)
    if elements > MAX_ELEMENTS or any(d > MAX_ELEMENTS for d in shape):
        raise ModelFileError(f"{where} of shape {tuple(shape)} describes more than "
                             f"{MAX_ELEMENTS} elements, the limit (MAX_ELEMENTS)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
            and 0 <= offsets[0] <= offsets[1]):
        raise ModelFileError(f"{where} has invalid data_offsets {json.dumps(offsets)[:80]}; "
                             f"expected [begin, end] with 0 <= begin <= end")
    dtype = np.dtype(_DTYPES[code])
    begin, end = offsets
    if end - begin != elements * dtype.itemsize:
        raise ModelFileError(f"{where} of shape {tuple(shape)} needs "
                             f"{elements * dtype.itemsize} bytes but its byte range holds "
                             f"{end - begin}")
    return TensorInfo(dtype, tuple(shape), begin, end)


def _check_tiling(path: Path, tensors: OrderedDict[str, TensorInfo], data_bytes: int) -> None:
    """The byte ranges (sorted) must cover the data exactly: no overlap, gap or extra."""
    position, previous = 0, None
    for name, info in tensors.items():
        if info.begin < position:
            raise ModelFileError(f"{path}: the byte ranges of tensors {previous!r} and "
                                 f"{name!r} overlap")
        if info.begin > position:
            raise ModelFileError(f"{path}: a gap of {info.begin - position} unused bytes lies "
                                 f"before tensor {name!r}")
        position, previous = info.end, name
    if position > data_bytes:
        raise ModelFileError(f"{path} is truncated: tensor {previous!r} ends at byte "
                             f"{position} of the data but only {data_bytes} bytes are present")
    if position < data_bytes:
        raise ModelFileError(f"{path}: {data_bytes - position} trailing bytes follow the "
                             f"last tensor")


# -- reading: chainrule metadata and the data -------------------------------------------------


class ChainruleInfo(NamedTuple):
    """The verified metadata of a chainrule model file."""

    sha256: dict[str, str]
    metadata: dict[str, Any]
    architecture: dict[str, Any] | None


def is_chainrule(header: Header) -> bool:
    return header.metadata.get("format") == "chainrule"


def chainrule_info(header: Header) -> ChainruleInfo:
    """The chainrule metadata of ``header``, its digest verified and its types checked: the
    tensor names must be the table's, the caller's metadata a JSON object, the architecture
    (if any) a JSON object."""
    where, info = str(header.path), header.metadata
    for key in ("parameter_order", "sha256"):
        if key not in info:
            raise ModelFileError(f"{where}: the chainrule metadata is damaged ({key} "
                                 f"missing)")
    parsed = {key: parse_json(info[key], where, f"the metadata entry {key!r}",
                              constants=key == "metadata")
              for key in _JSON_ENTRIES if key in info}
    _check_digest(header)
    order, sums = parsed["parameter_order"], parsed["sha256"]
    if not isinstance(order, list) or not all(isinstance(k, str) for k in order):
        raise ModelFileError(f"{where}: parameter_order must be a list of names, got "
                             f"{_kind(order)}")
    if sorted(order) != sorted(header.tensors):
        raise ModelFileError(f"{where}: the file holds tensors {sorted(header.tensors)} but "
                             f"its metadata lists {sorted(order)}")
    if not isinstance(sums, dict) or sorted(sums) != sorted(order) or not all(
            isinstance(v, str) for v in sums.values()):
        raise ModelFileError(f"{where}: sha256 must map each tensor name to its digest")
    for key in ("metadata", "architecture"):
        if key in parsed and not isinstance(parsed[key], dict):
            raise ModelFileError(f"{where}: the metadata entry {key!r} must be a JSON object, "
                                 f"got {_kind(parsed[key])}")
    return ChainruleInfo(sums, parsed.get("metadata", {}), parsed.get("architecture"))


def _check_digest(header: Header) -> None:
    info, where = header.metadata, header.path
    stored = info.get("metadata_sha256")
    if stored is None:
        warnings.warn(f"{where} has no metadata digest (it was saved before chainrule added "
                      f"one): its architecture, preprocessing and class names are not "
                      f"verified; save it again with chainrule.save to add the digest",
                      ModelFileWarning, stacklevel=4)
        return
    if stored != metadata_digest(info):
        raise ModelFileError(f"{where} is corrupt: its metadata (architecture, preprocessing, "
                             f"class names, configuration or tensor digests) does not match "
                             f"the metadata_sha256 stored when it was saved")


def read_tensors(header: Header, sha256: dict[str, str] | None = None
                 ) -> OrderedDict[str, np.ndarray]:
    """The arrays of a checked header, in file order, each checked against ``sha256`` (name
    -> hex digest) when given. Each array is allocated only as the header's byte ranges,
    already checked against the file's size, allow."""
    arrays: OrderedDict[str, np.ndarray] = OrderedDict()
    with header.path.open("rb") as f:
        f.seek(header.data_start)
        for name, info in header.tensors.items():
            arr = np.empty(info.shape, info.dtype.newbyteorder("<"))
            got = f.readinto(memoryview(arr).cast("B")) if arr.nbytes else 0
            if got != arr.nbytes:
                raise ModelFileError(f"{header.path} is truncated: tensor {name!r} has "
                                     f"{got} of its {arr.nbytes} bytes")
            if sha256 is not None and hashlib.sha256(arr).hexdigest() != sha256[name]:
                raise ModelFileError(f"{header.path} is corrupt: the bytes of tensor {name!r} "
                                     f"do not match the sha256 stored when it was saved")
            arrays[name] = arr.astype(info.dtype, copy=False)
    return arrays


def load_file(path: str | os.PathLike) -> tuple[OrderedDict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: (arrays by name in file order, the string metadata).

    Checks the structure (header length, JSON, limits, byte ranges, sizes) and, for
    chainrule files, the metadata digest and each tensor's sha256; refuses anything off
    with a ``ModelFileError`` that says what is wrong.
    """
    header = read_header(path)
    sums = chainrule_info(header).sha256 if is_chainrule(header) else None
    return read_tensors(header, sums), header.metadata


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata saved with a model (training configuration, metrics, ...), verified
    by the file's metadata digest; the tensors are not read."""
    header = read_header(path)
    if not is_chainrule(header):
        return {}
    return chainrule_info(header).metadata
