"""Gradient clipping against PyTorch's clip_grad_norm_ and clip_grad_value_ in float64, and
at the edges the docstrings promise: no gradient at all, a non-finite norm, the inf norm of
small gradients, and max_norm at its bound."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import clip_grad_norm_, clip_grad_value_

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")


def pair(grads: list[np.ndarray]) -> tuple[list[cr.Tensor], list]:
    """The same gradients on chainrule and torch parameters."""
    ours, theirs = [], []
    for g in grads:
        p = cr.tensor(np.zeros_like(g), requires_grad=True)
        p.grad = cr.tensor(g.copy())
        t = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        t.grad = torch.tensor(g.copy())
        ours.append(p)
        theirs.append(t)
    return ours, theirs


GRADS = [np.array([[3.0, -4.0], [1.0, 0.5]]), np.array([-2.0, 0.25, 6.0])]


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, np.inf])
@pytest.mark.parametrize("max_norm", [0.5, 5.0, 100.0], ids=["clips", "clips-a-little",
                                                             "leaves"])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = pair(GRADS)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total, their_total.item(), rtol=1e-13)
    for p, t in zip(ours, theirs, strict=True):
        # the scale is max_norm / (total + 1e-6), as PyTorch's: a wrong epsilon shows
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-13, atol=0)


def test_the_inf_norm_of_small_gradients_is_their_largest_magnitude():
    ours, theirs = pair([np.array([0.1, -0.3]), np.array([[0.2]])])
    assert clip_grad_norm_(ours, 1.0, np.inf) == 0.3
    assert torch.nn.utils.clip_grad_norm_(theirs, 1.0, np.inf).item() == 0.3


def test_no_gradient_gives_a_norm_of_zero_and_changes_nothing():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    total = clip_grad_norm_([p], 1.0)
    assert isinstance(total, float) and total == 0.0
    assert p.grad is None
    assert torch.nn.utils.clip_grad_norm_([torch.ones(2, requires_grad=True)], 1.0).item() == 0


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")
def test_a_non_finite_norm_is_returned_by_default_and_refused_on_request():
    ours, theirs = pair([np.array([1.0, np.inf])])
    assert clip_grad_norm_(ours, 1.0) == np.inf  # torch's default: no error either
    assert torch.nn.utils.clip_grad_norm_(theirs, 1.0).item() == np.inf
    # both scale by 1 / inf = 0, so inf * 0 leaves NaN where the inf was
    np.testing.assert_array_equal(ours[0].grad.data, theirs[0].grad.numpy())
    ours, _ = pair([np.array([1.0, np.inf])])
    with pytest.raises(FloatingPointError, match="total gradient norm is inf"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    finite, _ = pair([np.array([3.0, 4.0])])
    assert clip_grad_norm_(finite, 1.0, error_if_nonfinite=True) == 5.0


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_max_norm_and_clip_value_must_be_positive(bad):
    ours, _ = pair(GRADS)
    with pytest.raises(ValueError, match=f"max_norm must be positive, got {bad}"):
        clip_grad_norm_(ours, bad)
    with pytest.raises(ValueError, match=f"clip_value must be positive, got {bad}"):
        clip_grad_value_(ours, bad)


def test_clip_grad_value_matches_torch_at_and_beyond_the_bounds():
    ours, theirs = pair([np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])])
    clip_grad_value_(ours, 1.0)
    torch.nn.utils.clip_grad_value_(theirs, 1.0)
    np.testing.assert_array_equal(ours[0].grad.data, theirs[0].grad.numpy())
