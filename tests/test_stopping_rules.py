"""Stopping rules fed values that go down, up, down and up again, asserting the epoch each
rule stops at and the epoch (and weights) it keeps.

On a monotone sequence a counter that is never reset, or a best value that is never
updated, stops at the same epoch as the right rule; on these sequences it does not. The
oracles are the reference implementations' own rules: Keras's EarlyStopping (value <
best - min_delta, patience epochs in a row), PyTorch's ReduceLROnPlateau (run here beside
chainrule's on the same sequences) and scikit-learn's MLP (its own
``_update_no_improvement_count`` driven with the same values).

The values a rule watches are scripted: a callback placed before the rules overwrites
the epoch's log entry, so training runs for real (the weights change every epoch) while
the monitored number is known.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule import optim
from chainrule.train import (
    ConvergenceStop,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    Plateau,
    fit,
)

# down, up, down, up: the best is epoch 5 (0.7); 6, 7, 8 fail to beat it
DOWN_UP = [1.0, 0.8, 0.9, 0.85, 0.7, 0.75, 0.72, 0.71, 0.74, 0.73, 0.76, 0.77]


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def run(values: list[float], key: str, epochs: int, callbacks: list, **options):  # noqa: ANN003, ANN201
    """fit for up to ``epochs`` with logs[key] = values[epoch - 1] as the rules see it;
    returns (history, the model, the weights after each epoch)."""
    cr.manual_seed(0)
    model = nn.mlp([2, 4, 2], "tanh")
    snapshots = []

    def script(state, logs):  # noqa: ANN001, ANN202
        logs[key] = values[state.epoch - 1]
        snapshots.append({k: v.copy() for k, v in state.model.state_dict().items()})

    x, y = data()
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), (x, y),
                  (x[:10], y[:10]), epochs=epochs, batch_size=10, progress=False,
                  callbacks=[LambdaCallback(script), *callbacks], **options)
    return history, model, snapshots


def assert_weights_of(model: nn.Module, snapshot: dict[str, np.ndarray]) -> None:
    state = model.state_dict()
    assert state.keys() == snapshot.keys()
    for name, value in state.items():
        np.testing.assert_array_equal(value, snapshot[name], err_msg=name)


# -- Plateau: the counter itself -------------------------------------------------------------


def test_plateau_resets_the_count_and_moves_the_best_only_on_an_improvement():
    rule = Plateau(3, lambda value, best: value < best)
    waited, best = [], []
    for value in DOWN_UP[:8]:
        rule.update(value)
        waited.append(rule.waited)
        best.append(rule.best_value)
    assert waited == [0, 0, 1, 2, 0, 1, 2, 3]
    assert best == [1.0, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7]
    assert rule.stalled


def test_plateau_any_gain_follows_every_lower_value_but_counts_only_real_improvements():
    # scikit-learn's bookkeeping: the best follows 3.375 though it is no gain of tol; 3.125
    # is a gain of exactly tol over it, which counts ("by at least tol")
    rule = Plateau.absolute(tol=0.25, patience=2)
    for value, waited, best in [(4.0, 0, 4.0), (3.5, 0, 3.5), (3.375, 1, 3.375),
                                (3.875, 2, 3.375), (3.125, 0, 3.125)]:
        rule.update(value)
        assert (rule.waited, rule.best_value) == (waited, best)


# -- EarlyStopping (Keras's rule) ------------------------------------------------------------


def test_early_stopping_stops_three_epochs_after_the_best_and_restores_it():
    stopper = EarlyStopping(patience=3)
    history, model, snapshots = run(DOWN_UP, "val_loss", 12, [stopper])
    assert len(history) == 8  # a count not reset at epoch 5 would stop at 6
    assert stopper.best_epoch == history.best_epoch == 5
    assert stopper.best == 0.7
    assert history.stopped_reason == ("early stopping: val_loss did not improve for 3 epochs "
                                      "(best at epoch 5)")
    assert_weights_of(model, snapshots[4])


def test_early_stopping_min_delta_needs_more_than_min_delta():
    # exact binary values: 3.75 is exactly min_delta below 4.0, which is no improvement
    # (Keras: value < best - min_delta); 3.5 is, and 3.25 is again exactly min_delta
    values = [4.0, 3.875, 3.75, 3.5, 3.5, 3.25, 3.25, 3.0]
    stopper = EarlyStopping(patience=3, min_delta=0.25)
    history, model, snapshots = run(values, "val_loss", 8, [stopper])
    assert len(history) == 7
    assert stopper.best_epoch == 4 and stopper.best == 3.5  # not 3.25, the lowest seen
    assert_weights_of(model, snapshots[3])


@pytest.mark.parametrize("mode", ["max", "auto"])
def test_early_stopping_maximizes_an_accuracy(mode):
    values = [0.5, 0.6, 0.55, 0.58, 0.7, 0.65, 0.69, 0.66, 0.9]
    stopper = EarlyStopping(patience=3, monitor="val_accuracy", mode=mode)
    history, model, snapshots = run(values, "val_accuracy", 9, [stopper])
    assert len(history) == 8
    assert stopper.best_epoch == 5 and stopper.best == 0.7
    assert_weights_of(model, snapshots[4])


def test_early_stopping_mode_min_on_an_accuracy_and_a_bad_mode():
    stopper = EarlyStopping(patience=2, monitor="val_accuracy", mode="min")
    history, _, _ = run([0.5, 0.6, 0.7, 0.4], "val_accuracy", 4, [stopper])
    assert len(history) == 3 and stopper.best_epoch == 1  # asked for: the lowest is best
    with pytest.raises(ValueError, match="EarlyStopping: mode must be 'min', 'max' or 'auto'"):
        EarlyStopping(mode="down")


def test_early_stopping_that_never_stops_still_keeps_the_best_epoch():
    stopper = EarlyStopping(patience=10)
    history, model, snapshots = run(DOWN_UP[:7], "val_loss", 7, [stopper])
    assert len(history) == 7 and history.best_epoch == 5
    assert history.stopped_reason == ("reached the maximum of 7 epochs; restored the weights "
                                      "of epoch 5, the best val_loss")
    assert_weights_of(model, snapshots[4])


# -- the convergence rule ------------------------------------------------------------------


def test_convergence_rule_counts_epochs_below_the_relative_tolerance_and_resets():
    # relative gains over the best: 0.5, 0.04, -0.2, 0.2 (reset), 0.025, 0.05, 0.075
    values = [1.0, 0.5, 0.48, 0.6, 0.4, 0.39, 0.38, 0.37, 0.2]
    history, _, _ = run(values, "loss", 9, [ConvergenceStop(tol=0.1, patience=3)])
    assert len(history) == 8  # without the reset at epoch 5 it would stop at 6
    assert history.stopped_reason == ("converged: loss improved by less than 0.1 (relative) "
                                      "for 3 epochs")


def test_convergence_rule_counts_a_gain_of_exactly_tol_as_an_improvement():
    # "improves by less than tol" stops; 1.0 -> 0.75 is exactly tol = 0.25: it improves
    history, _, _ = run([1.0, 0.75, 0.7, 0.6, 0.5], "loss", 5,
                        [ConvergenceStop(tol=0.25, patience=2)])
    assert len(history) == 4  # 0.7 and 0.6 fall short of 0.75 by less than 25 %


def test_fit_until_converged_uses_the_same_rule():
    history, _, _ = run([1.0, 0.5, 0.48, 0.6, 0.4, 0.39, 0.38, 0.37, 0.2], "loss", 9, [],
                        until_converged=True, tol=0.1, patience=3)
    assert len(history) == 8


# -- ModelCheckpoint(monitor=...) ------------------------------------------------------------


@pytest.mark.parametrize("key, values, saves, mode", [
    ("val_loss", [1.0, 0.8, 0.9, 0.8, 0.7, 0.75, 0.72], [1, 2, 2, 2, 5, 5, 5], "auto"),
    ("val_accuracy", [0.5, 0.6, 0.55, 0.6, 0.7, 0.65], [1, 2, 2, 2, 5, 5], "auto"),
    ("val_accuracy", [0.5, 0.6, 0.55, 0.6, 0.4, 0.65], [1, 1, 1, 1, 5, 5], "min"),
])
def test_checkpoint_saves_only_strictly_better_epochs(tmp_path, key, values, saves, mode):
    path = tmp_path / "best.safetensors"
    checkpoint = ModelCheckpoint(path, monitor=key, mode=mode)
    saved = []
    history, _, snapshots = run(values, key, len(values), [checkpoint, LambdaCallback(
        lambda state, logs: saved.append(checkpoint.saved_epoch))])
    assert saved == saves
    best = saves[-1]
    assert checkpoint.best == values[best - 1]
    kept = cr.load(path)
    assert kept.metadata["epoch"] == best and kept.metadata["metrics"][key] == values[best - 1]
    assert_weights_of(kept, snapshots[best - 1])


def test_checkpoint_refuses_a_monitor_the_logs_do_not_have(tmp_path):
    # it used to treat the missing value as inf: never better, so nothing was ever saved
    checkpoint = ModelCheckpoint(tmp_path / "m.safetensors", monitor="val_los")
    with pytest.raises(KeyError, match=r"ModelCheckpoint: the epoch logs have no 'val_los'"):
        run([1.0], "val_loss", 1, [checkpoint])
    assert not (tmp_path / "m.safetensors").exists()


# -- ReduceLROnPlateau beside PyTorch's --------------------------------------------------------

PLATEAU_OPTIONS = [
    {"mode": "min", "threshold_mode": "rel", "threshold": 0.1, "patience": 1},
    {"mode": "min", "threshold_mode": "abs", "threshold": 0.05, "patience": 2, "cooldown": 1},
    {"mode": "max", "threshold_mode": "rel", "threshold": 0.1, "patience": 1, "factor": 0.5},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 0, "cooldown": 2},
    {"mode": "min", "threshold_mode": "rel", "threshold": 0.0, "patience": 1, "min_lr": 0.02},
    {"mode": "min", "threshold_mode": "rel", "threshold": 1e-4, "patience": 2, "eps": 0.05},
]
SEQUENCES = {"down, up, down, up": DOWN_UP,
             "negative": [-1.0, -1.2, -1.1, -1.25, -1.3, -1.0, -1.35, -1.2, -1.3, -1.5],
             "ties": [1.0, 1.0, 0.9, 0.9, 0.9, 1.1, 0.8, 0.8, 0.8, 0.8]}


@pytest.mark.parametrize("options", PLATEAU_OPTIONS, ids=str)
@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_reduce_lr_on_plateau_follows_torch_epoch_by_epoch(options, sequence):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")
    values = SEQUENCES[sequence]
    params = [nn.Parameter(np.zeros(1))]
    ours = optim.lr_scheduler.ReduceLROnPlateau(optim.SGD(params, lr=0.4), **options)
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.4)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **options)
    lrs, t_lrs = [], []
    for value in values:
        ours.step(value)
        theirs.step(value)
        lrs.append(ours.get_last_lr()[0])
        t_lrs.append(theirs.get_last_lr()[0])
        assert ours.num_bad_epochs == theirs.num_bad_epochs
        assert ours.best == theirs.best
    assert lrs == t_lrs
    if sequence == "down, up, down, up":
        assert lrs[-1] < lrs[0]  # the case reduces the lr at least once


def test_reduce_lr_on_plateau_in_fit_watches_the_validation_loss():
    # the scheduler steps inside the epoch, before callbacks: check it saw val_loss
    cr.manual_seed(0)
    model = nn.mlp([2, 4, 2], "tanh")
    opt = optim.SGD(model.parameters(), lr=0.5)
    seen = []

    class Recording(optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metric: float) -> None:
            seen.append(metric)
            super().step(metric)

    x, y = data()
    history = fit(model, nn.CrossEntropyLoss(), opt, (x, y), (x[:10], y[:10]), epochs=3,
                  batch_size=10, progress=False, scheduler=Recording(opt, patience=0))
    assert seen == history["val_loss"]


# -- scikit-learn's n_iter_no_change and tol ----------------------------------------------------


class SklearnRule:
    """scikit-learn's own stopping rule (MLP._update_no_improvement_count and the test its
    fit loop applies after it), driven with scripted values instead of a fit."""

    def __init__(self, tol: float, n_iter_no_change: float, early_stopping: bool) -> None:
        from sklearn.neural_network import MLPClassifier

        self.mlp = MLPClassifier(tol=tol, n_iter_no_change=n_iter_no_change)
        self.early_stopping = early_stopping
        mlp = self.mlp
        mlp.loss_curve_, mlp.validation_scores_ = [], []
        mlp.best_loss_, mlp.best_validation_score_ = np.inf, -np.inf
        mlp._no_improvement_count = 0
        mlp.coefs_, mlp.intercepts_ = [np.zeros(1)], [np.zeros(1)]  # coefs_ = the epoch

    def stops_after(self, values: list[float]) -> tuple[int, float, int | None]:
        """(the epoch it stops at or len(values), the best value, the best epoch kept)."""
        mlp, scores = self.mlp, iter(values)
        mlp._score = lambda X, y, sample_weight=None: next(scores)
        for epoch, value in enumerate(values, start=1):
            mlp.loss_curve_.append(value)
            mlp.coefs_ = [np.full(1, epoch)]
            mlp._update_no_improvement_count(self.early_stopping, None, None, None)
            if mlp._no_improvement_count > mlp.n_iter_no_change:
                break
        if self.early_stopping:
            return epoch, mlp.best_validation_score_, int(mlp._best_coefs[0][0])
        return epoch, mlp.best_loss_, None


def chainrule_rule(values: list[float], tol: float, n: float, mode: str) -> tuple[int, float,
                                                                                  int | None]:
    """The same three numbers from the rule the estimators use (sklearn/base.py)."""
    rule, best_epoch = Plateau.absolute(tol, n, mode), None
    for epoch, value in enumerate(values, start=1):
        rule.update(value)
        if rule.new_best:
            best_epoch = epoch
        if rule.stalled:
            break
    return epoch, rule.best_value, best_epoch if mode == "max" else None


LOSSES = {  # training losses: down, up, down, up; ties; gains of exactly tol = 0.25
    "down up": [4.0, 3.0, 3.5, 3.25, 2.5, 2.75, 2.625, 2.5, 2.6, 2.7, 2.8, 2.9],
    "exactly tol": [4.0, 3.75, 3.5, 3.5, 3.25, 3.375, 3.0, 3.0, 3.0, 3.0, 3.0],
    "flat": [2.0] * 10,
}
SCORES = {  # validation scores (higher is better)
    "up down": [0.5, 0.75, 0.625, 0.75, 1.0, 0.875, 0.9375, 0.875, 0.5, 0.25],
    "exactly tol": [0.0, 0.25, 0.5, 0.5, 0.75, 0.625, 0.75, 0.75, 0.75, 0.75],
}


@pytest.mark.parametrize("tol", [0.25, 0.0])
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("early, name", [(False, k) for k in LOSSES] + [(True, k)
                                                                         for k in SCORES])
def test_the_estimators_rule_is_scikit_learns_with_one_epoch_less(tol, n, early, name):
    # documented (docs/sklearn.md): chainrule stops after n epochs without an improvement of
    # at least tol, scikit-learn after n + 1; so chainrule's n is scikit-learn's n - 1
    pytest.importorskip("sklearn")
    values = SCORES[name] if early else LOSSES[name]
    ours = chainrule_rule(values, tol, n, "max" if early else "min")
    theirs = SklearnRule(tol, n - 1, early).stops_after(values)
    assert ours == theirs


def test_the_estimators_stop_at_the_rules_epoch_and_keep_the_best_weights(monkeypatch):
    pytest.importorskip("sklearn")
    import chainrule.sklearn.base as base
    from chainrule.sklearn import MLPClassifier

    losses, scores = LOSSES["down up"], SCORES["up down"]
    snapshots = []

    def scripted_epoch(module, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        real_epoch(module, *args, **kwargs)  # the weights really change
        snapshots.append({k: v.copy() for k, v in module.state_dict().items()})
        return losses[len(snapshots) - 1]

    real_epoch = base.train_epoch
    monkeypatch.setattr(base, "train_epoch", scripted_epoch)
    x, y = data()
    clf = MLPClassifier((4,), tol=0.25, n_iter_no_change=3, max_iter=12, random_state=0)
    clf.fit(x, y)
    # best 2.5 at epoch 5 (the count restarts there); 2.75, 2.625, 2.5 are not 0.25 below
    assert clf.n_iter_ == 8 and clf.loss_curve_ == losses[:8]
    assert clf.best_loss_ == 2.5

    snapshots.clear()
    monkeypatch.setattr(MLPClassifier, "_validation_score",
                        lambda self, out, t: scores[len(snapshots) - 1])
    clf = MLPClassifier((4,), tol=0.1, n_iter_no_change=3, max_iter=10, random_state=0,
                        early_stopping=True, validation_fraction=0.25)
    clf.fit(x, y)
    # best 1.0 at epoch 5; 0.875, 0.9375, 0.875 do not beat it by 0.1
    assert clf.n_iter_ == 8 and clf.validation_scores_ == scores[:8]
    assert clf.best_validation_score_ == 1.0
    assert_weights_of(clf.module_, snapshots[4])
