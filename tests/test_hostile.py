"""Hostile inputs: crafted model files, data files and options, each refused with one
clear error (``ModelFileError`` from the library; one stderr line and exit 2 from the
command), without allocating what the input merely claims.

Every case is made here, small. They all run in ONE worker process under a memory limit
(RLIMIT_AS, 3 GB), the library cases through ``chainrule.load`` and the command cases
through ``chainrule.cli.main`` in-process, so an unbounded allocation fails its case
instead of swapping the machine; the tests below then assert each case's result.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_distributed import mpirun, needs_mpi

import chainrule as cr
from chainrule import nn
from chainrule.safetensors import MAX_DEPTH, MAX_TENSORS, ModelFileError, metadata_digest

MEMORY_LIMIT = 3 * 2**30
CASES: dict[str, dict] = {}  # name -> {"kind": "load" | "cli", "args": ..., "expect": ...}


# -- crafting files -----------------------------------------------------------------------------

def frame(header: dict | bytes, data: bytes = b"", length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def split(blob: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def trained_model_bytes(tmp: Path) -> bytes:
    """A model file as ``chainrule train`` writes it: 4 features, 3 classes."""
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    meta = {"config": {"standardize": True, "loss": "cross-entropy", "label_column": "label"},
            "classes": ["a", "b", "c"],
            "preprocessing": {"standardize": {"mean": [0.5, 1.0, 1.5, 2.0],
                                              "std": [1.0, 2.0, 3.0, 4.0]}}}
    path = tmp / "good.safetensors"
    cr.save(model, path, meta)
    return path.read_bytes()


def edit_metadata(blob: bytes, change, redigest: bool = True) -> bytes:
    """``blob`` with its chainrule metadata changed by ``change(info)`` (a dict of the JSON
    entries, decoded), the digest recomputed unless ``redigest`` is False."""
    header, data = split(blob)
    info = header["__metadata__"]
    decoded = {k: json.loads(v) if k in ("architecture", "metadata", "parameter_order",
                                         "sha256") else v for k, v in info.items()}
    change(decoded)
    info = {k: v if isinstance(v, str) and k in ("format", "chainrule_version",
                                                 "metadata_sha256") else json.dumps(v)
            for k, v in decoded.items()}
    if redigest:
        info["metadata_sha256"] = metadata_digest(info)
    header["__metadata__"] = info
    return frame(header, data)


def edit_table(blob: bytes, change) -> bytes:
    header, data = split(blob)
    data = change(header, data) or data
    return frame(header, data)


def tensor(header: dict, name: str = "0.weight") -> dict:
    return header[name]


def _set(d: dict, path: str, value) -> None:
    keys = path.split("/")
    for k in keys[:-1]:
        d = d[int(k)] if isinstance(d, list) else d[k]
    if isinstance(d, list):
        d[int(keys[-1])] = value
    else:
        d[keys[-1]] = value


def arch(path: str, value):
    return lambda info: _set(info["architecture"], path, value)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- the model-file cases -----------------------------------------------------------------------

def _framing_cases(good: bytes) -> dict[str, tuple[bytes, str]]:
    header, data = split(good)
    small = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}

    def entry(**fields):
        return frame({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], **fields}},
                     bytes(8))

    def raw_entry(text: str, data: bytes = bytes(8)):
        return frame(('{"w":' + text + "}").encode(), data)

    return {
        "empty": (b"", "only 0 bytes"),
        "three-bytes": (b"abc", "only 3 bytes"),
        "length-2**63": (struct.pack("<Q", 2**63) + b"{}", "MAX_HEADER_BYTES"),
        "length-past-end": (frame(b"{}", length=1000), "claims 1000 bytes"),
        "not-json": (frame(b"{not json}"), "not valid JSON"),
        "junk": (frame(b"\x93NUMPY\x01\x00 junk"), "not a chainrule model"),
        "list-header": (frame(b"[1, 2]"), "does not start with '{'"),
        "bad-utf8": (frame(b'{"\xff\xfe": 1}'), "not valid JSON"),
        "duplicate-key": (frame(b'{"w": {}, "w": {}}'), "appears twice"),
        "deep-100000": (frame(("{" + '"a":' + nested(100_000) + "}").encode()), "MAX_DEPTH"),
        "deep-70": (frame(("{" + '"a":' + nested(70) + "}").encode()), "exactly the keys"),
        "huge-int-literal": (raw_entry('{"dtype": "F32", "shape": [' + "9" * 5000
                                       + '], "data_offsets": [0, 8]}'), "not valid JSON"),
        "shape-Infinity": (raw_entry('{"dtype": "F32", "shape": [Infinity], '
                                     '"data_offsets": [0, 8]}'), "not a JSON number"),
        "shape-NaN": (raw_entry('{"dtype": "F32", "shape": [NaN], "data_offsets": [0, 8]}'),
                      "not a JSON number"),
        "shape-1e400": (raw_entry('{"dtype": "F32", "shape": [1e400], '
                                  '"data_offsets": [0, 8]}'), "non-negative integers"),
        "shape-2.0": (entry(shape=[2.0]), "non-negative integers"),
        "shape-2**64": (entry(shape=[2**64]), "MAX_ELEMENTS"),
        "shape-product": (entry(shape=[2**20, 2**20]), "MAX_ELEMENTS"),
        "shape-zero-times-huge": (entry(shape=[0, 2**40]), "MAX_ELEMENTS"),
        "shape-negative": (entry(shape=[-2]), "non-negative integers"),
        "shape-bool": (entry(shape=[True, True]), "non-negative integers"),
        "shape-string": (entry(shape="2"), "non-negative integers"),
        "shape-null": (entry(shape=None), "non-negative integers"),
        "ndim-33": (entry(shape=[1] * 33, data_offsets=[0, 4]), "MAX_NDIM"),
        "offsets-2**64": (entry(data_offsets=[0, 2**64]), "needs 8 bytes"),
        "offsets-Infinity": (raw_entry('{"dtype": "F32", "shape": [2], '
                                       '"data_offsets": [0, Infinity]}'), "not a JSON number"),
        "offsets-1e400": (raw_entry('{"dtype": "F32", "shape": [2], '
                                    '"data_offsets": [0, 1e400]}'), "invalid data_offsets"),
        "offsets-reversed": (entry(data_offsets=[8, 0]), "invalid data_offsets"),
        "offsets-three": (entry(data_offsets=[0, 4, 8]), "invalid data_offsets"),
        "offsets-object": (entry(data_offsets={"a": 0}), "invalid data_offsets"),
        "offsets-negative": (entry(data_offsets=[-8, 0]), "invalid data_offsets"),
        "size-mismatch": (entry(data_offsets=[0, 4]), "needs 8 bytes"),
        "dtype-unknown": (entry(dtype="Q9"), "unknown dtype"),
        "dtype-null": (entry(dtype=None), "unknown dtype"),
        "dtype-list": (entry(dtype=["F32"]), "unknown dtype"),
        "extra-key": (entry(extra=1), "exactly the keys"),
        "missing-key": (frame({"w": {"dtype": "F32", "shape": [2]}}, bytes(8)),
                        "exactly the keys"),
        "entry-list": (frame({"w": [1, 2]}, bytes(8)), "exactly the keys"),
        "entry-null": (frame({"w": None}), "exactly the keys"),
        "overlap": (frame({**small, "v": {"dtype": "F32", "shape": [2],
                                          "data_offsets": [4, 12]}}, bytes(12)), "overlap"),
        "same-range": (frame({**small, "v": small["w"]}, bytes(8)), "overlap"),
        "gap": (frame({**small, "v": {"dtype": "F32", "shape": [1],
                                      "data_offsets": [12, 16]}}, bytes(16)), "gap of 4"),
        "gap-at-start": (entry(data_offsets=[4, 12]) + bytes(4), "gap of 4"),
        "trailing": (frame(small, bytes(9)), "1 trailing bytes"),
        "trailing-on-model": (good + b"\0", "trailing bytes"),
        "truncated": (good[:-5], "truncated"),
        "truncated-half": (good[:len(good) // 2], "truncated"),
        "metadata-list": (frame({"__metadata__": ["a"]}), "__metadata__ must be"),
        "metadata-null": (frame({"__metadata__": None}), "__metadata__ must be"),
        "metadata-number-values": (frame({"__metadata__": {"format": 1}}),
                                   "__metadata__ must be"),
        "too-many-tensors": (frame({f"t{k}": {"dtype": "U8", "shape": [0],
                                              "data_offsets": [0, 0]}
                                    for k in range(MAX_TENSORS + 1)}), "MAX_TENSORS"),
        "plain-safetensors": (frame(small, bytes(8)), "not a chainrule model"),
        "flipped-weight": (good[:-3] + bytes([good[-3] ^ 0x40]) + good[-2:], "corrupt"),
        "header-as-data": (frame(header, data[:-4] + b"\0\0\0\0\0\0\0\0"), "trailing"),
    }


def _metadata_cases(good: bytes, lstm: bytes) -> dict[str, tuple[bytes, str]]:
    def mean_digit(info):
        info["metadata"]["preprocessing"]["standardize"]["mean"][0] = 0.6

    def drop(key):
        return lambda info: info.pop(key)

    deep = {"type": "Sequential", "layers": []}
    for _ in range(40):
        deep = {"type": "Sequential", "layers": [deep]}
    return {
        "mean-digit-changed": (edit_metadata(good, mean_digit, redigest=False),
                               "metadata_sha256"),
        "preprocessing-emptied": (edit_metadata(
            good, lambda i: i["metadata"].update(preprocessing={}), redigest=False),
            "metadata_sha256"),
        "classes-swapped": (edit_metadata(
            good, lambda i: i["metadata"].update(classes=["b", "a", "c"]), redigest=False),
            "metadata_sha256"),
        "architecture-changed": (edit_metadata(good, arch("layers/1/type", "Tanh"),
                                               redigest=False), "metadata_sha256"),
        "digest-not-hex": (edit_metadata(good, lambda i: i.update(metadata_sha256="x"),
                                         redigest=False), "metadata_sha256"),
        "linear-1e5-squared": (edit_metadata(good, lambda i: i["architecture"]["layers"]
                                             .__setitem__(0, {"type": "Linear", "config": {
                                                 "in_features": 10**5,
                                                 "out_features": 10**5}})),
                               "shape (100000, 100000)"),
        "linear-20000-squared": (edit_metadata(good, lambda i: (
            _set(i["architecture"], "layers/0/config/in_features", 20000),
            _set(i["architecture"], "layers/0/config/out_features", 20000))),
            "shape (20000, 20000)"),
        "lstm-1e7-layers": (edit_metadata(lstm, arch("config/num_layers", 10**7)),
                            "'weight_ih_l1' of shape (20, 5) float32, which the file does not "
                            "hold"),
        "lstm-hidden-1e5": (edit_metadata(lstm, arch("config/hidden_size", 10**5)),
                            "shape (400000, 4)"),
        "size-10**30": (edit_metadata(good, arch("layers/0/config/in_features", 10**30)),
                        "MAX_ELEMENTS"),
        "size-string": (edit_metadata(good, arch("layers/0/config/in_features", "4")),
                        "in_features must be an integer"),
        "size-float": (edit_metadata(good, arch("layers/0/config/in_features", 4.0)),
                       "in_features must be an integer"),
        "size-bool": (edit_metadata(good, arch("layers/0/config/in_features", True)),
                      "in_features must be an integer"),
        "size-zero": (edit_metadata(good, arch("layers/0/config/in_features", 0)),
                      "in_features must be an integer"),
        "bias-string": (edit_metadata(good, arch("layers/0/config/bias", "yes")),
                        "bias must be true or false"),
        "dtype-int8": (edit_metadata(good, arch("layers/0/config/dtype", "int8")),
                       "dtype must be one of"),
        "dtype-float64": (edit_metadata(good, arch("layers/0/config/dtype", "float64")),
                          "float64, but the file's is"),
        "bias-dropped": (edit_metadata(good, arch("layers/0/config/bias", False)),
                         "does not build: '0.bias'"),
        "extra-layer": (edit_metadata(good, lambda i: i["architecture"]["layers"].append(
            {"type": "Linear", "config": {"in_features": 3, "out_features": 2}})),
            "'3.weight' of shape (2, 3)"),
        "layer-removed": (edit_metadata(good, lambda i: i["architecture"]["layers"].pop()),
                          "does not build"),
        "unknown-type": (edit_metadata(good, arch("layers/1/type", "Evil")),
                         "layer type 'Evil'"),
        "type-null": (edit_metadata(good, arch("layers/1/type", None)), "'type' name"),
        "architecture-list": (edit_metadata(good, lambda i: i.update(architecture=[1])),
                              "'architecture' must be a JSON object"),
        "architecture-null": (edit_metadata(good, lambda i: i.update(architecture=None)),
                              "'architecture' must be a JSON object"),
        "layers-object": (edit_metadata(good, arch("layers", {"0": 1})), "must be a list"),
        "config-list": (edit_metadata(good, arch("layers/0/config", [4, 5])),
                        "'config' must be an object"),
        "layer-a-number": (edit_metadata(good, arch("layers/1", 7)), "'type' name"),
        "dropout-p-5": (edit_metadata(good, arch("layers/1", {"type": "Dropout",
                                                              "config": {"p": 5}})),
                        "cannot be built"),
        "relu-unknown-argument": (edit_metadata(good, arch("layers/1/config", {"x": 1})),
                                  "cannot be built"),
        "sequential-40-deep": (edit_metadata(good, lambda i: i.update(architecture=deep)),
                               "MAX_DEPTH"),
        "charrnn-bad-cell": (edit_metadata(good, lambda i: i.update(architecture={
            "type": "CharRNN", "config": {"vocab_size": 3, "cell": "xyz"}})),
            "cell must be one of"),
        "conv-kernel-3-dims": (edit_metadata(good, lambda i: i.update(architecture={
            "type": "Conv2d", "config": {"in_channels": 1, "out_channels": 1,
                                         "kernel_size": [3, 3, 3]}})),
            "kernel_size must be an integer or a list of 2"),
        "metadata-a-list": (edit_metadata(good, lambda i: i.update(metadata=[1])),
                            "'metadata' must be a JSON object"),
        "metadata-deep": (edit_metadata(good, lambda i: i.update(
            metadata={"a": json.loads(nested(MAX_DEPTH + 1))})), "MAX_DEPTH"),
        "order-missing": (edit_metadata(good, drop("parameter_order")),
                          "parameter_order missing"),
        "sha256-missing": (edit_metadata(good, drop("sha256")), "sha256 missing"),
        "order-not-list": (edit_metadata(good, lambda i: i.update(parameter_order="0.weight")),
                           "parameter_order must be a list"),
        "order-wrong-names": (edit_metadata(good, lambda i: i.update(
            parameter_order=["x", "y", "z", "w"])), "its metadata lists"),
        "sha256-a-list": (edit_metadata(good, lambda i: i.update(sha256=[1])),
                          "sha256 must map"),
        "sha256-wrong": (edit_metadata(good, lambda i: i["sha256"].update(
            {"0.bias": "0" * 64})), "corrupt: the bytes of tensor '0.bias'"),
        "table-dtype-f16": (edit_table(good, lambda h, d: _set(h, "2.bias/dtype", "F16")),
                            "needs 6 bytes"),
    }


def _model_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    good = trained_model_bytes(tmp)
    cr.save(nn.LSTM(4, 5), tmp / "lstm.safetensors")
    lstm = (tmp / "lstm.safetensors").read_bytes()
    cases = {**_framing_cases(good), **_metadata_cases(good, lstm)}
    files = {}
    for name, (blob, cause) in cases.items():
        path = tmp / f"model-{name}.safetensors"
        path.write_bytes(blob)
        files[name] = (path, cause)
    return files


# -- the data-file and option cases ---------------------------------------------------------------

def _idx(magic: int, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    return struct.pack(f">I{len(shape)}I", magic, *shape) + data


def _npy_bytes(array: np.ndarray, shape: tuple[int, ...] | None = None) -> bytes:
    """``array`` as a .npy file, its header claiming ``shape`` if given."""
    buffer = io.BytesIO()
    if shape is None:
        np.save(buffer, array)
        return buffer.getvalue()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(
        array.dtype), "fortran_order": False, "shape": shape})
    return buffer.getvalue() + array.tobytes()


def _mnist_dir(tmp: Path, name: str, images: bytes, gz: bool = False) -> Path:
    d = tmp / f"mnist-{name}" / "mnist"
    d.mkdir(parents=True)
    files = {"train-images-idx3-ubyte": images,
             "train-labels-idx1-ubyte": _idx(2049, (60000,), bytes(60000)),
             "t10k-images-idx3-ubyte": b"never read",
             "t10k-labels-idx1-ubyte": b"never read"}
    for stem, raw in files.items():
        if gz and stem == "train-images-idx3-ubyte":
            (d / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (d / stem).write_bytes(raw)
    return d.parent


def _npz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for key, raw in members.items():
            z.writestr(f"{key}.npy", raw)
    return path


def _data_cases(tmp: Path, model: Path) -> dict[str, tuple[list[str], str]]:
    def csv(name: str, text: str | bytes) -> str:
        path = tmp / f"{name}.csv"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return str(path)

    def npy(name: str, raw: bytes) -> str:
        return write(f"{name}.npy", raw)

    def write(name: str, raw: bytes) -> str:
        path = tmp / name
        path.write_bytes(raw)
        return str(path)

    rows = "".join(f"{i % 3},{i},{i * 2},{i % 5}\n" for i in range(30))
    train = ["train", "--epochs", "1", "--quiet", "--out", str(tmp / "unused")]
    long_cell = "a,label\n" + "1" * 200_000 + ",0\n"
    repeated = "label," + "a," * 300_000 + "a\n" + "0" + ",1" * 300_001 + "\n"
    big_label = "a,label\n1,0\n2,1000000000000\n"
    latin = b"a,label\n\xff\xfe,1\n"
    nul = "a,label\n1\0,1\n"
    predict = ["predict", str(model)]
    small = np.ones((2, 4), np.float32)
    npz = tmp / "npz"
    npz.mkdir()
    return {
        "csv-long-cell-train": (train + ["--data", f"csv:{csv('long', long_cell)}"],
                                "field larger than field limit"),
        "csv-long-cell-predict": (predict + [csv("long-p", long_cell)],
                                  "field larger than field limit"),
        "csv-300000-repeated-columns": (train + ["--data", f"csv:{csv('rep', repeated)}"],
                                        "repeated column names ['a']"),
        "csv-label-1e12": (train + ["--data", f"csv:{csv('big', big_label)}"], "MAX_CLASSES"),
        "csv-not-utf8": (train + ["--data", f"csv:{csv('latin', latin)}"], "not UTF-8"),
        "csv-nul-byte": (train + ["--data", f"csv:{csv('nul', nul)}"], "line 2"),
        "idx-claims-60000x28x28000": (train + ["--data", "mnist", "--data-dir", str(_mnist_dir(
            tmp, "huge", _idx(2051, (60000, 28, 28000))))], "60000, 28, 28000"),
        "idx-gz-claims-60000x28x28000": (train + ["--data", "mnist", "--data-dir", str(
            _mnist_dir(tmp, "huge-gz", _idx(2051, (60000, 28, 28000)), gz=True))],
            "deflate expands at most"),
        "idx-claims-4e9-per-dim": (train + ["--data", "mnist", "--data-dir", str(_mnist_dir(
            tmp, "dims", _idx(2051, (2**32 - 1, 2**32 - 1, 2**32 - 1))))], "truncated data"),
        "npz-not-a-zip": (train + ["--data", "mnist", "--data-dir", write("junk.npz", b"x" * 100)],
                          "not an .npz archive"),
        "npz-pk-junk": (train + ["--data", "mnist", "--data-dir", write(
            "pk.npz", b"PK\x03\x04" + b"\0" * 60)],
            "not an .npz archive"),
        "npz-member-claims-huge": (train + ["--data", "mnist", "--data-dir", str(_npz(
            npz / "huge.npz", {k: _npy_bytes(np.zeros(3, np.uint8), (60000, 28, 28000))
                               for k in ("x_train", "y_train", "x_test", "y_test")}))],
            "(60000, 28, 28000)"),
        "npz-member-pickled": (train + ["--data", "mnist", "--data-dir", str(_npz(
            npz / "obj.npz", {k: _npy_bytes(np.array([None, 1], dtype=object))
                              for k in ("x_train", "y_train", "x_test", "y_test")}))],
            "Python objects"),
        "npz-missing-keys": (train + ["--data", "mnist", "--data-dir", str(_npz(
            npz / "keys.npz", {"x": _npy_bytes(np.zeros(2))}))], "missing arrays"),
        "predict-nan-cell": (predict + [csv("nan", "1,2,3,4\n1,nan,3,4\n")],
                             "row 2 (line 2), column '2': 'nan' is not a finite number"),
        "predict-inf-cell": (predict + [csv("inf", "a,b,c,d\n1,2,3,inf\n")],
                             "row 1 (line 2), column 'd': 'inf' is not a finite number"),
        "predict-minus-inf": (predict + [csv("minf", "1,2,-Infinity,4\n")],
                              "column '3': '-Infinity' is not a finite number"),
        "predict-1e400": (predict + [csv("1e400", "1,2,3,1e400\n")], "is not a finite number"),
        "predict-nan-npy": (predict + [npy("nan", _npy_bytes(np.array([[1, 2, 3, np.nan]])))],
                            "row 1, column 4: nan is not a finite number"),
        "predict-complex-npy": (predict + [npy("complex", _npy_bytes(small + 1j))],
                                "complex numbers"),
        "predict-object-npy": (predict + [npy("object", _npy_bytes(np.array([1, None])))],
                               "Python objects"),
        "predict-npy-claims-huge": (predict + [npy("huge", _npy_bytes(small, (60000, 28000)))],
                                    "(60000, 28000)"),
        "predict-npy-3d": (predict + [npy("3d", _npy_bytes(np.ones((2, 2, 2))))],
                           "one example per row"),
        "predict-npy-not-npy": (predict + [npy("text", b"hello")], "not a .npy array"),
        "predict-wrong-width": (predict + [csv("wide", "1,2,3\n")], "3 features"),
        "predict-bom-header-nan": (predict + [csv("bom", "\ufeffa,b,c,d\n1,2,3,nan\n")],
                                   "column 'd'"),
        "csv-no-label-column": (train + ["--data", f"csv:{csv('few', rows[:12])}"],
                                   "has no column 'label'"),
    }


def _option_cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    train = ["train", "--epochs", "1", "--quiet", "--out", str(tmp / "unused")]
    occupied = tmp / "occupied"
    occupied.mkdir()
    (occupied / "metrics.json").write_text("{}")
    # inf passes the range checks, so it meets the finiteness check; NaN and -inf are
    # refused by the range checks first (which name the option)
    unbounded = ("lr", "l1", "l2", "tol", "weight-decay")  # no upper bound but finiteness
    named = {"val-fraction": "val_fraction must be"}
    cases = {f"{flag}-{value}": (train + ["--optimizer", "sgd", f"--{flag}={value}"],
                                 f"--{flag} must be a finite number, got inf"
                                 if flag in unbounded and value in ("inf", "1e400")
                                 else named.get(flag, f"--{flag}"))
             for flag in (*unbounded, "dropout", "momentum", "val-fraction")
             for value in ("inf", "nan", "-inf", "1e400")}
    cases.update({
        "hidden-99999999999": (train + ["--hidden", "99999999999"], "MAX_LAYER_SIZE"),
        "hidden-2**20+1": (train + ["--hidden", str(2**20 + 1)], "MAX_LAYER_SIZE"),
        "layers-huge": (train + ["--layers", "64,99999999999,10"], "MAX_LAYER_SIZE"),
        "hidden-wide-deep": (train + ["--hidden", "100000,100000"], "MAX_PARAMETERS"),
        "out-holds-a-run": (["train", "--epochs", "1", "--quiet", "--out", str(occupied)],
                            "already holds a run (metrics.json); give --force"),
    })
    return cases


def _expression_cases() -> dict[str, tuple[list[str], str]]:
    """``chainrule graph`` past its resource budget, and --values that are not numbers."""
    def graph(expression: str, **values: str) -> list[str]:
        return ["graph", expression, "--format", "text",
                "--values", ",".join(f"{k}={v}" for k, v in values.items())]

    col, row = str([[0.5]] * 3000), str([[0.5] * 3000])  # (3000, 1) and (1, 3000)
    big = {"u": col, "v": row}
    cases = {
        "graph-outer-4000-cubed": (graph("a * b * c", a=str([[[1]]] * 4000),
                                         b=str([[[1]] * 4000]), c=str([1] * 4000)),
                                   "MAX_ELEMENTS = 10,000,000"),
        "graph-outer-then-exp": (graph("exp(a * b) + 1", a=str([[1]] * 5000),
                                       b=str([[1] * 5000])), "MAX_ELEMENTS"),
        "graph-chain-20-products": (graph(" @ ".join(["(u * v)"] * 20), **big), "MAX_WORK"),
        "graph-one-product": (graph("(u * v) @ (u * v)", **big), "MAX_WORK = 1,000,000,000"),
        "graph-batched-product": (graph("(a * b) @ (a * b)", a=str([[[1]]] * 1000),
                                        b=str([[[1] * 100] * 100])), "MAX_WORK"),
        "graph-many-intermediates": (graph(" + ".join(f"(u * v) * {k}" for k in range(8)),
                                           **big), "MAX_TOTAL_ELEMENTS = 50,000,000"),
        "graph-no-broadcast": (graph("x + y", x="[1,2,3]", y="[1,2]"),
                               "the shapes (3,) and (2,) in x + y do not broadcast"),
        "graph-product-mismatch": (graph("x @ y", x="[[1,2,3]]", y="[[1,2]]"),
                                   "does not fit (inner sizes 3 and 1)"),
        "graph-product-of-scalar": (graph("x @ y", x="2", y="[1,2]"),
                                    "@ needs operands with at least one axis"),
    }
    for name, raw in {"quoted-single": "'1e5'", "quoted-double": '"1e5"', "bool": "True",
                      "none": "None", "complex": "1j", "bytes": "b'1'",
                      "list-with-str": "[1,'2']", "list-with-bool": "[1,False]",
                      "ragged": "[[1,2],[3]]", "dict": "{1:2}", "set": "{1}",
                      "deep": "[" * 5000 + "]" * 5000}.items():
        cases[f"graph-values-{name}"] = (graph("x * 2", x=raw), "the value of x is not a number")
    return cases


# -- the worker: every case in one process under the memory limit ---------------------------------

WORKER = textwrap.dedent("""\
    import contextlib, io, json, resource, sys, time, warnings
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
    import chainrule
    from chainrule.cli import main
    warnings.simplefilter("error")  # a warning would be a second stderr line
    results = {}
    for name, case in json.load(open(sys.argv[1])).items():
        started = time.perf_counter()
        if case["kind"] == "load":
            try:
                chainrule.load(case["args"][0])
                result = ["loaded", ""]
            except BaseException as e:
                result = [type(e).__name__, str(e)]
        else:
            err, out = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                    code = main(case["args"])
            except BaseException as e:
                code = f"{type(e).__name__}: {e}"
            result = [code, err.getvalue()]
        results[name] = result + [time.perf_counter() - started]
    print(json.dumps(results))
    """)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, list]:
    tmp = tmp_path_factory.mktemp("hostile")
    models = _model_cases(tmp)
    for name, (path, cause) in models.items():
        CASES[f"load:{name}"] = {"kind": "load", "args": [str(path)], "expect": cause}
        if name != "too-many-tensors":  # slow to parse: once is enough
            CASES[f"predict:{name}"] = {"kind": "cli", "expect": cause,
                                        "args": ["predict", str(path), str(tmp / "x.csv")]}
    (tmp / "x.csv").write_text("1,2,3,4\n")
    good = tmp / "model-good.safetensors"
    good.write_bytes(trained_model_bytes(tmp))
    for name, (args, cause) in {**_data_cases(tmp, good), **_option_cases(tmp),
                         **_expression_cases()}.items():
        CASES[f"cli:{name}"] = {"kind": "cli", "args": args, "expect": cause}
    # a trained model's metadata with the wrong types, its digest recomputed
    for name, change in {"preprocessing-null": lambda m: m.update(preprocessing=None),
                         "preprocessing-list": lambda m: m.update(preprocessing=[]),
                         "preprocessing-emptied": lambda m: m.update(preprocessing={}),
                         "classes-object": lambda m: m.update(classes={"a": 1}),
                         "classes-empty": lambda m: m.update(classes=[]),
                         "std-zero": lambda m: m["preprocessing"]["standardize"].update(
                             std=[0, 1, 1, 1]),
                         "mean-short": lambda m: m["preprocessing"]["standardize"].update(
                             mean=[1]),
                         "mean-strings": lambda m: m["preprocessing"]["standardize"].update(
                             mean=["1", "2", "3", "4"]),
                         "config-null": lambda m: m.update(config=None)}.items():
        path = tmp / f"meta-{name}.safetensors"
        path.write_bytes(edit_metadata(good.read_bytes(),
                                       lambda info, c=change: c(info["metadata"])))
        CASES[f"predict:meta-{name}"] = {"kind": "cli", "expect": "metadata is damaged",
                                         "args": ["predict", str(path), str(tmp / "x.csv")]}
    cases = tmp / "cases.json"
    cases.write_text(json.dumps(CASES))
    script = tmp / "worker.py"
    script.write_text(WORKER)
    done = subprocess.run([sys.executable, str(script), str(cases), str(MEMORY_LIMIT)],
                          capture_output=True, text=True, timeout=300, cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _failures(results: dict[str, list], kind: str) -> tuple[int, list[str]]:
    """(cases of ``kind`` tried, descriptions of those that were not one clean error)."""
    tried, failed = 0, []
    for name, case in CASES.items():
        if case["kind"] != kind:
            continue
        tried += 1
        outcome, message, seconds = results[name]
        if kind == "load":
            ok = outcome == "ModelFileError"
        else:
            ok = outcome == 2 and message.startswith("chainrule: error:") and \
                message.count("\n") == 1
        if not (ok and case["expect"] in message and seconds < 10):
            failed.append(f"{name}: {outcome!r} after {seconds:.2f} s: {message[:300]!r} "
                          f"(expected {case['expect']!r})")
    return tried, failed


def test_malformed_model_files_each_raise_one_model_file_error(results):
    tried, failed = _failures(results, "load")
    assert tried >= 90 and not failed, "\n".join(failed)


def test_hostile_command_inputs_each_end_in_one_line_and_exit_2(results):
    tried, failed = _failures(results, "cli")
    assert tried >= 150 and not failed, "\n".join(failed)


def test_hostile_counts(results, capsys):
    """The summary the issue asks for: inputs tried, clean errors, failures."""
    counts = [_failures(results, kind) for kind in ("load", "cli")]
    tried = sum(t for t, _ in counts)
    failures = sum(len(f) for _, f in counts)
    with capsys.disabled():
        print(f"\nhostile inputs tried: {tried}, clean errors: {tried - failures}, "
              f"failures: {failures}")
    assert failures == 0


def test_huge_architectures_are_refused_before_building(results):
    for name in ("linear-1e5-squared", "linear-20000-squared", "lstm-1e7-layers"):
        assert results[f"load:{name}"][2] < 0.5, results[f"load:{name}"]


# -- what still loads, and the files we write ------------------------------------------------------

def test_the_crafting_helpers_make_loadable_files(tmp_path):
    """The cases above are edits of a file that loads: the edit, not the helper, is refused."""
    good = trained_model_bytes(tmp_path)
    for blob in (good, edit_metadata(good, lambda info: None),
                 edit_table(good, lambda h, d: None)):
        path = tmp_path / "again.safetensors"
        path.write_bytes(blob)
        model = cr.load(path)
        assert model.metadata["classes"] == ["a", "b", "c"]
        assert cr.load_metadata(path)["preprocessing"]["standardize"]["std"][3] == 4.0


def test_a_file_without_the_metadata_digest_loads_with_a_warning(tmp_path):
    good = trained_model_bytes(tmp_path)
    header, data = split(good)
    del header["__metadata__"]["metadata_sha256"]
    path = tmp_path / "old.safetensors"
    path.write_bytes(frame(header, data))
    with pytest.warns(cr.safetensors.ModelFileWarning, match="no metadata digest.*save it "
                                                              "again"):
        model = cr.load(path)
    assert model.metadata["classes"] == ["a", "b", "c"]
    # saving it again adds the digest: no warning, and a changed digit is caught
    cr.save(model, path, model.metadata)
    assert "metadata_sha256" in split(path.read_bytes())[0]["__metadata__"]
    cr.load(path)


def test_every_builtin_layer_predicts_its_state():
    """The predictions ``load`` checks a file against are what the constructors build."""
    from chainrule.nn.serialization import architecture
    from chainrule.nn.state_shapes import PREDICTORS, expected_state

    models = [nn.Linear(3, 4), nn.Linear(3, 4, bias=False, dtype=np.float64), nn.RBF(3, 4),
              nn.Embedding(5, 3), nn.BatchNorm1d(3), nn.BatchNorm1d(3, affine=False),
              nn.BatchNorm2d(3, affine=False, track_running_stats=False),
              nn.Conv1d(2, 4, 3, groups=2), nn.Conv2d(2, 4, (3, 2), groups=2, bias=False),
              nn.ConvTranspose2d(2, 4, 3, groups=2), nn.LSTM(3, 4, 2), nn.GRU(3, 4, bias=False),
              nn.RNN(3, 4, 2), nn.LSTMCell(3, 4), nn.GRUCell(3, 4), nn.RNNCell(3, 4, bias=False),
              nn.CharRNN(7, 3, 4, 2, "gru"), nn.CharRNN(7, 3, 4, 1, "rnn"),
              nn.Sequential(nn.Linear(2, 3), nn.ReLU(),
                            nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 1))),
              nn.LayerNorm((2, 3)), nn.LayerNorm(4, bias=False), nn.RMSNorm(4),
              nn.RMSNorm(4, elementwise_affine=False), nn.MultiheadAttention(8, 2),
              nn.MultiheadAttention(8, 2, bias=False), nn.TransformerBlock(8, 2),
              nn.GPT(vocab_size=5, block_size=4, n_layer=2, n_head=2, n_embd=8),
              nn.GPT(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=8,
                     tie_weights=True, bias=False, norm="rmsnorm", activation="relu")]
    for model in models:
        built = {k: (tuple(v.shape), np.dtype(v.dtype)) for k, v in model.state_dict().items()}
        predicted = {k: (shape, dtype) for k, shape, dtype in expected_state(architecture(model))}
        assert built == predicted, model
    for name in nn.__all__:  # every layer chainrule can rebuild has a prediction
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module) and name not in (
                "Module", "Sequential"):
            assert name in PREDICTORS, name


def test_a_registered_layer_without_a_prediction_still_loads(tmp_path):
    @cr.register_module
    class Scale(nn.Module):
        config_fields = ("n",)

        def __init__(self, n: int = 2) -> None:
            super().__init__()
            self.n = n
            self.w = nn.Parameter(np.ones(n, np.float32))

    path = tmp_path / "scale.safetensors"
    cr.save(nn.Sequential(Scale(3), nn.ReLU()), path)
    assert cr.load(path)[0].w.shape == (3,)
    blob = edit_metadata(path.read_bytes(), arch("layers/0/config/n", 4))
    path.write_bytes(blob)
    with pytest.raises(ModelFileError, match="do not fit the model"):
        cr.load(path)


def test_written_files_get_the_umask_mode_and_stale_temporaries_go(tmp_path):
    from chainrule._io import atomic_write

    old = os.umask(0o022)
    try:
        model = nn.Sequential(nn.Linear(2, 2))
        stale = tmp_path / ".m.safetensors.abc123.tmp"
        stale.write_bytes(b"left by a killed writer")
        os.utime(stale, (time.time() - 3600, time.time() - 3600))
        fresh = tmp_path / ".m.safetensors.def456.tmp"  # a live writer's: kept
        fresh.write_bytes(b"")
        cr.save(model, tmp_path / "m.safetensors")
        assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o644
        assert not stale.exists() and fresh.exists()
        os.umask(0o027)
        with atomic_write(tmp_path / "t.txt", "w") as f:
            f.write("x")
        assert (tmp_path / "t.txt").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_out_with_a_run_is_refused_then_replaced_whole_with_force(tmp_path, capsys):
    from chainrule.cli import main

    out = tmp_path / "run"
    args = ["train", "--epochs", "1", "--hidden", "8", "--quiet", "--out", str(out)]
    assert main(args) == 0
    (out / "confusion.png").write_bytes(b"an old evaluation")
    before = (out / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a run" in err and "--force" in err
    assert (out / "model.safetensors").read_bytes() == before
    assert main([*args, "--force", "--seed", "1"]) == 0
    assert not (out / "confusion.png").exists()  # the old run's file is gone with it
    assert (out / "model.safetensors").read_bytes() != before
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "metrics.csv",
                                               "metrics.json", "curves.png"}


def test_csv_with_a_byte_order_mark_trains(tmp_path, capsys):
    from chainrule.cli import main
    from chainrule.data import load_csv

    rows = "".join(f"{i % 7},{(i * 3) % 11},{i % 2}\n" for i in range(40))
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeffa,b,label\n" + rows).encode())
    assert load_csv(path, "label").feature_names == ["a", "b"]
    assert main(["train", "--data", f"csv:{path}", "--epochs", "1", "--quiet", "--out",
                 str(tmp_path / "o")]) == 0, capsys.readouterr().err


class _TwoRanks:
    """Rank 0 of a simulated 2-rank run whose rank 1 passes ``theirs`` to allgather."""

    world_size, rank, is_main = 2, 0, True

    def __init__(self, theirs):
        self.theirs = theirs

    def allgather(self, value):
        return [value, self.theirs]


def test_ranks_given_different_data_of_the_same_shape_are_refused():
    from chainrule import distributed as dist

    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6) % 2
    mine = {"sha256(train_data)": dist.data_fingerprint((x, y)), "sha256(val_data)": None}
    for other in ((x + 1, y), (x, 1 - y), (x.astype(np.float64), y)):
        theirs = {"sha256(train_data)": dist.data_fingerprint(other), "sha256(val_data)": "None"}
        with pytest.raises(dist.SettingsMismatchError, match="different data of the same "
                                                             "size.*rank 1 has sha256"):
            dist.check_same_data(mine, _TwoRanks(theirs))
    same = {k: str(v) for k, v in mine.items()}
    dist.check_same_data(mine, _TwoRanks(same))
    assert dist.data_fingerprint((x, y)) == dist.data_fingerprint(cr.data.TensorDataset(x, y))
    assert dist.data_fingerprint([(x, y)]) is None  # a list of batches: not hashed


@needs_mpi
def test_ranks_loading_different_csv_files_of_the_same_shape_are_refused(tmp_path):
    for rank in (0, 1):  # same shape, different numbers
        rows = "".join(f"{(i * (rank + 2)) % 9},{i % 4},{i % 2}\n" for i in range(40))
        (tmp_path / f"d{rank}.csv").write_text("a,b,label\n" + rows)
    worker = tmp_path / "w.py"
    worker.write_text(textwrap.dedent(f"""\
        import sys
        from chainrule import distributed as dist
        from chainrule.cli import main
        rank = dist.init().rank
        sys.exit(main(["train", "--distributed", "--data", "csv:{tmp_path}/d" + str(rank)
                       + ".csv", "--epochs", "1", "--quiet", "--out", "{tmp_path}/o"]))
        """))
    result = mpirun(str(worker), via_mpi4py=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "the ranks were given different data of the same size" in result.stderr
    assert "rank 1 has sha256(train_data)=" in result.stderr
    assert not (tmp_path / "o" / "model.safetensors").exists()


def test_expression_budget_refuses_in_milliseconds():
    """The shape pass refuses before any array is made: milliseconds, whatever the size."""
    from chainrule.viz.expression import ExpressionError, evaluate, parse

    values = {"a": np.ones((4000, 1, 1)), "b": np.ones((1, 4000, 1)), "c": np.ones(4000),
              "u": np.ones((3000, 1)), "v": np.ones((1, 3000))}
    for expression, limit in (("a * b * c", "MAX_ELEMENTS"),
                              (" @ ".join(["(u * v)"] * 20), "MAX_WORK")):
        started = time.perf_counter()
        with pytest.raises(ExpressionError, match=limit) as refused:
            evaluate(parse(expression), values)
        assert time.perf_counter() - started < 0.2
        assert "\n" not in str(refused.value)


def test_expression_estimate_counts_elements_and_work():
    from chainrule.viz.expression import MAX_ELEMENTS, estimate, evaluate, parse

    values = {"x": np.ones((3, 4)), "y": np.ones((4, 5)), "s": np.ones(4)}
    # x @ y: 15 elements, 3*4*5 = 60 multiply-adds; + 1: 15 and 15; x @ s: 3 and 12
    assert estimate(parse("x @ y + 1"), values) == (30, 75)
    assert estimate(parse("sum(x @ s)"), values) == (4, 13)
    out, _ = evaluate(parse("x @ y + 1"), values)  # within the budget: evaluated
    assert out.shape == (3, 5)
    side = int(MAX_ELEMENTS ** 0.5)  # an intermediate at the limit itself is allowed
    assert estimate(parse("p * q"), {"p": np.ones((side, 1)), "q": np.ones((1, side))})[0] \
        == side * side


def test_registering_a_layer_before_the_first_load_keeps_the_builtins(tmp_path):
    """register_module before any load must not hide the built-in layers from load."""
    import subprocess
    import sys

    code = ("import chainrule as cr\nfrom chainrule import nn\n"
            "class Twice(nn.Module):\n    config_fields = ()\n"
            "    def forward(self, x):\n        return x * 2\n"
            "cr.register_module(Twice)\n"
            f"cr.save(nn.Sequential(nn.Linear(2, 3), Twice()), {str(tmp_path / 'm.st')!r})\n"
            f"print(type(cr.load({str(tmp_path / 'm.st')!r})[0]).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Linear"
