"""Which ops the tests gradcheck: how a test declares it, and how the declaration is held
to the truth.

A test that gradchecks an op says so with a mark, on the test function or on one case of
a parametrized table::

    from gradchecked import gradchecks, params

    @gradchecks(ConvOp)
    def test_conv_gradients(): ...
        assert cr.gradcheck(conv, [x, w]) and cr.gradgradcheck(conv, [x, w])

    @pytest.mark.parametrize("name", params(TABLE, {"add": Add, "pow": (Pow, PowScalar)}))
    def test_table(name): ...

While a marked test runs, tests/conftest.py records the class of every node in the graphs
that ``chainrule.gradcheck`` and ``gradgradcheck`` differentiate (the function's outputs,
and for gradgradcheck its first derivative), and fails the test if a declared op never
appeared: a declaration cannot claim an op the test does not check.
tests/test_derivatives.py then fails on any concrete ``Function`` that no test declares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from chainrule.autograd.tensor import Tensor

DECLARED: set[type] = set()  # every op some imported test module declares
SEEN: set[type] | None = None  # the ops gradcheck differentiated in the running marked test


def gradchecks(*ops: type) -> pytest.MarkDecorator:
    """Mark a test (or a ``pytest.param``) as gradchecking the given Function classes."""
    if not ops:
        raise TypeError("gradchecks: name at least one Function class")
    DECLARED.update(ops)
    return pytest.mark.gradchecks.with_args(*ops)  # a bare mark(cls) would decorate cls


def params(table: Iterable[str], ops: Mapping[str, type | tuple[type, ...]]) -> list[Any]:
    """The keys of ``table`` as pytest params, each marked with the ops it gradchecks."""
    names = list(table)
    if set(names) != set(ops):
        raise KeyError(f"params: the cases {sorted(set(names) ^ set(ops))} are in only one of "
                       f"the table and the ops")
    return [pytest.param(n, marks=[gradchecks(*(ops[n] if isinstance(ops[n], tuple)
                                                else (ops[n],)))]) for n in names]


def record(value: Any) -> Any:
    """Note the class of every node in the graph behind ``value`` (a Tensor or a tuple of
    them) while a marked test runs; return ``value`` unchanged."""
    if SEEN is None:
        return value
    outs = (value,) if isinstance(value, Tensor) else value
    if not isinstance(outs, tuple | list):
        return value
    todo = [o.grad_fn for o in outs if isinstance(o, Tensor) and o.grad_fn is not None]
    done: set[int] = set()
    while todo:
        fn = todo.pop()
        if id(fn) in done:
            continue
        done.add(id(fn))
        SEEN.add(type(fn))
        todo += [x.grad_fn for x in fn.inputs or () if x.grad_fn is not None]
    return value
