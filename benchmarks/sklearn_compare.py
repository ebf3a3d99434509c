"""chainrule.sklearn.MLPClassifier beside scikit-learn's MLPClassifier: the same
configuration, accuracy and fit time side by side.

A benchmark, not a test. Both estimators get the same constructor arguments (the
names are scikit-learn's), the same training and test arrays and the same BLAS
thread limit; the runs alternate between the two libraries (and which goes first)
so that load from other work on the machine falls on both, and the table reports
medians over the repeats.

- digits: the bundled 8x8 digits (chainrule.data.load_digits), 75/25 stratified
  split, standardized (scikit-learn's StandardScaler, float64), scikit-learn's
  defaults: hidden (100,), relu, adam, lr 1e-3, alpha 1e-4, batch 200, up to 200
  epochs with tol 1e-4 / n_iter_no_change 10.
- fashion: Fashion-MNIST, 60,000 training and 10,000 test images, pixels / 255, the
  same defaults with max_iter=20 (neither converges by then, so both run 20 epochs).
  Measured twice: with float64 inputs (what scikit-learn's loaders and most
  pipelines hand over; scikit-learn then computes in float64, chainrule in float32)
  and with float32 inputs (scikit-learn then computes in float32 too).

    python benchmarks/sklearn_compare.py                  # writes docs/benchmarks.md
    python benchmarks/sklearn_compare.py --repeats 1 --only digits --no-write

Fashion-MNIST is read from $CHAINRULE_DATA, else ../shared/data beside the repository.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CHAINRULE_DATA", ROOT.parent / "shared" / "data"))

# scikit-learn's MLPClassifier defaults, spelled out so the table says what was run
DEFAULTS = {"hidden_layer_sizes": (100,), "activation": "relu", "solver": "adam",
            "alpha": 1e-4, "batch_size": "auto", "learning_rate_init": 1e-3, "max_iter": 200,
            "tol": 1e-4, "n_iter_no_change": 10}
CONFIGS = {"digits": DEFAULTS, "fashion": {**DEFAULTS, "max_iter": 20}}


def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test) as float64 features."""
    from chainrule import data

    if name == "digits":
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        x, y = data.load_digits()
        x_train, x_test, y_train, y_test = train_test_split(
            x.astype(np.float64), y, test_size=0.25, random_state=0, stratify=y)
        scaler = StandardScaler().fit(x_train)
        return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(DATA, flatten=True)
    return (x_train / 255.0, x_test / 255.0, y_train, y_test)


def measure(make, x_train, y_train, x_test, y_test) -> dict:
    """Fit one estimator; its fit time, test accuracy and epochs."""
    clf = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, expected
        started = time.perf_counter()
        clf.fit(x_train, y_train)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "accuracy": float(clf.score(x_test, y_test)),
            "epochs": int(clf.n_iter_)}


def compare(name: str, dtype: type, repeats: int) -> dict[str, list[dict]]:
    """Alternate the two libraries over ``repeats`` seeds; every run's numbers per library."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from chainrule.sklearn import MLPClassifier as ChainruleMLP

    x_train, x_test, y_train, y_test = load(name)
    x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    libraries = {"scikit-learn": SklearnMLP, "chainrule": ChainruleMLP}
    runs: dict[str, list[dict]] = {lib: [] for lib in libraries}
    for seed in range(repeats):
        order = list(libraries) if seed % 2 == 0 else list(libraries)[::-1]
        for lib in order:
            cls = libraries[lib]
            result = measure(lambda cls=cls, seed=seed: cls(**CONFIGS[name], random_state=seed),
                             x_train, y_train, x_test, y_test)
            runs[lib].append(result)
            print(f"{name} {np.dtype(dtype).name} {lib:12s} seed {seed}: "
                  f"accuracy {result['accuracy']:.4f}, {result['epochs']} epochs, "
                  f"{result['seconds']:.2f} s", flush=True)
    epochs = float(np.median([r["epochs"] for r in runs["chainrule"]]))
    sizes = [x_train.shape[1], *CONFIGS[name]["hidden_layer_sizes"], len(np.unique(y_train))]
    batch = min(200, len(x_train))  # batch_size='auto'
    for compute in sorted({np.dtype(dtype), np.dtype(np.float32)}, key=lambda d: d.itemsize):
        floor = [{"seconds": product_floor(len(x_train), sizes, batch, compute, epochs),
                  "accuracy": float("nan"), "epochs": epochs} for _ in range(repeats)]
        runs[f"matrix products alone, {compute.name}"] = floor
    return runs


def product_floor(n: int, sizes: list[int], batch: int, dtype: type, epochs: float) -> float:
    """Seconds that the matrix products of ``epochs`` epochs take alone: per batch the
    forward product of every layer and, backward, dW of every layer and dA of every layer
    but the first (what both libraries compute). No MLP can train faster than this on
    the same BLAS; it tells how much of a fit time is left to win."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((o, i)).astype(dtype)
               for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    batches = -(-n // batch)
    started = time.perf_counter()
    for _ in range(batches):
        acts = [x]
        for w in weights:
            acts.append(acts[-1] @ w.T)
        g = acts[-1]
        for layer in range(len(weights) - 1, -1, -1):
            _ = g.T @ acts[layer]  # dW
            if layer:
                g = g @ weights[layer]  # dA, toward the layer below
    return (time.perf_counter() - started) * epochs


def table(results: list[tuple[str, str, dict[str, list[dict]]]]) -> str:
    lines = ["| data | input dtype | library | test accuracy (median) | epochs (median) | "
             "fit time, s (median) | time vs scikit-learn |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, dtype, runs in results:
        base = float(np.median([r["seconds"] for r in runs["scikit-learn"]]))
        for lib, rows in runs.items():
            seconds = float(np.median([r["seconds"] for r in rows]))
            accuracy = float(np.median([r["accuracy"] for r in rows]))
            epochs = float(np.median([r["epochs"] for r in rows]))
            shown = "-" if np.isnan(accuracy) else f"{accuracy:.4f}"
            lines.append(f"| {name} | {dtype} | {lib} | {shown} | {epochs:g} | "
                         f"{seconds:.2f} | {seconds / base:.2f}x |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="seeds per library (medians)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads, for both")
    parser.add_argument("--only", choices=["digits", "fashion"], help="one data set")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    cases = [("digits", np.float64), ("fashion", np.float64), ("fashion", np.float32)]
    cases = [c for c in cases if args.only in (None, c[0])]
    results = []
    with threadpool_limits(limits=args.threads):
        for name, dtype in cases:
            results.append((name, np.dtype(dtype).name, compare(name, dtype, args.repeats)))
    body = table(results)
    print(body)
    if not args.no_write:
        settings = ", ".join(f"{k}={v!r}" for k, v in DEFAULTS.items())
        write_section("sklearn", (
            "## scikit-learn's MLPClassifier and chainrule's (benchmarks/sklearn_compare.py)\n\n"
            f"Measured {machine()}; {args.threads} BLAS thread(s) for both, the libraries "
            f"alternating, medians of {args.repeats} seeds. Both get the same arguments, "
            f"scikit-learn's defaults ({settings}; max_iter=20 on Fashion-MNIST) and the "
            f"same arrays; chainrule computes in float32 whatever the input dtype, "
            f"scikit-learn in the input's dtype. The rows 'matrix products alone' time "
            f"just the BLAS products of the same number of epochs (forward, dW, and dA "
            f"below the output), in float32 and in the input's dtype: no implementation "
            f"of this network on this BLAS trains faster. The machine is shared, so times "
            f"are noisy.\n\n{body}"))
        print("wrote the sklearn section of docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
