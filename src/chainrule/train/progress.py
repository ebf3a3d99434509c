"""Progress reporting: tqdm bars on a terminal, plain lines everywhere else.

Progress bars redraw with carriage returns, which in a CI log or a redirected file
become one enormous line of overwritten text. So bars are used only when stderr
is a terminal; otherwise a plain line is printed at the end of every epoch and,
within long epochs, every ``every_seconds`` seconds.
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


class Progress:
    """Reports training progress per batch and per epoch (``enabled=False`` is silent)."""

    def __init__(self, epochs: int, batches: int, enabled: bool = True,
                 stream: IO[str] | None = None, every_seconds: float = 10.0) -> None:
        self.epochs, self.batches = epochs, batches
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.every_seconds = every_seconds
        self.use_bars = enabled and _isatty(self.stream) and _tqdm() is not None
        self._outer = self._inner = None
        self._last_print = 0.0
        self._epoch = 0
        self._epoch_start = 0.0
        if self.use_bars:
            self._outer = _tqdm()(total=epochs, desc="epochs", unit="epoch", file=self.stream,
                                  position=0, dynamic_ncols=True)

    def start_epoch(self, epoch: int) -> None:
        self._epoch = epoch
        self._epoch_start = self._last_print = time.perf_counter()
        if self.use_bars:
            self._inner = _tqdm()(total=self.batches, desc=f"epoch {epoch}", unit="batch",
                                  file=self.stream, position=1, leave=False,
                                  dynamic_ncols=True)

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
            self._write(f"epoch {self._epoch}/{self.epochs}  batch {index + 1}/{self.batches}  "
                        f"loss {loss:.4f}")

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
        self._write(f"epoch {self._epoch}/{self.epochs}  {format_logs(logs)}  ({seconds:.1f}s)")

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
