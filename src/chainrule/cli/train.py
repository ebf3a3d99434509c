"""``chainrule train``: options (command line over a TOML file) to a training run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chainrule.cli.common import EXIT_OK, THREADS_HELP, int_list, positive_int
from chainrule.train.config import (
    CONVERGENCE_MAX_EPOCHS,
    DEFAULT_EPOCHS,
    ConfigError,
    TrainConfig,
    read_config_file,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a network (default: an MLP on the bundled digits)",
                       description="Train a multi-layer network by backpropagation. Every "
                                   "option can also come from a TOML file (--config); options "
                                   "given on the command line win.")
    d = argparse.SUPPRESS  # unset options stay absent, so config-file values can fill them
    p.add_argument("--config", metavar="FILE", help="TOML file with any of these options")
    _add_data_and_network_options(p, d)
    _add_optimization_options(p, d)
    _add_run_options(p, d)
    _add_model_options(p, d)
    p.set_defaults(func=run)


def _add_data_and_network_options(p: argparse.ArgumentParser, d: Any) -> None:
    p.add_argument("--data", default=d, help="digits (bundled, default), mnist, fashion-mnist "
                                             "or csv:PATH (csv:- reads standard input)")
    p.add_argument("--data-dir", default=d, help="directory of the MNIST/Fashion-MNIST files "
                                                 "(default: $CHAINRULE_DATA, else "
                                                 "~/.cache/chainrule, and for Fashion-MNIST "
                                                 "/usr/share/datasets/fashion-mnist)")
    p.add_argument("--label-column", default=d, help="label column of a CSV file (default "
                                                     "'label')")
    p.add_argument("--layers", type=int_list, default=d,
                   help="all layer sizes, input to output, e.g. 64,128,10")
    p.add_argument("--hidden", type=int_list, default=d,
                   help="hidden layer sizes only, e.g. 128,64 (default 256)")
    p.add_argument("--activation", default=d, help="hidden-layer activation: relu (default), "
                                                   "sigmoid, tanh, leaky_relu, elu, softplus, "
                                                   "identity")
    p.add_argument("--loss", default=d, help="cross-entropy (default) or mse")
    p.add_argument("--dropout", type=float, default=d, help="dropout probability after each "
                                                            "hidden layer (default 0.2)")
    p.add_argument("--init", default=d, help="default, xavier, he, normal, scaled_normal")


def _add_optimization_options(p: argparse.ArgumentParser, d: Any) -> None:
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
    p.add_argument("--epochs", type=int, default=d,
                   help=f"maximum number of epochs (default {DEFAULT_EPOCHS}; with "
                        f"--until-converged, {CONVERGENCE_MAX_EPOCHS}, a safety cap)")
    p.add_argument("--batch-size", type=int, default=d, help="mini-batch size (default 32)")
    p.add_argument("--l1", type=float, default=d, help="L1 strength lambda: lambda/n sum|W|")
    p.add_argument("--l2", type=float, default=d,
                   help="L2 strength lambda: lambda/(2n) sum W^2 (default 1.0)")
    p.add_argument("--seed", type=int, default=d, help="random seed (same seed, same results)")
    p.add_argument("--until-converged", action="store_true", default=d,
                   help="stop when the training loss stops improving (see --tol, "
                        "--patience); without --epochs, train until then (at most "
                        f"{CONVERGENCE_MAX_EPOCHS} epochs)")
    p.add_argument("--tol", type=float, default=d,
                   help="--until-converged: the relative improvement of the training loss "
                        "that counts as progress (default 1e-4)")
    p.add_argument("--patience", type=int, default=d,
                   help="epochs in a row without progress before --until-converged or "
                        "--early-stopping stops (default 5)")
    p.add_argument("--early-stopping", action="store_true", default=d,
                   help="hold out a validation split; stop when its loss stops improving and "
                        "keep the best epoch's weights (also when --epochs or "
                        "--until-converged ends the run first)")
    p.add_argument("--val-fraction", type=float, default=d,
                   help="fraction of the training split held out for validation, whose "
                        "loss and accuracy are recorded per epoch (default: none, or 0.1 "
                        "with --early-stopping)")


def _add_run_options(p: argparse.ArgumentParser, d: Any) -> None:
    p.add_argument("--out", default=d, help="output directory (default runs/train-<time>)")
    p.add_argument("--force", "--overwrite", action="store_true", dest="force",
                   help="replace the run already in --out (its model, metrics, curves and "
                        "confusion matrix); without it such an --out is refused")
    p.add_argument("--quiet", action="store_true", default=d, help="no progress output")
    p.add_argument("--threads", type=positive_int, default=d, help=THREADS_HELP +
                   "; 1 per rank with --distributed")
    p.add_argument("--distributed", action="store_true", default=d,
                   help="data-parallel training over the processes of an MPI launch, e.g. "
                        "mpiexec -n 4 chainrule train --distributed; --batch-size is the global "
                        "batch; only rank 0 prints and writes (needs chainrule[mpi])")


def _add_model_options(p: argparse.ArgumentParser, d: Any) -> None:
    """--model and the options of the convolutional network (--model cnn only)."""
    p.add_argument("--model", default=d, help="mlp (default: --layers/--hidden dense layers) "
                                              "or cnn (convolution blocks on images, then "
                                              "the --hidden dense layers)")
    p.add_argument("--channels", type=int_list, default=d,
                   help="cnn: output channels of each convolution block, e.g. 32,64 (default)")
    p.add_argument("--kernel-size", type=positive_int, default=d,
                   help="cnn: square kernel size, 'same' padding (default 3)")
    p.add_argument("--pooling", default=d, help="cnn: max (default), avg (2x2, stride 2, after "
                                                "each convolution) or none")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=d,
                   help="cnn: BatchNorm2d after each convolution (default on)")
    p.add_argument("--image-shape", type=int_list, default=d, metavar="C,H,W",
                   help="cnn: the image shape of a CSV whose columns are pixels, e.g. 1,28,28 "
                        "(digits, mnist and fashion-mnist: known)")


def configure(options: dict[str, Any], config_file: str | Path | None = None
              ) -> tuple[TrainConfig, Any]:
    """The checked configuration: the options of ``config_file`` (TOML), overridden by
    ``options`` (the command line's); and the data-parallel strategy if ``distributed``
    is on (in either), else None.

    With ``distributed``, every rank of the launch checks the options alike, and a bad
    one is reported once, as ``run_training`` reports setup errors: rank 0 raises the
    ``ConfigError`` (marked ``raised_on_every_rank``; a rank that alone failed is named)
    and the other ranks raise ``SystemExit(2)`` without printing.
    """
    distributed = options.get("distributed") is True
    config, error = None, None
    try:
        values = read_config_file(config_file) if config_file else {}
        distributed = distributed or values.get("distributed") is True
        config = TrainConfig.from_mapping(
            {**values, **options}, source=f"--config {config_file}" if config_file else None)
    except ConfigError as e:
        if not distributed:
            raise
        error = e
    if not distributed:
        return config, None
    from chainrule.distributed import DataParallel, init

    strategy = DataParallel(init(required=True))
    with strategy.setup_errors():  # every rank comes here, failed or not, to compare
        if error is not None:
            raise error
    return config, strategy


def run(args: argparse.Namespace) -> int:
    from chainrule.train.progress import counted, format_seconds
    from chainrule.train.run import run_training

    options = {k: v for k, v in vars(args).items()
               if k not in ("command", "config", "func", "force")}
    config, strategy = configure(options, args.config)  # with --distributed: printed once
    if strategy is None:
        result = run_training(config, log=sys.stdout, overwrite=args.force)
    else:
        # An error on one rank would leave the others waiting in a collective forever:
        # print "rank N: <error>" and abort them all (one process just re-raises).
        from chainrule.distributed import abort_on_error

        with abort_on_error():
            result = run_training(config, log=sys.stdout if strategy.is_main else None,
                                  strategy=strategy, overwrite=args.force)
        if not strategy.is_main:
            return EXIT_OK
    test, files = result.test, result.files
    h = result.history
    print(f"stopped: {h.stopped_reason} ({counted(len(h), 'epoch')}, "
          f"{format_seconds(result.seconds)})")
    print(f"test accuracy: {test['accuracy'] * 100:.2f}%  test loss: {test['loss']:.4f}")
    for label, key in (("model", "model"), ("metrics", "metrics_csv"),
                       ("metrics", "metrics_json"), ("curves", "curves")):
        print(f"{label + ':':9}{files[key]}")
    return EXIT_OK
