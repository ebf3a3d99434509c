"""``History``: the per-epoch record of a training run, written as CSV, JSON and a PNG plot."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

from chainrule._io import atomic_write


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

    def plot(self, path: str | os.PathLike, title: str = "", xlabel: str = "epoch",
             test: dict[str, float] | None = None) -> None:
        """Loss (and accuracy, when recorded) per epoch, train and validation, as a PNG;
        ``test`` (e.g. ``{"loss": 0.05, "accuracy": 0.99}``) adds the final test result
        as a star after the last epoch, its value in the legend. The epoch axis has
        whole-number ticks only."""
        import matplotlib.pyplot as plt

        fig = self.figure(title, xlabel, test)
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
        plt.close(fig)

    def figure(self, title: str = "", xlabel: str = "epoch",
               test: dict[str, float] | None = None) -> Any:
        """The matplotlib figure ``plot`` saves (close it with ``plt.close``)."""
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        has_acc = any(e.get("accuracy") is not None for e in self.epochs)
        fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(11 if has_acc else 6, 4))
        axes = list(axes) if has_acc else [axes]
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
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig
