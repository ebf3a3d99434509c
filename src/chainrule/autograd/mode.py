"""Global switches of the engine: whether ops record the graph, and anomaly detection.

Both are read by every op, so they live as plain attributes of one small object
(an attribute read is the cheapest check Python offers). They are process-wide,
not thread-local: chainrule runs one training loop per process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _Mode:
    __slots__ = ("grad_enabled", "anomaly")

    def __init__(self) -> None:
        self.grad_enabled = True  # ops record the computational graph
        self.anomaly = False  # ops check their results for NaN/Inf


mode = _Mode()


class _SwitchContext:
    """Base of the context managers below: set a flag on enter, restore it on exit.

    Instances also work as decorators, like ``torch.no_grad``.
    """

    flag = ""
    value: bool = False

    def __init__(self) -> None:
        self._saved: list[bool] = []

    def __enter__(self) -> _SwitchContext:
        self._saved.append(getattr(mode, self.flag))
        setattr(mode, self.flag, self.value)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(mode, self.flag, self._saved.pop())

    def __call__(self, fn: F) -> F:
        flag, value = self.flag, self.value

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            saved = getattr(mode, flag)
            setattr(mode, flag, value)
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(mode, flag, saved)

        return wrapper  # type: ignore[return-value]


class no_grad(_SwitchContext):
    """Context manager and decorator: ops inside do not record the graph.

    Use it for evaluation and for parameter updates; results have
    ``requires_grad=False`` and keep no references to their inputs.
    """

    flag = "grad_enabled"
    value = False


class enable_grad(_SwitchContext):
    """Context manager and decorator: turn graph recording back on inside ``no_grad``."""

    flag = "grad_enabled"
    value = True


class set_grad_enabled(_SwitchContext):
    """``set_grad_enabled(mode)``: record the graph or not, as a context manager or decorator."""

    flag = "grad_enabled"

    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.value = bool(enabled)


def is_grad_enabled() -> bool:
    """True when ops record the computational graph."""
    return mode.grad_enabled


class detect_anomaly(_SwitchContext):
    """Context manager: stop at the first op whose forward or backward makes NaN or Inf.

    Inside it every op remembers where in the user's code it was created, checks
    its forward result, and the engine checks every gradient an op's backward
    returns. The error names the op and the file and line that created it.
    It slows every op down, so use it to find a bug, not to train.
    """

    flag = "anomaly"

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.value = bool(enabled)


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()``."""
    return mode.anomaly
