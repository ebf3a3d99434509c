"""Layers import downwards only: an ast scan of every module under src/chainrule.

Bottom to top (a module may import its own layer and the layers below it, never above):

    core        backend (where matrix products run), autograd, creation, gradcheck, memory,
                threads, _io, _version, safetensors
    ops         chainrule.ops: the differentiable primitives
    functional  chainrule.functional: argument checks over ops
    nn          chainrule.nn (with nn.serialization, model save/load), chainrule.serialization
    optim/data  chainrule.optim, chainrule.data
    train       chainrule.train
    apps        chainrule.explainer, chainrule.viz, chainrule.distributed, chainrule.sklearn
    cli         chainrule.cli, chainrule.__main__, and the ``chainrule`` package namespace

Every import counts: at module level, inside functions, under ``if TYPE_CHECKING``. The
``chainrule`` package itself is the public namespace (it re-exports every layer), so a
module inside the package importing a name from it (``from chainrule import X`` where X is
not a submodule) imports the top. A new module must be given a layer in ``LAYERS``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "chainrule"

# module-name prefix -> (rank, layer); the longest matching prefix wins
LAYERS = {
    "chainrule.backend": (0, "core"),
    "chainrule.autograd": (0, "core"),
    "chainrule.creation": (0, "core"),
    "chainrule.gradcheck": (0, "core"),
    "chainrule.memory": (0, "core"),
    "chainrule.threads": (0, "core"),
    "chainrule._io": (0, "core"),
    "chainrule._version": (0, "core"),
    "chainrule._suggest": (0, "core"),
    "chainrule.safetensors": (0, "core"),
    "chainrule.ops": (1, "ops"),
    "chainrule.functional": (2, "functional"),
    "chainrule.nn": (3, "nn"),
    "chainrule.serialization": (3, "nn"),
    "chainrule.optim": (4, "optim/data"),
    "chainrule.data": (4, "optim/data"),
    "chainrule.train": (5, "train"),
    "chainrule.explainer": (6, "explain/viz/distributed/sklearn"),
    "chainrule.viz": (6, "explain/viz/distributed/sklearn"),
    "chainrule.distributed": (6, "explain/viz/distributed/sklearn"),
    "chainrule.sklearn": (6, "explain/viz/distributed/sklearn"),
    "chainrule.cli": (7, "cli"),
    "chainrule.__main__": (7, "cli"),
    "chainrule": (7, "the chainrule namespace"),
}

# The one documented exception: autograd/tensor.py gives Tensor its operators (+, @, .sum())
# by importing the ops at the bottom of the file, after the class exists (the ops import
# Tensor, so they cannot be imported before it).
BOTTOM_OF_FILE = {("chainrule.autograd.tensor", "chainrule.ops")}

# The second documented exception: fit(distributed=True) and chainrule train --distributed
# are the shorthand for fit(strategy=DataParallel(...)); train/strategy.py's
# resolve_strategy imports the distributed strategy lazily, in that one function, so that
# train stays free of MPI everywhere else. Do not add to this set: move the code instead.
ALLOWED_FOR_NOW = {
    ("chainrule.train.strategy", "chainrule.distributed.context"),
    ("chainrule.train.strategy", "chainrule.distributed.training"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(name: str) -> tuple[int, str]:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{name} is in no layer: give it one in LAYERS")


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported chainrule module, line, at the bottom of the module) for every import."""
    name = module_name(path)
    return imports_in(path.read_text(), name, path.name == "__init__.py")


def imports_in(source: str, name: str, is_package: bool) -> list[tuple[str, int, bool]]:
    tree = ast.parse(source)
    package = name if is_package else name.rpartition(".")[0]
    last_def = max((n.lineno for n in tree.body
                    if isinstance(n, ast.FunctionDef | ast.ClassDef)), default=0)
    top_level = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        bottom = id(node) in top_level and node.lineno > last_def
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, bottom) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((sub if is_module(sub) else base, node.lineno, bottom))
    return [(m, line, bottom) for m, line, bottom in found
            if m == "chainrule" or m.startswith("chainrule.")]


def violations() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        rank, _ = layer_of(importer)
        for imported, line, bottom in imports(path):
            if layer_of(imported)[0] <= rank:
                continue
            if bottom and any(importer == a and (imported == b or imported.startswith(b + "."))
                              for a, b in BOTTOM_OF_FILE):
                continue
            found.append((importer, imported, line))
    return found


def test_every_module_has_a_layer():
    """Each module matches a prefix of its own in LAYERS: the bare package name (the public
    namespace, at the top) must not swallow a new module silently."""
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        layer_of(name)
        if name != "chainrule":
            assert any(name == p or name.startswith(p + ".") for p in LAYERS
                       if p != "chainrule"), f"{name} is in no layer: give it one in LAYERS"


def test_layers_import_downwards_only():
    found = violations()
    new = [v for v in found if (v[0], v[1]) not in ALLOWED_FOR_NOW]
    assert not new, "upward imports (a lower layer importing a higher one):\n" + "\n".join(
        f"  {a} ({layer_of(a)[1]}) imports {b} ({layer_of(b)[1]}) at line {line}"
        for a, b, line in new)


def test_the_allowlist_holds_only_live_violations():
    """An entry the code no longer needs must leave the list, so it only ever shrinks."""
    live = {(a, b) for a, b, _ in violations()}
    assert ALLOWED_FOR_NOW <= live, f"no longer imported, remove: {ALLOWED_FOR_NOW - live}"


def test_the_scan_sees_imports_inside_functions_and_relative_ones():
    source = ("from __future__ import annotations\n"
              "from typing import TYPE_CHECKING\n"
              "from . import elementwise\n"
              "if TYPE_CHECKING:\n"
              "    from chainrule.nn.module import Module\n"
              "def f():\n"
              "    import chainrule.train.fit\n"
              "    from ..functional import losses\n"
              "    from chainrule import __version__, creation\n")
    found = {(m, line) for m, line, _ in imports_in(source, "chainrule.ops.shape", False)}
    assert found == {("chainrule.ops.elementwise", 3), ("chainrule.nn.module", 5),
                     ("chainrule.train.fit", 7), ("chainrule.functional.losses", 8),
                     ("chainrule", 9), ("chainrule.creation", 9)}
    bottom = [(m, b) for m, _, b in imports(PACKAGE / "autograd" / "tensor.py")
              if m.startswith("chainrule.ops")]
    assert bottom and all(b for _, b in bottom)


# Private names imported from another module (issue 13 item 7): none may be.
PRIVATE_FOR_NOW: set[tuple[str, str]] = set()


def private_imports() -> set[tuple[str, str]]:
    """(importer, module.name) for every ``from chainrule.x import _name``."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chainrule"):
                found |= {(module_name(path), f"{node.module}.{a.name}") for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")}
    return found


def test_no_private_names_cross_modules():
    """A helper two modules share gets a public name in one home (e.g. ops/kernels.py)."""
    found = private_imports()
    assert found <= PRIVATE_FOR_NOW, f"private names imported across modules: " \
                                     f"{sorted(found - PRIVATE_FOR_NOW)}"
    assert PRIVATE_FOR_NOW <= found, f"no longer imported, remove: {PRIVATE_FOR_NOW - found}"
