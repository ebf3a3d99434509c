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

from sklearn.base import clone  # noqa: E402
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
    """Checks that cannot apply, with the reason, per estimator: none. All of
    scikit-learn 1.9's checks pass for the four estimators, the pandas input checks
    included (pandas is in the test extra for them). The only skips are scikit-learn's
    own array-API input checks, which it runs only when SCIPY_ARRAY_API=1 and
    array-api-strict are set up: chainrule computes in numpy and does not claim
    array-API support, so they do not apply. A check that starts failing goes here, with
    a reason."""
    return {}


# Few epochs and small layers keep the ~200 checks to a few seconds; the learning rate is
# raised so that the checks' accuracy thresholds (0.83 on blobs, R^2 0.5) are still met.
CHECKED = [
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01,
                  random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01,
                 random_state=0),
    NeuralNetClassifier(small_mlp, max_iter=30, lr=0.01, random_state=0),
    NeuralNetRegressor(small_mlp, max_iter=30, lr=0.01, random_state=0),
]


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

@pytest.mark.parametrize("params, message", [
    ({"solver": "lbfgs"}, "solver must be one of sgd, adam"),
    ({"activation": "swish"}, "activation must be one of logistic"),
    ({"max_iter": 0}, "max_iter must be a positive integer"),
    ({"batch_size": -3}, "batch_size must be 'auto' or a positive integer"),
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes must be positive integers"),
    ({"validation_fraction": 1.5}, r"validation_fraction must be a number in \(0, 1\)"),
    ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
    ({"alpha": -1.0}, "alpha must be a number >= 0"),
    ({"dtype": "int8"}, "dtype must be 'float32' or 'float64'"),
])
def test_bad_parameters_are_reported_at_fit_by_name(params, message):
    x, y = np.zeros((10, 2)), np.arange(10) % 2
    clf = MLPClassifier(**params)  # __init__ never validates (scikit-learn's rule)
    with pytest.raises(ValueError, match=message):
        clf.fit(x, y)


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
