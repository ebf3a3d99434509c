"""Reproduce published accuracy results with the same recipes, ours printed beside theirs.

A benchmark, not a test: it takes many minutes. Each configuration runs in its own
process (at most --jobs at a time, one BLAS thread each), and the table is written
to docs/benchmarks.md between markers, with a PNG of the learning curves.

    python benchmarks/accuracy.py                 # everything
    python benchmarks/accuracy.py --only nielsen-30 --epochs 3   # a quick look

Recipes (published numbers are in the table):
- nielsen-30 / nielsen-100: Nielsen, "Neural Networks and Deep Learning", ch. 1,
  network.py: [784, n, 10] sigmoid, quadratic cost C = 1/(2m) sum ||a - y||^2,
  weights and biases N(0, 1), mini-batch 10, eta 3.0, 30 epochs, training on the
  first 50,000 MNIST training images; best test accuracy over the epochs.
- nielsen2-100: ch. 3, network2.py: [784, 100, 10] sigmoid, cross-entropy cost
  -sum[y ln a + (1 - y) ln(1 - a)], W ~ N(0, 1/n_in), mini-batch 10, eta 0.1,
  L2 lambda 5.0 with n = 50,000, 60 epochs; best validation accuracy (the last
  10,000 training images).
- fashion-sklearn: Fashion-MNIST, hidden (100,), ReLU, Adam lr 1e-3, batch 200
  (scikit-learn MLPClassifier's defaults, with its L2 alpha 1e-4 as weight_decay),
  beside scikit-learn's own MLPClassifier in the same run.
- fashion-best: chainrule's best Fashion-MNIST MLP recipe (>= 0.90 wanted).
- mnist-modern: ReLU, Adam, dropout on MNIST (>= 98.3% wanted).
- mnist-cnn / fashion-cnn: the network of `chainrule train --model cnn` (nn.builders.cnn:
  3x3 convolutions with 32 and 64 channels, batch norm, ReLU, 2x2 max pooling, then a
  dense layer and dropout), inputs standardized with one mean and std per channel as the
  command does, Adam lr 1e-3 with cosine annealing, batch 128, a few epochs; test
  accuracy after the last epoch (not the best one). Wanted: MNIST >= 0.992 (LeNet-5: 0.95%
  error), Fashion-MNIST >= 0.92.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, save_figure, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CHAINRULE_DATA", ROOT.parent / "shared" / "data"))

RECIPES = {
    "nielsen-30": {"published": 0.9542, "what": "network.py [784,30,10], best test accuracy "
                                               "(best of 3 runs)"},
    "nielsen-100": {"published": 0.9659, "what": "network.py [784,100,10], best test accuracy"},
    "nielsen2-100": {"published": 0.9804, "what": "network2.py [784,100,10] L2, best "
                                                 "validation accuracy"},
    "fashion-sklearn": {"published": 0.87, "what": "Fashion-MNIST (100,) relu adam; the "
                                                   "paper's sklearn MLPClassifier"},
    "fashion-best": {"published": 0.883, "what": "Fashion-MNIST best MLP (a submitted "
                                                 "256-128-100 MLP: 0.883)"},
    "mnist-modern": {"published": 0.983, "what": "MNIST ReLU + Adam + dropout (target)"},
    "mnist-cnn": {"published": 0.9905, "what": "MNIST small CNN, 5 epochs; published: "
                                              "LeNet-5 (LeCun et al. 1998, 0.95% error)"},
    "fashion-cnn": {"published": 0.922, "what": "Fashion-MNIST small CNN, 8 epochs; "
                                               "published: the Fashion-MNIST benchmark's "
                                               "'2 Conv Layers 113K parameters' (0.922)"},
}
# the CNN recipes: dataset, conv channels, dense hidden sizes, dropout, epochs
CNN_RECIPES = {
    "mnist-cnn": ("mnist", [32, 64], [128], 0.25, 5),
    "fashion-cnn": ("fashion-mnist", [32, 64], [256], 0.5, 8),
}


def _limit_threads() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def _mnist(name: str) -> tuple:
    from chainrule import data

    loader = data.load_mnist if name == "mnist" else data.load_fashion_mnist
    return loader(DATA, flatten=True, scale=True)


def run_recipe(name: str, epochs: int | None) -> dict:
    """Train one recipe in this process; return its measured numbers."""
    _limit_threads()
    import numpy as np

    import chainrule as cr
    import chainrule.functional as F
    from chainrule import nn, optim
    from chainrule.train import evaluate, fit

    cr.manual_seed(0)
    started = time.perf_counter()
    result: dict = {"name": name}
    if name.startswith("nielsen"):
        (x, y), (x_test, y_test) = _mnist("mnist")
        x_train, y_train, x_val, y_val = x[:50000], y[:50000], x[50000:], y[50000:]
        hidden = 30 if name == "nielsen-30" else 100
        onehot = np.eye(10, dtype=np.float32)
        if name.startswith("nielsen2"):
            def make_model() -> nn.Module:
                return nn.mlp([784, hidden, 10], "sigmoid", init_scheme="scaled_normal")

            def loss_fn(z: cr.Tensor, t: cr.Tensor) -> cr.Tensor:
                # sum over the 10 outputs of the binary cross-entropy of sigmoid(z),
                # averaged over the mini-batch (network2.py's CrossEntropyCost)
                return F.binary_cross_entropy_with_logits(z, t, reduction="sum") * (1 / len(t))

            lr, n_epochs, l2 = 0.1, 60, 5.0
            eval_x, eval_y = x_val, y_val
        else:
            def make_model() -> nn.Module:
                return nn.mlp([784, hidden, 10], "sigmoid", output_activation="sigmoid",
                              init_scheme="normal")

            def loss_fn(a: cr.Tensor, t: cr.Tensor) -> cr.Tensor:
                # quadratic cost 1/(2m) sum ||a - y||^2 (network.py)
                d = a - t
                return (d * d).sum() * (0.5 / len(t))

            lr, n_epochs, l2 = 3.0, 30, 0.0
            eval_x, eval_y = x_test, y_test
        n_epochs = epochs or n_epochs
        from chainrule.train import LambdaCallback

        runs = []
        # Nielsen reports the best of three runs: three seeds, the best epoch of each
        for seed in range(3):
            cr.manual_seed(seed)
            model = make_model()
            curve: list[float] = []

            def record(state, logs, curve=curve) -> None:
                curve.append(evaluate(state.model, loss_fn, (eval_x, onehot[eval_y]),
                                      classification=True)["accuracy"])

            fit(model, loss_fn, optim.SGD(model.parameters(), lr=lr),
                (x_train, onehot[y_train]), epochs=n_epochs, batch_size=10, l2=l2,
                seed=seed, progress=False, classification=True,
                callbacks=[LambdaCallback(record)])
            runs.append(curve)
        best_run = max(runs, key=max)
        result.update(accuracy=max(best_run), best_epoch=int(np.argmax(best_run)) + 1,
                      curve=best_run, runs=[max(r) for r in runs])
    elif name == "fashion-sklearn":
        (x_train, y_train), (x_test, y_test) = _mnist("fashion-mnist")
        model = nn.mlp([784, 100, 10], "relu", init_scheme="xavier")
        opt = optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
        history = fit(model, nn.CrossEntropyLoss(), opt, (x_train, y_train),
                      epochs=epochs or 30, batch_size=200, seed=0, progress=False,
                      until_converged=True, tol=1e-4, patience=10)
        test = evaluate(model, nn.CrossEntropyLoss(), (x_test, y_test))
        result.update(accuracy=test["accuracy"], epochs=len(history), curve=history["loss"],
                      seconds=time.perf_counter() - started)  # chainrule's time alone
        result["sklearn"] = _sklearn_fashion(x_train, y_train, x_test, y_test, epochs)
    elif name == "fashion-best":
        (x_train, y_train), (x_test, y_test) = _mnist("fashion-mnist")
        model = nn.mlp([784, 512, 256, 10], "relu", dropout=0.2, init_scheme="he")
        opt = optim.Adam(model.parameters(), lr=1e-3)
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs or 40)
        history = fit(model, nn.CrossEntropyLoss(), opt, (x_train, y_train),
                      epochs=epochs or 40, batch_size=128, seed=0, progress=False,
                      scheduler=sched)
        test = evaluate(model, nn.CrossEntropyLoss(), (x_test, y_test))
        result.update(accuracy=test["accuracy"], epochs=len(history), curve=history["loss"])
    elif name == "mnist-modern":
        (x_train, y_train), (x_test, y_test) = _mnist("mnist")
        model = nn.mlp([784, 512, 256, 10], "relu", dropout=0.2, init_scheme="he")
        opt = optim.Adam(model.parameters(), lr=1e-3)
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs or 20)
        history = fit(model, nn.CrossEntropyLoss(), opt, (x_train, y_train),
                      epochs=epochs or 20, batch_size=128, seed=0, progress=False,
                      scheduler=sched)
        test = evaluate(model, nn.CrossEntropyLoss(), (x_test, y_test))
        result.update(accuracy=test["accuracy"], epochs=len(history), curve=history["loss"])
    elif name in CNN_RECIPES:
        result.update(_run_cnn(name, epochs))
    else:
        raise ValueError(f"unknown recipe {name}")
    result.setdefault("seconds", time.perf_counter() - started)
    return result


def _run_cnn(name: str, epochs: int | None) -> dict:
    """A CNN recipe (CNN_RECIPES), trained as `chainrule train --model cnn` builds and
    standardizes it, with a cosine learning-rate schedule; the test accuracy after each
    epoch is printed as it goes (a long run: watch its log)."""
    import numpy as np

    from chainrule import nn, optim
    from chainrule.nn.builders import cnn
    from chainrule.train import LambdaCallback, evaluate, fit

    dataset, channels, hidden, dropout, n_epochs = CNN_RECIPES[name]
    n_epochs = epochs or n_epochs
    (x_train, y_train), (x_test, y_test) = _mnist(dataset)
    # one mean and std for the single channel, of the training images, as the command does
    mean, std = x_train.mean(dtype=np.float64), x_train.std(dtype=np.float64)
    x_train, x_test = ((x - np.float32(mean)) / np.float32(std) for x in (x_train, x_test))
    x_train, x_test = x_train.reshape(-1, 1, 28, 28), x_test.reshape(-1, 1, 28, 28)
    model = cnn((1, 28, 28), 10, channels, 3, "max", True, hidden, dropout=dropout)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_epochs)
    loss_fn = nn.CrossEntropyLoss()
    curve: list[float] = []

    def record(state, logs) -> None:
        curve.append(evaluate(state.model, loss_fn, (x_test, y_test))["accuracy"])
        print(f"{name}: epoch {len(curve)}/{n_epochs} test accuracy {curve[-1]:.4f} "
              f"({logs.get('time', 0):.0f} s)", flush=True)

    history = fit(model, loss_fn, opt, (x_train, y_train), epochs=n_epochs, batch_size=128,
                  seed=0, progress=False, scheduler=sched, callbacks=[LambdaCallback(record)])
    return {"accuracy": curve[-1], "epochs": len(history), "curve": history["loss"],
            "test_curve": curve, "parameters": model.num_parameters(),
            "epoch_seconds": [round(t, 1) for t in history["time"]]}


def _sklearn_fashion(x_train, y_train, x_test, y_test, epochs: int | None) -> dict:
    """scikit-learn's MLPClassifier with its defaults (hidden (100,), relu, adam)."""
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return {"skipped": "scikit-learn is not installed (pip install -e .[bench])"}
    import warnings

    started = time.perf_counter()
    clf = MLPClassifier(hidden_layer_sizes=(100,), random_state=0,
                        **({"max_iter": epochs} if epochs else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x_train, y_train)
    return {"accuracy": float(clf.score(x_test, y_test)), "epochs": int(clf.n_iter_),
            "seconds": time.perf_counter() - started}


def write_report(results: list[dict], path: Path, plot: Path) -> None:
    lines = ["| recipe | what | published | chainrule | epochs | time (s) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        recipe = RECIPES[r["name"]]
        epochs = r.get("best_epoch", r.get("epochs", ""))
        runs = f" (3 runs: {', '.join(f'{a:.4f}' for a in r['runs'])})" if "runs" in r else ""
        lines.append(f"| {r['name']} | {recipe['what']} | {recipe['published']:.4f} | "
                     f"{r['accuracy']:.4f}{runs} | {epochs} | {r['seconds']:.0f} |")
        sk = r.get("sklearn")
        if sk and "accuracy" in sk:
            lines.append(f"| {r['name']} (scikit-learn, same run) | MLPClassifier defaults | "
                         f"| {sk['accuracy']:.4f} | {sk['epochs']} | {sk['seconds']:.0f} |")
        elif sk:
            lines.append(f"| {r['name']} (scikit-learn) | {sk['skipped']} | | | | |")
    table = "\n".join(lines)
    write_section("accuracy",
                  f"## Accuracy: published recipes reproduced (benchmarks/accuracy.py)\n\n"
                  f"Measured {machine()}; one BLAS thread per run, seed 0.\n\n{table}\n\n"
                  f"![learning curves]({plot.name})", path)
    _plot(results, plot)


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [(r["name"], r["curve"]) for r in results if r.get("curve") and "best_epoch" in r]
    if not curves:  # a partial run without the Nielsen recipes: keep the existing figure
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, curve in curves:
        ax.plot(range(1, len(curve) + 1), curve, label=f"{name} (accuracy)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (test or validation)")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(RECIPES), help="recipes to run")
    parser.add_argument("--epochs", type=int, help="override every recipe's epochs (quick look)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    args = parser.parse_args()
    names = args.only or list(RECIPES)
    print(f"data from {DATA}; {len(names)} recipes, {args.jobs} at a time", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_recipe, n, args.epochs) for n in names]
        results = []
        for fut in futures:
            r = fut.result()
            results.append(r)
            print(json.dumps({k: v for k, v in r.items() if k not in ("curve", "loss")}),
                  flush=True)
    if not args.no_write:
        # results are kept per recipe, so a partial run (--only) updates its own rows
        store = ROOT / "benchmarks" / "results" / "accuracy.json"
        store.parent.mkdir(exist_ok=True)
        merged = {r["name"]: r for r in (json.loads(store.read_text()) if store.exists()
                                         else [])}
        merged.update({r["name"]: r for r in results})
        results = [merged[n] for n in RECIPES if n in merged]
        store.write_text(json.dumps(results, indent=1))
        write_report(results, ROOT / "docs" / "benchmarks.md",
                     ROOT / "docs" / "accuracy_curves.png")
        print("wrote docs/benchmarks.md and docs/accuracy_curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
