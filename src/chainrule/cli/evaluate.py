"""``chainrule evaluate``: accuracy, per-class precision and recall, and the confusion
matrix of a saved model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NamedTuple

from chainrule.cli.common import EXIT_OK, load_trained


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="accuracy, per-class precision/recall and confusion "
                                        "matrix of a saved model")
    p.add_argument("model", help="a .safetensors file written by chainrule train")
    p.add_argument("--data", help="dataset (default: the one the model was trained on): "
                                  "digits, mnist, fashion-mnist or csv:PATH (csv:- reads "
                                  "standard input)")
    p.add_argument("--data-dir", help="directory of the MNIST/Fashion-MNIST files (default: "
                                      "the one given in training)")
    p.add_argument("--label-column", default=None,
                   help="label column of a CSV file (default: the one of training)")
    p.add_argument("--out", help="directory for confusion.png (default: beside the model)")
    p.set_defaults(func=run)


class _EvaluationData(NamedTuple):
    x: Any
    y: Any  # class indices into names
    names: list[str]  # the data's class names
    title: str  # what is scored, for the output
    where: str  # where the labels come from, for error messages


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from chainrule.data import match_classes
    from chainrule.train.fit import predict
    from chainrule.train.metrics import accuracy, classification_report, confusion_matrix
    from chainrule.train.run import prepare_inputs

    model, meta = load_trained(args.model)
    data = _evaluation_data(args, meta)
    classes = meta["classes"]
    y = match_classes(data.y, data.names, classes, data.where)
    scores = predict(model, prepare_inputs(data.x, meta))
    cm = confusion_matrix(scores, y, len(classes))
    print(f"{data.title}: {len(y)} examples, accuracy {accuracy(scores, y) * 100:.2f}%\n")
    print(classification_report(cm, classes))
    out = Path(args.out) if args.out else Path(args.model).parent
    out.mkdir(parents=True, exist_ok=True)
    png = out / "confusion.png"
    _plot_confusion(cm, classes, png)
    np.savetxt(out / "confusion.csv", cm, fmt="%d", delimiter=",")
    print(f"\nconfusion matrix: {png} and {out / 'confusion.csv'}")
    return EXIT_OK


def _evaluation_data(args: argparse.Namespace, meta: dict[str, Any]) -> _EvaluationData:
    """A CSV given with --data is scored whole: the model never saw it (or, if it is the
    training file, the output says so). A named dataset, or the model's own data when
    --data is not given, is scored on its test split, as at the end of training."""
    from chainrule.data import check_dataset_name, load_dataset

    config = meta.get("config", {})
    label_column = args.label_column or config.get("label_column", "label")
    name = args.data or meta.get("data", "digits")
    check_dataset_name(name)
    if not args.data and name == "csv:-":
        raise ValueError("the model was trained on standard input (--data csv:-), which is "
                         "gone; give the data to score with --data")
    if args.data and name.startswith("csv:"):
        return _whole_csv(name[4:], label_column, meta.get("data", ""))
    *_, x, y, names = load_dataset(name, args.data_dir or config.get("data_dir"),
                                         label_column, config.get("test_fraction", 0.2))
    return _EvaluationData(x, y, names, f"{name} test set", f"--data {name}")


def _whole_csv(path: str, label_column: str, trained_on: str) -> _EvaluationData:
    from chainrule.data import load_csv

    table = load_csv(path, label_column)
    title = f"{path} (all rows)"
    if trained_on.startswith("csv:") and _same_file(path, trained_on[4:]):
        title = (f"{path} (all rows; the model was trained on this file, so most of them were "
                 f"its training data: without --data only its held-out test rows are scored)")
    return _EvaluationData(table.X, table.y, [str(c) for c in table.classes], title,
                           f"--data csv:{path}, column {label_column!r}")


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).samefile(b)
    except OSError:  # the training file moved or was deleted
        return False


def _plot_confusion(cm: Any, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from chainrule._io import atomic_write

    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.colorbar(im)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
