"""Progress reporting: tqdm bars on a terminal, plain lines everywhere else.

Progress bars redraw with carriage returns, which in a CI log or a redirected file
become one enormous line of overwritten text. So bars are used only when stderr
is a terminal; otherwise a plain line is printed at the end of every epoch and,
within long epochs, every ``every_seconds`` seconds. A run counted in steps rather
than epochs (``Progress.for_steps``, the text model's) reports "step 120/1000".
"""

from __future__ import annotations

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
    """Reports training progress per batch and per epoch (``enabled=False`` is silent)."""

    def __init__(self, epochs: int, batches: int, enabled: bool = True,
                 stream: IO[str] | None = None, every_seconds: float = 10.0,
                 in_steps: bool = False) -> None:
        self.epochs, self.batches = epochs, batches
        self.in_steps = in_steps  # one pass of ``batches`` steps, reported as steps
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.every_seconds = every_seconds
        self.use_bars = enabled and _isatty(self.stream) and _tqdm() is not None
        self._outer = self._inner = None
        self._last_print = 0.0
        self._epoch = 0
        self._epoch_start = 0.0
        if self.use_bars and not in_steps:
            self._outer = _tqdm()(total=epochs, desc="epochs", unit="epoch", file=self.stream,
                                  position=0, dynamic_ncols=True)

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
            self._inner = _tqdm()(total=self.batches, desc=desc, unit=unit,
                                  file=self.stream, position=0 if self.in_steps else 1,
                                  leave=self.in_steps, dynamic_ncols=True)

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
            self._inner.close()
            self._inner = None
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
            _tqdm().write(text, file=self.stream)
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


def _tqdm() -> Any:
    """tqdm's class, imported on first use (keeps ``import chainrule`` fast)."""
    try:
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
