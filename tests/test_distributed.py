"""Data-parallel training (chainrule.distributed): the sampler in process, and real
2-rank runs launched with `mpiexec -n 2` in subprocesses.

Every launch runs under a timeout with one BLAS thread per rank. Scripts are started
as `python -m mpi4py script.py`, which aborts every rank when one raises, except the
fault test, which starts them plainly to show chainrule aborts the run by itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import data
from chainrule import distributed as dist
from chainrule.distributed import DistributedSampler

TIMEOUT = 120
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1"}


MPIEXEC = dist.find_mpiexec()  # beside sys.executable (an unactivated venv's), else on PATH


def _mpi_missing() -> str | None:
    """What keeps the mpiexec launches from running here, or None."""
    if importlib.util.find_spec("mpi4py") is None:
        return f"mpi4py is not installed for {sys.executable} (pip install 'chainrule[mpi]')"
    probe = subprocess.run([sys.executable, "-c", "from mpi4py import MPI"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return f"mpi4py is installed but cannot load an MPI library: {last}"
    if MPIEXEC is None:
        return (f"no mpiexec beside {sys.executable} nor on PATH (pip install 'chainrule[mpi]' "
                f"installs MPICH's)")
    return None


_MISSING = _mpi_missing()
_skip_without_mpi = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def needs_mpi(test):
    """An mpiexec launch: skipped without MPI, and slow (seconds per launch)."""
    return pytest.mark.slow(_skip_without_mpi(test))


def mpirun(*args: str, ranks: int = 2, via_mpi4py: bool = True, cwd: Path | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    runner = [sys.executable, "-m", "mpi4py"] if via_mpi4py else [sys.executable]
    return subprocess.run([MPIEXEC, "-n", str(ranks), *runner, *args], capture_output=True,
                          text=True, timeout=TIMEOUT, env=env or ENV, cwd=cwd)


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "worker.py"
    path.write_text(PRELUDE + textwrap.dedent(body))
    return str(path)


PRELUDE = textwrap.dedent("""\
    import json, sys
    import numpy as np
    import chainrule as cr
    from chainrule import data, nn, optim
    from chainrule import distributed as dist
    from chainrule.train import fit

    x, y = data.load_digits()  # 1797 = 28 batches of 64 + 5: the last split 3 + 2
    x = data.Standardizer().fit(x).transform(x).astype(np.float32)

    def model(hidden=32):
        cr.manual_seed(0)
        return nn.mlp([64, hidden, 10], "relu")

    def sgd(m):
        return optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    """)


# -- the sampler, in process (ranks simulated) ----------------------------------------------


@pytest.mark.parametrize("n, batch, ranks", [(1797, 64, 2), (100, 10, 3), (103, 10, 4),
                                              (7, 7, 7), (50, 64, 3)])
def test_sampler_shards_are_disjoint_and_cover_each_batch(n, batch, ranks):
    samplers = [DistributedSampler(n, batch, rank=r, world_size=ranks, seed=1)
                for r in range(ranks)]
    for epoch in range(2):
        for s in samplers:
            s.set_epoch(epoch)
        order = samplers[0].order()
        steps = [list(s) for s in samplers]
        assert len({len(s) for s in samplers}) == 1  # every rank takes the same number of steps
        assert all(len(st) == len(samplers[0]) for st in steps)
        start = 0
        for k in range(len(samplers[0])):
            shards = [st[k] for st in steps]
            sizes = [len(sh) for sh in shards]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
            together = np.concatenate(shards)  # rank order = the global batch's order
            np.testing.assert_array_equal(together, order[start:start + len(together)])
            assert len(together) == batch or k == len(samplers[0]) - 1
            start += len(together)
        seen = np.concatenate([np.concatenate(st) for st in steps])
        assert len(np.unique(seen)) == len(seen)  # disjoint
        tail = n % batch
        dropped = tail if 0 < tail < ranks else 0  # a last batch too small to split
        assert len(seen) == n - dropped


def test_sampler_reshuffles_each_epoch_identically_on_every_rank():
    a, b = DistributedSampler(100, 10, 0, 2, seed=3), DistributedSampler(100, 10, 1, 2, seed=3)
    orders = []
    for epoch in range(3):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        np.testing.assert_array_equal(a.order(), b.order())
        orders.append(a.order())
    assert not np.array_equal(orders[0], orders[1])
    a.set_epoch(0)
    np.testing.assert_array_equal(a.order(), orders[0])  # a function of (seed, epoch) only
    assert sorted(orders[2].tolist()) == list(range(100))


def test_sampler_orders_are_those_of_a_data_loader_with_the_same_seed():
    # so fit(distributed=True) shuffles exactly as plain fit(shuffle=True, seed=...) does
    n, seed = 50, 7
    loader = data.DataLoader(data.TensorDataset(np.arange(n)), batch_size=n, shuffle=True,
                             seed=seed)
    sampler = DistributedSampler(n, 10, rank=0, world_size=1, seed=seed)
    expected = []
    for epoch in range(4):
        (batch,) = next(iter(loader))
        expected.append(batch.data)
        sampler.set_epoch(epoch)
        np.testing.assert_array_equal(sampler.order(), batch.data)
        np.testing.assert_array_equal(np.concatenate(list(sampler)), batch.data)
    for epoch in (1, 3, 0, 2):  # any epoch, in any order: a function of (seed, epoch)
        sampler.set_epoch(epoch)
        np.testing.assert_array_equal(sampler.order(), expected[epoch])
    unshuffled = DistributedSampler(n, 10, rank=0, world_size=1, shuffle=False)
    np.testing.assert_array_equal(unshuffled.order(), np.arange(n))


class _TwoRanks(dist.Context):
    """Rank 0 of a simulated 2-rank run whose rank 1 passes ``theirs`` to allgather."""

    world_size = 2

    def __init__(self, theirs):
        self.theirs = theirs

    def allgather(self, value):
        return [value, self.theirs]


@pytest.mark.parametrize("n, ranks", [(301, 2), (10, 3), (2, 4)])
def test_validation_shards_are_contiguous_disjoint_and_cover_the_data(n, ranks):
    from chainrule.distributed.training import DataParallel

    x = np.arange(n, dtype=np.float32)[:, None]
    seen = []
    for rank in range(ranks):
        context = dist.Context()
        context.rank, context.world_size = rank, ranks
        loader = DataParallel(context).shard_loader((x, np.zeros(n)), batch_size=4)
        rows = [int(v) for xb, _ in loader for v in xb.data[:, 0]]
        assert rows == list(range(rank * n // ranks, (rank + 1) * n // ranks))
        seen += rows
    assert seen == list(range(n))


def test_find_mpiexec_looks_beside_this_python_first_then_on_path(tmp_path, monkeypatch):
    """An unactivated virtual environment (venv/bin/python run by its path) has MPICH's
    mpiexec beside its python and not on PATH."""
    beside, on_path = tmp_path / "venv" / "bin", tmp_path / "path"
    for folder in (beside, on_path):
        folder.mkdir(parents=True)
        (folder / "mpiexec").write_text("#!/bin/sh\n")
        (folder / "mpiexec").chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(beside / "python"))
    monkeypatch.setenv("PATH", str(on_path))
    assert dist.find_mpiexec() == str(beside / "mpiexec")
    (beside / "mpiexec").chmod(0o644)  # not executable: not a launcher
    assert dist.find_mpiexec() == shutil.which("mpiexec") == str(on_path / "mpiexec")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert dist.find_mpiexec() is None


def test_wait_until_read_returns_once_the_reader_has_taken_the_pipe(tmp_path):
    from chainrule.distributed.context import wait_until_read

    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "w") as stream, os.fdopen(read_fd, "rb", buffering=0) as reader:
        stream.write("chainrule: error: rank 1: boom\n")
        stream.flush()
        assert wait_until_read(stream, timeout=0.05) is False  # still in the pipe
        reading = threading.Timer(0.2, reader.read, [4096])
        started = time.monotonic()
        reading.start()
        assert wait_until_read(stream, timeout=30) is True
        assert time.monotonic() - started >= 0.19  # it waited for the reader
        reading.join()
    with open(tmp_path / "log", "w") as file:  # a file holds what was written: no wait
        file.write("x")
        assert wait_until_read(file, timeout=0) is True


def test_mpi_abort_waits_for_its_lines_to_be_read_before_aborting(monkeypatch, capsys):
    """MPICH's mpiexec exits as soon as a rank's MPI_Abort reaches it, and drops what the
    rank wrote that its proxy had not yet read from the pipe: the error line naming the
    rank was lost in about one run in a hundred. abort waits for stdout and stderr to be
    read first."""
    from chainrule.distributed import context as module

    events = []

    class Comm:
        def Get_rank(self):  # noqa: N802 (mpi4py's names)
            return 1

        def Get_size(self):  # noqa: N802
            return 2

        def Abort(self, code):  # noqa: N802
            events.append(("Abort", code))
            raise RuntimeError("aborted")  # MPI_Abort does not return

    def waited(stream, timeout=5.0):
        events.append(("wait", stream.name if hasattr(stream, "name") else stream))
        return True

    monkeypatch.setattr(module, "wait_until_read", waited)
    with pytest.raises(RuntimeError, match="aborted"):
        module.MPIContext(Comm(), None).abort("chainrule: error: rank 1: boom", code=3)
    assert [e[0] for e in events] == ["wait", "wait", "Abort"]
    assert events[-1] == ("Abort", 3)
    assert capsys.readouterr().err == "chainrule: error: rank 1: boom\n"


def test_settings_mismatch_names_the_ranks_and_values():
    mine = {"len(train_data)": 1797, "batch_size": 64, "epochs": 3, "shuffle": True}
    theirs = {"len(train_data)": "1000", "batch_size": "32", "epochs": "3",
              "shuffle": "True"}
    with pytest.raises(dist.SettingsMismatchError) as caught:
        dist.check_same_settings(mine, _TwoRanks(theirs))
    assert str(caught.value) == (
        "the ranks were given different training settings, refusing to train: rank 1 has "
        "len(train_data)=1000, batch_size=32 where rank 0 has len(train_data)=1797, "
        "batch_size=64. Every rank must pass the same amount of data and the same loop "
        "settings")
    assert caught.value.raised_on_every_rank  # re-raised on each rank, not an MPI abort
    same = {k: repr(v) for k, v in mine.items()}
    dist.check_same_settings(mine, _TwoRanks(same))  # no error


def test_sampler_refuses_a_global_batch_smaller_than_the_ranks():
    with pytest.raises(ValueError, match="global batch size 2 is smaller than the number of "
                                         "ranks 4"):
        DistributedSampler(100, 2, rank=0, world_size=4)
    with pytest.raises(ValueError, match="rank 4 is not in 0..3"):
        DistributedSampler(100, 8, rank=4, world_size=4)


def test_import_chainrule_does_not_load_mpi():
    code = "import sys, chainrule, chainrule.distributed; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# -- without MPI -----------------------------------------------------------------------------

BLOCK_MPI = "import sys; sys.modules['mpi4py'] = None\n"  # as if mpi4py were not installed


def test_single_process_fallback_without_mpi_is_bit_identical_to_plain_fit(tmp_path):
    body = BLOCK_MPI + PRELUDE + textwrap.dedent("""\
        assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)

        def trained(**options):  # shuffled, with dropout, momentum and L2
            cr.manual_seed(0)
            m = nn.mlp([64, 32, 10], "relu", dropout=0.2)
            fit(m, nn.CrossEntropyLoss(), sgd(m), (x, y), epochs=3, batch_size=64, seed=4,
                shuffle=True, l2=1.0, progress=False, **options)
            return dist.parameters_digest(m)

        print(trained(distributed=True) == trained())
        """)
    path = tmp_path / "alone.py"
    path.write_text(body)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         timeout=TIMEOUT, env=ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_cli_distributed_without_mpi_says_how_to_get_it(tmp_path):
    code = BLOCK_MPI + ("from chainrule.cli import main; sys.exit(main(['train', "
                        "'--distributed', '--epochs', '1', '--out', sys.argv[1]]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error:"), out.stderr
    assert "pip install 'chainrule[mpi]'" in lines[0] and "mpiexec" in lines[0]
    assert not (tmp_path / "run").exists()


# -- two ranks under mpiexec -----------------------------------------------------------------


@needs_mpi
def test_two_ranks_take_the_steps_of_one_process_with_the_global_batch(tmp_path):
    worker = script(tmp_path, """\
        loss = nn.CrossEntropyLoss()
        # shuffled, 2 epochs, L2 (whose 1/n must use all n examples), momentum
        a = model()
        fit(a, loss, sgd(a), (x, y), epochs=2, batch_size=64, seed=5, l2=1.0, progress=False,
            distributed=True)
        # natural order, 1 epoch, against a plain DataLoader with batch 64
        c = model()
        fit(c, loss, sgd(c), (x, y), epochs=1, batch_size=64, shuffle=False, progress=False,
            distributed=True)
        if dist.is_main():
            b = model()  # plain fit in one process, shuffled with the same seed
            fit(b, loss, sgd(b), (x, y), epochs=2, batch_size=64, seed=5, l2=1.0,
                progress=False)
            d = model()
            fit(d, loss, sgd(d), (x, y), epochs=1, batch_size=64, shuffle=False, progress=False)
            diff = lambda p, q: max(float(np.abs(u.data - v.data).max())
                                    for u, v in zip(p.parameters(), q.parameters()))
            print(json.dumps({"shuffled": diff(a, b), "ordered": diff(c, d),
                              "dtype": str(a[0].weight.dtype), "moved": diff(a, model())}))
        """)
    out = mpirun(worker)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["dtype"] == "float32"
    assert result["moved"] > 0.01  # training did change the weights
    assert result["shuffled"] <= 1e-5, result
    assert result["ordered"] <= 1e-5, result


@needs_mpi
def test_two_ranks_split_the_validation_set_and_report_its_full_metrics(tmp_path):
    worker = script(tmp_path, """\
        loss = nn.CrossEntropyLoss()
        val = (x[1500:], y[1500:])  # 297 examples: shards of 148 and 149
        a = model()
        h = fit(a, loss, sgd(a), (x[:1500], y[:1500]), val, epochs=2, batch_size=64, seed=3,
                progress=False, distributed=True)
        logs = [[e["val_loss"], e["val_accuracy"]] for e in h.epochs]
        every = dist.init().allgather(logs)
        if dist.is_main():
            b = model()
            g = fit(b, loss, sgd(b), (x[:1500], y[:1500]), val, epochs=2, batch_size=64,
                    seed=3, progress=False)
            plain = [[e["val_loss"], e["val_accuracy"]] for e in g.epochs]
            print(json.dumps({"ranks": every, "plain": plain}))
        """)
    out = mpirun(worker)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ranks"][0] == result["ranks"][1]  # every rank logs the same metrics
    np.testing.assert_allclose(result["ranks"][0], result["plain"], rtol=1e-6)


@needs_mpi
def test_cli_distributed_writes_and_prints_on_rank_0_only(tmp_path):
    out_dir = tmp_path / "run"
    # BLAS would start 2 threads per rank; --distributed limits each rank to 1 by default
    two_threads = {**ENV, "OPENBLAS_NUM_THREADS": "2"}
    result = mpirun("-m", "chainrule", "train", "--distributed", "--epochs", "2",
                    "--batch-size", "64", "--out", str(out_dir), via_mpi4py=False,
                    env=two_threads)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("epoch 1/2") == 1 and result.stderr.count("epoch 2/2") == 1
    assert result.stdout.count("test accuracy:") == 1
    assert "distributed: 2 rank(s)" in result.stdout
    assert "and 1 BLAS thread(s)" in result.stdout
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "curves.png", "metrics.csv", "metrics.json", "model.safetensors"]
    model = cr.load(out_dir / "model.safetensors")
    assert model.metadata["config"]["distributed"] is True
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.8


@needs_mpi
def test_a_fault_in_rank_1_stops_both_and_names_rank_1(tmp_path):
    out_dir = tmp_path / "ckpt"
    out_dir.mkdir()
    worker = script(tmp_path, f"""\
        from chainrule.train import LambdaCallback, ModelCheckpoint

        def corrupt(state, logs):  # rank 1's copy of the data goes bad after epoch 1
            if dist.rank() == 1:
                x[:] = np.nan

        m = model()
        callbacks = [LambdaCallback(corrupt)]
        if dist.is_main():
            callbacks.append(ModelCheckpoint({str(out_dir / "model.safetensors")!r}))
        fit(m, nn.CrossEntropyLoss(), sgd(m), (x, y), epochs=3, batch_size=64, seed=1,
            progress=False, distributed=True, callbacks=callbacks)
        print("finished")
        """)
    result = mpirun(worker, via_mpi4py=False)  # chainrule must abort the run by itself
    assert result.returncode != 0
    assert "finished" not in result.stdout
    assert "chainrule: error: rank 1: TrainingDiverged: the loss became nan at epoch 2" \
        in result.stderr, result.stderr
    # the checkpoint of epoch 1 is complete, and no partial file is left beside it
    assert [p.name for p in out_dir.iterdir()] == ["model.safetensors"]
    assert cr.load(out_dir / "model.safetensors", model=cr.nn.mlp([64, 32, 10], "relu")
                   ).metadata["epoch"] == 1


@needs_mpi
def test_ranks_with_different_models_are_refused(tmp_path):
    worker = script(tmp_path, """\
        m = model(hidden=32 if dist.rank() == 0 else 16)
        try:
            fit(m, nn.CrossEntropyLoss(), sgd(m), (x, y), epochs=1, batch_size=64,
                progress=False, distributed=True)
        except dist.ModelMismatchError as e:
            print(f"rank {dist.rank()} refused: {e}")
            sys.exit(3)
        """)
    result = mpirun(worker)
    assert result.returncode == 3
    assert result.stdout.count("refused: the ranks built different models") == 2
    assert "rank 1 has 0.weight (16, 64) float32 where rank 0 has 0.weight (32, 64) float32" \
        in result.stdout, result.stdout


@needs_mpi
def test_ranks_with_different_data_or_loop_settings_are_refused(tmp_path):
    # Unchecked, a different length or batch size on rank 1 died in MPICH ("Message
    # truncated") and a different number of epochs hung. Launched plainly: each mismatch is
    # raised on every rank, which carries on to the next case.
    worker = script(tmp_path, """\
        other = dist.rank() == 1
        cases = {"length": dict(n=1000 if other else len(x)),
                 "batch": dict(batch_size=32 if other else 64),
                 "epochs": dict(epochs=3 if other else 2),
                 "shuffle": dict(shuffle=not other, l2=0.5 if other else 0.0)}
        refused = []
        for name, case in cases.items():
            n = case.pop("n", len(x))
            options = {"epochs": 2, "batch_size": 64, **case}
            m = model()
            try:
                fit(m, nn.CrossEntropyLoss(), sgd(m), (x[:n], y[:n]), progress=False,
                    distributed=True, **options)
            except dist.SettingsMismatchError as e:
                refused.append(f"{name} rank {dist.rank()}: {e}")
        everyone = dist.init().allgather(refused)  # rank 0 prints: no interleaved lines
        if dist.is_main():
            print(json.dumps(everyone[0] + everyone[1]))
        """)
    result = mpirun(worker, via_mpi4py=False)
    assert result.returncode == 0, result.stderr
    lines = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(lines) == 8, lines  # every case refused on both ranks
    tail = ". Every rank must pass the same amount of data and the same loop settings"
    expected = {"length": "rank 1 has len(train_data)=1000 where rank 0 has "
                          "len(train_data)=1797",
                "batch": "rank 1 has batch_size=32 where rank 0 has batch_size=64",
                "epochs": "rank 1 has epochs=3 where rank 0 has epochs=2",
                "shuffle": "rank 1 has shuffle=False, l2=0.5 where rank 0 has shuffle=True, "
                           "l2=0.0"}
    for name, detail in expected.items():
        for r in (0, 1):
            assert (f"{name} rank {r}: the ranks were given different training settings, "
                    f"refusing to train: {detail}{tail}") in lines, lines


@needs_mpi
def test_an_error_in_setup_on_rank_1_stops_both_and_names_rank_1(tmp_path):
    # on_train_begin used to run outside the guard: rank 1 raised, rank 0 waited forever
    worker = script(tmp_path, """\
        from chainrule.train import Callback

        class Setup(Callback):
            def on_train_begin(self, state):
                if dist.rank() == 1:
                    raise OSError("cannot open the log file")

        m = model()
        fit(m, nn.CrossEntropyLoss(), sgd(m), (x, y), epochs=1, batch_size=64, seed=1,
            progress=False, distributed=True, callbacks=[Setup()])
        print("finished")
        """)
    result = mpirun(worker, via_mpi4py=False)  # a plain launch would hang without the abort
    assert result.returncode != 0
    assert "finished" not in result.stdout
    assert "chainrule: error: rank 1: OSError: cannot open the log file" in result.stderr, \
        result.stderr
    assert "rank 0:" not in result.stderr


@needs_mpi
def test_cli_config_error_is_one_line_from_rank_0_with_status_2(tmp_path):
    out_dir = tmp_path / "run"
    result = mpirun("-m", "chainrule", "train", "--distributed", "--batch-size", "1",
                    "--out", str(out_dir), via_mpi4py=False)
    assert (result.returncode, result.stdout) == (2, ""), result
    assert result.stderr == (
        "chainrule: error: --batch-size 1 is smaller than the 2 ranks: with --distributed it "
        "is the global batch, split over the ranks, and every rank needs at least one example "
        "per step; use --batch-size 2 or more\n")
    assert not out_dir.exists()
    # an error found on every rank while loading the data: the same, once
    missing = tmp_path / "missing.csv"
    result = mpirun("-m", "chainrule", "train", "--distributed", "--data", f"csv:{missing}",
                    "--out", str(out_dir), via_mpi4py=False)
    assert (result.returncode, result.stdout) == (2, ""), result
    assert result.stderr == f"chainrule: error: load_csv: file not found: {missing}\n"
    assert not out_dir.exists()


@needs_mpi
@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--optimizer", "lbfgs"], "--optimizer 'lbfgs' is not one of sgd, adam, adamw, rmsprop, "
                               "adagrad"),
    (["--config", "{toml}"], '--config {toml}: epochs must be a positive integer, got "ten"'),
    (["--epochs", "abc"], "argument --epochs: invalid int value: 'abc' (see chainrule train "
                          "--help)"),
])
def test_cli_option_errors_are_printed_once_with_status_2(args, message, tmp_path):
    # each rank used to print the error; --distributed may also come from the file
    toml = tmp_path / "run.toml"
    toml.write_text('distributed = true\nepochs = "ten"\n')
    args = [a.format(toml=toml) for a in args]
    distributed = [] if "--config" in args else ["--distributed"]
    out_dir = tmp_path / "run"
    result = mpirun("-m", "chainrule", "train", *distributed, *args, "--out", str(out_dir),
                    via_mpi4py=False)
    assert (result.returncode, result.stdout) == (2, ""), result
    assert result.stderr == f"chainrule: error: {message.format(toml=toml)}\n"
    assert not out_dir.exists()


@needs_mpi
def test_cli_weights_that_differ_after_training_are_one_line_with_status_1(tmp_path):
    # The end-of-run check that all ranks hold the same weights raises DistributedError on
    # every rank; the command used to end in a traceback on each. Rank 1's weights are
    # moved just before the check.
    path = tmp_path / "drift.py"
    path.write_text(textwrap.dedent("""\
        import sys
        from chainrule.cli import main
        from chainrule.distributed.training import DataParallel

        check = DataParallel.finish

        def finish(self):
            if self.context.rank == 1:
                next(iter(self.model.parameters())).data[0, 0] += 1.0
            check(self)

        DataParallel.finish = finish
        sys.exit(main(["train", "--distributed", "--epochs", "1", "--hidden", "16",
                       "--batch-size", "64", "--quiet", "--out", sys.argv[1]]))
        """))
    result = mpirun(str(path), str(tmp_path / "run"), via_mpi4py=False)
    assert result.returncode == 1, result
    assert result.stderr == ("chainrule: error: after training, the weights of rank(s) 1 "
                             "differ from rank 0's; the ranks did not take identical steps\n")
    assert "test accuracy" not in result.stdout


@needs_mpi
def test_cli_distributed_on_one_rank_is_bit_identical_to_plain_train(tmp_path):
    # the same --seed shuffles alike (the DistributedSampler's orders are the DataLoader's)
    common = ["-m", "chainrule", "train", "--epochs", "2", "--hidden", "32", "--seed", "3",
              "--quiet"]
    plain = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "plain")],
                           capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    assert plain.returncode == 0, plain.stderr
    one = mpirun(*common, "--distributed", "--threads", "1", "--out", str(tmp_path / "one"),
                 ranks=1, via_mpi4py=False)
    assert one.returncode == 0, one.stderr
    assert "distributed: 1 rank(s)" in one.stdout
    a = cr.load(tmp_path / "plain" / "model.safetensors")
    b = cr.load(tmp_path / "one" / "model.safetensors")
    assert dist.parameters_digest(a) == dist.parameters_digest(b)
    assert b.metadata["config"]["distributed"] is True
