"""What every chainrule estimator shares: scikit-learn's fit/partial_fit protocol around a
chainrule module, with stopping rules, early stopping and seeding.

Subclasses fill in two kinds of hooks:

- the task (``NeuralNetClassifier`` / ``NeuralNetRegressor``): how targets are
  validated and encoded (``_encode_targets``), which criterion is the default, and
  how a validation set is scored (``_validation_score``);
- the model (the module wrappers / the MLPs): how the module, the optimizer and
  the penalties are made from the constructor's parameters (``_make_module``,
  ``_make_optimizer``, ``_make_criterion``, ``_penalties``).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted, validate_data

from chainrule.nn.module import Module
from chainrule.sklearn._training import (
    drawing_from,
    make_generator,
    outputs,
    train_epoch,
)
from chainrule.sklearn.checks import is_bool, is_int, is_real, require
from chainrule.train.callbacks import Plateau

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NeuralNetBase(BaseEstimator):
    """The shared fit machinery; use one of the concrete estimators.

    Fitted attributes: ``module_`` (the trained chainrule module), ``optimizer_``,
    ``n_features_in_``, ``n_outputs_``, ``loss_curve_`` (mean training objective per
    epoch, penalties included), ``loss_``, ``best_loss_``, ``n_iter_`` (epochs run),
    ``t_`` (training examples seen), and with early stopping ``validation_scores_``
    and ``best_validation_score_``.
    """

    # -- hooks for subclasses -------------------------------------------------------------
    _multi_output_y = False   # what validate_data accepts as y (the task decides)
    _numeric_y = False

    def _encode_targets(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        """Targets as the criterion takes them; on the first fit, learn what is needed
        (classes, number of outputs) and set ``n_outputs_``."""
        raise NotImplementedError

    def _validation_score(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        """The score early stopping watches (higher is better) on encoded targets."""
        raise NotImplementedError

    def _default_criterion(self) -> Any:
        raise NotImplementedError

    def _output_mismatch(self, width: int) -> str:
        """Why a module giving ``width`` outputs per example does not fit the targets."""
        raise NotImplementedError

    def _make_module(self, n_features: int, n_outputs: int) -> Module:
        raise NotImplementedError

    def _make_optimizer(self, module: Module) -> Any:
        raise NotImplementedError

    def _make_criterion(self) -> Any:
        return self._default_criterion()

    def _training_targets(self, targets: np.ndarray) -> np.ndarray:
        """The targets as the training batches carry them (by default as encoded)."""
        return targets

    def _penalties(self, batch: int, n: int) -> tuple[float, float]:
        """(lambda2, lambda1) of the L2 and L1 penalties for a batch of ``batch`` of ``n``."""
        return float(self.l2), float(self.l1)

    # -- the scikit-learn protocol ----------------------------------------------------------
    def fit(self, X: Any, y: Any) -> NeuralNetBase:
        """Train on (X, y) for up to ``max_iter`` epochs, stopping early when the training
        loss (or, with ``early_stopping``, the validation score) stops improving by ``tol``
        for ``n_iter_no_change`` epochs in a row. With ``warm_start`` a fitted estimator
        continues from its weights instead of starting again."""
        return self._fit(X, y, incremental=False)

    def _partial_fit(self, X: Any, y: Any, classes: Any = None) -> NeuralNetBase:
        """One epoch over (X, y) from the current weights and optimizer state (no
        stopping rule, no early stopping): for data that arrives in chunks."""
        return self._fit(X, y, incremental=True, classes=classes)

    def _fit(self, X: Any, y: Any, incremental: bool, classes: Any = None) -> NeuralNetBase:
        self._check_params()
        dtype = np.dtype(self.dtype)
        fitted = hasattr(self, "module_")
        first = not fitted or not (incremental or self.warm_start)
        # sparse X stays sparse (CSR) and is densified one mini-batch at a time
        X, y = validate_data(self, X, y, reset=first, dtype=dtype, accept_sparse="csr",
                             multi_output=self._multi_output_y, y_numeric=self._numeric_y)
        targets = self._encode_targets(y, first, classes)
        if first:
            self._initialize(X.shape[1])
        if not incremental or self.optimizer_ is None:
            self.optimizer_ = self._make_optimizer(self.module_)
        criterion = self._make_criterion()
        validation = None
        if self.early_stopping and not incremental:
            X, X_val, targets, t_val = self._split_validation(X, targets)
            validation = (X_val, t_val)
        self._run_epochs(X, targets, criterion, incremental, validation)
        return self

    def _initialize(self, n_features: int) -> None:
        """A fresh module drawn from this estimator's own generator, and empty records."""
        self._rng = make_generator(self.random_state)
        with drawing_from(self._rng):
            module = self._make_module(n_features, self.n_outputs_)
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: the module must be a chainrule.nn.Module, "
                            f"got {type(module).__name__}")
        self.module_ = module.to(np.dtype(self.dtype))
        self._check_output_width(n_features)
        self.optimizer_ = None
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0
        self.t_ = 0

    def _check_output_width(self, n_features: int) -> None:
        """Run the new module on one all-zero example: it must take n_features inputs and
        give one row of n_outputs_ values, or fit would fail deep inside the loss."""
        name = type(self).__name__
        with drawing_from(self._rng):
            try:
                out = outputs(self.module_, np.zeros((1, n_features), np.dtype(self.dtype)))
            except Exception as error:
                raise ValueError(f"{name}: the module fails on an input of shape (1, "
                                 f"{n_features}) (one example of the data's {n_features} "
                                 f"features): {error}") from error
        if out.ndim != 2:
            raise ValueError(f"{name}: the module must output a 2-D array (examples, "
                             f"{self.n_outputs_}); for an input of shape (1, {n_features}) it "
                             f"gives shape {out.shape}")
        if out.shape[1] != self.n_outputs_:
            raise ValueError(f"{name}: {self._output_mismatch(out.shape[1])}")

    def _split_validation(self, X: np.ndarray, targets: np.ndarray) -> list[np.ndarray]:
        """Hold out ``validation_fraction`` of the data, stratified for classification
        when every class has at least two examples."""
        stratify = None
        if targets.ndim == 1 and targets.dtype.kind in "iu":
            counts = np.bincount(targets)
            if counts[counts > 0].min() >= 2:
                stratify = targets
        n = X.shape[0]
        n_val = int(np.ceil(self.validation_fraction * n))
        if n_val < 2 or n - n_val < 1:
            raise ValueError(f"early_stopping needs at least 2 validation examples and 1 "
                             f"training example; validation_fraction="
                             f"{self.validation_fraction} of {n} examples gives {n_val}")
        seed = int(self._rng.integers(np.iinfo(np.int32).max))
        try:
            return train_test_split(X, targets, test_size=n_val, random_state=seed,
                                    stratify=stratify)
        except ValueError:  # too few examples per class for a stratified split of this size
            return train_test_split(X, targets, test_size=n_val, random_state=seed)

    def _run_epochs(self, X: np.ndarray, targets: np.ndarray, criterion: Any,
                    incremental: bool, validation: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Up to ``max_iter`` epochs with the stopping rule; restores the best weights when
        early stopping (``validation`` given). One epoch, no rule, for partial_fit."""
        epochs = 1 if incremental else self.max_iter
        batch_size = self._batch_size(X.shape[0])
        targets = self._training_targets(targets)
        rule = Plateau.absolute(self.tol, self.n_iter_no_change, "max" if validation else "min")
        best_state = None
        if validation is not None:
            self.validation_scores_: list[float] = []
        for _ in range(epochs):
            with drawing_from(self._rng):
                loss = train_epoch(self.module_, criterion, self.optimizer_, X, targets,
                                   batch_size, self.shuffle, self._rng, self._penalties,
                                   self.n_iter_ + 1)
            self.n_iter_ += 1
            self.t_ += X.shape[0]
            self.loss_curve_.append(loss)
            message = f"epoch {self.n_iter_}: loss {loss:.6f}"
            if validation is not None:
                score = self._validation_score(outputs(self.module_, validation[0]),
                                               validation[1])
                self.validation_scores_.append(score)
                message += f", validation score {score:.6f}"
                rule.update(score)
                if rule.new_best:
                    best_state = copy.deepcopy(self.module_.state_dict())
            else:
                rule.update(loss)
            if self.verbose:
                print(message, flush=True)
            if not incremental and rule.stalled:
                break
        else:
            if not incremental:
                warnings.warn(f"{type(self).__name__}: reached max_iter={self.max_iter} "
                              f"epochs before the optimization converged (tol={self.tol}); "
                              f"raise max_iter or tol", ConvergenceWarning, stacklevel=4)
        self.loss_ = self.loss_curve_[-1]
        if validation is not None:
            # the weights of the epoch with the best validation score, as scikit-learn does
            self.module_.load_state_dict(best_state)
            self.best_validation_score_ = rule.best_value
            self.best_loss_ = None
        elif not incremental:
            self.best_loss_ = rule.best_value

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(f"batch_size={self.batch_size} is larger than the {n} training "
                          f"examples; using {n}", UserWarning, stacklevel=5)
            return n
        return int(self.batch_size)

    def _outputs(self, X: Any) -> np.ndarray:
        """The fitted module's raw outputs for X (eval mode, no graph), as float64."""
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.dtype(self.dtype), accept_sparse="csr")
        return outputs(self.module_, X).astype(np.float64, copy=False)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR/CSC/COO/...: densified one batch at a time
        return tags

    # -- parameter checks (in fit, never in __init__, as scikit-learn requires) ---------------
    def _check_params(self) -> None:
        """scikit-learn's rules for the parameters MLPClassifier shares (its
        ``_parameter_constraints``), and chainrule's for the rest; an
        ``InvalidParameterError`` names the first parameter that breaks them."""
        require(is_int(self.max_iter) and self.max_iter >= 1, "max_iter",
                 "a positive integer", self.max_iter)
        require((isinstance(self.batch_size, str) and self.batch_size == "auto")
                 or (is_int(self.batch_size) and self.batch_size >= 1),
                 "batch_size", "'auto' or a positive integer", self.batch_size)
        require(is_real(self.tol) and self.tol >= 0, "tol", "a number >= 0", self.tol)
        require((is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1)
                 or (is_real(self.n_iter_no_change) and self.n_iter_no_change == np.inf),
                 "n_iter_no_change", "a positive integer or numpy.inf", self.n_iter_no_change)
        require(is_real(self.validation_fraction) and 0 <= self.validation_fraction < 1,
                 "validation_fraction", "a number in [0, 1)", self.validation_fraction)
        for name in ("l1", "l2"):
            value = getattr(self, name)
            require(is_real(value) and value >= 0, name, "a number >= 0", value)
        for name in ("shuffle", "warm_start", "early_stopping"):
            value = getattr(self, name)
            require(is_bool(value), name, "True or False", value)
        require(is_bool(self.verbose) or (is_int(self.verbose) and self.verbose >= 0),
                 "verbose", "True, False or an integer >= 0", self.verbose)
        state = self.random_state
        require(state is None or (is_int(state) and 0 <= state <= 2**32 - 1)
                 or isinstance(state, np.random.RandomState | np.random.Generator),
                 "random_state", "None, an integer in [0, 2**32 - 1], a "
                 "numpy.random.RandomState or a numpy.random.Generator", state)
        try:
            ok = np.dtype(self.dtype) in _DTYPES
        except TypeError:
            ok = False
        require(ok, "dtype", "'float32' or 'float64'", self.dtype)
