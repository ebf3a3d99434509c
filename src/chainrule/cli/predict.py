"""``chainrule predict``: the class and class probabilities a saved model gives new
inputs."""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli.common import EXIT_OK, load_trained


def add_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="class and probabilities for new inputs")
    p.add_argument("model", help="a .safetensors file written by chainrule train")
    p.add_argument("input", help="a .csv (one example per row) or .npy file")
    p.add_argument("--output", "-o", help="write to this .csv or .json file (default: CSV on "
                                           "stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    import chainrule.functional as F
    from chainrule.autograd.tensor import Tensor
    from chainrule.data import read_features
    from chainrule.train.fit import predict
    from chainrule.train.run import prepare_inputs

    model, meta = load_trained(args.model)
    x = read_features(args.input, meta.get("config", {}).get("label_column"))
    scores = predict(model, prepare_inputs(x, meta))
    if meta.get("config", {}).get("loss") == "mse":
        probs = scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12)
    else:
        probs = F.softmax(Tensor(scores)).data
    classes = meta["classes"]
    predicted = probs.argmax(axis=1)
    if args.output and args.output.endswith(".json"):
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
