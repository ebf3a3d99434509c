"""Classification metrics on numpy arrays: accuracy, confusion matrix, precision and recall."""

from __future__ import annotations

from typing import Any

import numpy as np


def _labels(values: Any) -> np.ndarray:
    a = np.asarray(getattr(values, "data", values))
    if a.ndim == 2:  # scores or one-hot rows: the predicted / true class is the argmax
        return a.argmax(axis=1) if a.shape[1] > 1 else (a[:, 0] > 0.5).astype(np.int64)
    return a.astype(np.int64, copy=False)


def accuracy(predictions: Any, targets: Any) -> float:
    """Fraction of examples whose predicted class equals the target class.

    Either argument may be class indices (n,) or scores/one-hot rows (n, classes).
    """
    p, t = _labels(predictions), _labels(targets)
    if p.shape != t.shape:
        raise ValueError(f"accuracy: {p.shape[0]} predictions for {t.shape[0]} targets")
    return float((p == t).mean()) if p.size else float("nan")


def confusion_matrix(predictions: Any, targets: Any, num_classes: int | None = None
                     ) -> np.ndarray:
    """C[i, j] = number of examples of true class i predicted as class j."""
    p, t = _labels(predictions), _labels(targets)
    k = num_classes or int(max(p.max(initial=0), t.max(initial=0)) + 1)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def precision_recall(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision C[i,i] / sum_j C[j,i] and recall C[i,i] / sum_j C[i,j]
    (0 where a class was never predicted / never present)."""
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return precision, recall


def classification_report(confusion: np.ndarray, class_names: list[str] | None = None) -> str:
    """A text table: per-class precision, recall, support, then the confusion matrix."""
    precision, recall = precision_recall(confusion)
    k = confusion.shape[0]
    names = class_names or [str(i) for i in range(k)]
    width = max(5, *(len(n) for n in names))
    lines = [f"{'class':>{width}}  precision  recall  support"]
    for i in range(k):
        lines.append(f"{names[i]:>{width}}  {precision[i]:9.3f}  {recall[i]:6.3f}  "
                     f"{int(confusion[i].sum()):7d}")
    total = confusion.sum()
    lines.append(f"{'accuracy':>{width}}  {np.trace(confusion) / max(total, 1):9.4f}"
                 f"{'':8}  {int(total):7d}")
    lines.append("")
    lines.append("confusion matrix (rows: true class, columns: predicted class)")
    cell = max(4, len(str(int(confusion.max(initial=0)))) + 1)
    lines.append(" " * width + "".join(f"{n[:cell - 1]:>{cell}}" for n in names))
    for i in range(k):
        lines.append(f"{names[i]:>{width}}" + "".join(f"{int(v):>{cell}}" for v in confusion[i]))
    return "\n".join(lines)
