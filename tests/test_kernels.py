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


def _numpy_iterations(z, y, t, step_matrix, offset, threshold, n_iter, options):
    """Whole-array ISTA/FISTA in float64 numpy; FISTA optionally with the
    per-row gradient restart. Returns the state ``(z, y, t)``."""
    positive, accelerated, restart = options
    z, y, t = z.astype(float), y.astype(float), t.astype(float)
    for _ in range(n_iter):
        new = soft_threshold(
            (y if accelerated else z) @ step_matrix + offset, threshold, positive
        )
        if not accelerated:
            z = y = new
            continue
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        momentum = (t - 1) / t_next
        if restart:
            reset = np.einsum("ij,ij->i", y - new, new - z) > 0
            momentum[reset] = 0.0
            t_next[reset] = 1.0
        y = new + momentum[:, None] * (new - z)
        z, t = new, t_next
    return z, y, t


def _rows_problem(rng, dtype, n_samples=12, n_components=10, n_features=6):
    X = rng.standard_normal((n_samples, n_features))
    X[0] = 0.0  # an all-zero signal: its codes stay zero
    X[1] *= 50.0  # a signal whose codes are fully dense
    D = rng.standard_normal((n_components, n_features))
    lipschitz = np.linalg.norm(D, 2) ** 2
    step_matrix = np.eye(n_components) - D @ D.T / lipschitz
    offset = X @ D.T / lipschitz
    return X, D, step_matrix, offset, lipschitz


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-4)])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize(
    "accelerated, restart", [(False, False), (True, False), (True, True)]
)
@pytest.mark.parametrize("start", [0, 3])
def test_thresholding_rows_matches_whole_array_iterations(
    dtype, tolerance, positive, accelerated, restart, start
):
    from sklearn_lista._kernels import thresholding_rows

    rng = np.random.RandomState(0)
    X, D, step_matrix, offset, lipschitz = _rows_problem(rng, dtype)
    options = (positive, accelerated, restart)
    zeros, ones = np.zeros_like(offset), np.ones(len(X))
    state = _numpy_iterations(
        zeros, zeros, ones, step_matrix, offset, 0.05, start, options
    )
    expected = _numpy_iterations(*state, step_matrix, offset, 0.05, 25, options)[0]

    codes, extrapolated = (np.array(a, dtype=dtype) for a in state[:2])
    if start == 0:  # z_0 = y_0 = 0 is implied: the arrays are not read
        codes[:] = np.nan
        extrapolated[:] = np.nan
    t_state = state[2].copy()
    flags = np.ones(len(X), dtype=bool)
    cast = [np.ascontiguousarray(a, dtype=dtype) for a in (X, D, offset, step_matrix)]
    n_unconverged = thresholding_rows(
        *cast,
        codes,
        extrapolated,
        t_state,
        dtype(0.05),
        0.05 * lipschitz,
        lipschitz,
        positive,
        accelerated,
        restart,
        start,
        start + 25,
        -1.0,
        10,
        flags,
        None,
        0,
    )
    assert n_unconverged == 0 and not flags.any()
    assert codes.dtype == dtype
    assert_allclose(codes, expected, rtol=tolerance, atol=tolerance)
    assert_array_equal(codes[0], 0.0)
    if not positive:
        assert np.count_nonzero(codes[1]) == codes.shape[1]  # a fully dense row
    assert (codes[2:] == 0).any() and (codes[2:] != 0).any()
    if accelerated and not restart:
        assert_allclose(t_state, state[2][0] * 0 + _t_after(start + 25))


def _t_after(n_iter):
    t = 1.0
    for _ in range(n_iter):
        t = (1 + np.sqrt(1 + 4 * t * t)) / 2
    return t


@pytest.mark.parametrize("restart", [False, True])
@pytest.mark.parametrize("t_start", [1.0, "t_3", 1.7])
def test_thresholding_rows_fista_momentum_from_any_t(restart, t_start):
    # The row-wise FISTA reads t_k and its momentum from a table built from
    # t_0 = 1; a row whose t_state is not in that sequence (1.7) computes
    # them instead. Either way the iterates are the whole-array ones.
    from sklearn_lista._kernels import thresholding_rows

    rng = np.random.RandomState(3)
    X, D, step_matrix, offset, lipschitz = _rows_problem(rng, np.float64)
    options = (False, True, restart)
    zeros = np.zeros_like(offset)
    z, y, _ = _numpy_iterations(
        zeros, zeros, np.ones(len(X)), step_matrix, offset, 0.05, 3, options
    )
    t = np.full(len(X), _t_after(3) if t_start == "t_3" else t_start)
    t[::2] = 1.0  # rows at t_0 and rows elsewhere in the same call
    expected = _numpy_iterations(z, y, t, step_matrix, offset, 0.05, 40, options)
    codes, extrapolated, t_state = z.copy(), y.copy(), t.copy()
    flags = np.zeros(len(X), dtype=bool)
    thresholding_rows(
        X, D, offset, step_matrix, codes, extrapolated, t_state, 0.05,
        0.05 * lipschitz, lipschitz, False, True, restart, 3, 43, -1.0, 10,
        flags, np.zeros((0, 0)), 0,
    )  # fmt: skip
    assert_allclose(codes, expected[0], rtol=1e-10, atol=1e-12)
    assert_allclose(t_state, expected[2], rtol=1e-12)


@pytest.mark.parametrize("positive", [False, True])
def test_fista_restart_step_matches_numpy(positive):
    from sklearn_lista._kernels import fista_restart_step

    rng = np.random.RandomState(2)
    X, D, step_matrix, offset, _ = _rows_problem(rng, np.float64)
    options = (positive, True, True)
    z, y, t = np.zeros_like(offset), np.zeros_like(offset), np.ones(len(X))
    restarted = False
    for _ in range(60):
        expected = _numpy_iterations(z, y, t, step_matrix, offset, 0.05, 1, options)
        nnz = fista_restart_step(y @ step_matrix, offset, z, y, 0.05, t, positive)
        assert_allclose(z, expected[0], atol=1e-12)
        assert_allclose(y, expected[1], atol=1e-12)
        assert_allclose(t, expected[2])
        assert nnz == np.count_nonzero(y)
        restarted |= bool((t == 1.0).any() and (t > 1.0).any())
    assert restarted  # some rows, not all, restarted at some step


@pytest.mark.parametrize("density", [0.05, 0.25])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize(
    "accelerated, restart", [(False, False), (True, False), (True, True)]
)
def test_thresholding_rows_block_regime_keeps_the_iterates(
    density, positive, accelerated, restart
):
    # K = 100 > BLOCK: sparse rows iterate on a block of atoms while a bound
    # proves the others stay zero, denser rows take full products; from
    # z_0 = 0 the supports change during the run. (A bound that never
    # fails, coefficient 0, gives wrong iterates here.)
    from sklearn_lista._kernels import thresholding_rows
    from sklearn_lista.datasets import make_sparse_coding

    X, D, _ = make_sparse_coding(n_samples=40, density=density, random_state=0)
    lipschitz = np.linalg.norm(D, 2) ** 2
    step_matrix = np.eye(len(D)) - D @ D.T / lipschitz
    offset = X @ D.T / lipschitz
    threshold = 0.05 * np.abs(offset).max()
    options = (positive, accelerated, restart)
    zeros = np.zeros_like(offset)
    expected = _numpy_iterations(
        zeros, zeros, np.ones(len(X)), step_matrix, offset, threshold, 150, options
    )
    codes, extrapolated = np.empty_like(offset), np.empty_like(offset)
    flags = np.zeros(len(X), dtype=bool)
    thresholding_rows(
        X, D, offset, step_matrix, codes, extrapolated, np.ones(len(X)),
        threshold, threshold * lipschitz, lipschitz, positive, accelerated,
        restart, 0, 150, -1.0, 10, flags, None, 0,
    )  # fmt: skip
    assert_allclose(codes, expected[0], rtol=1e-9, atol=1e-11)
    # Density 1/20: rows small enough for a block; 1/4: rows too large.
    small = np.count_nonzero(codes, axis=1) < 16
    assert small.any() if density == 0.05 else not small.all()


@pytest.fixture(scope="module")
def rows_without_blocks():
    # The row-wise kernel compiled afresh with the block regime off (blocks
    # need MIN_BLOCK_RUN iterations before the next stop), for a differential
    # test against the cached kernel.
    from numba import njit

    from sklearn_lista._kernels import rowwise
    from sklearn_lista._kernels._jit import JIT_ROWS

    saved = rowwise.MIN_BLOCK_RUN
    rowwise.MIN_BLOCK_RUN = 10**9
    try:
        options = {key: value for key, value in JIT_ROWS.items() if key != "cache"}
        kernel = njit(**options)(rowwise.thresholding_rows.py_func)
        yield kernel
    finally:
        rowwise.MIN_BLOCK_RUN = saved


@pytest.mark.parametrize(
    "dtype, accelerated, tol, polish_after, start",
    [
        (np.float64, False, 1e-9, 7, 0),  # ISTA's longer polishing steps
        (np.float64, True, 1e-9, 7, 0),
        (np.float32, True, -1.0, 0, 7),
    ],
)
def test_thresholding_rows_block_regime_against_full_iterations(
    rows_without_blocks, dtype, accelerated, tol, polish_after, start
):
    # With and without blocks: the same codes (to rounding), supports, flags
    # and stops, on the tol path with polishing and from a given iterate.
    from sklearn_lista._kernels import thresholding_rows
    from sklearn_lista.datasets import make_sparse_coding

    X, D, _ = make_sparse_coding(n_samples=60, random_state=1)
    lipschitz = np.linalg.norm(D, 2) ** 2
    step_matrix = np.eye(len(D)) - D @ D.T / lipschitz
    offset = X @ D.T / lipschitz
    threshold = 0.05 * np.abs(offset).max()
    gram = D @ D.T if polish_after else None
    state = _numpy_iterations(
        np.zeros_like(offset), np.zeros_like(offset), np.ones(len(X)),
        step_matrix, offset, threshold, start, (False, accelerated, False),
    )  # fmt: skip
    results = []
    for kernel in (thresholding_rows, rows_without_blocks):
        codes, extrapolated = (np.array(a, dtype=dtype) for a in state[:2])
        t_state = state[2].copy()
        flags = np.zeros(len(X), dtype=bool)
        cast = [np.ascontiguousarray(a, dtype=dtype) for a in (X, D, offset)]
        kernel(
            *cast, step_matrix.astype(dtype), codes, extrapolated, t_state,
            dtype(threshold), threshold * lipschitz, lipschitz, False,
            accelerated, False, start, start + 200, tol, 10, flags, gram,
            polish_after, 1.9,
        )  # fmt: skip
        results.append((codes, flags))
    (codes, flags), (expected, expected_flags) = results
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert_allclose(codes, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    assert_array_equal(codes != 0, expected != 0)
    assert_array_equal(flags, expected_flags)


def test_thresholding_rows_stops_each_row_at_the_gap_tolerance(problem):
    from sklearn_lista._kernels import thresholding_rows
    from sklearn_lista._lasso import duality_gaps

    X, D, alpha = problem
    lipschitz = np.linalg.norm(D, 2) ** 2
    step_matrix = np.eye(len(D)) - D @ D.T / lipschitz
    offset = X @ D.T / lipschitz
    results, flags_at = {}, {}
    for n_iter in (30, 3000):
        codes = np.empty_like(offset)
        flags = np.zeros(len(X), dtype=bool)
        n_unconverged = thresholding_rows(
            X,
            D,
            offset,
            step_matrix,
            codes,
            codes,
            np.ones(len(X)),
            alpha / lipschitz,
            alpha,
            lipschitz,
            False,
            False,
            False,
            0,
            n_iter,
            1e-6,
            10,
            flags,
            np.zeros((0, 0)),
            0,  # no polishing: each row stops at its first gap check below tol
        )
        gaps, costs = duality_gaps(X, codes, D, alpha)
        assert n_unconverged == flags.sum()
        assert_array_equal(flags, gaps > 1e-6 * costs)
        results[n_iter] = codes, n_unconverged
        flags_at[n_iter] = flags
    assert results[30][1] > 0 and results[3000][1] == 0
    # A row converged at 30 iterations stopped there.
    done = ~flags_at[30]
    assert done.any()
    assert_array_equal(results[3000][0][done], results[30][0][done])


def test_count_beyond_threshold():
    from sklearn_lista._kernels import count_beyond_threshold

    A = np.array([[0.5, -0.5, 0.1], [-0.05, 0.3, 0.0]])
    assert count_beyond_threshold(A, 0.2, False) == 3
    assert count_beyond_threshold(A, 0.2, True) == 2


# --------------------------------------------------- proximal operators
def _support_selection(pre, thresholds, n_bypass, positive=False):
    """numpy reference: of each row's entries beyond their threshold, the
    `n_bypass` largest in magnitude (ties: the lower index) keep their value,
    the others are shrunk. Returns the codes and the bypass mask."""
    codes = soft_threshold(pre, thresholds, positive)
    bypassed = np.zeros(pre.shape, dtype=bool)
    for i, row in enumerate(pre):
        support = np.flatnonzero(codes[i])
        order = support[np.argsort(-np.abs(row[support]), kind="stable")]
        bypassed[i, order[:n_bypass]] = True
    codes[bypassed] = pre[bypassed]
    return codes, bypassed


def _layer_inputs(rng, dtype, n_samples=9, n_components=8):
    product = rng.standard_normal((n_samples, n_components)).astype(dtype)
    offsets = rng.standard_normal((n_samples, 2, n_components)).astype(dtype)
    thresholds = rng.uniform(0.1, 0.8, n_components).astype(dtype)
    thresholds[0] = 0.0  # a coordinate without threshold
    return product, offsets, thresholds


def test_proximal_operator_codes():
    from sklearn_lista._kernels import (
        POSITIVE,
        PROXIMAL_OPERATORS,
        SOFT,
        SUPPORT_SELECTION,
        prox_code,
    )

    assert PROXIMAL_OPERATORS == {
        "soft": SOFT,
        "positive": POSITIVE,
        "support_selection": SUPPORT_SELECTION,
        "positive_support_selection": POSITIVE | SUPPORT_SELECTION,
    }
    # A bool `positive` is a valid code.
    assert (SOFT, POSITIVE) == (False, True)
    assert prox_code(positive=True, support_selection=True) == 3
    assert prox_code() == SOFT


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("positive", [False, True])
def test_layer_prox_codes_match_the_bool(dtype, positive):
    from sklearn_lista._kernels import PROXIMAL_OPERATORS, thresholded_layer

    rng = np.random.RandomState(0)
    product, offsets, thresholds = _layer_inputs(rng, dtype)
    by_bool, by_code = np.empty_like(product), np.empty_like(product)
    code = PROXIMAL_OPERATORS["positive" if positive else "soft"]
    nnz = thresholded_layer(product, True, offsets, 1, thresholds, by_bool, positive)
    assert (
        thresholded_layer(product, True, offsets, 1, thresholds, by_code, code) == nnz
    )
    assert_array_equal(by_code, by_bool)
    expected = soft_threshold(product + offsets[:, 1], thresholds, positive)
    assert_allclose(by_bool, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("n_bypass", [0, 1, 3, 8])
def test_support_selection_layers_match_numpy(dtype, positive, n_bypass):
    from sklearn_lista._kernels import (
        prox_code,
        sparse_thresholded_layer,
        thresholded_layer,
    )

    rng = np.random.RandomState(1)
    product, offsets, thresholds = _layer_inputs(rng, dtype)
    code = prox_code(positive, support_selection=True)
    pre = product + offsets[:, 1]
    expected, _ = _support_selection(pre, thresholds, n_bypass, positive)
    out = np.full_like(product, np.nan)
    nnz = thresholded_layer(product, True, offsets, 1, thresholds, out, code, n_bypass)
    assert out.dtype == dtype
    assert_allclose(out, expected, rtol=1e-6)
    assert nnz == np.count_nonzero(expected)
    # The sparse pass: pre = current @ weights + offsets[:, 1].
    current = product * (rng.random_sample(product.shape) < 0.3)
    current = current.astype(dtype)
    weights = rng.standard_normal((8, 8)).astype(dtype)
    sparse_out = np.full_like(product, np.nan)
    args = (current, weights, current, weights, False, offsets, 1, thresholds)
    sparse_nnz = sparse_thresholded_layer(*args, sparse_out, code, n_bypass)
    pre = current.astype(float) @ weights + offsets[:, 1]
    expected, _ = _support_selection(pre, thresholds, n_bypass, positive)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(sparse_out, expected, rtol=tolerance, atol=tolerance)
    assert sparse_nnz == np.count_nonzero(sparse_out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_support_selection_limits(dtype):
    from sklearn_lista._kernels import SUPPORT_SELECTION, thresholded_layer

    rng = np.random.RandomState(2)
    product, offsets, thresholds = _layer_inputs(rng, dtype)
    pre = product + offsets[:, 0]
    out = np.empty_like(product)
    # n_bypass = 0 is the soft threshold, bit for bit.
    soft = np.empty_like(product)
    thresholded_layer(product, True, offsets, 0, thresholds, soft, False)
    thresholded_layer(product, True, offsets, 0, thresholds, out, SUPPORT_SELECTION)
    assert_array_equal(out, soft)
    # n_bypass = K passes every entry beyond its threshold unshrunk: the hard
    # threshold (entries within the threshold stay zero, as in LISTA-CPSS).
    thresholded_layer(product, True, offsets, 0, thresholds, out, SUPPORT_SELECTION, 8)
    assert_array_equal(out, np.where(np.abs(pre) > thresholds, pre, 0))


def test_support_selection_ties_go_to_the_lower_index():
    from sklearn_lista._kernels import SUPPORT_SELECTION, thresholded_layer

    pre = np.array([[1.0, 3.0, -3.0, 0.2, 3.0, -2.0]])
    thresholds = np.full(6, 0.5)
    out = np.empty_like(pre)
    offsets = pre[:, None, :].copy()
    thresholded_layer(pre, False, offsets, 0, thresholds, out, SUPPORT_SELECTION, 2)
    assert_array_equal(out, [[0.5, 3.0, -3.0, 0.0, 2.5, -1.5]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("n_bypass", [0, 2, 8])
def test_support_selection_backward_matches_numpy(dtype, positive, n_bypass):
    from sklearn_lista._kernels import (
        SOFT,
        prox_code,
        thresholded_layer,
        thresholded_layer_backward,
    )

    rng = np.random.RandomState(3)
    product, offsets, thresholds = _layer_inputs(rng, dtype)
    # Ties, and an entry equal to its threshold's value after shrinking.
    product[0, :4] = [2.0, -2.0, 2.0, 0.0]
    offsets[0, 1, :4] = 0.0
    code = prox_code(positive, support_selection=True)
    codes = np.empty_like(product)
    thresholded_layer(product, True, offsets, 1, thresholds, codes, code, n_bypass)
    pre = product + offsets[:, 1]
    _, bypassed = _support_selection(pre, thresholds, n_bypass, positive)
    grad_out = rng.standard_normal(codes.shape).astype(dtype)
    grad_pre = np.full_like(codes, np.nan)
    grad_thresholds = np.full_like(thresholds, np.nan)
    thresholded_layer_backward(
        grad_out, codes, grad_pre, grad_thresholds, code, n_bypass
    )
    expected_pre = grad_out * (codes != 0)
    shrunk = (codes != 0) & ~bypassed
    expected_thresholds = -(grad_out * np.sign(codes) * shrunk).sum(0)
    assert_allclose(grad_pre, expected_pre, rtol=1e-6)
    assert_allclose(grad_thresholds, expected_thresholds, rtol=1e-5, atol=1e-6)
    # n_bypass = 0 (or the soft code) is the soft threshold's backward.
    if n_bypass == 0:
        soft_pre, soft_thresholds = np.empty_like(codes), np.empty_like(thresholds)
        thresholded_layer_backward(grad_out, codes, soft_pre, soft_thresholds, SOFT, 3)
        assert_array_equal(soft_pre, grad_pre)
        assert_array_equal(soft_thresholds, grad_thresholds)


def test_support_selection_gradient_matches_finite_differences():
    from sklearn_lista._kernels import (
        SUPPORT_SELECTION,
        thresholded_layer,
        thresholded_layer_backward,
    )

    rng = np.random.RandomState(4)
    product, offsets, thresholds = _layer_inputs(rng, np.float64)
    grad_out = rng.standard_normal(product.shape)

    def loss(product, thresholds):
        out = np.empty_like(product)
        thresholded_layer(
            product, True, offsets, 1, thresholds, out, SUPPORT_SELECTION, 2
        )
        return (grad_out * out).sum(), out

    _, codes = loss(product, thresholds)
    grad_pre, grad_thresholds = np.empty_like(codes), np.empty_like(thresholds)
    thresholded_layer_backward(
        grad_out, codes, grad_pre, grad_thresholds, SUPPORT_SELECTION, 2
    )
    eps = 1e-7
    for j in range(len(thresholds)):
        step = np.zeros_like(thresholds)
        step[j] = eps
        difference = loss(product, thresholds + step)[0] - loss(product, thresholds)[0]
        assert difference / eps == pytest.approx(grad_thresholds[j], abs=1e-5)
    step = np.zeros_like(product)
    step[1, 2] = eps
    difference = loss(product + step, thresholds)[0] - loss(product, thresholds)[0]
    assert difference / eps == pytest.approx(grad_pre[1, 2], abs=1e-5)


# ------------------------------------ inline helpers and reference counting
def _loop_kernels():
    """Loops calling each hot-loop helper on arrays of their own (compiled
    fresh, without the disk cache, to read their LLVM IR)."""
    from numba import njit

    from sklearn_lista._kernels import _jit, prox, rowwise

    options = {**_jit.JIT_ROWS, "cache": False}
    R = rowwise

    @njit(**_jit.INLINE)
    def rows(n):
        z = R._sparse_row(16, np.float64)
        new = R._sparse_row(16, np.float64)
        y = R._sparse_row(16, np.float64)
        z[0][:] = 0
        new[0][:] = 0
        y[0][:] = 0
        return z, new, y

    @njit(**options)
    def affine_product(n):
        acc, offset, step_matrix = np.zeros(16), np.zeros(16), np.zeros((16, 16))
        z, _, _ = rows(n)
        for m in range(n):
            R._affine_product(acc, offset, z, m % 7, step_matrix)
        return acc[0]

    @njit(**options)
    def support_and_threshold(n):
        acc = np.zeros(16)
        z, new, _ = rows(n)
        total = 0
        for m in range(n):
            count, _ = R._support(acc, 0.5, m % 2 == 0, z, m % 3, new)
            R._threshold(acc, 0.5, new, count)
            total += R._copy(z, m % 3, new, count)
        return total

    @njit(**options)
    def fista_update(n):
        z, new, y = rows(n)
        buffer = np.empty(1)
        t = 1.0
        for m in range(n):
            steps = (t + 1.0, 0.5)
            t, n_y = R._fista_update(
                y, m % 2, z, m % 3, new, m % 4, steps, m > 3, buffer
            )
        return t

    @njit(**options)
    def layer_prox(n):
        pre, thresholds = np.zeros(16), np.zeros(16)
        out, indices = np.zeros((n, 16)), np.zeros(16, dtype=np.int64)
        nnz = 0
        for i in range(n):
            nnz += prox.shrink_row(pre, thresholds, out, i, i % 4)
            prox.bypass_largest(pre, out, i, i % 4, i % 3, indices)
        return nnz

    return [affine_product, support_and_threshold, fista_update, layer_prox]


@pytest.mark.parametrize("kernel", _loop_kernels(), ids=lambda k: k.__name__)
def test_inline_helpers_add_no_reference_counting(kernel):
    # See sklearn_lista/_kernels/_jit.py (INLINE): a helper whose arguments
    # keep an incref/decref pair per call slowed the row-wise solver 1.5-3x.
    kernel(8)
    (ir,) = kernel.inspect_llvm().values()
    body = ir[ir.index("define") :]
    assert body.count("call void @NRT_incref(") == 0


def _polish_inputs(problem, row):
    X, D, alpha = problem
    reference = Lasso(
        alpha=alpha / X.shape[1], fit_intercept=False, tol=1e-14, max_iter=100_000
    )
    exact = reference.fit(D.T, X[row]).coef_
    n_components, n_features = D.shape
    work = (
        np.empty((n_features, n_features)),
        np.empty(n_features),
        np.empty(n_components),
        np.empty(n_components),
        np.empty(n_features),
    )
    return X[row] @ D.T, D @ D.T, exact, alpha, work


def _guess(indices, exact):
    n_components = exact.shape[0]
    idx = np.zeros(n_components, dtype=np.int64)
    signs = np.zeros(n_components)
    idx[: len(indices)] = indices
    signs[: len(indices)] = np.where(exact[indices] < 0, -1.0, 1.0)
    return idx, signs


def test_polish_support_recovers_the_lasso_solution(problem):
    from sklearn_lista._kernels.polish import polish_support

    xd, gram, exact, alpha, work = _polish_inputs(problem, 9)
    support = np.flatnonzero(exact)
    assert 1 < support.size < 10
    # The right support and signs: one round, the solution.
    idx, signs = _guess(support, exact)
    size = polish_support(xd, gram, idx, signs, support.size, alpha, False, 1, work)
    assert size == support.size
    assert_allclose(work[1][:size], exact[idx[:size]], rtol=1e-9)
    # One atom missing and a wrong one added (with a sign that comes out
    # wrong or becomes zero): corrections find the solution in a few rounds.
    wrong = int(np.flatnonzero(exact == 0)[0])
    guess = np.append(support[1:], wrong)
    for rounds, found in ((1, False), (5, True)):
        idx, signs = _guess(guess, exact)
        signs[guess.size - 1] = -np.sign(xd[wrong]) or 1.0
        size = polish_support(
            xd, gram, idx, signs, guess.size, alpha, False, rounds, work
        )
        assert (size == support.size) == found
    solution = np.zeros_like(exact)
    solution[idx[:size]] = work[1][:size]
    assert_allclose(solution, exact, rtol=1e-9, atol=1e-12)


def test_reduced_lasso_solve_matches_numpy():
    """The Cholesky solve of a support, from scratch and reusing the factor's
    leading rows after atoms are appended (sizes that exercise the partial
    sums' remainders)."""
    from sklearn_lista._kernels.polish import reduced_lasso_solve

    rng = np.random.RandomState(0)
    n_components, n_features = 60, 40
    D = rng.standard_normal((n_components, n_features))
    gram, xd = D @ D.T, rng.standard_normal(n_components)
    indices = rng.permutation(n_components)
    signs = np.where(rng.rand(n_components) < 0.5, -1.0, 1.0)
    alpha = 0.3
    matrix, inverse = np.empty((n_features, n_features)), np.empty(n_features)
    rhs = np.empty(n_features)
    for n in (1, 2, 3, 4, 5, 7, 8, 9, 13, 35, n_features):
        S = indices[:n]
        expected = np.linalg.solve(gram[np.ix_(S, S)], xd[S] - alpha * signs[:n])
        assert reduced_lasso_solve(
            xd, gram, indices, signs, n, 0, alpha, matrix, inverse, rhs
        )
        assert_allclose(rhs[:n], expected, rtol=1e-9, atol=1e-12)
        # Append atoms to a factor of the first n - k atoms: same solution.
        start = max(n - 3, 0)
        reduced_lasso_solve(
            xd, gram, indices, signs, start, 0, alpha, matrix, inverse, rhs
        )
        assert reduced_lasso_solve(
            xd, gram, indices, signs, n, start, alpha, matrix, inverse, rhs
        )
        assert_allclose(rhs[:n], expected, rtol=1e-9, atol=1e-12)


def test_polish_support_gives_up_on_ill_posed_supports(problem):
    from sklearn_lista._kernels.polish import polish_support

    xd, gram, exact, alpha, work = _polish_inputs(problem, 0)
    n_features = work[1].shape[0]
    # Empty, or more atoms than features (no unique solution).
    idx, signs = _guess(np.arange(n_features + 1), exact)
    assert polish_support(xd, gram, idx, signs, 0, alpha, False, 5, work) == -1
    assert (
        polish_support(xd, gram, idx, signs, n_features + 1, alpha, False, 5, work)
        == -1
    )
    # Two copies of one atom: a singular system.
    gram = gram.copy()
    gram[1], gram[:, 1] = gram[0], gram[:, 0]
    xd = xd.copy()
    xd[1] = xd[0]
    idx, signs = _guess(np.array([0, 1]), exact)
    signs[:2] = 1.0
    assert polish_support(xd, gram, idx, signs, 2, alpha, False, 5, work) == -1
