"""Every performance benchmark in one run: chainrule beside its peers, medians of repetitions.

    python benchmarks/run.py                 # everything, 3 repetitions (about 10 minutes)
    python benchmarks/run.py --only rnn ops  # some of it
    python benchmarks/run.py --reps 5 --no-write

What is measured (float32, 2 threads, the settings of the performance issue):
- mlp: one epoch of MLP 784-256-256-10 (ReLU, softmax cross-entropy, plain SGD lr 0.1)
  over Fashion-MNIST's 60,000 training images at batch 32, 128 and 1024; seconds per
  epoch for the matrix products alone, a hand-written numpy BP, chainrule, PyTorch and
  scikit-learn's MLPClassifier; peak RSS of each process at batch 128.
- rnn: the median training step (forward + backward through time) of a tanh RNN, an LSTM and
  a GRU (input 64, hidden 128, sequence 50, batch 32, cross-entropy of a linear head on
  the last state): chainrule's fused layer and its unrolled graph, PyTorch's fused
  nn.RNN/LSTM/GRU and a Python loop over its cells, a hand-written numpy BPTT (RNN), and
  numpy's BLAS products of the step alone (what every implementation must multiply).
- ops: forward + backward of small and medium ops (benchmarks/ops_overhead.py), in
  microseconds, chainrule beside numpy by hand and PyTorch.
- import: ``import chainrule`` and ``import torch`` in a fresh interpreter.
- blas: the same MLP epoch with the products alone on numpy's BLAS, on MKL's gemm (the
  optional mkl wheel, through chainrule.backend) and on PyTorch's GEMM, and chainrule on
  each path: forced to numpy, forced to MKL, and the automatic choice a user gets.

Every measurement runs in a fresh process: PyTorch's OpenMP threads and numpy's
OpenBLAS threads slow each other down badly when both live in one process (measured:
a 32x128x512 float32 product took 32 us in a numpy-only process and 111-241 us
once torch was imported beside it), and a fresh process gives each library its own
peak memory. The repetitions are interleaved (rep 1 of every peer, then rep 2, ...)
so that a slow minute of a shared machine hits every peer alike; each figure is the
median. Peers run with the default glibc allocator; chainrule's own process applies
its allocator setting as the `chainrule` command does (see chainrule/memory.py).

The table is printed and written to docs/benchmarks.md, one section per CPU kind
("performance-amd", "performance-intel": the matrix products differ between the project's
AMD EPYC and Intel Xeon machines), with a bar chart of the ratios to PyTorch in
docs/performance-<kind>.png; the raw figures are kept in
benchmarks/results/performance-<kind>.json, so `--only` re-measures some sections of this
CPU kind's table and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import (  # noqa: E402
    ROOT,
    cpu_kind,
    machine,
    save_figure,
    tune_allocator_unless_peer,
    write_section,
)

BATCHES = (32, 128, 1024)
MLP_PEERS = ("matmul only", "numpy BP", "chainrule", "torch", "sklearn", "jax jit")
# the BLAS section: each library's products alone, and chainrule on each path; "chainrule"
# alone is the automatic choice (chainrule.backend), as a user gets it
BLAS_PEERS = ("matmul only", "matmul only (MKL)", "PyTorch GEMM only",
              "chainrule (numpy BLAS)", "chainrule (MKL)", "chainrule", "torch")
RNN_KINDS = ("RNN", "LSTM", "GRU")
RNN_PEERS = ("chainrule", "chainrule unrolled", "torch fused", "torch loop", "numpy BPTT",
             "BLAS products alone")
OPS_PEERS = ("chainrule", "numpy", "torch")
# (what, target ratio of chainrule to the peer) from the performance issue
TARGETS = {"mlp 32": 1.0, "mlp 128": 0.9, "mlp 1024": 0.9, "mlp 128 numpy": 1.3,
           "mlp 32 products": 1.5, "mlp 32 jax": 1.0, "RNN": 0.8, "LSTM": 1.0, "GRU": 1.0}


# -- what a child process measures -----------------------------------------------------

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_mlp(peer: str, batch: int) -> dict:
    import mlp_speed

    x, y = mlp_speed.load()
    mlp_speed.prepare(peer)
    # a short warm-up run first, so the timed epoch is a steady-state one for every peer
    # (PyTorch's first steps create its kernels' state and grow its allocator: measured
    # here, a first epoch at batch 1024 took 1.6 s against 0.5 s for the next)
    warm = 20 * batch
    mlp_speed.RUNNERS[peer](x[:warm], y[:warm], batch)
    start = time.perf_counter()
    mlp_speed.RUNNERS[peer](x, y, batch)
    return {"value": time.perf_counter() - start, "rss_mb": _peak_rss_mb()}


def child_rnn(peer: str, kind: str, steps: int) -> dict:
    import numpy as np
    import rnn as r

    rng = np.random.default_rng(0)
    x = rng.standard_normal((r.B, r.T, r.I)).astype(np.float32)
    y = rng.integers(0, r.C, r.B)
    if peer.startswith("chainrule"):
        step = r.chainrule_step(kind, x, y, fused=peer == "chainrule")
    elif peer.startswith("torch"):
        fused, loop = r.torch_steps(kind, x, y)
        step = fused if peer == "torch fused" else loop
    elif peer == "BLAS products alone":
        step = r.products_step(kind)
    else:
        step = r.numpy_rnn_step(x, y)
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):  # the median step: a stall of the machine hits one step, not all
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return {"value": statistics.median(times)}


def child_ops(peer: str, quick: bool) -> dict:
    import ops_overhead as o

    if peer == "torch":
        import torch  # noqa: F401  (an ImportError reports the column as skipped)
    out = {}
    for name, ours, numpy_fn, spec in o.cases():
        if peer == "numpy" and numpy_fn is None:
            continue  # no by-hand version (numpy has no erf): the column says n/a
        fn = {"chainrule": ours, "numpy": numpy_fn}.get(peer) or o.torch_fn(spec)
        out[name] = o.us(fn, quick)
    return {"value": out}


def child_import(module: str) -> dict:
    start = time.perf_counter()
    __import__(module)
    return {"value": (time.perf_counter() - start) * 1e3}


def _child(spec: dict) -> dict:
    kind = spec.pop("bench")
    if kind != "import":  # the import timing must not import chainrule first
        tune_allocator_unless_peer()
    try:
        return {"mlp": child_mlp, "rnn": child_rnn, "ops": child_ops,
                "import": child_import}[kind](**spec)
    except ImportError as e:
        return {"skipped": f"{e.name or e} is not installed (pip install -e .[bench])"}


# -- the parent: run children, interleaved, and report ----------------------------------

def measure(spec: dict, timeout: float = 600) -> dict:
    """Run one measurement in a fresh interpreter and return what it printed."""
    env = dict(os.environ)
    if not str(spec.get("peer", spec.get("module"))).startswith("chainrule"):
        env["CHAINRULE_MALLOC_TUNING"] = "0"  # peers keep glibc's default allocator
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        return {"skipped": f"failed: {tail[0]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def collect(specs: list[dict], reps: int, label) -> dict[str, list[dict]]:
    """Run every spec ``reps`` times, interleaved; results by label(spec)."""
    results: dict[str, list[dict]] = {}
    for rep in range(reps):
        for spec in specs:
            r = measure(dict(spec))
            results.setdefault(label(spec), []).append(r)
            shown = r.get("skipped") or (r["value"] if not isinstance(r["value"], dict)
                                         else "ok")
            print(f"  [{rep + 1}/{reps}] {label(spec)}: {shown}", file=sys.stderr, flush=True)
    return results


def median(runs: list[dict], key: str = "value") -> float:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else float("nan")


def _skip_note(runs: list[dict]) -> str | None:
    return next((r["skipped"] for r in runs if "skipped" in r), None)


def run_mlp(reps: int, quick: bool) -> dict:
    peers = [p for p in MLP_PEERS if not (quick and p == "sklearn")]
    specs = [{"bench": "mlp", "peer": p, "batch": b} for b in BATCHES for p in peers]
    raw = collect(specs, reps, lambda s: f"{s['peer']} @ {s['batch']}")
    return {"seconds": {k: median(v) for k, v in raw.items()},
            "rss_mb": {p: median(raw.get(f"{p} @ 128", []), "rss_mb") for p in peers},
            "skipped": {k: _skip_note(v) for k, v in raw.items() if _skip_note(v)}}


def run_blas(reps: int, quick: bool) -> dict:
    specs = [{"bench": "mlp", "peer": p, "batch": b} for b in BATCHES for p in BLAS_PEERS]
    raw = collect(specs, reps, lambda s: f"{s['peer']} @ {s['batch']}")
    from chainrule import backend

    return {"seconds": {k: median(v) for k, v in raw.items()},
            "choice": backend.blas_info(),
            "skipped": {k: _skip_note(v) for k, v in raw.items() if _skip_note(v)}}


def blas_report(results: dict) -> str:
    s, nan = results["seconds"], float("nan")
    rows = ["| batch | " + " | ".join(BLAS_PEERS) + " | MKL / numpy products | "
            "chainrule (MKL) / PyTorch | automatic / numpy path |", "| --- " * 11 + "|"]
    for b in BATCHES:
        v = {p: s.get(f"{p} @ {b}", nan) for p in BLAS_PEERS}
        rows.append(f"| {b} | " + " | ".join(_f(v[p]) for p in BLAS_PEERS) +
                    f" | {_f(v['matmul only (MKL)'] / v['matmul only'])} | "
                    f"{_f(v['chainrule (MKL)'] / v['torch'])} | "
                    f"{_f(v['chainrule'] / v['chainrule (numpy BLAS)'])} |")
    choice = results.get("choice", {})
    skipped = "; ".join(f"{k}: {v}" for k, v in results.get("skipped", {}).items())
    return ("### Where the products run: numpy's BLAS, MKL, and the automatic choice (MLP "
            "epoch, seconds)\n\n" + "\n".join(rows) +
            f"\n\nThe automatic choice on this machine: {choice.get('blas')} "
            f"({choice.get('reason')}; numpy {choice.get('numpy')}, mkl {choice.get('mkl')})."
            + (f" Skipped: {skipped}." if skipped else ""))


def run_rnn(reps: int, quick: bool) -> dict:
    specs = [{"bench": "rnn", "peer": p, "kind": k, "steps": 10 if quick else 30}
             for k in RNN_KINDS for p in RNN_PEERS if not (p == "numpy BPTT" and k != "RNN")]
    raw = collect(specs, reps, lambda s: f"{s['peer']} {s['kind']}")
    return {"ms": {k: median(v) for k, v in raw.items()},
            "skipped": {k: _skip_note(v) for k, v in raw.items() if _skip_note(v)}}


def run_ops(reps: int, quick: bool) -> dict:
    specs = [{"bench": "ops", "peer": p, "quick": quick} for p in OPS_PEERS]
    raw = collect(specs, reps, lambda s: s["peer"])
    table: dict[str, dict[str, float]] = {}
    for peer, runs in raw.items():
        good = [r["value"] for r in runs if "value" in r]
        for case in (good[0] if good else {}):
            table.setdefault(case, {})[peer] = statistics.median(g[case] for g in good)
    return {"us": table}


def run_import(reps: int, quick: bool) -> dict:
    specs = [{"bench": "import", "module": m} for m in ("chainrule", "torch")]
    raw = collect(specs, max(reps, 5), lambda s: s["module"])
    return {"ms": {k: median(v) for k, v in raw.items()}}


RUNNERS = {"mlp": run_mlp, "rnn": run_rnn, "ops": run_ops, "import": run_import,
           "blas": run_blas}


# -- the report ----------------------------------------------------------------------------

def _f(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def _verdict(ratio: float, target: float) -> str:
    if ratio != ratio:
        return "n/a"
    return f"{_f(ratio)} ({'met' if ratio <= target else 'missed'}: <= {target})"


def summary(results: dict) -> str:
    """One table: every target of the performance issue, its measured ratio, the verdict."""
    nan = float("nan")
    rows = ["| what | chainrule | peer | ratio (target) |", "| --- | --- | --- | --- |"]
    s = results.get("mlp", {}).get("seconds", {})
    for b in BATCHES:
        cr, torch = s.get(f"chainrule @ {b}", nan), s.get(f"torch @ {b}", nan)
        rows.append(f"| MLP epoch, batch {b}, vs PyTorch (s) | {_f(cr)} | {_f(torch)} | "
                    f"{_verdict(cr / torch, TARGETS[f'mlp {b}'])} |")
    cr, hand = s.get("chainrule @ 128", nan), s.get("numpy BP @ 128", nan)
    rows.append(f"| MLP epoch, batch 128, vs hand-written numpy BP (s) | {_f(cr)} | {_f(hand)} "
                f"| {_verdict(cr / hand, TARGETS['mlp 128 numpy'])} |")
    cr = s.get("chainrule @ 32", nan)
    for peer, key in (("matmul only", "mlp 32 products"), ("jax jit", "mlp 32 jax")):
        other = s.get(f"{peer} @ 32", nan)
        rows.append(f"| MLP epoch, batch 32, vs {peer} (s) | {_f(cr)} | {_f(other)} | "
                    f"{_verdict(cr / other, TARGETS[key])} |")
    rss = results.get("mlp", {}).get("rss_mb", {})
    cr, torch = rss.get("chainrule", nan), rss.get("torch", nan)
    rows.append(f"| MLP peak RSS, batch 128, vs PyTorch (MB) | {_f(cr, 0)} | {_f(torch, 0)} | "
                f"{_verdict(cr / torch, 1.0)} |")
    ms = results.get("rnn", {}).get("ms", {})
    for k in RNN_KINDS:
        cr, torch = ms.get(f"chainrule {k}", nan), ms.get(f"torch fused {k}", nan)
        rows.append(f"| {k} training step vs PyTorch fused (ms) | {_f(cr)} | {_f(torch)} | "
                    f"{_verdict(cr / torch, TARGETS[k])} |")
    ops = results.get("ops", {}).get("us", {})
    small = next(iter(ops.values()), {})
    cr, torch = small.get("chainrule", nan), small.get("torch", nan)
    rows.append(f"| per-op overhead, {next(iter(ops), 'small op')} (us) | {_f(cr, 1)} | "
                f"{_f(torch, 1)} | {_verdict(cr / torch, 1.0)} |")
    imp = results.get("import", {}).get("ms", {})
    cr = imp.get("chainrule", nan)
    rows.append(f"| import chainrule (ms) | {_f(cr, 0)} | | "
                f"{'n/a' if cr != cr else ('met' if cr < 200 else 'missed') + ' (< 200 ms)'} |")
    measured = [r for r in rows if not r.endswith("| n/a |")]  # sections not run here
    return "### Summary: the targets\n\n" + "\n".join(measured)


def report(results: dict, reps: int, cpu: str) -> str:
    when = sorted({f"{name}: {r.get('measured', 'an earlier run')}, median of "
                   f"{r.get('reps', reps)} repetitions" for name, r in results.items()})
    parts = [f"## Performance on {cpu}: chainrule beside PyTorch and numpy "
             "(benchmarks/run.py)\n\n"
             "Every figure is the median of repetitions, each in a fresh process, peers "
             "interleaved; float32, 2 threads. A shared virtual machine is noisy: read the "
             "ratios (same run) rather than the absolute times. Each section was measured "
             "(`--only` re-measures some and keeps the others):\n\n"
             + "\n".join(f"- {w}" for w in when), summary(results)]
    if "mlp" in results:
        s = results["mlp"]["seconds"]
        peers = [p for p in MLP_PEERS if any(f"{p} @ {b}" in s for b in BATCHES)]
        rows = ["| batch | " + " | ".join(peers) +
                " | chainrule / PyTorch | chainrule / numpy BP |",
                "| --- " * (len(peers) + 3) + "|"]
        for b in BATCHES:
            cr, torch, hand = (s.get(f"{p} @ {b}", float("nan"))
                               for p in ("chainrule", "torch", "numpy BP"))
            hand_cell = _verdict(cr / hand, TARGETS["mlp 128 numpy"]) if b == 128 \
                else _f(cr / hand)
            rows.append(f"| {b} | " + " | ".join(_f(s.get(f"{p} @ {b}", float("nan")))
                                                 for p in peers) +
                        f" | {_verdict(cr / torch, TARGETS[f'mlp {b}'])} | {hand_cell} |")
        rss = results["mlp"]["rss_mb"]
        parts.append("### MLP 784-256-256-10, one Fashion-MNIST epoch (seconds)\n\n"
                     + "\n".join(rows) + "\n\nPeak RSS at batch 128 (MB): "
                     + ", ".join(f"{p} {_f(v, 0)}" for p, v in rss.items()))
    if "rnn" in results:
        ms = results["rnn"]["ms"]
        rows = ["| layer | " + " | ".join(RNN_PEERS) + " | chainrule / PyTorch fused |",
                "| --- " * (len(RNN_PEERS) + 2) + "|"]
        for k in RNN_KINDS:
            ratio = ms.get(f"chainrule {k}", float("nan")) / ms.get(f"torch fused {k}",
                                                                   float("nan"))
            rows.append(f"| {k} | " + " | ".join(_f(ms.get(f"{p} {k}", float("nan")))
                                                 for p in RNN_PEERS) +
                        f" | {_verdict(ratio, TARGETS[k]) if k in TARGETS else _f(ratio)} |")
        parts.append("### Recurrent training step, batch 32, sequence 50, input 64, hidden 128 "
                     "(ms)\n\n" + "\n".join(rows))
    if "ops" in results:
        rows = ["| op (forward + backward) | chainrule | numpy by hand | PyTorch | "
                "chainrule / numpy | chainrule / PyTorch |", "| --- " * 6 + "|"]
        for case, by in results["ops"]["us"].items():
            c, n, t = (by.get(p, float("nan")) for p in OPS_PEERS)
            rows.append(f"| {case} | {_f(c, 1)} | {_f(n, 1)} | {_f(t, 1)} | {_f(c / n)} | "
                        f"{_f(c / t)} |")
        parts.append("### Per-op overhead (microseconds)\n\n" + "\n".join(rows))
    if "import" in results:
        ms = results["import"]["ms"]
        parts.append(f"### Import time\n\n`import chainrule`: {_f(ms.get('chainrule'), 0)} ms "
                     f"(target < 200 ms); `import torch`: {_f(ms.get('torch'), 0)} ms; "
                     f"each in a fresh interpreter, numpy's import included.")
    if "blas" in results:
        parts.append(blas_report(results["blas"]))
    return "\n\n".join(parts)


def plot(results: dict, path: Path) -> None:
    """Bars of chainrule's time divided by PyTorch's, one per benchmark; 1 = as fast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars: list[tuple[str, float]] = []
    s = results.get("mlp", {}).get("seconds", {})
    bars += [(f"MLP batch {b}", s.get(f"chainrule @ {b}", float("nan")) /
              s.get(f"torch @ {b}", float("nan"))) for b in BATCHES if s]
    ms = results.get("rnn", {}).get("ms", {})
    bars += [(k, ms.get(f"chainrule {k}", float("nan")) / ms.get(f"torch fused {k}",
                                                               float("nan")))
             for k in RNN_KINDS if ms]
    bars = [(n, r) for n, r in bars if r == r]
    if not bars:
        return
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar([n for n, _ in bars], [r for _, r in bars], color="#4477aa")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_ylabel("chainrule time / PyTorch time")
    ax.set_title("below 1: chainrule is faster (same run, medians)")
    for i, (_, r) in enumerate(bars):
        ax.text(i, r, f"{r:.2f}", ha="center", va="bottom")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(RUNNERS), default=list(RUNNERS))
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement")
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    slug, cpu = cpu_kind()
    store = HERE / "results" / f"performance-{slug}.json"
    picture = f"performance-{slug}.png"
    results = json.loads(store.read_text()) if store.exists() and not args.no_write else {}
    for name in args.only:
        print(f"{name} ...", file=sys.stderr, flush=True)
        results[name] = {**RUNNERS[name](args.reps, args.quick), "measured": machine(),
                         "reps": args.reps}
    text = report(results, args.reps, cpu) + \
        f"\n\n![chainrule time / PyTorch time on {cpu}]({picture})"
    print(text)
    if not args.no_write:
        store.parent.mkdir(exist_ok=True)
        store.write_text(json.dumps(results, indent=1))
        write_section(f"performance-{slug}", text)
        plot(results, ROOT / "docs" / picture)
        print(f"wrote docs/benchmarks.md and docs/{picture}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
