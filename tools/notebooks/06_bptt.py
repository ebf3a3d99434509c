# %% [markdown]
# # 6. Backpropagation through time in a tiny RNN
#
# A recurrent network applies the **same** weights at every step of a sequence, carrying
# a hidden state h_t from one step to the next. Unrolled over the steps it is an ordinary
# (deep) computational graph in which the weights are reused, so backpropagation works as
# always, with the rule of notebook 2 for reused values: a shared weight's gradient is the
# sum of the gradients of its uses, one per time step. That is all "backpropagation
# through time" (BPTT) means.
#
# The network of `chainrule explain --rnn`: 2 inputs, 2 tanh hidden units, 2 classes,
# 3 time steps, a target class at every step.
#
# - forward: `a_t = U x_t + W h_(t-1) + b`, `h_t = tanh(a_t)`, `h_0 = 0`;
#   `o_t = V h_t + c`, `p_t = softmax(o_t)`, `L = sum over t of -log p_t[y_t]`
# - backward, from t = T down to 1: `do_t = p_t - onehot(y_t)`;
#   `dh_t = V^T do_t + W^T da_(t+1)` (the error from the output at t, and from the future);
#   `da_t = dh_t * (1 - h_t^2)`
# - the shared weights: `dV = sum_t do_t h_t^T`, `dc = sum_t do_t`, `dU = sum_t da_t x_t^T`,
#   `dW = sum_t da_t h_(t-1)^T`, `db = sum_t da_t`

# %%
import numpy as np

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.explainer.bptt import default_rnn, derive_bptt, render_bptt

params, xs, ys = default_rnn()
U, W, V, b, c = (params[k] for k in ("U", "W", "V", "b", "c"))
T = len(xs)
print("x_1..x_3 =", xs.tolist(), " targets:", ys.tolist())

# %% [markdown]
# ## Forward through time, by hand

# %%
h = [np.zeros(2)]                       # h[0] = h_0; h[t] = h_t
a, p = [None], [None]                   # a[t], p[t] for t = 1..T
loss = 0.0
for t in range(1, T + 1):
    a.append(U @ xs[t - 1] + W @ h[t - 1] + b)
    h.append(np.tanh(a[t]))
    o = V @ h[t] + c
    p.append(np.exp(o) / np.exp(o).sum())
    loss += -np.log(p[t][ys[t - 1]])
print(f"L = {loss:.6f}")

# %% [markdown]
# ## Backward through time, by hand
#
# The error of the hidden state at step t has two sources: the output at step t (through
# V) and everything after t (through W, via da_(t+1)). At the last step there is no future,
# so da_(T+1) = 0.

# %%
do, dh, da = {}, {}, {T + 1: np.zeros(2)}
for t in range(T, 0, -1):
    do[t] = p[t] - np.eye(2)[ys[t - 1]]
    dh[t] = V.T @ do[t] + W.T @ da[t + 1]
    da[t] = dh[t] * (1 - h[t] ** 2)

steps = range(1, T + 1)
grads = {
    "V": sum(np.outer(do[t], h[t]) for t in steps), "c": sum(do[t] for t in steps),
    "U": sum(np.outer(da[t], xs[t - 1]) for t in steps),
    "W": sum(np.outer(da[t], h[t - 1]) for t in steps), "b": sum(da[t] for t in steps),
}
for k, g in grads.items():
    print(f"d{k} =", np.round(g, 4).tolist())

# %% [markdown]
# ## Check 1: the explainer's derivation
#
# `derive_bptt` is what `chainrule explain --rnn` prints: the same forward and backward
# recursion, each of its 29 quantities checked against autograd and central differences
# (every per-step error, every step's share of each weight's gradient, and the sums).

# %%
d = derive_bptt(params, xs, ys)
assert d.all_ok and len(d.checks) == 29
np.testing.assert_allclose(d.loss, loss, rtol=1e-12)
for t in steps:                          # the derivation's lists start at t = 1
    np.testing.assert_allclose(d.do[t - 1], do[t], atol=1e-14)
    np.testing.assert_allclose(d.dh[t - 1], dh[t], atol=1e-14)
    np.testing.assert_allclose(d.da[t - 1], da[t], atol=1e-14)
for k, g in grads.items():
    np.testing.assert_allclose(d.grads[k], g, atol=1e-14)
print(render_bptt(d).splitlines()[-1])

# %% [markdown]
# The text of the derivation, from the backward pass on:

# %%
text = render_bptt(d)
print(text[text.index("== Backward through time"):])

# %% [markdown]
# ## Check 2: the library's own `nn.RNN`
#
# `nn.RNN` computes `h_t = tanh(x_t W_ih^T + b_ih + h_(t-1) W_hh^T + b_hh)` (PyTorch's
# names): W_ih is U, W_hh is W, and b is split into two biases. With the output layer
# (V, c) as an `nn.Linear` and cross-entropy summed over the steps, its gradients are the
# sums above. Its backward pass is BPTT written out in one fused node.

# %%
rnn = nn.RNN(2, 2, dtype=np.float64)
head = nn.Linear(2, 2, dtype=np.float64)
with cr.no_grad():
    rnn.weight_ih_l0.copy_(U)
    rnn.weight_hh_l0.copy_(W)
    rnn.bias_ih_l0.copy_(b)
    rnn.bias_hh_l0.copy_(np.zeros(2))
    head.weight.copy_(V)
    head.bias.copy_(c)

outputs, h_n = rnn(xs[None])                         # a batch of one sequence
scores = head(outputs[0])                            # o_1..o_T, one row per step
total = F.cross_entropy(scores, ys, reduction="sum")
total.backward()

np.testing.assert_allclose(total.item(), loss, rtol=1e-12)
np.testing.assert_allclose(rnn.weight_ih_l0.grad.numpy(), grads["U"], atol=1e-14)
np.testing.assert_allclose(rnn.weight_hh_l0.grad.numpy(), grads["W"], atol=1e-14)
np.testing.assert_allclose(rnn.bias_ih_l0.grad.numpy(), grads["b"], atol=1e-14)
np.testing.assert_allclose(rnn.bias_hh_l0.grad.numpy(), grads["b"], atol=1e-14)
np.testing.assert_allclose(head.weight.grad.numpy(), grads["V"], atol=1e-14)
np.testing.assert_allclose(head.bias.grad.numpy(), grads["c"], atol=1e-14)
print("nn.RNN's gradients equal the hand-derived sums")

# %% [markdown]
# ## Truncated BPTT
#
# On long sequences the recursion is often cut: `truncate=k` detaches the hidden state
# every k steps, so the error flows back at most k steps (the forward values do not
# change). With k = 1 no error crosses from one step to the previous one, which is the
# hand recursion with the term W^T da_(t+1) dropped.

# %%
def gradients_without_the_future():
    da1 = {t: (V.T @ do[t]) * (1 - h[t] ** 2) for t in steps}
    return sum(np.outer(da1[t], xs[t - 1]) for t in steps)


rnn.zero_grad()
head.zero_grad()
outputs, _ = rnn(xs[None], truncate=1)
F.cross_entropy(head(outputs[0]), ys, reduction="sum").backward()
np.testing.assert_allclose(rnn.weight_ih_l0.grad.numpy(), gradients_without_the_future(),
                           atol=1e-14)
print("dU, truncated to one step:", np.round(rnn.weight_ih_l0.grad.numpy(), 4).tolist())
print("dU, full BPTT:            ", np.round(grads["U"], 4).tolist())

# %% [markdown]
# ## Vanishing gradients
#
# How much does the loss at the **last** step depend on the hidden state far back? Each
# step back multiplies the error by W^T and by tanh's derivative (at most 1), so with
# small weights it shrinks geometrically. Here over 30 steps of random inputs, with
# `cr.grad` asked for the gradient of the last loss with respect to every h_t:

# %%
rng = np.random.default_rng(0)
long_xs = rng.normal(size=(30, 2))
Ut, bt = cr.tensor(U), cr.tensor(b)
Wt = cr.tensor(W, requires_grad=True)                # so that every h_t is in the graph
states, state = [], cr.tensor(np.zeros(2))
for x in long_xs:
    state = (Ut @ cr.tensor(x) + Wt @ state + bt).tanh()
    states.append(state)
last_loss = F.cross_entropy(cr.tensor(V) @ state + cr.tensor(c), np.array(1))
norms = [float(np.linalg.norm(g.numpy())) for g in cr.grad(last_loss, states)]
for t in (30, 25, 20, 15, 10, 5, 1):
    print(f"|dL_30/dh_{t:<2d}| = {norms[t - 1]:.2e}")
assert norms[0] < 1e-3 * norms[-1]

# %% [markdown]
# ## The derivation as a page
#
# In a notebook the derivation displays as the interactive page of `chainrule explain
# --rnn --format html`: the RNN unrolled over time, stepping forward and backward.

# %%
d
