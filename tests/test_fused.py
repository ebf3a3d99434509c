"""The flat optimizer path (optim/flat.py) against the per-parameter loop: bitwise the same
weights and state in float64 and float32, for every optimizer and option, and the same
again whenever its guard sends a step back to the loop."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.optim.optimizer import FLAT_BELOW

CONFIGS = {
    "SGD momentum": (optim.SGD, dict(lr=0.1, momentum=0.9)),
    "SGD nesterov decay maximize": (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True,
                                                    weight_decay=0.01, maximize=True)),
    "SGD dampening": (optim.SGD, dict(lr=0.1, momentum=0.5, dampening=0.3)),
    "SGD plain": (optim.SGD, dict(lr=0.1, weight_decay=0.02)),
    "Adam": (optim.Adam, dict(lr=0.01)),
    "Adam amsgrad decay": (optim.Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    "AdamW": (optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    "RMSprop centered momentum": (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.9,
                                                      weight_decay=0.1)),
    "RMSprop": (optim.RMSprop, dict(lr=0.01)),
    "Adagrad": (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1,
                                    weight_decay=0.1)),
}


def model(dtype) -> nn.Module:
    """Small tensors (packed by fused=None) and one above FLAT_BELOW (looped)."""
    cr.manual_seed(0)
    side = int(np.ceil(np.sqrt(FLAT_BELOW)))
    return nn.Sequential(nn.Linear(5, side), nn.Tanh(), nn.Linear(side, side), nn.Tanh(),
                         nn.Linear(side, 3)).to(dtype)


def train(config, fused, dtype=np.float64, steps=4, between=None):
    """Weights, state and optimizer after ``steps`` steps on fixed batches; ``between(k,
    net, opt)`` runs after the gradients of step k are in place, before its step."""
    cls, options = CONFIGS[config]
    net = model(dtype)
    opt = cls(net.parameters(), **options, fused=fused)
    rng = np.random.default_rng(1)
    for k in range(steps):
        x = cr.from_numpy(rng.standard_normal((6, 5)).astype(dtype))
        loss = (net(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if between is not None:
            between(k, net, opt)
        opt.step()
    return net, opt


def assert_same(a, b):
    (net_a, opt_a), (net_b, opt_b) = a, b
    for (name, p), q in zip(net_a.named_parameters(), net_b.parameters(), strict=True):
        assert p.data.dtype == q.data.dtype
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
        sa, sb = opt_a.state.get(p, {}), opt_b.state.get(q, {})
        assert sorted(sa) == sorted(sb), name
        for key in sa:
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=f"{name} {key}")


def flat_bases(opt, net):
    """For each parameter, the flat buffer its first state array is a view of (or None)."""
    bases = []
    for p in net.parameters():
        arrays = [v for v in opt.state.get(p, {}).values() if isinstance(v, np.ndarray)]
        bases.append(arrays[0].base if arrays else None)
    return bases


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fused", [True, None])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_flat_path_equals_the_loop_bitwise(config, fused, dtype):
    assert_same(train(config, fused, dtype), train(config, False, dtype))


def test_fused_true_packs_every_parameter_and_none_only_the_small_ones():
    net, opt = train("Adam", True)
    bases = flat_bases(opt, net)
    assert bases[0] is not None and all(b is bases[0] for b in bases)
    assert opt._flat[0].grad.size == sum(p.data.size for p in net.parameters())

    net, opt = train("Adam", None)
    small = [p.data.size < FLAT_BELOW for p in net.parameters()]
    assert small.count(False) == 1 and small.count(True) >= 2
    bases = flat_bases(opt, net)
    packed = {id(b) for b, s in zip(bases, small, strict=True) if s}
    assert len(packed) == 1 and None not in packed
    big = bases[small.index(False)]
    assert big is None or id(big) not in packed

    net, opt = train("Adam", False)
    assert opt._flat == {}


def test_plain_sgd_is_not_packed_by_default():
    # one multiplication per parameter: the flat copy of the gradient would cost more
    net, opt = train("SGD plain", None)
    assert opt._flat == {}
    net, opt = train("SGD plain", True)
    assert list(opt._flat) == [0]


def test_weights_change_in_the_parameters_own_arrays():
    net = model(np.float64)
    arrays = [p.data for p in net.parameters()]
    before = [a.copy() for a in arrays]
    opt = optim.Adam(net.parameters(), lr=0.1, fused=True)
    (net(cr.randn(2, 5).double()) ** 2).sum().backward()
    versions = [p._version for p in net.parameters()]
    opt.step()
    for p, a, b, v in zip(net.parameters(), arrays, before, versions, strict=True):
        assert p.data is a and not np.array_equal(a, b)
        assert p._version == v + 1


def freeze_first_layer_at_step_2(k, net, opt):
    if k == 2:
        for p in net[0].parameters():
            p.grad = None


@pytest.mark.parametrize("fused", [True, None])
@pytest.mark.parametrize("config", ["Adam", "SGD momentum", "Adagrad"])
def test_a_parameter_without_gradient_falls_back_to_the_loop(config, fused):
    # after the skipped step the step counts differ, so the group stays on the loop
    a = train(config, fused, steps=5, between=freeze_first_layer_at_step_2)
    b = train(config, False, steps=5, between=freeze_first_layer_at_step_2)
    assert_same(a, b)
    assert a[1].state[next(a[0][0].parameters())]["step"] == 4
    assert a[1].state[next(a[0][2].parameters())]["step"] == 5


def replace_state_by_hand_at_step_2(k, net, opt):
    if k == 2:
        p = next(net[0].parameters())
        opt.state[p]["exp_avg"] = np.full_like(p.data, 0.5)


def test_state_replaced_by_hand_is_used_and_repacked():
    a = train("Adam", True, steps=5, between=replace_state_by_hand_at_step_2)
    b = train("Adam", False, steps=5, between=replace_state_by_hand_at_step_2)
    assert_same(a, b)
    bases = flat_bases(a[1], a[0])
    assert all(base is bases[0] for base in bases)


@pytest.mark.parametrize("fused", [True, None, False])
def test_state_dict_round_trip_of_a_fused_optimizer(fused):
    reference = train("AdamW", False, steps=6)

    def save_and_reload_at_step_3(k, net, opt):
        if k == 3:
            saved = opt.state_dict()
            opt.load_state_dict(saved)

    assert_same(train("AdamW", fused, steps=6, between=save_and_reload_at_step_3), reference)
    net, opt = train("AdamW", fused, steps=3)
    saved = opt.state_dict()
    for entry in saved["state"].values():  # copies, not views of the live buffers
        assert all(v.base is None for v in entry.values() if isinstance(v, np.ndarray))


def test_mixed_dtypes_in_one_group_fall_back_to_the_loop():
    def two_params(dtype2):
        a = cr.tensor(np.linspace(-1, 1, 6), requires_grad=True)
        b = cr.tensor(np.linspace(1, 2, 4).astype(dtype2), requires_grad=True)
        return a, b

    results = []
    for fused in (True, False):
        a, b = two_params(np.float32)
        opt = optim.Adam([a, b], lr=0.1, fused=fused)
        for k in range(3):
            a.grad = cr.tensor(np.full(6, 0.1 * (k + 1)))
            b.grad = cr.tensor(np.full(4, -0.2 * (k + 1), np.float32))
            opt.step()
        assert opt._flat == {}
        results.append((a.data.copy(), b.data.copy()))
    for x, y in zip(*results, strict=True):
        np.testing.assert_array_equal(x, y)


def test_fused_must_be_a_bool_or_none():
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="fused must be True, False or None, got 'yes'"):
        optim.Adam([w], fused="yes")
