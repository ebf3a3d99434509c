"""chainrule.sklearn: scikit-learn's own estimator checks, and the promises of docs/sklearn.md
(pipelines, grid search, pickling, clone, seeding, partial_fit, early stopping, errors)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import data, nn  # noqa: E402
from chainrule.sklearn import (  # noqa: E402
    MLPClassifier,
    MLPRegressor,
    NeuralNetClassifier,
    NeuralNetRegressor,
)
from chainrule.sklearn._training import add_penalty_gradients  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def small_mlp(n_features: int, n_outputs: int) -> nn.Module:
    """A module factory for the wrappers (module level, so estimators using it pickle)."""
    return nn.mlp([n_features, 16, n_outputs], "tanh")


@pytest.fixture(scope="module")
def digits():
    x, y = data.load_digits()
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


# -- scikit-learn's estimator checks ---------------------------------------------------------

def expected_failed_checks(estimator) -> dict[str, str]:
    """Checks that cannot apply, with the reason, per estimator. All of scikit-learn 1.9's
    checks pass for the four estimators, the pandas input checks included (pandas is in
    the test extra for them), with one exception for the float32 regressors below. The
    only skips are scikit-learn's own array-API input checks, which it runs only when
    SCIPY_ARRAY_API=1 and array-api-strict are set up: chainrule computes in numpy and
    does not claim array-API support, so they do not apply. A check that starts failing
    goes here, with a reason.

    check_methods_subset_invariance compares predictions made one row at a time with
    those of the whole batch to 1e-7. In float32 (the default dtype) BLAS sums a row's
    products in an order that depends on the batch's row count (a one-row product is a
    matrix-vector product), so outputs of about 1 may differ by 2 or 3 float32 ulps
    (3.6e-7 measured): whether the check passes depends on the trained weights'
    last bits. The float64 twin in CHECKED passes it."""
    if is_regressor(estimator) and estimator.dtype == "float32":
        return {"check_methods_subset_invariance":
                "float32 BLAS results depend on the batch's row count by a few ulps"}
    return {}


# Few epochs and small layers keep the ~200 checks to a few seconds; the learning rate is
# raised so that the checks' accuracy thresholds (0.83 on blobs, R^2 0.5) are still met.
CHECKED = [
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01,
                  random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01,
                 random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01,
                 random_state=0, dtype="float64"),
    NeuralNetClassifier(small_mlp, max_iter=30, lr=0.01, random_state=0),
    NeuralNetRegressor(small_mlp, max_iter=30, lr=0.01, random_state=0),
]


@pytest.mark.slow  # scikit-learn's full estimator checks, ~200 of them
@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- optional dependency ---------------------------------------------------------------------

def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=60)


def test_import_chainrule_does_not_import_sklearn():
    done = _python("import chainrule, chainrule.nn, chainrule.train, sys; "
                   "print('sklearn' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_without_sklearn_the_import_error_says_how_to_install():
    # sys.modules[name] = None makes `import name` raise ImportError, as if not installed
    done = _python("import sys; sys.modules['sklearn'] = None; import chainrule.sklearn")
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "pip install chainrule[sklearn]" in done.stderr


# -- scikit-learn workflows on the bundled digits ---------------------------------------------

def test_pipeline_with_standard_scaler_on_digits(digits):
    x_train, x_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,),
                                                         max_iter=40, random_state=0))
    pipe.fit(x_train, y_train)
    assert pipe.score(x_test, y_test) >= 0.95
    clf = pipe[-1]
    assert clf.n_features_in_ == 64
    assert list(clf.classes_) == list(range(10))
    assert clf.n_iter_ == len(clf.loss_curve_) <= 40
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 10
    # coefs_/intercepts_ in scikit-learn's layout reproduce the network's scores
    hidden = np.maximum(pipe[0].transform(x_test) @ clf.coefs_[0] + clf.intercepts_[0], 0)
    scores = hidden @ clf.coefs_[1] + clf.intercepts_[1]
    assert [c.shape for c in clf.coefs_] == [(64, 64), (64, 10)]
    proba = np.exp(scores - scores.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, pipe.predict_proba(x_test), atol=1e-4)


def test_grid_search_over_two_hyperparameters_on_digits(digits):
    x_train, x_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=15, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(8,), (64,)],
            "mlpclassifier__learning_rate_init": [1e-4, 1e-2]}
    search = GridSearchCV(pipe, grid, cv=3).fit(x_train, y_train)
    assert len(search.cv_results_["params"]) == 4
    # 64 hidden units with the larger step beat 8 units crawling at 1e-4, by a margin
    assert search.best_params_ == {"mlpclassifier__hidden_layer_sizes": (64,),
                                   "mlpclassifier__learning_rate_init": 1e-2}
    scores = dict(zip(map(str, search.cv_results_["params"]),
                      search.cv_results_["mean_test_score"], strict=True))
    assert max(scores.values()) - min(scores.values()) > 0.1
    assert search.score(x_test, y_test) >= 0.95


# -- pickling, clone, seeding -------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0),
    lambda: NeuralNetClassifier(small_mlp, max_iter=10, random_state=0),
])
def test_pickle_round_trip_predicts_the_same(digits, make):
    x_train, x_test, y_train, _ = digits
    clf = make().fit(x_train / 16, y_train)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(x_test / 16),
                                  clf.predict_proba(x_test / 16))
    # and it can keep training where the original left off
    restored.partial_fit(x_train / 16, y_train)
    assert restored.n_iter_ == clf.n_iter_ + 1


def test_clone_is_unfitted_with_equal_params_and_refits_identically(digits):
    x_train, x_test, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, alpha=1e-3, random_state=3)
    clf.fit(x_train / 16, y_train)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert not hasattr(twin, "module_")
    with pytest.raises(NotFittedError):
        twin.predict(x_test)
    twin.fit(x_train / 16, y_train)
    np.testing.assert_array_equal(twin.predict_proba(x_test / 16),
                                  clf.predict_proba(x_test / 16))


def test_module_parameter_is_copied_and_reinitialized_not_trained_in_place(digits):
    x_train, _, y_train, _ = digits
    module = nn.mlp([64, 16, 10])
    before = {k: v.copy() for k, v in module.state_dict().items()}
    a = NeuralNetClassifier(module, max_iter=3, random_state=0).fit(x_train / 16, y_train)
    b = NeuralNetClassifier(module, max_iter=3, random_state=0).fit(x_train / 16, y_train)
    c = NeuralNetClassifier(module, max_iter=3, random_state=1).fit(x_train / 16, y_train)
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(value, before[key])  # the parameter is untouched
    wa, wb, wc = (e.module_.state_dict()["0.weight"] for e in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(wa, wc)  # re-initialized from random_state, not the given weights
    assert a.module_ is not module


def test_random_state_reproducible_and_global_generator_untouched(digits):
    x_train, x_test, y_train, _ = digits
    cr.manual_seed(123)
    expected_next = cr.default_generator().bit_generator.state
    make = lambda seed: MLPClassifier(hidden_layer_sizes=(32,), dropout=0.3,  # noqa: E731
                                      early_stopping=True, max_iter=8, random_state=seed)
    p1 = make(7).fit(x_train / 16, y_train).predict_proba(x_test / 16)
    p2 = make(7).fit(x_train / 16, y_train).predict_proba(x_test / 16)
    p3 = make(8).fit(x_train / 16, y_train).predict_proba(x_test / 16)
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(p1, p3)
    # initialization, dropout and shuffling drew from the estimator's generator only
    assert cr.default_generator().bit_generator.state == expected_next


# -- training behaviour -------------------------------------------------------------------------

def test_partial_fit_needs_classes_first_then_learns_chunk_by_chunk(digits):
    x_train, x_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(x_train / 16, y_train)
    chunks = np.array_split(np.arange(len(x_train)), 4)
    clf.partial_fit(x_train[chunks[0]] / 16, y_train[chunks[0]], classes=np.arange(10))
    first = clf.score(x_test / 16, y_test)
    for _ in range(3):
        for idx in chunks:
            clf.partial_fit(x_train[idx] / 16, y_train[idx])
    assert clf.n_iter_ == 13 == len(clf.loss_curve_)
    assert clf.score(x_test / 16, y_test) > max(first, 0.9)
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(x_train[:5] / 16, np.full(5, 11))
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.partial_fit(x_train[:5, :3], y_train[:5])


def test_early_stopping_keeps_the_best_validation_epoch(digits, monkeypatch):
    x_train, _, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.05, max_iter=60,
                        early_stopping=True, validation_fraction=0.2, n_iter_no_change=4,
                        random_state=0)
    held_out = {}
    split = clf._split_validation

    def remember(X, t):  # capture the validation split the estimator makes
        parts = split(X, t)
        held_out["x"], held_out["t"] = parts[1], parts[3]
        return parts

    monkeypatch.setattr(clf, "_split_validation", remember)
    clf.fit(x_train / 16, y_train)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ < 60          # stopped early
    assert clf.best_validation_score_ == max(scores)
    assert np.argmax(scores) < len(scores) - 1        # the last epoch was not the best
    assert len(held_out["x"]) == int(np.ceil(0.2 * len(x_train)))
    # the weights in module_ are those of the best epoch, not the last one
    restored = np.mean(clf.predict(held_out["x"]) == clf.classes_[held_out["t"]])
    assert restored == pytest.approx(max(scores))
    assert clf.best_loss_ is None


def test_convergence_stops_before_max_iter_and_warns_when_it_does_not(digits):
    x_train, _, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), tol=0.5, n_iter_no_change=2, max_iter=50,
                        random_state=0).fit(x_train / 16, y_train)
    assert clf.n_iter_ < 50
    assert clf.best_loss_ == min(clf.loss_curve_)
    from sklearn.exceptions import ConvergenceWarning

    for max_iter in (1, 2):
        with pytest.warns(ConvergenceWarning, match=f"max_iter={max_iter} epochs"):
            MLPClassifier(hidden_layer_sizes=(16,), max_iter=max_iter).fit(x_train / 16, y_train)


def test_warm_start_continues_from_the_fitted_weights(digits):
    x_train, _, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, warm_start=True,
                        random_state=0).fit(x_train / 16, y_train)
    first_curve = list(clf.loss_curve_)
    clf.fit(x_train / 16, y_train)
    assert clf.n_iter_ == 10
    assert clf.loss_curve_[:5] == first_curve
    # still going down from where it stopped, not back at an untrained network's loss
    assert clf.loss_curve_[5] < first_curve[-1] < first_curve[0]
    cold = clone(clf).set_params(warm_start=False).fit(x_train / 16, y_train)
    cold.fit(x_train / 16, y_train)
    assert cold.n_iter_ == 5


def test_predict_proba_rows_sum_to_one_with_string_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    labels = np.array(["cat", "dog", "emu"])[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1)]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, learning_rate_init=0.02,
                        random_state=0).fit(x, labels)
    proba = clf.predict_proba(x)
    assert proba.shape == (120, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert (proba >= 0).all()
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(x))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(x)), proba)
    assert set(clf.predict(x)) <= {"cat", "dog", "emu"}
    binary = MLPClassifier(max_iter=30, learning_rate_init=0.02, random_state=0)
    binary.fit(x, x[:, 0] > 0)
    assert binary.predict_proba(x).shape == (120, 2) and binary.score(x, x[:, 0] > 0) > 0.9


def test_regressor_single_and_multi_output():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(300, 3))
    y = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2]
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=150,
                       random_state=0).fit(x, y)
    assert reg.predict(x).shape == (300,) and reg.n_outputs_ == 1
    assert reg.score(x, y) > 0.9
    y2 = np.column_stack([y, -2 * x[:, 0]])
    multi = NeuralNetRegressor(small_mlp, lr=0.01, max_iter=150, random_state=0).fit(x, y2)
    assert multi.predict(x).shape == (300, 2) and multi.n_outputs_ == 2
    assert multi.score(x, y2) > 0.9
    with pytest.raises(ValueError, match="y has 1 outputs"):
        multi.partial_fit(x, y)


def test_dtype_float32_by_default_and_float64_on_request(digits):
    x_train, _, y_train, _ = digits
    fast = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2).fit(x_train.astype(np.float64),
                                                                 y_train)
    exact = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, dtype="float64").fit(x_train,
                                                                                   y_train)
    assert {p.dtype for p in fast.module_.parameters()} == {np.dtype(np.float32)}
    assert {p.dtype for p in exact.module_.parameters()} == {np.dtype(np.float64)}


def test_penalty_gradients_match_chainrule_penalties_by_autograd():
    cr.manual_seed(0)
    model = nn.mlp([5, 4, 3])
    x = cr.randn(6, 5)
    targets = np.array([0, 1, 2, 0, 1, 2])
    loss = nn.CrossEntropyLoss()(model(x), targets)
    reference = loss + nn.l2_penalty(model, 0.7, 6) + nn.l1_penalty(model, 0.3, 6)
    reference.backward()
    expected = {name: p.grad.data.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    nn.CrossEntropyLoss()(model(x), targets).backward()
    value = add_penalty_gradients(nn.penalized_parameters(model), 0.7, 0.3, 6)
    assert float(loss.data) + value == pytest.approx(float(reference.data), rel=1e-6)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.data, expected[name], rtol=1e-6, atol=1e-7)


def test_alpha_l1_l2_shrink_the_weights(digits):
    x_train, _, y_train, _ = digits

    def weight_norm(**params):
        clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0, **params)
        clf.fit(x_train / 16, y_train)
        return sum(float(np.abs(p.data).sum()) for p in nn.penalized_parameters(clf.module_))

    plain = weight_norm(alpha=0.0)
    assert weight_norm(alpha=10.0) < 0.8 * plain  # like l2 = alpha n / batch = 67
    assert weight_norm(alpha=0.0, l2=50.0) < 0.8 * plain
    assert weight_norm(alpha=0.0, l1=5.0) < 0.8 * plain
    assert weight_norm(alpha=1.0, solver="adamw", learning_rate_init=0.01) < weight_norm(
        alpha=0.0, solver="adamw", learning_rate_init=0.01)


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_solver_learns(digits, solver):
    x_train, x_test, y_train, y_test = digits
    lr = {"sgd": 0.1, "adagrad": 0.05}.get(solver, 0.003)
    clf = MLPClassifier(hidden_layer_sizes=(32,), solver=solver, learning_rate_init=lr,
                        max_iter=10, random_state=0).fit(x_train / 16, y_train)
    assert clf.score(x_test / 16, y_test) > 0.9


def test_verbose_prints_one_line_per_epoch(digits, capsys):
    x_train, _, y_train, _ = digits
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, verbose=True).fit(x_train, y_train)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1", "epoch 2", "epoch 3"]
    assert all("loss" in line for line in lines)


# -- sparse input -------------------------------------------------------------------------------

def _sparse_data(n: int = 240, d: int = 12):
    """Mostly-zero features (as from a text vectorizer) and 3 classes that depend on them."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)) * (rng.random((n, d)) < 0.3)
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "csr_array"])
@pytest.mark.parametrize("make", [
    lambda: MLPClassifier(hidden_layer_sizes=(8,), batch_size=50, max_iter=4,
                          early_stopping=True, n_iter_no_change=10, random_state=0),
    lambda: MLPRegressor(hidden_layer_sizes=(8,), batch_size=50, max_iter=4, random_state=0),
    lambda: NeuralNetClassifier(small_mlp, batch_size=50, max_iter=4, random_state=0),
], ids=["MLPClassifier", "MLPRegressor", "NeuralNetClassifier"])
def test_sparse_input_fits_the_same_model_as_dense(make, fmt):
    sparse = pytest.importorskip("scipy.sparse")
    x, y = _sparse_data()
    to_sparse = sparse.csr_array if fmt == "csr_array" else getattr(sparse, f"{fmt}_matrix")
    xs = to_sparse(x)
    dense, from_sparse = make().fit(x, y), make().fit(xs, y)
    for key, value in dense.module_.state_dict().items():
        np.testing.assert_array_equal(from_sparse.module_.state_dict()[key], value)
    assert from_sparse.loss_curve_ == dense.loss_curve_
    np.testing.assert_array_equal(from_sparse.predict(xs), dense.predict(x))
    np.testing.assert_array_equal(from_sparse.predict(x), dense.predict(xs))
    assert from_sparse.score(xs, y) == dense.score(x, y)
    if hasattr(dense, "predict_proba"):
        np.testing.assert_array_equal(from_sparse.predict_proba(xs), dense.predict_proba(x))
    # partial_fit takes sparse chunks too, and still matches the dense run
    np.testing.assert_array_equal(from_sparse.partial_fit(to_sparse(x[:100]), y[:100]).predict(x),
                                  dense.partial_fit(x[:100], y[:100]).predict(x))


def test_sparse_input_is_densified_one_batch_at_a_time(monkeypatch):
    sparse = pytest.importorskip("scipy.sparse")
    from chainrule.sklearn import _training

    x, y = _sparse_data(n=2600, d=5)
    rows = []
    toarray = sparse.csr_matrix.toarray

    def recording(self, *args, **kwargs):
        rows.append(self.shape[0])
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(sparse.csr_matrix, "toarray", recording)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, early_stopping=True,
                        random_state=0).fit(sparse.csr_matrix(x), y)
    fit_rows, rows[:] = sorted(rows), []
    # per epoch: 'auto' batches of 200 from the 2340 training rows, and the 260 held out
    # for early stopping scored in one piece (fewer than PREDICT_BATCH rows)
    assert fit_rows == sorted(2 * ([200] * 11 + [140, 260]))
    proba = clf.predict_proba(sparse.coo_matrix(x))
    step = _training.PREDICT_BATCH
    assert step < 2600 and rows == [min(step, 2600 - i) for i in range(0, 2600, step)]
    assert proba.shape == (2600, 3) and proba.dtype == np.float64


# -- bad input --------------------------------------------------------------------------------

def three_scores(n_features: int, n_outputs: int) -> nn.Module:
    """A module factory that ignores n_outputs: 3 scores whatever the classes."""
    return nn.mlp([n_features, 4, 3])


@pytest.mark.parametrize("estimator, message", [
    (MLPClassifier(solver="lbfgs"), "solver must be one of sgd, adam"),
    (MLPClassifier(solver=[]), r"solver must be one of sgd, adam, adamw, rmsprop, adagrad "
                               r"\(lbfgs is not supported\); got \[\]"),
    (MLPClassifier(activation="swish"), "activation must be one of logistic"),
    (MLPClassifier(activation="softmax"), "activation must be one of logistic, relu, sigmoid, "
                                          "tanh, leaky_relu, elu, identity, softplus, gelu, "
                                          "silu; got 'softmax'"),
    (MLPClassifier(max_iter=0), "max_iter must be a positive integer"),
    (MLPClassifier(batch_size=-3), "batch_size must be 'auto' or a positive integer"),
    (MLPClassifier(hidden_layer_sizes=(10, 0)),
     r"hidden_layer_sizes must be a positive integer or a sequence of positive integers, "
     r"e.g. \(100,\) or \(64, 32\); got \(10, 0\)"),
    (MLPClassifier(hidden_layer_sizes=None), "hidden_layer_sizes must be a positive integer "
                                             "or a sequence .*; got None"),
    (MLPClassifier(hidden_layer_sizes=10.5), "hidden_layer_sizes must be .*; got 10.5"),
    (MLPClassifier(hidden_layer_sizes="10"), "hidden_layer_sizes must be .*; got '10'"),
    (MLPClassifier(validation_fraction=1.0), r"validation_fraction must be a number in "
                                             r"\[0, 1\); got 1.0"),
    (MLPClassifier(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (MLPClassifier(alpha=-1.0), "alpha must be a number >= 0"),
    (MLPClassifier(beta_1="a"), r"beta_1 must be a number in \[0, 1\); got 'a'"),
    (MLPClassifier(beta_2=None), r"beta_2 must be a number in \[0, 1\); got None"),
    (MLPClassifier(momentum=1.5), r"momentum must be a number in \[0, 1\]; got 1.5"),
    (MLPClassifier(solver="sgd", momentum=1.0),
     r"momentum must be below 1 with solver='sgd' \(chainrule's SGD takes momentum in "
     r"\[0, 1\)\); got 1.0"),
    (MLPClassifier(learning_rate_init=0), "learning_rate_init must be a number > 0; got 0"),
    (MLPClassifier(epsilon=0), "epsilon must be a number > 0; got 0"),
    (MLPClassifier(shuffle="no"), "shuffle must be True or False; got 'no'"),
    (MLPClassifier(nesterovs_momentum=1), "nesterovs_momentum must be True or False; got 1"),
    (MLPClassifier(verbose=-1), "verbose must be True, False or an integer >= 0; got -1"),
    (MLPClassifier(n_iter_no_change=0), "n_iter_no_change must be a positive integer or "
                                        "numpy.inf; got 0"),
    (MLPClassifier(random_state=-1), r"random_state must be None, an integer in "
                                     r"\[0, 2\*\*32 - 1\], a numpy.random.RandomState or a "
                                     r"numpy.random.Generator; got -1"),
    (MLPClassifier(random_state="seed"), "random_state must be None, .*; got 'seed'"),
    (MLPClassifier(dtype="int8"), "dtype must be 'float32' or 'float64'"),
    (NeuralNetClassifier(small_mlp, lr="a"), "lr must be a number > 0; got 'a'"),
    (NeuralNetClassifier(small_mlp, lr=None), "lr must be a number > 0; got None"),
    (NeuralNetRegressor(small_mlp, lr=0.0), "lr must be a number > 0; got 0.0"),
    (NeuralNetClassifier(small_mlp, criterion="mse"),
     r"criterion must be None \(the default\), one of 'log_loss', 'cross_entropy', or a "
     r"loss module, class or callable \(outputs, targets\) -> Tensor; got 'mse'"),
    (NeuralNetRegressor(small_mlp, criterion="log_loss"),
     "criterion must be None .*one of 'squared_error', 'mse', or .*; got 'log_loss'"),
    (NeuralNetClassifier(small_mlp, optimizer_kwargs=[("momentum", 0.9)]),
     "optimizer_kwargs must be None or a dict of the optimizer's keyword arguments"),
    (NeuralNetClassifier(small_mlp, optimizer="sgd", optimizer_kwargs={"betas": (0.9, 0.9)}),
     r"SGD does not take lr=0.001 with optimizer_kwargs=\{'betas': \(0.9, 0.9\)\}: "
     r".*betas"),
    (NeuralNetClassifier(three_scores),
     "NeuralNetClassifier: the module outputs 3 scores per example but there are 2 classes"),
    (NeuralNetClassifier(nn.mlp([2, 4, 3])),
     "the module outputs 3 scores per example but there are 2 classes"),
    (NeuralNetRegressor(three_scores),
     "NeuralNetRegressor: the module outputs 3 values per example but y has 1 target per "
     "example"),
    (NeuralNetClassifier(nn.mlp([5, 4, 2])), r"the module fails on an input of shape "
                                             r"\(1, 2\) \(one example of the data's 2 "
                                             r"features\)"),
    (NeuralNetRegressor(nn.Linear(2, 1), criterion=3), "criterion must be None"),
], ids=lambda value: None if isinstance(value, str) else type(value).__name__)
def test_bad_parameters_are_reported_at_fit_by_name(estimator, message):
    x, y = np.zeros((10, 2)), np.arange(10) % 2
    estimator = clone(estimator)  # __init__ never validates (scikit-learn's rule)
    with pytest.raises(ValueError, match=message) as raised:
        estimator.fit(x, y)
    if "module outputs" not in message and "module fails" not in message:
        # a parameter's own rule: like scikit-learn's error, both a ValueError and a TypeError
        assert isinstance(raised.value, TypeError)


# values of the parameters chainrule's MLPs share with scikit-learn's, on either side of
# scikit-learn's rules (MLPClassifier._parameter_constraints)
REFUSED_BY_BOTH = [
    {"hidden_layer_sizes": None}, {"hidden_layer_sizes": 10.5}, {"hidden_layer_sizes": "10"},
    {"hidden_layer_sizes": 0}, {"activation": "softmax"}, {"solver": []},
    {"alpha": -1e-4}, {"batch_size": 0}, {"batch_size": 2.5}, {"learning_rate_init": 0},
    {"max_iter": 0}, {"max_iter": 1.5}, {"shuffle": "no"}, {"shuffle": 1},
    {"random_state": -1}, {"random_state": 2**32}, {"random_state": 1.5}, {"tol": -1},
    {"verbose": -1}, {"warm_start": None}, {"momentum": 1.5}, {"momentum": -0.1},
    {"nesterovs_momentum": "yes"}, {"early_stopping": 1}, {"validation_fraction": 1.0},
    {"validation_fraction": -0.1}, {"beta_1": "a"}, {"beta_1": 1.0}, {"beta_2": None},
    {"epsilon": 0}, {"n_iter_no_change": 0}, {"n_iter_no_change": 2.5},
]
ACCEPTED_BY_BOTH = [
    {"hidden_layer_sizes": ()}, {"hidden_layer_sizes": 3}, {"hidden_layer_sizes": [3, 2]},
    {"hidden_layer_sizes": np.array([3, 2])}, {"activation": "logistic"},
    {"activation": "identity"}, {"momentum": 1.0}, {"batch_size": 4},
    {"random_state": 2**32 - 1}, {"random_state": np.random.RandomState(0)},
    {"shuffle": np.bool_(False)}, {"verbose": 0}, {"validation_fraction": 0.0},
    {"beta_1": 0.0, "beta_2": 0.0}, {"n_iter_no_change": np.inf}, {"alpha": 0},
]


def test_shared_parameters_follow_scikit_learns_rules():
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    from sklearn.utils._param_validation import InvalidParameterError as SkInvalid

    from chainrule.sklearn import InvalidParameterError

    x, y = np.random.default_rng(0).normal(size=(12, 2)), np.arange(12) % 2
    for params in REFUSED_BY_BOTH:
        name = next(iter(params))
        with pytest.raises(SkInvalid):
            SkMLPClassifier(**params).fit(x, y)
        with pytest.raises(InvalidParameterError, match=f"the parameter {name} must be "):
            MLPClassifier(**params).fit(x, y)
    for params in ACCEPTED_BY_BOTH:
        SkMLPClassifier(max_iter=2, **params).fit(x, y)
        MLPClassifier(max_iter=2, **params).fit(x, y)


def test_criterion_by_name_and_chainrule_extras_are_accepted():
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    for criterion in ("log_loss", "cross_entropy", nn.CrossEntropyLoss, nn.CrossEntropyLoss()):
        clf = NeuralNetClassifier(small_mlp, criterion=criterion, lr=0.05, max_iter=20,
                                  random_state=0).fit(x, y)
        assert clf.score(x, y) > 0.9
    for criterion in ("squared_error", "mse"):
        reg = NeuralNetRegressor(small_mlp, criterion=criterion, lr=0.01, max_iter=5,
                                 random_state=0).fit(x, x[:, 0])
        assert reg.loss_curve_[-1] < reg.loss_curve_[0]
    for params in ({"activation": "elu", "solver": "adamw"},
                   {"random_state": np.random.default_rng(0)}, {"init": "he", "l1": 0.1}):
        MLPClassifier(max_iter=2, **params).fit(x, y)


def test_bad_data_gives_clear_errors():
    x, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier().fit(np.where(x > 1, np.nan, x), y)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MLPClassifier().fit(x, x[:, 0])
    with pytest.raises(ValueError, match="multilabel and multi-output classification are "
                                         "not supported"):
        MLPClassifier().fit(x, np.column_stack([y, 1 - y]))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        MLPRegressor().fit(x[:, 0], y)
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(x)
    clf = MLPClassifier(max_iter=1).fit(x, y)
    with pytest.raises(ValueError, match="X has 2 features, but MLPClassifier is expecting 3"):
        clf.predict(x[:, :2])
    with pytest.raises(ValueError, match="module must be a chainrule.nn.Module or a callable"):
        NeuralNetClassifier("mlp").fit(x, y)
    with pytest.raises(ValueError, match="optimizer must be one of sgd"):
        NeuralNetClassifier(small_mlp, optimizer="newton").fit(x, y)
    with pytest.raises(ValueError, match="early_stopping needs at least 2 validation"):
        MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(x[:8], y[:8])


def test_divergence_names_the_epoch_and_a_remedy():
    from chainrule.train import TrainingDiverged

    x = np.random.default_rng(0).normal(size=(50, 3)) * 1e3
    expected = r"at epoch \d+, batch \d+.*lower learning rate"
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match=expected):
        MLPRegressor(solver="sgd", learning_rate_init=10.0, momentum=0.0,
                     max_iter=3).fit(x, x.sum(axis=1) ** 3)
