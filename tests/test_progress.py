"""Progress output: tqdm bars on a terminal, plain lines (no carriage returns) elsewhere."""

from __future__ import annotations

import io

from chainrule.train.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(stream: io.StringIO, every_seconds: float = 10.0) -> str:
    progress = Progress(epochs=2, batches=3, stream=stream, every_seconds=every_seconds)
    for epoch in (1, 2):
        progress.start_epoch(epoch)
        for index in range(3):
            progress.batch(index, loss=1.0 / (epoch + index))
        progress.end_epoch({"loss": 0.5 / epoch, "accuracy": 0.8})
    progress.message("done")
    progress.close()
    return stream.getvalue()


def test_a_terminal_gets_tqdm_bars():
    out = run(Terminal())
    assert "\r" in out  # tqdm redraws in place
    assert "epochs" in out and "epoch 1" in out and "done" in out


def test_a_log_file_gets_plain_lines_per_epoch_and_no_carriage_returns():
    out = run(io.StringIO())
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[0].startswith("epoch 1/2  loss 0.5000  accuracy 0.8000")
    assert lines[1].startswith("epoch 2/2  loss 0.2500")
    assert lines[2] == "done"


def test_long_epochs_print_a_batch_line_every_few_seconds():
    out = run(io.StringIO(), every_seconds=0.0)
    assert "epoch 1/2  batch 1/3  loss 1.0000" in out
    assert out.count("batch ") == 6


def test_disabled_progress_is_silent():
    stream = io.StringIO()
    progress = Progress(epochs=1, batches=1, enabled=False, stream=stream)
    progress.start_epoch(1)
    progress.batch(0, 1.0)
    progress.end_epoch({"loss": 1.0})
    progress.message("x")
    assert stream.getvalue() == ""
