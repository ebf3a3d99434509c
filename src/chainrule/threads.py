"""How many threads numpy's BLAS uses for chainrule's matrix products.

chainrule's heavy work is numpy's matrix products, which run on the BLAS numpy was built
with (OpenBLAS in the wheels from PyPI). Elementwise numpy work is single-threaded, so
the BLAS thread count is the one knob, and it is process-wide. The names follow
PyTorch's ``torch.set_num_threads`` / ``torch.get_num_threads``.

Why a knob at all: a BLAS thread pool pays off only when every thread gets a core of its
own. On a quiet 2-core machine two threads run a 128x784x256 product about twice as fast
as one; with one core busy elsewhere, the two threads wait on each other and the same
training run takes two to three times longer than with one thread
(benchmarks/threads.py; the table is in docs/benchmarks.md, section "BLAS threads").
Ranks of a distributed run should each use one thread (``chainrule train --distributed``
does so unless ``--threads`` says otherwise), since the ranks already occupy the cores.

The pools are found and resized with threadpoolctl, which knows OpenBLAS, MKL and BLIS
and the OpenMP runtimes; it is imported only when these functions are called.
"""

from __future__ import annotations

_BLAS = "blas"
_requested: int | None = None


def _blas_pools() -> list:
    import numpy  # noqa: F401  (the BLAS is loaded with numpy; make sure it is in the process)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api=_BLAS).lib_controllers


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in numpy's BLAS (process-wide) for the matrix products.

    Raises ValueError unless ``n`` is a positive int. Does nothing where no BLAS library
    can be found (chainrule then runs as before).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: the number of threads must be a positive int, "
                         f"got {n!r}")
    global _requested
    _requested = n
    for pool in _blas_pools():
        pool.set_num_threads(n)


def requested_num_threads() -> int | None:
    """The count the last ``set_num_threads`` asked for (None before any call): a BLAS
    loaded later (chainrule.backend's MKL, on the first product) applies it too."""
    return _requested


def get_num_threads() -> int:
    """The number of threads numpy's BLAS uses (1 where no BLAS library is found)."""
    return max((pool.num_threads for pool in _blas_pools()), default=1)
