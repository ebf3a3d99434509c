"""Test-session plumbing: the BLAS the products use, the ``gradchecks`` mark (see
tests/gradchecked.py), and each test's isolation from the others (``_isolated``)."""

from __future__ import annotations

import functools
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import Any

# The suite runs on numpy's BLAS unless told otherwise (CHAINRULE_BLAS=mkl python -m pytest
# runs it again on MKL): the automatic choice depends on the machine, and a test's result
# must not. tests/test_backend.py compares the two paths wherever MKL is installed.
os.environ.setdefault("CHAINRULE_BLAS", "numpy")

import gradchecked
import numpy as np
import pytest

import chainrule
from chainrule import backend, creation
from chainrule.autograd.mode import mode

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


# -- isolation: every test passes alone and in any order (pytest-randomly shuffles them) ------
#
# Process-wide state a test may change through the library's own API (manual_seed inside
# run_training, set_num_threads, set_blas): put back after the test, silently.
_BLAS_POOLS = None  # numpy's BLAS pools, found once (threadpoolctl takes ms per search)


def _blas_threads() -> tuple[Any, ...]:
    global _BLAS_POOLS
    if _BLAS_POOLS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_POOLS = ThreadpoolController().select(user_api="blas").lib_controllers
    return tuple(pool.num_threads for pool in _BLAS_POOLS)


def _set_blas_threads(counts: tuple[Any, ...]) -> None:
    for pool, n in zip(_BLAS_POOLS or (), counts, strict=True):
        pool.set_num_threads(n)


def _backend() -> tuple[Any, ...]:
    return backend._state.name, backend._state.reason, backend.matmul


def _set_backend(saved: tuple[Any, ...]) -> None:
    backend._state.name, backend._state.reason, backend.matmul = saved


def _distributed() -> tuple[Any, ...]:
    context, collectives = (sys.modules.get(f"chainrule.distributed.{name}")
                            for name in ("context", "collectives"))
    return (context and context._context, collectives and collectives._last_reducer)


def _set_distributed(saved: tuple[Any, ...]) -> None:
    if saved[0] is None and "chainrule.distributed.context" in sys.modules:
        sys.modules["chainrule.distributed.context"]._context = None
    if saved[1] is None and "chainrule.distributed.collectives" in sys.modules:
        sys.modules["chainrule.distributed.collectives"]._last_reducer = None


RESTORED: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
    "chainrule's default generator": (creation.default_generator,
                                      creation.set_default_generator),
    "the BLAS thread count": (_blas_threads, _set_blas_threads),
    "the matrix-product backend (set_blas)": (_backend, _set_backend),
    "the distributed context": (_distributed, _set_distributed),
}


def _torch_state() -> tuple[str, bool]:
    torch = sys.modules.get("torch")
    if torch is None:  # not imported yet: torch's defaults, which the first import gives
        return "torch.float32", True
    return str(torch.get_default_dtype()), torch.is_grad_enabled()


def _set_torch_state(saved: tuple[str, bool]) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_default_dtype(getattr(torch, saved[0].removeprefix("torch.")))
        torch.set_grad_enabled(saved[1])


def _set_mode(saved: tuple[bool, bool]) -> None:
    mode.grad_enabled, mode.anomaly = saved


# not a test's doing: pytest names the running test and its phase in PYTEST_CURRENT_TEST;
# threadpoolctl and scikit-learn set KMP_DUPLICATE_LIB_OK (scikit-learn KMP_INIT_AT_FORK
# too) when first imported, and
# torch.optim sets TORCHINDUCTOR_CACHE_DIR when first used, which any test may be the
# first to do
_NOT_THE_TESTS = {"PYTEST_CURRENT_TEST", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK",
                  "TORCHINDUCTOR_CACHE_DIR"}


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _NOT_THE_TESTS}


def _set_environ(saved: dict[str, str]) -> None:
    for name in set(_environ()) - set(saved):
        del os.environ[name]
    os.environ.update(saved)


def _set_errstate(saved: dict[str, str]) -> None:
    np.seterr(**saved)


def _set_printoptions(saved: dict[str, Any]) -> None:
    np.set_printoptions(**saved)


# State that no test should leave changed (it has a context manager, or monkeypatch): the
# test fails naming it, and it is put back so that the tests after it are not affected.
ASSERTED: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
    "chainrule's grad mode and anomaly detection (use the context managers)":
        (lambda: (mode.grad_enabled, mode.anomaly), _set_mode),
    "os.environ (use monkeypatch.setenv)": (_environ, _set_environ),
    "the working directory (use monkeypatch.chdir)": (os.getcwd, os.chdir),
    "numpy's error state (use np.errstate)": (np.geterr, _set_errstate),
    "numpy's print options (use np.printoptions)": (np.get_printoptions, _set_printoptions),
    "torch's default dtype and grad mode": (_torch_state, _set_torch_state),
}


def _what_changed(name: str, before: Any, after: Any) -> str:
    """``name``, with the keys that differ where the state is a mapping (os.environ)."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        return f"{name}: {', '.join(map(str, keys))}"
    return f"{name}: {before!r} -> {after!r}"


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run each test in the same process-wide state whatever ran before it.

    chainrule's default generator starts from a seed of the test's own id, so a test
    that draws without seeding gets the same numbers alone and in any order; the
    states in RESTORED are put back after the test, and those in ASSERTED must be
    left as they were.
    """
    restored = {name: get() for name, (get, _) in RESTORED.items()}
    asserted = {name: get() for name, (get, _) in ASSERTED.items()}
    seed = zlib.crc32(request.node.nodeid.encode())
    creation.set_default_generator(np.random.default_rng(seed))
    yield
    changed = [_what_changed(name, asserted[name], get()) for name, (get, _) in ASSERTED.items()
               if get() != asserted[name]]
    for name, (_, put) in ASSERTED.items():
        put(asserted[name])
    for name, (_, put) in RESTORED.items():
        put(restored[name])
    assert not changed, f"the test left changed: {'; '.join(changed)}"
