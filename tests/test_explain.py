"""The BP explainer: every number equals autograd's and the numerical gradient; the checks
can fail; the Markdown of the default example is stable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule.explainer.derivation as D
from chainrule import explain, nn
from chainrule.autograd.mode import no_grad
from chainrule.explainer import default_example, derive
from chainrule.explainer.render import ROUND_OFF, difference_text
from chainrule.nn.activation import activation_names, get_activation

GOLDEN = Path(__file__).parent / "golden" / "explain_default.md"


def test_default_example_every_number_checked():
    model, x, y = default_example()
    d = derive(model, x, y, "cross-entropy", lr=0.5)
    assert len(d.checks) == 7 and d.all_ok
    assert {c.name for c in d.checks} == {"delta^(1)", "dW^(1)", "db^(1)", "delta^(2)",
                                          "dW^(2)", "db^(2)", "dA^(1)"}
    for c in d.checks:  # every gradient, delta and dA included, has both checks
        assert c.numeric is not None, c.name
        np.testing.assert_allclose(c.formula, c.autograd, atol=1e-12)
        np.testing.assert_allclose(c.formula, c.numeric, atol=1e-8)
        np.testing.assert_allclose(c.numeric, c.autograd, atol=1e-8)
    # forward values by hand
    z1 = x @ np.array([[0.15, 0.20], [0.25, 0.30]]).T + 0.35
    np.testing.assert_allclose(d.layers[0].Z, z1)
    np.testing.assert_allclose(d.layers[0].A, 1 / (1 + np.exp(-z1)))
    a2 = d.layers[1].A
    assert d.loss == pytest.approx(-np.log(a2[[0, 1], [0, 1]]).mean())
    np.testing.assert_allclose(d.layers[1].delta, a2 - y)


HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "identity"]


def random_activation(name: str, rng):
    """The activation module, with a random parameter where it has one."""
    if name == "leaky_relu":
        return nn.LeakyReLU(float(rng.uniform(0.01, 0.5)))
    if name == "elu":
        return nn.ELU(float(rng.uniform(0.5, 2.0)))
    if name == "softplus":
        return nn.Softplus(float(rng.uniform(0.5, 2.0)))
    return nn.activation(name)


def random_case(seed: int):
    rng = np.random.default_rng(seed)
    n_layers = rng.integers(1, 5)
    sizes = list(rng.integers(1, 5, n_layers + 1))
    loss = ["mse", "bce", "cross-entropy"][seed % 3]
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = nn.Linear(int(n_in), int(n_out), dtype=np.float64)
        with no_grad():
            lin.weight.copy_(rng.normal(0, 0.8, lin.weight.shape))
            lin.bias.copy_(rng.normal(0, 0.3, lin.bias.shape))
        last = k == n_layers - 1
        act = {"cross-entropy": "softmax", "bce": "sigmoid"}.get(loss) if last else None
        act = act or HIDDEN[rng.integers(0, len(HIDDEN))]
        layers += [lin, random_activation(act, rng)]
    m = int(rng.integers(1, 4))
    x = rng.normal(size=(m, sizes[0]))
    if loss == "cross-entropy":
        y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)]
    else:
        y = rng.uniform(0.05, 0.95, (m, sizes[-1]))
    return nn.Sequential(*layers), x, y, loss, float(rng.choice([0, 0.3])), \
        float(rng.choice([0, 0.2]))


SEEDS = range(24)


def test_random_cases_cover_every_activation_and_loss():
    used = {(type(m).__name__, random_case(seed)[3]) for seed in SEEDS
            for m in random_case(seed)[0] if not isinstance(m, nn.Linear)}
    names = {name for name, _ in used}
    assert {"Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softplus", "Identity",
            "Softmax"} <= names
    # the new activations also as the output layer, under mse, where f' enters delta^(L)
    assert {("LeakyReLU", "mse"), ("ELU", "mse")} <= used


@pytest.mark.parametrize("seed", SEEDS)
def test_random_architectures_never_mismatch(seed):
    model, x, y, loss, l1, l2 = random_case(seed)
    d = derive(model, x, y, loss, lr=0.1, l1=l1, l2=l2)
    assert d.all_ok, [(c.name, c.diff_autograd, c.diff_numeric) for c in d.checks if not c.ok]
    n = len(d.layers)
    assert len(d.checks) == 4 * n - 1  # delta, dW, db per layer and dA between layers
    assert all(c.numeric is not None for c in d.checks)
    for columns in (False, True):
        assert "FAILED" not in explain(model, x, y, loss, l1=l1, l2=l2, columns=columns)


def _plant_tanh_derivative_under_sigmoid(monkeypatch):
    """f'(Z) = 1 - A^2 (tanh's) wherever the explainer asks for sigmoid's."""
    right = D.derivative
    monkeypatch.setattr(D, "derivative",
                        lambda name: right("tanh") if name == "sigmoid" else right(name))


def test_a_wrong_derivative_is_caught(monkeypatch):
    """The classic slip: tanh's derivative written under a sigmoid network."""
    model, x, y = default_example()
    _plant_tanh_derivative_under_sigmoid(monkeypatch)
    d = derive(model, x, y)
    assert not d.all_ok
    text = explain(model, x, y)
    assert "✗ FAILED: delta^(1)" in text and "MISMATCH" in text


def _fooled_autograd(params, x, y, loss, l1, l2):
    """An 'engine' that returns the formula's own numbers: only central differences are
    left to catch a wrong formula."""
    _, back = D._gradients(params, x, y, loss, l1, l2)
    m = len(x)
    return ([dw for _, dw, _, _ in back], [db for _, _, db, _ in back],
            [(delta / m, da / m) for delta, _, _, da in back])


def test_central_differences_alone_catch_a_wrong_delta_and_da(monkeypatch):
    """With autograd fooled, the numerical checks of delta^(l) and dA^(l) still fail
    loudly (mse: the output's own f' enters delta^(2), and through it dA^(1))."""
    model, x, y = default_example("sigmoid", "sigmoid")
    _plant_tanh_derivative_under_sigmoid(monkeypatch)
    monkeypatch.setattr(D, "_autograd", _fooled_autograd)
    d = derive(model, x, y, "mse")
    failed = {c.name for c in d.checks if not c.ok}
    assert {"delta^(2)", "dA^(1)", "delta^(1)"} <= failed
    assert all(c.diff_autograd == 0 for c in d.checks)
    text = explain(model, x, y, "mse")
    assert "✗ FAILED: dA^(1)" in text and "MISMATCH" in text


def test_leaky_relu_and_elu_print_their_derivatives():
    rng = np.random.default_rng(0)
    lin1, lin2 = nn.Linear(2, 3, dtype=np.float64), nn.Linear(3, 2, dtype=np.float64)
    with no_grad():
        for p in (*lin1.parameters(), *lin2.parameters()):
            p.copy_(rng.normal(0, 1, p.shape))
    model = nn.Sequential(lin1, nn.LeakyReLU(0.2), lin2, nn.ELU(1.5))
    x, y = rng.normal(size=(3, 2)), rng.uniform(size=(3, 2))
    d = derive(model, x, y, "mse")
    assert d.all_ok and [layer.param for layer in d.layers] == [0.2, 1.5]
    z1 = d.layers[0].Z
    np.testing.assert_allclose(d.layers[0].A, np.where(z1 > 0, z1, 0.2 * z1))
    text = explain(model, x, y, "mse")
    assert "f'(Z) = [Z > 0] + s [Z <= 0] for leaky_relu, s = 0.2" in text
    assert "f'(Z) = [Z > 0] + (A + alpha) [Z <= 0] for elu, alpha = 1.5" in text
    assert "activation leaky_relu, s = 0.2" in text
    markdown = explain(model, x, y, "mse", format="markdown")
    assert r"(A + \alpha) \odot \mathbb{1}[Z \le 0],\ \alpha = 1.5" in markdown


def test_markdown_is_stable():
    model, x, y = default_example()
    assert explain(model, x, y, format="markdown") == GOLDEN.read_text()


def test_passed_checks_print_round_off_as_a_bound():
    """The digits of a round-off difference change with the BLAS kernel (OPENBLAS_CORETYPE)
    and the order of the sums, so the golden file must hold none: a passed check prints
    the bound, and only a larger difference its digits."""
    text = GOLDEN.read_text()
    assert text.count("(max |diff| < 1e-12, numerical < 1e-08)") == 7
    assert not re.search(r"\de-(1[3-9]|[2-9]\d)", text)  # no number below 1e-12 is printed
    assert difference_text(5.6e-17, ROUND_OFF) == "< 1e-12"
    assert difference_text(2.5e-7, ROUND_OFF) == "2.5e-07"


def test_html_is_self_contained_and_columns_transpose():
    model, x, y = default_example()
    page = explain(model, x, y, format="html")
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page
    assert_self_contained(page)
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
    with pytest.raises(ValueError, match="mse needs an elementwise output .* not softmax"):
        derive(nn.Sequential(nn.Linear(2, 2), nn.Softmax()), np.ones((1, 2)),
               np.ones((1, 2)) / 2, "mse")
    with pytest.raises(ValueError, match=r"layer 1 \(Softmax\(axis=0\)\)"):
        derive(nn.Sequential(nn.Linear(2, 2), nn.Softmax(axis=0)), np.ones((1, 2)),
               np.eye(2)[:1])
    with pytest.raises(ValueError, match=r"layer 2 \(Sigmoid\) must be Linear or one "
                                         r"activation right after a Linear \(.*LeakyReLU"):
        derive(nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Sigmoid()), np.ones((1, 2)),
               np.ones((1, 2)) / 2, "mse")


def test_targets_that_the_formulas_do_not_cover_are_refused():
    model = nn.Sequential(nn.Linear(2, 2, dtype=np.float64), nn.Sigmoid())
    with pytest.raises(ValueError, match="bce needs targets between 0 and 1, got values "
                                         "from 0 to 2"):
        derive(model, np.ones((2, 2)), np.array([[0.0, 1.0], [2.0, 0.0]]), "bce")
    softmax = nn.Sequential(nn.Linear(2, 2, dtype=np.float64), nn.Softmax())
    with pytest.raises(ValueError, match="row 1 sums to 2"):
        derive(softmax, np.ones((2, 2)), np.array([[0.0, 1.0], [1.0, 1.0]]))


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


def explain_cli(capsys, *args):
    """``chainrule explain ARGS`` in this process: (exit code, stdout, stderr)."""
    from chainrule.cli import main

    code = main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_cli_error(capsys, *args, says: str):
    """One line on stderr, 'chainrule: error:', exit 2, and the message says ``says``."""
    code, out, err = explain_cli(capsys, *args)
    assert code == 2 and out == "", (args, code, err)
    assert err.startswith("chainrule: error: explain:") and err.count("\n") == 1, err
    assert says in err, err
    return err


def test_cli_layers_alone_uses_the_default_data_or_random_examples(capsys):
    code, out, _ = explain_cli(capsys, "--layers", "2,2,3")
    assert code == 0 and "all match ✓" in out
    assert "X = [[0.0500 0.1000]\n     [0.2000 0.3000]]" in out  # the default example's data
    assert "W^(1) = [[0.1500" not in out  # with random weights
    code, out, _ = explain_cli(capsys, "--layers", "3,4,4,2", "--loss", "mse")
    assert code == 0 and "sizes 3 -> 4 -> 4 -> 2; m = 2 examples" in out
    assert "11 gradients checked" in out and "all match ✓" in out
    code, out, _ = explain_cli(capsys, "--layers", "3,1", "--loss", "bce")
    assert code == 0 and "all match ✓" in out
    assert_cli_error(capsys, "--layers", "2,a,3", says="--layers must be whole numbers")
    assert_cli_error(capsys, "--layers", "3", says="at least 2 positive sizes")


def test_cli_activation_and_loss_apply_to_the_default_example(capsys):
    code, out, _ = explain_cli(capsys, "--activation", "elu,softmax")
    assert code == 0 and "all match ✓" in out
    assert "activation elu, alpha = 1" in out and "for elu" in out
    assert "W^(1) = [[0.1500 0.2000]" in out  # still the default example's weights
    code, out, _ = explain_cli(capsys, "--activation", "leaky-relu")
    assert code == 0 and "activation leaky_relu, s = 0.01" in out
    for loss in ("mse", "bce"):  # a sigmoid output layer then
        code, out, _ = explain_cli(capsys, "--loss", loss)
        assert code == 0 and "all match ✓" in out, loss
        assert "layer 2: W^(2) (3, 2) (out, in), activation sigmoid" in out
    err = assert_cli_error(capsys, "--activation", "swish", says="unknown activation 'swish'")
    assert "leaky_relu, elu" in err
    assert_cli_error(capsys, "--loss", "mse", "--activation", "sigmoid,softmax",
                     says="end --activation with e.g. sigmoid")
    assert_cli_error(capsys, "--activation", "sigmoid,sigmoid",
                     says="--loss cross-entropy needs a softmax output layer")
    assert_cli_error(capsys, "--activation", "tanh,relu,softmax", says="1 name or 2")


def test_cli_csv(capsys, tmp_path):
    binary, three = tmp_path / "binary.csv", tmp_path / "three.csv"
    binary.write_text("a,b,label\n0.1,0.2,no\n0.3,0.1,yes\n0.5,0.5,yes\n")
    three.write_text("a,b,c,kind\n0.1,0.2,1,0\n0.3,0.1,0,1\n0.5,0.5,1,2\n")
    code, out, _ = explain_cli(capsys, "--csv", str(binary), "--loss", "bce")
    assert code == 0 and "all match ✓" in out
    assert "sizes 2 -> 2 -> 1; m = 3 examples" in out  # one sigmoid output for 2 classes
    assert "Y = [[0.0000]\n     [1.0000]\n     [1.0000]]" in out
    code, out, _ = explain_cli(capsys, "--csv", str(three), "--label-column", "kind")
    assert code == 0 and "sizes 3 -> 2 -> 3" in out and "all match ✓" in out
    assert "Y = [[1.0000 0.0000 0.0000]" in out  # one-hot classes
    code, out, _ = explain_cli(capsys, "--csv", str(three), "--label-column", "kind",
                               "--layers", "3,4,3", "--loss", "bce")
    assert code == 0 and "all match ✓" in out
    err = assert_cli_error(capsys, "--csv", str(three), "--label-column", "kind", "--loss",
                           "bce", "--layers", "3,2,1", says=f"the labels of {three}")
    assert "end --layers with 3" in err and "--y" not in err
    err = assert_cli_error(capsys, "--csv", str(three), "--label-column", "kind", "--layers",
                           "3,2,2", says="class indices 0..1")
    assert "--y" not in err
    assert_cli_error(capsys, "--csv", str(three), "--layers", "2,2,3",
                     says="no column 'label'; its columns are ['a', 'b', 'c', 'kind']; name the "
                          "label column with --label-column")
    assert_cli_error(capsys, "--csv", str(three), "--label-column", "kind", "--layers",
                     "2,2,3", says=f"--layers starts with 2 inputs but the features of {three}")


def test_cli_refuses_options_it_would_ignore(capsys):
    assert_cli_error(capsys, "--y", "0;1", says="--y needs --x too")
    assert_cli_error(capsys, "--x", "1,2", says="--x needs --y too")
    assert_cli_error(capsys, "--weights-seed", "3", says="the default example has fixed weights")
    assert_cli_error(capsys, "--label-column", "kind", says="give --csv too")
    assert_cli_error(capsys, "--rnn", "--layers", "2,2", says="not --layers")
    assert_cli_error(capsys, "--x", "1,2;3", "--y", "0;1", says="same length")
    assert_cli_error(capsys, "--x", "1,2;3,4", "--y", "0;1", "--layers", "2,1",
                     says="cross-entropy needs one output per class")


def test_cli_refuses_networks_and_data_too_big_to_print_and_check(capsys, tmp_path):
    assert_cli_error(capsys, "--layers", "300,300,10",
                     says="has 93,000 weights; explain prints and numerically checks every one")
    rows = "\n".join(f"{i % 7},{i % 3},{i % 2}" for i in range(501))
    (tmp_path / "big.csv").write_text("a,b,label\n" + rows + "\n")
    assert_cli_error(capsys, "--csv", str(tmp_path / "big.csv"),
                     says="has 501 examples; explain prints every one, so give at most 500")


def test_bptt_derivation_sums_over_time_and_checks_out():
    from chainrule.explainer.bptt import default_rnn, derive_bptt, render_bptt

    params, xs, ys = default_rnn()
    d = derive_bptt(params, xs, ys)
    assert d.all_ok
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
    assert run.returncode == 0
    assert "29 gradients checked against autograd and central differences" in run.stdout


BPTT_CHECKS = ({f"{e}_{t}" for e in ("do", "dh", "da") for t in (1, 2, 3)}
               | {f"d{k} (step {t})" for k in "UWVbc" for t in (1, 2, 3)}
               | {f"d{k}" for k in "UWVbc"})


def test_bptt_every_printed_gradient_is_checked_both_ways():
    """do_t, dh_t, da_t at every step, each step's share of every weight gradient, and the
    sums: each equals autograd's and the central differences' (h_t perturbed and the later
    steps re-run, so dh_t includes the error flowing back from step t + 1)."""
    from chainrule.explainer.bptt import default_rnn, derive_bptt, render_bptt

    d = derive_bptt(*default_rnn())
    assert {c.name for c in d.checks} == BPTT_CHECKS and len(d.checks) == 29
    for c in d.checks:
        np.testing.assert_allclose(c.formula, c.autograd, atol=1e-12, err_msg=c.name)
        np.testing.assert_allclose(c.formula, c.numeric, atol=1e-8, err_msg=c.name)
        assert c.ok, c.name
    # before the last step dh_t is more than V^T do_t: the error flowing back in time
    assert not np.allclose(d.dh[0], d.params["V"].T @ d.do[0])
    np.testing.assert_allclose(d.dh[2], d.params["V"].T @ d.do[2])
    for fmt in ("text", "markdown", "html"):
        text = render_bptt(d, fmt)
        assert text.count("✓") == 30, fmt  # 29 check lines and the summary
        for name in BPTT_CHECKS:
            assert f"✓ {name} matches autograd" in text, (fmt, name)
    assert ("29 gradients checked against autograd and central differences (9 per-step "
            "errors do_t, dh_t, da_t; 15 per-step shares; 5 weight sums): all match ✓") in text


def _forgets_the_past(V, W, do, h):
    """The classic BPTT slip: dh_t = V^T do_t alone, no error flowing back from t + 1."""
    dh = [V.T @ g for g in do]
    return dh, [g * (1 - ht * ht) for g, ht in zip(dh, h[1:], strict=True)]


def test_bptt_a_wrong_per_step_formula_is_caught(monkeypatch, capsys):
    import chainrule.explainer.bptt as B
    from chainrule.cli import main

    monkeypatch.setattr(B, "backward_through_time", _forgets_the_past)
    d = B.derive_bptt(*B.default_rnn())
    failed = {c.name for c in d.checks if not c.ok}
    # wrong at steps 1 and 2, right at the last one (nothing flows back from t = 4);
    # dW's step-1 share da_1 h_0^T is 0 whatever da_1 is
    assert failed == {"dh_1", "dh_2", "da_1", "da_2", "dU (step 1)", "dU (step 2)",
                      "dW (step 2)", "db (step 1)", "db (step 2)", "dU", "dW", "db"}
    text = B.render_bptt(d)
    assert "✗ FAILED: dh_2 does NOT match" in text and "✓ dh_3 matches" in text
    assert "12 MISMATCH ✗ (see FAILED lines)" in text
    assert main(["explain", "--rnn"]) == 1
    assert "✗ FAILED: da_1 does NOT match" in capsys.readouterr().out


def test_bptt_central_differences_alone_catch_a_wrong_derivative(monkeypatch):
    """With autograd fooled into returning the formulas' own numbers, the numerical checks
    still fail: tanh' written as 1 - h (not 1 - h^2) makes every da_t wrong, and through
    the recursion dh_1 and dh_2 (do_t and dh_3 stay right)."""
    from collections import defaultdict

    import chainrule.explainer.bptt as B

    monkeypatch.setattr(B, "dtanh", lambda h: 1 - h)
    params, xs, ys = B.default_rnn()
    monkeypatch.setattr(B, "_autograd", lambda *a: defaultdict(lambda: np.zeros(())))
    first = B.derive_bptt(params, xs, ys)  # the wrong formulas' numbers
    own = {k: first.grads[k] for k in "UWVbc"}
    for t in range(3):
        own.update({(e, t): getattr(first, e)[t] for e in ("do", "dh", "da")})
        own.update({(k, t): first.per_step[k][t] for k in "UWVbc"})
    monkeypatch.setattr(B, "_autograd", lambda *a: own)
    d = B.derive_bptt(params, xs, ys)
    assert all(c.diff_autograd == 0 for c in d.checks)
    failed = {c.name for c in d.checks if not c.ok}
    assert {"da_1", "da_2", "da_3", "dh_1", "dh_2"} <= failed
    assert not failed & {"do_1", "do_2", "do_3", "dh_3"}
    assert "✗ FAILED: da_3" in B.render_bptt(d)


def test_chainrule_explain_is_callable_before_and_after_the_package_is_imported():
    import subprocess
    import sys

    # a fresh interpreter: importing the explainer package must not touch the function
    code = ("import chainrule as cr\n"
            "from chainrule.explainer import default_example\n"
            "m, x, y = default_example()\n"
            "a = cr.explain(m, x, y)\n"
            "import chainrule.explainer\n"
            "b = cr.explain(m, x, y, format='markdown')\n"
            "print(a.count('matches autograd') > 0, b.startswith('#') or '$' in b)\n"
            "print(type(cr.explain).__name__, cr.explain.__module__)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True", "function", "chainrule"]


def test_markdown_formulas_carry_the_regularization_terms_that_are_on():
    import chainrule as cr
    from chainrule.explainer import default_example

    model, x, y = default_example()
    both = cr.explain(model, x, y, l2=0.1, l1=0.01, format="markdown")
    assert r"+ \frac{\lambda_2}{m} W^{(2)} + \frac{\lambda_1}{m}\,\mathrm{sign}(W^{(2)})" in both
    only_l2 = cr.explain(model, x, y, l2=0.1, format="markdown")
    assert r"\frac{\lambda_2}{m} W^{(1)}" in only_l2 and r"\lambda_1" not in only_l2
    plain = cr.explain(model, x, y, format="markdown")
    assert r"\lambda" not in plain and r"db^{(2)} = \frac{1}{m} \sum_{\text{rows}}" in plain


def test_central_differences_is_the_jacobian_and_restores_its_input():
    """The one finite-difference helper (gradcheck's and the explainers'): shape
    f().shape + x.shape, exact for a quadratic up to rounding, x left as it was, and any
    view perturbed in place (here a transposed, non-contiguous one)."""
    from chainrule.gradcheck import central_differences

    base = np.arange(6.0).reshape(2, 3)
    x = base.T  # (3, 2), not contiguous
    before = x.copy()
    jac = central_differences(lambda: (x ** 2).sum(axis=0), x)
    assert jac.shape == (2, 3, 2)
    expected = np.zeros((2, 3, 2))
    for i in range(3):
        for j in range(2):
            expected[j, i, j] = 2 * x[i, j]
    np.testing.assert_allclose(jac, expected, atol=1e-6)
    np.testing.assert_array_equal(x, before)
    scalar = central_differences(lambda: float((x ** 3).sum()), x)
    assert scalar.shape == x.shape
    np.testing.assert_allclose(scalar, 3 * x ** 2, atol=1e-5)
    assert central_differences(lambda: 1.0, np.zeros((0, 2))).shape == (0, 2)


@pytest.mark.parametrize("name", activation_names())
def test_every_registered_activation_carries_a_true_derivative(name):
    """The registry's one entry per activation is all the others read: its module by name,
    its functional form (the module's forward), and f'(z) from (z, a, p) equal to the
    engine's gradient, on both sides of the kinks."""
    from chainrule import tensor

    cls = get_activation(name)
    assert cls.name == name and get_activation(name.upper().replace("_", "-")) is cls
    z = np.array([[-2.0, -0.5, 0.3, 1.7], [0.9, -1.1, 2.2, -0.01]])
    p = None if cls.parameter is None else 0.3
    extra = () if p is None else (p,)
    module = cls(*extra)
    a = module(tensor(z))
    np.testing.assert_array_equal(a.data, cls.function(tensor(z), *extra).data)
    if cls.derivative is None:  # softmax: its Jacobian is not diagonal
        assert name == "softmax"
        return
    t = tensor(z, requires_grad=True)
    (module(t) * 1.0).sum().backward()
    np.testing.assert_allclose(cls.derivative(z, a.data, p), t.grad.data, atol=1e-12)
    assert cls.derivative_text and cls.derivative_latex


def test_the_registry_api_refuses_unknown_names_with_the_list():
    assert activation_names()[:3] == ("relu", "sigmoid", "tanh")
    with pytest.raises(ValueError, match="unknown activation 'swish'; choose one of relu, "
                                         "sigmoid, tanh, leaky_relu"):
        get_activation("swish")


# -- the library's own models: raw scores, class indices, loss modules, saved files ----------


def _float64_mlp(sizes, activation="tanh", output=None, seed=0):
    import chainrule as cr

    cr.manual_seed(seed)
    model = nn.mlp(sizes, activation, output)
    with no_grad():
        for p in model.parameters():
            p.data = p.data.astype(np.float64)
    return model


def _module_gradients(model, loss_fn, x, target):
    """What training computes: the loss module on the model's output, backward."""
    from chainrule import tensor

    for p in model.parameters():
        p.grad = None
    loss_fn(model(tensor(x)), target).backward()
    return [p.grad.data for p in model.parameters()]


def _derived_gradients(d):
    return [g for layer in d.layers for g in (layer.dW, layer.db)]


def test_nn_mlp_raw_scores_with_cross_entropy_is_softmax_cross_entropy():
    """nn.mlp ends with raw scores; cross-entropy then applies the softmax itself:
    delta^(L) = softmax(Z^(L)) - Y, and every number is what training computes."""
    model = nn.mlp([3, 4, 3], "relu")  # float32, as trained
    x = np.array([[0.2, -1.0, 0.5], [1.5, 0.3, -0.2], [-0.7, 0.8, 0.1]])
    labels = np.array([2, 0, 1])
    for y in (labels, labels.reshape(-1, 1), np.eye(3)[labels]):
        d = derive(model, x, y)
        assert d.all_ok and d.spec.logits and len(d.checks) == 7
        np.testing.assert_array_equal(d.Y, np.eye(3)[labels])  # class indices -> one-hot
    z = d.layers[1].Z
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(d.layers[1].A, softmax)
    np.testing.assert_allclose(d.layers[1].delta, softmax - np.eye(3)[labels])
    trained = _module_gradients(model, nn.CrossEntropyLoss(), x.astype(np.float32), labels)
    for ours, theirs in zip(_derived_gradients(d), trained, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    text = explain(model, x, labels)
    assert "raw scores (no activation layer; the loss applies softmax)" in text
    assert "A^(L) = softmax(Z^(L)): the loss applies softmax to the raw scores" in text
    assert "all match ✓" in text


@pytest.mark.parametrize("loss_fn, output, targets", [
    (nn.CrossEntropyLoss(), None, "indices"),
    (nn.BCEWithLogitsLoss(), None, "binary"),
    (nn.BCELoss(), "sigmoid", "binary"),
    (nn.MSELoss(), "sigmoid", "values"),
    (nn.MSELoss(), None, "values"),
])
def test_loss_modules_give_the_gradients_training_computes(loss_fn, output, targets):
    """Each loss module is derived as what it computes: nn.MSELoss and nn.BCELoss average
    over the outputs too (2/n and 1/n of the textbook losses), the logits losses apply
    softmax/sigmoid themselves; dW and db equal the module's backward (float64)."""
    model = _float64_mlp([2, 3, 3], "tanh", output)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 2))
    y = {"indices": np.array([0, 2, 1, 2]), "binary": rng.integers(0, 2, (4, 3)) * 1.0,
         "values": rng.uniform(size=(4, 3))}[targets]
    d = derive(model, x, y, loss_fn, lr=0.1)
    assert d.all_ok, [c.name for c in d.checks if not c.ok]
    for ours, theirs in zip(_derived_gradients(d), _module_gradients(model, loss_fn, x, y),
                            strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert d.loss == pytest.approx(float(loss_fn(model(x), y).data))
    text = explain(model, x, y, loss_fn)
    assert f"loss nn.{type(loss_fn).__name__}()" in text and "all match ✓" in text
    if isinstance(loss_fn, nn.MSELoss):
        assert "delta^(L) = 2/n (A^(L) - Y) * f'(Z^(L))" in text
        assert "the mean over all m n entries, n = 3 outputs" in text


def test_string_losses_on_raw_scores_and_what_is_refused():
    model = _float64_mlp([2, 2, 2])
    x, y = np.array([[0.1, 0.2], [0.3, -0.4]]), np.array([[0.0, 1.0], [1.0, 1.0]])
    d = derive(model, x, y, "bce-with-logits")
    assert d.all_ok and d.spec.logits and d.layers[-1].activation == "sigmoid"
    np.testing.assert_allclose(d.layers[1].delta, 1 / (1 + np.exp(-d.layers[1].Z)) - y)
    with pytest.raises(ValueError, match=r"nn.CrossEntropyLoss\(\) applies softmax to raw "
                                         r"scores itself.*not softmax"):
        derive(nn.Sequential(nn.Linear(2, 2), nn.Softmax()), x, [0, 1], nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match=r"reduction='sum'\): explain derives the mean"):
        derive(model, x, [0, 1], nn.CrossEntropyLoss(reduction="sum"))
    with pytest.raises(ValueError, match="class weights or label smoothing"):
        derive(model, x, [0, 1], nn.CrossEntropyLoss(label_smoothing=0.1))
    with pytest.raises(ValueError, match=r"nn.BCEWithLogitsLoss\(pos_weight=\.\.\.\) weighs the "
                                         r"examples or the positive class.*use "
                                         r"nn.BCEWithLogitsLoss\(\)"):
        derive(model, x, y, nn.BCEWithLogitsLoss(pos_weight=np.array([2.0, 1.0])))
    with pytest.raises(ValueError, match=r"nn.BCELoss\(weight=\.\.\.\) weighs"):
        derive(nn.Sequential(nn.Linear(2, 2), nn.Sigmoid()), x, y,
               nn.BCELoss(weight=np.array([1.0, 3.0])))
    with pytest.raises(ValueError, match=r"loss must be .* got NLLLoss"):
        derive(model, x, [0, 1], nn.NLLLoss())
    with pytest.raises(ValueError, match=r"class indices in y must be whole numbers 0..1 .*"
                                         r"got 2"):
        derive(model, x, [0, 2])
    with pytest.raises(ValueError, match="loss bce needs a sigmoid output layer, not identity "
                                         r"\(for raw scores use bce-with-logits\)"):
        derive(model, x, y, "bce")
    with pytest.raises(ValueError, match=r"y must have shape \(2, 2\)"):
        derive(model, x, np.ones((2, 3)), "mse")


def test_dropout_layers_are_left_out_of_the_derivation():
    import chainrule as cr

    cr.manual_seed(0)
    model = nn.mlp([2, 3, 2], "sigmoid", dropout=0.5)
    d = derive(model, np.array([[0.1, 0.2]]), [1])
    assert d.all_ok and len(d.layers) == 2
    assert "Dropout layers are left out" in explain(model, np.array([[0.1, 0.2]]), [1])


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    """A model file written by the train command's code: 3 named classes, features on
    very different scales (so standardization matters), dropout, one epoch."""
    from chainrule.train.run import TrainConfig, run_training

    tmp = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(0)
    rows = [f"{rng.normal(c):.3f},{rng.normal(10 * c, 5):.3f},{['cat', 'dog', 'fox'][c]}"
            for c in [0, 1, 2] * 10]
    (tmp / "pets.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    run_training(TrainConfig.from_mapping({"data": f"csv:{tmp / 'pets.csv'}", "hidden": [4],
                                           "epochs": 1, "out": str(tmp / "run")}),
                 progress=False)
    return tmp / "run" / "model.safetensors"


def test_a_saved_model_is_explained_on_standardized_inputs(trained_model):
    import chainrule as cr
    from chainrule.explainer import derive_model_file

    meta = cr.load(trained_model).metadata
    mean = np.array(meta["preprocessing"]["standardize"]["mean"])
    std = np.array(meta["preprocessing"]["standardize"]["std"])
    x = np.array([[0.5, 3.0], [1.7, 25.0]])
    d = derive_model_file(trained_model, x, ["cat", "fox"])
    assert d.all_ok and d.spec.label == "nn.CrossEntropyLoss()"
    np.testing.assert_allclose(d.X, (x - mean) / std, rtol=1e-5)
    np.testing.assert_array_equal(d.Y, [[1, 0, 0], [0, 0, 1]])
    same = derive_model_file(trained_model, x, [0, 2])
    np.testing.assert_array_equal(same.layers[0].dW, d.layers[0].dW)
    text = explain(str(trained_model), x, ["cat", "fox"])
    assert "X below is your input standardized as the training data was" in text
    assert "all match ✓" in text
    guessed = derive_model_file(trained_model, x)  # no labels: the predicted classes
    assert "the model's own predicted classes" in " ".join(guessed.notes)
    with pytest.raises(ValueError, match="label 'cow' is not one of the classes of .*cat, "
                                         "dog, fox"):
        derive_model_file(trained_model, x, ["cow", "cat"])
    with pytest.raises(ValueError, match="501 examples given; explain prints every one, so "
                                         "give at most 500"):
        derive_model_file(trained_model, np.zeros((501, 2)), np.zeros(501))


def test_a_saved_model_too_big_to_print_and_check_is_refused(tmp_path):
    import chainrule as cr
    from chainrule.explainer import explain_model_file

    cr.save(nn.mlp([200, 101, 2]), tmp_path / "big.safetensors")
    with pytest.raises(ValueError, match=r"\(200-101-2\) has 20,402 weights; explain prints "
                                         r"and numerically checks every one"):
        explain_model_file(tmp_path / "big.safetensors", np.zeros((1, 200)), [0])


# -- the per-example form ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(0, 24, 5))
def test_per_example_form_is_the_matrix_form(seed):
    """For k = 1..m: Delta^(l) += delta^(l)_k a^(l-1)_k^T; D = Delta/m + lambda/m W equals
    the matrix form's dW, autograd's and the numerical gradient; each example's delta is
    row k of the matrix form's."""
    model, x, y, loss, l1, l2 = random_case(seed)
    d = derive(model, x, y, loss, l1=l1, l2=l2, per_example=True)
    pe, m = d.per_example, len(x)
    assert d.all_ok and len(pe.examples) == m
    assert len(pe.checks) == len(d.layers) * (m + 2)
    for l, layer in enumerate(d.layers):
        np.testing.assert_allclose(pe.D[l], layer.dW, atol=1e-12)
        np.testing.assert_allclose(pe.Db[l], layer.db, atol=1e-12)
        a_prev = x if l == 0 else d.layers[l - 1].A
        total = sum(np.outer(layer.delta[k], a_prev[k]) for k in range(m))
        np.testing.assert_allclose(pe.examples[-1].running[l], total, atol=1e-12)
        for e in pe.examples:
            np.testing.assert_allclose(e.deltas[l], layer.delta[e.k - 1], atol=1e-12)
        assert pe.matrix_diff[l] < 1e-12


def test_per_example_form_prints_the_loop_in_every_format(monkeypatch):
    model, x, y = default_example()
    text = explain(model, x, y, l2=0.1, per_example=True)
    assert "== Per-example form (one example at a time) ==" in text
    assert "delta^(2)_1 = [[-0.7055  0.3318  0.3737]]" in text
    assert "Finally D^(l) = Delta^(l) / m + lambda2/m W^(l),  D_b^(l) = Delta_b^(l) / m (the " \
           "bias is not regularized)" in text
    assert "✓ D^(1) matches autograd" in text and "15 gradients checked" in text
    assert "D^(2) = dW^(2) of the matrix form (max |diff|" in text
    markdown = explain(model, x, y, per_example=True, format="markdown")
    assert r"\Delta^{(l)} \mathrel{+}= \delta^{(l)}_k" in markdown
    page = explain(model, x, y, per_example=True, format="html")
    assert "Per-example form" in page and "✓ D_b^(2) matches autograd" in page
    assert "Per-example" not in explain(model, x, y)
    _plant_tanh_derivative_under_sigmoid(monkeypatch)
    d = derive(model, x, y, per_example=True)
    failed = {c.name for c in d.per_example.checks if not c.ok}
    assert {"D^(1)", "D_b^(1)", "delta^(1) of example 1"} <= failed
    assert not failed & {"D^(2)", "delta^(2) of example 2"}


def test_explain_returns_text_that_displays_as_a_page_in_jupyter():
    model, x, y = default_example()
    report = explain(model, x, y)
    assert isinstance(report, str) and str(report) == report
    assert str(report) == render_text(model, x, y)
    assert report._repr_markdown_() == explain(model, x, y, format="markdown")
    page = report._repr_html_()
    assert page.startswith("<div class='crx'") and "<svg" in page and "<!DOCTYPE" not in page
    d = derive(model, x, y)
    assert d._repr_markdown_() == report._repr_markdown_()
    assert d._repr_html_().startswith("<div class='crx'")
    from chainrule.explainer.bptt import default_rnn, derive_bptt

    rnn = derive_bptt(*default_rnn())
    assert "Backpropagation through time" in rnn._repr_html_()
    assert rnn._repr_markdown_().startswith("# Backpropagation through time")


def render_text(model, x, y):
    from chainrule.explainer import render

    return render(derive(model, x, y))


def assert_self_contained(page: str) -> None:
    """The interactive page fetches nothing: its scripts are inline (no src), no element
    refers to another file or address, and the script makes no requests."""
    import re

    assert re.search(r"<script[^>]*\ssrc=", page) is None
    assert re.search(r"\s(src|href)=", page) is None
    for word in ("fetch(", "XMLHttpRequest", "import(", "@import", "url("):
        assert word not in page, word


def test_html_pages_carry_the_derivations_numbers_and_mathml():
    """The page's data are the derivation's numbers; formulas are MathML (every formula a
    report writes converts); two renders of one report get different ids."""
    import json
    import re

    from chainrule.explainer.bptt import default_rnn, derive_bptt, render_bptt
    from chainrule.explainer.page import mlp_fragment, mlp_steps

    model, x, y = default_example()
    d = derive(model, x, y, l1=0.01, l2=0.1, per_example=True)
    for columns in (False, True):
        page = explain(model, x, y, l1=0.01, l2=0.1, per_example=True, format="html",
                       columns=columns)
        assert page.startswith("<!DOCTYPE html>") and page.count("<math") > 40
        assert "all match ✓" in page
        assert_self_contained(page)
    data = json.loads(re.search(r"class='crx-data'>(.*?)</script>", page).group(1))
    titles = [s["t"] for s in data["steps"]]
    assert titles[:3] == ["inputs X (and targets Y)", "layer 1: Z^(1)",
                          "layer 1: A^(1) = sigmoid(Z^(1))"]
    assert titles[-2:] == ["the per-example form",
                          "update: W <- W - alpha dW, b <- b - alpha db"]
    z_step = data["steps"][1]
    np.testing.assert_allclose(z_step["val"]["n1-1"][1], d.layers[0].Z[:, 1], rtol=1e-5)
    assert set(z_step["hl"]) == {"n1-0", "n1-1", "e1-0-0", "e1-0-1", "e1-1-0", "e1-1-1"}
    delta2 = next(s for s in data["steps"] if s["t"] == "layer 2: delta^(2)")
    np.testing.assert_allclose(delta2["val"]["n2-0"][1], d.layers[1].delta[:, 0], rtol=1e-5)
    # inputs, Z and A per layer, the loss, (delta, dW+db, dA) then (delta, dW+db), the
    # per-example form, the update
    assert len(mlp_steps(d)) == len(data["steps"]) == 1 + 2 * 2 + 1 + (3 + 2) + 1 + 1
    ids = {re.search(r"id='(crx-\w+)'", mlp_fragment(d)).group(1) for _ in range(2)}
    assert len(ids) == 2
    rnn = render_bptt(derive_bptt(*default_rnn()), "html")
    assert rnn.count("<math") > 20 and "29 gradients checked" in rnn
    assert_self_contained(rnn)


def test_mathml_typesets_the_latex_the_reports_write():
    from chainrule.explainer.mathml import to_mathml

    frac = to_mathml(r"dW^{(2)} = \frac{1}{m} \delta^{(2)\top} A^{(1)}")
    assert ("<msup><mi>W</mi><mrow><mo>(</mo><mn>2</mn><mo>)</mo></mrow></msup>" in frac
            and "<mfrac><mrow><mn>1</mn></mrow><mrow><mi>m</mi></mrow></mfrac>" in frac)
    assert "<msubsup><mi>a</mi><mi>k</mi>" in to_mathml(r"a^{(l)}_k")
    assert "<mi mathvariant='double-struck'>1</mi>" in to_mathml(r"\mathbb{1}[Z > 0]")
    assert "<mtable><mtr><mtd><mn>1</mn></mtd><mtd><mn>2</mn></mtd></mtr>" in to_mathml(
        r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}")
    assert "annotation encoding='application/x-tex'>x &lt; 1<" in to_mathml("x < 1")
    with pytest.raises(ValueError, match=r"unknown LaTeX command \\nabla"):
        to_mathml(r"\nabla L")


def test_gelu_is_derived_exactly_and_its_tanh_form_is_refused():
    from chainrule.explainer import derive

    x, y = np.array([[0.3, -1.2], [1.5, 0.4]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    exact = nn.Sequential(nn.Linear(2, 3, dtype=np.float64), nn.GELU(),
                          nn.Linear(3, 2, dtype=np.float64), nn.Softmax())
    assert derive(exact, x, y, "cross-entropy").all_ok
    tanh = nn.Sequential(nn.Linear(2, 3, dtype=np.float64), nn.GELU("tanh"),
                         nn.Linear(3, 2, dtype=np.float64), nn.Softmax())
    with pytest.raises(ValueError, match=r"layer 1 \(GELU\(approximate='tanh'\)\): the "
                                         r"explainer derives the exact GELU only"):
        derive(tanh, x, y, "cross-entropy")
