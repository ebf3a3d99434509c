"""Keep freed array memory in the process, so training does not page-fault on every step.

Why: a training step allocates the same large temporaries every time (activations, gate
buffers, gradients of a few MB each). glibc's malloc serves blocks above its mmap
threshold with fresh ``mmap`` calls and returns freed memory at the top of the heap to
the kernel once it exceeds the trim threshold. Either way the next step touches brand-new
pages, and the kernel must fault in and zero every 4 KiB page again. Measured on the
project's 2-core machine (benchmarks/rnn.py): an LSTM training step (batch 32,
sequence 50, hidden 128) took 18.6 ms with glibc's defaults and 10.7 ms with the
settings below; the tanh RNN 4.5 ms and 2.5 ms. The MLP benchmark, whose arrays are
smaller, did not change.

What: :func:`tune_allocator` calls glibc's ``mallopt`` once to raise

- ``M_MMAP_THRESHOLD`` to 32 MiB (blocks up to that size come from the heap and are reused;
  a whole dataset still gets its own mapping and goes back to the kernel when freed),
- ``M_TRIM_THRESHOLD`` to 512 MiB (free memory kept for reuse before giving it back),
- ``M_TOP_PAD`` to 16 MiB (grow the heap in larger steps).

This is process-wide, like any allocator setting, so it is opt-in: ``import chainrule``
changes nothing, a program that trains calls ``chainrule.tune_allocator()`` (with other
sizes if it likes), and the ``chainrule`` command calls
:func:`tune_allocator_unless_disabled` at startup, which the environment variable
``CHAINRULE_MALLOC_TUNING=0`` turns off. It changes neither results nor peak memory, only
how much freed memory the process keeps (at most the trim threshold). On systems without
glibc (macOS, Windows, musl) nothing is changed.
"""

from __future__ import annotations

import os

MIB = 1 << 20
# mallopt's parameter numbers, from glibc's <malloc.h>
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3

DEFAULTS = {"mmap_threshold": 32 * MIB, "trim_threshold": 512 * MIB, "top_pad": 16 * MIB}
_applied: dict[str, int] = {}


def tune_allocator(mmap_threshold: int = DEFAULTS["mmap_threshold"],
                   trim_threshold: int = DEFAULTS["trim_threshold"],
                   top_pad: int = DEFAULTS["top_pad"]) -> bool:
    """Set glibc malloc's thresholds (bytes); returns False where glibc is absent."""
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold),
                        ("top_pad", top_pad)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"tune_allocator: {name} must be a non-negative int of bytes, "
                             f"got {value!r}")
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, mmap_threshold), (_M_TRIM_THRESHOLD, trim_threshold),
        (_M_TOP_PAD, top_pad)))
    if ok:
        _applied.update(mmap_threshold=mmap_threshold, trim_threshold=trim_threshold,
                        top_pad=top_pad)
    return ok


def allocator_settings() -> dict[str, int]:
    """The thresholds chainrule has set in this process ({} if none)."""
    return dict(_applied)


def tune_allocator_unless_disabled() -> bool:
    """``tune_allocator()`` with the default sizes, unless ``CHAINRULE_MALLOC_TUNING`` is
    0/false/no/off: what the ``chainrule`` command runs at startup. Returns whether the
    settings were applied."""
    if os.environ.get("CHAINRULE_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no",
                                                                           "off"):
        return False
    return tune_allocator()
