"""The convolution explainer: every printed gradient checked both ways, a wrong formula
caught, every format rendered, and the numbers equal PyTorch's for the same network."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule.explainer.conv as C

CHECKS = {"do", "dP", "dZ", "dV", "dc", "dK", "db", "dX", "dX (flipped kernel)"}


def test_every_printed_gradient_matches_autograd_and_central_differences():
    d = C.derive_conv(*C.default_conv())
    assert d.all_ok
    assert {c.name for c in d.checks} == CHECKS and len(d.checks) == 9
    for c in d.checks:
        np.testing.assert_allclose(c.formula, c.autograd, atol=1e-12, err_msg=c.name)
        np.testing.assert_allclose(c.formula, c.numeric, atol=1e-8, err_msg=c.name)
    # each window's dP goes to its largest Z and nowhere else
    dZ, dP = d.grads["dZ"], d.grads["dP"]
    for u in range(2):
        for v in range(2):
            window = (slice(2 * u, 2 * u + 2), slice(2 * v, 2 * v + 2))
            i, j = np.unravel_index(np.argmax(d.Z[window]), (2, 2))
            expected = np.zeros((2, 2))
            expected[i, j] = dP[u, v]
            np.testing.assert_array_equal(dZ[window], expected)
            assert d.P[u, v] == d.Z[window].max()
    assert not np.signbit(dZ[d.winners == 0]).any()  # printed as 0.0000, not -0.0000
    np.testing.assert_allclose(d.grads["db"], dZ.sum())
    np.testing.assert_allclose(d.grads["dX"], d.dX_flipped, atol=1e-15)


def test_the_numbers_equal_pytorchs_for_the_same_network():
    torch = pytest.importorskip("torch")
    X, K, b, V, c, y = C.default_conv()
    d = C.derive_conv(X, K, b, V, c, y)
    tX, tK, tb, tV, tc = (torch.tensor(np.array(a, np.float64), requires_grad=True)
                          for a in (X, K, [b], V, c))
    Z = torch.nn.functional.conv2d(tX[None, None], tK[None, None], tb)
    P = torch.nn.functional.max_pool2d(Z, 2)
    o = torch.nn.functional.linear(P.reshape(1, -1), tV, tc)
    for t in (Z, P, o):
        t.retain_grad()
    loss = torch.nn.functional.cross_entropy(o, torch.tensor([y]))
    loss.backward()
    pairs = [(d.Z, Z[0, 0]), (d.P, P[0, 0]), (d.o, o[0]), (d.loss, loss),
             (d.p, torch.softmax(o, 1)[0]), (d.grads["do"], o.grad[0]),
             (d.grads["dP"], P.grad[0, 0]), (d.grads["dZ"], Z.grad[0, 0]),
             (d.grads["dK"], tK.grad), (d.grads["db"], tb.grad[0]), (d.grads["dX"], tX.grad),
             (d.dX_flipped, tX.grad), (d.grads["dV"], tV.grad), (d.grads["dc"], tc.grad)]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)


def _spreads_evenly(dP, winners):
    """The classic slip: dP shared by the whole window (average pooling's rule)."""
    return np.kron(dP, np.ones((2, 2))) / 4


def test_a_wrong_pooling_derivative_is_caught():
    with pytest.MonkeyPatch.context() as m:
        m.setattr(C, "route", _spreads_evenly)
        d = C.derive_conv(*C.default_conv())
    assert not d.all_ok
    # everything below the pooling is wrong but db (spreading keeps the sum of dZ); the
    # layers above it stay right
    assert {c.name for c in d.checks if not c.ok} == {"dZ", "dK", "dX", "dX (flipped kernel)"}
    text = str(d)
    assert "✗ FAILED: dZ does NOT match" in text and "✓ dP matches autograd" in text
    assert "4 MISMATCH ✗ (see FAILED lines)" in text


def test_an_unflipped_kernel_is_caught():
    """dX as the full correlation with K itself instead of rot180(K): only that check fails."""
    def unflipped(dZ, K):
        return C.correlate(np.pad(dZ, 1), K)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(C, "flipped_correlation", unflipped)
        d = C.derive_conv(*C.default_conv())
    assert {c.name for c in d.checks if not c.ok} == {"dX (flipped kernel)"}


def test_central_differences_alone_catch_a_wrong_derivative():
    """With autograd fooled into returning the formulas' own numbers, the numerical
    checks still fail where the formula is wrong."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(C, "route", _spreads_evenly)
        wrong = C.derive_conv(*C.default_conv())
        own = {c.name: c.formula for c in wrong.checks}
        m.setattr(C, "_autograd", lambda d: own)
        d = C.derive_conv(*C.default_conv())
    assert all(c.diff_autograd < 1e-15 for c in d.checks)
    assert {c.name for c in d.checks if not c.ok} == {"dZ", "dK", "dX", "dX (flipped kernel)"}
    assert d.check("dP").ok and d.check("do").ok


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_every_format_renders_every_check(fmt):
    d = C.derive_conv(*C.default_conv())
    text = d.render(fmt)
    assert text.count("✓") == len(CHECKS) + 1  # the check lines and the summary
    for name in CHECKS:
        assert f"✓ {name} matches autograd" in text, name
    assert ("9 gradients checked against autograd and central differences (3 deltas do, dP, "
            "dZ; 4 parameter gradients; dX two ways): all match ✓") in text
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "<table>" in text
    elif fmt == "markdown":
        assert r"dK_{pq} = \sum_{i,j} X_{i+p,\,j+q}\, dZ_{ij}" in text
        assert r"\begin{bmatrix}" in text
    else:
        assert text == str(d)
        assert "dX = dZ (*) K, the full convolution" in text and "rot180(K)" in text


@pytest.mark.parametrize("change, message", [
    (dict(K=np.ones((6, 2))), r"the image must be 2-D and at least as large as the 2-D kernel"),
    (dict(V=np.ones((3, 5))), r"the pooled map has 4 values \(2, 2\), so V must be \(3, 4\)"),
    (dict(y=3), r"the class y must be in 0..2, got 3"),
])
def test_bad_inputs_get_one_clear_line(change, message):
    args = dict(zip("X K b V c y".split(), C.default_conv(), strict=True))
    with pytest.raises(ValueError, match=message) as info:
        C.derive_conv(**{**args, **change})
    assert "\n" not in str(info.value)


def test_the_command_explains_the_convolution(tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--conv"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "dK" in run.stdout and "FAILED" not in run.stdout
    page = tmp_path / "conv.html"
    run = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--conv", "--format",
                          "html", "--out", str(page)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert page.read_text().startswith("<!DOCTYPE html>")
    bad = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--conv", "--l2", "1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("chainrule: error: explain: --conv shows a fixed tiny "
                                  "convolution and takes only --format, --lang and --out, "
                                  "not --l2")
