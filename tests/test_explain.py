"""The BP explainer: every number equals autograd's and the numerical gradient; the checks
can fail; the Markdown of the default example is stable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule.explain.derivation as D
from chainrule import nn
from chainrule.autograd.mode import no_grad
from chainrule.explain import default_example, derive, explain

GOLDEN = Path(__file__).parent / "golden" / "explain_default.md"


def test_default_example_every_number_checked():
    model, x, y = default_example()
    d = derive(model, x, y, "cross-entropy", lr=0.5)
    assert len(d.checks) == 7 and d.all_ok
    for c in d.checks:
        np.testing.assert_allclose(c.formula, c.autograd, atol=1e-12)
        if c.numeric is not None:
            np.testing.assert_allclose(c.formula, c.numeric, atol=1e-8)
    # forward values by hand
    z1 = x @ np.array([[0.15, 0.20], [0.25, 0.30]]).T + 0.35
    np.testing.assert_allclose(d.layers[0].Z, z1)
    np.testing.assert_allclose(d.layers[0].A, 1 / (1 + np.exp(-z1)))
    a2 = d.layers[1].A
    assert d.loss == pytest.approx(-np.log(a2[[0, 1], [0, 1]]).mean())
    np.testing.assert_allclose(d.layers[1].delta, a2 - y)


def random_case(seed: int):
    rng = np.random.default_rng(seed)
    n_layers = rng.integers(1, 5)
    sizes = list(rng.integers(1, 5, n_layers + 1))
    loss = ["mse", "bce", "cross-entropy"][seed % 3]
    hidden = ["sigmoid", "tanh", "relu", "softplus", "identity"]
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = nn.Linear(int(n_in), int(n_out), dtype=np.float64)
        with no_grad():
            lin.weight.copy_(rng.normal(0, 0.8, lin.weight.shape))
            lin.bias.copy_(rng.normal(0, 0.3, lin.bias.shape))
        last = k == n_layers - 1
        act = {"cross-entropy": "softmax", "bce": "sigmoid"}.get(loss) if last else None
        act = act or hidden[rng.integers(0, len(hidden))]
        layers += [lin, nn.activation(act)]
    m = int(rng.integers(1, 4))
    x = rng.normal(size=(m, sizes[0]))
    if loss == "cross-entropy":
        y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)]
    else:
        y = rng.uniform(0.05, 0.95, (m, sizes[-1]))
    return nn.Sequential(*layers), x, y, loss, float(rng.choice([0, 0.3])), \
        float(rng.choice([0, 0.2]))


@pytest.mark.parametrize("seed", range(24))
def test_random_architectures_never_mismatch(seed):
    model, x, y, loss, l1, l2 = random_case(seed)
    d = derive(model, x, y, loss, lr=0.1, l1=l1, l2=l2)
    assert d.all_ok, [(c.name, c.diff_autograd, c.diff_numeric) for c in d.checks if not c.ok]
    for columns in (False, True):
        assert "FAILED" not in explain(model, x, y, loss, l1=l1, l2=l2, columns=columns)


def test_a_wrong_derivative_is_caught(monkeypatch):
    """The classic slip: tanh's derivative written under a sigmoid network."""
    model, x, y = default_example()
    wrong = dict(D.ACTIVATIONS)
    wrong["sigmoid"] = (D.ACTIVATIONS["sigmoid"][0], D.ACTIVATIONS["tanh"][1],
                        "1 - A^2", "1 - A^2")
    monkeypatch.setattr(D, "ACTIVATIONS", wrong)
    d = derive(model, x, y)
    assert not d.all_ok
    text = explain(model, x, y)
    assert "✗ FAILED: delta^(1)" in text and "MISMATCH" in text


def test_markdown_is_stable():
    model, x, y = default_example()
    assert explain(model, x, y, format="markdown") == GOLDEN.read_text()


def test_html_is_self_contained_and_columns_transpose():
    model, x, y = default_example()
    page = explain(model, x, y, format="html")
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page and "<script" not in page
    rows = explain(model, x, y, format="text")
    cols = explain(model, x, y, format="text", columns=True)
    assert "X = [[0.0500 0.1000]\n     [0.2000 0.3000]]" in rows
    assert "X = [[0.0500 0.2000]\n     [0.1000 0.3000]]" in cols
    assert "dW^(2) = delta^(2) A^(1)T / m" in cols


def test_steps_lower_the_loss():
    model, x, y = default_example()
    d = derive(model, x, y, lr=0.5, steps=5)
    assert len(d.losses) == 6
    assert all(b < a for a, b in zip(d.losses, d.losses[1:], strict=False))


def test_unsupported_models_are_refused():
    with pytest.raises(ValueError, match="softmax is supported only as the output"):
        derive(nn.Sequential(nn.Linear(2, 2), nn.Softmax(), nn.Linear(2, 2)), np.ones((1, 2)),
               np.ones((1, 2)), "mse")
    with pytest.raises(ValueError, match="cross-entropy needs a softmax output"):
        derive(nn.Sequential(nn.Linear(2, 2)), np.ones((1, 2)), np.ones((1, 2)))


def test_cli(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "chainrule", "explain", *args],
                              capture_output=True, text=True, timeout=60)

    ok = run("--steps", "3")
    assert ok.returncode == 0 and "all match ✓" in ok.stdout and "after step 3" in ok.stdout
    custom = run("--layers", "3,4,2", "--x", "1,2,3;0,1,0", "--y", "0;1", "--activation",
                 "tanh", "--l2", "0.1", "--format", "markdown", "--out", str(tmp_path / "e.md"))
    assert custom.returncode == 0 and "bmatrix" in (tmp_path / "e.md").read_text()
    bad = run("--x", "1,2", "--y", "0,1", "--layers", "3,2")
    assert bad.returncode == 2 and bad.stderr.startswith("chainrule: error: explain:")
    assert "Traceback" not in bad.stderr


def test_bptt_derivation_sums_over_time_and_checks_out():
    from chainrule.explain.bptt import default_rnn, derive_bptt, render_bptt

    params, xs, ys = default_rnn()
    d = derive_bptt(params, xs, ys)
    assert len(d.checks) == 5 and d.all_ok
    for name in ("U", "W", "V", "b", "c"):
        assert len(d.per_step[name]) == 3
        np.testing.assert_allclose(d.grads[name], sum(d.per_step[name]))
    # the same numbers from the library's own RNN layer (PyTorch's layout: W_ih = U,
    # W_hh = W) with a linear head V, c
    rnn = nn.RNN(2, 2, dtype=np.float64)
    with no_grad():
        rnn.weight_ih_l0.copy_(params["U"])
        rnn.weight_hh_l0.copy_(params["W"])
        rnn.bias_ih_l0.copy_(params["b"])
        rnn.bias_hh_l0.fill_(0.0)
    import chainrule.functional as F
    from chainrule import tensor

    out, _ = rnn(xs[None])
    logits = out[0] @ tensor(params["V"]).T + tensor(params["c"])
    F.cross_entropy(logits, ys, reduction="sum").backward()
    np.testing.assert_allclose(rnn.weight_hh_l0.grad.data, d.grads["W"], atol=1e-12)
    np.testing.assert_allclose(rnn.weight_ih_l0.grad.data, d.grads["U"], atol=1e-12)
    text = render_bptt(d, "markdown")
    assert "sum_t da_t h_(t-1)^T" in text and "all match ✓" in text
    run = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--rnn"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "5 of 5 weight gradients" in run.stdout
