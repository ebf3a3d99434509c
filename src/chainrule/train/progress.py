"""Progress reporting: tqdm bars on a terminal, ``tqdm.auto`` bars in a Jupyter
notebook, plain lines everywhere else.

Progress bars redraw with carriage returns, which in a CI log or a redirected file
become one enormous line of overwritten text. So bars are used only when stderr
is a terminal, or in a Jupyter kernel, where ``tqdm.auto`` draws a widget (a text bar
that Jupyter redraws in place when ipywidgets is not installed); otherwise a plain
line is printed at the end of every epoch and, within long epochs, every
``every_seconds`` seconds. A run counted in steps rather than epochs
(``Progress.for_steps``, the text model's) reports "step 120/1000".
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import IO, Any


def format_logs(logs: dict[str, Any]) -> str:
    """'loss 0.1234  accuracy 0.9712  val_loss ...' for the numbers in ``logs``."""
    parts = []
    for key, value in logs.items():
        if key in ("epoch", "time", "lr"):
            continue
        if isinstance(value, float):
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts)


def format_seconds(seconds: float) -> str:
    """A duration with the precision that means something: "7.3 ms", "420 ms", "1.7 s",
    "75 s" (an epoch of the bundled digits takes tens of milliseconds)."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds:.0f} s"


def counted(n: int, noun: str) -> str:
    """"1 epoch", "2 epochs", "1,000 steps": a count with its noun in the right number."""
    return f"{n:,} {noun if n == 1 else noun + 's'}"


class Progress:
    """Reports training progress per batch and per epoch (``enabled=False`` is silent).

    ``display`` says how: "notebook" (``tqdm.auto`` bars, in a Jupyter kernel writing to
    its own stdout or stderr), "terminal" (tqdm bars, the stream is a TTY), "lines"
    (plain lines: pipes, files, CI logs), or "off" (not enabled). A terminal, and a
    notebook with ipywidgets, stack a bar of batches under a bar of epochs; a notebook
    without widgets gets one text bar per epoch, kept with the epoch's metrics, as
    Keras prints them (a notebook's output area cannot move the cursor up to a bar).
    """

    def __init__(self, epochs: int, batches: int, enabled: bool = True,
                 stream: IO[str] | None = None, every_seconds: float = 10.0,
                 in_steps: bool = False) -> None:
        self.epochs, self.batches = epochs, batches
        self.in_steps = in_steps  # one pass of ``batches`` steps, reported as steps
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.every_seconds = every_seconds
        self.display = _choose_display(self.stream) if enabled else "off"
        self._bar_class = _bar_class(self.display)
        self.use_bars = self._bar_class is not None
        self._stacked = self.use_bars and (self.display == "terminal"
                                           or _draws_widgets(self._bar_class))
        self._outer = self._inner = None
        self._last_print = 0.0
        self._epoch = 0
        self._epoch_start = 0.0
        if self._stacked and not in_steps:
            self._outer = self._bar(total=epochs, desc="epochs", unit="epoch", position=0)

    @classmethod
    def for_steps(cls, steps: int, enabled: bool = True, stream: IO[str] | None = None,
                  every_seconds: float = 10.0) -> Progress:
        """Progress of a run counted in steps (no epochs): "step 120/1000  loss 2.3412"
        lines, or one bar of steps on a terminal; call ``start_epoch(1)`` first and
        ``end_epoch`` after the last step, as for an epoch."""
        return cls(1, steps, enabled, stream, every_seconds, in_steps=True)

    def start_epoch(self, epoch: int) -> None:
        self._epoch = epoch
        self._epoch_start = self._last_print = time.perf_counter()
        if self.use_bars:
            desc, unit = ("steps", "step") if self.in_steps else (f"epoch {epoch}", "batch")
            if not (self._stacked or self.in_steps):
                desc = self._where()
            self._inner = self._bar(total=self.batches, desc=desc, unit=unit,
                                    position=0 if self.in_steps else 1,
                                    leave=self.in_steps or not self._stacked)

    def _bar(self, position: int, **kwargs: Any) -> Any:
        """One bar of ``_bar_class``. Only a terminal gets ``position``: it stacks the batch
        bar under the epoch bar with cursor movements, which a notebook's output area
        does not interpret (its widgets stack by themselves)."""
        if self.display == "terminal":
            kwargs.update(position=position, dynamic_ncols=True)
        return self._bar_class(file=self.stream, **kwargs)

    def _where(self, batch: int | None = None) -> str:
        """"epoch 2/60", "epoch 2/60  batch 7/45", or for a run in steps "step 7/1000"."""
        if self.in_steps:
            return f"step {self.batches if batch is None else batch}/{self.batches}"
        epoch = f"epoch {self._epoch}/{self.epochs}"
        return epoch if batch is None else f"{epoch}  batch {batch}/{self.batches}"

    def batch(self, index: int, loss: float) -> None:
        if not self.enabled:
            return
        if self._inner is not None:
            self._inner.update(1)
            if index % 10 == 0:
                self._inner.set_postfix(loss=f"{loss:.4f}", refresh=False)
            return
        now = time.perf_counter()
        if now - self._last_print >= self.every_seconds:
            self._last_print = now
            self._write(f"{self._where(index + 1)}  loss {loss:.4f}")

    def end_epoch(self, logs: dict[str, Any]) -> None:
        if not self.enabled:
            return
        seconds = time.perf_counter() - self._epoch_start
        if self._inner is not None:
            kept = not (self._stacked or self.in_steps)  # the epoch's line: bar and metrics
            if kept:
                self._inner.set_postfix_str(format_logs(logs), refresh=True)
            self._inner.close()
            self._inner = None
            if kept:
                return
        if self._outer is not None:
            self._outer.update(1)
            self._outer.set_postfix_str(format_logs(logs), refresh=True)
            return
        self._write(f"{self._where()}  {format_logs(logs)}  ({format_seconds(seconds)})")

    def close(self) -> None:
        for bar in (self._inner, self._outer):
            if bar is not None:
                bar.close()
        self._inner = self._outer = None

    def message(self, text: str) -> None:
        """A line that does not break the bars."""
        if not self.enabled:
            return
        if self.use_bars:
            self._bar_class.write(text, file=self.stream)
        else:
            self._write(text)

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (a notebook, JupyterLab, VS Code, Colab).

    IPython is never imported here: a kernel has imported both it and ipykernel already,
    and a plain IPython terminal has no ``kernel`` on its shell.
    """
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    get_ipython = getattr(sys.modules["IPython"], "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return getattr(shell, "kernel", None) is not None


def _choose_display(stream: IO[str]) -> str:
    """"notebook", "terminal" or "lines" (see ``Progress``). A stream the caller chose in a
    notebook (a log file, say) gets lines: only the kernel's own output shows widgets."""
    if in_notebook() and stream in (sys.stdout, sys.stderr):
        return "notebook"
    return "terminal" if _isatty(stream) else "lines"


def _draws_widgets(bar_class: Any) -> bool:
    """Whether ``bar_class`` is tqdm's notebook bar (``tqdm.auto`` found ipywidgets)."""
    return any(c.__module__ == "tqdm.notebook" for c in bar_class.__mro__)


def _has_widgets() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def _bar_class(display: str) -> Any:
    """The tqdm class for ``display`` (None: no bars), imported on first use (keeps
    ``import chainrule`` fast)."""
    if display not in ("notebook", "terminal"):
        return None
    try:
        # tqdm.auto without ipywidgets warns ("IProgress not found") in every training
        # cell and then draws the text bar anyway: ask for the text bar directly
        if display == "notebook" and _has_widgets():
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency, but degrade gracefully
        return None
    return tqdm


def line_printer(stream: IO[str] | None) -> Callable[[str], None]:
    """A function that writes one line to ``stream`` and flushes it, so a run's log keeps
    up with its progress output; with ``stream`` None it writes nothing."""
    def say(text: str) -> None:
        if stream is not None:
            stream.write(text + "\n")
            stream.flush()

    return say
