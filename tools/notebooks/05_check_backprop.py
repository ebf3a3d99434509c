# %% [markdown]
# # 5. Finding the mistake in a hand-written backprop
#
# Writing the backward pass of a network by hand is the classic exercise, and the classic
# trap: a wrong derivative or a missing 1/m gives gradients of the right shape, training
# still runs, and the cost may even go down. `chainrule.check_backprop` takes your numpy
# code, rebuilds the same network in chainrule, computes the true gradients two ways
# (autograd, and central differences on **your own** forward and cost), and compares
# every quantity your backward returns. For the first wrong one it says which usual
# mistake reproduces your value exactly, and gives the corrected formula.
#
# Below is a two-layer network as a course would have you write it: examples as columns,
# a tanh hidden layer, a sigmoid output, binary cross-entropy. Its backward pass has two
# mistakes in it. Try to spot them before running the check.

# %%
import numpy as np

import chainrule as cr

rng = np.random.default_rng(3)
X = rng.normal(size=(3, 8))                           # 3 features, 8 examples (columns)
Y = (rng.random((1, 8)) > 0.5).astype(float)          # a 0/1 label per example
params = {"W1": rng.normal(size=(4, 3)), "b1": np.zeros((4, 1)),
          "W2": rng.normal(size=(1, 4)), "b2": np.zeros((1, 1))}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, X):
    Z1 = params["W1"] @ X + params["b1"]
    A1 = np.tanh(Z1)
    Z2 = params["W2"] @ A1 + params["b2"]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def cost(A2, Y):
    m = Y.shape[1]
    return -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m


def backward(params, cache, X, Y):
    m = X.shape[1]
    dZ2 = cache["A2"] - Y
    dW2 = dZ2 @ cache["A1"].T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True)
    dA1 = params["W2"].T @ dZ2
    dZ1 = dA1 * (1 - cache["Z1"] ** 2)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}

# %% [markdown]
# ## Nothing looks wrong
#
# Every gradient has its parameter's shape, and ten steps of gradient descent with them
# lower the cost nicely. Neither says the gradients are right.

# %%
def train(backward, steps, lr=0.1):
    """The costs of `steps` steps of gradient descent from the same starting weights."""
    p = {k: v.copy() for k, v in params.items()}
    costs = []
    with np.errstate(over="ignore", invalid="ignore"):   # wrong gradients may blow up
        for _ in range(steps):
            A2, cache = forward(p, X)
            costs.append(cost(A2, Y))
            grads = backward(p, cache, X, Y)
            for k in p:
                p[k] -= lr * grads["d" + k]
    return costs


A2, cache = forward(params, X)
grads = backward(params, cache, X, Y)
assert all(grads["d" + k].shape == v.shape for k, v in params.items())
costs = train(backward, steps=10)
print("costs:", np.round(costs, 4))
assert costs[-1] < costs[0]

# %% [markdown]
# ## The check
#
# `check_backprop` accepts a file (as the `chainrule check FILE` command does), a module,
# or a dict of the names the file would define: here the functions and the data of this
# notebook. It infers the layout (examples as columns), the activations (by running your
# forward) and the loss (by evaluating your cost), then lists each returned quantity in
# the order a backward pass computes them.

# %%
def learner(backward):
    return {"forward": forward, "backward": backward, "cost": cost,
            "params": params, "X": X, "Y": Y}


report = cr.check_backprop(learner(backward))
print(report)

# %% [markdown]
# ## Reading the diagnosis
#
# - `dW2` is right, so the output error dZ2 = A2 - Y is right too.
# - `db2` is the first wrong one, and it is exactly m = 8 times the right value: the
#   average over the examples is missing.
# - `dW1` and `db1` are wrong. Our backward did not return dZ1, but the check tried the
#   usual mistakes at every quantity upstream of dW1 and found the one that reproduces
#   it exactly: the tanh's derivative written with Z1 instead of A1 = tanh(Z1), the
#   derivative 1 - tanh(z)^2 being a function of the *output*. The same mistake also
#   explains db1, whose own formula is therefore right: it only inherits it.
#
# The report is data, too, so the diagnosis can be asserted on:

# %%
assert not report.all_ok
assert report.first_wrong == "db2" and report.wrong == ["db2", "dW1", "db1"]
mistake = report["dW1"].diagnosis.mistake
print(mistake.site, mistake.kind)
assert mistake.site == "dZ1" and report["dW2"].ok

# %% [markdown]
# ## Returning the intermediates points at the line
#
# A backward that also returns dA1 and dZ1 lets the check test them too: the first wrong
# quantity of the hidden layer is then dZ1 itself, the line with the mistake.

# %%
def backward_with_intermediates(params, cache, X, Y):
    m = X.shape[1]
    dZ2 = cache["A2"] - Y
    dW2 = dZ2 @ cache["A1"].T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True)
    dA1 = params["W2"].T @ dZ2
    dZ1 = dA1 * (1 - cache["Z1"] ** 2)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dZ2": dZ2, "dW2": dW2, "db2": db2, "dA1": dA1, "dZ1": dZ1,
            "dW1": dW1, "db1": db1}


report = cr.check_backprop(learner(backward_with_intermediates))
print("\n".join(line for line in str(report).splitlines()
                if line.startswith(("✓", "✗", "    "))))
assert report["dA1"].ok and not report["dZ1"].ok
print(report["dZ1"].diagnosis.mistake.kind, "|", report["dW1"].diagnosis)

# %% [markdown]
# ## The fix
#
# Two lines change: db2 gets its `/ m`, and dZ1 uses the derivative of tanh written with
# its output, 1 - A1^2.

# %%
def backward_fixed(params, cache, X, Y):
    m = X.shape[1]
    dZ2 = cache["A2"] - Y
    dW2 = dZ2 @ cache["A1"].T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m          # was: no / m
    dA1 = params["W2"].T @ dZ2
    dZ1 = dA1 * (1 - cache["A1"] ** 2)                    # was: 1 - Z1 ** 2
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dZ2": dZ2, "dW2": dW2, "db2": db2, "dA1": dA1, "dZ1": dZ1,
            "dW1": dW1, "db1": db1}


report = cr.check_backprop(learner(backward_fixed))
print(report)
assert report.all_ok and report.first_wrong is None

# %% [markdown]
# Back to the training loop. For a few steps the wrong gradients lowered the cost even
# faster than the right ones do (the missing 1/m made the bias steps 8 times longer); over
# more steps they blow up, because 1 - Z1^2 is large and negative wherever |Z1| > 1 and
# sends those weights the wrong way. The right gradients keep lowering the cost.

# %%
wrong_costs, right_costs = train(backward, steps=30), train(backward_fixed, steps=30)
for step in (0, 5, 10, 15, 20, 29):
    print(f"step {step:2d}: wrong gradients {wrong_costs[step]:8.4f}   "
          f"right gradients {right_costs[step]:.4f}")
assert np.all(np.diff(right_costs) < 0) and np.isnan(wrong_costs[-1])

# %% [markdown]
# ## In a notebook
#
# The report displays as a page of its own, the formulas typeset; `print(report)` gives
# the text above, and `report.render("markdown")` the Markdown. The same check runs on a
# file from the shell: `chainrule check my_backprop.py`.

# %%
report
