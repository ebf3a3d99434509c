"""``MLPClassifier`` and ``MLPRegressor``: drop-in counterparts of scikit-learn's, built
by ``chainrule.nn.mlp`` and trained by chainrule's backpropagation.

The parameters keep scikit-learn's names and meanings where both have them
(hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate_init,
max_iter, tol, n_iter_no_change, early_stopping, ...) and add chainrule's
(dropout, l1, l2, init, dtype, more solvers). See docs/sklearn.md for the mapping.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import nn
from chainrule.nn.builders import ACTIVATIONS, INITS
from chainrule.nn.module import Module
from chainrule.sklearn.base import NeuralNetBase
from chainrule.sklearn.checks import is_bool, is_int, is_real, require
from chainrule.sklearn.wrappers import (
    OPTIMIZERS,
    NeuralNetClassifier,
    NeuralNetRegressor,
    optimizer_class,
)

# scikit-learn's activation names that chainrule spells differently
_ACTIVATION_ALIASES = {"logistic": "sigmoid"}
# chainrule's activations that make sense between hidden layers: softmax, which ties the
# units of a layer together into a distribution, is for outputs only and is refused
_HIDDEN_ACTIVATIONS = [name for name in ACTIVATIONS if name != "softmax"]
_ACTIVATION_NAMES = ["logistic", *_HIDDEN_ACTIVATIONS]


class _MLPParams:
    """The constructor and model hooks shared by the two MLP estimators."""

    def __init__(self, hidden_layer_sizes: tuple[int, ...] | int = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 1e-4,
                 l1: float = 0.0, l2: float = 0.0, dropout: float = 0.0,
                 batch_size: int | str = "auto", learning_rate_init: float = 1e-3,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None,
                 tol: float = 1e-4, verbose: bool = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: int = 10, init: str = "xavier",
                 dtype: str = "float32") -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.l1 = l1
        self.l2 = l2
        self.dropout = dropout
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.dtype = dtype

    def _hidden_sizes(self) -> list[int]:
        """hidden_layer_sizes as scikit-learn reads it: one positive int, or a sequence
        (tuple, list, 1-D array; possibly empty) of them."""
        sizes = self.hidden_layer_sizes
        if is_int(sizes):
            sizes = [sizes]
        elif isinstance(sizes, str | bytes) or not np.iterable(sizes) \
                or np.ndim(sizes) != 1:
            sizes = None
        ok = sizes is not None and all(is_int(s) and s >= 1 for s in sizes)
        require(ok, "hidden_layer_sizes", "a positive integer or a sequence of positive "
                 "integers, e.g. (100,) or (64, 32)", self.hidden_layer_sizes)
        return [int(s) for s in sizes]

    def _activation_name(self) -> str:
        """chainrule's name for ``activation`` (scikit-learn's 'logistic' is 'sigmoid')."""
        name = self.activation.lower() if isinstance(self.activation, str) else None
        name = _ACTIVATION_ALIASES.get(name, name)
        require(name in _HIDDEN_ACTIVATIONS, "activation",
                 f"one of {', '.join(_ACTIVATION_NAMES)}", self.activation)
        return name

    def _check_params(self) -> None:
        """scikit-learn's MLPClassifier rules for its parameters (the ranges of its
        ``_parameter_constraints``), with chainrule's extra choices of activation and
        solver, and the rules of chainrule's own parameters."""
        # the shared rules only: the wrappers' module/criterion/lr rules are not the MLPs'
        NeuralNetBase._check_params(self)  # type: ignore[arg-type]
        self._hidden_sizes()
        self._activation_name()
        require(isinstance(self.solver, str) and self.solver in OPTIMIZERS, "solver",
                 f"one of {', '.join(OPTIMIZERS)} (lbfgs is not supported)", self.solver)
        require(isinstance(self.init, str) and self.init in INITS, "init",
                 f"one of {', '.join(INITS)}", self.init)
        require(is_real(self.dropout) and 0 <= self.dropout < 1, "dropout",
                 "a number in [0, 1)", self.dropout)
        require(is_real(self.alpha) and self.alpha >= 0, "alpha", "a number >= 0",
                 self.alpha)
        for name in ("learning_rate_init", "epsilon"):
            value = getattr(self, name)
            require(is_real(value) and value > 0, name, "a number > 0", value)
        require(is_real(self.momentum) and 0 <= self.momentum <= 1, "momentum",
                 "a number in [0, 1]", self.momentum)
        require(self.solver != "sgd" or self.momentum < 1, "momentum",
                 "below 1 with solver='sgd' (chainrule's SGD takes momentum in [0, 1))",
                 self.momentum)
        for name in ("beta_1", "beta_2"):
            value = getattr(self, name)
            require(is_real(value) and 0 <= value < 1, name, "a number in [0, 1)", value)
        require(is_bool(self.nesterovs_momentum), "nesterovs_momentum", "True or False",
                 self.nesterovs_momentum)

    def _make_module(self, n_features: int, n_outputs: int) -> Module:
        return nn.mlp([n_features, *self._hidden_sizes(), n_outputs], self._activation_name(),
                      dropout=float(self.dropout), init_scheme=self.init)

    def _make_optimizer(self, module: Module) -> Any:
        """scikit-learn's solver parameters mapped onto chainrule's optimizers:
        momentum/nesterovs_momentum to SGD; beta_1, beta_2, epsilon to Adam(W);
        epsilon to RMSprop and Adagrad; alpha to AdamW's decoupled weight decay."""
        cls = optimizer_class(self.solver, "solver")
        lr = float(self.learning_rate_init)
        if self.solver == "sgd":
            return cls(module.parameters(), lr=lr, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        if self.solver in ("adam", "adamw"):
            params = (nn.weight_decay_groups(module, float(self.alpha))
                      if self.solver == "adamw" else module.parameters())
            return cls(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon)
        return cls(module.parameters(), lr=lr, eps=self.epsilon)

    def _make_criterion(self) -> Any:
        return self._default_criterion()  # type: ignore[attr-defined]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrices in scikit-learn's layout: (n_in, n_out) per layer, so a
        layer computes X @ coefs_[i] + intercepts_[i]. (chainrule stores W as (out, in)
        for z = W a + b; these are transposed copies, for reading.)"""
        return [layer.weight.data.T.copy() for layer in self._linear_layers()]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vectors, one per layer (copies)."""
        return [layer.bias.data.copy() for layer in self._linear_layers()]

    def _linear_layers(self) -> list[nn.Linear]:
        return [m for m in self.module_.modules() if isinstance(m, nn.Linear)]

    def _penalties(self, batch: int, n: int) -> tuple[float, float]:
        """alpha as in scikit-learn, (alpha / (2 b)) sum W^2 on a batch of b examples,
        folded into chainrule's lambda/(2n) form: lambda2 = l2 + alpha n / b. (With
        solver='adamw', alpha is the optimizer's decoupled weight decay instead.)"""
        alpha = 0.0 if self.solver == "adamw" else float(self.alpha)
        return float(self.l2) + alpha * n / batch, float(self.l1)


class MLPClassifier(_MLPParams, NeuralNetClassifier):
    """A multi-layer perceptron classifier: Linear layers with ``activation`` (and
    ``dropout``) between them, softmax cross-entropy on the output scores.

    The network is [n_features, *hidden_layer_sizes, n_classes]; everything else is
    ``NeuralNetClassifier``'s (``predict_proba`` = softmax, ``classes_``, early
    stopping on validation accuracy, ``partial_fit(X, y, classes)``).

    Args (beyond NeuralNetClassifier's max_iter, batch_size, l1, l2, tol,
    n_iter_no_change, early_stopping, validation_fraction, shuffle, random_state,
    verbose, warm_start, dtype):
        hidden_layer_sizes: the widths of the hidden layers, e.g. (100,) or (256, 128).
        activation: relu, tanh, logistic (= sigmoid), identity, leaky_relu, elu,
            softplus.
        solver: sgd, adam, adamw, rmsprop, adagrad.
        alpha: scikit-learn's L2 term (alpha / (2 b)) sum W^2 per batch of b; with
            'adamw' the decoupled weight decay W <- W (1 - lr alpha) instead.
        dropout: the probability of zeroing each hidden unit while training.
        learning_rate_init: the optimizer's (constant) learning rate.
        momentum, nesterovs_momentum: for sgd.
        beta_1, beta_2, epsilon: for adam/adamw (epsilon also rmsprop/adagrad).
        init: the weight initialization (xavier, he, default, normal, scaled_normal).
    """


class MLPRegressor(_MLPParams, NeuralNetRegressor):
    """A multi-layer perceptron regressor, [n_features, *hidden_layer_sizes, n_outputs]
    with an identity output, trained on the mean squared error. Parameters as
    ``MLPClassifier``; early stopping keeps the epoch with the best validation R^2."""
