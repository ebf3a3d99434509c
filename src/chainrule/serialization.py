"""Saving and loading models in the safetensors format, without pickle.

A safetensors file is: 8 bytes (little-endian u64) giving the header length N,
N bytes of JSON header, then the raw tensor bytes. The header maps each tensor
name to its dtype, shape and byte range, plus a ``__metadata__`` table of
strings. chainrule writes that format itself (no dependency) and puts in the
metadata:

- ``format``: "chainrule", and the chainrule version;
- ``architecture``: the model as JSON (layer types and constructor arguments), so
  ``load`` rebuilds it without the original script;
- ``metadata``: the caller's JSON (training configuration, metrics, ...);
- ``parameter_order`` and ``sha256`` of every tensor's bytes. safetensors itself
  has no checksum, so without these a flipped byte would load silently.

Every array is written C-contiguous and little-endian (a transposed parameter
is copied first), and every write is atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule._io import atomic_write

if TYPE_CHECKING:
    from chainrule.nn.module import Module

_DTYPES = {
    "F16": np.float16, "F32": np.float32, "F64": np.float64,
    "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64,
    "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 2**20  # a sane bound: refuse to parse a "header" of gigabytes


class ModelFileError(ValueError):
    """The file is not a (complete, uncorrupted) chainrule or safetensors model file."""


# -- the architecture as JSON ----------------------------------------------------------

_REGISTRY: dict[str, type[Module]] = {}


def register_module(cls: type[Module]) -> type[Module]:
    """Make a Module class rebuildable by ``load`` (usable as a class decorator).

    The class must list its constructor arguments in ``config_fields`` (or
    override ``extra_config``).
    """
    _REGISTRY[cls.__name__] = cls
    return cls


def _register_builtin() -> None:
    import chainrule.nn as nn

    for name in nn.__all__:
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module):
            _REGISTRY.setdefault(name, obj)


def architecture(model: Module) -> dict[str, Any] | None:
    """The model as a JSON-ready dict, or None if some part cannot be rebuilt by name."""
    from chainrule.nn.container import Sequential

    if isinstance(model, Sequential):
        layers = [architecture(m) for m in model]
        if any(spec is None for spec in layers):
            return None
        return {"type": "Sequential", "layers": layers}
    # a module with a config rebuilds its own children in its constructor
    config = model.extra_config()
    if config is None:
        return None
    return {"type": type(model).__name__, "config": config}


def build(spec: dict[str, Any]) -> Module:
    """Rebuild a model from ``architecture(model)``."""
    from chainrule.nn.container import Sequential

    if not _REGISTRY:
        _register_builtin()
    kind = spec.get("type")
    if kind == "Sequential":
        return Sequential(*(build(s) for s in spec.get("layers", [])))
    cls = _REGISTRY.get(kind)
    if cls is None:
        raise ModelFileError(f"the model uses a layer type {kind!r} that chainrule does not "
                             f"know; register it with chainrule.register_module, or pass an "
                             f"instance: chainrule.load(path, model=MyModel())")
    return cls(**spec.get("config", {}))


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
        arrays[name] = np.ascontiguousarray(a, a.dtype.newbyteorder("<"))
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


def save(model: Module | dict[str, Any], path: str | os.PathLike,
         metadata: dict[str, Any] | None = None) -> None:
    """Save ``model``'s parameters and buffers, its architecture and ``metadata`` (JSON).

    ``model`` may also be a state dict (``model.state_dict()``, as people write with
    ``torch.save``): then only the weights are saved, and ``load(path)`` returns them
    as a dict for ``model.load_state_dict``. The write is atomic: if anything fails, a
    previous file at ``path`` is intact.
    """
    from chainrule import __version__

    weights_only = isinstance(model, dict)
    items = (model if weights_only else model.state_dict()).items()
    state = OrderedDict((k, np.ascontiguousarray(getattr(v, "data", v))) for k, v in items)
    info = {
        "format": "chainrule",
        "chainrule_version": __version__,
        "parameter_order": json.dumps(list(state)),
        "sha256": json.dumps({k: hashlib.sha256(v.tobytes()).hexdigest()
                              for k, v in state.items()}),
        "metadata": json.dumps(metadata or {}),
    }
    spec = None if weights_only else architecture(model)
    if weights_only:
        info["content"] = "state_dict"
    if spec is not None:
        info["architecture"] = json.dumps(spec)
    save_file(state, path, info)


# -- reading ----------------------------------------------------------------------------------


def load_file(path: str | os.PathLike) -> tuple[OrderedDict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: (arrays by name in file order, the string metadata).

    Checks the structure (header length, JSON, byte ranges, sizes) and, for
    chainrule files, each tensor's sha256; refuses anything off with a
    ``ModelFileError`` that says what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    blob = path.read_bytes()
    where = f"{path}"
    if len(blob) < 8:
        raise ModelFileError(f"{where} is not a model file: it has only {len(blob)} bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise ModelFileError(f"{where} is not a chainrule model or is truncated: its header "
                             f"claims {n} bytes but the file has {len(blob)}")
    try:
        header = json.loads(blob[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{where} is not a chainrule model (not a safetensors file: "
                             f"its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{where} is not a safetensors file (header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + n:]
    arrays: OrderedDict[str, np.ndarray] = OrderedDict()
    entries = sorted(header.items(), key=lambda kv: _offsets(where, kv[0], kv[1])[0])
    for name, entry in entries:
        begin, end = _offsets(where, name, entry)
        dtype = _DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise ModelFileError(f"{where}: tensor {name!r} has unknown dtype "
                                 f"{entry.get('dtype')!r}")
        shape = tuple(int(s) for s in entry.get("shape", []))
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if end - begin != expected:
            raise ModelFileError(f"{where}: tensor {name!r} of shape {shape} needs {expected} "
                                 f"bytes but its byte range holds {end - begin}")
        if end > len(data):
            raise ModelFileError(f"{where} is truncated: tensor {name!r} ends at byte {end} of "
                                 f"the data but only {len(data)} bytes are present")
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(dtype).newbyteorder("<"))
        arrays[name] = arr.astype(np.dtype(dtype), copy=True).reshape(shape)
    if metadata.get("format") == "chainrule":
        _verify(where, arrays, metadata)
    return arrays, metadata


def _offsets(where: str, name: str, entry: Any) -> tuple[int, int]:
    try:
        begin, end = (int(v) for v in entry["data_offsets"])
    except (TypeError, KeyError, ValueError):
        raise ModelFileError(f"{where}: tensor {name!r} has no valid data_offsets") from None
    if not 0 <= begin <= end:
        raise ModelFileError(f"{where}: tensor {name!r} has invalid byte range [{begin}, {end})")
    return begin, end


def _verify(where: str, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    try:
        order = json.loads(metadata["parameter_order"])
        sums = json.loads(metadata["sha256"])
    except (KeyError, json.JSONDecodeError):
        raise ModelFileError(f"{where}: the chainrule metadata is damaged (parameter_order or "
                             f"sha256 missing)") from None
    if sorted(order) != sorted(arrays):
        raise ModelFileError(f"{where}: the file holds tensors {sorted(arrays)} but its "
                             f"metadata lists {sorted(order)}")
    for name in order:
        if hashlib.sha256(arrays[name].tobytes()).hexdigest() != sums.get(name):
            raise ModelFileError(f"{where} is corrupt: the bytes of tensor {name!r} do not "
                                 f"match the sha256 stored when it was saved")


def load(path: str | os.PathLike, model: Module | None = None
         ) -> Module | OrderedDict[str, np.ndarray]:
    """Load a model saved by ``save`` (or, for a saved state dict, return that dict).

    Without ``model`` the network is rebuilt from the file's architecture; with it,
    the weights are loaded into the given instance (which also accepts plain
    safetensors files, e.g. weights exported from PyTorch with matching names).
    The saved metadata is available as ``model.metadata``.
    """
    arrays, info = load_file(path)
    if model is None and info.get("content") == "state_dict":
        return arrays
    if model is None:
        if info.get("format") != "chainrule":
            raise ModelFileError(f"{path} is a safetensors file but not a chainrule model; to "
                                 f"load its weights, pass a model: chainrule.load(path, model)")
        if "architecture" not in info:
            raise ModelFileError(f"{path} was saved from a model chainrule cannot rebuild by "
                                 f"name; pass an instance: chainrule.load(path, model=...)")
        model = build(json.loads(info["architecture"]))
    model.load_state_dict(arrays)
    object.__setattr__(model, "metadata", json.loads(info.get("metadata", "{}")))
    return model


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata saved with a model (training configuration, metrics, ...)."""
    _, info = load_file(path)
    return json.loads(info.get("metadata", "{}"))
