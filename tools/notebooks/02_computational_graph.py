# %% [markdown]
# # 2. The computational graph: values forward, gradients backward
#
# Every expression chainrule computes is recorded as a graph: leaves (the inputs), and one
# node per operation holding the value it produced. `backward()` walks that graph from the
# output back to the leaves, starting with the gradient 1 (d output / d output) and, at
# each node, multiplying the gradient that arrives by the operation's **local** derivative
# for each of its inputs. That product is the chain rule; what travels back along an edge
# is called the edge's gradient here.
#
# Small expressions show the three rules that make up every backward pass:
#
# 1. an **add** node passes its gradient to each input unchanged;
# 2. a **multiply** node sends each input the gradient times the *other* input's value;
# 3. a value used in several places gets one gradient per use, and they are **summed**.
#
# `chainrule.viz.draw_graph` draws a graph with every value and every gradient, after
# `backward()` as before it: `print` gives text, and Jupyter shows a picture (SVG, through
# Graphviz's `dot` where it is installed, chainrule's own layout otherwise).

# %%
import numpy as np
from IPython.display import display

import chainrule as cr
from chainrule.viz import build_graph, draw_graph


def leaf(value):
    """An input the gradient is wanted for (float64, so the printed numbers are exact)."""
    return cr.tensor(value, requires_grad=True, dtype=cr.float64)


def show(output, **names):
    """Print the graph of ``output`` as text and draw it: Jupyter shows draw_graph's result
    as SVG (through Graphviz's dot where it is installed, chainrule's own layout
    otherwise). Drawn after backward(), it shows the gradients backward computed."""
    drawing = draw_graph(output, names=names)
    print(drawing)
    display(drawing)


def edge_grads(output, name, **names):
    """The gradients arriving at the leaf ``name`` along each of its edges."""
    nodes = build_graph(output, names)
    key = next(n.key for n in nodes if n.label == name)
    return [float(g) for n in nodes for child, g in n.inputs if child == key]

# %% [markdown]
# ## 1. A sum
#
# s = x + y. The local derivatives are ds/dx = 1 and ds/dy = 1, so whatever gradient
# reaches the add node goes on to both inputs as it is. Each line of the text drawing is a
# node with its value and its gradient d s / d node; `edge grad` is what the parent sent
# along that edge.

# %%
x, y = leaf(2.0), leaf(-5.0)
s = x + y
s.backward()
show(s, x=x, y=y)
assert s.item() == -3.0
assert x.grad.item() == 1.0 and y.grad.item() == 1.0

# %% [markdown]
# ## 2. A product
#
# p = x * y has the local derivatives dp/dx = y and dp/dy = x: the multiply node **swaps**
# its inputs' values. So x's gradient is y's value and y's gradient is x's value.

# %%
x, y = leaf(2.0), leaf(-5.0)
p = x * y
p.backward()
show(p, x=x, y=y)
assert x.grad.item() == y.item() == -5.0
assert y.grad.item() == x.item() == 2.0

# %% [markdown]
# ## 3. The two together
#
# f = (x + y) * z. Going backward: the multiply node sends z's value (-4) to the sum
# q = x + y and the sum's value (3) to z; the add node passes its -4 on to x and y. The
# chain rule written out: df/dx = df/dq * dq/dx = z * 1.

# %%
x, y, z = leaf(-2.0), leaf(5.0), leaf(-4.0)
f = (x + y) * z
f.backward()
show(f, x=x, y=y, z=z)
assert f.item() == -12.0
assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)

# %% [markdown]
# ## 4. A value used twice: the paths sum
#
# In g = x * y + x, x reaches g along two paths: through the product (where it receives
# y = -2) and directly through the sum (where it receives 1). Its gradient is the sum of
# the two, -2 + 1 = -1, which is dg/dx = y + 1. The drawing shows x under both parents,
# each edge with its own share, and x's total gradient on x itself.

# %%
x, y = leaf(3.0), leaf(-2.0)
g = x * y + x
g.backward()
show(g, x=x, y=y)
shares = edge_grads(g, "x", x=x, y=y)
print("the gradients arriving at x along its edges:", shares)
assert sorted(shares) == [-2.0, 1.0]
assert x.grad.item() == sum(shares) == y.item() + 1
assert y.grad.item() == x.item()

# %% [markdown]
# The same rule covers x * x: the multiply node sends x's value along *each* of its two
# edges, and they add up to 2x, the derivative of x^2.

# %%
x = leaf(3.0)
h = x * x
shares = edge_grads(h, "x", x=x)
h.backward()
print("edges:", shares, " total:", x.grad.item())
assert shares == [3.0, 3.0] and x.grad.item() == 2 * 3.0

# %% [markdown]
# ## 5. A neuron
#
# The same rules, with one nonlinear node: out = sigmoid(w0 x0 + w1 x1 + b). The sigmoid's
# local derivative is out (1 - out), so the gradient entering the sum below it is
# out (1 - out); from there the add nodes pass it on, and each multiply node swaps: the
# gradient of w0 is x0 times it, the gradient of x0 is w0 times it.

# %%
w0, x0, w1, x1, b = leaf(2.0), leaf(-1.0), leaf(-3.0), leaf(-2.0), leaf(-3.0)
out = (w0 * x0 + w1 * x1 + b).sigmoid()
out.backward()
show(out, w0=w0, x0=x0, w1=w1, x1=x1, b=b)

local = out.item() * (1 - out.item())          # d out / d (w0 x0 + w1 x1 + b)
np.testing.assert_allclose(out.item(), 1 / (1 + np.exp(-1.0)))
np.testing.assert_allclose(b.grad.item(), local)
np.testing.assert_allclose([w0.grad.item(), w1.grad.item()], [x0.item() * local,
                                                              x1.item() * local])
np.testing.assert_allclose([x0.grad.item(), x1.grad.item()], [w0.item() * local,
                                                              w1.item() * local])
print(f"out = {out.item():.4f}; d out/d w0 = {w0.grad.item():.4f}, "
      f"d out/d x0 = {x0.grad.item():.4f}")

# %% [markdown]
# ## Checking against numerical differentiation
#
# Every gradient above can be confirmed without any calculus: nudge one input by a tiny
# eps both ways and look at how the output moves. `chainrule.gradcheck` does this for
# every input of a function at once and raises if autograd disagrees.

# %%
def neuron(w0, x0, w1, x1, b):
    return (w0 * x0 + w1 * x1 + b).sigmoid()


assert cr.gradcheck(neuron, [leaf(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0)])

eps = 1e-6
numerical = (neuron(*map(leaf, (2.0 + eps, -1.0, -3.0, -2.0, -3.0))).item()
             - neuron(*map(leaf, (2.0 - eps, -1.0, -3.0, -2.0, -3.0))).item()) / (2 * eps)
print(f"d out/d w0: autograd {w0.grad.item():.8f}, central difference {numerical:.8f}")
np.testing.assert_allclose(numerical, w0.grad.item(), rtol=1e-7)
