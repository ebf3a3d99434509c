"""The attention explainer: every printed gradient checked both ways, a wrong softmax
backward caught, every format rendered, and the numbers equal PyTorch's for the same
causal head."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import chainrule.explainer.attention as A

CHECKS = {"dO", "dP", "dS", "dV", "dQ", "dK"}


def test_every_printed_gradient_matches_autograd_and_central_differences():
    d = A.derive_attention(*A.default_attention())
    assert d.all_ok
    assert [c.name for c in d.checks] == ["dO", "dP", "dS", "dV", "dQ", "dK"]
    for c in d.checks:
        np.testing.assert_allclose(c.formula, c.autograd, atol=1e-12, err_msg=c.name)
        np.testing.assert_allclose(c.formula, c.numeric, atol=1e-8, err_msg=c.name)
    above = ~np.tri(3, dtype=bool)
    assert np.isneginf(d.S_masked[above]).all() and (d.P[above] == 0).all()
    np.testing.assert_allclose(d.P.sum(axis=1), 1.0)
    dS = d.grads["dS"]
    assert (dS[above] == 0).all() and not np.signbit(dS[above]).any()  # +0, printed 0.0000
    np.testing.assert_allclose(dS.sum(axis=1), 0.0, atol=1e-15)  # softmax rows sum to 1
    # the first query sees only the first key: its P is 1 whatever S is, so no gradient
    np.testing.assert_array_equal(d.grads["dQ"][0], 0.0)
    np.testing.assert_allclose(d.grads["dO"], d.O - d.T)


def test_the_numbers_equal_pytorchs_for_the_same_head():
    torch = pytest.importorskip("torch")
    Q, K, V, T = A.default_attention()
    d = A.derive_attention(Q, K, V, T)
    tQ, tK, tV = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (Q, K, V))
    O = torch.nn.functional.scaled_dot_product_attention(tQ, tK, tV, is_causal=True)
    loss = 0.5 * ((O - torch.tensor(T)) ** 2).sum()
    loss.backward()
    # the explicit head for the intermediates (the fused op keeps none)
    S = (tQ @ tK.T / np.sqrt(2)).detach().requires_grad_()
    P = torch.softmax(S.masked_fill(~torch.ones(3, 3, dtype=torch.bool).tril(), -np.inf), -1)
    P.retain_grad()
    (0.5 * ((P @ tV.detach() - torch.tensor(T)) ** 2).sum()).backward()
    pairs = [(d.O, O), (d.loss, loss), (d.P, P), (d.grads["dS"], S.grad),
             (d.grads["dP"], P.grad), (d.grads["dQ"], tQ.grad), (d.grads["dK"], tK.grad),
             (d.grads["dV"], tV.grad)]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)


def _without_rowsum(P, dP):
    """The classic slip: the softmax treated as elementwise, dS = P * dP."""
    return P * dP


def test_a_wrong_softmax_backward_is_caught():
    with pytest.MonkeyPatch.context() as m:
        m.setattr(A, "softmax_backward", _without_rowsum)
        d = A.derive_attention(*A.default_attention())
    assert not d.all_ok
    # dS and what comes from it are wrong; dO, dP and dV (above the softmax) stay right
    assert {c.name for c in d.checks if not c.ok} == {"dS", "dQ", "dK"}
    text = str(d)
    assert "✗ FAILED: dS does NOT match" in text and "✓ dP matches autograd" in text
    assert "3 MISMATCH ✗ (see FAILED lines)" in text


def test_central_differences_alone_catch_a_wrong_derivative():
    """With autograd fooled into returning the formulas' own numbers, the numerical
    checks still fail where the formula is wrong."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(A, "softmax_backward", _without_rowsum)
        wrong = A.derive_attention(*A.default_attention())
        own = {c.name: c.formula for c in wrong.checks}
        m.setattr(A, "_autograd", lambda d: own)
        d = A.derive_attention(*A.default_attention())
    assert all(c.diff_autograd == 0 for c in d.checks)
    assert {c.name for c in d.checks if not c.ok} == {"dS", "dQ", "dK"}


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_every_format_renders_every_check(fmt):
    d = A.derive_attention(*A.default_attention())
    text = d.render(fmt)
    assert text.count("✓") == len(CHECKS) + 1  # the check lines and the summary
    for name in CHECKS:
        assert f"✓ {name} matches autograd" in text, name
    assert ("6 gradients checked against autograd and central differences (3 intermediates "
            "dO, dP, dS; 3 input gradients dV, dQ, dK): all match ✓") in text
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "<table>" in text
        assert "<td>-inf</td>" in text
    elif fmt == "markdown":
        assert r"dS_{ij} = P_{ij}\left(dP_{ij} - \sum_k dP_{ik} P_{ik}\right)" in text
        assert r"\begin{bmatrix}" in text
    else:
        assert text == str(d)
        assert "dS = P * (dP - rowsum(dP * P))" in text and "-inf" in text


@pytest.mark.parametrize("change, message", [
    (dict(K=np.ones((3, 3))), r"Q and K must be the same \(tokens, d\) matrix shape"),
    (dict(T=np.ones((3, 3))), r"V must be \(tokens, dv\) with 3 tokens and T the shape of V"),
])
def test_bad_inputs_get_one_clear_line(change, message):
    args = dict(zip("Q K V T".split(), A.default_attention(), strict=True))
    with pytest.raises(ValueError, match=message) as info:
        A.derive_attention(**{**args, **change})
    assert "\n" not in str(info.value)


def _explain(*options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", "explain", *options],
                          capture_output=True, text=True, timeout=120)


def test_the_command_explains_the_attention_head(tmp_path):
    run = _explain("--attention")
    assert run.returncode == 0, run.stderr
    assert "dS = P * (dP - rowsum(dP * P))" in run.stdout and "FAILED" not in run.stdout
    page = tmp_path / "attention.html"
    run = _explain("--attention", "--format", "html", "--out", str(page))
    assert run.returncode == 0, run.stderr
    assert page.read_text().startswith("<!DOCTYPE html>")
    bad = _explain("--attention", "--l2", "1")
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("chainrule: error: explain: --attention shows a fixed tiny "
                                  "causal attention head and takes only --format, --lang "
                                  "and --out, not --l2")
    both = _explain("--attention", "--conv")
    assert both.returncode == 2
    assert both.stderr.strip() == ("chainrule: error: explain: --conv and --attention are "
                                   "different derivations; give one")
