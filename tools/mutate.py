"""Mutation testing for chainrule: plant one realistic one-line bug at a time, run the tests
that watch that module, and report every bug that no test notices.

    python tools/mutate.py                 # the full run: the seeded sample (docs/testing.md)
    python tools/mutate.py --quick         # a few-minute subset of that sample
    python tools/mutate.py --module chainrule/optim/sgd.py --rate 1   # every mutant of one file
    python tools/mutate.py --list          # print the mutants, run nothing

Each mutant changes one token of one module (an operator swapped, a constant changed, a unary
minus or ``not`` removed, a returned value replaced by None). It is written into a private copy
of the package in a temporary directory placed first on PYTHONPATH, so the working tree is never
edited, and the module's own test files run against it (``pytest -x -q -p no:cacheprovider``,
with a timeout). A mutant is *killed* when they fail, *timeout* when they hang, *equivalent*
when tools/mutation_equivalents.txt says why no test can tell it from the original, and
*survived* otherwise: the exit status is 1 while any mutant survives.

The sample is chosen by a hash of each mutant's text and the seed (not by its line number), so
an edit elsewhere in a module does not reshuffle which mutants are run.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import compileall
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.txt"

# the test files that watch each module: a mutant of the module must make one of them fail
_CORE = ("tests/test_core.py", "tests/test_ops_more.py", "tests/test_derivatives.py",
         "tests/test_invariants.py", "tests/test_numerics.py", "tests/test_numpy_dispatch.py",
         "tests/test_mutation_kills_autograd.py")
_OPS = (*_CORE, "tests/test_mutation_kills_ops.py", "tests/test_parity_kinks.py",
        "tests/test_parity_double_backward.py")
_CONV = ("tests/test_conv.py", "tests/test_derivatives.py")
_ATTENTION = ("tests/test_attention.py", "tests/test_derivatives.py")
_OPTIM = ("tests/test_optimizers.py", "tests/test_train.py", "tests/test_invariants.py",
          "tests/test_mutation_kills_train.py", "tests/test_stopping_rules.py",
          "tests/test_clip.py")
TARGETS: dict[str, tuple[str, ...]] = {
    "chainrule/autograd/engine.py": _CORE,
    "chainrule/autograd/function.py": _CORE,
    "chainrule/autograd/tensor.py": (*_CORE, "tests/test_habits.py"),
    "chainrule/ops/elementwise.py": _OPS,
    "chainrule/ops/activations.py": (*_OPS, "tests/test_attention.py"),
    "chainrule/ops/reductions.py": _OPS,
    "chainrule/ops/shape.py": (*_OPS, "tests/test_habits.py"),
    "chainrule/ops/linalg.py": (*_OPS, "tests/test_attention.py"),
    "chainrule/ops/convolution.py": _CONV,
    "chainrule/ops/attention.py": _ATTENTION,
    "chainrule/ops/normalization.py": (*_ATTENTION, "tests/test_conv.py"),
    "chainrule/functional/losses.py": (*_CORE, "tests/test_layers.py", "tests/test_train.py",
                                       "tests/test_parity_losses.py",
                                       "tests/test_parity_double_backward.py"),
    "chainrule/optim/optimizer.py": _OPTIM,
    "chainrule/optim/sgd.py": _OPTIM,
    "chainrule/optim/adaptive.py": _OPTIM,
    "chainrule/optim/clip.py": _OPTIM,
    "chainrule/optim/lr_scheduler.py": _OPTIM,
    "chainrule/train/callbacks.py": ("tests/test_train.py", "tests/test_optimizers.py",
                                     "tests/test_mutation_kills_train.py",
                                     "tests/test_stopping_rules.py"),
    "chainrule/safetensors.py": ("tests/test_hostile.py", "tests/test_layers.py",
                                 "tests/test_habits.py"),
    "chainrule/gradcheck.py": ("tests/test_core.py", "tests/test_derivatives.py",
                               "tests/test_mutation_kills_autograd.py"),
    "chainrule/explainer/check.py": ("tests/test_check.py",),
    "chainrule/explainer/check_truth.py": ("tests/test_check.py",),
    "chainrule/explainer/check_diagnosis.py": ("tests/test_check.py",),
}
# --quick: modules whose tests take seconds, not a minute
QUICK_MODULES = ("chainrule/optim/sgd.py", "chainrule/optim/adaptive.py",
                 "chainrule/optim/clip.py", "chainrule/train/callbacks.py",
                 "chainrule/gradcheck.py", "chainrule/explainer/check_truth.py")
QUICK_LIMIT = 24
SEED = "chainrule-1"
RATE = 0.07  # the full run's share of every mutant generated (docs/testing.md: the counts)

# functions whose mistakes show only in text, not in a number or a decision
_SKIP_FUNCTIONS = {"__repr__", "__str__", "extra_repr", "_repr_html_", "_repr_markdown_"}
_BINOPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"),
           ast.Div: ("/", "*"), ast.FloorDiv: ("//", "/"), ast.Pow: ("**", "*")}
_CMPOPS = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="),
           ast.GtE: (">=", ">"), ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="),
           ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is"),
           ast.In: ("in", "not in"), ast.NotIn: ("not in", "in")}
_UNARY = {ast.USub: "-", ast.Not: "not", ast.Invert: "~"}


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``old`` replaced by ``new`` at (line, col) of ``module``."""

    module: str   # path under src/, e.g. chainrule/ops/elementwise.py
    line: int     # 1-based
    col: int      # character offset in the line
    end: int      # end character offset of the replaced text in the same line
    old: str
    new: str
    occurrence: int  # among the module's mutants with the same mutated line text

    @property
    def mutation(self) -> str:
        return f"{self.old!r} -> {self.new!r}"

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        text = lines[self.line - 1]
        assert text[self.col:self.end] == self.old, (self, text)
        lines[self.line - 1] = text[:self.col] + self.new + text[self.end:]
        return "".join(lines)

    def mutated_line(self, source: str) -> str:
        text = source.splitlines()[self.line - 1]
        return (text[:self.col] + self.new + text[self.end:]).strip()

    def key(self, source: str) -> str:
        """What identifies the mutant across edits elsewhere in the module (no line number)."""
        return f"{self.module}|{self.mutation}|{self.mutated_line(source)}|{self.occurrence}"


# -- generating mutants --------------------------------------------------------------------------

class _Generator(ast.NodeVisitor):
    """Collects (line, col, end, old, new) edits from one module's syntax tree."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines(keepends=True)
        self.tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                       if t.type in (tokenize.OP, tokenize.NAME, tokenize.NUMBER)]
        self.starts = [t.start for t in self.tokens]
        self.edits: list[tuple[int, int, int, str, str]] = []

    def _col(self, line: int, byte_col: int) -> int:
        """ast gives UTF-8 byte offsets; the edits use character offsets."""
        return len(self.lines[line - 1].encode()[:byte_col].decode())

    def _start(self, node: ast.AST) -> tuple[int, int]:
        return node.lineno, self._col(node.lineno, node.col_offset)

    def _stop(self, node: ast.AST) -> tuple[int, int]:
        return node.end_lineno, self._col(node.end_lineno, node.end_col_offset)

    def _between(self, left: ast.AST, right: ast.AST, old: str, new: str) -> None:
        """Swap the operator written between two operands (``is not`` is two tokens)."""
        lo, hi = self._stop(left), self._start(right)
        toks = [t for t in self.tokens[bisect.bisect_left(self.starts, lo):
                                       bisect.bisect_left(self.starts, hi)]
                if t.string not in ("(", ")")]
        if " ".join(t.string for t in toks) != old or toks[0].start[0] != toks[-1].end[0]:
            return  # a comment or a line break inside the operator: not a one-line edit
        self.edits.append((toks[0].start[0], toks[0].start[1], toks[-1].end[1], old, new))

    def _replace(self, node: ast.AST, new: str) -> None:
        (l1, c1), (l2, c2) = self._start(node), self._stop(node)
        if l1 == l2:
            self.edits.append((l1, c1, c2, self.lines[l1 - 1][c1:c2], new))

    # nodes that are never mutated: messages, annotations, checks the tests do not own
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in _SKIP_FUNCTIONS:
            return
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(default)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Raise(self, node: ast.Raise) -> None:
        pass

    def visit_Assert(self, node: ast.Assert) -> None:
        pass

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        pass

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "warn":
            return  # warnings.warn(..., stacklevel=2): where a warning points, not a result
        self.visit(f)
        for arg in node.args:
            self.visit(arg)
        for kw in node.keywords:
            if kw.arg != "strict":  # zip(..., strict=True) is an assertion, not a result
                self.visit(kw.value)

    # the mutations
    def visit_BinOp(self, node: ast.BinOp) -> None:
        swap = _BINOPS.get(type(node.op))
        if swap:
            self._between(node.left, node.right, *swap)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        swap = _BINOPS.get(type(node.op))
        if swap:
            self._between(node.target, node.value, swap[0] + "=", swap[1] + "=")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            self._between(left, right, *_CMPOPS[type(op)])
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        for left, right in zip(node.values, node.values[1:], strict=False):
            self._between(left, right, old, new)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        word = _UNARY.get(type(node.op))
        line, col = self._start(node)
        i = bisect.bisect_left(self.starts, (line, col))
        tok = self.tokens[i] if i < len(self.tokens) else None
        if word and tok is not None and tok.start == (line, col) and tok.string == word:
            cut = len(word) + (1 if word == "not" else 0)  # "not x" -> "x"
            text = self.lines[line - 1][col:col + cut]
            self.edits.append((line, col, col + cut, text, ""))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if isinstance(v, bool):
            self._replace(node, str(not v))
        elif isinstance(v, int):
            self._replace(node, str(0 if v == 1 else v + 1))
        elif isinstance(v, float):
            self._replace(node, repr(0.0 if v == 1.0 else v + 1.0))

    def visit_Return(self, node: ast.Return) -> None:
        v = node.value
        if v is not None and not (isinstance(v, ast.Constant) and v.value is None):
            self._replace(v, "None")
        self.generic_visit(node)


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def generate(module: str, source: str) -> list[Mutant]:
    """Every mutant of ``module`` (a path under src/), in source order."""
    gen = _Generator(source)
    for stmt in ast.parse(source).body:
        if not _is_docstring(stmt):
            gen.visit(stmt)
    mutants, seen = [], {}
    for line, col, end, old, new in sorted(set(gen.edits)):
        m = Mutant(module, line, col, end, old, new, 0)
        text = (m.module, m.mutation, m.mutated_line(source))
        seen[text] = seen.get(text, -1) + 1
        mutants.append(Mutant(module, line, col, end, old, new, seen[text]))
    return mutants


def sampled(mutants: Sequence[Mutant], source: str, rate: float, seed: str) -> list[Mutant]:
    """The mutants whose seeded hash falls below ``rate``: a stable, deterministic share."""
    def score(m: Mutant) -> float:
        digest = hashlib.sha256(f"{seed}|{m.key(source)}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64
    return [m for m in mutants if score(m) < rate]


# -- the equivalents file ------------------------------------------------------------------------

@dataclass(frozen=True)
class Equivalent:
    module: str
    line: int
    mutation: str
    mutated: str
    reason: str


_QUOTED = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
# the mutated line is code and may hold " | " itself (x: int | None): the mutation is two
# quoted strings and the reason (which must not hold " | ") is what follows the last one
_ENTRY = re.compile(rf"(\S+):(\d+) \| ({_QUOTED} -> {_QUOTED}) \| (.*) \| ([^|]+)")


def read_equivalents(path: Path = EQUIVALENTS) -> list[Equivalent]:
    """``module:line | mutation | mutated line | reason`` per line; ``#`` starts a comment."""
    found = []
    if not path.exists():
        return found
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _ENTRY.fullmatch(raw.strip())
        if match is None:
            raise SystemExit(f"{path}:{n}: expected 'module:line | mutation | mutated line | "
                             f"reason', got {raw!r}")
        module, line, mutation, _, _, mutated, reason = match.groups()
        found.append(Equivalent(module, int(line), mutation, mutated.strip(), reason.strip()))
    return found


def justification(m: Mutant, source: str, equivalents: Sequence[Equivalent]) -> str | None:
    """The reason recorded for ``m``, matched by its text (the line number breaks ties)."""
    mutated = m.mutated_line(source)
    hits = [e for e in equivalents if e.module == m.module and e.mutation == m.mutation
            and e.mutated == mutated]
    if len(hits) > 1:
        hits = [e for e in hits if e.line == m.line]
    return hits[0].reason if len(hits) == 1 else None


def equivalent_line(m: Mutant, source: str, reason: str = "REASON") -> str:
    return f"{m.module}:{m.line} | {m.mutation} | {m.mutated_line(source)} | {reason}"


# -- running -------------------------------------------------------------------------------------

class Sandbox:
    """A private copy of ``package`` (a directory under ``src``); one mutant at a time is
    written into it, and the tests run from ``root`` with the copy first on PYTHONPATH."""

    def __init__(self, src: Path, package: str = "chainrule", root: Path = ROOT) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chainrule-mutants-"))
        self.src, self.root = src, root
        shutil.copytree(src / package, self.dir / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
        # hash-checked bytecode: a mutant written in the same second as the original, with
        # the same size, must still be recompiled (timestamp-checked .pyc would be reused)
        compileall.compile_dir(self.dir, quiet=1,
                               invalidation_mode=compileall.py_compile.PycInvalidationMode
                               .CHECKED_HASH)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                if p and Path(p).resolve() != self.src.resolve()]
        env["PYTHONPATH"] = os.pathsep.join([str(self.dir), *rest])
        return env

    def run(self, tests: Sequence[str], timeout: float, source: str | None = None,
            module: str | None = None) -> tuple[str, float, str]:
        """Run ``tests`` with ``module`` replaced by ``source``: (status, seconds, last line)."""
        path = self.dir / module if module else None
        original = path.read_text() if path else None
        if path:
            path.write_text(source)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                 *tests], cwd=self.root, env=self.env(), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, start_new_session=True)
            try:
                out, _ = proc.communicate(timeout=timeout)
                status = "survived" if proc.returncode == 0 else "killed"
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                out, _ = proc.communicate()
                status = "timeout"
        finally:
            if path:
                path.write_text(original)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        return status, time.monotonic() - start, (lines[-1] if lines else "")

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _load_done(path: Path | None) -> dict[str, dict]:
    if path is None or not path.exists():
        return {}
    return {r["key"]: r for r in map(json.loads, path.read_text().splitlines()) if r}


def run_all(plan: dict[str, list[Mutant]], sources: dict[str, str],
            tests_of: dict[str, tuple[str, ...]], args: argparse.Namespace) -> list[dict]:
    """Run every planned mutant (resuming from ``args.out``), appending one JSON line each."""
    done = _load_done(args.out)  # the last record of a mutant counts
    if args.rerun_survivors:  # after new tests: only the survivors can change
        done = {k: r for k, r in done.items() if r["status"] != "survived"}
    results = []
    for module, mutants in plan.items():
        todo = [m for m in mutants if m.key(sources[module]) not in done]
        results += [done[m.key(sources[module])] for m in mutants if m not in todo]
        if not todo:
            continue
        box = Sandbox(args.src, module.split("/")[0], args.root)
        try:
            results += _run_module(box, module, todo, sources[module], tests_of[module], args)
        finally:
            box.close()
    return results


def _run_module(box: Sandbox, module: str, todo: Sequence[Mutant], source: str,
                tests: tuple[str, ...], args: argparse.Namespace) -> list[dict]:
    status, base, last = box.run(tests, timeout=1800)
    if status != "survived":
        raise SystemExit(f"{module}: its tests fail without any mutant: {last}")
    timeout = max(args.min_timeout, args.timeout_factor * base)
    print(f"{module}: {len(todo)} mutants, its tests take {base:.0f} s", flush=True)
    results = []
    for m in todo:
        status, secs, last = box.run(tests, timeout, m.apply(source), module)
        record = {"key": m.key(source), "status": status, "seconds": round(secs, 1),
                  "last": last, **asdict(m)}
        results.append(record)
        print(f"  {status:8} {secs:5.0f} s  {module}:{m.line}  {m.mutation}", flush=True)
        if args.out is not None:
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
    return results


# -- the command ---------------------------------------------------------------------------------

_COLUMNS = ("mutants", "killed", "timeout", "equivalent", "survived")


def plan_mutants(src: Path, modules: Sequence[str], rate: float, seed: str, limit: int | None
                 ) -> tuple[dict[str, list[Mutant]], dict[str, list[Mutant]], dict[str, str]]:
    """Every mutant per module, the ones to run per module, and the modules' sources."""
    sources = {m: (src / m).read_text() for m in modules}
    every = {m: generate(m, sources[m]) for m in modules}
    plan = {m: sampled(every[m], sources[m], rate, seed) for m in modules}
    if limit is not None:  # --quick: the first mutants of the sample, in a stable order
        flat = sorted((m for ms in plan.values() for m in ms),
                      key=lambda m: hashlib.sha256(m.key(sources[m.module]).encode()).digest())
        keep = set(flat[:limit])
        plan = {k: [m for m in v if m in keep] for k, v in plan.items()}
    return every, plan, sources


def report(results: Sequence[dict], sources: dict[str, str],
           equivalents: Sequence[Equivalent], equivalents_path: Path) -> int:
    """Print the counts per module and every unjustified survivor; the number of those."""
    rows: dict[str, dict[str, int]] = {}
    open_ = []
    for r in results:
        m = Mutant(*(r[f] for f in ("module", "line", "col", "end", "old", "new",
                                    "occurrence")))
        status = r["status"]
        if status == "survived" and justification(m, sources[m.module], equivalents):
            status = "equivalent"
        elif status == "survived":
            open_.append(m)
        row = rows.setdefault(m.module, dict.fromkeys(_COLUMNS, 0))
        row["mutants"] += 1
        row[status] += 1
    total = dict.fromkeys(_COLUMNS, 0)
    print(f"\n{'module':42}" + "".join(f"{k:>11}" for k in total))
    for module, row in sorted(rows.items()):
        print(f"{module:42}" + "".join(f"{v:>11}" for v in row.values()))
        for k, v in row.items():
            total[k] += v
    print(f"{'total':42}" + "".join(f"{v:>11}" for v in total.values()))
    if open_:
        print(f"\nsurvived: add the test that kills each, or record it in {equivalents_path} "
              f"with the reason no test can tell it from the original:")
        for m in open_:
            print("  " + equivalent_line(m, sources[m.module]))
    return len(open_)


def stale_equivalents(equivalents: Sequence[Equivalent], every: dict[str, list[Mutant]],
                      sources: dict[str, str]) -> list[Equivalent]:
    """Recorded equivalents of these modules that match no mutant any more (the code changed)."""
    live = {(m.module, m.mutation, m.mutated_line(sources[m.module]))
            for ms in every.values() for m in ms}
    return [e for e in equivalents if e.module in every
            and (e.module, e.mutation, e.mutated) not in live]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help=f"only {QUICK_LIMIT} mutants of the sample, from fast-testing modules")
    p.add_argument("--module", action="append", help="a module under --src (repeatable)")
    p.add_argument("--tests", nargs="+", help="the test files for a --module outside TARGETS")
    p.add_argument("--rate", type=float, default=RATE, help=f"share of mutants run ({RATE})")
    p.add_argument("--seed", default=SEED)
    p.add_argument("--src", type=Path, default=ROOT / "src")
    p.add_argument("--root", type=Path, default=ROOT, help="where pytest runs")
    p.add_argument("--equivalents", type=Path, default=EQUIVALENTS)
    p.add_argument("--out", type=Path, help="append results here (JSON lines); resumes a run")
    p.add_argument("--rerun-survivors", action="store_true",
                   help="with --out: run again the mutants it records as survived")
    p.add_argument("--timeout-factor", type=float, default=4.0,
                   help="a mutant times out after this many times the unmutated test time")
    p.add_argument("--min-timeout", type=float, default=60.0, help="seconds")
    p.add_argument("--list", action="store_true", help="print the planned mutants and stop")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    modules = args.module or list(QUICK_MODULES if args.quick else TARGETS)
    tests_of = {m: tuple(args.tests) if args.tests else TARGETS.get(m) for m in modules}
    for module, tests in tests_of.items():
        if not tests:
            raise SystemExit(f"{module} is not in tools/mutate.py TARGETS: pass --tests")
    every, plan, sources = plan_mutants(args.src, modules, args.rate, args.seed,
                                        QUICK_LIMIT if args.quick else None)
    print(f"{sum(map(len, every.values()))} mutants generated over {len(modules)} modules; "
          f"{sum(map(len, plan.values()))} planned (rate {args.rate}, seed {args.seed!r})",
          flush=True)
    if args.list:
        for ms in plan.values():
            for m in ms:
                print(equivalent_line(m, sources[m.module], ""))
        return 0
    equivalents = read_equivalents(args.equivalents)
    for e in stale_equivalents(equivalents, every, sources):
        print(f"note: {args.equivalents.name}: {e.module}:{e.line} {e.mutation} matches no "
              f"mutant any more")
    results = run_all(plan, sources, tests_of, args)
    return 1 if report(results, sources, equivalents, args.equivalents) else 0


if __name__ == "__main__":
    sys.exit(main())
