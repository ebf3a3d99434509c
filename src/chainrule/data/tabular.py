"""Tables of numbers from CSV files: numeric feature columns and one label column
(``load_csv``), or inputs without labels (``read_features``, also .npy files). The path
``-`` reads the CSV text from standard input (``cat table.csv | chainrule ...``)."""

from __future__ import annotations

import csv
import gzip
import io
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

# The most classes integer labels may ask for: labels are their own class indices, so
# one stray label of 10**12 would otherwise mean a trillion outputs.
MAX_CLASSES = 100_000


class CSVData(NamedTuple):
    """What ``load_csv`` returns; unpacks as ``X, y, classes, feature_names = ...``.

    Attributes:
        X: float32 features, shape (rows, features), in the file's column order.
        y: int64 class indices, shape (rows,).
        classes: the class of each index: ``classes[y[i]]`` is row i's label as
            written in the file (an int for integer labels, a str otherwise).
        feature_names: the header names of the columns of ``X``.
    """

    X: np.ndarray
    y: np.ndarray
    classes: list[Any]
    feature_names: list[str]


STDIN = "-"  # the path that means standard input


def _is_stdin(path: str | os.PathLike) -> bool:
    return str(path) == STDIN


def _open_text(path: Path) -> io.TextIOBase:
    if _is_stdin(path):  # read whole, so that the caller may close it like a file
        return io.StringIO(sys.stdin.read(), newline="")
    # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which is not a header
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig",  # type: ignore[return-value]
                         newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _numbered_rows(path: Path, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file with their line numbers, as in an editor (the
    first line is 1; blank lines are skipped but counted)."""
    rows: list[tuple[int, list[str]]] = []
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            rows.extend((line, row) for line, row in enumerate(reader, start=1) if row)
        except csv.Error as e:  # e.g. a cell over csv.field_size_limit() characters
            raise ValueError(f"{path}, line {reader.line_num}: not a readable CSV file "
                             f"({e})") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start} of a "
                             f"block)") from None
    return rows


def _encode_labels(labels: list[str]) -> tuple[np.ndarray, list[Any]]:
    """Class indices and class names; non-negative integer labels are their own indices."""
    try:
        values = [int(v) for v in labels]
    except ValueError:
        values = None
    if values is not None and values and max(values) >= MAX_CLASSES:
        raise ValueError(f"integer label {max(values)} would mean {max(values) + 1} classes "
                         f"(integer labels are class indices 0, 1, ...), over the limit of "
                         f"{MAX_CLASSES} (MAX_CLASSES)")
    if values is not None and (not values or min(values) >= 0):
        # Keep integer labels as given (so a file lacking some class keeps the others' indices);
        # classes then lists every index up to the largest, the number of outputs needed.
        return np.asarray(values, dtype=np.int64), list(range(max(values, default=-1) + 1))
    names = sorted(set(labels))
    if len(names) > MAX_CLASSES:
        raise ValueError(f"the label column holds {len(names)} distinct labels, over the "
                         f"limit of {MAX_CLASSES} classes (MAX_CLASSES)")
    lookup = {name: k for k, name in enumerate(names)}
    return np.asarray([lookup[v] for v in labels], dtype=np.int64), names


def load_csv(path: str | os.PathLike, label_column: str, *, delimiter: str = ",") -> CSVData:
    """Load a CSV file with a header row, numeric feature columns and a label column.

    Args:
        path: the file (``.gz`` files are decompressed), UTF-8; ``-``: standard input.
        label_column: the header name of the label column; every other column is
            a feature and must hold finite numbers.
        delimiter: the field separator.

    Labels that are all non-negative integers are used as class indices
    directly (``classes = [0, 1, ..., max]``). Any other labels (strings,
    negative integers, numbers written as 1.0) are treated as class names: ``classes``
    is their sorted list of distinct values and ``y`` indexes into it. Numbers that are
    not whole (5.1) are refused: such a column holds measurements, not classes.

    Returns:
        A ``CSVData`` named tuple ``(X, y, classes, feature_names)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no header, no such label column, a row with the wrong number
            of cells, or a cell that is not a finite number (the message gives the
            line number, counting the header as line 1, and the column name).
    """
    path = Path(path)
    if not path.is_file() and not _is_stdin(path):
        raise FileNotFoundError(f"load_csv: file not found: {path}")
    numbered = _numbered_rows(path, delimiter)
    if not numbered:
        raise ValueError(f"load_csv: {path} is empty; expected a header row")
    _, header = numbered[0]
    header = [name.strip() for name in header]
    if label_column not in header:
        raise ValueError(f"load_csv: {path} has no column {label_column!r}; its columns are "
                         f"{header}")
    if len(set(header)) != len(header):
        repeated = sorted(h for h, n in Counter(header).items() if n > 1)
        raise ValueError(f"load_csv: {path}: repeated column names {repeated}")
    body = numbered[1:]
    if not body:
        raise ValueError(f"load_csv: {path} has a header but no data rows")
    for line, row in body:
        if len(row) != len(header):
            raise ValueError(f"load_csv: {path}, line {line}: expected {len(header)} cells "
                             f"(one per column of the header), found {len(row)}")
    label_index = header.index(label_column)
    labels = [row[label_index].strip() for _, row in body]
    # first: measurements chosen as the label leave a column of names among the features,
    # and the label is what was mistaken
    _check_not_measurements(path, label_column, labels)
    feature_index = [k for k in range(len(header)) if k != label_index]
    cells = [[row[k] for k in feature_index] for _, row in body]
    try:
        X = np.asarray(cells, dtype=np.float64).reshape(len(body), len(feature_index))
        finite = bool(np.all(np.isfinite(X)))
    except ValueError:
        finite = False
    if not finite:
        _raise_bad_cell(path, body, header, feature_index)
    y, classes = _encode_labels(labels)
    return CSVData(X.astype(np.float32), y, classes, [header[k] for k in feature_index])


def _check_not_measurements(path: Path, label_column: str, labels: list[str]) -> None:
    """Refuse a label column of numbers that are not all whole (5.1, 4.9, ...): it holds
    measurements, not classes, and taken as class names it would make a class of every
    distinct value. The message shows a few of those values, not all."""
    try:
        values = [float(v) for v in labels]
    except ValueError:  # names: classes
        return
    fractional = [text for text, v in zip(labels, values, strict=True)
                  if not float(v).is_integer()]
    if not fractional:
        return
    distinct = list(dict.fromkeys(fractional))
    examples = ", ".join(distinct[:3]) + (", ..." if len(distinct) > 3 else "")
    raise ValueError(f"load_csv: {path}: the label column {label_column!r} holds non-integer "
                     f"values ({examples}): measurements, not classes; a label column holds "
                     f"class names or whole-number class ids")


def _raise_bad_cell(path: Path, body: list[tuple[int, list[str]]], header: list[str],
                    feature_index: list[int]) -> None:
    """Find the first cell that is not a finite number and say where it is."""
    for number, (line, row) in enumerate(body, start=1):
        for k in feature_index:
            cell = row[k]
            try:
                ok = np.isfinite(float(cell))
            except ValueError:
                ok = False
            if not ok:
                what = "is empty" if not cell.strip() else f"{cell!r} is not a finite number"
                raise ValueError(f"load_csv: {path}, row {number} (line {line}), column "
                                 f"{header[k]!r}: the cell {what}; feature columns must be "
                                 f"numeric")
    raise AssertionError("unreachable: a non-numeric cell was detected but not found")


def read_features(path: str | os.PathLike, label_column: str | None = None) -> np.ndarray:
    """Rows of numbers (float32, one example per row) from a .npy file or a CSV file.

    A CSV file may have a header row (a first row that is not all numbers); its column
    ``label_column``, if it has one, is left out. A 1-D .npy array is one example; one of
    more than 2 dimensions keeps its shape (images, for an image model to check).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty file, a header without rows, a cell that is not a number
            (the message gives the row, the line and the column), or a .npy file that is
            not numeric.
    """
    path = Path(path)
    if not path.is_file() and not _is_stdin(path):
        raise FileNotFoundError(f"no input file at {path}")
    if path.suffix == ".npy":
        return _npy_features(path)
    rows = _numbered_rows(path)
    if not rows:
        raise ValueError(f"{path} is empty")
    header = None
    try:
        [float(v) for v in rows[0][1]]
    except ValueError:
        header, rows = rows[0][1], rows[1:]
    if not rows:
        raise ValueError(f"{path} has a header but no data rows")
    keep = list(range(len(header) if header else len(rows[0][1])))
    if header and label_column in header:
        keep.remove(header.index(label_column))
    return _numbers(path, rows, header, keep)


def _npy_features(path: Path) -> np.ndarray:
    """The rows of a .npy file of real numbers (its header checked before allocating)."""
    from chainrule.data.npy import read_npy

    x = read_npy(path)
    if x.dtype.kind not in "biuf":
        what = "complex numbers" if x.dtype.kind == "c" else f"values of dtype {x.dtype}"
        raise ValueError(f"{path} holds {what}; expected real numbers")
    x = x.reshape(1, -1) if x.ndim == 1 else x  # images keep their shape (N, C, H, W)
    bad = np.argwhere(~np.isfinite(x)) if x.dtype.kind == "f" else ()
    if len(bad):
        where = ("row {}, column {}" if x.ndim == 2 else "example {}, position {}").format(
            bad[0][0] + 1, bad[0][1] + 1 if x.ndim == 2 else tuple(int(i) for i in bad[0][1:]))
        raise ValueError(f"{path}: {where}: {x[tuple(bad[0])]} is not a finite number")
    return x


def _numbers(path: Path, rows: list[tuple[int, list[str]]], header: list[str] | None,
             keep: list[int]) -> np.ndarray:
    """The cells of columns ``keep`` as float32, or a ValueError naming the first bad one
    (not a number, or NaN or infinite, which no prediction can use)."""
    values = np.empty((len(rows), len(keep)), np.float32)
    for r, (line, row) in enumerate(rows):
        for c, k in enumerate(keep):
            try:
                values[r, c] = value = float(row[k])
                problem = "is not a finite number" if not np.isfinite(value) else None
            except (ValueError, IndexError):
                problem = "is not a number"
            if problem:
                column = header[k] if header else str(k + 1)
                cell = repr(row[k]) if k < len(row) else "(missing)"
                raise ValueError(f"{path}: row {r + 1} (line {line}), column {column!r}: "
                                 f"{cell} {problem}")
    return values
