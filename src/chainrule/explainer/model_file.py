"""Explaining a saved model: ``chainrule.load`` gives the network and the metadata that
``chainrule train`` wrote (its classes, its loss, the standardization of its inputs), so
the examples are prepared as the training data was and the loss is the one it trained."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from chainrule.explainer.derivation import Derivation, derive, layers_of
from chainrule.explainer.messages import Message

# explain prints every matrix and checks every gradient entry by central differences (two
# forward passes per entry), so its cost grows like weights x examples x weights: a
# 100-100-10 network took 1 s, 300-300-10 took 21 s. Past these sizes the printout is
# unreadable anyway.
MAX_WEIGHTS, MAX_EXAMPLES = 20_000, 500


def check_size(model: Any, examples: int, source: str) -> None:
    """Refuse a network of more than MAX_WEIGHTS weights or more than MAX_EXAMPLES
    examples, saying why (every entry is printed and checked numerically)."""
    linears = [lin for lin, _ in layers_of(model)]
    weights = sum(lin.weight.data.size for lin in linears)
    if weights > MAX_WEIGHTS:
        sizes = [linears[0].in_features] + [lin.out_features for lin in linears]
        raise ValueError(f"explain: the model {source} ({'-'.join(map(str, sizes))}) has "
                         f"{weights:,} weights; explain prints and numerically checks every "
                         f"one, so it takes networks of at most {MAX_WEIGHTS:,}")
    if examples > MAX_EXAMPLES:
        raise ValueError(f"explain: {examples:,} examples given; explain prints every one, so "
                         f"give at most {MAX_EXAMPLES} (a few rows show the derivation as well "
                         f"as many)")


def _class_indices(y: Any, classes: list[str], path: str) -> np.ndarray:
    """Labels as indices into the model's classes: class names (as the training data spelled
    them) or indices 0..n-1."""
    y = np.asarray(getattr(y, "data", y)).reshape(-1)
    if y.dtype.kind in "US" or y.dtype == object:
        index = {str(name): k for k, name in enumerate(classes)}
        unknown = [str(v) for v in y if str(v) not in index]
        if unknown:
            raise ValueError(f"explain: label {unknown[0]!r} is not one of the classes of "
                             f"{path}: {', '.join(map(str, classes))}")
        return np.array([index[str(v)] for v in y])
    if not np.all((y >= 0) & (y < len(classes)) & (y == np.round(y))):
        raise ValueError(f"explain: the labels must be class indices 0..{len(classes) - 1} or "
                         f"class names of {path} ({', '.join(map(str, classes))}); got "
                         f"{y.tolist()[:5]}")
    return y.astype(int)


def derive_model_file(path: str | os.PathLike, x: Any, y: Any = None, loss: Any = None,
                      **options: Any) -> Derivation:
    """The derivation for a model saved by ``chainrule train`` (or ``chainrule.save``) on
    the examples x (raw features, as in the training file): x goes through the model's
    saved preprocessing (standardization with the training mean and std) first; y holds
    class indices or class names, or None for the model's own predicted classes; the loss
    is the one it was trained with unless ``loss`` is given. ``options`` go to ``derive``
    (lr, l1, l2, steps, per_example)."""
    from chainrule.autograd.mode import no_grad
    from chainrule.autograd.tensor import Tensor
    from chainrule.nn.loss import CrossEntropyLoss, MSELoss
    from chainrule.nn.serialization import load
    from chainrule.train.run import apply_preprocessing

    where = os.fspath(path)
    model = load(where)
    meta = getattr(model, "metadata", {}) or {}
    x = np.asarray(getattr(x, "data", x), np.float64)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    check_size(model, len(x), where)
    prepared = apply_preprocessing(x, meta.get("preprocessing") or {}).astype(np.float64)
    trained = (meta.get("config") or {}).get("loss", "cross-entropy")
    if loss is None:
        loss = MSELoss() if trained == "mse" else CrossEntropyLoss()
    classes = meta.get("classes")
    notes = [Message("note.model_trained", path=where, data=meta["data"]) if meta.get("data")
             else Message("note.model", path=where)]
    if meta.get("preprocessing", {}).get("standardize"):
        notes.append(Message("note.standardized"))
    if y is None:
        with no_grad():
            scores = model.eval()(Tensor(prepared.astype(np.float32))).data
        y = scores.argmax(axis=1)
        notes.append(Message("note.predicted_targets"))
    if classes:
        y = _class_indices(y, classes, where)
        if isinstance(loss, MSELoss) or loss == "mse":  # trained on one-hot rows
            y = np.eye(len(classes))[y]
    d = derive(model, prepared, y, loss, **options)
    d.notes = notes + d.notes
    return d


def explain_model_file(path: str | os.PathLike, x: Any, y: Any = None, loss: Any = None, *,
                       format: str = "text", columns: bool = False, lang: str = "en",
                       **options: Any) -> str:
    """``derive_model_file`` written out in ``format`` (text, markdown or html) and in
    language ``lang``."""
    from chainrule.explainer.render import render

    return render(derive_model_file(path, x, y, loss, **options), format, columns, lang=lang)
