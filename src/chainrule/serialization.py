"""Compatibility names: the file format is ``chainrule.safetensors`` and model saving and
loading ``chainrule.nn.serialization``; this module re-exports both (it is at the nn level)."""

from chainrule.nn.serialization import architecture, build, load, register_module, save
from chainrule.safetensors import ModelFileError, load_file, load_metadata, save_file

__all__ = ["ModelFileError", "architecture", "build", "load", "load_file", "load_metadata",
           "register_module", "save", "save_file"]
