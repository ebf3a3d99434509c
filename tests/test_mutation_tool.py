"""tools/mutate.py on a toy package: a planted bug that a test watches is reported killed, one no
test watches survived (until recorded as equivalent), one that hangs timeout; the working
tree is never edited; the mutants are the one-token edits the docs promise."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

_TOOL = Path(__file__).resolve().parent.parent / "tools" / "mutate.py"
_spec = importlib.util.spec_from_file_location("mutate", _TOOL)
mutate = importlib.util.module_from_spec(_spec)
sys.modules["mutate"] = mutate  # dataclasses look their module up by name
_spec.loader.exec_module(mutate)

TOY = textwrap.dedent('''\
    """A toy module: ``watched`` has a test, ``unwatched`` none, ``count`` loops."""


    def watched(x):
        return x + 1


    def unwatched(x):
        return x * 2


    def count(n):
        i = 0
        while i < n:
            i += 1
        return i
    ''')
TOY_TESTS = textwrap.dedent('''\
    from toy.mod import count, watched


    def test_watched():
        assert watched(1) == 2


    def test_count():
        assert count(0) == 0
        assert count(3) == 3
    ''')


def _project(tmp_path: Path) -> Path:
    (tmp_path / "src" / "toy").mkdir(parents=True)
    (tmp_path / "src" / "toy" / "__init__.py").write_text("")
    (tmp_path / "src" / "toy" / "mod.py").write_text(TOY)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_toy.py").write_text(TOY_TESTS)
    return tmp_path


def _run(root: Path, *extra: str) -> int:
    return mutate.main(["--src", str(root / "src"), "--root", str(root), "--module",
                        "toy/mod.py", "--tests", "tests/test_toy.py", "--rate", "1",
                        "--min-timeout", "2", "--timeout-factor", "1",
                        "--equivalents", str(root / "equivalents.txt"), *extra])


def test_the_mutants_are_one_token_edits():
    found = {(m.line, m.old, m.new) for m in mutate.generate("toy/mod.py", TOY)}
    assert found == {
        (5, "+", "-"), (5, "1", "0"), (5, "x + 1", "None"),      # watched
        (9, "*", "/"), (9, "2", "3"), (9, "x * 2", "None"),      # unwatched
        (13, "0", "1"), (14, "<", "<="), (15, "+=", "-="), (15, "1", "0"),
        (16, "i", "None"),                                       # count
    }
    m = next(m for m in mutate.generate("toy/mod.py", TOY) if m.old == "<")
    assert m.apply(TOY).splitlines()[13] == "    while i <= n:"
    assert m.mutated_line(TOY) == "while i <= n:"


def test_messages_annotations_and_docstrings_are_not_mutated():
    source = textwrap.dedent('''\
        def f(x: int = 1) -> int:
            """Doc 2."""
            if x < 0:
                raise ValueError(f"x={x + 1}")
            assert x >= 0
            return -x
        ''')
    found = {(m.line, m.old, m.new) for m in mutate.generate("m.py", source)}
    assert found == {(1, "1", "0"), (3, "<", "<="), (3, "0", "1"), (6, "-", ""),
                     (6, "-x", "None")}


def test_killed_survived_and_timeout_are_told_apart(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the toy needs no plugins: 1 s each
    root = _project(tmp_path)
    out = tmp_path / "results.jsonl"
    assert _run(root, "--out", str(out)) == 1  # the unwatched function's mutants survive
    report = capsys.readouterr().out
    rows = [ln.split() for ln in report.splitlines() if ln.startswith("toy/mod.py ")]
    assert rows == [["toy/mod.py", "11", "6", "2", "0", "3"]]  # mutants killed timeout eq surv
    survivors = [ln.strip() for ln in report.splitlines() if ln.startswith("  toy/mod.py:")]
    assert sorted(survivors) == ["toy/mod.py:9 | '*' -> '/' | return x / 2 | REASON",
                         "toy/mod.py:9 | '2' -> '3' | return x * 3 | REASON",
                         "toy/mod.py:9 | 'x * 2' -> 'None' | return None | REASON"]
    assert (root / "src" / "toy" / "mod.py").read_text() == TOY  # never edited in place

    # recorded as equivalent (here only to exercise the file), the run passes; the results
    # file resumes the run, so nothing is run again
    (root / "equivalents.txt").write_text("# comment\n" + "\n".join(
        s.replace("REASON", "no test calls unwatched") for s in survivors) + "\n")
    assert _run(root, "--out", str(out)) == 0
    report = capsys.readouterr().out
    assert "its tests take" not in report
    rows = [ln.split() for ln in report.splitlines() if ln.startswith("toy/mod.py ")]
    assert rows == [["toy/mod.py", "11", "6", "2", "3", "0"]]


def test_an_equivalent_whose_code_holds_a_bar_is_read_whole(tmp_path):
    path = tmp_path / "eq.txt"
    path.write_text("m.py:3 | 'and' -> 'or' | if isinstance(v, int | None) or v: | why\n")
    (e,) = mutate.read_equivalents(path)
    assert (e.module, e.line, e.mutation) == ("m.py", 3, "'and' -> 'or'")
    assert (e.mutated, e.reason) == ("if isinstance(v, int | None) or v:", "why")


def test_a_malformed_equivalent_is_refused(tmp_path):
    path = tmp_path / "eq.txt"
    path.write_text("toy/mod.py:9 | '*' -> '/' | return x / 2\n")
    with pytest.raises(SystemExit, match="eq.txt:1: expected 'module:line"):
        mutate.read_equivalents(path)


def test_every_target_module_and_test_file_exists():
    root = _TOOL.parent.parent
    for module, tests in mutate.TARGETS.items():
        assert (root / "src" / module).is_file(), module
        for t in tests:
            assert (root / t).is_file(), (module, t)
    assert set(mutate.QUICK_MODULES) <= set(mutate.TARGETS)


def test_every_recorded_equivalent_still_matches_a_mutant():
    """An entry whose line changed is stale: its mutant must be killed or justified again."""
    src = _TOOL.parent.parent / "src"
    equivalents = mutate.read_equivalents()
    assert equivalents, "tools/mutation_equivalents.txt is empty or missing"
    modules = sorted({e.module for e in equivalents})
    every, _, sources = mutate.plan_mutants(src, modules, 1.0, mutate.SEED, None)
    assert mutate.stale_equivalents(equivalents, every, sources) == []
