"""``chainrule predict``: the class and class probabilities a saved model gives new
inputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from chainrule.cli.common import EXIT_OK, load_trained

FORMATS = ("csv", "json")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="class and probabilities for new inputs")
    p.add_argument("model", help="a .safetensors file written by chainrule train")
    p.add_argument("input", help="a .csv (one example per row) or .npy file; - reads CSV "
                                 "from standard input")
    p.add_argument("--output", "-o", help="write to this .csv or .json file (default: standard "
                                           "output)")
    p.add_argument("--format", choices=FORMATS, help="csv or json (default: from the "
                                                     "--output extension, else csv)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    import chainrule.functional as F
    from chainrule.autograd.tensor import Tensor
    from chainrule.data import read_features
    from chainrule.train.fit import predict
    from chainrule.train.run import prepare_inputs

    fmt = output_format(args.output, args.format)
    model, meta = load_trained(args.model)
    x = read_features(args.input, meta.get("config", {}).get("label_column"))
    scores = predict(model, prepare_inputs(x, meta))
    if meta.get("config", {}).get("loss") == "mse":
        probs = scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12)
    else:
        probs = F.softmax(Tensor(scores)).data
    classes = meta["classes"]
    predicted = probs.argmax(axis=1)
    if fmt == "json":
        records = [{"class": classes[k], "probabilities": dict(zip(classes, map(float, p),
                                                                     strict=True))}
                   for k, p in zip(predicted, probs, strict=True)]
        text = json.dumps(records, indent=2) + "\n"
    else:
        lines = [",".join(["class", *[f"p_{c}" for c in classes]])]
        lines += [",".join([classes[k], *[f"{v:.6f}" for v in p]])
                  for k, p in zip(predicted, probs, strict=True)]
        text = "\n".join(lines) + "\n"
    from chainrule._io import write_text_or_print

    write_text_or_print(text, args.output, "predictions")
    return EXIT_OK


def output_format(output: str | None, given: str | None) -> str:
    """The format to write: --format, else the extension of --output (.csv or .json; any
    other is refused rather than filled with CSV), else csv."""
    if given or not output:
        return given or "csv"
    suffix = Path(output).suffix.lower()
    if suffix.lstrip(".") in FORMATS:
        return suffix.lstrip(".")
    raise ValueError(f"predict: --output {output}: {'no extension' if not suffix else suffix} "
                     f"is not .csv or .json; give one of those, or --format csv|json")
