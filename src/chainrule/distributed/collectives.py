"""The collectives of data-parallel training: same start, averaged gradients, same end.

- ``broadcast_parameters``: every rank starts from rank 0's weights.
- ``allreduce_gradients``: after each backward pass, every rank gets the gradient
  of the whole global batch, computed from all ranks' shards.
- ``check_same_model`` / ``check_same_settings`` / ``check_same_data`` /
  ``check_in_sync``: refuse a run whose ranks built different models or were given
  different data sizes, loop settings or data (compared by ``data_fingerprint``), and
  prove at the end that all ranks hold the same weights.

Why the averaging is exact. Rank r computes the gradient of the mean loss over its
shard of b_r examples, g_r = (1/b_r) sum_{i in shard r} grad l_i. The gradient of the
mean loss over the global batch of b = sum_r b_r examples is

    g = (1/b) sum_i grad l_i = sum_r (b_r / b) g_r,

so each rank sends b_r g_r and b_r, everything is summed by one Allreduce, and the
sum of b_r g_r is divided by the sum of b_r. With equal shards this is the plain mean
over ranks; with unequal shards (the last batch of an epoch) a plain mean would
over-weight the smaller shards. A penalty term (L2, L1) has the same gradient on
every rank and comes out with weight sum_r b_r / b = 1, as it should.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from itertools import zip_longest
from typing import Any, TypeVar

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.distributed.context import Context, init


class DistributedError(RuntimeError):
    """The ranks of a run disagree (different models, or weights that drifted apart)."""


class ModelMismatchError(DistributedError, ValueError):
    """The ranks built models with different parameter names, shapes or dtypes."""


class SettingsMismatchError(DistributedError, ValueError):
    """The ranks called ``fit`` with different data sizes or loop settings."""


_E = TypeVar("_E", bound=BaseException)


def raised_on_every_rank(error: _E) -> _E:
    """Mark ``error`` as one that every rank raises alike (a check whose inputs the ranks
    compared, or agreed on, first), and return it.

    ``abort_on_error`` and ``fit(..., distributed=True)`` re-raise such an error on each
    rank instead of aborting the run: no rank is left waiting in a collective, so the
    caller may catch it. Mark nothing that one rank could raise alone.
    """
    error.raised_on_every_rank = True  # type: ignore[attr-defined]
    return error


def is_raised_on_every_rank(error: BaseException) -> bool:
    """Whether ``error`` was marked by ``raised_on_every_rank``."""
    return bool(getattr(error, "raised_on_every_rank", False))


def trainable_parameters(model_or_params: Any) -> list[Tensor]:
    """The parameters of a model (or of an iterable of them) that require gradients: the
    ones whose gradients are averaged over ranks."""
    params = model_or_params.parameters() if hasattr(model_or_params, "parameters") \
        else model_or_params
    return [p for p in params if p.requires_grad]


class _Bucket:
    """One contiguous buffer for all gradients of one dtype, reused every step.

    Layout: [ b_r * grad_1 | ... | b_r * grad_k | b_r | has_1 ... has_k ], where
    has_j is 1 when this rank has a gradient for parameter j. Summed over ranks,
    the middle slot is the global batch size b and has_j > 0 says some rank has a
    gradient (a parameter no rank reached keeps ``grad = None``, as in one process).
    """

    def __init__(self, params: list[Tensor]) -> None:
        self.params = params
        sizes = [p.data.size for p in params]
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self.total = self.bounds[-1]
        self.send = np.empty(self.total + 1 + len(params), params[0].data.dtype)

    def pack(self, weight: float) -> None:
        buf, n = self.send, self.total
        w = np.asarray(weight, buf.dtype)  # a float64 scalar would upcast the product
        for j, p in enumerate(self.params):
            lo, hi = self.bounds[j], self.bounds[j + 1]
            if p.grad is None:
                buf[lo:hi] = 0
                buf[n + 1 + j] = 0
            else:
                np.multiply(p.grad.data.reshape(-1), w, out=buf[lo:hi])
                buf[n + 1 + j] = 1
        buf[n] = weight

    def unpack(self, summed: np.ndarray) -> None:
        n = self.total
        grads = summed[:n]
        if summed[n] > 0:
            np.divide(grads, summed[n], out=grads)
        for j, p in enumerate(self.params):
            lo, hi = self.bounds[j], self.bounds[j + 1]
            p.grad = (Tensor.constant(grads[lo:hi].reshape(p.data.shape))
                      if summed[n + 1 + j] > 0 else None)


class GradientAllreduce:
    """Average the gradients of ``params`` over all ranks, one Allreduce per dtype.

    Packing every gradient into one buffer makes a step one collective call
    instead of one per parameter: MPI's per-call latency (microseconds to tens of
    microseconds on a network) is paid once, and large messages run at full
    bandwidth. The send buffer is allocated once and reused. The result lands in a
    fresh array each step, and each parameter's new ``grad`` is a view of it: a
    gradient is never overwritten later, so code that kept an old ``p.grad`` (or an
    optimizer that stores one) is safe.
    """

    def __init__(self, params: Iterable[Tensor], context: Context | None = None) -> None:
        self.params = list(params)
        self.context = context or init()
        by_dtype: dict[np.dtype, list[Tensor]] = {}
        for p in self.params:
            by_dtype.setdefault(p.data.dtype, []).append(p)
        self.buckets = [_Bucket(group) for group in by_dtype.values()]

    def __call__(self, local_size: float = 1.0) -> None:
        """Replace every ``p.grad`` by sum_r w_r grad_r / sum_r w_r, w_r = ``local_size``
        (this rank's number of examples; the default 1 is the plain mean over ranks)."""
        if self.context.world_size == 1:
            return  # alone, the gradient already is the global one (and stays bit-exact)
        for bucket in self.buckets:
            bucket.pack(local_size)
            summed = np.empty_like(bucket.send)
            self.context.allreduce_sum(bucket.send, summed)
            bucket.unpack(summed)


# The last GradientAllreduce, reused (with its buffer) while the parameter list is the same:
# a training loop calls allreduce_gradients with one model every step. (Not a dict keyed by
# parameter: Tensors compare element-wise, which weak-key lookups cannot use.)
_last_reducer: GradientAllreduce | None = None


def allreduce_gradients(model_or_params: Any, local_size: float = 1.0,
                        context: Context | None = None) -> None:
    """Average gradients over ranks in place of each ``p.grad`` (see the module docstring).

    Pass ``local_size`` = this rank's batch size for the exact gradient of the
    global batch when shards differ in size; leave it 1 for the plain mean.
    """
    params = trainable_parameters(model_or_params)
    if not params:
        return
    global _last_reducer
    context = context or init()
    reducer = _last_reducer
    if reducer is None or reducer.context is not context or \
            len(reducer.params) != len(params) or \
            any(a is not b for a, b in zip(reducer.params, params, strict=True)):
        reducer = _last_reducer = GradientAllreduce(params, context)
    reducer(local_size)


def broadcast_parameters(model: Any, context: Context | None = None, root: int = 0) -> None:
    """Overwrite every parameter and buffer with rank ``root``'s values (one Bcast each,
    once per run, so no packing)."""
    context = context or init()
    if context.world_size == 1:
        return
    state = {name: np.ascontiguousarray(value).copy()
             for name, value in model.state_dict().items()}
    for value in state.values():
        context.bcast_array(value, root)
    model.load_state_dict(state)


def _describe(model: Any) -> list[str]:
    return [f"{name} {tuple(value.shape)} {value.dtype}"
            for name, value in model.state_dict().items()]


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def check_same_model(model: Any, context: Context | None = None) -> None:
    """Refuse to train unless every rank's model has the same parameter and buffer names,
    shapes and dtypes (compares one hash per rank; the details only on a mismatch).

    Raises:
        ModelMismatchError: on every rank, naming each rank that differs from rank 0
            and its first differing tensor.
    """
    context = context or init()
    mine = _describe(model)
    digests = context.allgather(_digest(mine))
    if len(set(digests)) == 1:
        return
    everyone = context.allgather(mine)
    problems = []
    for r, lines in enumerate(everyone):
        if digests[r] == digests[0]:
            continue
        theirs, first = next((a, b) for a, b in zip_longest(lines, everyone[0])
                             if a != b)
        problems.append(f"rank {r} has {theirs or 'no more tensors'} where rank 0 has "
                        f"{first or 'no more tensors'}")
    raise raised_on_every_rank(ModelMismatchError(
        f"the ranks built different models, refusing to train: {'; '.join(problems)}. "
        f"Every rank must build the same architecture"))


def check_same_settings(settings: dict[str, Any], context: Context | None = None) -> None:
    """Refuse to train unless every rank passed the same ``settings`` (name -> value; the
    values are compared by ``repr``), such as the number of training examples, the batch
    size and the number of epochs. Ranks that disagree on these would not call the same
    collectives: an Allreduce of different sizes fails deep inside MPI ("Message
    truncated"), and a rank with more epochs than the others waits for them forever.

    Raises:
        SettingsMismatchError: on every rank, naming each rank that differs from rank 0
            with its values and rank 0's.
    """
    _refuse_differences({name: repr(value) for name, value in settings.items()},
                        context or init(), "training settings",
                        "Every rank must pass the same amount of data and the same loop "
                        "settings")


def _refuse_differences(mine: dict[str, str], context: Context, what: str, advice: str
                        ) -> None:
    """Compare ``mine`` (name -> value) across ranks; on a difference raise (on every rank)
    a SettingsMismatchError saying "rank r has a=1 where rank 0 has a=2" for each rank
    that differs, then ``advice``."""
    everyone = context.allgather(mine)
    problems = []
    for r, theirs in enumerate(everyone):
        names = list(dict.fromkeys([*everyone[0], *theirs]))
        differ = [name for name in names if theirs.get(name) != everyone[0].get(name)]
        if differ:
            problems.append(
                f"rank {r} has {_values(theirs, differ)} where rank 0 has "
                f"{_values(everyone[0], differ)}")
    if problems:
        raise raised_on_every_rank(SettingsMismatchError(
            f"the ranks were given different {what}, refusing to train: "
            f"{'; '.join(problems)}. {advice}"))


def data_fingerprint(data: Any) -> str | None:
    """sha256 (16 hex digits) of the dtypes, shapes and bytes of the arrays of (X, y) or a
    ``TensorDataset``; None for data it cannot hash cheaply (another Dataset, a loader)."""
    arrays = data if isinstance(data, tuple | list) and len(data) == 2 else getattr(
        data, "arrays", None)
    if not isinstance(arrays, tuple | list):
        return None
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(getattr(a, "data", a))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B") if a.size and a.dtype != object else b"")
    return h.hexdigest()[:16]


def check_same_data(fingerprints: dict[str, str | None], context: Context | None = None
                    ) -> None:
    """Refuse to train unless every rank was given the same data (``data_fingerprint`` of
    the training and validation data, by name): ranks that loaded different files of the
    same size would otherwise train on a mix of both, while rank 0 alone names its file.

    Raises:
        SettingsMismatchError: on every rank, naming the ranks and fingerprints that differ.
    """
    _refuse_differences({name: str(value) for name, value in fingerprints.items()},
                        context or init(), "data of the same size",
                        "Every rank must load the same data (each trains on its own shard "
                        "of every batch)")


def _values(settings: dict[str, str], names: list[str]) -> str:
    return ", ".join(f"{name}={settings.get(name, '(none)')}" for name in names)


def parameters_digest(model: Any) -> str:
    """sha256 of every parameter's and buffer's bytes, in order."""
    h = hashlib.sha256()
    for value in model.state_dict().values():
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def check_in_sync(model: Any, context: Context | None = None) -> None:
    """Assert that all ranks hold bit-identical weights (one hash per rank).

    Raises:
        DistributedError: naming the ranks whose weights differ from rank 0's.
    """
    context = context or init()
    digests = context.allgather(parameters_digest(model))
    differ = [r for r, d in enumerate(digests) if d != digests[0]]
    if differ:
        raise raised_on_every_rank(DistributedError(
            f"after training, the weights of rank(s) {', '.join(map(str, differ))} differ "
            f"from rank 0's; the ranks did not take identical steps"))
