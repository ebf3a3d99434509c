"""Progress output: tqdm bars on a terminal, plain lines (no carriage returns) elsewhere."""

from __future__ import annotations

import io

import pytest

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


# -- in a Jupyter kernel ------------------------------------------------------------------------

class _Shell:
    """What IPython's get_ipython() returns: a kernel's shell has a ``kernel``."""

    def __init__(self, kernel: object) -> None:
        self.kernel = kernel


def _pretend_jupyter(monkeypatch, kernel: object | None = object()) -> None:
    """sys.modules as a Jupyter kernel has them: ipykernel imported, IPython's shell with a
    kernel (kernel=None: a plain IPython terminal, which has imported no ipykernel)."""
    import sys
    import types

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: _Shell(kernel)
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    if kernel is None:
        monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    else:
        monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))


@pytest.mark.parametrize("widgets", [True, False])
def test_a_notebook_gets_tqdm_auto_bars_on_its_own_output(monkeypatch, widgets):
    import sys

    import tqdm
    import tqdm.auto

    from chainrule.train import progress as progress_module

    _pretend_jupyter(monkeypatch)
    monkeypatch.setattr(progress_module, "_has_widgets", lambda: widgets)
    progress = Progress(epochs=2, batches=3)
    try:
        assert progress.display == "notebook" and progress.stream is sys.stderr
        # without ipywidgets, tqdm's text bar itself (tqdm.auto would warn, then draw it)
        assert progress._bar_class is (tqdm.auto.tqdm if widgets else tqdm.tqdm)
    finally:
        progress.close()
    # a stream the caller chose (a log file) keeps plain lines, even in a notebook
    stream = io.StringIO()
    assert Progress(epochs=1, batches=1, stream=stream).display == "lines"
    assert "\r" not in run(stream)


def test_a_notebook_is_told_from_a_terminal_and_a_pipe(monkeypatch):
    from chainrule.train.progress import in_notebook

    assert not in_notebook()  # pytest's process is no kernel
    assert Progress(epochs=1, batches=1, stream=Terminal()).display == "terminal"
    assert Progress(epochs=1, batches=1, stream=io.StringIO()).display == "lines"
    assert Progress(epochs=1, batches=1, enabled=False).display == "off"
    _pretend_jupyter(monkeypatch, kernel=None)  # IPython in a terminal: no kernel
    assert not in_notebook()
    _pretend_jupyter(monkeypatch)
    assert in_notebook()


def test_detecting_a_notebook_never_imports_ipython(monkeypatch):
    import sys

    from chainrule.train.progress import in_notebook

    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel") or object())
    assert not in_notebook() and "IPython" not in sys.modules


def test_a_notebook_without_widgets_keeps_one_text_bar_per_epoch(monkeypatch, capsys):
    _pretend_jupyter(monkeypatch)  # tqdm.auto here is the text bar: no ipywidgets kernel
    progress = Progress(epochs=2, batches=3)
    for epoch in (1, 2):
        progress.start_epoch(epoch)
        for index in range(3):
            progress.batch(index, loss=1.0)
        progress.end_epoch({"loss": 0.5 / epoch, "accuracy": 0.8})
    progress.close()
    err = capsys.readouterr().err
    assert "\x1b[" not in err  # no cursor movements, which an output area cannot follow
    last = [line.rsplit("\r", 1)[-1].strip() for line in err.strip().split("\n")]
    assert len(last) == 2
    assert last[0].startswith("epoch 1/2: 100%") and last[1].startswith("epoch 2/2: 100%")
    assert last[0].endswith("loss 0.5000  accuracy 0.8000]")
    assert last[1].endswith("loss 0.2500  accuracy 0.8000]") and "epochs" not in err


def test_widgets_and_a_terminal_stack_the_batch_bar_under_the_epoch_bar():
    import tqdm.notebook
    import tqdm.std

    from chainrule.train.progress import _draws_widgets

    assert _draws_widgets(tqdm.notebook.tqdm) and not _draws_widgets(tqdm.std.tqdm)
    assert "\x1b[A" in run(Terminal())  # the batch bar sits under the epoch bar
