"""Attention and Transformers: erf, GELU, SiLU, layer/RMS norm, scaled dot-product attention,
MultiheadAttention and the GPT model. Every op gradchecked and gradgradchecked in float64
over drawn shapes and masks, forward and backward equal to PyTorch's, exact zeros where
masked, float32 kept float32, bad input refused in one line."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradchecked import gradchecks, params
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn
from chainrule import optim
from chainrule.ops.activations import (
    Erf,
    GELUOp,
    SiLUOp,
    erf,
    erf_array,
    erfc_array,
    normal_cdf_array,
)
from chainrule.ops.attention import MaskedSoftmax, ScaledDotProductAttention, attention_probs
from chainrule.ops.normalization import LayerNormOp, RMSNormOp

FAST = settings(max_examples=8, deadline=None)
rng = np.random.default_rng(0)


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")


def t64(*shape, seed=None, scale=1.0):
    r = rng if seed is None else np.random.default_rng(seed)
    return cr.tensor(r.standard_normal(shape) * scale, requires_grad=True)


def check(fn, *inputs, second=True):
    assert cr.gradcheck(fn, list(inputs))
    if second:
        assert cr.gradgradcheck(fn, list(inputs))


def same_grads(ours_fn, theirs_fn, *arrays, atol=1e-12):
    """Forward and every input gradient of ours and PyTorch's, in float64, for one seed g."""
    torch = torch_or_skip()
    cs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours, theirs = ours_fn(*cs), theirs_fn(*ts)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=atol)
    g = rng.standard_normal(ours.shape)
    ours.backward(g)
    theirs.backward(torch.tensor(g))
    for c, t in zip(cs, ts, strict=True):
        np.testing.assert_allclose(c.grad.data, t.grad.numpy(), rtol=1e-10, atol=atol)


# -- erf -------------------------------------------------------------------------------------------

def test_erf_and_erfc_are_float64_accurate():
    x = np.concatenate([np.linspace(-27, 27, 40001), np.geomspace(1e-300, 1, 300),
                        -np.geomspace(1e-300, 1, 300), [0.0, 0.75, -0.75, np.nextafter(0.75, 0)]])
    ref = np.array([math.erf(v) for v in x])
    rel = np.abs(erf_array(x) - ref) / np.maximum(np.abs(ref), 1e-300)
    assert rel.max() < 2e-15
    ref_c = np.array([math.erfc(v) for v in x])
    normal = ref_c > 1e-300  # below that erfc is subnormal and has fewer digits anyway
    assert (np.abs(erfc_array(x) - ref_c)[normal] / ref_c[normal]).max() < 4e-15
    assert np.abs(erfc_array(x) - ref_c)[~normal].max() < 1e-300
    np.testing.assert_array_equal(erf_array(np.array([np.inf, -np.inf, 0.0])), [1.0, -1.0, 0.0])
    assert np.isnan(erf_array(np.array([np.nan]))).all()
    assert erfc_array(np.array([np.inf]))[0] == 0.0 and erfc_array(np.array([-np.inf]))[0] == 2
    x32 = np.linspace(-5, 5, 101, dtype=np.float32)
    assert erf_array(x32).dtype == np.float32
    assert np.abs(erf_array(x32) - [math.erf(v) for v in x32]).max() < 3e-7


def test_float32_erfc_is_within_7_ulps_everywhere_and_exact_at_the_ends():
    # the branch-free float32 path (ops.activations._erfc_float32), against math.erfc
    x = np.concatenate([np.linspace(-12, 12, 240001), np.geomspace(1e-30, 1, 200),
                        -np.geomspace(1e-30, 1, 200), [0.0, -0.0, 10.0, 10.5, 11.0]]
                       ).astype(np.float32)
    got = erfc_array(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    want = np.array([math.erfc(float(v)) for v in x])
    normal = want > np.finfo(np.float32).tiny
    ulps = np.abs(got - want)[normal] / np.spacing(want[normal].astype(np.float32))
    assert ulps.max() <= 7, (ulps.max(), x[normal][np.argmax(ulps)])
    assert np.abs(got - want)[~normal].max() <= 1e-44  # subnormal: absolute
    ends = erfc_array(np.array([np.inf, -np.inf, 0.0, -0.0, np.nan], np.float32))
    np.testing.assert_array_equal(ends[:4], [0.0, 2.0, 1.0, 1.0])
    assert np.isnan(ends[4])
    scalar = erfc_array(np.array(0.5, np.float32))
    assert scalar.shape == () and scalar.dtype == np.float32
    assert abs(float(scalar) - math.erfc(0.5)) < 1e-7
    # Phi, as the exact GELU uses it, agrees with the float64 path to float32 rounding: in
    # the left tail, rounding z / sqrt 2 to float32 moves Phi by up to z^2 times its 6e-8
    z = (np.random.default_rng(0).standard_normal(10_000) * 3).astype(np.float32)
    got, want = normal_cdf_array(z), normal_cdf_array(z.astype(np.float64))
    assert got.dtype == np.float32
    assert (np.abs(got - want) / want <= 5e-7 * (1 + z.astype(np.float64) ** 2)).all()


# -- the elementwise activations and the norms, gradchecked ----------------------------------------

ACTIVATIONS = {
    "erf": erf,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
}


@pytest.mark.parametrize("name", params(ACTIVATIONS, {
    "erf": Erf, "gelu": GELUOp, "gelu_tanh": GELUOp, "silu": SiLUOp}))
@FAST
@given(shape=array_shapes(min_dims=0, max_dims=3, max_side=4), seed=st.integers(0, 1000))
def test_activations_gradcheck(name, shape, seed):
    check(ACTIVATIONS[name], t64(*shape, seed=seed, scale=2.0))


@pytest.mark.parametrize("ours, theirs", [
    (F.gelu, "gelu"), (lambda x: F.gelu(x, "tanh"), "gelu_tanh"), (F.silu, "silu")])
def test_activations_match_torch(ours, theirs):
    torch = torch_or_skip()
    fn = {"gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu,
          "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh")}[theirs]
    x = np.concatenate([rng.standard_normal(40) * 3, [0.0, -0.75 * math.sqrt(2), 8.0, -8.0]])
    same_grads(ours, fn, x)


@gradchecks(LayerNormOp, RMSNormOp)
@FAST
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4), data=st.data())
def test_layer_norm_and_rms_norm_gradcheck(shape, data):
    n = data.draw(st.integers(1, len(shape)))
    affine, bias = data.draw(st.booleans()), data.draw(st.booleans())
    normalized = shape[len(shape) - n:]
    x = t64(*shape, seed=data.draw(st.integers(0, 1000)))
    w = t64(*normalized) if affine else None
    b = t64(*normalized) if affine and bias else None
    extra = [p for p in (w, b) if p is not None]

    def ln(x, *params):
        return F.layer_norm(x, normalized, params[0] if affine else None,
                            params[-1] if b is not None else None, eps=1e-3)

    def rms(x, *params):
        return F.rms_norm(x, normalized, params[0] if affine else None, eps=1e-3)

    check(ln, x, *extra)
    check(rms, x, *extra[:1])


@pytest.mark.parametrize("normalized", [(5,), (3, 5)])
def test_layer_norm_and_rms_norm_match_torch(normalized):
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 5)) * 2 + 1
    w, b = rng.standard_normal(normalized), rng.standard_normal(normalized)
    same_grads(lambda x, w, b: F.layer_norm(x, normalized, w, b),
               lambda x, w, b: torch.nn.functional.layer_norm(x, normalized, w, b), x, w, b)
    same_grads(lambda x, w: F.rms_norm(x, normalized, w),
               lambda x, w: torch.nn.functional.rms_norm(x, normalized, w), x, w)
    same_grads(lambda x: F.layer_norm(x, normalized, eps=0.1),
               lambda x: torch.nn.functional.layer_norm(x, normalized, eps=0.1), x)
    same_grads(lambda x: F.rms_norm(x, normalized, eps=0.1),
               lambda x: torch.nn.functional.rms_norm(x, normalized, eps=0.1), x)


def test_norm_modules_match_torch_modules():
    torch = torch_or_skip()
    x = rng.standard_normal((4, 6))
    pairs = [(nn.LayerNorm(6, dtype=np.float64), torch.nn.LayerNorm(6)),
             (nn.LayerNorm(6, bias=False, dtype=np.float64), torch.nn.LayerNorm(6, bias=False)),
             (nn.LayerNorm(6, elementwise_affine=False),
              torch.nn.LayerNorm(6, elementwise_affine=False)),
             (nn.RMSNorm(6, dtype=np.float64), torch.nn.RMSNorm(6)),
             (nn.RMSNorm(6, eps=1e-3, elementwise_affine=False),
              torch.nn.RMSNorm(6, eps=1e-3, elementwise_affine=False))]
    for ours, theirs in pairs:
        theirs = theirs.double()
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, dtype=torch.float64))
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        same_grads(ours, theirs, x)


# -- scaled dot-product attention ------------------------------------------------------------------

MASKS = ("none", "bool", "float", "causal")


def draw_mask(kind, lead, L, S, seed):
    r = np.random.default_rng(seed)
    if kind == "bool":  # broadcast over the leading axes sometimes
        shape = (L, S) if seed % 2 else (*lead, L, S)
        return r.random(shape) > 0.4
    if kind == "float":
        mask = r.standard_normal((*lead, L, S))
        mask[r.random(mask.shape) < 0.25] = -np.inf
        return mask
    return None


@gradchecks(ScaledDotProductAttention, MaskedSoftmax)
@pytest.mark.parametrize("kind", MASKS)
@FAST
@given(lead=st.lists(st.integers(1, 2), max_size=2).map(tuple), L=st.integers(1, 3),
       S=st.integers(1, 3), E=st.integers(1, 3), Ev=st.integers(1, 2), data=st.data())
def test_sdpa_gradcheck(kind, lead, L, S, E, Ev, data):
    seed = data.draw(st.integers(0, 1000))
    scale = data.draw(st.sampled_from([None, 0.3, 2.0]))
    q, k, v = t64(*lead, L, E, seed=seed), t64(*lead, S, E, seed=seed + 1), \
        t64(*lead, S, Ev, seed=seed + 2)
    mask = draw_mask(kind, lead, L, S, seed)

    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=kind == "causal",
                                              scale=scale)

    check(f, q, k, v)


def test_sdpa_with_dropout_gradcheck_and_semantics():
    q, k, v = t64(2, 3, 2), t64(2, 4, 2), t64(2, 4, 3)

    def f(q, k, v):
        cr.manual_seed(5)  # the same dropout mask at every evaluation
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    check(f, q, k, v)
    # with V = I the output is the dropped-out P itself: 0 or P / (1 - p)
    qq, kk = rng.standard_normal((64, 8, 4)), rng.standard_normal((64, 8, 4))
    eye = np.broadcast_to(np.eye(8), (64, 8, 8))
    p = F.scaled_dot_product_attention(qq, kk, eye).data
    dropped = F.scaled_dot_product_attention(qq, kk, eye, dropout_p=0.25).data
    kept = dropped != 0
    np.testing.assert_allclose(dropped[kept], p[kept] / 0.75, rtol=1e-12)
    assert abs(1 - kept.mean() - 0.25) < 0.03


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("scale", [None, 0.5])
def test_sdpa_matches_torch(kind, scale):
    torch = torch_or_skip()
    lead, L, S = (2, 3), 4, (4 if kind == "causal" else 5)
    q, k = rng.standard_normal((*lead, L, 6)), rng.standard_normal((*lead, S, 6))
    v = rng.standard_normal((*lead, S, 3))
    mask = draw_mask(kind, lead, L, S, 3)
    if kind == "bool":
        mask[..., 0] = True  # torch's fast paths differ on all-masked rows: tested below
    tmask = None if mask is None else torch.tensor(mask)
    same_grads(lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=kind == "causal", scale=scale),
        lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=tmask, is_causal=kind == "causal", scale=scale), q, k, v)


def test_masked_positions_get_exactly_zero_gradient():
    q, k, v = t64(2, 4, 3), t64(2, 5, 3), t64(2, 5, 2)
    allowed = np.ones((4, 5), bool)
    allowed[:, 3] = False  # key 3 hidden from every query
    allowed[1] = False  # query 1 sees nothing: its output and gradient are 0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    assert np.all(out.data[:, 1] == 0)
    out.backward(rng.standard_normal(out.shape))
    assert np.all(k.grad.data[:, 3] == 0) and np.all(v.grad.data[:, 3] == 0)
    assert np.all(q.grad.data[:, 1] == 0)
    assert np.all(k.grad.data[:, [0, 1, 2, 4]] != 0)
    # causal: the first query's output depends on the first key and value only
    q.grad = k.grad = v.grad = None
    out = F.scaled_dot_product_attention(q, k[:, :4], v[:, :4], is_causal=True)
    out[:, 0].sum().backward()
    assert np.all(k.grad.data[:, 1:] == 0) and np.all(v.grad.data[:, 1:] == 0)
    # the softmax under the mask: dS is exactly 0 where masked (an additive -inf too)
    s = t64(3, 5)
    additive = np.where(rng.random((3, 5)) < 0.4, -np.inf, 0.0)
    p = attention_probs(s, additive=additive)
    assert np.all(p.data[np.isinf(additive)] == 0)
    p.backward(rng.standard_normal(p.shape))
    assert np.all(s.grad.data[np.isinf(additive)] == 0)


@pytest.mark.parametrize("additive", [False, True])  # a bool mask, or -inf added to S
def test_sdpa_all_masked_rows_match_torch(additive):
    torch = torch_or_skip()
    q, k, v = (rng.standard_normal((1, 2, 3, 4)) for _ in range(3))
    mask = np.ones((3, 3), bool)
    mask[1] = False
    if additive:
        mask = np.where(mask, 0.25, -np.inf)
    same_grads(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
               lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
                   q, k, v, attn_mask=torch.tensor(mask)), q, k, v)


# -- the recorded backward (create_graph) computes what the array fast path computes ---------------

X, W, QKV = (3, 4), (4,), [(2, 4, 3)] * 3
RECORDED = {  # name: (function, the shapes of its inputs)
    "erf": (erf, [X]), "gelu": (F.gelu, [X]), "gelu_tanh": (lambda x: F.gelu(x, "tanh"), [X]),
    "silu": (F.silu, [X]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 4, w, b), [X, W, W]),
    "rms_norm": (lambda x, w: F.rms_norm(x, 4, w), [X, W]),
    "sdpa_causal": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), QKV),
    "sdpa_float_mask": (lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=np.where(np.eye(4, dtype=bool), -np.inf, 0.5), scale=0.7), QKV),
}


@pytest.mark.parametrize("name", list(RECORDED))
def test_recorded_backward_equals_array_backward(name):
    fn, shapes = RECORDED[name]
    inputs = [t64(*shape, scale=2.0) for shape in shapes]
    out = fn(*inputs)
    g = rng.standard_normal(out.shape)
    fast = cr.grad(out, inputs, g, retain_graph=True)
    recorded = cr.grad(out, inputs, g, create_graph=True)
    assert recorded[0].requires_grad  # (a bias's gradient, the seed, depends on no input)
    for a, b in zip(fast, recorded, strict=True):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-12, atol=1e-14)


# -- float32 stays float32 -------------------------------------------------------------------------

def test_float32_stays_float32():
    x = cr.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    w = cr.tensor(np.ones(4, np.float32), requires_grad=True)
    fns = [F.gelu, lambda x: F.gelu(x, "tanh"), F.silu, erf,
           lambda x: F.layer_norm(x, 4, w, w), lambda x: F.rms_norm(x, 4, w),
           lambda x: F.scaled_dot_product_attention(x, x, x, is_causal=True, dropout_p=0.1),
           lambda x: F.scaled_dot_product_attention(x, x, x, attn_mask=np.zeros((3, 3))),
           lambda x: nn.MultiheadAttention(4, 2, batch_first=True)(x, x, x)[0],
           lambda x: nn.TransformerBlock(4, 2)(x)]
    for fn in fns:
        y = fn(x)
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32 and w.grad is None or w.grad.dtype == np.float32
        x.grad = w.grad = None
    assert nn.GPT(5, 4, 1, 2, 4)(np.zeros((1, 3), int)).dtype == np.float32


# -- MultiheadAttention ----------------------------------------------------------------------------

def torch_mha(torch, ours, batch_first):
    """A torch.nn.MultiheadAttention with ours' weights, loaded through the state_dict."""
    theirs = torch.nn.MultiheadAttention(ours.embed_dim, ours.num_heads,
                                         bias=ours.in_proj_bias is not None,
                                         batch_first=batch_first).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return theirs


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("masks", ["none", "padding", "attn_bool", "attn_float_3d", "both",
                                   "causal"])
def test_multihead_attention_matches_torch(batch_first, bias, masks):
    torch = torch_or_skip()
    E, H, N, L, S = 6, 3, 2, 3, 4
    ours = nn.MultiheadAttention(E, H, bias=bias, batch_first=batch_first, dtype=np.float64)
    with cr.no_grad():
        for p in ours.parameters():  # nonzero biases too, so every term is compared
            p.copy_(rng.standard_normal(p.shape) * 0.5)
    theirs = torch_mha(torch, ours, batch_first)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    self_attention = masks == "causal"
    S = L if self_attention else S
    shape = (lambda n, t: (n, t, E)) if batch_first else (lambda n, t: (t, n, E))
    x = rng.standard_normal(shape(N, L))
    kv = rng.standard_normal(shape(N, S))
    kwargs = {}
    padding = np.zeros((N, S), bool)
    padding[0, -1] = True
    if masks in ("padding", "both"):
        kwargs["key_padding_mask"] = padding
    if masks in ("attn_bool", "both"):
        kwargs["attn_mask"] = np.triu(np.ones((L, S), bool), 2)
    if masks == "attn_float_3d":
        kwargs["attn_mask"] = rng.standard_normal((N * H, L, S))
    if masks == "causal":
        kwargs = {"attn_mask": np.triu(np.ones((L, L), bool), 1), "is_causal": True}
    for need_weights, average in [(True, True), (True, False), (False, True)]:
        arrays = (x,) if self_attention else (x, kv, kv + 0.5)

        def ours_fn(*ts, need_weights=need_weights, average=average):
            q, k, v = (ts[0],) * 3 if self_attention else ts
            out, w = ours(q, k, v, need_weights=need_weights, average_attn_weights=average,
                          **kwargs)
            assert (w is None) == (not need_weights)
            return out if w is None else cr.concatenate([out.reshape(-1), w.reshape(-1)])

        def theirs_fn(*ts, need_weights=need_weights, average=average):
            q, k, v = (ts[0],) * 3 if self_attention else ts
            tk = {key: torch.tensor(val) if isinstance(val, np.ndarray) else val
                  for key, val in kwargs.items()}
            out, w = theirs(q, k, v, need_weights=need_weights, average_attn_weights=average,
                            **tk)
            return out if w is None else torch.cat([out.reshape(-1), w.reshape(-1)])

        ours.zero_grad()
        theirs.zero_grad()
        same_grads(ours_fn, theirs_fn, *arrays)
        for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters(),
                                      strict=True):
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=name)


def test_multihead_attention_unbatched_default_init_and_gradcheck():
    torch = torch_or_skip()
    ours = nn.MultiheadAttention(4, 2, dtype=np.float64)
    assert np.all(ours.in_proj_bias.data == 0) and np.all(ours.out_proj.bias.data == 0)
    bound = math.sqrt(6 / (4 + 12))  # Xavier-uniform over (3E, E)
    assert np.abs(ours.in_proj_weight.data).max() <= bound
    theirs = torch_mha(torch, ours, False)
    x = rng.standard_normal((3, 4))
    same_grads(lambda x: ours(x, x, x)[0], lambda x: theirs(x, x, x)[0], x)
    same_grads(lambda x: ours(x, x, x)[1], lambda x: theirs(x, x, x)[1], x)
    q, k = t64(2, 3, 4), t64(4, 3, 4)
    params = list(ours.parameters())

    def f(q, k, *ps):
        return ours(q, k, k, need_weights=False)[0]

    assert cr.gradcheck(f, [q, k, *params])
    assert cr.gradgradcheck(lambda q, k: ours(q, k, k, need_weights=False)[0], [q, k])


# -- the Transformer -------------------------------------------------------------------------------

def test_transformer_block_gradcheck_and_causality():
    block = nn.TransformerBlock(4, 2, dtype=np.float64)
    x = t64(2, 3, 4)
    params = list(block.parameters())
    assert cr.gradcheck(lambda x, *ps: block(x), [x, *params])
    assert cr.gradgradcheck(block, [x])
    # token 0's output must not depend on later tokens
    x.grad = None
    block(x)[:, 0].sum().backward()
    assert np.all(x.grad.data[:, 1:] == 0) and np.all(x.grad.data[:, 0] != 0)
    rms = nn.TransformerBlock(4, 2, bias=False, norm="rmsnorm", activation="relu",
                              dtype=np.float64)
    assert not any("bias" in n for n, _ in rms.named_parameters())
    x = t64(1, 3, 4)
    assert cr.gradcheck(lambda x: rms(x), [x])


def test_gpt_learns_and_round_trips(tmp_path):
    cr.manual_seed(0)
    model = nn.GPT(vocab_size=5, block_size=6, n_layer=2, n_head=2, n_embd=8, tie_weights=True)
    assert model.lm_head.weight is model.wte.weight
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and len(names) == len(set(names))
    # a sequence that repeats with period 3: predictable from context, not from one token
    seq = np.array([[0, 1, 2, 0, 1, 2, 0], [3, 4, 1, 3, 4, 1, 3]])
    x, y = seq[:, :-1], seq[:, 1:]
    opt = optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = F.cross_entropy(model(x).reshape(-1, 5), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    path = tmp_path / "gpt.safetensors"
    cr.save(model, path)
    again = cr.load(path)
    assert repr(again) == repr(model) and again.lm_head.weight is again.wte.weight
    model.eval()
    again.eval()
    np.testing.assert_array_equal(again(x).data, model(x).data)
    for m in (nn.LayerNorm((2, 3), eps=1e-3, bias=False), nn.RMSNorm(3, dtype=np.float64),
              nn.MultiheadAttention(4, 2, dropout=0.1, bias=False, batch_first=True),
              nn.GELU("tanh"), nn.SiLU(),
              nn.GPT(7, 3, 1, 1, 4, norm="rmsnorm", activation="silu", dtype=np.float64)):
        cr.save(m, tmp_path / "m.safetensors")
        back = cr.load(tmp_path / "m.safetensors")
        assert type(back) is type(m) and back.extra_config() == m.extra_config()
        for (n1, p1), (n2, p2) in zip(m.named_parameters(), back.named_parameters(), strict=True):
            assert n1 == n2 and p1.dtype == p2.dtype and np.array_equal(p1.data, p2.data)


def test_gelu_silu_modules_match_torch():
    torch = torch_or_skip()
    x = rng.standard_normal((3, 4))
    same_grads(nn.GELU(), torch.nn.GELU(), x)
    same_grads(nn.GELU("tanh"), torch.nn.GELU("tanh"), x)
    same_grads(nn.SiLU(), torch.nn.SiLU(), x)


# -- bad input, refused in one line ----------------------------------------------------------------

q3 = cr.tensor(np.zeros((2, 3, 4)))
BAD = [
    (lambda: F.gelu(q3, "fast"), "approximate must be 'none' or 'tanh'"),
    (lambda: nn.GELU("exact"), "approximate must be 'none' or 'tanh'"),
    (lambda: F.layer_norm(q3, 3), "last 1 axes must be normalized_shape (3,)"),
    (lambda: F.layer_norm(q3, (3, 4), cr.tensor(np.ones(4))), "weight must have shape"),
    (lambda: F.rms_norm(q3, 4, cr.ones(4)), "weight is float32 but the input is float64"),
    (lambda: F.layer_norm(q3, 4, eps=-1.0), "eps must be >= 0"),
    (lambda: nn.LayerNorm(0), "normalized_shape must be a positive int"),
    (lambda: nn.LayerNorm(5)(np.zeros((2, 4))), "last 1 axes must be normalized_shape (5,)"),
    (lambda: F.scaled_dot_product_attention(q3, np.zeros((2, 3, 5)), q3),
     "query and key must have the same feature size"),
    (lambda: F.scaled_dot_product_attention(q3, q3, np.zeros((2, 2, 4))),
     "key and value must have the same length"),
    (lambda: F.scaled_dot_product_attention(q3, np.zeros((1, 3, 4)), np.zeros((1, 3, 4))),
     "same leading (batch, head) axes"),
    (lambda: F.scaled_dot_product_attention(np.zeros(4), q3, q3),
     "must be (..., length, features)"),
    (lambda: F.scaled_dot_product_attention(q3, q3, q3, attn_mask=np.ones((2, 2), bool)),
     "does not broadcast to the attention scores' shape (2, 3, 3)"),
    (lambda: F.scaled_dot_product_attention(q3, q3, q3, attn_mask=np.ones((3, 3), int)),
     "attn_mask must be bool"),
    (lambda: F.scaled_dot_product_attention(q3, q3, q3, np.ones((3, 3), bool), is_causal=True),
     "not both"),
    (lambda: F.scaled_dot_product_attention(q3, q3, q3, dropout_p=1.0), "dropout_p must be in"),
    (lambda: F.scaled_dot_product_attention(q3, q3, q3.float()), "must have one dtype"),
    (lambda: nn.MultiheadAttention(10, 3), "embed_dim (10) must be divisible by num_heads (3)"),
    (lambda: nn.MultiheadAttention(8, 0), "num_heads must be a positive int"),
    (lambda: nn.MultiheadAttention(4, 2)(q3, q3, np.zeros((2, 3, 5))), "E = embed_dim = 4"),
    (lambda: nn.MultiheadAttention(4, 2)(np.zeros((3, 2, 4)), np.zeros((5, 1, 4)),
                                         np.zeros((5, 1, 4))), "the query the same batch"),
    (lambda: nn.MultiheadAttention(4, 2)(np.zeros((3, 2, 4)), np.zeros((3, 2, 4)),
                                         np.zeros((3, 2, 4)), key_padding_mask=np.ones((3, 2))),
     "key_padding_mask must have shape (2, 3)"),
    (lambda: nn.MultiheadAttention(4, 2)(np.zeros((3, 2, 4)), np.zeros((3, 2, 4)),
                                         np.zeros((3, 2, 4)), attn_mask=np.ones((3, 3), int)),
     "attn_mask must be bool (True = may not attend)"),
    (lambda: nn.TransformerBlock(6, 4), "n_embd (6) must be divisible by n_head (4)"),
    (lambda: nn.GPT(10, 8, n_embd=10, n_head=4), "n_embd (10) must be divisible by n_head (4)"),
    (lambda: nn.GPT(10, 8, norm="batchnorm"), "norm must be one of layernorm, rmsnorm"),
    (lambda: nn.GPT(10, 0), "block_size must be a positive int"),
    (lambda: nn.GPT(10, 4, 1, 1, 4)(np.zeros((1, 5), int)),
     "the sequence has 5 tokens but the model's block_size is 4"),
    (lambda: nn.GPT(10, 4, 1, 1, 4)(np.zeros(3, int)), "token ids of shape (batch, T)"),
]


@pytest.mark.parametrize("fn, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_refused_in_one_line(fn, message):
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    text = str(info.value)
    assert message in text and "\n" not in text
