"""Argument checks the layers' constructors share, each with a message naming the layer,
the argument, what it got and what it expects."""

from __future__ import annotations

from typing import Any

import numpy as np


def positive_int(owner: str, name: str, value: Any, alternative: str = "") -> int:
    """``value`` as an int, refusing anything but a positive int (bool, float, str...)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int{alternative}, got "
                         f"{value!r} ({type(value).__name__})")
    return int(value)
