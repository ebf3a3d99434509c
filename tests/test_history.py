"""History: its one-line repr, and plot() returning the Figure a notebook shows inline and
the CLI saves."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from chainrule.train.history import History

PNG = b"\x89PNG\r\n\x1a\n"


def _history(validation: bool = True, accuracy: bool = True) -> History:
    history = History()
    for epoch in (1, 2, 3):
        logs = {"epoch": epoch, "loss": 1.0 / epoch, "time": 0.1 * epoch}
        if accuracy:
            logs["accuracy"] = 0.5 + epoch / 10
        if validation:
            logs["val_loss"] = 1.5 / epoch
            if accuracy:
                logs["val_accuracy"] = 0.4 + epoch / 10
        history.append(logs)
    history.stopped_reason = "reached the maximum of 3 epochs"
    return history


def _curves(ax) -> dict[str, list[float]]:
    return {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}


def test_plot_returns_the_figure_of_train_and_validation_curves():
    fig = _history().plot()
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "accuracy"
    assert _curves(loss_ax) == {"train": [1.0, 0.5, 1 / 3], "validation": [1.5, 0.75, 0.5]}
    accuracy = _curves(acc_ax)
    assert accuracy["train"] == pytest.approx([0.6, 0.7, 0.8])
    assert accuracy["validation"] == pytest.approx([0.5, 0.6, 0.7])
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3]


def test_a_loss_only_history_has_one_axis_without_a_validation_curve():
    fig = _history(validation=False, accuracy=False).plot()
    (ax,) = fig.axes
    assert _curves(ax) == {"train": [1.0, 0.5, 1 / 3]}


def test_the_figure_displays_as_png_without_pyplot_or_changing_the_backend():
    import matplotlib.pyplot as plt

    backend = matplotlib.rcParams._get_backend_or_none()
    figures = plt.get_fignums()
    fig = _history().plot()
    png = fig._repr_png_()  # what Jupyter calls for image/png without the inline backend
    assert png.startswith(PNG)
    width, height = np.frombuffer(png[16:24], ">u4")  # the IHDR chunk
    assert (width, height) == (1100, 400)  # 11 x 4 inches at 100 dpi
    assert plt.get_fignums() == figures  # nothing for the inline backend to show twice
    assert matplotlib.rcParams._get_backend_or_none() == backend


def test_plot_with_a_path_writes_the_same_png_and_leaves_no_temporary_file(tmp_path):
    history = _history()
    fig = history.plot(tmp_path / "curves.png", title="run", test={"loss": 0.25})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]
    written = (tmp_path / "curves.png").read_bytes()
    assert written.startswith(PNG) and written == fig._repr_png_()
    assert fig.get_suptitle() == "run"
    assert "test 0.2500" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert history.plot(tmp_path / "again.png", "run", "epoch", {"loss": 0.25}) is not fig
    assert (tmp_path / "again.png").read_bytes() == written  # same history, same picture


def test_an_empty_history_still_draws():
    fig = History().plot()
    assert fig._repr_png_().startswith(PNG) and fig.axes[0].get_legend() is None


def test_repr_says_how_the_run_went():
    history = _history()
    history.best_epoch = 3
    assert repr(history) == (
        "History(3 epochs, loss 1.0000 -> 0.3333, accuracy 0.6000 -> 0.8000, "
        "val_loss 1.5000 -> 0.5000, val_accuracy 0.5000 -> 0.7000, best epoch 3, "
        "stopped: reached the maximum of 3 epochs)")
    assert repr(History()) == "History(0 epochs)"
