"""Any chainrule module as a scikit-learn estimator: ``NeuralNetClassifier`` and
``NeuralNetRegressor``.

The module is a parameter like any other, so ``clone``, ``GridSearchCV`` and
pickling work: every ``fit`` trains a fresh copy (a deep copy of a module instance,
re-initialized, or the module a callable builds) and leaves the parameter untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import column_or_1d

from chainrule import nn, optim
from chainrule.nn.module import Module
from chainrule.sklearn.base import NeuralNetBase
from chainrule.sklearn.checks import InvalidParameterError, is_real, require
from chainrule.train.config import OPTIMIZERS as TRAIN_OPTIMIZERS

#: Optimizers by name, for the ``optimizer`` (wrappers) and ``solver`` (MLPs) parameters.
# the optimizers chainrule names (train.config's one table), by name
OPTIMIZERS: dict[str, type[optim.Optimizer]] = {
    name: spec.cls for name, spec in TRAIN_OPTIMIZERS.items()}


def optimizer_class(name_or_class: Any, parameter: str) -> type[optim.Optimizer]:
    """The optimizer class for a name in OPTIMIZERS or an ``optim.Optimizer`` subclass."""
    if isinstance(name_or_class, type) and issubclass(name_or_class, optim.Optimizer):
        return name_or_class
    cls = OPTIMIZERS.get(name_or_class.lower()) if isinstance(name_or_class, str) else None
    require(cls is not None, parameter,
             f"one of {', '.join(OPTIMIZERS)} or a chainrule.optim.Optimizer subclass",
             name_or_class)
    return cls


class _ModuleParams:
    """The constructor and model hooks of the wrappers: a user-supplied module, criterion
    and optimizer. (Defined once here; ``get_params`` reads this ``__init__``.)"""

    def __init__(self, module: Module | Callable[[int, int], Module] | None = None, *,
                 criterion: Any = None, optimizer: Any = "adam", lr: float = 1e-3,
                 optimizer_kwargs: dict[str, Any] | None = None, max_iter: int = 200,
                 batch_size: int | str = "auto", l1: float = 0.0, l2: float = 0.0,
                 tol: float = 1e-4, n_iter_no_change: int = 10, early_stopping: bool = False,
                 validation_fraction: float = 0.1, shuffle: bool = True,
                 random_state: Any = None, verbose: bool = False, warm_start: bool = False,
                 dtype: str = "float32") -> None:
        self.module = module
        self.criterion = criterion
        self.optimizer = optimizer
        self.lr = lr
        self.optimizer_kwargs = optimizer_kwargs
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.l1 = l1
        self.l2 = l2
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.dtype = dtype

    # criterion names (scikit-learn's loss names and the usual short ones) -> loss classes
    _criterion_names: dict[str, type[Module]] = {}

    def _check_params(self) -> None:
        super()._check_params()  # type: ignore[misc]
        require(isinstance(self.module, Module) or callable(self.module), "module",
                 "a chainrule.nn.Module or a callable (n_features, n_outputs) -> Module",
                 self.module)
        names = ", ".join(repr(name) for name in self._criterion_names)
        require(self.criterion is None or callable(self.criterion)
                 or (isinstance(self.criterion, str) and self.criterion in self._criterion_names),
                 "criterion", f"None (the default), one of {names}, or a loss module, class or "
                 f"callable (outputs, targets) -> Tensor", self.criterion)
        optimizer_class(self.optimizer, "optimizer")
        require(is_real(self.lr) and self.lr > 0, "lr", "a number > 0", self.lr)
        require(self.optimizer_kwargs is None or isinstance(self.optimizer_kwargs, Mapping),
                 "optimizer_kwargs", "None or a dict of the optimizer's keyword arguments",
                 self.optimizer_kwargs)

    def _make_module(self, n_features: int, n_outputs: int) -> Module:
        """A module instance: deep-copied and re-initialized (its layers'
        ``reset_parameters``) from this estimator's generator; a callable: called as
        ``module(n_features, n_outputs)``, so it can size its first and last layers."""
        if isinstance(self.module, Module):
            module = copy.deepcopy(self.module)
            for layer in module.modules():
                reset = getattr(layer, "reset_parameters", None)
                if callable(reset):
                    reset()
            return module
        if callable(self.module):
            return self.module(n_features, n_outputs)
        raise ValueError(f"{type(self).__name__}: the parameter module must be a "
                         f"chainrule.nn.Module or a callable (n_features, n_outputs) -> Module; "
                         f"got {self.module!r}")

    def _make_criterion(self) -> Any:
        if self.criterion is None:
            return self._default_criterion()
        if isinstance(self.criterion, str):
            return self._criterion_names[self.criterion]()
        return self.criterion() if isinstance(self.criterion, type) else self.criterion

    def _make_optimizer(self, module: Module) -> Any:
        cls = optimizer_class(self.optimizer, "optimizer")
        kwargs = dict(self.optimizer_kwargs or {})
        try:
            return cls(module.parameters(), lr=float(self.lr), **kwargs)
        except (TypeError, ValueError) as error:
            raise InvalidParameterError(
                f"{type(self).__name__}: {cls.__name__} does not take lr={self.lr!r} with "
                f"optimizer_kwargs={kwargs!r}: {error}") from error


class NeuralNetClassifier(ClassifierMixin, _ModuleParams, NeuralNetBase):
    """A chainrule module trained as a scikit-learn classifier.

    The module maps (n, n_features) inputs to one raw score per class, (n,
    n_classes); it is trained with softmax cross-entropy by default (``criterion``:
    any loss taking (scores, class indices)), and

        predict_proba(X) = softmax(scores),  predict(X) = classes_[argmax scores].

    Labels may be any sortable values (ints, strings); ``classes_`` holds them
    sorted, and the module's output c stands for ``classes_[c]``. Binary problems use
    two outputs. Multilabel targets are not supported.

    Args:
        module: a ``chainrule.nn.Module`` (deep-copied and re-initialized at each fit)
            or a callable ``(n_features, n_outputs) -> Module`` (a picklable one, e.g.
            a module-level function, if the estimator is to be pickled).
        criterion: a loss module, class or callable ``(outputs, targets) -> Tensor``;
            None for the task's default; or a name: 'log_loss' or 'cross_entropy'
            (classifier), 'squared_error' or 'mse' (regressor).
        optimizer, lr, optimizer_kwargs: a name (sgd, adam, adamw, rmsprop, adagrad)
            or ``chainrule.optim.Optimizer`` subclass, its learning rate and other
            keyword arguments.
        max_iter: the most epochs per ``fit``.
        batch_size: examples per mini-batch; 'auto' is min(200, n).
        l1, l2: chainrule's penalties lambda/n sum |W| and lambda/(2n) sum W^2 over
            the weights (not the biases), n = the number of training examples.
        tol, n_iter_no_change: stop when the training loss (with early stopping: the
            validation score) has not improved by at least ``tol`` for
            ``n_iter_no_change`` epochs in a row.
        early_stopping, validation_fraction: hold out this fraction (stratified) and
            keep the weights of the epoch with the best validation accuracy.
        shuffle: reshuffle the training set every epoch.
        random_state: None, an int in [0, 2**32 - 1], a RandomState or a Generator;
            the same int gives the same model.
        verbose: print the loss (and validation score) after each epoch.
        warm_start: ``fit`` continues from the fitted weights instead of starting anew.
        dtype: 'float32' (fast, the default) or 'float64'; inputs are converted.
    """

    _multi_output_y = True   # accepted, then refused with a clear message below
    _criterion_names = {"log_loss": nn.CrossEntropyLoss, "cross_entropy": nn.CrossEntropyLoss}

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> NeuralNetClassifier:
        """One epoch on (X, y). ``classes`` (all labels that will ever appear) is required
        on the first call, since one chunk need not contain every class."""
        if not hasattr(self, "module_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit "
                             "(every label that will appear in any chunk)")
        return self._partial_fit(X, y, classes)

    def _encode_targets(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        if y.ndim == 2 and y.shape[1] > 1:
            raise ValueError(f"{type(self).__name__} takes one label per example; got y of "
                             f"shape {y.shape} (multilabel and multi-output classification "
                             f"are not supported)")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            self.classes_ = unique_labels(y if classes is None else classes)
            self.n_outputs_ = len(self.classes_)
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"classes={classes!r} differs from the classes of the first "
                             f"call to partial_fit, {self.classes_!r}")
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"y contains labels {np.unique(y[unknown])!r} that are not among "
                             f"the classes {self.classes_!r} (learned by the first fit, or "
                             f"given as classes to partial_fit)")
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _default_criterion(self) -> Any:
        return nn.CrossEntropyLoss()

    def _output_mismatch(self, width: int) -> str:
        return (f"the module outputs {width} scores per example but there are "
                f"{self.n_outputs_} classes ({self.n_outputs_} outputs, one per class, "
                f"are needed)")

    def _training_targets(self, targets: np.ndarray) -> np.ndarray:
        """One-hot rows for the default criterion: cross-entropy against probability
        targets gives the same loss and gradient (softmax - Y) / b as against class
        indices, with less per-batch bookkeeping (no ignore_index or range checks),
        which is a tenth of a step on small networks. A user's criterion gets indices."""
        if getattr(self, "criterion", None) is not None:  # the MLPs have no criterion
            return targets
        return np.eye(self.n_outputs_, dtype=np.dtype(self.dtype))[targets]

    def _validation_score(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return float(np.mean(outputs.argmax(axis=1) == targets))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of X."""
        scores = self._outputs(X)  # first: it raises NotFittedError before classes_ exists
        return self.classes_[scores.argmax(axis=1)]

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """log softmax of the scores: z_c - max z - log sum_k exp(z_k - max z)."""
        z = self._outputs(X)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities p_c = exp(z_c) / sum_k exp(z_k), one row per example
        (columns in the order of ``classes_``); computed in float64 so rows sum to 1."""
        return np.exp(self.predict_log_proba(X))


class NeuralNetRegressor(RegressorMixin, _ModuleParams, NeuralNetBase):
    """A chainrule module trained as a scikit-learn regressor.

    The module maps (n, n_features) inputs to (n, n_outputs) predictions; it is
    trained with the mean squared error mean((f(x) - y)^2) by default. ``y`` may be
    1-D (one output; ``predict`` then returns 1-D) or 2-D (multi-output). The
    parameters are those of ``NeuralNetClassifier``; early stopping keeps the epoch
    with the best validation R^2.
    """

    _multi_output_y = True
    _numeric_y = True
    _criterion_names = {"squared_error": nn.MSELoss, "mse": nn.MSELoss}

    def partial_fit(self, X: Any, y: Any) -> NeuralNetRegressor:
        """One epoch on (X, y) from the current weights (the first call initializes)."""
        return self._partial_fit(X, y)

    def _encode_targets(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        targets = np.asarray(y, dtype=np.dtype(self.dtype))
        targets = targets.reshape(len(targets), -1)
        if first:
            self.n_outputs_ = targets.shape[1]
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {targets.shape[1]} outputs, but {type(self).__name__} "
                             f"was fitted with {self.n_outputs_}")
        return targets

    def _default_criterion(self) -> Any:
        return nn.MSELoss()

    def _output_mismatch(self, width: int) -> str:
        return (f"the module outputs {width} values per example but y has {self.n_outputs_} "
                f"target{'s' if self.n_outputs_ != 1 else ''} per example")

    def _validation_score(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return float(r2_score(targets, outputs))

    def predict(self, X: Any) -> np.ndarray:
        """The module's predictions, 1-D when there is one output."""
        outputs = self._outputs(X)
        return outputs.ravel() if self.n_outputs_ == 1 else outputs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
