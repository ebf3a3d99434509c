"""Module.summary(): layers, output shapes for an input, parameter counts (torchinfo's
summary and Keras' model.summary()), for every model family chainrule builds."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.train.zoo import MODELS, make_model


def _sizes(model: nn.Module) -> int:
    return sum(p.data.size for p in model.parameters())


def test_a_784_256_10_mlp_reads_as_torchinfo_would_print_it():
    report = nn.mlp([784, 256, 10]).summary((1, 784))
    # by hand: 784 * 256 weights + 256 biases, 256 * 10 + 10
    assert [r.params for r in report.rows] == [0, 200_960, 0, 2_570]
    assert report.total_params == 203_530 == report.trainable_params
    assert report.non_trainable_params == 0
    assert str(report) == "\n".join([
        "Layer (type)   Output shape   Param #",
        "=====================================",
        "Sequential     [1, 10]             --",
        "  0 (Linear)   [1, 256]       200,960",
        "  1 (ReLU)     [1, 256]            --",
        "  2 (Linear)   [1, 10]          2,570",
        "=====================================",
        "Total params: 203,530 (795.04 KiB)",  # 203,530 float32 = 814,120 bytes
        "Trainable params: 203,530",
        "Non-trainable params: 0",
        "Input: [1, 784] float32"])
    assert repr(report) == str(report)


def test_the_counts_agree_with_pytorch_layer_by_layer():
    torch = pytest.importorskip("torch")
    ours = nn.mlp([784, 256, 10]).summary()
    theirs = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                 torch.nn.Linear(256, 10))
    expected = [sum(p.numel() for p in m.parameters()) for m in theirs]
    assert [r.params for r in ours.rows[1:]] == expected
    assert ours.total_params == sum(p.numel() for p in theirs.parameters())


def test_cnn_output_shapes_agree_with_pytorch_forward_hooks():
    torch = pytest.importorskip("torch")
    model = nn.cnn((1, 12, 12), 10, channels=(4, 8), hidden=(16,))
    report = model.summary((2, 1, 12, 12))
    t = torch.nn
    twin = t.Sequential(t.Conv2d(1, 4, 3, padding="same", bias=False), t.BatchNorm2d(4),
                        t.ReLU(), t.MaxPool2d(2), t.Conv2d(4, 8, 3, padding="same", bias=False),
                        t.BatchNorm2d(8), t.ReLU(), t.MaxPool2d(2), t.Flatten(),
                        t.Linear(72, 16), t.ReLU(), t.Linear(16, 10))
    shapes = []
    for layer in twin:
        layer.register_forward_hook(lambda m, i, o: shapes.append(str(list(o.shape))))
    twin.eval()(torch.zeros(2, 1, 12, 12))
    assert [r.output_shape for r in report.rows[1:]] == shapes
    assert [r.kind for r in report.rows[1:]] == [type(m).__name__ for m in twin]
    assert [r.params for r in report.rows[1:]] == [sum(p.numel() for p in m.parameters())
                                                   for m in twin]
    assert report.rows[0].output_shape == "[2, 10]"


def _families() -> list[tuple[str, nn.Module, tuple[int, ...], object]]:
    cr.manual_seed(0)
    cases = [("mlp", nn.mlp([6, 5, 3]), (2, 6), None),
             ("cnn", nn.cnn((1, 8, 8), 3, channels=(2,), hidden=(4,)), (2, 1, 8, 8), None),
             ("charrnn", nn.CharRNN(11, 4, 5, 2), (2, 7), np.int64),
             ("gpt", nn.GPT(11, 8, 2, 2, 8), (2, 8), np.int64),
             ("gpt-tied", nn.GPT(11, 8, 1, 2, 8, tie_weights=True), (2, 8), np.int64)]
    cases += [(f"zoo-{kind}", make_model(kind, 11, 8, 1, 2, 8, 8), (2, 8), np.int64)
              for kind in MODELS]
    return cases


@pytest.mark.parametrize("name, model, shape, dtype", _families(), ids=lambda c: c
                         if isinstance(c, str) else "")
def test_every_family_counts_each_parameter_once_and_shows_the_real_output(name, model, shape,
                                                                           dtype):
    report = model.summary(shape, dtype=dtype)
    assert report.total_params == _sizes(model) == sum(r.params for r in report.rows)
    assert report.trainable_params == report.total_params
    assert report.total_bytes == sum(p.data.nbytes for p in model.parameters())
    out = model(np.zeros(shape, dtype) if dtype else cr.tensor(np.zeros(shape, np.float32)))
    logits = out[0] if isinstance(out, tuple) else out
    assert report.rows[0].output_shape.startswith(str(list(logits.shape)))
    # every module appears once, in named_modules' order
    assert [r.name for r in report.rows] == [n for n, _ in model.named_modules()]
    assert all(r.output_shape is None for r in model.summary().rows)


def test_a_tied_weight_is_counted_at_its_first_row():
    model = nn.GPT(11, 8, 1, 2, 8, tie_weights=True)
    rows = {r.name: r for r in model.summary().rows}
    assert rows["wte"].params == 11 * 8 and rows["lm_head"].params == 0
    assert model.summary().total_params == _sizes(model) == nn.GPT(11, 8, 1, 2, 8).summary(
        ).total_params - 11 * 8


def test_a_module_called_at_every_step_says_how_often():
    report = make_model("rnn", 11, 8, n_embd=4, n_embd2=6).summary((2, 5), dtype=np.int64)
    cell = {r.name: r for r in report.rows}["cell"]
    assert (cell.output_shape, cell.calls) == ("[2, 6]", 5)
    assert "[2, 6] (5 calls)" in str(report)


def test_depth_folds_the_hidden_modules_into_their_row():
    model = nn.GPT(11, 8, 2, 2, 8)
    (root,) = model.summary(depth=0).rows
    assert root.params == _sizes(model)
    rows = {r.name: r for r in model.summary((1, 8), dtype=np.int64, depth=1).rows}
    assert list(rows) == ["", "wte", "wpe", "blocks", "ln_f", "lm_head"]
    assert rows["blocks"].params == _sizes(model.blocks)
    assert rows["blocks"].output_shape == "[1, 8, 8]"
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="depth must be a whole number >= 0"):
            model.summary(depth=bad)


def test_frozen_parameters_get_their_own_column():
    model = nn.mlp([4, 3, 2])
    model[0].weight.requires_grad_(False)
    report = model.summary((1, 4))
    assert (report.trainable_params, report.non_trainable_params) == (11, 12)
    assert [(r.params, r.trainable) for r in report.rows] == [(0, 0), (15, 3), (0, 0), (8, 8)]
    header, _, _, first, *_ = str(report).splitlines()
    assert header.split("   ")[-1] == "Non-trainable" and first.endswith("15              12")
    assert "Non-trainable</th>" in report._repr_html_()


def test_without_an_input_the_shapes_column_is_left_out():
    text = str(nn.mlp([784, 256, 10]).summary())
    assert "Output shape" not in text and "Input:" not in text
    assert text.splitlines()[3] == "  0 (Linear)   200,960"


def test_the_html_table_escapes_names():
    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads = nn.ModuleDict({"<b>&": nn.Linear(4, 2)})

        def forward(self, x):
            return self.heads["<b>&"](x)

    page = Heads().summary((3, 4))._repr_html_()
    assert page.count("<table>") == 1 and "<b>" not in page
    assert "&lt;b&gt;&amp; (Linear)</td>" in page and ">[3, 2]</td>" in page
    assert "Total params: 10 (40 B)" in page


def test_the_model_is_left_as_it_was():
    model = nn.cnn((1, 8, 8), 3, channels=(2,), hidden=(4,), dropout=0.5).train()
    x = np.ones((4, 1, 8, 8), np.float32)
    running = model[1].running_mean.data.copy()
    cr.manual_seed(0)
    model.summary(x)
    assert all(m.training for m in model.modules())
    assert all("forward" not in m.__dict__ for m in model.modules())
    np.testing.assert_array_equal(model[1].running_mean.data, running)  # eval: no update
    assert all(p.grad is None for p in model.parameters())
    # eval: no dropout mask drawn, so the random stream goes on as without the summary
    after_summary = model(x).data
    cr.manual_seed(0)
    np.testing.assert_array_equal(model(x).data, after_summary)
    # and after a forward that fails, too
    with pytest.raises(ValueError, match="forward failed"):
        model.summary((1, 3, 8, 8))
    assert all(m.training and "forward" not in m.__dict__ for m in model.modules())


def test_an_example_input_can_be_an_array_or_a_tensor():
    model = nn.mlp([3, 2])
    for example in (np.ones((5, 3)), cr.tensor(np.ones((5, 3), np.float32))):
        assert model.summary(example).inputs.startswith("[5, 3]")
        assert model.summary(input_data=example).rows[0].output_shape == "[5, 2]"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"input_size": (1, 0)}, ValueError, "input_size must be a shape of positive whole"),
    ({"input_size": "784"}, ValueError, r"such as \(1, 784\).*got '784'"),
    ({"input_size": (1, 3), "input_data": np.ones((1, 3))}, ValueError, "not both"),
    ({"input_data": [[1.0, 2.0, 3.0]]}, TypeError, "input 0 must be a numpy array or a Tensor"),
])
def test_bad_inputs_are_refused_saying_what_is_expected(kwargs, error, message):
    with pytest.raises(error, match=message):
        nn.mlp([3, 2]).summary(**kwargs)


def test_a_forward_that_fails_names_the_input_and_the_fix():
    with pytest.raises(ValueError, match=r"GPT's forward failed on an input of \[1, 8\] "
                                         r"float32: Embedding: indices must be integers.*"
                                         r"dtype=np.int64"):
        nn.GPT(11, 8, 1, 2, 8).summary((1, 8))
