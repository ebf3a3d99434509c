"""Saving and loading models: a network's weights, architecture and metadata in one file.

The file is safetensors (``chainrule.safetensors``: the format, its checksums and
its errors); this module adds what needs ``nn``: the architecture as JSON, so
``load`` rebuilds a saved network by layer type without the original script, and
the registry of the Module classes it can rebuild by name.

``load`` validates the whole file before building anything: the header and its limits,
the metadata digest, and the tensors the architecture asks for against the file's
tensor table (``chainrule.nn.state_shapes``); only then does it read the tensor bytes
(checking each sha256) and construct the network. Every malformed file raises
``ModelFileError``.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule._version import __version__
from chainrule.nn.container import Sequential
from chainrule.nn.state_shapes import check_spec, match_tensors
from chainrule.safetensors import (
    ModelFileError,
    chainrule_info,
    checksums,
    is_chainrule,
    metadata_digest,
    read_header,
    read_tensors,
    save_file,
)

if TYPE_CHECKING:
    from chainrule.nn.module import Module

# -- the architecture as JSON ----------------------------------------------------------

_REGISTRY: dict[str, type[Module]] = {}
_BUILTINS_REGISTERED = False  # the built-in layers join on the first build, whatever came first


def register_module(cls: type[Module]) -> type[Module]:
    """Make a Module class rebuildable by ``load`` (usable as a class decorator).

    The class must list its constructor arguments in ``config_fields`` (or
    override ``extra_config``).
    """
    _REGISTRY[cls.__name__] = cls
    return cls


def _register_builtin() -> None:
    global _BUILTINS_REGISTERED
    import chainrule.nn as nn

    _BUILTINS_REGISTERED = True
    for name in nn.__all__:
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module):
            _REGISTRY.setdefault(name, obj)


def architecture(model: Module) -> dict[str, Any] | None:
    """The model as a JSON-ready dict, or None if some part cannot be rebuilt by name."""
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
    """Rebuild a model from ``architecture(model)``; a malformed ``spec`` (unknown layer
    type, wrong JSON types, arguments its constructor refuses) is a ModelFileError."""
    if not _BUILTINS_REGISTERED:  # (a user's register_module may have filled the table first)
        _register_builtin()
    check_spec(spec)
    kind = spec["type"]
    if kind == "Sequential":
        return Sequential(*(build(s) for s in spec.get("layers", [])))
    cls = _REGISTRY.get(kind)
    if cls is None:
        raise ModelFileError(f"the model uses a layer type {kind!r} that chainrule does not "
                             f"know; register it with chainrule.register_module, or pass an "
                             f"instance: chainrule.load(path, model=MyModel())")
    config = spec.get("config", {})
    try:
        return cls(**config)
    except (TypeError, ValueError, OverflowError) as e:
        raise ModelFileError(f"the architecture's {kind}({_arguments(config)}) cannot be "
                             f"built: {e}") from None


def _arguments(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in config.items())[:200]


# -- saving and loading ---------------------------------------------------------------


def save(model: Module | dict[str, Any], path: str | os.PathLike,
         metadata: dict[str, Any] | None = None) -> None:
    """Save ``model``'s parameters and buffers, its architecture and ``metadata`` (JSON).

    ``model`` may also be a state dict (``model.state_dict()``, as people write with
    ``torch.save``): then only the weights are saved, and ``load(path)`` returns them
    as a dict for ``model.load_state_dict``. The write is atomic: if anything fails, a
    previous file at ``path`` is intact.
    """
    weights_only = isinstance(model, dict)
    items = (model if weights_only else model.state_dict()).items()
    state = OrderedDict((k, np.ascontiguousarray(a).reshape(a.shape))  # keeps 0-d buffers 0-d
                        for k, a in ((k, np.asarray(getattr(v, "data", v))) for k, v in items))
    info = {
        "format": "chainrule",
        "chainrule_version": __version__,
        **checksums(state),
        "metadata": json.dumps(metadata or {}),
    }
    spec = None if weights_only else architecture(model)
    if weights_only:
        info["content"] = "state_dict"
    if spec is not None:
        info["architecture"] = json.dumps(spec)
    info["metadata_sha256"] = metadata_digest(info)
    save_file(state, path, info)


def load(path: str | os.PathLike, model: Module | None = None
         ) -> Module | OrderedDict[str, np.ndarray]:
    """Load a model saved by ``save`` (or, for a saved state dict, return that dict).

    Without ``model`` the network is rebuilt from the file's architecture; with it,
    the weights are loaded into the given instance (which also accepts plain
    safetensors files, e.g. weights exported from PyTorch with matching names).
    The saved metadata is available as ``model.metadata``.

    The whole file is checked before anything is built (see the module docstring).

    Raises:
        FileNotFoundError: no file at ``path``.
        ModelFileError: anything else wrong with the file, naming it and the problem.
    """
    header = read_header(path)
    info = chainrule_info(header) if is_chainrule(header) else None
    if model is None and info is not None and header.metadata.get("content") == "state_dict":
        return read_tensors(header, info.sha256)  # a saved state dict: the weights alone
    if model is None:
        if info is None:
            raise ModelFileError(f"{path} is a safetensors file but not a chainrule model; to "
                                 f"load its weights, pass a model: chainrule.load(path, model)")
        if info.architecture is None:
            raise ModelFileError(f"{path} was saved from a model chainrule cannot rebuild by "
                                 f"name; pass an instance: chainrule.load(path, model=...)")
    try:
        if model is None:
            match_tensors(info.architecture, header.tensors)
        arrays = read_tensors(header, None if info is None else info.sha256)
        if model is None:
            model = build(info.architecture)
        model.load_state_dict(arrays)
    except ModelFileError as e:
        message = str(e)
        raise ModelFileError(message if message.startswith(str(path)) else f"{path}: {message}"
                             ) from None
    except (ValueError, KeyError, TypeError) as e:  # the state does not fit the given model
        raise ModelFileError(f"{path}: the file's tensors do not fit the model: {e}") from None
    object.__setattr__(model, "metadata", {} if info is None else info.metadata)
    return model
