import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.decomposition import SparseCoder
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso

from sklearn_lista import FISTACoder, ISTACoder, lasso_cost
from sklearn_lista._lasso import (
    gram_matrix,
    ista_operators,
    lipschitz_constant,
    solver_operators,
)
from sklearn_lista._solvers import fista_momentums, iterative_thresholding

CODERS = [ISTACoder, FISTACoder]


def _lasso_reference(X, dictionary, alpha, positive=False):
    """Per-sample Lasso solutions by scikit-learn's coordinate descent."""
    # sklearn's Lasso minimises 1/(2 n) ||y - A w||^2 + a ||w||_1 with n rows.
    lasso = Lasso(
        alpha=alpha / X.shape[1],
        fit_intercept=False,
        tol=1e-14,
        max_iter=100_000,
        positive=positive,
    )
    return np.array([lasso.fit(dictionary.T, x).coef_.copy() for x in X])


def _mean_cost(X, codes, dictionary, alpha):
    return lasso_cost(X, codes, dictionary, alpha).mean()


@pytest.mark.parametrize("Coder", CODERS)
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-8), (np.float32, 1e-4)])
def test_converged_cost_matches_sklearn_lasso(problem, Coder, dtype, tolerance):
    X, dictionary, alpha = problem
    reference = _mean_cost(X, _lasso_reference(X, dictionary, alpha), dictionary, alpha)
    coder = Coder(dictionary.astype(dtype), alpha=alpha, n_layers=5000)
    codes = coder.fit_transform(X.astype(dtype))
    assert codes.dtype == dtype
    ours = _mean_cost(X, codes, dictionary, alpha)
    assert abs(ours - reference) / reference < tolerance


def test_converged_cost_matches_sparse_coder_lars(problem):
    X, dictionary, alpha = problem
    lars = SparseCoder(
        dictionary, transform_algorithm="lasso_lars", transform_alpha=alpha
    ).fit_transform(X)
    reference = _mean_cost(X, lars, dictionary, alpha)
    codes = FISTACoder(dictionary, alpha=alpha, n_layers=5000, tol=1e-12).fit_transform(
        X
    )
    assert abs(_mean_cost(X, codes, dictionary, alpha) - reference) / reference < 1e-8


@pytest.mark.parametrize("Coder", CODERS)
def test_positive_codes_are_nonnegative_and_optimal(problem, Coder):
    X, dictionary, alpha = problem
    codes = Coder(
        dictionary, alpha=alpha, n_layers=5000, positive_code=True
    ).fit_transform(X)
    assert codes.min() >= 0
    assert (codes > 0).any()
    reference = _lasso_reference(X, dictionary, alpha, positive=True)
    ours = _mean_cost(X, codes, dictionary, alpha)
    best = _mean_cost(X, reference, dictionary, alpha)
    assert abs(ours - best) / best < 1e-8


def test_ista_cost_is_non_increasing(problem):
    X, dictionary, alpha = problem
    costs = [
        _mean_cost(
            X,
            ISTACoder(dictionary, alpha=alpha, n_layers=q).fit_transform(X),
            dictionary,
            alpha,
        )
        for q in range(1, 40)
    ]
    assert np.all(np.diff(costs) <= 1e-12 * costs[0])
    assert costs[-1] < 0.9 * costs[0]


def test_fista_beats_ista_at_moderate_depth(problem):
    X, dictionary, alpha = problem
    ista = ISTACoder(dictionary, alpha=alpha, n_layers=30).fit(X).score(X)
    fista = FISTACoder(dictionary, alpha=alpha, n_layers=30).fit(X).score(X)
    assert fista > ista


def test_one_layer_is_one_soft_thresholded_gradient_step(problem):
    X, dictionary, alpha = problem
    lipschitz = np.linalg.norm(dictionary, 2) ** 2
    expected = X @ dictionary.T / lipschitz
    expected = np.sign(expected) * np.maximum(np.abs(expected) - alpha / lipschitz, 0)
    for Coder in CODERS:
        codes = Coder(dictionary, alpha=alpha, n_layers=1).fit_transform(X)
        assert_allclose(codes, expected, atol=1e-12)


def test_fista_momentums():
    momentums = fista_momentums(4)
    t = [1.0]
    for _ in range(4):
        t.append((1 + np.sqrt(1 + 4 * t[-1] ** 2)) / 2)
    assert momentums[0] == 0
    assert_allclose(momentums, [(t[k] - 1) / t[k + 1] for k in range(4)])


@pytest.mark.parametrize("Coder", CODERS)
def test_tol_stops_each_sample_at_the_requested_gap(problem, Coder):
    X, dictionary, alpha = problem
    coder = Coder(dictionary, alpha=alpha, n_layers=10_000, tol=1e-6).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        codes = coder.transform(X)
    reference = _lasso_reference(X, dictionary, alpha)
    per_sample = lasso_cost(X, codes, dictionary, alpha)
    best = lasso_cost(X, reference, dictionary, alpha)
    # The duality gap bounds the suboptimality of every sample.
    assert np.all(per_sample - best <= 1e-6 * per_sample + 1e-12)
    # Support polishing made them the exact codes: those of a full run.
    full = Coder(dictionary, alpha=alpha, n_layers=10_000).fit_transform(X)
    assert_allclose(codes, full, atol=1e-12, rtol=0)
    # Without polishing, the early stop did stop early: looser than a full run.
    lipschitz = np.linalg.norm(dictionary, 2) ** 2
    accelerated = Coder is FISTACoder
    unpolished, _ = iterative_thresholding(
        X,
        dictionary,
        alpha,
        n_iter=10_000,
        lipschitz=lipschitz,
        tol=1e-6,
        accelerated=accelerated,
        restart=accelerated,
        polish=False,
    )
    assert not np.allclose(unpolished, full, atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transform_shares_the_solver_operators_with_its_chunks(problem, dtype):
    # transform computes I - B/L, D^T/L and the float64 Gram once for all its
    # chunks: the same bits as each call computing its own, and the codes of a
    # chunked, threaded transform are those of one call on all the rows (to
    # rounding: a product's blocking depends on its number of rows), polished
    # (unpolished codes are further apart, test above).
    X, dictionary, alpha = problem
    X, dictionary = X.astype(dtype), dictionary.astype(dtype)
    lipschitz = lipschitz_constant(dictionary)
    step, input_weight, gram = solver_operators(dictionary, lipschitz, polish=True)
    assert gram.dtype == np.float64
    assert_array_equal(gram, gram_matrix(dictionary.astype(np.float64)))
    for got, expected in zip(
        (step, input_weight), ista_operators(dictionary, lipschitz), strict=True
    ):
        assert got.dtype == dtype
        assert_array_equal(got, expected)
    assert solver_operators(dictionary, lipschitz, polish=False)[2] is None
    X_many = np.ascontiguousarray(np.tile(X, (300, 1)))  # several chunks
    coder = FISTACoder(dictionary, alpha=alpha, tol=1e-6, n_layers=500, n_jobs=2)
    alone, _ = iterative_thresholding(
        X_many,
        dictionary,
        alpha,
        n_iter=500,
        lipschitz=coder.fit(X_many).lipschitz_,
        tol=1e-6,
        accelerated=True,
        restart=True,
    )
    assert_allclose(coder.transform(X_many), alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "path, n_iter, fista",
    [
        ("dense", 300, False),  # every sample retired by the end
        ("dense", 15, False),  # some retired, the others still active
        ("sparse", 300, False),
        ("auto", 300, True),  # FISTA with restart: ISTA rows, then FISTA
    ],
)
@pytest.mark.parametrize("tol", [None, 1e-8])
def test_codes_written_into_out_are_the_allocated_ones(
    problem, path, n_iter, fista, tol
):
    # `out` (a chunk's rows of transform's output, here full of garbage, which
    # the solver does not zero) holds the same bits as the array the solver
    # allocates, with and without converged samples leaving a compacted
    # working set (zero signals retire at the first check).
    X, dictionary, alpha = problem
    X = np.ascontiguousarray(np.vstack([X, np.zeros((3, X.shape[1]))]))
    params = dict(
        n_iter=n_iter,
        lipschitz=lipschitz_constant(dictionary),
        tol=tol,
        accelerated=fista,
        restart=fista,
        path=path,
    )
    expected, n_expected = iterative_thresholding(X, dictionary, alpha, **params)
    out = np.full((X.shape[0], dictionary.shape[0]), np.nan)
    codes, n_unconverged = iterative_thresholding(
        X, dictionary, alpha, out=out, **params
    )
    assert codes is out
    assert_array_equal(codes, expected)
    assert n_unconverged == n_expected
    if tol is not None and n_iter == 15:
        assert 0 < n_unconverged < X.shape[0] - 3


def test_converged_samples_leave_the_working_set(problem):
    X, dictionary, alpha = problem
    lipschitz = np.linalg.norm(dictionary, 2) ** 2
    # Zero signals converge at the first check; their codes must stay zero and
    # the other rows must be exactly what a run without them gives.
    X_mixed = np.vstack([X[:5], np.zeros((3, X.shape[1])), X[5:10]])
    codes, n_unconverged = iterative_thresholding(
        X_mixed, dictionary, alpha, n_iter=3000, lipschitz=lipschitz, tol=1e-10
    )
    alone, _ = iterative_thresholding(
        np.ascontiguousarray(X[:10]),
        dictionary,
        alpha,
        n_iter=3000,
        lipschitz=lipschitz,
        tol=1e-10,
    )
    assert_array_equal(codes[5:8], 0.0)
    assert_allclose(np.vstack([codes[:5], codes[8:]]), alone, atol=1e-14)
    assert n_unconverged == 0


@pytest.mark.parametrize("Coder", CODERS)
def test_convergence_warning_when_samples_hit_n_layers(problem, Coder):
    X, dictionary, alpha = problem
    coder = Coder(dictionary, alpha=alpha, n_layers=3, tol=1e-10).fit(X)
    with pytest.warns(ConvergenceWarning, match="did not reach the duality-gap"):
        coder.transform(X)


@pytest.mark.parametrize("Coder", CODERS)
def test_n_jobs_gives_identical_results(Coder):
    from sklearn_lista.datasets import alpha_max, make_sparse_coding

    X, dictionary, _ = make_sparse_coding(3000, 20, 10, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    one = Coder(dictionary, alpha=alpha, n_layers=30, n_jobs=1).fit_transform(X)
    two = Coder(dictionary, alpha=alpha, n_layers=30, n_jobs=2).fit_transform(X)
    assert_array_equal(one, two)


@pytest.mark.parametrize("Coder", CODERS)
def test_sparse_input_equals_dense(problem, Coder):
    X, dictionary, alpha = problem
    X_sparse = X.copy()
    X_sparse[np.abs(X_sparse) < 1] = 0
    coder = Coder(dictionary, alpha=alpha, n_layers=20)
    dense = coder.fit_transform(X_sparse)
    for container in (sp.csr_matrix, sp.csc_matrix, sp.csr_array):
        assert_allclose(coder.fit_transform(container(X_sparse)), dense, atol=1e-12)


def test_given_dictionary_is_not_modified_and_is_copied(problem):
    X, dictionary, alpha = problem
    dictionary = 3.0 * dictionary
    original = dictionary.copy()
    coder = ISTACoder(dictionary, alpha=alpha).fit(X)
    assert coder.dictionary is dictionary
    assert_array_equal(dictionary, original)
    assert_array_equal(coder.components_, original)
    assert not np.shares_memory(coder.components_, dictionary)
    assert coder.lipschitz_ == pytest.approx(np.linalg.norm(original, 2) ** 2)


def test_learned_dictionary_has_unit_norm_atoms(problem):
    X, _, alpha = problem
    coder = FISTACoder(n_components=12, alpha=alpha, random_state=0).fit(X)
    assert coder.components_.shape == (12, X.shape[1])
    assert coder.n_components_ == 12
    assert_allclose(np.linalg.norm(coder.components_, axis=1), 1.0)
    again = FISTACoder(n_components=12, alpha=alpha, random_state=0).fit(X)
    assert_array_equal(coder.components_, again.components_)
    assert coder.transform(X).shape == (len(X), 12)


def test_learned_dictionary_on_constant_data_is_usable():
    X = np.zeros((20, 4))
    coder = ISTACoder(n_components=3, random_state=0).fit(X)
    assert_allclose(np.linalg.norm(coder.components_, axis=1), 1.0)
    assert_array_equal(coder.transform(X), 0.0)


def test_inverse_transform_and_score(problem):
    X, dictionary, alpha = problem
    coder = FISTACoder(dictionary, alpha=alpha, n_layers=200).fit(X)
    codes = coder.transform(X)
    assert_allclose(coder.inverse_transform(codes), codes @ dictionary)
    assert coder.score(X) == pytest.approx(
        -lasso_cost(X, codes, dictionary, alpha).mean()
    )
    with pytest.raises(ValueError, match="components"):
        coder.inverse_transform(codes[:, :5])


def test_float32_is_computed_and_returned_in_float32(problem):
    X, dictionary, alpha = problem
    coder = FISTACoder(dictionary, alpha=alpha, n_layers=50).fit(X.astype(np.float32))
    assert coder.components_.dtype == np.float32
    codes = coder.transform(X.astype(np.float32))
    assert codes.dtype == np.float32
    assert coder.inverse_transform(codes).dtype == np.float32
    codes64 = FISTACoder(dictionary, alpha=alpha, n_layers=50).fit_transform(X)
    assert_allclose(codes, codes64, rtol=1e-3, atol=1e-3)


def test_feature_names_and_pandas_output(problem):
    pd = pytest.importorskip("pandas")
    X, dictionary, alpha = problem
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(X.shape[1])])
    coder = ISTACoder(dictionary, alpha=alpha, n_layers=10).set_output(
        transform="pandas"
    )
    codes = coder.fit_transform(frame)
    assert list(codes.columns) == [f"istacoder{i}" for i in range(dictionary.shape[0])]
    assert_array_equal(coder.feature_names_in_, frame.columns)
    assert_array_equal(coder.get_feature_names_out(), codes.columns)


@pytest.mark.parametrize("Coder", CODERS)
def test_pickle_and_clone_round_trip(problem, Coder):
    X, dictionary, alpha = problem
    coder = Coder(dictionary, alpha=alpha, n_layers=500, tol=1e-3).fit(X)
    restored = pickle.loads(pickle.dumps(coder))
    assert_array_equal(restored.transform(X), coder.transform(X))
    cloned = clone(coder)
    assert cloned.get_params()["alpha"] == alpha
    assert not hasattr(cloned, "components_")


def test_verbose_prints_progress(problem, capsys):
    X, dictionary, alpha = problem
    # (4 iterations: too few for every sample, even polished.)
    coder = FISTACoder(dictionary, alpha=alpha, n_layers=4, tol=1e-6, verbose=2)
    with pytest.warns(ConvergenceWarning):
        coder.fit(X).transform(X)
    out = capsys.readouterr().out
    assert "[FISTACoder] encoded 60 samples" in out
    assert "not converged" in out
    # Dense iterations report each gap check, the row-wise path its summary.
    assert re.search(r"iteration 4:|iterations \d+ to 4 row by row", out)


@pytest.mark.parametrize(
    "accelerated, restart", [(False, False), (True, False), (True, True)]
)
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("tol", [None, 1e-8])
@pytest.mark.parametrize("alpha_scale", [1.0, 0.01])  # sparse / fully dense codes
def test_sparse_and_dense_paths_agree(
    problem, accelerated, restart, positive, tol, alpha_scale
):
    X, dictionary, alpha = problem
    alpha = alpha * alpha_scale
    X = np.vstack([X, np.zeros((2, X.shape[1]))])  # all-zero rows too
    lipschitz = np.linalg.norm(dictionary, 2) ** 2
    results = {
        path: iterative_thresholding(
            X,
            dictionary,
            alpha,
            n_iter=200,
            lipschitz=lipschitz,
            tol=tol,
            positive=positive,
            accelerated=accelerated,
            restart=restart,
            path=path,
            polish=False,  # polishing tests its own paths below
        )
        for path in ("dense", "sparse", "auto")
    }
    dense = results["dense"][0]
    if alpha_scale < 1 and not positive:
        # The first iterates are dense: "auto" starts on the dense path.
        first = iterative_thresholding(
            X, dictionary, alpha, n_iter=1, lipschitz=lipschitz, path="dense"
        )[0]
        assert np.count_nonzero(first) > 0.5 * first.size
    # 1e-12 relative to the largest code (rounding differs between paths:
    # summation order, fused multiply-adds).
    atol = 1e-12 * max(1.0, np.abs(dense).max())
    for path in ("sparse", "auto"):
        assert_allclose(results[path][0], dense, rtol=0, atol=atol)
        assert results[path][1] == results["dense"][1]
    assert_array_equal(dense[-2:], 0.0)


def test_auto_path_hands_over_by_density(problem, monkeypatch):
    """ "auto" switches to the row-wise path below the density threshold: with
    a threshold of 0 it runs dense iterations only, above 1 row-wise only."""
    import sklearn_lista._solvers as classical

    X, dictionary, alpha = problem
    lipschitz = np.linalg.norm(dictionary, 2) ** 2
    calls = []
    original = classical.thresholding_rows

    def spy(*args):
        calls.append(args[13])  # `start`
        return original(*args)

    monkeypatch.setattr(classical, "thresholding_rows", spy)
    for threshold, expected_calls in ((0.0, []), (1.1, [0])):
        calls.clear()
        monkeypatch.setitem(
            classical.ROWWISE_DENSITY_THRESHOLD, np.dtype(np.float64), threshold
        )
        iterative_thresholding(X, dictionary, alpha, n_iter=50, lipschitz=lipschitz)
        assert calls == expected_calls


def test_fista_restart_is_auto_with_tol_only(problem):
    X, dictionary, alpha = problem
    plain = FISTACoder(dictionary, alpha=alpha, n_layers=40).fit(X)
    assert plain.get_params()["restart"] == "auto"
    forced = FISTACoder(dictionary, alpha=alpha, n_layers=40, restart=False).fit(X)
    # Without tol, "auto" is plain FISTA, iterate for iterate.
    assert_array_equal(plain.transform(X), forced.transform(X))
    restarted = FISTACoder(dictionary, alpha=alpha, n_layers=40, restart=True).fit(X)
    assert not np.allclose(restarted.transform(X), plain.transform(X))
    lipschitz = np.linalg.norm(dictionary, 2) ** 2
    unconverged = {
        restart: iterative_thresholding(
            X,
            dictionary,
            alpha,
            n_iter=60,
            lipschitz=lipschitz,
            tol=1e-8,
            accelerated=True,
            restart=restart,
            polish=False,
        )[1]
        for restart in (False, True)
    }
    # The restart is what makes FISTA(tol) fast: far fewer samples left.
    assert unconverged[True] < 0.5 * unconverged[False]


@pytest.mark.parametrize("restart", [True, False])
def test_fista_with_restart_and_tol_solves_the_lasso(problem, restart):
    X, dictionary, alpha = problem
    coder = FISTACoder(
        dictionary, alpha=alpha, n_layers=5000, tol=1e-10, restart=restart
    ).fit(X)
    codes = coder.transform(X)
    best = lasso_cost(X, _lasso_reference(X, dictionary, alpha), dictionary, alpha)
    assert np.all(lasso_cost(X, codes, dictionary, alpha) - best <= 1e-9 * best)


def _worker(X, dictionary, alpha, Coder, **params):
    accelerated = Coder is FISTACoder
    params.setdefault("n_iter", 10_000)
    return iterative_thresholding(
        X,
        dictionary,
        alpha,
        lipschitz=np.linalg.norm(dictionary, 2) ** 2,
        accelerated=accelerated,
        restart=accelerated,
        **params,
    )


@pytest.mark.parametrize("Coder", CODERS)
@pytest.mark.parametrize("path", ["dense", "sparse", "auto"])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("tol", [1e-6, 1e-10])
def test_polished_codes_are_the_exact_codes(problem, Coder, path, positive, tol):
    """With polishing, tol=1e-6 gives the codes that the unpolished solver
    reaches at tol=1e-14, and the Lasso's optimal cost to 1e-10 (tol=1e-6:
    accepted on the KKT conditions, 1e-10: on the duality gap, row-wise)."""
    X, dictionary, alpha = problem
    polished, n_polished = _worker(
        X, dictionary, alpha, Coder, tol=tol, positive=positive, path=path
    )
    exact, n_exact = _worker(
        X, dictionary, alpha, Coder, tol=1e-14, positive=positive, polish=False
    )
    assert n_polished == n_exact == 0
    reference = _lasso_reference(X, dictionary, alpha, positive=positive)
    ours = lasso_cost(X, polished, dictionary, alpha)
    best = lasso_cost(X, reference, dictionary, alpha)
    assert np.all(np.abs(ours - best) <= 1e-10 * best)
    # Costs within 1e-14 leave the codes within ~1e-7 (the cost is flat to
    # second order at the minimum); polished ones are never worse.
    unpolished = lasso_cost(X, exact, dictionary, alpha)
    assert np.all(ours <= unpolished * (1 + 1e-13))
    assert_allclose(polished, exact, rtol=0, atol=1e-5 * np.abs(exact).max())
    if positive:
        assert (polished >= 0).all()


@pytest.mark.parametrize("Coder", CODERS)
def test_polishing_accepts_zero_codes(problem, Coder):
    """Signals whose Lasso code is 0 (``||x D^T||_inf < alpha``) are accepted
    at the first polishing attempt, with the empty support; the others are
    unaffected."""
    X, dictionary, alpha = problem
    X = X.copy()
    scale = 0.9 * alpha / np.abs(X[::2] @ dictionary.T).max(axis=1)
    X[::2] *= scale[:, None]
    codes, _ = _worker(X, dictionary, alpha, Coder, n_iter=3, tol=1e-6)
    assert_array_equal(codes[::2], 0.0)
    exact, n_left = _worker(X, dictionary, alpha, Coder, tol=1e-6)
    assert n_left == 0
    assert_array_equal(exact[::2], 0.0)
    reference = _lasso_reference(X, dictionary, alpha)
    best = lasso_cost(X, reference, dictionary, alpha)
    ours = lasso_cost(X, exact, dictionary, alpha)
    assert np.all(np.abs(ours - best) <= 1e-10 * np.maximum(best, 1e-300))


@pytest.mark.parametrize("Coder", CODERS)
def test_polishing_stops_samples_earlier(problem, Coder):
    X, dictionary, alpha = problem
    # After 20 iterations (nearly) all samples are exact, unpolished few.
    left = {
        polish: _worker(
            X, dictionary, alpha, Coder, n_iter=20, tol=1e-10, polish=polish
        )[1]
        for polish in (True, False)
    }
    assert left[True] <= 0.1 * len(X) and left[False] > 0.8 * len(X)


@pytest.mark.parametrize("Coder", CODERS)
def test_float32_polished_codes(problem, Coder):
    X, dictionary, alpha = problem
    coder = Coder(dictionary.astype(np.float32), alpha=alpha, n_layers=5000, tol=1e-5)
    codes = coder.fit_transform(X.astype(np.float32))
    assert codes.dtype == np.float32
    best = lasso_cost(X, _lasso_reference(X, dictionary, alpha), dictionary, alpha)
    assert np.all(lasso_cost(X, codes, dictionary, alpha) - best <= 2e-5 * best)


@pytest.mark.parametrize("Coder", CODERS)
def test_float32_polishing_meets_a_tolerance_near_its_precision(Coder):
    # tol=1e-6 in float32: x D^T / L rounded to float32 put the gap of the
    # exact solution above the tolerance for 4 rows of these 500, rejected at
    # every attempt (a ConvergenceWarning, and their unpolished iterates
    # returned 3e-4 from the solution); they retry from x D^T in float64.
    from sklearn_lista.datasets import alpha_max, make_sparse_coding

    X, dictionary, _ = make_sparse_coding(500, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    expected = FISTACoder(dictionary, alpha=alpha, n_layers=20000, tol=1e-13)
    expected = expected.fit_transform(X)
    coder = Coder(dictionary.astype(np.float32), alpha=alpha, n_layers=300, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        codes = coder.fit_transform(X.astype(np.float32))
    assert codes.dtype == np.float32
    assert np.abs(codes - expected).max() < 3e-5


def test_without_tol_polishing_changes_nothing(problem):
    X, dictionary, alpha = problem
    for Coder in CODERS:
        for path in ("dense", "sparse"):
            runs = [
                _worker(X, dictionary, alpha, Coder, n_iter=37, path=path, polish=p)
                for p in (True, False)
            ]
            assert_array_equal(runs[0][0], runs[1][0])


@pytest.mark.parametrize("Coder", CODERS)
@pytest.mark.parametrize("path", ["dense", "sparse"])
@pytest.mark.parametrize("ista_budget", [100, 3])
def test_unsettled_support_still_converges(Coder, path, ista_budget, monkeypatch):
    """Two copies of an atom: from z = 0 the iterates give them equal weights,
    so every support polishing tries holds both and is singular (rejected);
    the iterations go on to the tolerance (FISTA with restart: after
    `ista_budget` row-wise ISTA steps, with FISTA steps)."""
    import sklearn_lista._solvers as solvers

    monkeypatch.setattr(solvers, "ISTA_ROWS_BUDGET", ista_budget)
    rng = np.random.RandomState(0)
    atoms = rng.standard_normal((8, 12))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    dictionary = np.vstack([atoms[:1], atoms])  # atoms 0 and 1 are equal
    X = 3.0 * atoms[:1] + 0.5 * atoms[3:4] + 0.01 * rng.standard_normal((4, 12))
    alpha = 0.05
    codes, n_unconverged = _worker(X, dictionary, alpha, Coder, tol=1e-9, path=path)
    assert n_unconverged == 0
    assert (codes[:, 0] != 0).all() and (codes[:, 1] != 0).all()
    assert_allclose(codes[:, 0], codes[:, 1], rtol=1e-6)
    best = lasso_cost(X, _lasso_reference(X, dictionary, alpha), dictionary, alpha)
    assert np.all(lasso_cost(X, codes, dictionary, alpha) - best <= 1e-9 * best)
