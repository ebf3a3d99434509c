"""``chainrule explain``: the backpropagation derivation of a small network, every number
checked; the network and data come from ``chainrule.explainer.setup``."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from chainrule.cli.common import EXIT_FAILED, EXIT_OK
from chainrule.explainer.messages import LANGUAGES
from chainrule.explainer.render import MAX_COLUMNS, MAX_ROWS
from chainrule.explainer.setup import ACTIVATION_NAMES, ExampleSpec, build

# every option's default, so that an option given but unused can be refused
DEFAULTS: dict[str, Any] = {
    "layers": None, "activation": "sigmoid", "loss": "cross-entropy", "lr": 0.5, "l1": 0.0,
    "l2": 0.0, "x": None, "y": None, "csv": None, "label_column": "label", "weights_seed": 0,
    "steps": 1, "columns": False, "full": False, "model": None, "per_example": False,
}
# what --model takes beside its examples (the network and its activations come from the file)
MODEL_OPTIONS = ("--layers", "--activation", "--weights-seed")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("explain", help="print the backpropagation derivation of a small "
                                       "network, every number checked",
                       description="Print the BP derivation (forward values, deltas, dW, db, "
                                   "the update) for a small network, each gradient checked "
                                   "against autograd and numerical differentiation. Without "
                                   "--layers, --x or --csv: a fixed 2-2-3 example (fixed "
                                   "weights, 2 examples, 3 classes), to which --activation "
                                   "and --loss apply. --layers alone: random weights on the "
                                   "default example's data if the sizes fit (2 inputs, 3 "
                                   "outputs), else on 2 random examples (--weights-seed). "
                                   "--x/--y or --csv: your examples, random weights, sizes "
                                   "inputs-2-outputs unless --layers is given.")
    p.add_argument("--layers", help="layer sizes, e.g. 2,2,3 (random weights, --weights-seed)")
    p.add_argument("--activation", default=DEFAULTS["activation"],
                   help="one name for the hidden layers (the output then follows --loss: "
                        "softmax for cross-entropy, sigmoid for bce, the same name for mse), "
                        "or one per layer, e.g. elu,softmax; names: "
                        + ", ".join(ACTIVATION_NAMES))
    p.add_argument("--loss", default=DEFAULTS["loss"],
                   choices=["mse", "bce", "bce-with-logits", "cross-entropy"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--l1", type=float, default=DEFAULTS["l1"])
    p.add_argument("--l2", type=float, default=DEFAULTS["l2"])
    p.add_argument("--x", help='inputs, rows separated by ";": "0.05,0.1;0.2,0.3"')
    p.add_argument("--y", help='one-hot targets "1,0,0;0,1,0", class indices "0;1", or '
                               'values "0.3;0.8" (one output, for mse or bce)')
    p.add_argument("--csv", help="a CSV file of examples (header row, numeric features, a "
                                 "label column of classes: one-hot targets, or one 0/1 "
                                 "output for bce with 2 classes)")
    p.add_argument("--label-column", default=DEFAULTS["label_column"],
                   help="the label column of --csv")
    p.add_argument("--weights-seed", type=int, default=DEFAULTS["weights_seed"],
                   help="seed of the random weights (and random examples)")
    p.add_argument("--format", default="text", choices=["text", "markdown", "html"])
    p.add_argument("--lang", default="en", choices=LANGUAGES,
                   help="the language of the words (the numbers and formulas are the same in "
                        "every one; zh: Simplified Chinese); applies to every derivation")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                   help="gradient-descent steps to show")
    p.add_argument("--columns", action="store_true",
                   help="samples as columns (the W X + b layout of textbook derivations)")
    p.add_argument("--model", metavar="FILE",
                   help="explain a model saved by chainrule train on the examples of --x "
                        "(raw features; --y optional: class names or indices, else the "
                        "model's own predictions) or --csv (its label column holds the class "
                        "names); the saved standardization is applied first")
    p.add_argument("--per-example", action="store_true",
                   help="also derive the gradient one example at a time (Delta += delta "
                        "a^T, then D = Delta / m + the regularization), checked equal to the "
                        "matrix form")
    p.add_argument("--full", action="store_true",
                   help="print every entry of large matrices (text and markdown show a "
                        f"matrix of more than {MAX_ROWS} rows or {MAX_COLUMNS} columns as its "
                        "first ones and its shape)")
    p.add_argument("--rnn", action="store_true",
                   help="the BPTT derivation of a tiny tanh RNN over 3 time steps instead "
                        "(takes only --format, --lang and --out)")
    p.add_argument("--conv", action="store_true",
                   help="the derivation of a tiny convolutional layer instead (a 5x5 image, "
                        "one 2x2 kernel, 2x2 max pooling, a softmax output; takes only "
                        "--format, --lang and --out)")
    p.add_argument("--attention", action="store_true",
                   help="the derivation of one tiny causal attention head instead (3 "
                        "tokens, d = 2, L = 1/2 sum (O - T)^2; takes only --format, --lang "
                        "and --out)")
    p.add_argument("--out", help="write to this file instead of printing")
    p.set_defaults(func=run)


def _given(args: argparse.Namespace) -> list[str]:
    """The options (as --names) set to something other than their defaults."""
    return ["--" + k.replace("_", "-") for k, v in DEFAULTS.items() if getattr(args, k) != v]


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options that would otherwise be silently ignored."""
    if args.steps < 1:
        raise ValueError(f"explain: --steps must be at least 1, got {args.steps}")
    chosen = [f"--{f}" for f in ("rnn", "conv", "attention") if getattr(args, f)]
    if len(chosen) > 1:
        raise ValueError(f"explain: {' and '.join(chosen)} are different derivations; give one")
    for flag, what in (("rnn", "a fixed tiny RNN"), ("conv", "a fixed tiny convolution"),
                       ("attention", "a fixed tiny causal attention head")):
        if getattr(args, flag) and _given(args):
            raise ValueError(f"explain: --{flag} shows {what} and takes only --format, --lang "
                             f"and --out, not {', '.join(_given(args))}")
    if args.csv and (args.x or args.y):
        raise ValueError("explain: give the examples either with --csv or with --x and --y, "
                         "not both")
    if args.model:
        given = [o for o in MODEL_OPTIONS if o in _given(args)]
        if given:
            raise ValueError(f"explain: --model takes its network from the file; "
                             f"{', '.join(given)} cannot apply to it")
        if not (args.x or args.csv):
            raise ValueError("explain: --model needs examples: --x (and optionally --y) or "
                             "--csv")
        return
    if args.x and not args.y:
        raise ValueError("explain: --x needs --y too (the targets, e.g. --y \"0;1\")")
    if args.y and not args.x:
        raise ValueError("explain: --y needs --x too (the inputs, e.g. --x \"0.05,0.1;0.2,0.3\")")
    if args.label_column != DEFAULTS["label_column"] and not args.csv:
        raise ValueError("explain: --label-column names a column of --csv; give --csv too")
    if args.weights_seed != DEFAULTS["weights_seed"] and not (args.layers or args.x or args.csv):
        raise ValueError("explain: the default example has fixed weights; --weights-seed "
                         "applies with --layers, --x or --csv")


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    fmt, lang = args.format, args.lang
    if args.rnn:
        from chainrule.explainer.bptt import default_rnn, derive_bptt, render_bptt

        bptt = derive_bptt(*default_rnn())
        text, ok = render_bptt(bptt, fmt, lang), bptt.all_ok
    elif args.conv:
        from chainrule.explainer.conv import default_conv, derive_conv, render_conv

        conv = derive_conv(*default_conv())
        text, ok = render_conv(conv, fmt, lang), conv.all_ok
    elif args.attention:
        from chainrule.explainer import attention

        head = attention.derive_attention(*attention.default_attention())
        text, ok = attention.render_attention(head, fmt, lang), head.all_ok
    else:
        from chainrule.explainer.page import write

        derivation = _model_file_derivation(args) if args.model else _example_derivation(args)
        text, ok = write(derivation, fmt, args.columns, args.full, lang), derivation.all_ok
    from chainrule._io import write_text_or_print

    write_text_or_print(text, args.out, "explain")
    return EXIT_OK if ok else EXIT_FAILED


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"lr": args.lr, "l1": args.l1, "l2": args.l2, "steps": args.steps,
            "per_example": args.per_example}


def _example_derivation(args: argparse.Namespace) -> Any:
    from chainrule.explainer import derive

    spec = ExampleSpec(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ExampleSpec)})
    model, x, y = build(spec)
    return derive(model, x, y, args.loss, **_options(args))


def _model_file_derivation(args: argparse.Namespace) -> Any:
    from chainrule.explainer.model_file import derive_model_file
    from chainrule.explainer.setup import parse_matrix

    if args.csv:  # the label column's class names, matched to the model's by name
        from chainrule.data import load_csv

        table = load_csv(args.csv, args.label_column)
        x, y = table.X, [table.classes[i] for i in table.y]
    else:
        x = parse_matrix(args.x, "x")
        y = None if args.y is None else _labels(args.y)
    loss = None if args.loss == DEFAULTS["loss"] else args.loss
    return derive_model_file(args.model, x, y, loss, **_options(args))


def _labels(text: str) -> list[Any]:
    """--y for a saved model: class indices ("0;2") or class names ("setosa;virginica")."""
    items = [v.strip() for v in text.replace(",", ";").split(";") if v.strip()]
    return [int(v) if v.lstrip("-").isdigit() else v for v in items]
