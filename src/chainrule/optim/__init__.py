"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad), learning-rate schedulers
(``chainrule.optim.lr_scheduler``: StepLR, ExponentialLR, CosineAnnealingLR,
ReduceLROnPlateau) and gradient clipping (clip_grad_norm_, clip_grad_value_),
with PyTorch's names and semantics."""

from chainrule.optim import lr_scheduler
from chainrule.optim.adaptive import Adagrad, Adam, AdamW, RMSprop
from chainrule.optim.clip import clip_grad_norm_, clip_grad_value_
from chainrule.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.sgd import SGD

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler",
    "Optimizer", "RMSprop", "ReduceLROnPlateau", "StepLR", "clip_grad_norm_",
    "clip_grad_value_", "lr_scheduler",
]
