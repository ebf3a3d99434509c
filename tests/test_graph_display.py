"""Drawing the graph after backward() (what a released node keeps, and that a training
loop keeps no more than before), and draw_graph's picture in Jupyter (SVG through Graphviz
or the built-in layout)."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
import chainrule.nn as nn
from chainrule.autograd.function import DRAWN_ELEMENTS, Function


def _mlp(seed: int = 0) -> tuple[nn.Module, cr.Tensor, cr.Tensor]:
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10))
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((128, 20)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 10, 128))
    return model, x, y


def _live_functions() -> int:
    gc.collect()
    return sum(isinstance(o, Function) for o in gc.get_objects())


# -- what backward releases and what it keeps ----------------------------------------------

def test_backward_frees_the_activations_but_keeps_the_structure():
    """An intermediate nothing else holds is freed by backward, as before; its node keeps
    which node made each input, and the value's shape."""
    w = cr.tensor(np.ones((4, 8), np.float32), requires_grad=True)
    x = cr.tensor(np.ones((3, 4), np.float32))
    h = F.relu(x @ w)
    gone = weakref.ref(h)
    relu = h.grad_fn
    loss = h.sum()
    del h
    assert gone() is not None  # held by the graph until backward
    loss.backward()
    assert gone() is None  # the activation went with the pass, as it always did
    assert relu.inputs is None and relu.saved is None
    trace = loss.grad_fn.trace
    assert trace.inputs == ((relu, 0),)
    assert relu.trace.values == ((3, 8),) and 3 * 8 > DRAWN_ELEMENTS  # the shape only
    assert trace.values[0] == pytest.approx(96.0) and trace.grads[0] == 1.0
    matmul = relu.trace.inputs[0][0]
    assert matmul.name == "MatMul" and matmul.trace.inputs[1] is w


def test_release_drops_the_ops_own_buffers():
    """Slots an op fills in forward for its backward (masks, indices) go with the release,
    since a released node now lives as long as the output that leads to it."""
    x = cr.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), requires_grad=True)
    out = F.max_pool2d(x, 2)
    pool = out.grad_fn
    assert pool.saved is not None
    out.sum().backward()
    slots = [s for c in type(pool).__mro__ if c is not Function
             for s in c.__dict__.get("__slots__", ())]
    assert slots and all(getattr(pool, s) is None for s in slots), slots


def test_a_large_constant_is_not_kept_alive_and_a_small_one_is():
    w = cr.tensor(np.ones(5, np.float32), requires_grad=True)
    batch = cr.tensor(np.ones((10, 5), np.float32))
    two = cr.tensor(2.0)
    loss = (batch * w * two).sum()
    gone = weakref.ref(batch)
    del batch
    loss.backward()
    assert gone() is None
    mul_two = loss.grad_fn.trace.inputs[0][0]
    assert mul_two.trace.inputs[1] is two


def test_a_second_backward_is_still_refused_clearly():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="a second time.*retain_graph=True"):
        y.backward()


def test_kept_gradients_are_copies():
    """A gradient changed in place later (clipping, zero_grad(set_to_none=False)) does not
    change what the trace recorded: (x + y) hands its upstream gradient to x's .grad as is."""
    x = cr.tensor(1.0, requires_grad=True)
    y = cr.tensor(2.0, requires_grad=True)
    s = x + y
    add = s.grad_fn
    (s * 3).backward()
    x.grad.data[...] = 100
    assert add.trace.grads[0] == 3 and add.trace.input_grads == (3, 3)


# -- memory and the training loop ----------------------------------------------------------

def test_a_released_graph_holds_its_nodes_not_its_activations():
    """A fit loop keeps `loss` until the next step builds the next one: what that released
    graph holds is its nodes and small traces, not its activations (128 x 64 floats each,
    about 32 KB)."""
    model, x, y = _mlp()
    F.cross_entropy(model(x), y).backward()  # the parameters' .grad exist from here on
    tracemalloc.start()
    try:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        with_graph = tracemalloc.get_traced_memory()[0]
        assert loss.grad_fn.trace is not None
        del loss
        held = with_graph - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert 0 < held < 128 * 64 * 4 / 4, held


def test_memory_and_live_nodes_stay_bounded_over_a_long_loop():
    model, x, y = _mlp()
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    counts, sizes = [], []
    tracemalloc.start()
    try:
        for step in range(200):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)  # the last step's graph goes out of scope
            loss.backward()
            opt.step()
            if step in (20, 199):
                counts.append(_live_functions())
                sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert counts[1] <= counts[0] < 30, counts  # one step's graph, not 200
    assert sizes[1] - sizes[0] < 64 * 1024, sizes
