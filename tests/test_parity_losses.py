"""Every loss, with every option it has, against PyTorch in float64: the value, the gradient
with respect to the input, and the gradient with respect to the target wherever the target
is differentiable (MSE, BCE, BCE with logits, cross-entropy's probability targets).

A gradcheck alone cannot catch a mistake shared by forward and backward (a wrong mean
denominator, a wrong smoothing share): PyTorch is the oracle here. The upstream gradient
of a 'none' reduction is a random array, so a wrong per-element scaling cannot hide in a sum.

Where chainrule differs from PyTorch on purpose, the test says so and checks chainrule's
documented behaviour instead:

* elementwise losses refuse to broadcast input against target (``_same_shape``);
* binary_cross_entropy's gradient with respect to the target at p = 0 or 1 is the exact
  derivative of the clamped forward (finite), where PyTorch's is -logit(p) = +-inf;
* a 'mean' over no counted example (every target ignored) is NaN as in PyTorch, with a
  zero gradient (PyTorch's too for ignored targets).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")
TF = torch.nn.functional

REDUCTIONS = ("mean", "sum", "none")
RTOL, ATOL = 1e-12, 1e-14
rng = np.random.default_rng(2024)


def compare(ours, theirs, arrays: dict[str, np.ndarray], grads: tuple[str, ...],
            seed: int = 0, rtol: float = RTOL) -> None:
    """``ours(**tensors)`` and ``theirs(**torch_tensors)`` agree in value and in the gradient
    of every input named in ``grads``, for a random upstream gradient of the loss's shape.

    Integer arrays (class indices) are passed as they are, never differentiated.
    """
    ct = {k: cr.tensor(v, requires_grad=k in grads, dtype=v.dtype) for k, v in arrays.items()}
    tt = {k: torch.tensor(v, requires_grad=k in grads) for k, v in arrays.items()}
    loss, tloss = ours(**ct), theirs(**tt)
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=rtol, atol=ATOL)
    seedv = np.random.default_rng(seed).uniform(0.5, 2.0, loss.shape)
    loss.backward(cr.tensor(seedv))
    tloss.backward(torch.tensor(seedv))
    for name in grads:
        assert ct[name].grad is not None, f"no gradient for {name}"
        np.testing.assert_allclose(ct[name].grad.data, tt[name].grad.numpy(), rtol=rtol,
                                   atol=ATOL, err_msg=f"gradient with respect to {name}")


def probabilities(*shape: int) -> np.ndarray:
    return rng.uniform(0.05, 0.95, shape)


# -- mean squared error -------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("module", [False, True])
def test_mse_loss_matches_torch_in_input_and_target(reduction, module):
    arrays = {"input": rng.standard_normal((3, 4)), "target": rng.standard_normal((3, 4))}
    ours = nn.MSELoss(reduction) if module else (
        lambda input, target: F.mse_loss(input, target, reduction))
    compare(lambda input, target: ours(input, target),
            lambda input, target: TF.mse_loss(input, target, reduction=reduction),
            arrays, ("input", "target"))


def test_mse_loss_refuses_to_broadcast_where_torch_warns():
    # deliberate (``_same_shape``): (N, 1) against (N,) compares every pair
    with pytest.raises(ValueError, match=r"input has shape \(3, 1\) but target has shape"):
        F.mse_loss(cr.tensor(np.zeros((3, 1))), np.zeros(3))


# -- binary cross-entropy -----------------------------------------------------------------

BCE_WEIGHTS = {"none": None, "elementwise": (3, 4), "per column": (4,)}


def _bce_weight(kind: str) -> np.ndarray | None:
    shape = BCE_WEIGHTS[kind]
    return None if shape is None else rng.uniform(0.2, 3.0, shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", list(BCE_WEIGHTS))
@pytest.mark.parametrize("logits", [False, True], ids=["probs", "logits"])
def test_binary_cross_entropy_matches_torch_in_input_and_target(reduction, weight, logits):
    w = _bce_weight(weight)
    x = rng.standard_normal((3, 4)) * 3 if logits else probabilities(3, 4)
    arrays = {"input": x, "target": probabilities(3, 4)}
    ours = F.binary_cross_entropy_with_logits if logits else F.binary_cross_entropy
    theirs = TF.binary_cross_entropy_with_logits if logits else TF.binary_cross_entropy
    tw = None if w is None else torch.tensor(w)
    compare(lambda input, target: ours(input, target, weight=w, reduction=reduction),
            lambda input, target: theirs(input, target, weight=tw, reduction=reduction),
            arrays, ("input", "target"))


POS_WEIGHTS = {"per class": (4,), "elementwise": (3, 4), "scalar": ()}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", list(POS_WEIGHTS))
@pytest.mark.parametrize("weight", ["none", "per column"])
def test_bce_with_logits_pos_weight_matches_torch_in_input_and_target(reduction, pos_weight,
                                                                      weight):
    # weights below and above 1, and logits large enough that softplus's two branches count
    pw, w = rng.uniform(0.2, 4.0, POS_WEIGHTS[pos_weight]), _bce_weight(weight)
    tw = None if w is None else torch.tensor(w)
    arrays = {"input": rng.standard_normal((3, 4)) * 6, "target": probabilities(3, 4)}
    compare(lambda input, target: F.binary_cross_entropy_with_logits(
                input, target, w, reduction, pos_weight=pw),
            lambda input, target: TF.binary_cross_entropy_with_logits(
                input, target, tw, reduction=reduction, pos_weight=torch.tensor(pw)),
            arrays, ("input", "target"))


def test_bce_with_logits_pos_weight_gradchecks_to_second_order():
    pw = np.array([0.5, 3.0])
    x = cr.tensor(rng.standard_normal((4, 2)) * 3, requires_grad=True)
    t = cr.tensor(probabilities(4, 2), requires_grad=True)

    def loss(x, t):  # noqa: ANN001, ANN202
        return F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="sum")

    assert cr.gradcheck(loss, [x, t]) and cr.gradgradcheck(loss, [x, t])
    assert F.binary_cross_entropy_with_logits(x.float(), t.float(), pos_weight=pw).dtype \
        == np.float32


def test_bce_with_logits_pos_weight_stays_finite_for_huge_logits():
    # L = -(w t log s(x) + (1 - t) log(1 - s(x))): for x = +-800, log s(x) is -800 or 0
    x = np.array([[800.0, -800.0]])
    t = np.array([[0.25, 0.75]])
    pw = np.array([2.0, 3.0])
    loss = F.binary_cross_entropy_with_logits(cr.tensor(x), t, pos_weight=pw, reduction="none")
    log_s, log_1ms = np.array([[0.0, -800.0]]), np.array([[-800.0, 0.0]])
    np.testing.assert_allclose(loss.data, -(pw * t * log_s + (1 - t) * log_1ms), rtol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("logits", [False, True], ids=["probs", "logits"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_binary_cross_entropy_modules_match_torch(reduction, logits, weighted):
    arrays = {"input": rng.standard_normal((5, 2)) if logits else probabilities(5, 2),
              "target": rng.integers(0, 2, (5, 2)).astype(np.float64)}
    w = rng.uniform(0.2, 3.0, 2) if weighted else None
    options = {"pos_weight": np.array([3.0, 0.5])} if logits and weighted else {}
    ours = (nn.BCEWithLogitsLoss if logits else nn.BCELoss)(w, reduction=reduction, **options)
    theirs = (torch.nn.BCEWithLogitsLoss if logits else torch.nn.BCELoss)(
        None if w is None else torch.tensor(w), reduction=reduction,
        **{k: torch.tensor(v) for k, v in options.items()})
    compare(ours, theirs, arrays, ("input", "target"))


@pytest.mark.parametrize("module", [nn.BCELoss, nn.BCEWithLogitsLoss, nn.CrossEntropyLoss,
                                    nn.NLLLoss])
def test_weighted_loss_modules_take_the_weight_first_and_refuse_a_reduction_there(module):
    # PyTorch's first positional argument is the weight: BCELoss("sum") would weight by "sum"
    with pytest.raises(TypeError, match=r"first argument is the weight; pass the reduction "
                                        r"by name: reduction='sum'"):
        module("sum")
    assert module(reduction="sum").reduction == "sum"


@pytest.mark.parametrize("option", ["weight", "pos_weight"])
def test_bce_options_that_do_not_broadcast_to_the_input_are_refused(option):
    x, t = cr.tensor(rng.standard_normal((3, 4))), probabilities(3, 4)
    with pytest.raises(ValueError, match=rf"binary_cross_entropy_with_logits: {option} of shape "
                                         r"\(2, 3, 4\) does not broadcast to the input's shape "
                                         r"\(3, 4\); give one value per element or per class"):
        F.binary_cross_entropy_with_logits(x, t, **{option: np.ones((2, 3, 4))})
    with pytest.raises(ValueError, match=rf"{option} of shape \(5,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, t, **{option: np.ones(5)})
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight of shape \(3, 1, 4\)"):
        F.binary_cross_entropy(cr.tensor(probabilities(3, 4)), t, weight=np.ones((3, 1, 4)))


def test_bce_with_logits_refuses_a_pos_weight_that_is_not_numbers():
    with pytest.raises(TypeError, match="pos_weight must hold real numbers; got an array of <U1"):
        F.binary_cross_entropy_with_logits(cr.tensor(np.zeros(2)), np.zeros(2),
                                           pos_weight=np.array(["a", "b"]))


def test_weighted_loss_modules_are_not_saved_with_their_arrays():
    # an array option is not a constructor argument a model file can hold
    assert nn.BCEWithLogitsLoss(pos_weight=np.ones(2)).extra_config() is None
    assert nn.BCELoss(np.ones(2)).extra_config() is None
    assert nn.BCELoss().extra_config() == {"reduction": "mean"}
    assert nn.NLLLoss(ignore_index=3).extra_config() == {"ignore_index": 3, "reduction": "mean"}


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_at_probabilities_0_and_1_matches_torch(reduction):
    # log clamped at -100 and p (1 - p) at 1e-12, as PyTorch does: finite where exact is inf.
    # PyTorch's bound is the float32 constant 1e-12f = 1e-12 (1 - 4.0e-9), so its gradients
    # of about 1e12 differ in the ninth digit: rtol 1e-8 there
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    arrays = {"input": p, "target": np.array([0.0, 1.0, 1.0, 0.0, 0.25])}
    compare(lambda input, target: F.binary_cross_entropy(input, target, reduction=reduction),
            lambda input, target: TF.binary_cross_entropy(input, target, reduction=reduction),
            arrays, ("input",), rtol=1e-8)
    x = cr.tensor(p, requires_grad=True)
    F.binary_cross_entropy(x, arrays["target"], reduction="sum").backward()
    np.testing.assert_allclose(x.grad.data, [0.0, 0.0, -1e12, 1e12, 1.0], rtol=1e-15)


def test_binary_cross_entropy_target_gradient_at_0_and_1_is_the_clamped_derivative():
    # deliberate difference: PyTorch's dL/dt is -logit(p) = +-inf at p = 0 or 1; chainrule's
    # is the derivative of its clamped forward, max(log(1-p), -100) - max(log p, -100)
    # (the docstring's promise of finite gradients at the endpoints)
    p = cr.tensor(np.array([0.0, 1.0, 0.3]), requires_grad=True)
    t = cr.tensor(np.array([0.5, 0.5, 0.5]), requires_grad=True)
    F.binary_cross_entropy(p, t, reduction="sum").backward()
    np.testing.assert_allclose(t.grad.data, [100.0, -100.0, np.log(0.7) - np.log(0.3)],
                               rtol=1e-14)
    tp = torch.tensor([0.0, 1.0, 0.3], requires_grad=True, dtype=torch.float64)
    tt = torch.tensor([0.5, 0.5, 0.5], requires_grad=True, dtype=torch.float64)
    TF.binary_cross_entropy(tp, tt, reduction="sum").backward()
    assert tt.grad[0] == np.inf and tt.grad[1] == -np.inf  # the difference is real
    np.testing.assert_allclose(t.grad.data[2], tt.grad[2].item(), rtol=1e-14)


def test_binary_cross_entropy_with_huge_logits_equals_the_analytic_loss():
    # |x| = 800: exp(800) overflows, so a naive log(1 + exp(-x)) would give inf; the fused
    # form gives the exact values: L(x, t) = max(x, 0) - x t (+ log1p(e^-|x|) = 0 here)
    x = np.array([800.0, -800.0, 800.0, -800.0, 30.0])
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.25])
    arrays = {"input": x, "target": t}
    compare(lambda input, target: F.binary_cross_entropy_with_logits(input, target, reduction=
                                                                     "none"),
            lambda input, target: TF.binary_cross_entropy_with_logits(input, target,
                                                                      reduction="none"),
            arrays, ("input", "target"))
    loss = F.binary_cross_entropy_with_logits(cr.tensor(x), t, reduction="none").data
    np.testing.assert_array_equal(loss[:4], [0.0, 0.0, 800.0, 800.0])


# -- cross-entropy and negative log-likelihood -----------------------------------------------

N, C = 6, 4
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
IGNORES = {  # (ignore_index argument, targets): none ignored / the default / a class index
    "none ignored": (-100, np.array([0, 3, 1, 2, 3, 0])),
    "-100 ignored": (-100, np.array([0, -100, 1, 2, -100, 3])),
    "class 2 ignored": (2, np.array([0, 2, 1, 2, 3, 3])),
}
SMOOTHING = (0.0, 0.1, 1.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", SMOOTHING)
@pytest.mark.parametrize("ignore", list(IGNORES))
def test_cross_entropy_class_targets_every_option_matches_torch(reduction, weighted, smoothing,
                                                                ignore):
    ignore_index, target = IGNORES[ignore]
    w = CLASS_WEIGHT if weighted else None
    tw = None if w is None else torch.tensor(w)
    arrays = {"input": rng.standard_normal((N, C)) * 2, "target": target}
    compare(lambda input, target: F.cross_entropy(
                input, target, weight=w, ignore_index=ignore_index, reduction=reduction,
                label_smoothing=smoothing),
            lambda input, target: TF.cross_entropy(
                input, target, weight=tw, ignore_index=ignore_index, reduction=reduction,
                label_smoothing=smoothing),
            arrays, ("input",))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", SMOOTHING)
@pytest.mark.parametrize("target_grad", [True, False], ids=["target-grad", "constant-target"])
def test_cross_entropy_probability_targets_match_torch_in_input_and_target(reduction, weighted,
                                                                           smoothing, target_grad):
    # a target that requires grad takes the composed path, a constant one the fused node
    w = CLASS_WEIGHT if weighted else None
    tw = None if w is None else torch.tensor(w)
    arrays = {"input": rng.standard_normal((N, C)) * 2,
              "target": rng.dirichlet(np.ones(C), N)}
    compare(lambda input, target: F.cross_entropy(input, target, weight=w, reduction=reduction,
                                                  label_smoothing=smoothing),
            lambda input, target: TF.cross_entropy(input, target, weight=tw,
                                                   reduction=reduction,
                                                   label_smoothing=smoothing),
            arrays, ("input", "target") if target_grad else ("input",))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_class_targets_out_of_range_are_refused_naming_the_first(loss, ignore_index):
    # PyTorch refuses them too (IndexError or a device assert); chainrule names the first
    # offending target, its position and the range it expected
    x = cr.tensor(rng.standard_normal((N, C)))
    target = np.array([0, 1, 4, 2, -3, 3])  # 4 at position 2 is the first; -3 the second
    expected = "0..3" + (" or ignore_index 1" if ignore_index >= 0 else "")
    with pytest.raises(ValueError, match=rf"target 4 at position 2 is out of range for 4 "
                                         rf"classes \(expected {expected}\)"):
        loss(x, target, ignore_index=ignore_index)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("soft", [False, True], ids=["index", "probabilities"])
def test_cross_entropy_of_one_unbatched_example_matches_torch(reduction, soft):
    target = rng.dirichlet(np.ones(C)) if soft else np.array(2)
    arrays = {"input": rng.standard_normal(C), "target": target}
    grads = ("input", "target") if soft else ("input",)
    compare(lambda input, target: F.cross_entropy(input, target, weight=CLASS_WEIGHT,
                                                  reduction=reduction, label_smoothing=0.2),
            lambda input, target: TF.cross_entropy(input, target,
                                                   weight=torch.tensor(CLASS_WEIGHT),
                                                   reduction=reduction, label_smoothing=0.2),
            arrays, grads)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore", list(IGNORES))
@pytest.mark.parametrize("single", [False, True], ids=["batch", "unbatched"])
def test_nll_loss_every_option_matches_torch(reduction, weighted, ignore, single):
    ignore_index, target = IGNORES[ignore]
    x = rng.standard_normal((N, C))
    if single:
        x, target = x[1], np.array(target[1])
    w = CLASS_WEIGHT if weighted else None
    tw = None if w is None else torch.tensor(w)
    compare(lambda input, target: F.nll_loss(input, target, weight=w, ignore_index=ignore_index,
                                             reduction=reduction),
            lambda input, target: TF.nll_loss(input, target, weight=tw,
                                              ignore_index=ignore_index, reduction=reduction),
            {"input": x, "target": target}, ("input",))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_and_nll_modules_match_torch(reduction):
    ignore_index, target = IGNORES["class 2 ignored"]
    tw = torch.tensor(CLASS_WEIGHT)
    arrays = {"input": rng.standard_normal((N, C)), "target": target}
    compare(nn.CrossEntropyLoss(CLASS_WEIGHT, ignore_index, reduction, label_smoothing=0.3),
            torch.nn.CrossEntropyLoss(tw, ignore_index=ignore_index, reduction=reduction,
                                      label_smoothing=0.3), arrays, ("input",))
    compare(nn.NLLLoss(CLASS_WEIGHT, ignore_index, reduction),
            torch.nn.NLLLoss(tw, ignore_index=ignore_index, reduction=reduction),
            arrays, ("input",))


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_cross_entropy_drawn_options_match_torch(data):
    n = data.draw(st.integers(1, 5), label="n")
    c = data.draw(st.integers(2, 5), label="classes")
    ignore_index = data.draw(st.sampled_from([-100, 0, c - 1]), label="ignore_index")
    target = np.array(data.draw(st.lists(st.sampled_from([*range(c), ignore_index]),
                                         min_size=n, max_size=n), label="target"))
    if not (target != ignore_index).any():
        target[0] = (ignore_index + 1) % c  # one counted example (the empty mean: below)
    w = data.draw(st.sampled_from([None, np.linspace(0.5, 2.0, c)]), label="weight")
    smoothing = data.draw(st.floats(0.0, 1.0), label="label_smoothing")
    reduction = data.draw(st.sampled_from(REDUCTIONS), label="reduction")
    x = np.random.default_rng(n * 10 + c).standard_normal((n, c)) * 3
    tw = None if w is None else torch.tensor(w)
    compare(lambda input, target: F.cross_entropy(input, target, w, ignore_index, reduction,
                                                  smoothing),
            lambda input, target: TF.cross_entropy(input, target, tw, ignore_index=ignore_index,
                                                   reduction=reduction,
                                                   label_smoothing=smoothing),
            {"input": x, "target": target}, ("input",))


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_mean_over_no_counted_example_is_nan_with_zero_gradient_as_torch(loss, weighted):
    # every target ignored (a batch of padding only): 0 / 0 = NaN, as in PyTorch, and no
    # example gets a gradient; this used to raise ZeroDivisionError
    target = np.array([-100, -100, -100])
    x = rng.standard_normal((3, C))
    w = CLASS_WEIGHT if weighted else None
    a = cr.tensor(x, requires_grad=True)
    with np.errstate(all="raise"):  # and without a numpy warning
        value = getattr(F, loss)(a, target, weight=w)
        value.backward()
    ta = torch.tensor(x, requires_grad=True)
    tvalue = getattr(TF, loss)(ta, torch.tensor(target),
                               weight=None if w is None else torch.tensor(w))
    tvalue.backward()
    assert np.isnan(value.item()) and np.isnan(tvalue.item())
    np.testing.assert_array_equal(a.grad.data, ta.grad.numpy())
    np.testing.assert_array_equal(a.grad.data, 0.0)


# -- sequence cross-entropy ---------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("given_as", ["mask", "lengths"])
def test_sequence_cross_entropy_is_torch_cross_entropy_over_the_real_steps(reduction, given_as):
    b, steps = 3, 5
    lengths = np.array([5, 2, 3])
    mask = np.arange(steps)[None, :] < lengths[:, None]
    target = rng.integers(0, C, (b, steps))
    x = rng.standard_normal((b, steps, C))
    kwargs = {"mask": mask} if given_as == "mask" else {"lengths": lengths}

    def theirs(input, target):  # noqa: ANN001, ANN202
        ignored = torch.where(torch.tensor(mask), target, -100)
        losses = TF.cross_entropy(input.reshape(-1, C), ignored.reshape(-1),
                                  reduction=reduction)
        return losses.reshape(b, steps) if reduction == "none" else losses

    compare(lambda input, target: F.sequence_cross_entropy(input, target, reduction=reduction,
                                                           **kwargs),
            theirs, {"input": x, "target": target}, ("input",))


def test_the_option_table_covers_every_loss():
    # a loss added to the functional API without a parity test here fails this
    tested = {"mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
              "cross_entropy", "nll_loss", "sequence_cross_entropy"}
    losses = {name for name in F.__all__ if name.endswith(("_loss", "_entropy", "_logits"))}
    assert losses == tested
    modules = {name for name in nn.__all__ if name.endswith("Loss")}
    assert modules == {"MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss"}



def test_cross_entropy_probability_target_gradients_gradcheck():
    # the composed path taken when the target needs a gradient: first and second derivatives
    x = cr.tensor(rng.standard_normal((3, C)), requires_grad=True)
    t = cr.tensor(rng.dirichlet(np.ones(C), 3), requires_grad=True)

    def loss(x, t):  # noqa: ANN001, ANN202
        return F.cross_entropy(x, t, weight=CLASS_WEIGHT, label_smoothing=0.2)

    assert cr.gradcheck(loss, [x, t]) and cr.gradgradcheck(loss, [x, t])
    assert F.cross_entropy(x.float(), t.float()).dtype == np.float32
