# %% [markdown]
# # 3. From scalar graphs to a classifier on two moons
#
# A neural network is nothing but a (large) expression, and backpropagation works on it
# the same way it works on `(x + y) * z`. This notebook builds a small network out of
# **scalar** chainrule tensors, one node per multiplication, so that every weight is a
# leaf of one big graph; trains it for a few steps; checks that the same network written
# with matrices computes exactly the same gradients; and then trains the matrix version
# on the two-moons data until it separates them.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.viz import build_graph

rng = np.random.default_rng(0)


def scalar(value):
    """A scalar leaf that requires its gradient (float64)."""
    return cr.tensor(float(value), requires_grad=True, dtype=cr.float64)

# %% [markdown]
# ## A network of scalars
#
# A neuron with n inputs holds n weights and a bias, each a scalar leaf; its output is
# tanh(w_1 x_1 + ... + w_n x_n + b) (the last layer leaves out the tanh: it gives a raw
# score). A layer is a list of neurons reading the same inputs; the network is a list of
# layers, each reading the previous one's outputs.

# %%
class Neuron:
    def __init__(self, n_in, nonlinear=True):
        self.w = [scalar(rng.uniform(-1, 1)) for _ in range(n_in)]
        self.b = scalar(0.0)
        self.nonlinear = nonlinear

    def __call__(self, inputs):
        z = sum((w * x for w, x in zip(self.w, inputs, strict=True)), self.b)
        return z.tanh() if self.nonlinear else z

    def parameters(self):
        return self.w + [self.b]


class ScalarLayer:
    def __init__(self, n_in, n_out, nonlinear=True):
        self.neurons = [Neuron(n_in, nonlinear) for _ in range(n_out)]

    def __call__(self, inputs):
        return [neuron(inputs) for neuron in self.neurons]

    def parameters(self):
        return [p for neuron in self.neurons for p in neuron.parameters()]


class ScalarNet:
    def __init__(self, sizes):
        last = len(sizes) - 2
        self.layers = [ScalarLayer(n_in, n_out, nonlinear=i < last)
                       for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x[0]                      # one output: the score of class 1

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


net = ScalarNet([2, 8, 8, 1])
print(len(net.parameters()), "parameters")
assert len(net.parameters()) == (2 * 8 + 8) + (8 * 8 + 8) + (8 * 1 + 1)   # weights + biases
score = net([0.5, -1.0])
print("score of one example:", round(score.item(), 4))
print("nodes in its graph:", len(build_graph(score)))

# %% [markdown]
# One example already makes a graph of a few hundred nodes: every product w x, every sum,
# every tanh. `backward()` on the score fills in the gradient of all 105 parameters at
# once, by the rules of notebook 2 applied node by node.

# %% [markdown]
# ## The two-moons data
#
# Two interleaving half circles, one per class, with some noise: a small problem that a
# straight line cannot solve. They are generated here with numpy: the upper moon is
# (cos t, sin t) for t in [0, pi], the lower one (1 - cos t, 1/2 - sin t).

# %%
def make_moons(n, noise, rng):
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    points = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1),
                      np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    return points + rng.normal(0, noise, (n, 2)), upper.astype(np.int64)


X, y = make_moons(200, 0.1, rng)
X_test, y_test = make_moons(200, 0.1, rng)
plt.figure(figsize=(4, 3))
plt.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=12)
plt.title("two moons: 200 training points")
plt.show()

# %% [markdown]
# ## The loss
#
# With labels s = +1 (class 1) or -1 (class 0), the logistic loss of a score is
# log(1 + exp(-s score)) = softplus(-s score): near 0 when the score has the right sign
# and a large magnitude, growing linearly when it has the wrong sign. The loss of a set
# of examples is its average: one scalar, the root of one graph over all of them.

# %%
def scalar_loss(net, X, y):
    total = 0.0
    for x, label in zip(X, y, strict=True):
        s = 1.0 if label == 1 else -1.0
        total = total + F.softplus(-s * net(list(x)))
    return total / len(X)

# %% [markdown]
# ## Gradient descent on the scalar graph
#
# A training step: forget the old gradients, build the graph of the loss, backpropagate,
# and move every parameter a little against its gradient. Here on 20 examples only: the
# scalar graph is slow (every node is a Python object), which is why networks are written
# with matrices.

# %%
params = net.parameters()
start = time.perf_counter()
losses = []
for step in range(10):
    loss = scalar_loss(net, X[:20], y[:20])
    for p in params:
        p.grad = None
    loss.backward()
    with cr.no_grad():
        for p in params:
            p -= 0.5 * p.grad
    losses.append(loss.item())
print("losses:", np.round(losses, 4))
print(f"{(time.perf_counter() - start) / len(losses) * 1000:.0f} ms per step")
assert losses[-1] < losses[0]

# %% [markdown]
# ## The same network as matrices
#
# A layer of neurons is one matrix product: stack the neurons' weights as the rows of W
# (shape (out, in)) and their biases as b, and the layer computes tanh(X W^T + b) for all
# examples at once. `nn.Linear` stores its weight exactly that way, so the scalar
# network's weights copy straight into an `nn.Sequential`. Both must give the same loss
# and the same gradient for every weight.

# %%
model = nn.Sequential(nn.Linear(2, 8, dtype=np.float64), nn.Tanh(),
                      nn.Linear(8, 8, dtype=np.float64), nn.Tanh(),
                      nn.Linear(8, 1, dtype=np.float64))
linears = [module for module in model if isinstance(module, nn.Linear)]
with cr.no_grad():
    for linear, layer in zip(linears, net.layers, strict=True):
        linear.weight.copy_(np.array([[w.item() for w in n.w] for n in layer.neurons]))
        linear.bias.copy_(np.array([n.b.item() for n in layer.neurons]))

signs = cr.tensor((2.0 * y - 1)[:, None])        # +1 / -1, one row per example


def matrix_loss(model, X, signs):
    return F.softplus(-signs * model(cr.tensor(X))).mean()


for p in params:
    p.grad = None
scalar_version = scalar_loss(net, X[:20], y[:20])
scalar_version.backward()
matrix_version = matrix_loss(model, X[:20], signs[:20])
matrix_version.backward()

np.testing.assert_allclose(matrix_version.item(), scalar_version.item(), rtol=1e-12)
for linear, layer in zip(linears, net.layers, strict=True):
    np.testing.assert_allclose(linear.weight.grad.numpy(),
                               [[w.grad.item() for w in n.w] for n in layer.neurons],
                               rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(linear.bias.grad.numpy(), [n.b.grad.item() for n in layer.neurons],
                               rtol=1e-10, atol=1e-15)
print(f"loss {matrix_version.item():.6f} both ways; the gradients of all 105 weights agree")

# %% [markdown]
# ## Training the classifier
#
# Now on all 200 training points, with the optimizer doing the update (stochastic
# gradient descent with momentum), full batch, 200 steps: a few milliseconds each.

# %%
optimizer = optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
start = time.perf_counter()
history = []
for step in range(200):
    loss = matrix_loss(model, X, signs)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    history.append(loss.item())
print(f"loss {history[0]:.4f} -> {history[-1]:.4f} in {time.perf_counter() - start:.1f} s")


def accuracy(model, X, y):
    with cr.no_grad():
        return float(((model(cr.tensor(X)).numpy()[:, 0] > 0) == y).mean())


train_accuracy, test_accuracy = accuracy(model, X, y), accuracy(model, X_test, y_test)
print(f"accuracy: training {train_accuracy:.3f}, test {test_accuracy:.3f}")
assert test_accuracy >= 0.95

# %% [markdown]
# ## The decision boundary
#
# The model's score on a grid of points: where it is positive the network says class 1.
# The boundary curls between the two moons, which no straight line could do.

# %%
xx, yy = np.meshgrid(np.linspace(-1.5, 2.5, 120), np.linspace(-1.0, 1.5, 80))
with cr.no_grad():
    grid_scores = model(cr.tensor(np.c_[xx.ravel(), yy.ravel()])).numpy().reshape(xx.shape)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
left.plot(history)
left.set(xlabel="step", ylabel="loss", yscale="log", title="training loss")
right.contourf(xx, yy, grid_scores > 0, cmap="coolwarm", alpha=0.3)
right.scatter(X_test[:, 0], X_test[:, 1], c=y_test, cmap="coolwarm", s=10)
right.set(title=f"test points, accuracy {test_accuracy:.1%}")
plt.show()
