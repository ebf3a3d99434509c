"""The parameter checks the estimators share: scikit-learn's rules, with one error type."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter that breaks its rule, reported at ``fit``. Both a
    ValueError and a TypeError, like scikit-learn's own ``InvalidParameterError``,
    so code that catches either for scikit-learn's MLP catches it here too."""


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def require(ok: bool, name: str, expected: str, value: Any) -> None:
    if not ok:
        raise InvalidParameterError(f"the parameter {name} must be {expected}; got {value!r}")
