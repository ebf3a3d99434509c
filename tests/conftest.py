"""Test-session plumbing: the BLAS the products use, and the ``gradchecks`` mark (see
tests/gradchecked.py)."""

from __future__ import annotations

import functools
import os
import sys

# The suite runs on numpy's BLAS unless told otherwise (CHAINRULE_BLAS=mkl python -m pytest
# runs it again on MKL): the automatic choice depends on the machine, and a test's result
# must not. tests/test_backend.py compares the two paths wherever MKL is installed.
os.environ.setdefault("CHAINRULE_BLAS", "numpy")

import gradchecked
import pytest

import chainrule

_module = sys.modules["chainrule.gradcheck"]  # the module (chainrule.gradcheck is the function)


def _recording(check):  # noqa: ANN001, ANN202
    """``check`` with its function wrapped so the graphs it differentiates are recorded."""

    @functools.wraps(check)
    def wrapper(fn, inputs, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        return check(lambda *xs: gradchecked.record(fn(*xs)), inputs, *args, **kwargs)

    return wrapper


# gradgradcheck calls the module's gradcheck on its first derivative, so both are wrapped
# where they are looked up: in the module and in the chainrule namespace
for _name in ("gradcheck", "gradgradcheck"):
    _wrapped = _recording(getattr(_module, _name))
    setattr(_module, _name, _wrapped)
    setattr(chainrule, _name, _wrapped)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gradchecks(*ops): the test gradchecks these Function "
                                       "classes (tests/gradchecked.py)")


@pytest.fixture(autouse=True)
def _gradchecked_ops(request: pytest.FixtureRequest):  # noqa: ANN202
    declared = {op for mark in request.node.iter_markers("gradchecks") for op in mark.args}
    if not declared:
        yield
        return
    gradchecked.SEEN = set()
    try:
        yield
        missing = declared - gradchecked.SEEN
    finally:
        gradchecked.SEEN = None
    assert not missing, (f"the test declares it gradchecks {sorted(c.__name__ for c in missing)}"
                         f" but no graph that gradcheck differentiated had such a node")
