"""The ``chainrule`` command: parse arguments, call the library, report.

Bad input ends with one line on stderr ("chainrule: error: ...") and exit code 2
(bad options or data) or 1 (training diverged, or the ranks of a distributed run
ended with different weights); never a traceback. In a distributed run, an error that
every rank finds alike is printed once, by rank 0, and every rank exits with its code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    """A bad command line, as the one line to print."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option ends like every other error of the command: one line on
    stderr and exit code 2 (argparse's default prints the whole usage first), reported by
    ``main``. Subparsers are of the same class, since add_subparsers makes them of its
    parser's type."""

    commands: dict[str, argparse.ArgumentParser]  # set on the main parser: name -> subparser

    def error(self, message: str) -> NoReturn:
        root = self.prog.split()[0]  # the prog of "chainrule train" is "chainrule train"
        one_line = " ".join(message.split())
        raise _UsageError(f"{root}: error: {one_line} (see {self.prog} --help)")


def _int_list(text: str) -> list[int]:
    from chainrule.train.run import parse_sizes  # the parser a config file's "64,128" uses

    try:
        return parse_sizes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


THREADS_HELP = ("threads for numpy's matrix products (default: the BLAS default, usually one "
                "per core); 1 is faster when the cores are shared")


def _train_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a network (default: an MLP on the bundled digits)",
                       description="Train a multi-layer network by backpropagation. Every "
                                   "option can also come from a TOML file (--config); options "
                                   "given on the command line win.")
    d = argparse.SUPPRESS  # unset options stay absent, so config-file values can fill them
    p.add_argument("--config", metavar="FILE", help="TOML file with any of these options")
    p.add_argument("--data", default=d, help="digits (bundled, default), mnist, fashion-mnist "
                                             "or csv:PATH")
    p.add_argument("--data-dir", default=d, help="directory of the MNIST/Fashion-MNIST files "
                                                 "(default: $CHAINRULE_DATA, else "
                                                 "~/.cache/chainrule, and for Fashion-MNIST "
                                                 "/usr/share/datasets/fashion-mnist)")
    p.add_argument("--label-column", default=d, help="label column of a CSV file (default "
                                                     "'label')")
    p.add_argument("--layers", type=_int_list, default=d,
                   help="all layer sizes, input to output, e.g. 64,128,10")
    p.add_argument("--hidden", type=_int_list, default=d,
                   help="hidden layer sizes only, e.g. 128,64 (default 256)")
    p.add_argument("--activation", default=d, help="hidden-layer activation: relu (default), "
                                                   "sigmoid, tanh, leaky_relu, elu, softplus, "
                                                   "identity")
    p.add_argument("--loss", default=d, help="cross-entropy (default) or mse")
    p.add_argument("--optimizer", default=d, help="adam (default), sgd, adamw, rmsprop, adagrad")
    p.add_argument("--lr", type=float, default=d, help="learning rate (default per optimizer)")
    p.add_argument("--momentum", type=float, default=d,
                   help="momentum of sgd and rmsprop (default 0); refused for the other "
                        "optimizers, which have none")
    p.add_argument("--weight-decay", type=float, default=d,
                   help="the optimizer's weight decay wd (wd * W added to the gradient; "
                        "adamw: decoupled, W shrunk by lr * wd), on the weights only, like "
                        "--l1/--l2: biases are not decayed, so --weight-decay lambda/n "
                        "takes the steps of --l2 lambda (n: training examples) with any "
                        "optimizer but adamw. Default 0.01 for adamw, as in PyTorch, 0 for "
                        "the others; 0 means 0")
    p.add_argument("--epochs", type=int, default=d, help="maximum number of epochs (default 60)")
    p.add_argument("--batch-size", type=int, default=d, help="mini-batch size (default 32)")
    p.add_argument("--l1", type=float, default=d, help="L1 strength lambda: lambda/n sum|W|")
    p.add_argument("--l2", type=float, default=d,
                   help="L2 strength lambda: lambda/(2n) sum W^2 (default 1.0)")
    p.add_argument("--dropout", type=float, default=d, help="dropout probability after each "
                                                            "hidden layer (default 0.2)")
    p.add_argument("--init", default=d, help="default, xavier, he, normal, scaled_normal")
    p.add_argument("--seed", type=int, default=d, help="random seed (same seed, same results)")
    p.add_argument("--until-converged", action="store_true", default=d,
                   help="stop when the training loss stops improving (see --tol, --patience)")
    p.add_argument("--tol", type=float, default=d)
    p.add_argument("--patience", type=int, default=d)
    p.add_argument("--early-stopping", action="store_true", default=d,
                   help="hold out a validation split; stop when its loss stops improving and "
                        "keep the best epoch's weights (also when --epochs or "
                        "--until-converged ends the run first)")
    p.add_argument("--val-fraction", type=float, default=d)
    p.add_argument("--out", default=d, help="output directory (default runs/train-<time>)")
    p.add_argument("--quiet", action="store_true", default=d, help="no progress output")
    p.add_argument("--threads", type=_positive_int, default=d, help=THREADS_HELP +
                   "; 1 per rank with --distributed")
    p.add_argument("--distributed", action="store_true", default=d,
                   help="data-parallel training over the processes of an MPI launch, e.g. "
                        "mpiexec -n 4 chainrule train --distributed; --batch-size is the global "
                        "batch; only rank 0 prints and writes (needs chainrule[mpi])")


def _text_parser(sub: Any) -> None:
    from chainrule.train.text import TextConfig

    d = TextConfig("")
    p = sub.add_parser("train-text", help="train a character-level language model (BPTT)",
                       description="Train a character-level recurrent language model on a "
                                   "text file by truncated backpropagation through time, "
                                   "printing sampled text as it learns.")
    p.add_argument("path", help="a UTF-8 text file, e.g. tinyshakespeare.txt")
    p.add_argument("--cell", default=d.cell, choices=["lstm", "gru", "rnn"])
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--embedding", type=int, default=d.embedding)
    p.add_argument("--seq-len", type=int, default=d.seq_len, help="BPTT length (characters)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--clip", type=float, default=d.clip,
                   help=f"clip the gradients' joint norm to this (default {d.clip}); 0: no "
                        f"clipping")
    p.add_argument("--sample-every", type=int, default=d.sample_every)
    p.add_argument("--sample-length", type=int, default=d.sample_length)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=None, help="output directory (default runs/text-<time>)")
    p.add_argument("--threads", type=_positive_int, default=None, help=THREADS_HELP)
    p.add_argument("--quiet", action="store_true")


def _train_text(args: argparse.Namespace) -> int:
    from chainrule.train.text import TextConfig, train_text

    values = {k: v for k, v in vars(args).items() if k not in ("command", "quiet")}
    # train_text checks every option before it reads the corpus or creates --out
    result = train_text(TextConfig(**values), progress=not args.quiet, log=sys.stdout)
    h = result["history"]
    print(f"final loss {h['loss'][-1]:.4f}, validation loss {h['val_loss'][-1]:.4f} "
          f"({result['seconds']:.1f} s)")
    for label, path in result["files"].items():
        print(f"{label + ':':9}{path}")
    return EXIT_OK


def _graph(args: argparse.Namespace) -> int:
    from chainrule.viz.expression import evaluate, parse, parse_values
    from chainrule.viz.graph import draw_graph

    out, leaves = evaluate(parse(args.expression), parse_values(args.values))
    if args.format == "text" and not args.out:
        print(draw_graph(out, "text", names=leaves))
        return EXIT_OK
    path = args.out or f"graph.{args.format}"
    draw_graph(out, args.format, path, names=leaves)
    print(f"graph: {path}")
    return EXIT_OK


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chainrule", description="Train neural networks by backpropagation and see how "
                                      "it works.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.commands = sub.choices
    _train_parser(sub)
    ev = sub.add_parser("evaluate", help="accuracy, per-class precision/recall and confusion "
                                         "matrix of a saved model")
    ev.add_argument("model", help="a .safetensors file written by chainrule train")
    ev.add_argument("--data", help="dataset (default: the one the model was trained on)")
    ev.add_argument("--data-dir")
    ev.add_argument("--label-column", default=None)
    ev.add_argument("--out", help="directory for confusion.png (default: beside the model)")
    _text_parser(sub)
    from chainrule.explainer.cli import add_explain_parser

    add_explain_parser(sub)
    gr = sub.add_parser("graph", help="draw the computational graph of an expression with "
                                      "every value and gradient",
                        description="Draw the computational graph of an expression over named "
                                    "values, with each node's value and each edge's gradient "
                                    "(upstream gradient times local derivative).")
    gr.add_argument("expression", help='e.g. "(x + y) * z" or "sigmoid(w0*x0 + w1*x1 + w2)"')
    gr.add_argument("--values", default="", help="x=-2,y=5,z=-4 (lists allowed: w=[1,2,3])")
    gr.add_argument("--format", default="svg", choices=["svg", "png", "dot", "text"])
    gr.add_argument("--out", help="output file (default graph.<format>; text prints)")
    pr = sub.add_parser("predict", help="class and probabilities for new inputs")
    pr.add_argument("model", help="a .safetensors file written by chainrule train")
    pr.add_argument("input", help="a .csv (one example per row) or .npy file")
    pr.add_argument("--output", "-o", help="write to this .csv or .json file (default: CSV on "
                                           "stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # argparse would blame the main parser; the command's --help lists them
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    except _UsageError as e:
        if not _another_rank_reports(argv):
            print(e, file=sys.stderr)
        return EXIT_USAGE
    import numpy as np

    from chainrule.distributed.collectives import DistributedError
    from chainrule.distributed.context import DistributedUnavailable
    from chainrule.serialization import ModelFileError
    from chainrule.train.fit import TrainingDiverged

    try:
        # A diverging run overflows before its loss turns NaN, and numpy would print a
        # RuntimeWarning per overflow before the one error line. The library checks the
        # loss and weights itself (TrainingDiverged), so the warnings add nothing here.
        with np.errstate(all="ignore"):
            return _run_command(args)
    except TrainingDiverged as e:
        return _report(e, EXIT_FAILED)
    except DistributedError as e:
        # ranks given different data or settings (also a ValueError): bad input; ranks whose
        # weights differ after training: a failed run, like a diverged one
        return _report(e, EXIT_USAGE if isinstance(e, ValueError) else EXIT_FAILED)
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return EXIT_OK
    except (ValueError, KeyError, TypeError, OSError, ModelFileError,
            DistributedUnavailable) as e:
        return _report(e, EXIT_USAGE)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130


def _another_rank_reports(argv: list[str]) -> bool:
    """Whether this process is a rank other than 0 of an MPI launch of a --distributed
    command, whose ranks all parse the same command line: rank 0 reports its errors."""
    if "--distributed" not in argv:
        return False
    from chainrule.distributed import DistributedUnavailable, init

    try:
        return not init().is_main
    except DistributedUnavailable:  # several processes but no MPI: each one says so
        return False


def _report(error: Exception, code: int) -> int:
    """Print "chainrule: error: <error>" and return the exit code ``code``. An error that
    every rank of a distributed run raised alike (``raised_on_every_rank``) is printed by
    rank 0 alone; the other ranks exit with the same code."""
    from chainrule.distributed.collectives import is_raised_on_every_rank

    if is_raised_on_every_rank(error):
        from chainrule.distributed import init

        if not init().is_main:  # marked errors come from a run that joined already
            return code
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    print(f"chainrule: error: {message}", file=sys.stderr)
    return code


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "train":
        return _train(args)
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "train-text":
        return _train_text(args)
    if args.command == "graph":
        return _graph(args)
    if args.command == "explain":
        from chainrule.explainer.cli import run_explain

        return run_explain(args)
    return _predict(args)


def _train(args: argparse.Namespace) -> int:
    from chainrule.train.run import configure, run_training

    options = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    config = configure(options, args.config)  # with --distributed: an error printed once
    if config.distributed:
        # An error on one rank would leave the others waiting in a collective forever:
        # print "rank N: <error>" and abort them all (one process just re-raises).
        from chainrule.distributed import abort_on_error, is_main

        with abort_on_error():
            result = run_training(config, log=sys.stdout)
        if not is_main():
            return EXIT_OK
    else:
        result = run_training(config, log=sys.stdout)
    test, files = result.test, result.files
    h = result.history
    print(f"stopped: {h.stopped_reason} ({len(h)} epochs, {result.seconds:.1f} s)")
    print(f"test accuracy: {test['accuracy'] * 100:.2f}%  test loss: {test['loss']:.4f}")
    for label, key in (("model", "model"), ("metrics", "metrics_csv"),
                       ("metrics", "metrics_json"), ("curves", "curves")):
        print(f"{label + ':':9}{files[key]}")
    return EXIT_OK


def _load_trained(path: str) -> tuple[Any, dict[str, Any]]:
    import chainrule

    model = chainrule.load(path)
    meta = getattr(model, "metadata", {})
    if "classes" not in meta:
        raise ValueError(f"{path} is a chainrule model but not one written by 'chainrule train' "
                         f"(its metadata has no class names or preprocessing)")
    return model, meta


class _EvaluationData(NamedTuple):
    x: Any
    y: Any  # class indices into names
    names: list[str]  # the data's class names
    title: str  # what is scored, for the output
    where: str  # where the labels come from, for error messages


def _evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from chainrule.train.fit import predict
    from chainrule.train.metrics import accuracy, classification_report, confusion_matrix
    from chainrule.train.run import apply_preprocessing

    model, meta = _load_trained(args.model)
    data = _evaluation_data(args, meta)
    classes = meta["classes"]
    y = _labels_for_model(data, classes)
    scores = predict(model, apply_preprocessing(data.x, meta["preprocessing"]))
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
    from chainrule.train.run import load_named_dataset

    config = meta.get("config", {})
    label_column = args.label_column or config.get("label_column", "label")
    name = args.data or meta.get("data", "digits")
    if name not in ("digits", "mnist", "fashion-mnist") and not name.startswith("csv:"):
        raise ValueError(f"--data {name!r} is not one of digits, mnist, fashion-mnist, "
                         f"csv:PATH")
    if args.data and name.startswith("csv:"):
        return _whole_csv(name[4:], label_column, meta.get("data", ""))
    *_, x, y, names = load_named_dataset(name, args.data_dir or config.get("data_dir"),
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


def _labels_for_model(data: _EvaluationData, classes: list[str]) -> Any:
    """The data's labels as indices into the model's classes, matched by name: a file
    whose labels merely count the same would otherwise be scored against the wrong
    classes (labels -1,1..9 silently taken for 0..9)."""
    import numpy as np

    index = {name: k for k, name in enumerate(classes)}
    present = [data.names[k] for k in np.unique(data.y)]
    unknown = [name for name in present if name not in index]
    if unknown:
        too_many = (f"the data has {len(present)} classes but the model was trained on "
                    f"{len(classes)}; " if len(present) > len(classes) else "")
        if len(unknown) == 1:
            which = f"label {unknown[0]} is"
        else:
            which = f"labels {_listing(unknown)} are"
        raise ValueError(f"{data.where}: {too_many}{which} not among the model's classes "
                         f"({_listing(classes)})")
    # -1 for the data's classes that no row has (integer labels list every index up to
    # the largest); y never points at them
    to_model = np.asarray([index.get(name, -1) for name in data.names], np.int64)
    return to_model[data.y]


def _listing(names: list[str], most: int = 12) -> str:
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])}, ... ({len(names)} in all)"


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


def _read_inputs(path: Path, label_column: str | None) -> Any:
    """Rows of numbers from a .npy or .csv file (a header row and a label column are
    allowed in the CSV and ignored)."""
    import csv

    import numpy as np

    if not path.is_file():
        raise FileNotFoundError(f"no input file at {path}")
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"{path} is not a numeric .npy file: {e}") from None
        return x.reshape(1, -1) if x.ndim == 1 else x
    with path.open(newline="", encoding="utf-8") as f:
        # (line number, cells), numbered as in an editor, blank lines skipped but counted
        rows = [(line, r) for line, r in enumerate(csv.reader(f), start=1) if r]
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
    values = np.empty((len(rows), len(keep)), np.float32)
    for r, (line, row) in enumerate(rows):
        for c, k in enumerate(keep):
            try:
                values[r, c] = float(row[k])
            except (ValueError, IndexError):
                column = header[k] if header else str(k + 1)
                cell = repr(row[k]) if k < len(row) else "(missing)"
                raise ValueError(f"{path}: row {r + 1} (line {line}), column {column!r}: "
                                 f"{cell} is not a number") from None
    return values


def _predict(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    import chainrule.functional as F
    from chainrule.autograd.tensor import Tensor
    from chainrule.train.fit import predict
    from chainrule.train.run import apply_preprocessing

    model, meta = _load_trained(args.model)
    x = _read_inputs(Path(args.input), meta.get("config", {}).get("label_column"))
    scores = predict(model, apply_preprocessing(x, meta["preprocessing"]))
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


if __name__ == "__main__":
    sys.exit(main())
