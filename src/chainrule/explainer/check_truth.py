"""The true gradients of a learner's network, two independent ways, for ``chainrule check``.

    autograd    the chainrule engine on the network rebuilt from the learner's weights
                (check_network.Net): dJ/dW, dJ/db, and m dJ/dZ^(l), m dJ/dA^(l) of the
                retained intermediates
    numeric     central differences in float64: dW, db and dA^(0) = m dJ/dX on the
                learner's OWN forward and cost (each entry moved by +-1e-6 in place, the
                learner's functions called again); dZ^(l) and dA^(l) by moving each entry of
                Z^(l) or A^(l) of the rebuilt network and running the rest of it forward
                (the learner's forward cannot be entered in the middle)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chainrule.explainer.check_network import Net, activate
from chainrule.gradcheck import central_differences


def _tensor_activation(act: tuple[str, float | None], z, axis: int):  # noqa: ANN001, ANN202
    import chainrule.functional as F

    name, p = act
    if name == "identity":
        return z
    if name == "softmax":
        return F.softmax(z, axis)
    if name == "leaky_relu":
        return F.leaky_relu(z, p)
    return {"sigmoid": F.sigmoid, "tanh": F.tanh, "relu": F.relu}[name](z)


def autograd(net: Net) -> dict[str, np.ndarray]:
    """dW<l>, db<l> = dJ/dW, dJ/db; dZ<l>, dA<l> = m dJ/dZ, m dJ/dA (dA0: with respect to X),
    from one backward pass of the chainrule engine over J = loss + k sum ||W||^2."""
    from chainrule.autograd.tensor import Tensor

    x = Tensor(net.X.copy(), requires_grad=True)
    ws = [Tensor(w.copy(), requires_grad=True) for w in net.Ws]
    bs = [Tensor(b.copy(), requires_grad=True) for b in net.bs]
    a, zs, acts = x, [None], [x]
    for w, b, act in zip(ws, bs, net.acts, strict=True):
        z = net.layout.z(a, w, b)
        z.retain_grad()
        a = _tensor_activation(act, z, net.layout.feature_axis)
        if a is not z:
            a.retain_grad()
        zs.append(z)
        acts.append(a)
    total = net.data_loss(a, Tensor(net.Y))
    if net.k:
        for w in ws:
            total = total + (w * w).sum() * net.k
    total.backward()
    m = net.m
    grads = {"dA0": m * x.grad.data}
    for l in range(1, net.L + 1):
        grads[f"dW{l}"] = ws[l - 1].grad.data
        grads[f"db{l}"] = bs[l - 1].grad.data
        grads[f"dZ{l}"] = m * zs[l].grad.data
        grads[f"dA{l}"] = m * acts[l].grad.data
    return grads


def _loss_from(net: Net, l: int, value: np.ndarray, is_z: bool) -> float:
    """The data loss from layer l's Z (is_z) or A = ``value`` onwards (the L2 term does
    not depend on Z or A)."""
    a = activate(net.acts[l - 1], value, net.layout) if is_z else value
    return float(net.data_loss(net.forward(l, a)[1][-1]))


def numeric(net: Net, objective: Callable[[], float], params: dict[str, np.ndarray],
            keys: list[tuple[str, str]], x: np.ndarray) -> dict[str, np.ndarray]:
    """Central differences: of the learner's own ``objective()`` (its forward and cost,
    plus the L2 term when its cost leaves it out) with respect to each W, b and X, read in
    place from ``params`` and ``x``; and m dJ/dZ^(l), m dJ/dA^(l) on the rebuilt ``net``."""
    grads = {"dA0": net.m * central_differences(objective, x)}
    zs, as_ = net.forward()
    for l, (wkey, bkey) in enumerate(keys, 1):
        grads[f"dW{l}"] = central_differences(objective, params[wkey])
        grads[f"db{l}"] = central_differences(objective, params[bkey])
        for name, value, is_z in ((f"dZ{l}", zs[l], True), (f"dA{l}", as_[l], False)):
            moved = value.copy()  # perturbed in place
            grads[name] = net.m * central_differences(
                lambda moved=moved, is_z=is_z, l=l: _loss_from(net, l, moved, is_z), moved)
    return grads
