"""Data-parallel step time on this machine: compute vs communication, 1 and 2 ranks,
and the performance model that predicts it for more ranks and real networks.

    python benchmarks/distributed.py            # 5 repetitions, writes docs/benchmarks.md
    python benchmarks/distributed.py --reps 3 --no-write

Workload: MLP 784-256-256-10 (ReLU, softmax cross-entropy, plain SGD lr 0.1) on
Fashion-MNIST's training images (from $CHAINRULE_DATA, default ../shared/data), global
batch 128 and 1024, one BLAS thread per rank. Each rank, per step:

    compute = forward + backward on its shard + the optimizer step
    allreduce = chainrule.distributed.allreduce_gradients (pack, one Allreduce, unpack),
                which also absorbs any wait for the slower rank

After the training steps each launch also times the allreduce alone, right after a
Barrier, which is the pure cost of moving the gradient. Each launch is a fresh
``mpiexec -n p``; launches alternate between 1 and 2 ranks (repetition 1 of each, then
2, ...), so a busy minute of this shared machine hits both alike, and every figure is
the median over repetitions of per-step medians.

The single-rank launch also times compute alone at local batch B/p for p = 1..32: a
rank of a p-rank run on B does exactly that work, so the model below uses measured
compute, not compute(B)/p, which would ignore per-operation overhead at small batches.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import ROOT, machine, write_section  # noqa: E402

DATA = Path(os.environ.get("CHAINRULE_DATA", ROOT.parent / "shared" / "data"))
SIZES = [784, 256, 256, 10]
BATCHES = (128, 1024)
RANKS = (1, 2)
MODEL_RANKS = (1, 2, 4, 8, 16, 32)
# Ring allreduce model inputs: (name, bandwidth in bit/s, per-message latency in s). The
# latencies are typical published figures, stated as assumptions: TCP over 10 Gbit/s
# Ethernet about 25 us, RDMA (InfiniBand / RoCE) at 100 Gbit/s about 3 us.
NETWORKS = (("10 Gbit/s Ethernet", 10e9, 25e-6), ("100 Gbit/s InfiniBand", 100e9, 3e-6))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1"}


# -- one rank of one launch --------------------------------------------------------------------

def _timed(fn, repeats: int) -> float:
    """Median milliseconds of ``fn()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def worker(batch: int, steps: int, sweep: bool) -> None:
    import chainrule as cr
    from chainrule import data, nn, optim
    from chainrule import distributed as dist

    context = dist.init()
    (x, y), _ = data.load_fashion_mnist(DATA, flatten=True, scale=True)
    cr.manual_seed(0)
    model = nn.mlp(SIZES, "relu")
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1)
    dist.broadcast_parameters(model)
    sampler = dist.DistributedSampler(len(x), batch, seed=0)
    shards = iter(sampler)

    def forward_backward(xb: cr.Tensor, yb: cr.Tensor) -> None:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()

    compute, allreduce = [], []
    for step in range(20 + steps):  # 20 warm-up steps
        index = next(shards)
        xb, yb = cr.from_numpy(x[index]), cr.from_numpy(y[index])
        t0 = time.perf_counter()
        forward_backward(xb, yb)
        t1 = time.perf_counter()
        dist.allreduce_gradients(model, len(index))
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if step >= 20:
            compute.append((t1 - t0 + t3 - t2) * 1e3)
            allreduce.append((t2 - t1) * 1e3)
    dist.check_in_sync(model)

    barrier = getattr(context, "comm", None)

    def synced_allreduce() -> None:
        if barrier is not None:
            barrier.Barrier()
        dist.allreduce_gradients(model, 1)

    alone = _timed(synced_allreduce, 100)
    result = {"rank": context.rank, "compute": statistics.median(compute),
              "allreduce": statistics.median(allreduce), "allreduce_alone": alone,
              "nbytes": sum(p.data.nbytes for p in model.parameters())}
    if sweep:  # compute at the local batch of a p-rank run, for the performance model
        result["compute_at"] = {}
        for p in MODEL_RANKS:
            local = batch // p
            xb, yb = cr.from_numpy(x[:local]), cr.from_numpy(y[:local])

            def one_step(xb=xb, yb=yb) -> None:
                forward_backward(xb, yb)
                opt.step()

            one_step()
            result["compute_at"][p] = _timed(one_step, max(30, 4 * steps // p))
    everyone = context.allgather(result)
    if context.is_main:
        print(json.dumps(everyone))


# -- the parent -------------------------------------------------------------------------------

def launch(ranks: int, batch: int, steps: int, sweep: bool) -> list[dict]:
    cmd = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__, "--worker",
           "--batch", str(batch), "--steps", str(steps)] + (["--sweep"] if sweep else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=ENV)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ring_allreduce_ms(nbytes: int, p: int, bits_per_s: float, latency_s: float) -> float:
    """Ring allreduce: 2(p-1) steps, each sending nbytes/p: 2(p-1)/p * nbytes / bandwidth
    + 2(p-1) * latency."""
    if p == 1:
        return 0.0
    return (2 * (p - 1) / p * nbytes * 8 / bits_per_s + 2 * (p - 1) * latency_s) * 1e3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=150, help="timed steps at batch 128 "
                                                              "(fewer at 1024)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=128, help=argparse.SUPPRESS)
    parser.add_argument("--sweep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.batch, args.steps, args.sweep)
        return
    runs: dict[tuple[int, int], list[list[dict]]] = {}
    for rep in range(args.reps):
        for batch in BATCHES:
            steps = args.steps if batch <= 128 else max(20, args.steps // 4)
            for ranks in RANKS:
                out = launch(ranks, batch, steps, sweep=ranks == 1)
                runs.setdefault((ranks, batch), []).append(out)
                print(f"rep {rep + 1}/{args.reps} batch {batch} ranks {ranks}: "
                      f"compute {out[0]['compute']:.2f} ms, allreduce "
                      f"{out[0]['allreduce']:.2f} ms", file=sys.stderr)
    body = report(runs, args.reps)
    print(body)
    if not args.no_write:
        write_section("distributed", body)
        print(f"\nwritten to {ROOT / 'docs' / 'benchmarks.md'}", file=sys.stderr)


def _median(runs: list[list[dict]], key: str, slowest: bool = False) -> float:
    """Median over launches of rank 0's figure (or of the largest over ranks)."""
    return statistics.median(max(r[key] for r in run) if slowest else run[0][key]
                             for run in runs)


def report(runs: dict[tuple[int, int], list[list[dict]]], reps: int) -> str:
    nbytes = runs[(1, BATCHES[0])][0][0]["nbytes"]
    params = nbytes // 4
    lines = [
        "## Data-parallel training (benchmarks/distributed.py)",
        "",
        f"Measured {machine()}; mpi4py over MPICH, ranks on one machine (shared memory), "
        f"one BLAS thread per rank. MLP {'-'.join(map(str, SIZES))} (ReLU, softmax "
        f"cross-entropy, SGD), {params:,} parameters = {nbytes / 1e6:.3f} MB of float32 "
        f"gradient per step. Per step, in milliseconds: the median over {reps} launches "
        f"(alternating 1 and 2 ranks) of each launch's median step, rank 0's clock. The "
        f"machine is shared with other work, so single figures move by 10-30%; compare "
        f"within a row.",
        "",
        "| global batch | ranks | examples per rank | compute | compute, slowest rank "
        "| same shard, 1 rank alone | allreduce (in training) | allreduce alone | step "
        "| speed-up |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for batch in BATCHES:
        base = None
        for ranks in RANKS:
            r = runs[(ranks, batch)]
            compute, comm = _median(r, "compute"), _median(r, "allreduce")
            alone = _median(r, "allreduce_alone")
            step = compute + comm
            base = base or step
            slowest = _median(r, "compute", slowest=True)
            solo = statistics.median(run[0]["compute_at"][str(ranks)]
                                     for run in runs[(1, batch)])
            lines.append(f"| {batch} | {ranks} | {batch // ranks} | {compute:.2f} | "
                         f"{slowest:.2f} | {solo:.2f} | {comm:.2f} | {alone:.2f} | "
                         f"{step:.2f} | {base / step:.2f}x |")
    lines += [
        "",
        "\"step\" is rank 0's compute plus its allreduce, which includes waiting for the "
        "slower rank (both ranks share this machine's 2 cores with whatever else runs); "
        "\"allreduce alone\" is timed right after a barrier, so it is the cost of moving "
        "the data. At 1 rank there is nothing to average and chainrule skips the call. "
        "\"same shard, 1 rank alone\" is the compute of the same local batch with no other "
        "rank running: the gap to \"compute\" is what two ranks on this 2-core machine "
        "cost each other (shared caches and memory bandwidth, and other users' work).",
        "",
        "Predicted step time on a cluster (docs/distributed.md): measured compute at the "
        "local batch B/p (one rank, one thread, this machine) plus a ring allreduce of "
        f"{nbytes / 1e6:.3f} MB, 2(p-1)/p x bytes / bandwidth + 2(p-1) x latency.",
        "",
    ]
    header = "| global batch | p | compute (ms) |"
    rule = "| --- | --- | --- |"
    for name, _, lat in NETWORKS:
        header += f" allreduce, {name} (latency {lat * 1e6:g} us) | step | speed-up |"
        rule += " --- | --- | --- |"
    lines += [header, rule]
    for batch in BATCHES:
        r = runs[(1, batch)]
        compute_at = {p: statistics.median(run[0]["compute_at"][str(p)] for run in r)
                      for p in MODEL_RANKS}
        for p in MODEL_RANKS:
            row = f"| {batch} | {p} | {compute_at[p]:.2f} |"
            for _, bw, lat in NETWORKS:
                comm = ring_allreduce_ms(nbytes, p, bw, lat)
                step = compute_at[p] + comm
                row += f" {comm:.2f} | {step:.2f} | {compute_at[1] / step:.1f}x |"
            lines.append(row)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
