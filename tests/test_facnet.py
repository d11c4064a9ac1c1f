import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sklearn_lista import FacNetCoder, ISTACoder
from sklearn_lista._factorization import LayerObjective, _raise_to_psd
from sklearn_lista._lasso import lipschitz_constant
from sklearn_lista._solvers import iterative_thresholding
from sklearn_lista.datasets import alpha_max, make_sparse_coding
from sklearn_lista.optim import OrthogonalGroup


@pytest.fixture(scope="module")
def split():
    X, dictionary, _ = make_sparse_coding(400, 16, 10, density=0.15, random_state=0)
    X_test, _, _ = make_sparse_coding(200, dictionary=dictionary, random_state=1)
    return X, X_test, dictionary, 0.1 * alpha_max(X, dictionary)


def _quiet_fit(coder, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return coder.fit(X)


# The untrained identity and the finite-difference gradients of FacNet's
# network run with every architecture's in test_networks.py.


@pytest.mark.parametrize("retraction", ["cayley", "qr", "polar"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_training_keeps_A_orthogonal_S_positive_and_beats_ista(
    split, retraction, solver
):
    X, X_test, dictionary, alpha = split
    coder = _quiet_fit(
        FacNetCoder(
            dictionary,
            alpha=alpha,
            n_layers=3,
            max_iter=40,
            solver=solver,
            learning_rate_init=1e-3 if solver == "adam" else 1e-4,
            retraction=retraction,
            random_state=0,
        ),
        X,
    )
    assert coder.A_.shape == (3, 16, 16) and coder.S_.shape == (3, 16)
    assert OrthogonalGroup().distance(coder.A_) < 1e-10
    assert np.all(coder.S_ > 0)
    ista = ISTACoder(dictionary, alpha=alpha, n_layers=3).fit(X)
    # Never worse than the ISTA initialisation on the monitored signals...
    assert coder.score(X) >= ista.score(X) - 1e-10 * abs(ista.score(X))
    if solver == "adam":
        # ... and, with Adam, better, also on held-out signals. (Plain SGD
        # stalls at A = I, where any rotation adds non-zeros to the output
        # and so raises the l1 term to first order: see FacNetCoder's notes.)
        assert coder.score(X) > ista.score(X)
        assert coder.score(X_test) > ista.score(X_test)


def test_psd_constraint_and_report_bound(split):
    X, X_test, dictionary, alpha = split
    coder = _quiet_fit(
        FacNetCoder(
            dictionary,
            alpha=alpha,
            n_layers=3,
            max_iter=15,
            psd_constraint=True,
            init="identity",
            random_state=0,
        ),
        X,
    )
    report = coder.factorization_report(X_test)
    assert set(report) >= {
        "layer",
        "R_norm",
        "R_min_eigenvalue",
        "delta_gap",
        "bound",
        "gap",
        "bound_holds",
        "acceleration_lhs",
        "acceleration_rhs",
        "acceleration_holds",
    }
    gram_norm = np.linalg.norm(dictionary @ dictionary.T, 2)
    assert np.all(report["R_min_eigenvalue"] >= -1e-10 * gram_norm)
    # Proposition 2.1: with R PSD the measured gap never exceeds the bound.
    assert_array_equal(report["bound_holds"], 1.0)
    assert np.all(report["gap"] <= report["bound"] + 1e-9)
    assert np.all(report["gap"] >= -1e-9)
    assert_allclose(report["acceleration_rhs"], gram_norm / 2)


def test_report_at_initialisation_is_istas(split):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        FacNetCoder(
            dictionary,
            alpha=alpha,
            n_layers=2,
            max_iter=1,
            learning_rate_init=1e-12,
            init="identity",
        ),
        X,
    )
    report = coder.factorization_report(X[:50])
    # A = I: the l1 norm is not deformed and R = L I - B is PSD.
    assert_allclose(report["delta_gap"], 0.0, atol=1e-6)
    assert np.all(report["R_min_eigenvalue"] > -1e-8)
    assert_array_equal(report["bound_holds"], 1.0)


def test_eigen_init_has_psd_residual(split):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        FacNetCoder(
            dictionary,
            alpha=alpha,
            n_layers=2,
            max_iter=1,
            init="eigen",
            learning_rate_init=1e-12,
        ),
        X,
    )
    gram = dictionary @ dictionary.T
    for rotation, scales in zip(coder.A_, coder.S_, strict=True):
        residual = rotation.T @ np.diag(scales) @ rotation - gram
        assert np.linalg.eigvalsh(residual).min() > -1e-8
        off_diagonal = rotation @ gram @ rotation.T - np.diag(
            np.diag(rotation @ gram @ rotation.T)
        )
        assert np.abs(off_diagonal).max() < 1e-6


def test_positive_code_is_rejected(split):
    X, _, dictionary, alpha = split
    with pytest.raises(ValueError, match="positive_code=True is not supported"):
        FacNetCoder(dictionary, alpha=alpha, positive_code=True).fit(X)


def test_warm_start_partial_fit_and_pickle(split):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        FacNetCoder(
            dictionary,
            alpha=alpha,
            n_layers=2,
            max_iter=3,
            warm_start=True,
            random_state=0,
        ),
        X,
    )
    trained = coder.A_.copy()
    coder.set_params(n_layers=4, max_iter=1)
    _quiet_fit(coder, X)
    assert coder.A_.shape == (4, 16, 16)
    assert OrthogonalGroup().distance(coder.A_) < 1e-10
    assert np.abs(coder.A_[:2] - trained).max() < 0.1
    coder.partial_fit(X[:100])
    restored = pickle.loads(pickle.dumps(coder))
    # Pickling drops the network's per-dtype copies, from the pickle only.
    assert "_problems" not in vars(restored.network_)
    assert "_problems" in vars(coder.network_)
    assert_array_equal(restored.transform(X), coder.transform(X))


# ------------------------------------------------------ factorization solver
def _factorization_problem(split, n_layers=2):
    X, _, dictionary, alpha = split
    X = X[:80]
    lipschitz = lipschitz_constant(dictionary)
    optimum, _ = iterative_thresholding(
        X,
        dictionary,
        alpha,
        n_iter=50_000,
        lipschitz=lipschitz,
        tol=1e-12,
        accelerated=True,
    )
    iterate, _ = iterative_thresholding(
        X, dictionary, alpha, n_iter=n_layers, lipschitz=lipschitz
    )
    problem = LayerObjective(
        X, dictionary, dictionary @ dictionary.T, alpha, iterate, optimum
    )
    return problem, lipschitz


def test_layer_objective_gradients_match_finite_differences(split):
    problem, lipschitz = _factorization_problem(split)
    rng = np.random.RandomState(0)
    group = OrthogonalGroup()
    rotation = group.retract(
        np.eye(16),
        group.egrad_to_rgrad(np.eye(16), 0.3 * rng.standard_normal((16, 16))),
    )
    scales = lipschitz * np.exp(0.3 * rng.standard_normal(16))
    _, grad_rotation, grad_scales = problem.objective(rotation, scales, with_grad=True)
    eps = 1e-6
    for param, grad in [(rotation, grad_rotation), (scales, grad_scales)]:
        flat, flat_grad = param.reshape(-1), grad.reshape(-1)
        for index in rng.choice(flat.size, size=15, replace=False):
            saved = flat[index]
            flat[index] = saved + eps
            up = problem.objective(rotation, scales)
            flat[index] = saved - eps
            down = problem.objective(rotation, scales)
            flat[index] = saved
            assert (up - down) / (2 * eps) == pytest.approx(
                flat_grad[index], rel=1e-5, abs=1e-7
            )


def test_layer_objective_at_ista_is_the_quadratic_term(split):
    problem, lipschitz = _factorization_problem(split)
    difference = problem.difference
    residual = lipschitz * np.eye(16) - problem.gram
    expected = 0.5 * np.einsum("ij,jk,ik->", difference, residual, difference) / 80
    value = problem.objective(np.eye(16), np.full(16, lipschitz))
    assert value == pytest.approx(expected, rel=1e-12)


def test_raise_to_psd_is_feasible_and_never_lowers_scales():
    rng = np.random.RandomState(0)
    matrix = rng.standard_normal((12, 12))
    gram = matrix @ matrix.T
    scales = np.abs(rng.standard_normal(12))
    raised = _raise_to_psd(scales, gram, 1e-12)
    assert np.all(raised >= scales)
    assert np.linalg.eigvalsh(np.diag(raised) - gram)[0] >= -1e-10
    # Already feasible: unchanged.
    feasible = np.full(12, np.linalg.eigvalsh(gram)[-1] + 1.0)
    assert_array_equal(_raise_to_psd(feasible, gram, 1e-12), feasible)


@pytest.fixture(scope="module")
def factorized(split):
    X, _, dictionary, alpha = split
    coder = FacNetCoder(
        dictionary,
        alpha=alpha,
        n_layers=3,
        fit_algorithm="factorization",
        max_iter=40,
        learning_rate_init=1e-2,
        random_state=0,
    )
    return _quiet_fit(coder, X)


def test_factorization_keeps_constraints_and_proposition_bound(split, factorized):
    X, _, dictionary, alpha = split
    coder = factorized
    gram = dictionary @ dictionary.T
    gram_norm = np.linalg.norm(gram, 2)
    assert OrthogonalGroup().distance(coder.A_) < 1e-10
    for rotation, scales in zip(coder.A_, coder.S_, strict=True):
        residual = rotation.T @ np.diag(scales) @ rotation - gram
        assert np.linalg.eigvalsh(residual)[0] >= -1e-10 * gram_norm
    report = coder.factorization_report(X)
    assert np.all(report["R_min_eigenvalue"] >= -1e-10 * gram_norm)
    # Proposition 2.1 on the training data, layer by layer.
    assert_array_equal(report["bound_holds"], 1.0)
    assert np.all(report["gap"] <= report["bound"] + 1e-9)
    # The report's mean bound is the objective the solver minimised.
    assert_allclose(
        report["bound"], [curve.min() for curve in coder.objective_curves_], rtol=1e-6
    )


def test_factorization_improves_on_ista_layer_by_layer(split, factorized):
    X, X_test, dictionary, alpha = split
    coder = factorized
    assert len(coder.objective_curves_) == 3 and len(coder.loss_curve_) == 3
    for curve in coder.objective_curves_:
        assert curve.min() <= curve[0]
    # The first layer starts at ISTA's (A = I, S = L) and moves off it.
    assert coder.objective_curves_[0].min() < coder.objective_curves_[0][0]
    assert np.abs(coder.A_[0] - np.eye(16)).max() > 1e-6
    assert np.ptp(coder.S_[0]) > 1e-3 * coder.lipschitz_  # no longer uniform
    ista = ISTACoder(dictionary, alpha=alpha, n_layers=3).fit(X)
    assert coder.score(X) > ista.score(X)
    assert coder.best_loss_ == pytest.approx(-coder.score(X), rel=1e-10)
    assert coder.validation_scores_ is None and coder.n_iter_ > 0


def test_factorization_is_deterministic_and_greedy(split, factorized):
    X, _, dictionary, alpha = split
    shallow = _quiet_fit(clone(factorized).set_params(n_layers=2), X)
    # Layer q only depends on the layers before it.
    assert_allclose(shallow.A_, factorized.A_[:2], rtol=0, atol=1e-12)
    assert_allclose(shallow.S_, factorized.S_[:2], rtol=1e-12)


def test_factorization_partial_fit_warm_start_and_verbose(split, capsys):
    X, _, dictionary, alpha = split
    coder = FacNetCoder(
        dictionary,
        alpha=alpha,
        n_layers=2,
        fit_algorithm="factorization",
        max_iter=5,
        learning_rate="constant",
        learning_rate_init=1e-2,
        warm_start=True,
        verbose=1,
    )
    _quiet_fit(coder, X)
    assert "layer 2/2" in capsys.readouterr().out
    before = coder.score(X[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.partial_fit(X[:100])
    # Every layer restarts from its current value and keeps only improvements
    # of its own objective: the batch's cost stays close (it is the bound,
    # not the cost, that cannot increase) and the constraints hold.
    assert coder.score(X[:100]) >= before - 0.05 * abs(before)
    assert OrthogonalGroup().distance(coder.A_) < 1e-10
    coder.set_params(n_layers=3)
    with pytest.raises(ValueError, match="partial_fit cannot change the depth"):
        coder.partial_fit(X[:100])
    first_layers = coder.A_.copy()
    _quiet_fit(coder, X)
    assert coder.A_.shape == (3, 16, 16)
    assert np.abs(coder.A_[:2] - first_layers).max() < 0.2


def test_factorization_float32(split):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        FacNetCoder(
            dictionary.astype(np.float32),
            alpha=alpha,
            n_layers=2,
            fit_algorithm="factorization",
            max_iter=5,
        ),
        X.astype(np.float32),
    )
    assert coder.A_.dtype == np.float32
    assert coder.transform(X[:5].astype(np.float32)).dtype == np.float32
    report = coder.factorization_report(X[:50])
    assert np.all(report["R_min_eigenvalue"] >= -1e-5)


def test_report_corollary_condition(split, factorized):
    X, _, dictionary, alpha = split
    report = factorized.factorization_report(X)
    optimum, _ = iterative_thresholding(
        X,
        dictionary,
        alpha,
        n_iter=50_000,
        lipschitz=lipschitz_constant(dictionary),
        tol=1e-12,
        accelerated=True,
    )
    assert_allclose(report["corollary_lhs"], alpha * np.sqrt(X.shape[1]) / 8)
    assert_allclose(report["corollary_rhs"], np.abs(optimum).sum(1).mean(), rtol=1e-8)
    assert_array_equal(
        report["corollary_holds"],
        report["corollary_lhs"] <= report["corollary_rhs"],
    )
    # A penalty large enough for z* = 0 breaks the condition.
    large = clone(factorized).set_params(alpha=100 * alpha, max_iter=1)
    assert not _quiet_fit(large, X).factorization_report(X)["corollary_holds"].any()


def test_learned_steps_start_is_the_step_network():
    X, dictionary, _ = make_sparse_coding(300, 30, 20, density=0.1, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    coder = FacNetCoder(
        dictionary,
        alpha=alpha,
        n_layers=3,
        max_iter=1,
        learning_rate_init=1e-12,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    # A = I, S = 1 / s: the FacNet layers are the step network's ISTA steps.
    assert_allclose(coder.A_, np.broadcast_to(np.eye(30), (3, 30, 30)), atol=1e-9)
    assert_allclose(coder.transform(X), coder.init_coder_.transform(X), atol=1e-8)
    # The factorization solver starts from ISTA's layer, whose R is PSD.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.set_params(fit_algorithm="factorization", max_iter=1).fit(X)
    assert not hasattr(coder, "init_coder_")
