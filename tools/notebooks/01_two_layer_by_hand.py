# %% [markdown]
# # 1. A two-layer sigmoid network, by hand and by chainrule
#
# This notebook derives the gradients of a small network the way a textbook does, computes
# every quantity with numpy, and then checks each one twice: against chainrule's autograd
# engine and against `chainrule.explain`, which writes out the same derivation with its own
# numbers and proves every line numerically.
#
# The network has 3 inputs, 4 sigmoid hidden units and 2 sigmoid outputs. The m examples
# are the **columns** of X, as in most derivations on paper:
#
# - forward: `z^(k) = W^(k) a^(k-1) + b^(k)`, `a^(k) = f(z^(k))`, `a^(0) = x`, f = sigmoid
# - cost: `J = 1/(2m) sum over examples of ||a^(2) - y||^2` (the quadratic cost)
# - output error: `delta^(2) = (a^(2) - y) * f'(z^(2))`
# - hidden error: `delta^(1) = f'(z^(1)) * W^(2)T delta^(2)`
# - gradients: `dW^(k) = delta^(k) a^(k-1)T / m`, `db^(k)` = delta^(k) averaged over the m
#   examples
#
# Here delta^(k) is the error of each example (one column per example); the average over
# the examples is taken once, in dW and db. `*` is the elementwise product.

# %%
import numpy as np

import chainrule as cr
from chainrule import nn

rng = np.random.default_rng(0)
n0, n1, n2, m = 3, 4, 2, 5                      # layer sizes and number of examples
X = rng.normal(size=(n0, m))                    # one example per column
Y = rng.random((n2, m))                         # targets in (0, 1), one column each
W1, b1 = rng.normal(0, 0.5, (n1, n0)), rng.normal(0, 0.1, (n1, 1))
W2, b2 = rng.normal(0, 0.5, (n2, n1)), rng.normal(0, 0.1, (n2, 1))
print("X", X.shape, " W1", W1.shape, " b1", b1.shape, " W2", W2.shape, " b2", b2.shape)

# %% [markdown]
# ## The forward pass
#
# Each layer is an affine map followed by the sigmoid. The bias b^(k) is a column, which
# numpy broadcasts across the m columns of examples.

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_prime(a):
    """f'(z) written with a = f(z): the sigmoid's derivative is a (1 - a)."""
    return a * (1 - a)


z1 = W1 @ X + b1
a1 = sigmoid(z1)
z2 = W2 @ a1 + b2
a2 = sigmoid(z2)
J = np.sum((a2 - Y) ** 2) / (2 * m)
print(f"a2 =\n{a2.round(4)}")
print("J =", round(J, 6))

# %% [markdown]
# ## The backward pass, by hand
#
# The chain rule, applied from the cost down. The output error multiplies the cost's
# derivative a^(2) - y by the sigmoid's derivative; the hidden error sends delta^(2) back
# through the transposed weights and multiplies by the hidden layer's derivative. Each
# delta has the shape of its z: one row per unit, one column per example.

# %%
delta2 = (a2 - Y) * sigmoid_prime(a2)
delta1 = sigmoid_prime(a1) * (W2.T @ delta2)

dW2 = delta2 @ a1.T / m
db2 = delta2.mean(axis=1, keepdims=True)
dW1 = delta1 @ X.T / m
db1 = delta1.mean(axis=1, keepdims=True)

for name, g in [("dW2", dW2), ("db2", db2), ("dW1", dW1), ("db1", db1)]:
    print(name, g.shape)
assert dW1.shape == W1.shape and db1.shape == b1.shape   # a gradient has its parameter's shape
assert dW2.shape == W2.shape and db2.shape == b2.shape

# %% [markdown]
# ## Check 1: chainrule's autograd
#
# The same forward pass, written with chainrule tensors (float64, like numpy), records a
# computational graph; `cr.grad` runs backpropagation over it. Asking for the gradients
# with respect to z^(1) and z^(2) as well gives dJ/dz, which is delta / m: the delta of
# the derivation is the error of one example, and J averages over m of them.

# %%
params = [cr.tensor(p, requires_grad=True, dtype=cr.float64) for p in (W1, b1, W2, b2)]
tW1, tb1, tW2, tb2 = params
tz1 = tW1 @ cr.tensor(X) + tb1
tz2 = tW2 @ tz1.sigmoid() + tb2
tJ = ((tz2.sigmoid() - cr.tensor(Y)) ** 2).sum() / (2 * m)

gW1, gb1, gW2, gb2, gz1, gz2 = cr.grad(tJ, [tW1, tb1, tW2, tb2, tz1, tz2])

np.testing.assert_allclose(tJ.item(), J, rtol=1e-12)
np.testing.assert_allclose(gz2.numpy() * m, delta2, rtol=1e-10, atol=1e-14)
np.testing.assert_allclose(gz1.numpy() * m, delta1, rtol=1e-10, atol=1e-14)
for mine, engine in [(dW2, gW2), (db2, gb2), (dW1, gW1), (db1, gb1)]:
    np.testing.assert_allclose(engine.numpy(), mine, rtol=1e-10, atol=1e-14)
print("J, delta2, delta1, dW2, db2, dW1, db1: all equal to autograd's")

# %% [markdown]
# ## Check 2: `chainrule.explain`
#
# `chainrule.explain` takes a model built from `nn.Linear` layers and activations, the
# examples and the targets, and derives the gradients itself: forward pass, loss, every
# delta, dW, db and the propagated error dA, each compared with autograd and with central
# differences. `"mse"` names the quadratic cost above, and `columns=True` writes the
# derivation in the W a + b layout of this notebook.
#
# The model's `nn.Linear` stores W as (out, in), exactly as here, and b as a vector.

# %%
model = nn.Sequential(nn.Linear(n0, n1, dtype=np.float64), nn.Sigmoid(),
                      nn.Linear(n1, n2, dtype=np.float64), nn.Sigmoid())
with cr.no_grad():
    for p, value in zip(model.parameters(), [W1, b1.ravel(), W2, b2.ravel()], strict=True):
        p.copy_(value)

report = cr.explain(model, X.T, Y.T, "mse", columns=True, lr=0.5)
print(report)

# %% [markdown]
# The report is also the numbers it was written from: `report.derivation.layers[k]` holds
# Z, A, delta, dW, db and dA_prev of layer k + 1. The derivation object stores its
# matrices with one example per row whatever layout it prints, so they are compared with
# the transposes of ours.

# %%
d = report.derivation
layer1, layer2 = d.layers
np.testing.assert_allclose(d.loss, J, rtol=1e-12)
np.testing.assert_allclose(layer1.A, a1.T, rtol=1e-12)
np.testing.assert_allclose(layer2.A, a2.T, rtol=1e-12)
np.testing.assert_allclose(layer2.delta, delta2.T, rtol=1e-10, atol=1e-14)
np.testing.assert_allclose(layer2.dA_prev, (W2.T @ delta2).T, rtol=1e-10, atol=1e-14)
np.testing.assert_allclose(layer1.delta, delta1.T, rtol=1e-10, atol=1e-14)
for layer, dW, db in [(layer1, dW1, db1), (layer2, dW2, db2)]:
    np.testing.assert_allclose(layer.dW, dW, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(layer.db, db.ravel(), rtol=1e-10, atol=1e-14)
assert d.all_ok and len(d.checks) == 7
print([c.name for c in d.checks])

# %% [markdown]
# ## One step of gradient descent
#
# With learning rate alpha = 0.5, W <- W - alpha dW and b <- b - alpha db. The report's
# update section lists the new weights; ours agree, and the cost goes down.

# %%
alpha = 0.5
W1_new, b1_new = W1 - alpha * dW1, b1 - alpha * db1
W2_new, b2_new = W2 - alpha * dW2, b2 - alpha * db2
np.testing.assert_allclose(layer1.W_new, W1_new, rtol=1e-12)
np.testing.assert_allclose(layer2.b_new, b2_new.ravel(), rtol=1e-12)

a2_new = sigmoid(W2_new @ sigmoid(W1_new @ X + b1_new) + b2_new)
J_new = np.sum((a2_new - Y) ** 2) / (2 * m)
print(f"J before {J:.6f}, after one step {J_new:.6f}")
assert J_new < J

# %% [markdown]
# ## The derivation as a page
#
# In a notebook, the report displays as an interactive page: the network drawn as a
# diagram, the formulas typeset, and buttons (or the arrow keys, after clicking it) to walk
# through the forward and backward pass step by step. `print(report)` gives the text above.

# %%
report
