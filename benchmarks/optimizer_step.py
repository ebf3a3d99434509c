"""One optimizer step over the parameters of a few model shapes: the per-parameter loop, the
flat path (``fused=True``), the default (``fused=None``: small tensors flat, large ones
looped) and PyTorch's for-loop, foreach and fused optimizers, each library in its own
process.

    python benchmarks/optimizer_step.py [--quick] [--no-write]

Microseconds per ``step()`` (gradients already in place, float32, 2 threads; the best of
5 rounds of an auto-sized loop, as the machines are shared). Shapes: the digits model of
benchmarks/sklearn_compare.py (64-100-10), the MLP of benchmarks/mlp_speed.py
(784-256-256-10), makemore's default Transformer (4 layers, 64 channels: 53 tensors),
and runs of equal square tensors that show where the flat path stops paying.
The lr is tiny so that thousands of steps leave the weights where they were.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import machine, run_child, tune_allocator_unless_peer, write_section  # noqa: E402

GPT_BLOCK = [(64,), (64,), (192, 64), (192,), (64, 64), (64,), (64,), (64,), (256, 64), (256,),
             (64, 256), (64,)]
SHAPES = {
    "digits 64-100-10": [(100, 64), (100,), (10, 100), (10,)],
    "MLP 784-256-256-10": [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)],
    "Transformer 4x64": [(27, 64), (16, 64)] + GPT_BLOCK * 4 + [(64,), (64,), (27, 64)],
    "16 x 64x64": [(64, 64)] * 16,
    "8 x 128x128": [(128, 128)] * 8,
    "4 x 256x256": [(256, 256)] * 4,
}
OPTIMIZERS = {"SGD": {"lr": 1e-9}, "SGD momentum": {"lr": 1e-9, "momentum": 0.9},
              "Adam": {"lr": 1e-9}}
CHAINRULE_MODES = {"loop": False, "flat": True, "default": None}
TORCH_MODES = {"torch loop": {"foreach": False}, "torch foreach": {"foreach": True},
               "torch fused": {"fused": True}}


def best_us(fn, quick: bool) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(3 if quick else 5, number)) / number * 1e6


def arrays(shapes: list[tuple[int, ...]]) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.standard_normal(s).astype(np.float32), rng.standard_normal(s).astype(np.float32))
            for s in shapes]


def child_chainrule(quick: bool) -> dict:
    import chainrule as cr
    from chainrule import optim

    results = {}
    for case, shapes in SHAPES.items():
        params = []
        for w, g in arrays(shapes):
            p = cr.tensor(w, requires_grad=True)
            p.grad = cr.tensor(g)
            params.append(p)
        for name, options in OPTIMIZERS.items():
            cls = optim.Adam if name == "Adam" else optim.SGD
            for mode, fused in CHAINRULE_MODES.items():
                opt = cls(params, **options, fused=fused)
                results[f"{case}|{name}|{mode}"] = best_us(opt.step, quick)
    return results


def child_torch(quick: bool) -> dict:
    import torch

    torch.set_num_threads(2)
    results = {}
    for case, shapes in SHAPES.items():
        params = []
        for w, g in arrays(shapes):
            p = torch.nn.Parameter(torch.from_numpy(w))
            p.grad = torch.from_numpy(g)
            params.append(p)
        for name, options in OPTIMIZERS.items():
            cls = torch.optim.Adam if name == "Adam" else torch.optim.SGD
            for mode, extra in TORCH_MODES.items():
                opt = cls(params, **options, **extra)
                results[f"{case}|{name}|{mode}"] = best_us(opt.step, quick)
    return results


def table(results: dict) -> str:
    modes = list(CHAINRULE_MODES) + list(TORCH_MODES)
    lines = ["| parameters | optimizer | " + " | ".join(modes)
             + " | default / loop | default / torch loop |",
             "| --- | --- | " + " | ".join("---" for _ in modes) + " | --- | --- |"]
    for case, shapes in SHAPES.items():
        values = sum(int(np.prod(s)) for s in shapes)
        for name in OPTIMIZERS:
            row = [results[f"{case}|{name}|{m}"] for m in modes]
            default, loop = results[f"{case}|{name}|default"], results[f"{case}|{name}|loop"]
            torch_loop = results[f"{case}|{name}|torch loop"]
            lines.append(f"| {case} ({len(shapes)} tensors, {values:,} values) | {name} | "
                         + " | ".join(f"{v:.0f}" for v in row)
                         + f" | {default / loop:.2f} | {default / torch_loop:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 timing rounds instead of 5")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        if spec["framework"] == "chainrule":
            tune_allocator_unless_peer()
            print(json.dumps(child_chainrule(spec["quick"])))
        else:
            print(json.dumps(child_torch(spec["quick"])))
        return
    results = {}
    for framework in ("chainrule", "torch"):
        try:
            results.update(run_child(__file__, {"framework": framework, "quick": args.quick},
                                     framework, 2, f"{framework} optimizer steps"))
        except SystemExit:
            if framework == "chainrule":
                raise
            print("torch is not installed: its columns are left out", file=sys.stderr)
            for key in list(results):
                for mode in TORCH_MODES:
                    results[key.rsplit("|", 1)[0] + "|" + mode] = float("nan")
    body = (f"### One optimizer step (microseconds)\n\nMeasured {machine()}: microseconds "
            f"per `step()` (float32, 2 threads, the best of timing rounds), chainrule's three "
            f"ways and PyTorch's three, each library in its own process "
            f"(`python benchmarks/optimizer_step.py`).\n\n{table(results)}")
    print(body)
    if not args.no_write:
        write_section("optimizer_step", body)


if __name__ == "__main__":
    main()
