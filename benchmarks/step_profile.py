"""Where one training step's time goes, op by op: chainrule's nodes beside PyTorch's ops.

    python benchmarks/step_profile.py [--model transformer] [--steps 200] [--threads 1]

The model is a makemore zoo model at makemore's sizes (default: the Transformer, 4
layers, 4 heads, 64 channels, block 16), batch 32 of random tokens, makemore's AdamW.
chainrule: every Function class's ``forward`` and backward (``backward_arrays`` or
``backward``) is wrapped in a timer, and so are the optimizer step and the whole step;
what is left ("engine and the rest") is the graph bookkeeping, the backward loop and the
Python between the ops. PyTorch (when installed): ``torch.profiler`` over the same
number of steps of the twin in benchmarks/makemore_torch.py, its self CPU time per op.

Microseconds per step, the total of STEPS steps after WARMUP, each framework in its own
process with the same BLAS threads. A profile, not a benchmark of the step: the timers
cost about a microsecond per call, so the whole step reads slower than in
benchmarks/makemore.py; the table is for the shares.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARMUP, BATCH, VOCAB, BLOCK = 20, 32, 27, 16


def _batches(steps: int):
    import numpy as np

    tokens = np.random.default_rng(0).integers(0, VOCAB, (steps, BATCH, BLOCK + 1))
    return [(t[:, :-1], t[:, 1:]) for t in tokens]


def child_chainrule(model_name: str, steps: int) -> dict:
    import chainrule as cr
    from chainrule import backend, optim
    from chainrule.autograd import function as function_module
    from chainrule.train.language import next_token_loss
    from chainrule.train.zoo import make_model

    cr.tune_allocator()
    cr.manual_seed(0)
    model = make_model(model_name, VOCAB, BLOCK)
    opt = optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.99), eps=1e-8,
                      weight_decay=0.01)
    totals: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    timing = [False]

    def timed(cls, attr, label):
        inner = getattr(cls, attr)

        def wrapper(*args, **kwargs):
            if not timing[0]:
                return inner(*args, **kwargs)
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - started
                calls[label] += 1
        setattr(cls, attr, wrapper)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in set(subclasses(function_module.Function)):
        for attr, part in (("forward", "forward"), ("backward_arrays", "backward"),
                           ("backward", "backward")):
            if callable(cls.__dict__.get(attr)):
                timed(cls, attr, f"{cls.__name__} {part}")
    timed(type(opt), "step", "optimizer step")

    products: list = []

    def recorded(inner):
        def record(a, b, out=None):
            if timing[0] and len(products) < 1000:
                products.append([_layout(a), _layout(b)])
            return inner(a, b, out)
        return record

    whole = 0.0
    for k, (x, y) in enumerate(_batches(WARMUP + steps)):
        if k == WARMUP:  # the BLAS is chosen by now (on the first product)
            chosen = backend.matmul
            backend.matmul = recorded(chosen)
        if k == WARMUP + 1:
            backend.matmul = chosen
        timing[0] = k >= WARMUP
        started = time.perf_counter()
        opt.zero_grad()
        next_token_loss(model, x, y).backward()
        opt.step()
        if timing[0]:
            whole += time.perf_counter() - started
    # a composite backward (with no backward_arrays) runs other nodes' forwards inside it:
    # those are counted twice, once on their own and once inside it; the ops here all
    # have backward_arrays, which the check below confirms by the counts
    import numpy as np

    def replay(matmul):
        return _replay(products, lambda shape, t: _operand(np.random.default_rng(0)
                       .standard_normal(shape).astype(np.float32), t), matmul)
    return {"whole": whole, "totals": dict(totals), "calls": dict(calls), "steps": steps,
            "products": products, "products_numpy": replay(np.matmul),
            "products_chosen": replay(chosen), "blas": backend.blas_info()["blas"]}


def _layout(x) -> list:
    """[shape, transposed]: a matrix stored as the transpose of a C-contiguous one (W.T)
    is replayed as one; anything else as C-contiguous."""
    transposed = x.ndim >= 2 and not x.flags.c_contiguous and x.strides[-2] == x.itemsize
    return [list(x.shape), bool(transposed)]


def _operand(array, transposed: bool):
    """``array``, or an array of its values stored transposed (numpy or torch)."""
    if not transposed:
        return array
    if hasattr(array, "contiguous"):  # torch
        return array.transpose(-1, -2).contiguous().transpose(-1, -2)
    return array.swapaxes(-1, -2).copy().swapaxes(-1, -2)


def _replay(products: list, make, matmul, rounds: int = 7, number: int = 20) -> float:
    """Seconds for one step's products, the median of ``rounds``."""
    import statistics

    operands = [(make(a[0], a[1]), make(b[0], b[1])) for a, b in products]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(number):
            for a, b in operands:
                matmul(a, b)
        times.append((time.perf_counter() - started) / number)
    return statistics.median(times)


def child_torch(model_name: str, steps: int) -> dict:
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    sys.path.insert(0, str(HERE))
    from makemore_torch import make_model

    torch.manual_seed(0)
    model = make_model(model_name, VOCAB, BLOCK)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.99), eps=1e-8,
                            weight_decay=0.01)
    batches = [(torch.from_numpy(x), torch.from_numpy(y.astype(np.int64)))
               for x, y in _batches(WARMUP + steps)]

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1),
                                          ignore_index=-1).backward()
        opt.step()

    for x, y in batches[:WARMUP]:
        step(x, y)
    started = time.perf_counter()
    for x, y in batches[WARMUP:]:
        step(x, y)
    whole = time.perf_counter() - started
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for x, y in batches[WARMUP:]:
            step(x, y)
    totals = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    calls = {e.key: e.count for e in prof.key_averages()}
    products = json.loads(os.environ["STEP_PROFILE_PRODUCTS"])
    rng = np.random.default_rng(0)
    return {"whole": whole, "totals": totals, "calls": calls, "steps": steps,
            "products_torch": _replay(products, lambda shape, t: _operand(torch.from_numpy(
                rng.standard_normal(shape).astype(np.float32)), t), torch.matmul)}


def run(framework: str, model: str, steps: int, threads: int, products: list) -> dict:
    from _report import child_env

    env = {**child_env(framework, threads), "STEP_PROFILE_PRODUCTS": json.dumps(products)}
    proc = subprocess.run([sys.executable, __file__, "--child", framework, "--model", model,
                           "--steps", str(steps)], env=env,
                          stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(result: dict, top: int) -> list[str]:
    per_step = 1e6 / result["steps"]
    whole = result["whole"] * per_step
    rows = sorted(result["totals"].items(), key=lambda kv: -kv[1])
    listed = sum(t for _, t in result["totals"].items()) * per_step
    lines = ["| part | us per step | calls per step | share |", "| --- | --- | --- | --- |"]
    for name, seconds in rows[:top]:
        us = seconds * per_step
        lines.append(f"| {name} | {us:.0f} | {result['calls'][name] / result['steps']:.0f} | "
                     f"{us / whole:.0%} |")
    rest = sum(t for _, t in rows[top:]) * per_step
    if rest:
        lines.append(f"| the other {len(rows) - top} | {rest:.0f} | | {rest / whole:.0%} |")
    lines.append(f"| engine and the rest | {whole - listed:.0f} | | "
                 f"{(whole - listed) / whole:.0%} |")
    lines.append(f"| **whole step** | **{whole:.0f}** | | |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=18, help="rows per framework")
    parser.add_argument("--child", choices=("chainrule", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 1 or args.threads < 1:
        parser.error("--steps and --threads must be positive")
    if args.child:
        child = child_chainrule if args.child == "chainrule" else child_torch
        print(json.dumps(child(args.model, args.steps)))
        return 0
    sys.path.insert(0, str(HERE))
    from _report import machine

    print(f"{machine()}; {args.model}, batch {BATCH}, block {BLOCK}, {args.threads} "
          f"thread(s), {args.steps} steps after {WARMUP}\n")
    products: list = []
    for framework in ("chainrule", "torch"):
        try:
            result = run(framework, args.model, args.steps, args.threads, products)
        except subprocess.CalledProcessError:
            if framework == "torch":
                print("(PyTorch not installed: its column skipped)")
                continue
            raise
        print(f"### {framework}\n")
        print("\n".join(table(result, args.top)) + "\n")
        if framework == "chainrule":
            products = result["products"]
            print(f"The step's {len(products)} matrix products alone, replayed: "
                  f"numpy {result['products_numpy'] * 1e6:.0f} us, the chosen BLAS "
                  f"({result['blas']}) {result['products_chosen'] * 1e6:.0f} us.\n")
        else:
            print(f"The same products in torch.matmul: {result['products_torch'] * 1e6:.0f} us."
                  f" torch.profiler's self times add up to more than the unprofiled step "
                  f"(the profiler's own cost), so read its rows as shares.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
