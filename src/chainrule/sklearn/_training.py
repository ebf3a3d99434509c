"""The pieces of training the estimators share: seeding and one epoch.

Kept apart from the estimator classes so that the loop reads on its own: an epoch is

    for each mini-batch (X_b, t_b) of the shuffled training set:
        J = L(f(X_b), t_b) + lambda2/(2n) sum W^2 + lambda1/n sum |W|
        zero the gradients; backpropagate J; take one optimizer step

with the penalties over the weights only (``chainrule.nn.regularization``). Their
gradients, (lambda2/n) W and (lambda1/n) sign(W), are added to the backpropagated
ones directly rather than through a recorded graph: the same numbers, without a
dozen extra graph nodes per step (on small networks that was a third of a step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from numbers import Integral

import numpy as np
import scipy.sparse as sp

from chainrule import creation
from chainrule.autograd.tensor import Tensor
from chainrule.creation import from_numpy
from chainrule.data import DataLoader, TensorDataset
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.regularization import penalized_parameters
from chainrule.train.fit import predict as dense_outputs
from chainrule.train.step import check_loss, train_step

# rows densified at a time when predicting from a sparse matrix
PREDICT_BATCH = 1024

DIVERGED_ADVICE = ("training diverged. Try a lower learning rate, or standardize the inputs "
                   "(e.g. a StandardScaler in a Pipeline)")

# (lambda2, lambda1) for a batch of b examples out of n: what the penalties add to its loss.
PenaltyFn = Callable[[int, int], tuple[float, float]]


def make_generator(random_state: object) -> np.random.Generator:
    """A numpy Generator from scikit-learn's ``random_state`` conventions.

    None draws fresh entropy (numpy's global state is left alone); an int seeds it;
    a ``numpy.random.RandomState`` is drawn from once, as scikit-learn does, so a
    shared RandomState gives different but reproducible estimators.
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(int(random_state.randint(np.iinfo(np.int32).max)))
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise ValueError(f"random_state must be None, an int, a numpy RandomState or Generator; "
                     f"got {random_state!r}")


@contextmanager
def drawing_from(rng: np.random.Generator) -> Iterator[None]:
    """Make chainrule's default generator ``rng`` for the duration of the block.

    Initialization (``nn.init``, ``Linear``) and ``Dropout`` draw from chainrule's
    default generator and take no generator argument through a whole module, so the
    estimator lends them its own for the length of a fit and then puts the user's
    back: a seeded estimator is reproducible and fitting one never advances (or
    reseeds) the generator that ``chainrule.manual_seed`` set.
    """
    saved = creation.set_default_generator(rng)
    try:
        yield
    finally:
        creation.set_default_generator(saved)


def train_epoch(module: Module, criterion: Callable[[Tensor, Tensor], Tensor], optimizer: object,
                x: np.ndarray, targets: np.ndarray, batch_size: int, shuffle: bool,
                rng: np.random.Generator, penalties: PenaltyFn, epoch: int) -> float:
    """One pass over (x, targets) in mini-batches; returns the mean objective J per example.

    The recorded value includes the penalties, as scikit-learn's ``loss_curve_`` does,
    because it is the quantity gradient descent minimizes (and the stopping rule watches).
    """
    n = x.shape[0]
    if sp.issparse(x):
        loader = sparse_batches(x, targets, batch_size, shuffle, rng)
    else:
        loader = DataLoader(TensorDataset(x, targets), batch_size=batch_size, shuffle=shuffle,
                            generator=rng)
    weights = penalized_parameters(module)
    module.train()
    total = 0.0
    for index, (xb, tb) in enumerate(loader):
        b = len(tb)
        loss = criterion(module(xb), tb)
        lam2, lam1 = penalties(b, n)
        total += b * train_step(module, loss, optimizer, on_gradients=partial(
            _objective, loss, weights, lam2, lam1, n, f"epoch {epoch}, batch {index + 1}"))
    return total / n


def _objective(loss: Tensor, weights: list[Parameter], lam2: float, lam1: float, n: int,
               where: str) -> float:
    """J of a batch, once its loss is backpropagated: the loss plus the penalties, whose
    gradients are added here; a J that is not finite ends training (``TrainingDiverged``)."""
    value = float(loss.data) + add_penalty_gradients(weights, lam2, lam1, n)
    check_loss(value, where, DIVERGED_ADVICE)
    return value


def sparse_batches(x: sp.spmatrix, targets: np.ndarray, batch_size: int, shuffle: bool,
                   rng: np.random.Generator) -> Iterator[tuple[Tensor, Tensor]]:
    """The mini-batches of a CSR matrix, each densified on its own (a large sparse matrix
    need not fit in memory dense), in the order ``DataLoader`` gives a dense array: the
    same permutation drawn from ``rng``, so sparse and dense inputs train alike."""
    n = x.shape[0]
    order = rng.permutation(n) if shuffle else None
    for start in range(0, n, batch_size):
        index = (slice(start, min(start + batch_size, n)) if order is None
                 else order[start:start + batch_size])
        yield from_numpy(x[index].toarray()), from_numpy(targets[index].copy())


def outputs(module: Module, x: np.ndarray | sp.spmatrix) -> np.ndarray:
    """The module's outputs for x (eval mode, no graph); a sparse x is densified
    ``PREDICT_BATCH`` rows at a time."""
    if not sp.issparse(x):
        return dense_outputs(module, x)
    parts = [dense_outputs(module, x[i:i + PREDICT_BATCH].toarray())
             for i in range(0, x.shape[0], PREDICT_BATCH)]
    return np.concatenate(parts) if parts else np.empty((0,))


def add_penalty_gradients(weights: list[Parameter], lam2: float, lam1: float, n: int) -> float:
    """Add the gradients of lam2/(2n) sum W^2 + lam1/n sum |W| to the weights' gradients
    (those of ``l2_penalty`` and ``l1_penalty``: (lam2/n) W + (lam1/n) sign(W)); return
    the penalties' value."""
    if not (lam2 or lam1):
        return 0.0
    value = 0.0
    for w in weights:
        if w.grad is None:
            continue
        data = w.data
        extra = np.zeros_like(data)
        if lam2:
            value += 0.5 * lam2 / n * float(np.vdot(data, data))
            extra += np.asarray(lam2 / n, data.dtype) * data
        if lam1:
            value += lam1 / n * float(np.abs(data).sum())
            extra += np.asarray(lam1 / n, data.dtype) * np.sign(data)
        # a new array, not +=: a gradient array may be shared with another tensor
        w.grad = Tensor.constant(w.grad.data + extra)
    return value
