import numpy as np
import pytest
from conftest import soft_threshold
from numpy.testing import assert_allclose
from sklearn.linear_model import Lasso

from sklearn_lista._kernels import fista_step, ista_step, lasso_duality_gap

DTYPES = [np.float64, np.float32]


def _random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("positive", [False, True])
def test_ista_step_matches_numpy(dtype, positive):
    rng = np.random.RandomState(0)
    product, offset = _random(rng, (7, 5), dtype), _random(rng, (7, 5), dtype)
    codes = np.empty_like(product)
    threshold = dtype(0.4)
    ista_step(product, offset, codes, threshold, positive)
    expected = soft_threshold(product + offset, threshold, positive)
    assert codes.dtype == dtype
    assert_allclose(codes, expected, rtol=1e-6)
    assert (codes == 0).any() and (codes != 0).any()
    if positive:
        assert codes.min() >= 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("positive", [False, True])
def test_fista_step_matches_numpy(dtype, positive):
    rng = np.random.RandomState(1)
    product, offset = _random(rng, (6, 4), dtype), _random(rng, (6, 4), dtype)
    previous = _random(rng, (6, 4), dtype)
    codes, extrapolated = previous.copy(), np.empty_like(previous)
    momentum, threshold = dtype(0.3), dtype(0.5)
    fista_step(product, offset, codes, extrapolated, threshold, momentum, positive)
    new = soft_threshold(product + offset, threshold, positive)
    assert_allclose(codes, new, rtol=1e-6)
    assert_allclose(extrapolated, new + momentum * (new - previous), rtol=1e-5)


def _gap(X, codes, dictionary, alpha, positive=False):
    residual = X - codes @ dictionary
    gaps, costs = np.empty(len(X)), np.empty(len(X))
    lasso_duality_gap(
        X, codes, residual, residual @ dictionary.T, alpha, positive, gaps, costs
    )
    return gaps, costs


def test_duality_gap_is_an_upper_bound_and_vanishes_at_the_optimum(problem):
    X, dictionary, alpha = problem
    n_features = X.shape[1]
    lasso = Lasso(alpha=alpha / n_features, fit_intercept=False, tol=1e-14)
    optimum = np.array(
        [lasso.fit(dictionary.T, x).coef_.copy() for x in X[:5]], dtype=np.float64
    )
    gaps, costs = _gap(X[:5], optimum, dictionary, alpha)
    assert_allclose(
        costs,
        0.5 * ((X[:5] - optimum @ dictionary) ** 2).sum(1)
        + alpha * np.abs(optimum).sum(1),
    )
    assert np.all(gaps <= 1e-8 * costs)
    # Away from the optimum the gap bounds the suboptimality from above.
    perturbed = optimum + 0.1
    gaps, perturbed_costs = _gap(X[:5], perturbed, dictionary, alpha)
    assert np.all(gaps >= perturbed_costs - costs - 1e-10)
    assert np.all(gaps > 1e-3)


def test_duality_gap_of_zero_signal_and_zero_code_is_zero():
    dictionary = np.eye(3)
    X = np.zeros((2, 3))
    gaps, costs = _gap(X, np.zeros((2, 3)), dictionary, 1.0)
    assert_allclose(gaps, 0.0)
    assert_allclose(costs, 0.0)


def test_positive_duality_gap_ignores_negative_correlations():
    # x = -e0: the positive Lasso solution is z = 0 (no atom correlates
    # positively), so the positive gap at 0 is 0 while the signed one is not.
    dictionary = np.eye(2)
    X = np.array([[-3.0, 0.0]])
    codes = np.zeros((1, 2))
    gap_positive, _ = _gap(X, codes, dictionary, 1.0, positive=True)
    gap_signed, _ = _gap(X, codes, dictionary, 1.0, positive=False)
    assert gap_positive[0] == pytest.approx(0.0, abs=1e-12)
    assert gap_signed[0] > 1.0
