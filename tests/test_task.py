"""Task-driven coders: the joint objective, its gradients, the estimators."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_lista import LISTAClassifier, LISTACoder, LISTARegressor
from sklearn_lista._lasso import LassoProblem
from sklearn_lista._task import TaskObjective, fit_head
from sklearn_lista.losses import TASK_LOSSES
from sklearn_lista.networks import ARCHITECTURES, JointDictionary, UnrolledNetwork
from sklearn_lista.optim import Oblique


def _unit_rows(rng, n_rows, n_columns):
    matrix = rng.standard_normal((n_rows, n_columns))
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    rows = rng.permutation(len(y))[:360]
    return X[rows] / 16.0, y[rows], _unit_rows(rng, 20, 64)


def _quiet(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def _perturbed_params(network, n_layers, rng):
    """Parameters off their initial values (thresholds positive, so the
    finite differences do not sit on a kink)."""
    params = network.init_params(n_layers)
    for name in network.parameters:
        if name in ("A", "dictionary"):
            continue
        params[name] = params[name] * (1 + 0.05 * rng.random_sample(params[name].shape))
    return params


def _directional_check(f, params, grads, name, rng, eps=1e-6):
    direction = rng.standard_normal(params[name].shape)
    plus, minus = dict(params), dict(params)
    plus[name] = params[name] + eps * direction
    minus[name] = params[name] - eps * direction
    numeric = (f(plus) - f(minus)) / (2 * eps)
    analytic = float(np.sum(grads[name] * direction))
    assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8, err_msg=name)


# Architectures that give a gradient in their dictionary (HyperLISTA does not
# yet: its pseudo-inverse and coherence are not differentiated; the task
# coders refuse fit_dictionary=True for it, tested below).
WITH_DICTIONARY_GRADIENT = sorted(
    name
    for name, network_class in ARCHITECTURES.items()
    if not network_class.reads_dictionary
    or network_class.backward_dictionary is not UnrolledNetwork.backward_dictionary
)


@pytest.mark.parametrize("shape", [(12, 8), (6, 8)], ids=["overcomplete", "under"])
@pytest.mark.parametrize("name", WITH_DICTIONARY_GRADIENT)
def test_dictionary_gradient_through_the_network(name, shape):
    rng = np.random.RandomState(0)
    dictionary = _unit_rows(rng, *shape)
    X = rng.standard_normal((7, shape[1]))
    options = {"support_selection": None} if name == "alista" else {}
    network = JointDictionary(
        LassoProblem(dictionary, 0.1), ARCHITECTURES[name], **options
    )
    params = _perturbed_params(network, 3, rng)
    grad_codes = rng.standard_normal((7, shape[0]))

    def f(p):
        return float(np.sum(network.forward(X, p, keep_cache=False)[0] * grad_codes))

    _, cache = network.forward(X, params)
    grads = network.backward(params, cache, grad_codes)
    assert set(grads) == set(network.parameters)
    for parameter in network.parameters:
        if parameter != "A":
            _directional_check(f, params, grads, parameter, rng)
    if not ARCHITECTURES[name].reads_dictionary:
        assert not grads["dictionary"].any()


@pytest.mark.parametrize("task", ["log_loss", "squared_error"])
@pytest.mark.parametrize("name", ["lista", "step_ista", "lista_cp"])
def test_task_objective_gradients(name, task):
    rng = np.random.RandomState(1)
    dictionary = _unit_rows(rng, 10, 6)
    X = rng.standard_normal((9, 6))
    y = rng.randint(3, size=9) if task == "log_loss" else rng.standard_normal((9, 3))
    weights = rng.random_sample(9)
    network = JointDictionary(LassoProblem(dictionary, 0.2), ARCHITECTURES[name])
    params = _perturbed_params(network, 2, rng)
    params["head_coef"] = rng.standard_normal((10, 3))
    params["head_intercept"] = rng.standard_normal(3)
    batch = (X, y, weights)
    objective = TaskObjective(
        network, TASK_LOSSES[task](), 0.7, 0.3, X, y, weights, batch, 9, False
    )
    value, deferred = objective.loss_and_grads(params, batch)
    assert value == pytest.approx(objective.monitor(params))
    grads = deferred.compute()
    for parameter in params:
        _directional_check(
            lambda p: objective.loss(p, batch), params, grads, parameter, rng
        )


def test_oblique_manifold_keeps_unit_rows():
    rng = np.random.RandomState(0)
    manifold = Oblique()
    point = _unit_rows(rng, 5, 4)
    rgrad = manifold.egrad_to_rgrad(point, rng.standard_normal((5, 4)))
    assert_allclose(np.sum(rgrad * point, axis=1), 0, atol=1e-12)
    moved = manifold.retract(point, -0.3 * rgrad)
    assert manifold.distance(moved) < 1e-12
    assert manifold.distance(2 * point) == pytest.approx(1.0)


def test_post_training_solves_the_head_problem(digits):
    X, y, dictionary = digits
    clf = _quiet(
        LISTAClassifier(dictionary, max_iter=3, head_l2=1e-2, random_state=0), X, y
    )
    codes = clf.transform(X)
    loss = TASK_LOSSES["log_loss"]()
    scores = codes @ clf.coef_.T + clf.intercept_
    _, grad_scores = loss(
        scores, np.searchsorted(clf.classes_, y), np.full(len(y), 1 / len(y))
    )
    grad_coef = codes.T @ grad_scores + 1e-2 * clf.coef_.T
    assert np.abs(grad_coef).max() < 1e-5
    assert np.abs(grad_scores.sum(axis=0)).max() < 1e-5


def test_joint_training_beats_a_head_on_unsupervised_codes(digits):
    X, y, dictionary = digits
    X_train, X_test, y_train, y_test = X[:240], X[240:], y[:240], y[240:]
    clf = _quiet(
        LISTAClassifier(
            dictionary, alpha=0.2, learning_rate_init=3e-3, max_iter=40, random_state=0
        ),
        X_train,
        y_train,
    )
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert np.linalg.norm(clf.components_, axis=1) == pytest.approx(1.0)
    # The same coder and head, without joint training.
    frozen = _quiet(
        LISTAClassifier(dictionary, alpha=0.2, max_iter=1, learning_rate_init=1e-12),
        X_train,
        y_train,
    )
    assert clf.score(X_test, y_test) > frozen.score(X_test, y_test)


def test_hyper_lista_trains_with_a_fixed_dictionary_only(digits):
    X, y, dictionary = digits
    assert set(ARCHITECTURES) - set(WITH_DICTIONARY_GRADIENT) == {"hyper_lista"}
    clf = LISTAClassifier(dictionary, architecture="hyper_lista", n_layers=2)
    with pytest.raises(ValueError, match="use fit_dictionary=False"):
        clf.fit(X[:20], y[:20])
    _quiet(clf.set_params(fit_dictionary=False, max_iter=1), X[:60], y[:60])
    assert np.isfinite(clf.predict_proba(X[:5])).all()


@pytest.mark.parametrize("name", WITH_DICTIONARY_GRADIENT)
def test_every_architecture_trains_with_its_dictionary(digits, name):
    X, y, dictionary = digits
    clf = _quiet(
        LISTAClassifier(
            dictionary, architecture=name, n_layers=2, max_iter=2, random_state=0
        ),
        X[:120],
        y[:120],
    )
    assert clf.network_.name == name
    assert not np.allclose(clf.components_, dictionary)
    assert Oblique().distance(clf.components_) < 1e-10
    proba = clf.predict_proba(X[:5])
    assert_allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(clf.transform(X[:5])).all()


def test_fixed_dictionary_and_no_post_training(digits):
    X, y, dictionary = digits
    clf = _quiet(
        LISTAClassifier(
            2 * dictionary, fit_dictionary=False, post_train=False, max_iter=2
        ),
        X[:100],
        y[:100],
    )
    assert_array_equal(clf.components_, 2 * dictionary)
    assert not hasattr(clf, "dictionary_")


def test_zero_weights_equal_dropped_samples_and_class_weight(digits):
    X, y, dictionary = digits
    X, y = X[:100], y[:100]
    # Full batches and SGD: Adam would amplify rounding noise in gradient
    # entries that are zero in exact arithmetic.
    common = dict(
        max_iter=3, batch_size=200, shuffle=False, solver="sgd", random_state=0
    )
    weights = np.ones(100)
    weights[::3] = 0
    weighted = _quiet(
        LISTAClassifier(dictionary, **common), X, y, sample_weight=weights
    )
    dropped = _quiet(
        LISTAClassifier(dictionary, **common), X[weights > 0], y[weights > 0]
    )
    assert_allclose(weighted.components_, dropped.components_, rtol=1e-6, atol=1e-9)
    # The post-trained heads are L-BFGS optima to its tolerance: on this flat
    # optimum two rounding paths end ~2e-4 apart (coefficients up to ~12).
    assert_allclose(weighted.coef_, dropped.coef_, rtol=1e-4, atol=1e-3)
    assert_array_equal(weighted.predict(X), dropped.predict(X))
    class_weight = {label: 2.0 if label == 3 else 1.0 for label in range(10)}
    by_class = _quiet(
        LISTAClassifier(dictionary, class_weight=class_weight, **common), X, y
    )
    by_sample = _quiet(
        LISTAClassifier(dictionary, **common), X, y, sample_weight=1.0 + (y == 3)
    )
    assert_allclose(by_class.coef_, by_sample.coef_, rtol=1e-4, atol=1e-6)


def test_binary_string_labels_and_partial_fit(digits):
    X, y, dictionary = digits
    labels = np.where(y[:120] < 5, "small", "large")
    clf = LISTAClassifier(dictionary, random_state=0)
    clf.partial_fit(X[:60], labels[:60], classes=["small", "large"])
    clf.partial_fit(X[60:120], labels[60:120])
    assert_array_equal(clf.classes_, ["large", "small"])
    assert clf.decision_function(X[:4]).shape == (4,)
    assert set(clf.predict(X[:10])) <= {"small", "large"}
    assert clf.n_iter_ == 2
    with pytest.raises(ValueError, match="not seen at the first call"):
        clf.partial_fit(X[:3], ["small", "large", "medium"])
    with pytest.raises(ValueError, match="differs from the classes"):
        clf.partial_fit(X[:3], labels[:3], classes=["a", "b"])
    with pytest.raises(ValueError, match="classes must be passed"):
        LISTAClassifier(dictionary).partial_fit(X[:3], labels[:3])


def test_bad_labels_raise_clear_errors(digits):
    X, y, dictionary = digits
    clf = LISTAClassifier(dictionary, max_iter=1)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X[:10], y[:9])
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(X[:10], np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(X[:3], [0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X[:10], np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="NaN"):
        LISTARegressor(dictionary, max_iter=1).fit(X[:3], [0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X[:3], [0, 1, 2], classes=[0, 1])


def test_a_diverging_learning_rate_never_gives_nan(digits):
    X, y, dictionary = digits
    clf = _quiet(
        LISTAClassifier(dictionary, learning_rate_init=1e3, max_iter=3, random_state=0),
        X[:100],
        y[:100],
    )
    for value in vars(clf).values():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.isfinite(value).all()


def test_regressor_single_and_multi_output(digits):
    X, _, dictionary = digits
    rng = np.random.RandomState(0)
    coef = rng.standard_normal((64, 2))
    Y = X @ coef
    reg = _quiet(LISTARegressor(dictionary, max_iter=20, random_state=0), X, Y)
    assert reg.predict(X[:3]).shape == (3, 2)
    assert reg.score(X, Y) > 0.8
    single = _quiet(LISTARegressor(dictionary, max_iter=5, random_state=0), X, Y[:, 0])
    assert single.predict(X[:3]).shape == (3,)
    with pytest.raises(ValueError, match="classes is for classifiers"):
        LISTARegressor(dictionary).partial_fit(X[:5], Y[:5, 0], classes=[0, 1])


def test_warm_start_continues_and_float32(digits):
    X, y, dictionary = digits
    clf = LISTAClassifier(dictionary, max_iter=2, warm_start=True, random_state=0)
    _quiet(clf, X[:100], y[:100])
    first = clf.components_.copy()
    _quiet(clf, X[:100], y[:100])
    assert clf.n_iter_ == 4
    assert not np.allclose(first, clf.components_)
    clf32 = _quiet(
        LISTAClassifier(dictionary, max_iter=2), X[:100].astype(np.float32), y[:100]
    )
    assert clf32.transform(X[:3].astype(np.float32)).dtype == np.float32
    assert clf32.components_.dtype == np.float32


def test_grid_search_over_alpha_layers_and_lasso_weight(digits):
    X, y, dictionary = digits
    search = GridSearchCV(
        LISTAClassifier(dictionary, max_iter=2, random_state=0),
        {"alpha": [0.1, 0.3], "n_layers": [1, 2], "lasso_weight": [0.0, 1.0]},
        cv=2,
    )
    _quiet(search, X[:120], y[:120])
    assert search.best_score_ > 0.5
    assert set(search.best_params_) == {"alpha", "n_layers", "lasso_weight"}


def test_fit_head_is_the_optimum_of_the_convex_problem():
    rng = np.random.RandomState(0)
    codes = rng.standard_normal((50, 4))
    y = codes @ rng.standard_normal((4, 1)) + 0.1
    weights = np.ones(50)
    coef, intercept, converged = fit_head(
        codes,
        y,
        weights,
        TASK_LOSSES["squared_error"](),
        0.5,
        np.zeros((4, 1)),
        np.zeros(1),
        500,
    )
    assert converged
    # Ridge in closed form: mean 0.5 * squared error + 0.25 * ||W||^2.
    centred = codes - codes.mean(axis=0)
    expected = np.linalg.solve(
        centred.T @ centred / 50 + 0.5 * np.eye(4), centred.T @ (y - y.mean()) / 50
    )
    assert_allclose(coef, expected, rtol=1e-6)


def test_codes_match_the_coder_of_the_same_parameters(digits):
    X, y, dictionary = digits
    clf = LISTAClassifier(
        dictionary, architecture="lista", fit_dictionary=False, max_iter=1
    )
    _quiet(clf, X[:50], y[:50])
    coder = LISTACoder(dictionary, alpha=clf.alpha, n_layers=clf.n_layers, max_iter=1)
    _quiet(coder, X[:50])
    for name in ("weights_x", "weights_z", "thresholds"):
        setattr(coder, name + "_", getattr(clf, name + "_"))
    assert_allclose(clf.transform(X[50:60]), coder.transform(X[50:60]))


def test_architecture_names_come_from_the_registry(digits, monkeypatch):
    X, y, dictionary = digits
    with pytest.raises(ValueError, match="is not registered"):
        LISTAClassifier(dictionary, architecture="nope").fit(X[:20], y[:20])

    class NoDictionaryGradient(ARCHITECTURES["alista"]):
        name = "alista_without_dictionary_gradient"
        backward_dictionary = UnrolledNetwork.backward_dictionary

    monkeypatch.setitem(ARCHITECTURES, NoDictionaryGradient.name, NoDictionaryGradient)
    clf = LISTAClassifier(dictionary, architecture=NoDictionaryGradient.name)
    with pytest.raises(ValueError, match="use fit_dictionary=False"):
        clf.fit(X[:20], y[:20])
    _quiet(clf.set_params(fit_dictionary=False, max_iter=1), X[:20], y[:20])
