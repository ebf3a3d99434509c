"""The training loop: fit, stopping rules, callbacks, history, metrics, divergence."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule import optim
from chainrule.train import (
    Callback,
    ConvergenceStop,
    EarlyStopping,
    History,
    LambdaCallback,
    ModelCheckpoint,
    TrainingDiverged,
    accuracy,
    classification_report,
    confusion_matrix,
    evaluate,
    fit,
    precision_recall,
    predict,
)


def blobs(n: int = 300, seed: int = 0, spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters in 2-D (well separated at the default spread)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, n)
    x = centres[y] + rng.standard_normal((n, 2)) * spread
    return x.astype(np.float32), y


def small_model(seed: int = 0) -> nn.Module:
    cr.manual_seed(seed)
    return nn.mlp([2, 16, 3], "tanh")


def test_fit_learns_and_records_history():
    x, y = blobs()
    model = small_model()
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                  (x, y), (x[:50], y[:50]), epochs=15, batch_size=16, seed=0, progress=False)
    assert len(history) == 15
    assert history["loss"][-1] < history["loss"][0] * 0.3
    assert history["accuracy"][-1] > 0.97
    assert history["val_accuracy"][-1] > 0.95
    assert set(history.keys) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "time",
                                 "lr"}
    assert history.stopped_reason == "reached the maximum of 15 epochs"
    assert evaluate(model, nn.CrossEntropyLoss(), (x, y))["accuracy"] > 0.97


def test_same_seed_same_result():
    x, y = blobs()
    runs = []
    for _ in range(2):
        model = small_model(seed=3)
        fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), (x, y),
            epochs=3, batch_size=32, seed=5, progress=False)
        runs.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a, b)


def test_until_converged_stops_before_max_epochs():
    x, y = blobs(spread=3.0)  # overlapping classes: the loss levels off above zero
    model = small_model()
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05), (x, y),
                  epochs=300, batch_size=300, until_converged=True, tol=1e-3, patience=3,
                  progress=False)
    assert len(history) < 300
    assert history.stopped_reason.startswith("converged")


def test_convergence_rule_counts_epochs_without_relative_improvement():
    rule = ConvergenceStop(tol=0.1, patience=2)

    class State:
        stop_training = False
        epoch = 0

        def stop(self, reason):
            self.stop_training, self.reason = True, reason

    state = State()
    rule.on_train_begin(state)
    for loss in (1.0, 0.5, 0.48, 0.47):  # 0.5 -> 0.48 is a 4% improvement: not enough
        rule.on_epoch_end(state, {"loss": loss})
    assert state.stop_training


def test_early_stopping_restores_best_weights():
    x, y = blobs(200)
    # validation labels that are deliberately wrong: the validation loss rises as training
    # goes on, so the best epoch is an early one
    model = small_model()
    stopper = EarlyStopping(patience=2)
    snapshots = []
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.2), (x, y),
                  (x[:60], (y[:60] + 1) % 3), epochs=50, batch_size=20, progress=False,
                  callbacks=[LambdaCallback(lambda s, logs: snapshots.append(
                      {k: v.copy() for k, v in s.model.state_dict().items()})), stopper])
    assert history.stopped_reason.startswith("early stopping")
    best = stopper.best_epoch
    assert best == int(np.argmin(history["val_loss"])) + 1
    assert history.best_epoch == best
    for name, value in model.state_dict().items():
        assert np.array_equal(value, snapshots[best - 1][name])


@pytest.mark.parametrize("until_converged", [False, True])
def test_early_stopping_restores_best_weights_also_when_it_does_not_stop(until_converged):
    # the run ends at its last epoch (or by the convergence rule), not by early stopping;
    # it used to keep the last epoch's weights
    x, y = blobs(200)
    model = small_model()
    snapshots = []
    # the convergence rule (tol 0.9: every epoch after the first falls short) stops at the
    # epoch early stopping would, and records its reason first
    epochs, patience = (10, 2) if until_converged else (4, 10)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.2), (x, y),
                  (x[:60], (y[:60] + 1) % 3), epochs=epochs, batch_size=20, progress=False,
                  early_stopping=True, patience=patience, until_converged=until_converged,
                  tol=0.9, callbacks=[LambdaCallback(lambda s, logs: snapshots.append(
                      {k: v.copy() for k, v in s.model.state_dict().items()}))])
    best = int(np.argmin(history["val_loss"])) + 1
    assert history.best_epoch == best < len(history)
    first = ("converged: loss improved by less than 0.9 (relative) for 2 epochs"
             if until_converged else "reached the maximum of 4 epochs")
    assert history.stopped_reason == (f"{first}; restored the weights of epoch {best}, the "
                                      f"best val_loss")
    for name, value in model.state_dict().items():
        assert np.array_equal(value, snapshots[best - 1][name]), name


def test_early_stopping_needs_validation_data():
    x, y = blobs()
    model = small_model()
    with pytest.raises(ValueError, match="early_stopping needs val_data"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            early_stopping=True, progress=False)


def test_divergence_names_epoch_and_batch():
    x, y = blobs()
    model = small_model()
    x = x.copy()
    x[40] = np.nan
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 3.*lower learning rate"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            epochs=2, batch_size=16, shuffle=False, progress=False)


def test_checkpoint_keeps_last_good_model(tmp_path):
    x, y = blobs()
    model = small_model()
    path = tmp_path / "model.safetensors"

    class Explode(Callback):
        def on_epoch_end(self, state, logs):
            if state.epoch == 2:
                with cr.no_grad():
                    for p in state.model.parameters():
                        p.fill_(np.nan)

    with pytest.raises(TrainingDiverged):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            epochs=5, batch_size=32, progress=False,
            callbacks=[ModelCheckpoint(path, {"note": "test"}), Explode()])
    saved = cr.load(path)
    assert saved.metadata["epoch"] == 2
    assert all(np.isfinite(p.data).all() for p in saved.parameters())


def test_checkpoint_records_the_epoch_this_run_saved(tmp_path):
    x, y = blobs()
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"an earlier run's file")  # its presence says nothing about this run
    checkpoint = ModelCheckpoint(path)
    model = small_model()
    x_bad = x.copy()
    x_bad[40] = np.nan  # the loss of epoch 1, batch 3 is NaN
    with pytest.raises(TrainingDiverged):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x_bad, y),
            epochs=2, batch_size=16, shuffle=False, progress=False, callbacks=[checkpoint])
    assert checkpoint.saved_epoch is None
    assert path.read_bytes() == b"an earlier run's file"
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
        epochs=2, progress=False, callbacks=[checkpoint])
    assert checkpoint.saved_epoch == 2 and cr.load(path).metadata["epoch"] == 2


def test_weights_that_overflow_in_an_epoch_with_finite_losses_stop_training(tmp_path):
    """The last step of an epoch can make the weights infinite after its loss was computed;
    that epoch must not be checkpointed as good, nor returned as the result."""
    x, y = blobs()
    model = small_model()

    class OverflowAtEpoch2(optim.SGD):
        steps = 0

        def step(self) -> None:
            super().step()
            self.steps += 1
            if self.steps == 2:  # one batch per epoch: the only step of epoch 2
                with cr.no_grad():
                    model[0].weight.data[0, 0] = np.inf

    path = tmp_path / "model.safetensors"
    checkpoint = ModelCheckpoint(path)
    with pytest.raises(TrainingDiverged, match=r"weights \(0\.weight\) became non-finite by "
                                               r"the end of epoch 2.*lower learning rate"):
        fit(model, nn.CrossEntropyLoss(), OverflowAtEpoch2(model.parameters(), lr=0.1), (x, y),
            epochs=3, batch_size=len(x), progress=False, callbacks=[checkpoint])
    assert checkpoint.saved_epoch == 1
    saved = cr.load(path)
    assert saved.metadata["epoch"] == 1
    assert all(np.isfinite(p.data).all() for p in saved.parameters())


def test_l2_regularization_shrinks_weights():
    x, y = blobs()
    norms = {}
    for lam in (0.0, 50.0):
        model = small_model()
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            epochs=5, batch_size=30, l2=lam, progress=False, seed=0)
        norms[lam] = sum(float((p.data ** 2).sum()) for p in model.parameters() if p.ndim == 2)
    assert norms[50.0] < 0.5 * norms[0.0]


def test_mse_with_one_hot_targets_records_accuracy():
    x, y = blobs()
    model = small_model()
    onehot = np.eye(3, dtype=np.float32)[y]
    history = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.5), (x, onehot),
                  epochs=10, batch_size=10, classification=True, progress=False)
    assert history["accuracy"][-1] > 0.9


def test_plain_progress_lines_when_not_a_terminal(capsys):
    x, y = blobs()
    model = small_model()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
        progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "loss" in err


def test_predict_returns_outputs_in_eval_mode():
    x, y = blobs()
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    a, b = predict(model, x), predict(model, x)
    assert a.shape == (len(x), 3) and np.array_equal(a, b)
    assert model.training


def test_history_files(tmp_path):
    h = History()
    h.append({"epoch": 1, "loss": 1.0, "accuracy": 0.5})
    h.append({"epoch": 2, "loss": 0.5, "accuracy": 0.8})
    h.save_csv(tmp_path / "m.csv")
    h.save_json(tmp_path / "m.json", test={"accuracy": 0.75})
    h.plot(tmp_path / "c.png")
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == "epoch,loss,accuracy"
    assert json.loads((tmp_path / "m.json").read_text())["test"]["accuracy"] == 0.75
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics():
    pred = np.array([0, 1, 1, 2, 2, 2])
    true = np.array([0, 1, 2, 2, 2, 0])
    assert accuracy(pred, true) == pytest.approx(4 / 6)
    cm = confusion_matrix(pred, true, 3)
    assert cm.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]
    precision, recall = precision_recall(cm)
    assert precision.tolist() == pytest.approx([1.0, 0.5, 2 / 3])
    assert recall.tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    report = classification_report(cm, ["a", "b", "c"])
    assert "precision" in report and "confusion matrix" in report
    scores = np.eye(3)[pred]
    assert accuracy(scores, true) == accuracy(pred, true)
