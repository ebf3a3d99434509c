"""L1 and L2 penalties as the derivation writes them, and weight-decay parameter groups.

With n training examples and regularization strength lambda:

    L2:  (lambda / (2 n)) * sum W^2     gradient (lambda / n) W
    L1:  (lambda / n) * sum |W|         gradient (lambda / n) sign(W)

Only weights are penalized: parameters with two or more dimensions (the W of
every layer). Biases and other vectors are left out, as in the textbook
derivations, unless ``include_bias=True``.

Relation to an optimizer's ``weight_decay`` (PyTorch semantics, wd * W added to
the gradient): ``weight_decay = lambda / n`` adds exactly the L2 penalty's gradient,
so with any optimizer (SGD, momentum, Adam, RMSprop, ...) the two give the same
updates, provided the decay is applied to the weights only (``weight_decay_groups``;
an optimizer's plain ``weight_decay`` decays the biases too). For plain SGD that
update is W <- (1 - eta lambda / n) W - eta dL/dW, Nielsen's network2.py. In Adam the
decay term is then rescaled by Adam's per-parameter step size like the rest of the
gradient, so it does not shrink W by a fixed factor; AdamW's decoupled decay
(W <- (1 - eta wd) W before the Adam step) does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter


def _is_weight(param: Parameter) -> bool:
    return param.ndim >= 2


def penalized_parameters(model: Module, include_bias: bool = False) -> list[Parameter]:
    """The parameters a penalty applies to: weights (ndim >= 2), plus vectors if asked."""
    return [p for p in model.parameters() if include_bias or _is_weight(p)]


def _check(name: str, lam: float, n: int) -> None:
    if lam < 0:
        raise ValueError(f"{name}: lambda must be >= 0, got {lam}")
    if n <= 0:
        raise ValueError(f"{name}: n (the number of training examples) must be positive, "
                         f"got {n}")


def l2_penalty(model: Module | Iterable[Tensor], lam: float = 1.0, n: int = 1,
               include_bias: bool = False) -> Tensor:
    """(lam / (2 n)) * sum of squared weights; add it to the loss before backward."""
    _check("l2_penalty", lam, n)
    params = _params(model, include_bias)
    total = sum(((p * p).sum() for p in params), start=Tensor(0.0))
    return total * (lam / (2.0 * n))


def l1_penalty(model: Module | Iterable[Tensor], lam: float = 1.0, n: int = 1,
               include_bias: bool = False) -> Tensor:
    """(lam / n) * sum of absolute weights; add it to the loss before backward."""
    _check("l1_penalty", lam, n)
    params = _params(model, include_bias)
    total = sum((p.abs().sum() for p in params), start=Tensor(0.0))
    return total * (lam / n)


def _params(model: Module | Iterable[Tensor], include_bias: bool) -> list[Tensor]:
    if isinstance(model, Module):
        return penalized_parameters(model, include_bias)
    return [p for p in model if include_bias or _is_weight(p)]


def weight_decay_groups(model: Module, weight_decay: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups that decay the weights and not the biases:

        optim.SGD(nn.weight_decay_groups(model, 5e-4), lr=0.1)
    """
    decay = [p for p in model.parameters() if _is_weight(p)]
    rest = [p for p in model.parameters() if not _is_weight(p)]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0}]
