"""``History``: the per-epoch record of a training run, written as CSV, JSON and a PNG plot,
and drawn inline in a notebook (``plot()`` returns the Figure)."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

from chainrule._io import atomic_write
from chainrule.train.progress import counted


class History:
    """One dict per epoch (``epoch``, ``loss``, ``accuracy``, ``val_loss``, ..., ``time``),
    plus why training stopped. ``history["loss"]`` is the list of one metric."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []
        self.stopped_reason = ""
        self.best_epoch: int | None = None

    def append(self, logs: dict[str, Any]) -> None:
        self.epochs.append(dict(logs))

    def __getitem__(self, key: str) -> list[Any]:
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for e in self.epochs:
            seen.update(dict.fromkeys(e))
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "stopped_reason": self.stopped_reason,
                "best_epoch": self.best_epoch}

    def save_json(self, path: str | os.PathLike, **extra: Any) -> None:
        """The history (and any ``extra`` JSON-ready values) as an indented JSON file."""
        with atomic_write(path, "w") as f:
            json.dump({**self.to_dict(), **extra}, f, indent=2)

    def save_csv(self, path: str | os.PathLike) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.epochs)
        with atomic_write(path, "w") as f:
            f.write(buffer.getvalue())

    def __repr__(self) -> str:
        """"History(3 epochs, loss 0.6931 -> 0.1204, val_loss ..., stopped: ...)": how the
        run went, in one line (``plot()`` draws it)."""
        parts = [counted(len(self.epochs), "epoch")]
        for key in self.keys:
            values = [v for v in self[key] if isinstance(v, float)]
            if values and key not in ("time", "lr"):
                parts.append(f"{key} {values[0]:.4f} -> {values[-1]:.4f}")
        if self.best_epoch is not None:
            parts.append(f"best epoch {self.best_epoch}")
        if self.stopped_reason:
            parts.append(f"stopped: {self.stopped_reason}")
        return f"History({', '.join(parts)})"

    def plot(self, path: str | os.PathLike | None = None, title: str = "",
             xlabel: str = "epoch", test: dict[str, float] | None = None) -> Any:
        """The learning curves as a matplotlib Figure, also written to ``path`` as a PNG
        when given (atomically: a reader never sees half a file); see ``figure``.

        A notebook shows the returned Figure inline as image/png, with or without
        matplotlib's inline backend; the PNG in ``path`` (the CLI's curves) is the same
        picture, byte for byte.
        """
        fig = self.figure(title, xlabel, test)
        if path is not None:
            with atomic_write(path, "wb") as f:
                f.write(fig._repr_png_())
        return fig

    def figure(self, title: str = "", xlabel: str = "epoch",
               test: dict[str, float] | None = None) -> Any:
        """Loss (and accuracy, when recorded) per epoch, train and validation, as a
        matplotlib Figure; ``test`` (e.g. ``{"loss": 0.05, "accuracy": 0.99}``) adds the
        final test result as a star after the last epoch, its value in the legend. The
        epoch axis has whole-number ticks only.

        The Figure is drawn by Agg outside pyplot: it leaves the user's backend and
        pyplot's list of open figures alone (so a notebook does not show it twice, and
        nothing needs closing), and it is freed like any object.
        """
        from matplotlib.ticker import MaxNLocator

        from chainrule.train._figure import CurvesFigure

        has_acc = any(e.get("accuracy") is not None for e in self.epochs)
        fig = CurvesFigure(figsize=(11 if has_acc else 6, 4))
        axes = list(fig.subplots(1, 2)) if has_acc else [fig.subplots()]
        epochs = self["epoch"]
        for ax, metric in zip(axes, ["loss", "accuracy"], strict=False):
            for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
                values = self[key]
                if any(v is not None for v in values):
                    ax.plot(epochs, values, marker="o", markersize=3, label=label)
            if test and test.get(metric) is not None and epochs:
                value = test[metric]
                text = f"{value * 100:.2f}%" if metric == "accuracy" else f"{value:.4f}"
                ax.plot([epochs[-1]], [value], marker="*", markersize=12, linestyle="none",
                        color="black", label=f"test {text}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 2.5"
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:  # an empty history has no curves
                ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig

