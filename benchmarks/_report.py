"""Shared by the benchmark scripts: the machine description and docs/benchmarks.md sections.

Each benchmark owns one section of docs/benchmarks.md, fenced by
``<!-- NAME:start -->`` and ``<!-- NAME:end -->``, so running one script rewrites its own
table and leaves the others' alone. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


def tune_allocator_unless_peer() -> None:
    """In a benchmark child, tune glibc malloc as the ``chainrule`` command does; a peer's
    child (CHAINRULE_MALLOC_TUNING=0) neither tunes nor imports chainrule."""
    if os.environ.get("CHAINRULE_MALLOC_TUNING", "1") != "0":
        from chainrule.memory import tune_allocator_unless_disabled

        tune_allocator_unless_disabled()


def child_env(framework: str, threads: int) -> dict[str, str]:
    """The environment of a benchmark child: ``threads`` BLAS/OpenMP threads (the libraries
    read them as they load); a peer's child (framework other than chainrule) keeps glibc's
    allocator as it is."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if framework != "chainrule":
        env["CHAINRULE_MALLOC_TUNING"] = "0"
    return env


def run_child(script: str, spec: dict, framework: str, threads: int, what: str) -> dict:
    """Run ``script --child <spec as JSON>`` in a fresh interpreter (``child_env``).
    Returns the JSON of the child's last line on stdout, plus ``process_seconds``; a failed
    child ends the benchmark with ``what`` named."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, script, "--child", json.dumps(spec)],
                          env=child_env(framework, threads), stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{Path(script).stem}: the {what} failed (exit {proc.returncode}); "
                         f"its error is above")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def cpu_model() -> str:
    """The CPU's model name, as chainrule.backend keys its calibration by it."""
    from chainrule.backend import _cpu_model

    return _cpu_model()


def cpu_kind() -> tuple[str, str]:
    """(slug, name) of the CPU kind: ("amd", "AMD EPYC"), ("intel", "Intel Xeon"), or the
    model itself. The project's machines come in both kinds and the matrix products differ
    between them (docs/performance.md), so the benchmarks keep one table per kind."""
    model = cpu_model()
    for slug, vendor, family in (("amd", "AMD", "EPYC"), ("intel", "Intel", "Xeon")):
        if vendor.lower() in model.lower():
            return slug, f"{vendor} {family}" if family.lower() in model.lower() else vendor
    return "".join(c if c.isalnum() else "-" for c in model.lower()).strip("-"), model


def machine() -> str:
    """One line naming the CPU, core count, Python and numpy versions, and today's date."""
    import numpy as np

    cpu = cpu_model()
    return (f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}")


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the section ``name`` of ``path`` with ``body``, atomically."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_figure(fig: object, path: Path) -> None:
    """Lay out ``fig``, write it to ``path`` as a 100-dpi PNG atomically (temp file +
    rename, so an interrupted run never leaves a half-written image in docs/) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
