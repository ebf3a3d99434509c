"""Optimizers against their published update rules and against torch.optim; schedulers,
clipping, state_dict, float32."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.2]), np.array([-1.0, 0.0, 1.0])]
W0 = np.array([1.0, -2.0, 0.5])


def run_fixed_grads(opt_factory, steps=3):
    """Apply the fixed gradients GRADS (cycled) and return the weights after each step."""
    w = cr.tensor(W0.copy(), requires_grad=True)
    opt = opt_factory([w])
    out = []
    for k in range(steps):
        w.grad = cr.tensor(GRADS[k % len(GRADS)])
        opt.step()
        out.append(w.data.copy())
    return out


def test_sgd_momentum_rule():
    lr, mu, wd = 0.1, 0.9, 0.01
    w, v = W0.copy(), None
    want = []
    for g in GRADS:
        g = g + wd * w
        v = g if v is None else mu * v + g
        w = w - lr * v
        want.append(w)
    got = run_fixed_grads(lambda p: optim.SGD(p, lr=lr, momentum=mu, weight_decay=wd))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_sgd_nesterov_rule():
    lr, mu = 0.1, 0.5
    w, v = W0.copy(), None
    want = []
    for g in GRADS:
        v = g if v is None else mu * v + g
        w = w - lr * (g + mu * v)
        want.append(w)
    got = run_fixed_grads(lambda p: optim.SGD(p, lr=lr, momentum=mu, nesterov=True))
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_rule(amsgrad):
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    w, m, v, vmax = W0.copy(), 0.0, 0.0, 0.0
    want = []
    for t, g in enumerate(GRADS, start=1):
        g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        vv = vmax if amsgrad else v
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(vv / (1 - b2 ** t)) + eps)
        want.append(w)
    got = run_fixed_grads(lambda p: optim.Adam(p, lr=lr, weight_decay=wd, amsgrad=amsgrad))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_adamw_decay_is_decoupled():
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    w, m, v = W0.copy(), 0.0, 0.0
    want = []
    for t, g in enumerate(GRADS, start=1):
        w = w * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        want.append(w)
    got = run_fixed_grads(lambda p: optim.AdamW(p, lr=lr, weight_decay=wd))
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_rule(centered):
    lr, alpha, eps, mu = 0.01, 0.9, 1e-8, 0.5
    w, s, a, b = W0.copy(), 0.0, 0.0, 0.0
    want = []
    for g in GRADS:
        s = alpha * s + (1 - alpha) * g * g
        a = alpha * a + (1 - alpha) * g
        denom = np.sqrt(s - a * a if centered else s) + eps
        b = mu * b + g / denom
        w = w - lr * b
        want.append(w)
    got = run_fixed_grads(lambda p: optim.RMSprop(p, lr=lr, alpha=alpha, momentum=mu,
                                                  centered=centered))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_adagrad_rule():
    lr, decay, eps = 0.1, 0.01, 1e-10
    w, s = W0.copy(), 0.0
    want = []
    for t, g in enumerate(GRADS, start=1):
        s = s + g * g
        w = w - lr / (1 + (t - 1) * decay) * g / (np.sqrt(s) + eps)
        want.append(w)
    got = run_fixed_grads(lambda p: optim.Adagrad(p, lr=lr, lr_decay=decay))
    np.testing.assert_allclose(got, want, rtol=1e-10)


OPTIMIZERS = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": dict(lr=0.05, weight_decay=0.01, amsgrad=True),
    "AdamW": dict(lr=0.05, weight_decay=0.05),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
}


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_matches_torch_optim(name, fused):
    """Two parameters (a weight and a bias), so that fused=True runs the flat path."""
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test "
                                                "extra: pip install -e .[test]")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((8, 3)), rng.standard_normal(8)
    w, c = cr.tensor(W0.copy(), requires_grad=True), cr.tensor(np.array([0.3]), requires_grad=True)
    tw, tc = (torch.tensor(W0.copy(), requires_grad=True),
              torch.tensor([0.3], dtype=torch.float64, requires_grad=True))
    ours = getattr(optim, name)([w, c], **OPTIMIZERS[name], fused=fused)
    theirs = getattr(torch.optim, name)([tw, tc], **OPTIMIZERS[name])
    for _ in range(20):
        loss = ((cr.tensor(a) @ w + c - cr.tensor(b)) ** 2).mean()
        ours.zero_grad()
        loss.backward()
        ours.step()
        tloss = ((torch.tensor(a) @ tw + tc - torch.tensor(b)) ** 2).mean()
        theirs.zero_grad()
        tloss.backward()
        theirs.step()
    assert bool(ours._flat) == fused
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c.data, tc.detach().numpy(), rtol=1e-9, atol=1e-12)


SCHEDULERS = {
    "StepLR": dict(step_size=4, gamma=0.5),
    "ExponentialLR": dict(gamma=0.9),
    "CosineAnnealingLR": dict(T_max=10, eta_min=0.001),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_schedulers_match_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test "
                                                "extra: pip install -e .[test]")
    ours = getattr(optim.lr_scheduler, name)(
        optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1), **SCHEDULERS[name])
    theirs = getattr(torch.optim.lr_scheduler, name)(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), **SCHEDULERS[name])
    for _ in range(30):
        theirs.optimizer.step()
        ours.step()
        theirs.step()
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-12)


def test_reduce_on_plateau_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test "
                                                "extra: pip install -e .[test]")
    opts = dict(factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    ours = optim.ReduceLROnPlateau(optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1),
                                   **opts)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), **opts)
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    for value in metrics:
        ours.step(value)
        theirs.step(value)
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0])
    assert ours.get_last_lr()[0] < 0.1


def test_float32_parameters_and_state_stay_float32():
    w = cr.randn(4, 3, requires_grad=True)
    for name, kwargs in OPTIMIZERS.items():
        opt = getattr(optim, name)([w], **kwargs)
        w.grad = cr.randn(4, 3)
        opt.step()
        assert w.dtype == np.float32, name
        for value in opt.state[w].values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, name


def test_state_dict_round_trip_continues_identically():
    def make():
        w = cr.tensor(W0.copy(), requires_grad=True)
        return w, optim.Adam([w], lr=0.1)

    w1, o1 = make()
    for k in range(6):
        w1.grad = cr.tensor(GRADS[k % 3])
        o1.step()
    w2, o2 = make()
    for k in range(3):
        w2.grad = cr.tensor(GRADS[k % 3])
        o2.step()
    saved, saved_w = o2.state_dict(), w2.data.copy()
    w3, o3 = make()
    with cr.no_grad():
        w3.copy_(saved_w)
    o3.load_state_dict(saved)
    for k in range(3, 6):
        w3.grad = cr.tensor(GRADS[k % 3])
        o3.step()
    np.testing.assert_array_equal(w1.data, w3.data)


def test_parameter_groups_and_zero_grad_and_closure():
    w, b = cr.tensor([1.0], requires_grad=True), cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [w], "weight_decay": 1.0}, {"params": [b]}], lr=0.1)
    w.grad, b.grad = cr.tensor([0.0]), cr.tensor([0.0])
    before = w._version
    opt.step()
    assert w.item() == pytest.approx(0.9) and b.item() == 1.0
    assert w._version == before + 1
    opt.zero_grad()
    assert w.grad is None and b.grad is None

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == pytest.approx(0.81)


@pytest.mark.parametrize("make, message", [
    (lambda w: optim.SGD([w], lr=-1), "learning rate must be >= 0"),
    (lambda w: optim.Adam([w], betas=(1.0, 0.9)), "betas must be in"),
    (lambda w: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda w: optim.SGD([w, w], lr=0.1), "more than one place"),
    (lambda w: optim.SGD([cr.tensor([1.0])], lr=0.1), "does not require grad"),
    (lambda w: optim.SGD([w], lr=0.1, nesterov=True), "Nesterov momentum needs"),
    (lambda w: optim.SGD([{"params": [w], "betas": 1}], lr=0.1), "unknown option"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(cr.tensor([1.0], requires_grad=True))


def test_clip_grad_norm_and_value():
    a, b = cr.tensor([3.0], requires_grad=True), cr.tensor([4.0], requires_grad=True)
    a.grad, b.grad = cr.tensor([3.0]), cr.tensor([4.0])
    shared = a.grad
    total = optim.clip_grad_norm_([a, b], 1.0)
    assert total == pytest.approx(5.0)
    assert a.grad.item() == pytest.approx(0.6, rel=1e-5) and b.grad.item() == pytest.approx(0.8,
                                                                                            rel=1e-5)
    assert shared.item() == 3.0  # replaced, not scaled in place
    a.grad = cr.tensor([-3.0])
    assert optim.clip_grad_norm_([a], 1.0, norm_type=np.inf) == 3.0
    a.grad = cr.tensor([np.nan])
    with pytest.raises(FloatingPointError, match="NaN or Inf"):
        optim.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    a.grad = cr.tensor([5.0, -0.5])
    optim.clip_grad_value_([a], 1.0)
    assert a.grad.tolist() == [1.0, -0.5]
