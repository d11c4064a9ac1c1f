import numpy as np
import pytest
from conftest import soft_threshold
from numpy.testing import assert_allclose, assert_array_equal
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


def _mixed_sparsity(rng, shape, dtype):
    """Random rows of every kind: all zero, fully dense, and sparse."""
    A = rng.standard_normal(shape) * (rng.random_sample(shape) < 0.1)
    A[0] = 0.0
    A[1] = rng.standard_normal(shape[1])
    return A.astype(dtype)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_sparse_products_match_dense(dtype, tolerance):
    from sklearn_lista._kernels import (
        count_nonzero_rows,
        sparse_matmul,
        sparse_transpose_matmul,
    )

    rng = np.random.RandomState(0)
    A = _mixed_sparsity(rng, (30, 12), dtype)
    W = rng.standard_normal((12, 9)).astype(dtype)
    B = rng.standard_normal((30, 7)).astype(dtype)
    out = np.full((30, 9), np.nan, dtype=dtype)
    sparse_matmul(A, W, out)
    assert_allclose(out, A @ W, rtol=tolerance, atol=tolerance)
    assert_array_equal(out[0], 0.0)
    out_t = np.full((12, 7), np.nan, dtype=dtype)
    sparse_transpose_matmul(A, B, out_t)
    assert_allclose(out_t, A.T @ B, rtol=tolerance, atol=tolerance)
    # Strided views (as the backward pass passes them) give the same result.
    sparse_transpose_matmul(A[::2], B[::2], out_t)
    assert_allclose(out_t, A[::2].T @ B[::2], rtol=tolerance, atol=tolerance)
    assert count_nonzero_rows(A) == np.count_nonzero(A)


@pytest.mark.parametrize("positive", [False, True])
def test_fused_sparse_steps_match_dense_steps(positive):
    from sklearn_lista._kernels import sparse_fista_step, sparse_ista_step

    rng = np.random.RandomState(1)
    codes = _mixed_sparsity(rng, (20, 10), np.float64)
    step_matrix = rng.standard_normal((10, 10))
    offset = rng.standard_normal((20, 10))
    dense = codes.copy()
    nnz_dense = ista_step(dense @ step_matrix, offset, dense, 0.3, positive)
    sparse = codes.copy()
    nnz_sparse = sparse_ista_step(sparse, step_matrix, offset, 0.3, positive)
    assert_allclose(sparse, dense, rtol=1e-12, atol=1e-12)
    assert nnz_sparse == nnz_dense == np.count_nonzero(dense)

    previous = _mixed_sparsity(rng, (20, 10), np.float64)
    extrapolated = codes
    dense_codes, dense_extrapolated = previous.copy(), extrapolated.copy()
    fista_step(
        extrapolated @ step_matrix,
        offset,
        dense_codes,
        dense_extrapolated,
        0.3,
        0.7,
        positive,
    )
    sparse_codes, sparse_extrapolated = previous.copy(), extrapolated.copy()
    nnz = sparse_fista_step(
        sparse_codes, sparse_extrapolated, step_matrix, offset, 0.3, 0.7, positive
    )
    assert_allclose(sparse_codes, dense_codes, rtol=1e-12, atol=1e-12)
    assert_allclose(sparse_extrapolated, dense_extrapolated, rtol=1e-12, atol=1e-12)
    assert nnz == np.count_nonzero(sparse_extrapolated)
