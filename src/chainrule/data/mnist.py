"""MNIST and Fashion-MNIST from their standard files, found locally or downloaded and verified.

Where the files are looked for, in order:

1. ``data_dir`` if given (a directory, or the path of an ``.npz`` file), else the
   directory in the environment variable ``CHAINRULE_DATA``, else the default
   ``~/.cache/chainrule`` (``$XDG_CACHE_HOME/chainrule``) and, for Fashion-MNIST,
   ``/usr/share/datasets/fashion-mnist`` (where Debian's ``dataset-fashion-mnist``
   package installs it).
2. In each such directory ``d``: the four IDX files (``.gz`` or uncompressed) in
   ``d/<name>/`` or in ``d`` itself, else ``d/<name>.npz`` (keys ``x_train``,
   ``y_train``, ``x_test``, ``y_test``), where ``<name>`` is ``mnist`` or
   ``fashion-mnist``.

When nothing is found and a mirror is configured (the ``mirrors`` argument, else
``CHAINRULE_DATA_MIRROR``, else the module-level ``MNIST_MIRRORS`` /
``FASHION_MNIST_MIRRORS``, empty by default), the four ``.gz`` files are
downloaded into ``<first directory>/<name>/`` and each is refused unless its
sha256 is the published one. ``download=True`` falls back to the public mirrors
in ``PUBLIC_MIRRORS``; ``download=False`` never downloads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chainrule.data.download import download_from_mirrors
from chainrule.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from chainrule.data.npy import read_npz

Split = tuple[np.ndarray, np.ndarray]

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

# (file, magic, number of examples) in the order train images, train labels, test images, labels.
_FILES = (("train-images-idx3-ubyte", IMAGES_MAGIC, 60000),
          ("train-labels-idx1-ubyte", LABELS_MAGIC, 60000),
          ("t10k-images-idx3-ubyte", IMAGES_MAGIC, 10000),
          ("t10k-labels-idx1-ubyte", LABELS_MAGIC, 10000))

# sha256 of the published .gz files, same order as _FILES (tensorflow/datasets url_checksums).
SHA256 = {
    "mnist": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
              "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    "fashion-mnist": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                      "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                      "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                      "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
}

# Base URLs tried when files are missing; empty so that nothing is fetched unless asked for.
MNIST_MIRRORS: list[str] = []
FASHION_MNIST_MIRRORS: list[str] = []
# Used by download=True when no mirror is configured.
PUBLIC_MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
_SYSTEM_DIRS = {"mnist": (), "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}
_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_OTHER = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the places searched; the message lists them."""


def _default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "chainrule"


def _roots(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    if os.environ.get("CHAINRULE_DATA"):
        return [Path(os.environ["CHAINRULE_DATA"]).expanduser()]
    return [_default_root(), *_SYSTEM_DIRS[name]]


def _idx_paths(directory: Path) -> list[Path] | None:
    """The four IDX files in ``directory`` (each .gz or not), or None if any is missing."""
    paths = []
    for stem, _, _ in _FILES:
        found = [p for p in (directory / f"{stem}.gz", directory / stem) if p.is_file()]
        if not found:
            return None
        paths.append(found[0])
    return paths


def _locate(name: str, roots: list[Path]) -> tuple[str, Path | list[Path]] | None:
    """("idx", four paths) or ("npz", path) for the first place holding the dataset."""
    for root in roots:
        if root.suffix == ".npz" and root.is_file():
            return "npz", root
        for directory in (root / name, root):
            paths = _idx_paths(directory)
            if paths:
                return "idx", paths
        if (root / f"{name}.npz").is_file():
            return "npz", root / f"{name}.npz"
    return None


def _searched(name: str, roots: list[Path]) -> str:
    files = ", ".join(f"{stem}[.gz]" for stem, _, _ in _FILES)
    directories = "; ".join(f"{root / name}; {root}" for root in roots)
    archives = "; ".join(str(root / f"{name}.npz") for root in roots)
    return f"looked for {files} in {directories}, and for {archives}"


def _mirrors(name: str, mirrors: Sequence[str] | str | None, download: bool | None) -> list[str]:
    if download is False:
        return []
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    if mirrors:
        return list(mirrors)
    env = os.environ.get("CHAINRULE_DATA_MIRROR", "").split()
    if env:
        # One root for every dataset: files are at <root>/<name>/<file>.
        return [root.rstrip("/") + "/" + name + "/" for root in env]
    configured = MNIST_MIRRORS if name == "mnist" else FASHION_MNIST_MIRRORS
    if configured:
        return list(configured)
    return list(PUBLIC_MIRRORS[name]) if download else []


def _check_not_other(name: str, labels_path: Path) -> None:
    """Refuse the other dataset's files: MNIST and Fashion-MNIST share their file names."""
    digest = hashlib.sha256(labels_path.read_bytes()).hexdigest()
    other = _OTHER[name]
    if digest in SHA256[other]:
        raise ValueError(f"{labels_path} is a {_TITLES[other]} file, not {_TITLES[name]} "
                         f"(both use the same file names); keep each in its own "
                         f"'{name}/' subdirectory")


def _check_split(name: str, source: str, x: np.ndarray, y: np.ndarray, n: int) -> None:
    if x.shape != (n, 28, 28) or x.dtype != np.uint8:
        raise ValueError(f"{source}: expected {n} images of 28x28 uint8 for {_TITLES[name]}, "
                         f"found shape {x.shape} {x.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{source}: expected {n} labels for {_TITLES[name]}, found shape "
                         f"{y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{source}: labels must be 0-9, found {y.min()}..{y.max()}")


def _read_idx_set(name: str, paths: list[Path]) -> tuple[Split, Split]:
    _check_not_other(name, paths[1])
    arrays = [read_idx(p, magic) for p, (_, magic, _) in zip(paths, _FILES, strict=True)]
    for k in (0, 2):
        _check_split(name, f"{paths[k]} / {paths[k + 1]}", arrays[k], arrays[k + 1],
                     _FILES[k][2])
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def _read_npz(name: str, path: Path) -> tuple[Split, Split]:
    keys = ("x_train", "y_train", "x_test", "y_test")
    arrays = read_npz(path, keys)  # each member's header checked before it is allocated
    x_train, y_train, x_test, y_test = (arrays[k] for k in keys)
    _check_split(name, f"{path} (x_train, y_train)", x_train, y_train, 60000)
    _check_split(name, f"{path} (x_test, y_test)", x_test, y_test, 10000)
    return (x_train, y_train), (x_test, y_test)


def _prepare(split: Split, flatten: bool, scale: bool) -> Split:
    x, y = split
    if flatten:
        x = x.reshape(len(x), -1)
    if scale:
        x = np.divide(x, np.float32(255), dtype=np.float32)
    return x, y.astype(np.int64)


def _load(name: str, data_dir: str | os.PathLike | None, flatten: bool, scale: bool,
          download: bool | None, mirrors: Sequence[str] | str | None) -> tuple[Split, Split]:
    roots = _roots(name, data_dir)
    found = _locate(name, roots)
    if found is None:
        urls = _mirrors(name, mirrors, download)
        if not urls:
            debian = (" On Debian/Ubuntu, `apt install dataset-fashion-mnist` provides it."
                      if name == "fashion-mnist" else "")
            raise DatasetNotFoundError(
                f"{_TITLES[name]} not found: {_searched(name, roots)}. Give the directory holding "
                f"the files (or a '{name}/' subdirectory or '{name}.npz'): data_dir=<directory> "
                f"in Python, --data-dir <directory> on the command line, or the environment "
                f"variable CHAINRULE_DATA; or download them: download=True or mirrors=[...] in "
                f"Python, or the environment variable CHAINRULE_DATA_MIRROR (both).{debian}")
        target = roots[0] / name
        for (stem, _, _), sha in zip(_FILES, SHA256[name], strict=True):
            dest = target / f"{stem}.gz"
            if not dest.is_file():
                download_from_mirrors(f"{stem}.gz", urls, dest, sha)
        found = ("idx", [target / f"{stem}.gz" for stem, _, _ in _FILES])
    kind, where = found
    train, test = (_read_npz(name, where) if kind == "npz"  # type: ignore[arg-type]
                   else _read_idx_set(name, where))  # type: ignore[arg-type]
    return _prepare(train, flatten, scale), _prepare(test, flatten, scale)


def load_mnist(data_dir: str | os.PathLike | None = None, *, flatten: bool = False,
               scale: bool = False, download: bool | None = None,
               mirrors: Sequence[str] | str | None = None) -> tuple[Split, Split]:
    """The MNIST handwritten digits: ``(X_train, y_train), (X_test, y_test)``.

    Args:
        data_dir: where the files are (see the module docstring for the search
            order); a directory or the path of an ``.npz`` file.
        flatten: reshape the images from (N, 28, 28) to (N, 784).
        scale: return float32 pixels in [0, 1] (divided by 255) instead of the
            raw uint8 values 0..255.
        download: None (default) downloads missing files only if a mirror is
            configured; True also falls back to the public mirrors; False never
            downloads.
        mirrors: base URLs to download from (``http(s)://`` or ``file://``).

    Returns:
        60,000 training and 10,000 test examples. By default (no flatten, no
        scale) the images are uint8 arrays of shape (N, 28, 28), exactly the
        published values; the labels are int64 digits 0-9.
    """
    return _load("mnist", data_dir, flatten, scale, download, mirrors)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, *, flatten: bool = False,
                       scale: bool = False, download: bool | None = None,
                       mirrors: Sequence[str] | str | None = None) -> tuple[Split, Split]:
    """Zalando's Fashion-MNIST: ``(X_train, y_train), (X_test, y_test)``.

    Same files, shapes, options and defaults as ``load_mnist``; the labels 0-9
    name the classes in ``FASHION_MNIST_CLASSES``. Also found in
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``)
    when neither ``data_dir`` nor ``CHAINRULE_DATA`` is given.
    """
    return _load("fashion-mnist", data_dir, flatten, scale, download, mirrors)
