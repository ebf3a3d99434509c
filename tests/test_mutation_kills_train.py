"""The stopping rules and optimizers on the cases a mutation run (tools/mutate.py) found no test
watching: a loss that goes down, up and down again, an improvement exactly at the tolerance,
and the update rules against torch.optim in float64."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.train import ConvergenceStop
from chainrule.train.callbacks import Plateau


class _State:
    """What a stopping rule sees of the loop: the epoch and the stop switch."""

    def __init__(self) -> None:
        self.epoch, self.stop_training, self.reason = 0, False, None

    def stop(self, reason: str) -> None:
        self.stop_training, self.reason = True, reason


def _stopped_at(rule, losses, key="loss"):  # noqa: ANN001, ANN202
    """The 1-based epoch at which ``rule`` stops on ``losses``, or None."""
    state = _State()
    rule.on_train_begin(state)
    for epoch, loss in enumerate(losses, 1):
        state.epoch = epoch
        rule.on_epoch_end(state, {key: loss})
        if state.stop_training:
            return epoch
    return None


def test_plateau_count_starts_over_at_zero_after_a_new_best():
    rule = Plateau(2, lambda value, best: value < best)
    waited, stalled = [], []
    for value in (5.0, 4.0, 6.0, 3.0, 7.0, 8.0):
        rule.update(value)
        waited.append(rule.waited)
        stalled.append(rule.stalled)
    assert waited == [0, 0, 1, 0, 1, 2]
    assert stalled == [False] * 5 + [True]
    assert rule.best_value == 3.0


def test_convergence_counts_an_improvement_of_exactly_tol_as_improving():
    # (1.0 - 0.5) / 1.0 = 0.5 = tol: improved, so the run goes on; 0.5 -> 0.3 is 40% < 50%
    assert _stopped_at(ConvergenceStop(tol=0.5, patience=1), [1.0, 0.5, 0.3, 0.1]) == 3


# options of an optimizer that torch.optim has too: (name, options)
OPTIONS = {
    "sgd_dampening": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    "sgd_maximize": ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True)),
    "sgd_maximize_nesterov": ("SGD", dict(lr=0.05, momentum=0.5, nesterov=True,
                                          maximize=True)),
    "rmsprop_alpha": ("RMSprop", dict(lr=0.01, alpha=0.7)),
}


@pytest.mark.parametrize("case", OPTIONS)
def test_optimizer_options_match_torch(case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")
    name, options = OPTIONS[case]
    rng = np.random.default_rng(1)
    a, b, w0 = rng.standard_normal((8, 3)), rng.standard_normal(8), rng.standard_normal(3)
    w = cr.tensor(w0.copy(), requires_grad=True, dtype=np.float64)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    ours, theirs = getattr(optim, name)([w], **options), getattr(torch.optim, name)([tw], **options)
    for _ in range(6):
        ours.zero_grad()
        ((cr.tensor(a) @ w - cr.tensor(b)) ** 2).mean().backward()
        ours.step()
        theirs.zero_grad()
        ((torch.tensor(a) @ tw - torch.tensor(b)) ** 2).mean().backward()
        theirs.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_an_optimizer_error_names_the_optimizer(name):
    with pytest.raises(ValueError, match=f"^{name}: got an empty parameter list"):
        getattr(optim, name)([], lr=0.1)
